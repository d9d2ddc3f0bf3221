//! The `[[sources]]` table of a GitHub source.

use serde::Deserialize;

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
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GitHubConfig {
    /// Always `"github"`; accepted so the `[[sources]]` table can be passed as is.
    #[serde(rename = "type", default)]
    pub source_type: Option<String>,
    /// The source name that records and the sync cursor are stored under
    /// (default `github`).
    #[serde(default)]
    pub name: Option<String>,
    /// REST base URL. `https://api.github.com` (default) or, for GitHub
    /// Enterprise Server, `https://HOST/api/v3`.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// GraphQL endpoint. Default: derived from `api_url`
    /// (`https://api.github.com/graphql`, or `https://HOST/api/graphql` for an
    /// `api_url` ending in `/api/v3`).
    #[serde(default)]
    pub graphql_url: Option<String>,
    /// The environment variable that holds the token. Default `GITHUB_TOKEN`,
    /// then `GH_TOKEN`. The token itself never appears in the config file,
    /// on the command line or in any message.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Authenticate as this GitHub App (its numeric App ID, on the App's
    /// settings page) instead of with a personal token. Needs the App's
    /// private key (`app_private_key_file` or `app_private_key_env`). The
    /// App needs read-only permissions: Contents, Metadata, Pull requests,
    /// Deployments, Issues (and Actions for `workflow:` deployments).
    #[serde(default)]
    pub app_id: Option<u64>,
    /// A file holding the GitHub App's private key (PEM, as downloaded from
    /// the App's settings page).
    #[serde(default)]
    pub app_private_key_file: Option<std::path::PathBuf>,
    /// The environment variable holding the App's private key (PEM text)
    /// when no `app_private_key_file` is given. Default
    /// `GITHUB_APP_PRIVATE_KEY`.
    #[serde(default)]
    pub app_private_key_env: Option<String>,
    /// The App's installation to act as. Default: discovered, the
    /// installation on `org`, else on the first of `repos`.
    #[serde(default)]
    pub installation_id: Option<u64>,
    /// Repositories as `owner/name`.
    #[serde(default)]
    pub repos: Vec<String>,
    /// An organisation (or user) whose repositories are all synced, filtered
    /// by `include` and `exclude`.
    #[serde(default)]
    pub org: Option<String>,
    /// Glob patterns on the repository name (`web-*`) or `owner/name`; with
    /// `org`, only matching repositories are synced (default: all).
    #[serde(default)]
    pub include: Vec<String>,
    /// Glob patterns of repositories to leave out (with `org`).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// With `org`: also sync archived repositories (default false).
    #[serde(default)]
    pub include_archived: bool,
    /// Where deployments come from:
    /// `"deployments"` (default; the Deployments API and its statuses),
    /// `"releases"` (each published release is a production deployment),
    /// `"tags:GLOB"` (each tag matching GLOB, e.g. `tags:v*`, is a production
    /// deployment) or `"workflow:FILE"` (each completed run of the GitHub
    /// Actions workflow FILE, e.g. `workflow:deploy.yml`).
    #[serde(default = "default_deployments")]
    pub deployments: String,
    /// The environment recorded for `releases`, `tags:` and `workflow:`
    /// deployments (default `production`).
    #[serde(default = "default_environment")]
    pub environment: String,
    /// Issues with any of these labels are incidents (default `["incident"]`;
    /// an empty list turns incident import off). A label `service:NAME` on
    /// the issue names the affected service (default: the repository, as
    /// `owner/name`, which is also the service of its deployments); a label
    /// `severity:X` or `sev:X` sets the severity.
    #[serde(default = "default_incident_labels")]
    pub incident_labels: Vec<String>,
    /// The branch whose commits are imported. Default: each repository's
    /// default branch.
    #[serde(default)]
    pub branch: Option<String>,
    /// Pull requests fetched per GraphQL request (1–100, default 100: a
    /// 10,000-PR repository backfills in 100 requests). Lower it if GitHub
    /// answers large queries with 502 timeouts.
    #[serde(default = "default_pr_page_size")]
    pub pr_page_size: u32,
    /// Retries of a failed request (5xx, rate limits) before giving up
    /// (default 5).
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// First backoff delay between retries, in milliseconds (default 1000;
    /// doubled each retry).
    #[serde(default = "default_retry_base_ms")]
    pub retry_base_ms: u64,
    /// Longest wait for a rate-limit reset or `Retry-After`, in seconds
    /// (default 900). A longer wait fails the request instead.
    #[serde(default = "default_max_wait_secs")]
    pub max_wait_secs: u64,
}

fn default_api_url() -> String {
    "https://api.github.com".to_string()
}
fn default_deployments() -> String {
    "deployments".to_string()
}
fn default_environment() -> String {
    "production".to_string()
}
fn default_incident_labels() -> Vec<String> {
    vec!["incident".to_string()]
}
fn default_pr_page_size() -> u32 {
    100
}
fn default_max_retries() -> u32 {
    5
}
fn default_retry_base_ms() -> u64 {
    1000
}
fn default_max_wait_secs() -> u64 {
    900
}

impl Default for GitHubConfig {
    fn default() -> Self {
        GitHubConfig {
            source_type: None,
            name: None,
            api_url: default_api_url(),
            graphql_url: None,
            token_env: None,
            app_id: None,
            app_private_key_file: None,
            app_private_key_env: None,
            installation_id: None,
            repos: Vec::new(),
            org: None,
            include: Vec::new(),
            exclude: Vec::new(),
            include_archived: false,
            deployments: default_deployments(),
            environment: default_environment(),
            incident_labels: default_incident_labels(),
            branch: None,
            pr_page_size: default_pr_page_size(),
            max_retries: default_max_retries(),
            retry_base_ms: default_retry_base_ms(),
            max_wait_secs: default_max_wait_secs(),
        }
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
    /// The source name (`name`, default `github`).
    pub fn source_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| "github".to_string())
    }

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
