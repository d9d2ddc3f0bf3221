//! The server's settings, resolved once at start-up from the flags, the
//! `[serve]` table of the config and the environment (secrets only ever
//! come from the environment, by the variable names the config gives).

use std::net::SocketAddr;

use flowmeter_config::Config;

use crate::ServeError;

/// A secret read from the environment. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Everything the server runs by.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// `Authorization: Bearer` required on `/api/v1` when set.
    pub api_token: Option<Secret>,
    pub github_secret: Option<Secret>,
    pub gitlab_token: Option<Secret>,
    pub pagerduty_secret: Option<Secret>,
    pub incident_labels: Vec<String>,
    /// The source name deliveries are stored under, per receiver: the name
    /// of the config's first source of that type (so a delivery and a sync
    /// of the same object share their key), else the type.
    pub github_source: String,
    pub gitlab_source: String,
    pub pagerduty_source: String,
    /// The PagerDuty source's `service_map` (service id or name → service).
    pub pagerduty_service_map: std::collections::BTreeMap<String, String>,
    pub max_body_bytes: usize,
    /// How old a served page may be while writes arrive (zero: always
    /// current); `[serve] page_max_age`.
    pub page_max_age: std::time::Duration,
    /// Start-up notes: disabled receivers and why.
    pub notes: Vec<String>,
}

fn secret(var: &str) -> Option<Secret> {
    std::env::var(var)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(Secret)
}

impl Settings {
    /// Resolves the settings; `listen` (the flag) wins over the config.
    /// Binding anything but loopback without an API token is refused.
    pub fn resolve(config: &Config, listen: Option<&str>) -> Result<Settings, ServeError> {
        let cfg = &config.serve;
        let source_of = |kind: &str| {
            config
                .sources
                .iter()
                .find(|t| t.get("type").and_then(|v| v.as_str()) == Some(kind))
                .and_then(|t| t.get("name").and_then(|v| v.as_str()))
                .unwrap_or(kind)
                .to_string()
        };
        let text = listen.unwrap_or(&cfg.listen);
        let listen: SocketAddr = text.parse().map_err(|_| {
            ServeError::Config(format!(
                "`--listen {text}` is not an address like `127.0.0.1:8080`"
            ))
        })?;
        let api_token = secret(&cfg.api_token_env);
        if !listen.ip().is_loopback() && api_token.is_none() {
            return Err(ServeError::Config(format!(
                "refusing to listen on {listen} without an API token: anyone who can reach it could read the numbers and write events. \
                 Set `{}` (the bearer token clients must send), or listen on 127.0.0.1",
                cfg.api_token_env
            )));
        }
        let mut notes = Vec::new();
        let mut receiver = |name: &str, path: &str, var: &str| {
            let s = secret(var);
            if s.is_none() {
                notes.push(format!(
                    "the {name} webhook receiver ({path}) is disabled: set `{var}` to its secret to enable it"
                ));
            }
            s
        };
        let github_secret = receiver("GitHub", "/webhooks/github", &cfg.github_secret_env);
        let gitlab_token = receiver("GitLab", "/webhooks/gitlab", &cfg.gitlab_token_env);
        let pagerduty_secret = receiver(
            "PagerDuty",
            "/webhooks/pagerduty",
            &cfg.pagerduty_secret_env,
        );
        let page_max_age = match &cfg.page_max_age {
            None => std::time::Duration::ZERO,
            Some(text) => flowmeter_app::sync::parse_duration(text).ok_or_else(|| {
                ServeError::Config(format!(
                    "`[serve] page_max_age = \"{text}\"` is not a duration like \"30s\", \"5m\" or \"1h\""
                ))
            })?,
        };
        Ok(Settings {
            listen,
            api_token,
            github_secret,
            gitlab_token,
            pagerduty_secret,
            // The GitHub source's own incident labels, so a delivery and a
            // sync agree on what is an incident.
            incident_labels: config
                .sources
                .iter()
                .find(|t| t.get("type").and_then(|v| v.as_str()) == Some("github"))
                .and_then(|t| t.get("incident_labels"))
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_else(|| cfg.incident_labels.clone()),
            github_source: source_of("github"),
            gitlab_source: source_of("gitlab"),
            pagerduty_source: source_of("pagerduty"),
            pagerduty_service_map: config
                .sources
                .iter()
                .find(|t| t.get("type").and_then(|v| v.as_str()) == Some("pagerduty"))
                .and_then(|t| t.get("service_map"))
                .and_then(|m| m.as_table())
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                        .collect()
                })
                .unwrap_or_default(),
            max_body_bytes: cfg.max_body_bytes,
            page_max_age,
            notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowmeter_config::ServeConfig;

    #[test]
    fn a_public_address_without_a_token_is_refused() {
        let cfg = Config {
            serve: ServeConfig {
                api_token_env: "FLOWMETER_TEST_NO_SUCH_TOKEN".into(),
                ..ServeConfig::default()
            },
            ..Config::default()
        };
        let e = Settings::resolve(&cfg, Some("0.0.0.0:8080")).unwrap_err();
        assert!(
            e.to_string().contains("FLOWMETER_TEST_NO_SUCH_TOKEN"),
            "{e}"
        );
        assert!(Settings::resolve(&cfg, Some("127.0.0.1:0")).is_ok());
        assert!(Settings::resolve(&cfg, Some("localhost")).is_err());
    }

    #[test]
    fn deliveries_take_the_name_of_the_configured_source() {
        let cfg = Config::parse(
            "[[sources]]\ntype = \"github\"\nname = \"gh-acme\"\norg = \"acme\"\n",
            "test",
        )
        .unwrap();
        let s = Settings::resolve(&cfg, None).unwrap();
        assert_eq!(s.github_source, "gh-acme");
        assert_eq!(s.gitlab_source, "gitlab");
    }

    #[test]
    fn page_max_age_is_a_duration() {
        let cfg = |age: &str| {
            Config::parse(&format!("[serve]\npage_max_age = \"{age}\"\n"), "test").unwrap()
        };
        let s = Settings::resolve(&cfg("30s"), None).unwrap();
        assert_eq!(s.page_max_age, std::time::Duration::from_secs(30));
        let e = Settings::resolve(&cfg("soon"), None).unwrap_err();
        assert!(e.to_string().contains("page_max_age"), "{e}");
        let s = Settings::resolve(&Config::default(), None).unwrap();
        assert_eq!(s.page_max_age, std::time::Duration::ZERO);
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret("hunter2".into());
        assert_eq!(format!("{s:?}"), "Secret(***)");
    }
}
