//! The `[[sources]]` settings every HTTP connector shares, declared once.
//!
//! Every HTTP source has a name, a base URL, the environment variable that
//! holds its secret and the same retry settings; an incident tool also maps
//! its services onto flowmeter's. [`source_config!`](crate::source_config)
//! declares a connector's config struct with those fields (each documented
//! here, once) followed by the connector's own, so that adding a setting to
//! every source is one change and a config key is spelt the same way in
//! every `[[sources]]` table.
//!
//! ```
//! flowmeter_connector::source_config! {
//!     /// `[[sources]]` entry with `type = "acme"`.
//!     pub struct AcmeConfig {
//!         kind: "acme",
//!         api_url: "https://api.acme.example", "Use `https://eu.acme.example` in the EU.",
//!         token_env: "ACME_TOKEN", "an API token with read access",
//!         service_map: "Acme",
//!         /// The Acme project to read.
//!         pub project: String = "ops".into(),
//!     }
//! }
//!
//! let config: AcmeConfig =
//!     serde_json::from_str(r#"{"project": "web", "max_retries": 2}"#).unwrap();
//! assert_eq!(config.source_name(), "acme");
//! assert_eq!(config.api_url, "https://api.acme.example");
//! assert_eq!((config.project.as_str(), config.max_retries), ("web", 2));
//! let unknown = serde_json::from_str::<AcmeConfig>(r#"{"projekt": "web"}"#).unwrap_err();
//! assert!(unknown.to_string().contains("unknown field `projekt`"));
//! ```

use std::time::Duration;

use crate::http::HttpConfig;
use crate::ConnectorError;

/// The retry settings of a source (`max_retries`, `retry_base_ms`,
/// `max_wait_secs`), applied to its HTTP client with [`HttpConfig::retry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Retries of a failed request (5xx, rate limits), first try not counted.
    pub max_retries: u32,
    /// First backoff delay; doubled each retry.
    pub base_delay: Duration,
    /// Longest wait for a rate-limit reset or `Retry-After`.
    pub max_wait: Duration,
}

impl HttpConfig {
    /// Applies a source's retry settings.
    pub fn retry(mut self, retry: Retry) -> Self {
        self.max_rate_limit_wait = retry.max_wait;
        self.base_delay(retry.base_delay)
            .max_attempts(retry.max_retries.saturating_add(1))
    }
}

/// Default of `max_retries`.
pub fn default_max_retries() -> u32 {
    5
}

/// Default of `retry_base_ms`.
pub fn default_retry_base_ms() -> u64 {
    500
}

/// Default of `max_wait_secs`.
pub fn default_max_wait_secs() -> u64 {
    900
}

/// `type = "..."` in a table given to a connector directly must name it.
pub fn check_kind(
    source_name: &str,
    given: Option<&str>,
    kind: &str,
) -> Result<(), ConnectorError> {
    match given {
        Some(t) if t != kind => Err(ConnectorError::Config {
            source_name: source_name.to_string(),
            message: format!("`type = \"{t}\"` is not a `{kind}` source"),
        }),
        _ => Ok(()),
    }
}

/// Declares a connector's `[[sources]]` config struct: the shared fields
/// (`type`, `name`, `api_url`, `token_env`, `max_retries`, `retry_base_ms`,
/// `max_wait_secs` and, for an incident tool, `service_map`), then the
/// connector's own fields with their defaults. Unknown keys are errors that
/// name the key; a key left out takes its default. See the [module
/// docs](crate::source) for an example.
///
/// It also implements `Default` and the methods `source_name()`,
/// `retry()`, `check_kind()` (for `type` in a table given directly) and
/// `invalid()` (a configuration error naming the source).
#[macro_export]
macro_rules! source_config {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            kind: $kind:literal,
            $(api_url: $api_url:literal, $api_doc:literal,)?
            token_env: $token_env:literal, $secret:literal,
            $(service_map: $tool:literal,)?
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty = $default:expr, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, ::serde::Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct $name {
            #[doc = concat!("Always `\"", $kind, "\"`; accepted so the `[[sources]]` table can be passed as is.")]
            #[serde(rename = "type")]
            pub source_type: Option<String>,
            #[doc = concat!("The source name that records and the sync cursor are stored under (default `", $kind, "`).")]
            pub name: Option<String>,
            $(
                #[doc = concat!("The API's base URL (default `", $api_url, "`). ", $api_doc)]
                pub api_url: String,
            )?
            #[doc = concat!("The environment variable holding ", $secret, " (default `", $token_env, "`). The secret itself never appears in the config file, on the command line or in any message.")]
            pub token_env: String,
            /// Retries of a failed request (5xx, rate limits) before giving
            /// up (default 5).
            pub max_retries: u32,
            /// First backoff delay between retries, in milliseconds (default
            /// 500; doubled each retry, up to 30 s).
            pub retry_base_ms: u64,
            /// Longest wait for a rate-limit reset or `Retry-After`, in
            /// seconds (default 900). A longer wait fails the request
            /// instead.
            pub max_wait_secs: u64,
            $(
                #[doc = concat!($tool, " service id or name -> flowmeter service name. Services not listed keep their ", $tool, " name (matched case-insensitively against the services flowmeter already knows) and are listed in the coverage report.")]
                pub service_map: ::std::collections::BTreeMap<String, String>,
            )?
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name {
                    source_type: None,
                    name: None,
                    $(api_url: $api_url.into(),)?
                    token_env: $token_env.into(),
                    max_retries: $crate::source::default_max_retries(),
                    retry_base_ms: $crate::source::default_retry_base_ms(),
                    max_wait_secs: $crate::source::default_max_wait_secs(),
                    $(service_map: $crate::source_config!(@empty $tool),)?
                    $( $field: $default, )*
                }
            }
        }

        impl $name {
            /// The source name the config gives, or the connector's default.
            pub fn source_name(&self) -> &str {
                self.name.as_deref().unwrap_or($kind)
            }

            /// The retry settings for the source's HTTP client.
            pub fn retry(&self) -> $crate::source::Retry {
                $crate::source::Retry {
                    max_retries: self.max_retries,
                    base_delay: ::std::time::Duration::from_millis(self.retry_base_ms),
                    max_wait: ::std::time::Duration::from_secs(self.max_wait_secs),
                }
            }

            /// `type`, when the table carries it, names this connector.
            pub fn check_kind(&self) -> Result<(), $crate::ConnectorError> {
                $crate::source::check_kind(self.source_name(), self.source_type.as_deref(), $kind)
            }

            /// A configuration error of this source.
            pub fn invalid(&self, message: impl Into<String>) -> $crate::ConnectorError {
                $crate::ConnectorError::Config {
                    source_name: self.source_name().to_string(),
                    message: message.into(),
                }
            }
        }
    };
    (@empty $tool:literal) => {
        ::std::collections::BTreeMap::new()
    };
}
