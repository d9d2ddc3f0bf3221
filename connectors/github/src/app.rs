//! Authentication as a GitHub App installation.
//!
//! Organisations often forbid personal tokens; a GitHub App installed on
//! the organisation gets its own (higher) rate limit and only the
//! permissions it was granted. octocrab does what it does well here: it
//! signs the App's JWT (RS256, issued 60 s in the past, valid 9 minutes),
//! asks GitHub for an installation access token
//! (`POST /app/installations/{id}/access_tokens`), caches it, and mints a
//! new one before it expires (tokens live one hour; a new one is asked for
//! when less than five minutes remain). Every request of the connector then
//! carries `Authorization: Bearer <installation token>` through the shared
//! HTTP client.
//!
//! The installation is `installation_id` when configured, else discovered:
//! the organisation's (`GET /orgs/{org}/installation`), or the user's when
//! `org` names a user account (`GET /users/{user}/installation`), else the
//! first repository's (`GET /repos/{owner}/{repo}/installation`).

use std::sync::Arc;

use flowmeter_connector::http::AuthSource;
use flowmeter_connector::ConnectorError;
use octocrab::models::{AppId, InstallationId};
use octocrab::secrecy::ExposeSecret;
use octocrab::Octocrab;
use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION};
use tokio::sync::OnceCell;

/// Refresh the installation token when less than this remains.
const REFRESH_BEFORE_MINUTES: i64 = 5;

/// The installation token source; see the module docs.
pub struct AppAuth {
    source: String,
    api_url: String,
    app_id: u64,
    /// The PEM text of the App's private key (never printed).
    key_pem: Vec<u8>,
    /// Where the key came from, for errors (`file ...` / `$VAR`).
    key_origin: String,
    installation_id: Option<u64>,
    /// Where to look for the installation: an organisation, else `owner/repo`.
    org: Option<String>,
    repo: Option<String>,
    installation: OnceCell<Octocrab>,
}

impl std::fmt::Debug for AppAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppAuth")
            .field("app_id", &self.app_id)
            .field("key", &self.key_origin)
            .field("installation_id", &self.installation_id)
            .finish_non_exhaustive()
    }
}

impl AppAuth {
    /// `key_pem` is the App's private key (PEM); `key_origin` names where it
    /// came from in errors. `org`/`repo` are where to discover the
    /// installation when `installation_id` is not given.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        source: &str,
        api_url: &str,
        app_id: u64,
        key_pem: Vec<u8>,
        key_origin: String,
        installation_id: Option<u64>,
        org: Option<String>,
        repo: Option<String>,
    ) -> Result<Arc<Self>, ConnectorError> {
        // Parse the key now, so a bad key is a configuration error at once.
        octocrab::EncodingKey::from_rsa_pem(&key_pem).map_err(|e| ConnectorError::Config {
            source_name: source.to_string(),
            message: format!(
                "the GitHub App private key in {key_origin} is not an RSA key in PEM format: {e}"
            ),
        })?;
        Ok(Arc::new(AppAuth {
            source: source.to_string(),
            api_url: api_url.trim_end_matches('/').to_string(),
            app_id,
            key_pem,
            key_origin,
            installation_id,
            org,
            repo,
            installation: OnceCell::new(),
        }))
    }

    fn err(&self, call: &str, e: octocrab::Error) -> ConnectorError {
        let text = match &e {
            octocrab::Error::GitHub { source, .. } => {
                format!("HTTP {}: {}", source.status_code.as_u16(), source.message)
            }
            other => other.to_string().lines().next().unwrap_or("").to_string(),
        };
        if text.contains("401") || text.contains("Bad credentials") || text.contains("JWT") {
            return ConnectorError::Api {
                source_name: self.source.clone(),
                call: call.to_string(),
                message: format!(
                    "GitHub refused the App's credentials ({text}): check `app_id = {}` and that the private key in {} belongs to that App",
                    self.app_id, self.key_origin
                ),
            };
        }
        ConnectorError::Api {
            source_name: self.source.clone(),
            call: call.to_string(),
            message: text,
        }
    }

    /// The octocrab client authenticated as the App itself (JWT).
    fn app_client(&self) -> Result<Octocrab, ConnectorError> {
        let key = octocrab::EncodingKey::from_rsa_pem(&self.key_pem).map_err(|e| {
            ConnectorError::Config {
                source_name: self.source.clone(),
                message: format!("the GitHub App private key in {}: {e}", self.key_origin),
            }
        })?;
        Octocrab::builder()
            .base_uri(self.api_url.as_str())
            .and_then(|b| b.app(AppId(self.app_id), key).build())
            .map_err(|e| ConnectorError::Config {
                source_name: self.source.clone(),
                message: format!("cannot set up GitHub App authentication: {e}"),
            })
    }

    async fn installation_client(&self) -> Result<&Octocrab, ConnectorError> {
        self.installation
            .get_or_try_init(|| async {
                let app = self.app_client()?;
                let id = match self.installation_id {
                    Some(id) => id,
                    None => self.discover(&app).await?,
                };
                app.installation(InstallationId(id))
                    .map_err(|e| self.err("installation", e))
            })
            .await
    }

    async fn discover(&self, app: &Octocrab) -> Result<u64, ConnectorError> {
        if let Some(org) = &self.org {
            let call = format!("GET /orgs/{org}/installation");
            let installed = match app.apps().get_org_installation(org).await {
                // `org` may name a user account; the organisation's error
                // is the one to tell.
                Err(e) => app.apps().get_user_installation(org).await.map_err(|_| e),
                found => found,
            };
            match installed {
                Ok(i) => return Ok(i.id.0),
                Err(e) if self.repo.is_none() => {
                    return Err(ConnectorError::Config {
                        source_name: self.source.clone(),
                        message: format!(
                            "the GitHub App {} is not installed on `{org}` ({}); install it or set `installation_id`",
                            self.app_id,
                            self.err(&call, e)
                        ),
                    })
                }
                Err(_) => {}
            }
        }
        if let Some((owner, repo)) = self.repo.as_deref().and_then(|r| r.split_once('/')) {
            let call = format!("GET /repos/{owner}/{repo}/installation");
            return app
                .apps()
                .get_repository_installation(owner, repo)
                .await
                .map(|i| i.id.0)
                .map_err(|e| ConnectorError::Config {
                    source_name: self.source.clone(),
                    message: format!(
                        "the GitHub App {} is not installed on `{owner}/{repo}` ({}); install it or set `installation_id`",
                        self.app_id,
                        self.err(&call, e)
                    ),
                });
        }
        Err(ConnectorError::Config {
            source_name: self.source.clone(),
            message:
                "set `installation_id`, `org` or `repos` to find the GitHub App's installation"
                    .into(),
        })
    }
}

#[async_trait::async_trait]
impl AuthSource for AppAuth {
    async fn header(&self) -> Result<(HeaderName, HeaderValue), ConnectorError> {
        let crab = self.installation_client().await?;
        let token = crab
            .installation_token_with_buffer(chrono::Duration::minutes(REFRESH_BEFORE_MINUTES))
            .await
            .map_err(|e| self.err("POST /app/installations/{id}/access_tokens", e))?;
        let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
            .map_err(|_| ConnectorError::Api {
                source_name: self.source.clone(),
                call: "POST /app/installations/{id}/access_tokens".into(),
                message: "GitHub sent an installation token that is not a valid header value"
                    .into(),
            })?;
        value.set_sensitive(true);
        Ok((AUTHORIZATION, value))
    }
}
