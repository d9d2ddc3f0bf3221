//! The `[[sources]]` table of a GitHub source.

flowmeter_connector::source_config! {
    /// A GitHub (or GitHub Enterprise Server) source.
    ///
    /// ```toml
    /// [[sources]]
    /// type = "github"
    /// name = "gh"
    /// api_url = "https://api.github.com"
    /// token_env = "GITHUB_TOKEN"
    /// repos = ["acme/web", "acme/api"]
    /// deployments = "deployments"
    /// incident_labels = ["incident"]
    /// ```
    pub struct GitHubConfig {
        kind: "github",
        api_url: "https://api.github.com",
            "`https://HOST/api/v3` for GitHub Enterprise Server.",
        token_env: "GITHUB_TOKEN",
            "the token (when it is unset and this is left at its default, `GH_TOKEN`)",
        /// GraphQL endpoint. Default: derived from `api_url`
        /// (`https://api.github.com/graphql`, or `https://HOST/api/graphql` for an
        /// `api_url` ending in `/api/v3`).
        pub graphql_url: Option<String> = None,
        /// Authenticate as this GitHub App (its numeric App ID, on the App's
        /// settings page) instead of with a personal token. Needs the App's
        /// private key (`app_private_key_file` or `app_private_key_env`). The
        /// App needs read-only permissions: Contents, Metadata, Pull requests,
        /// Deployments, Issues (and Actions for `workflow:` deployments).
        pub app_id: Option<u64> = None,
        /// A file holding the GitHub App's private key (PEM, as downloaded from
        /// the App's settings page).
        pub app_private_key_file: Option<std::path::PathBuf> = None,
        /// The environment variable holding the App's private key (PEM text)
        /// when no `app_private_key_file` is given. Default
        /// `GITHUB_APP_PRIVATE_KEY`.
        pub app_private_key_env: Option<String> = None,
        /// The App's installation to act as. Default: discovered, the
        /// installation on `org`, else on the first of `repos`.
        pub installation_id: Option<u64> = None,
        /// Repositories as `owner/name`.
        pub repos: Vec<String> = Vec::new(),
        /// An organisation (or user) whose repositories are all synced, filtered
        /// by `include` and `exclude`. A user's private repositories are
        /// listed with a token of that user (else, and for an App, only the
        /// public ones: list private ones in `repos`).
        pub org: Option<String> = None,
        /// Glob patterns on the repository name (`web-*`) or `owner/name`; with
        /// `org`, only matching repositories are synced (default: all).
        pub include: Vec<String> = Vec::new(),
        /// Glob patterns of repositories to leave out (with `org`).
        pub exclude: Vec<String> = Vec::new(),
        /// With `org`: also sync archived repositories (default false).
        pub include_archived: bool = false,
        /// Where deployments come from:
        /// `"deployments"` (default; the Deployments API and its statuses),
        /// `"releases"` (each published release is a production deployment),
        /// `"tags:GLOB"` (each tag matching GLOB, e.g. `tags:v*`, is a production
        /// deployment) or `"workflow:FILE"` (each completed run of the GitHub
        /// Actions workflow FILE, e.g. `workflow:deploy.yml`).
        pub deployments: String = "deployments".into(),
        /// The environment recorded for `releases`, `tags:` and `workflow:`
        /// deployments (default `production`).
        pub environment: String = "production".into(),
        /// Issues with any of these labels are incidents (default `["incident"]`;
        /// an empty list turns incident import off). A label `service:NAME` on
        /// the issue names the affected service (default: the repository, as
        /// `owner/name`, which is also the service of its deployments); a label
        /// `severity:X` or `sev:X` sets the severity.
        pub incident_labels: Vec<String> = vec!["incident".into()],
        /// The branch whose commits are imported. Default: each repository's
        /// default branch.
        pub branch: Option<String> = None,
        /// Pull requests fetched per GraphQL request (1–100, default 100: a
        /// 10,000-PR repository backfills in 100 requests). Lower it if GitHub
        /// answers large queries with 502 timeouts.
        pub pr_page_size: u32 = 100,
        /// Record each pull request's changed files (GraphQL
        /// `PullRequest.files`), and each branch commit's ("Get a commit"),
        /// so direct pushes have theirs (a pull request's merge or squash
        /// commit is not asked for: it has its pull request's), with their
        /// owners by the repository's
        /// CODEOWNERS (contents API: `.github/`, the root, `docs/`), so teams'
        /// `paths` and `owners` can claim a monorepo's changes. Default false:
        /// it costs a page of files per long pull request, a request per
        /// other branch commit, and up to three REST calls per repository
        /// and sync.
        pub code_owners: bool = false,
    }
}

/// How deployments are found, parsed from [`GitHubConfig::deployments`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeploymentSource {
    Deployments,
    Releases,
    Tags(String),
    Workflow(String),
}

impl DeploymentSource {
    pub fn parse(s: &str) -> Option<DeploymentSource> {
        let s = s.trim();
        match s {
            "deployments" => Some(DeploymentSource::Deployments),
            "releases" => Some(DeploymentSource::Releases),
            _ => {
                if let Some(glob) = s.strip_prefix("tags:") {
                    (!glob.is_empty()).then(|| DeploymentSource::Tags(glob.to_string()))
                } else if let Some(file) = s.strip_prefix("workflow:") {
                    (!file.is_empty()).then(|| DeploymentSource::Workflow(file.to_string()))
                } else {
                    None
                }
            }
        }
    }
}

impl GitHubConfig {
    /// The REST base URL without a trailing slash.
    pub fn rest_base(&self) -> String {
        self.api_url.trim_end_matches('/').to_string()
    }

    /// The GraphQL endpoint: explicit, or derived from `api_url`.
    pub fn graphql_endpoint(&self) -> String {
        if let Some(url) = &self.graphql_url {
            return url.clone();
        }
        let base = self.rest_base();
        match base.strip_suffix("/api/v3") {
            Some(host) => format!("{host}/api/graphql"),
            None => format!("{base}/graphql"),
        }
    }
}
