//! `flowmeter.toml`: what counts as production, how incidents are attributed,
//! which PR labels mean rework, which services and repos make up each team,
//! and the `[[sources]]` that `flowmeter sync` pulls from.
//!
//! Every key is optional; an absent file means the METRICS.md defaults.
//!
//! ```toml
//! [metrics]
//! production_environments = ["production", "prod", "live"]
//! production_prefixes = ["prod-", "production-"]
//! attribution_window_hours = 24
//! rework_labels = ["bug", "hotfix", "incident"]
//!
//! [teams.payments]
//! services = ["billing"]
//! repos = ["acme/billing"]
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config `{path}`: {message}")]
    Invalid { path: String, message: String },
}

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Team name → the services and repos it owns.
    #[serde(default)]
    pub teams: BTreeMap<String, Team>,
    /// Sources for `flowmeter sync`, each a table with a `type` key; the
    /// binary hands each to its connector, which validates its own keys.
    #[serde(default)]
    pub sources: Vec<toml::Table>,
    /// `flowmeter serve`: where it listens, where its secrets are, when it
    /// posts the digest.
    #[serde(default)]
    pub serve: ServeConfig,
    /// What the report pages show.
    #[serde(default)]
    pub report: ReportConfig,
}

/// `[report]`: what the pages show.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportConfig {
    /// Where person names appear. DORA measures teams, not individuals:
    /// `teams` (the default) shows names only where a team acts on them
    /// (the team view, explain); `all` also on the weekly page's longest
    /// waits; `none` nowhere. Leadership pages never name people, and no
    /// page ever shows an e-mail address.
    pub people: People,
}

/// [`ReportConfig::people`].
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum People {
    #[default]
    Teams,
    All,
    None,
}

/// `[serve]`: the server's settings. Secrets are never written here, only
/// the names of the environment variables that hold them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// The address to listen on; `--listen` wins. Anything but loopback
    /// needs an API token.
    pub listen: String,
    /// The variable holding the bearer token the API and ingest require
    /// (when set, every `/api/v1` request needs `Authorization: Bearer ...`).
    pub api_token_env: String,
    /// The variable holding the GitHub webhook secret (`X-Hub-Signature-256`).
    pub github_secret_env: String,
    /// The variable holding the GitLab webhook token (`X-Gitlab-Token`).
    pub gitlab_token_env: String,
    /// The variable holding the PagerDuty v3 webhook signing secret.
    pub pagerduty_secret_env: String,
    /// Labels that make a GitHub or GitLab issue delivered by webhook an
    /// incident (compared case-insensitively).
    pub incident_labels: Vec<String>,
    /// When to post the weekly digest: `"mon 09:00"` (UTC),
    /// `"mon 09:00 Europe/Berlin"` (an IANA time zone, daylight saving
    /// followed) or `"mon 09:00 +01:00"` (a fixed UTC offset); unset = never.
    pub digest: Option<String>,
    /// Where the scheduled digest goes: `"slack"` or `"teams"`.
    pub digest_channel: Option<String>,
    /// The variable holding the digest's incoming-webhook URL [default:
    /// FLOWMETER_SLACK_WEBHOOK_URL or FLOWMETER_TEAMS_WEBHOOK_URL].
    pub digest_url_env: Option<String>,
    /// The dashboard's public address, linked from digests.
    pub dashboard_url: Option<String>,
    /// The largest request body taken, in bytes.
    pub max_body_bytes: usize,
    /// How old a dashboard page may be when writes arrive: `"30s"` serves
    /// a page computed up to 30 seconds ago (it says so, with the writes
    /// not yet in it) instead of recomputing it after every write; unset =
    /// every page is current.
    pub page_max_age: Option<String>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: "127.0.0.1:8080".into(),
            api_token_env: "FLOWMETER_API_TOKEN".into(),
            github_secret_env: "FLOWMETER_GITHUB_WEBHOOK_SECRET".into(),
            gitlab_token_env: "FLOWMETER_GITLAB_WEBHOOK_TOKEN".into(),
            pagerduty_secret_env: "FLOWMETER_PAGERDUTY_WEBHOOK_SECRET".into(),
            incident_labels: vec!["incident".into()],
            digest: None,
            digest_channel: None,
            digest_url_env: None,
            dashboard_url: None,
            max_body_bytes: 16 << 20,
            page_max_age: None,
        }
    }
}

/// The knobs of the metric definitions (METRICS.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Environment names that are production, compared case-insensitively.
    pub production_environments: Vec<String>,
    /// Environment name prefixes that are production (`prod-eu`).
    pub production_prefixes: Vec<String>,
    /// Per service, its own production environments: a service listed here
    /// is measured in its lists (each replaces the global one it names),
    /// e.g. `[metrics.services.checkout] production_environments =
    /// ["prod-eu", "prod-us"]` while other services keep `production`.
    pub services: BTreeMap<String, ServiceEnvironments>,
    /// How long after a deployment an incident of its service is blamed on it.
    pub attribution_window_hours: f64,
    /// PR labels that make a deployment rework, compared case-insensitively.
    pub rework_labels: Vec<String>,
    /// One release rolled out to several production environments (regions:
    /// `prod-eu`, `prod-us`) counts once: consecutive deployments of one
    /// service and commit to different production environments are one
    /// deployment (off: each counts, as METRICS.md says).
    pub dedupe_regions: bool,
    /// With `dedupe_regions`: a change is deployed when its release first
    /// reaches production anywhere (`first`, the default) or when it has
    /// reached every environment of the rollout (`everywhere`).
    pub deployed_when: DeployedWhen,
    /// Which team a pull request's stages count for: `repo` (the default:
    /// the team owning its repository, or a service deploying from it) or
    /// `author` (the team its author was on when it merged, from `people`).
    pub pr_team: PrTeam,
    /// When people work, for PR stages read in working hours
    /// (`--working-hours`); a team's own `working_hours` wins for it.
    pub working_hours: Option<Calendar>,
    /// Whose definitions the keys follow: `flowmeter` (the default,
    /// METRICS.md), `dora-2023` or `dora-2024` (their tier thresholds), or
    /// `devlake` (Apache DevLake's DORA dashboard: its linking, lower
    /// medians, whole minutes and tiers) or `four-keys` (Google's Four
    /// Keys: changes per deployment, failures by root-cause commit, its
    /// buckets), to reconcile with an old dashboard. Every tier says which
    /// profile it comes from (`tier_source`).
    pub profile: Profile,
}

/// A service's own production environments
/// ([`MetricsConfig::services`]); a list left out keeps the global one.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceEnvironments {
    /// The environment names that are production for this service
    /// (case-insensitive), instead of `[metrics] production_environments`.
    pub production_environments: Option<Vec<String>>,
    /// The name prefixes that are production for this service, instead of
    /// `[metrics] production_prefixes` (`[]`: none).
    pub production_prefixes: Option<Vec<String>>,
}

/// [`MetricsConfig::deployed_when`].
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DeployedWhen {
    #[default]
    First,
    Everywhere,
}

/// [`MetricsConfig::pr_team`].
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PrTeam {
    #[default]
    Repo,
    Author,
}

/// [`MetricsConfig::profile`].
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(try_from = "String")]
pub enum Profile {
    #[default]
    Flowmeter,
    Dora2023,
    Dora2024,
    /// Apache DevLake's DORA dashboard: its linking, medians and units,
    /// not only its tiers (docs/PROFILES.md §4).
    Devlake,
    /// Google's Four Keys dashboard: changes per deployment, failures by
    /// an incident's root-cause commit, its buckets (docs/PROFILES.md §5).
    FourKeys,
}

impl TryFrom<String> for Profile {
    type Error = String;

    fn try_from(name: String) -> Result<Profile, String> {
        match name.as_str() {
            "flowmeter" => Ok(Profile::Flowmeter),
            "dora-2023" => Ok(Profile::Dora2023),
            "dora-2024" => Ok(Profile::Dora2024),
            "devlake" => Ok(Profile::Devlake),
            "four-keys" => Ok(Profile::FourKeys),
            other => Err(format!(
                "unknown profile `{other}`: use `flowmeter` (the default), `dora-2023`, `dora-2024`, `devlake` or `four-keys` (see docs/PROFILES.md)"
            )),
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            production_environments: vec!["production".into(), "prod".into(), "live".into()],
            production_prefixes: vec!["prod-".into(), "production-".into()],
            services: BTreeMap::new(),
            attribution_window_hours: 24.0,
            rework_labels: vec!["bug".into(), "hotfix".into(), "incident".into()],
            profile: Profile::default(),
            working_hours: None,
            pr_team: PrTeam::default(),
            dedupe_regions: false,
            deployed_when: DeployedWhen::default(),
        }
    }
}

impl MetricsConfig {
    /// Whether `service`'s deployments to `environment` count as
    /// production: by the service's own lists
    /// ([`MetricsConfig::services`]), else the global ones.
    pub fn is_production(&self, service: &str, environment: &str) -> bool {
        let own = self.services.get(service);
        let names = own.and_then(|s| s.production_environments.as_ref());
        let prefixes = own.and_then(|s| s.production_prefixes.as_ref());
        production_in(
            names.unwrap_or(&self.production_environments),
            prefixes.unwrap_or(&self.production_prefixes),
            environment,
        )
    }

    /// Whether `environment` is production for any service (the global
    /// lists, or a service's own).
    pub fn is_production_anywhere(&self, environment: &str) -> bool {
        production_in(
            &self.production_environments,
            &self.production_prefixes,
            environment,
        ) || self
            .services
            .keys()
            .any(|s| self.is_production(s, environment))
    }

    pub fn is_rework_label(&self, label: &str) -> bool {
        self.rework_labels
            .iter()
            .any(|l| l.eq_ignore_ascii_case(label))
    }

    /// A stable text of everything linking depends on, so the store can
    /// tell when its materialised links are stale.
    pub fn fingerprint(&self) -> String {
        let mut text = format!(
            "prod={:?};prefixes={:?};window={};rework={:?}",
            self.production_environments,
            self.production_prefixes,
            self.attribution_window_hours,
            self.rework_labels
        );
        // Only when set, so stores linked before these options keep their
        // links.
        if !self.services.is_empty() {
            text.push_str(&format!(";services={:?}", self.services));
        }
        if self.dedupe_regions {
            text.push_str(&format!(";regions=dedupe,{:?}", self.deployed_when));
        }
        text
    }
}

/// `environment` is one of `names` or starts with one of `prefixes`
/// (case-insensitively).
fn production_in(names: &[String], prefixes: &[String], environment: &str) -> bool {
    let env = environment.to_lowercase();
    names.iter().any(|p| p.to_lowercase() == env)
        || prefixes.iter().any(|p| env.starts_with(&p.to_lowercase()))
}

/// A team: the services and repos it owns.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Team {
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub repos: Vec<String>,
    /// People on the team (PR authors as the source names them), for
    /// `[metrics] pr_team = "author"`.
    #[serde(default)]
    pub people: Vec<String>,
    /// Path prefixes the team owns in any repository (`services/billing/`,
    /// matched as a string): a change whose commit or pull request changed
    /// such a path counts for the team, and so does its deployment. Needs
    /// the changed paths (`files`), which the git connector records.
    #[serde(default)]
    pub paths: Vec<String>,
    /// The team's CODEOWNERS handles (`@acme/payments`, `pay@acme.com`): a
    /// change whose commit or pull request touched code they own counts
    /// for the team, and so does its deployment. Needs the owners a
    /// connector read from CODEOWNERS.
    #[serde(default)]
    pub owners: Vec<String>,
    /// What the team owned for a time (`[[teams.NAME.members]]`): a past
    /// window uses the mapping of that time, so a reorganisation does not
    /// rewrite history.
    #[serde(default)]
    pub members: Vec<Member>,
    /// The team's working calendar (time zone, days, hours, holidays);
    /// default: `[metrics.working_hours]`.
    #[serde(default)]
    pub working_hours: Option<Calendar>,
}

/// A dated part of a team: the services, repos and people it had from
/// `since` until `until`. A deployment counts by its finish, an incident by
/// its creation, a pull request by its merge (else its creation).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "MemberConfig")]
pub struct Member {
    pub services: Vec<String>,
    pub repos: Vec<String>,
    pub people: Vec<String>,
    /// Path prefixes, without a leading `./` or `/`.
    pub paths: Vec<String>,
    /// CODEOWNERS handles.
    pub owners: Vec<String>,
    /// Inclusive; `None`: since always.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Exclusive; `None`: still.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

impl Member {
    /// Whether this part claims code by path or CODEOWNERS handle.
    pub fn claims_code(&self) -> bool {
        !self.paths.is_empty() || !self.owners.is_empty()
    }
}

/// `[[teams.NAME.members]]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberConfig {
    /// Services the team owned in the period.
    #[serde(default)]
    services: Vec<String>,
    /// Repositories the team owned in the period.
    #[serde(default)]
    repos: Vec<String>,
    /// People on the team in the period (PR authors).
    #[serde(default)]
    people: Vec<String>,
    /// Path prefixes the team owned in the period.
    #[serde(default)]
    paths: Vec<String>,
    /// CODEOWNERS handles that meant the team in the period.
    #[serde(default)]
    owners: Vec<String>,
    /// Start, inclusive: a date (`2026-09-01`, 00:00 UTC) or RFC 3339;
    /// default: always.
    #[serde(default)]
    since: Option<toml::Value>,
    /// End, exclusive: a date or RFC 3339; default: still.
    #[serde(default)]
    until: Option<toml::Value>,
}

fn instant(field: &str, v: &toml::Value) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let text = match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(d) => d.to_string(),
        other => {
            return Err(format!(
                "`{field}` is a date or RFC 3339 time, not `{other}`"
            ))
        }
    };
    if let Ok(d) = chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    chrono::DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| format!("`{field} = {text}` is not a date (`2026-09-01`) or an RFC 3339 time with an offset"))
}

impl TryFrom<MemberConfig> for Member {
    type Error = String;

    fn try_from(m: MemberConfig) -> Result<Member, String> {
        let since = m.since.as_ref().map(|v| instant("since", v)).transpose()?;
        let until = m.until.as_ref().map(|v| instant("until", v)).transpose()?;
        if let (Some(a), Some(b)) = (since, until) {
            if a >= b {
                return Err(format!("`since` ({a}) must be before `until` ({b})"));
            }
        }
        Ok(Member {
            services: m.services,
            repos: m.repos,
            people: m.people,
            paths: path_prefixes(&m.paths),
            owners: m.owners,
            since,
            until,
        })
    }
}

/// Path prefixes as the store holds paths: relative, no `./` or `/` first.
fn path_prefixes(raw: &[String]) -> Vec<String> {
    raw.iter()
        .map(|p| {
            let mut p = p.trim();
            while let Some(rest) = p.strip_prefix("./") {
                p = rest;
            }
            p.trim_start_matches('/').to_string()
        })
        .filter(|p| !p.is_empty())
        .collect()
}

impl Team {
    /// Whether any part claims code by path or CODEOWNERS handle, so its
    /// changes are chosen one by one rather than by deployment.
    pub fn claims_code(&self) -> bool {
        self.parts().any(|p| p.claims_code())
    }

    /// What the team owns, part by part: its undated services, repos and
    /// people (all along), then each dated member.
    pub fn parts(&self) -> impl Iterator<Item = Member> + '_ {
        let undated = Member {
            services: self.services.clone(),
            repos: self.repos.clone(),
            people: self.people.clone(),
            paths: path_prefixes(&self.paths),
            owners: self.owners.clone(),
            since: None,
            until: None,
        };
        std::iter::once(undated).chain(self.members.iter().cloned())
    }
}

/// A working calendar, validated: `[metrics.working_hours]` or
/// `[teams.NAME.working_hours]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "CalendarConfig")]
pub struct Calendar {
    pub timezone: chrono_tz::Tz,
    /// Working weekdays, Monday first.
    pub days: [bool; 7],
    pub start: chrono::NaiveTime,
    pub end: chrono::NaiveTime,
    /// Local dates not worked.
    pub holidays: std::collections::BTreeSet<chrono::NaiveDate>,
}

/// A working calendar as written in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarConfig {
    /// An IANA time zone (`Europe/Berlin`, `America/New_York`); default
    /// `UTC`. Daylight saving time follows the zone.
    #[serde(default)]
    timezone: Option<String>,
    /// Working days (`mon` ... `sun`); default Monday to Friday.
    #[serde(default)]
    days: Option<Vec<String>>,
    /// Start of the working day, local `HH:MM`; default `09:00`.
    #[serde(default)]
    start: Option<String>,
    /// End of the working day, local `HH:MM`; default `17:00`.
    #[serde(default)]
    end: Option<String>,
    /// Local dates that are not worked (`2026-12-25`).
    #[serde(default)]
    holidays: Vec<String>,
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl TryFrom<CalendarConfig> for Calendar {
    type Error = String;

    fn try_from(c: CalendarConfig) -> Result<Calendar, String> {
        let zone = c.timezone.as_deref().unwrap_or("UTC");
        let timezone: chrono_tz::Tz = zone.parse().map_err(|_| {
            format!("`timezone = \"{zone}\"` is not an IANA time zone (e.g. `Europe/Berlin`)")
        })?;
        let mut days = [false; 7];
        match &c.days {
            None => days[..5].iter_mut().for_each(|d| *d = true),
            Some(list) => {
                for d in list {
                    let i = WEEKDAYS
                        .iter()
                        .position(|w| w.eq_ignore_ascii_case(d.trim()))
                        .ok_or_else(|| {
                            format!("`days`: `{d}` is not one of {}", WEEKDAYS.join(", "))
                        })?;
                    days[i] = true;
                }
            }
        }
        let time = |field: &str, v: &Option<String>, default: &str| {
            let text = v.as_deref().unwrap_or(default);
            chrono::NaiveTime::parse_from_str(text, "%H:%M")
                .map_err(|_| format!("`{field} = \"{text}\"` is not a local time `HH:MM`"))
        };
        let start = time("start", &c.start, "09:00")?;
        let end = time("end", &c.end, "17:00")?;
        if end <= start {
            return Err(format!("`end` ({end}) must be after `start` ({start})"));
        }
        let holidays = c
            .holidays
            .iter()
            .map(|h| {
                chrono::NaiveDate::parse_from_str(h, "%Y-%m-%d")
                    .map_err(|_| format!("`holidays`: `{h}` is not a date `YYYY-MM-DD`"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Calendar {
            timezone,
            days,
            start,
            end,
            holidays,
        })
    }
}

impl Calendar {
    /// `Mon–Fri 09:00–17:00 Europe/Berlin, 2 holidays`.
    pub fn label(&self) -> String {
        let names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        let on: Vec<usize> = (0..7).filter(|&i| self.days[i]).collect();
        let contiguous = on.windows(2).all(|w| w[1] == w[0] + 1);
        let days = match (on.first(), on.last()) {
            (Some(&a), Some(&b)) if contiguous && b > a => format!("{}–{}", names[a], names[b]),
            _ => on.iter().map(|&i| names[i]).collect::<Vec<_>>().join(", "),
        };
        let holidays = match self.holidays.len() {
            0 => String::new(),
            1 => ", 1 holiday".to_string(),
            n => format!(", {n} holidays"),
        };
        format!(
            "{days} {}–{} {}{holidays}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M"),
            self.timezone.name()
        )
    }
}

impl Config {
    /// Parses configuration text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: origin.to_string(),
            message: e.to_string().trim().to_string(),
        })?;
        config.validate(origin)?;
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let w = self.metrics.attribution_window_hours;
        if !(w.is_finite() && w >= 0.0) {
            return Err(ConfigError::Invalid {
                path: origin.to_string(),
                message: format!("`metrics.attribution_window_hours` must be a number of hours >= 0, found `{w}`"),
            });
        }
        for (i, source) in self.sources.iter().enumerate() {
            if !matches!(source.get("type"), Some(toml::Value::String(_))) {
                return Err(ConfigError::Invalid {
                    path: origin.to_string(),
                    message: format!(
                        "`sources[{i}]` needs a `type` (github, gitlab, git, pagerduty, opsgenie, incidentio, jsm)"
                    ),
                });
            }
        }
        Ok(())
    }

    /// The working calendar of `team` (its own, else the organisation's).
    pub fn calendar(&self, team: Option<&str>) -> Option<&Calendar> {
        team.and_then(|t| self.teams.get(t))
            .and_then(|t| t.working_hours.as_ref())
            .or(self.metrics.working_hours.as_ref())
    }

    /// The team that owns `service` (first by name), if any.
    pub fn team_of_service(&self, service: &str) -> Option<&str> {
        self.teams
            .iter()
            .find(|(_, t)| t.services.iter().any(|s| s == service))
            .map(|(n, _)| n.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_metrics_md() {
        let c = Config::parse("", "t").unwrap();
        for env in ["production", "Prod", "live", "prod-eu", "production-us"] {
            assert!(c.metrics.is_production("web", env), "{env}");
        }
        for env in ["staging", "preprod", "dev"] {
            assert!(!c.metrics.is_production("web", env), "{env}");
        }
        assert_eq!(c.metrics.attribution_window_hours, 24.0);
        assert!(c.metrics.is_rework_label("Bug"));
    }

    #[test]
    fn a_service_can_have_its_own_production_environments() {
        let c = Config::parse(
            "[metrics.services.checkout]\nproduction_environments = [\"eu-live\", \"us-live\"]\nproduction_prefixes = []\n",
            "t",
        )
        .unwrap();
        let m = &c.metrics;
        assert!(m.is_production("checkout", "EU-live") && m.is_production("checkout", "us-live"));
        assert!(
            !m.is_production("checkout", "production") && !m.is_production("checkout", "prod-eu")
        );
        assert!(m.is_production("web", "production") && !m.is_production("web", "eu-live"));
        assert!(m.is_production_anywhere("eu-live") && m.is_production_anywhere("prod-eu"));
        assert!(!m.is_production_anywhere("staging"));
        assert_ne!(
            m.fingerprint(),
            Config::parse("", "t").unwrap().metrics.fingerprint()
        );
        let e =
            Config::parse("[metrics.services.checkout]\nproduction = [\"x\"]\n", "t").unwrap_err();
        assert!(e.to_string().contains("unknown field `production`"), "{e}");
    }

    #[test]
    fn profiles_are_named_and_unknown_ones_listed() {
        let c = Config::parse("[metrics]\nprofile = \"dora-2024\"\n", "t.toml").unwrap();
        assert_eq!(c.metrics.profile, Profile::Dora2024);
        assert_eq!(Config::default().metrics.profile, Profile::Flowmeter);
        let c = Config::parse("[metrics]\nprofile = \"devlake\"\n", "t.toml").unwrap();
        assert_eq!(c.metrics.profile, Profile::Devlake);
        let c = Config::parse("[metrics]\nprofile = \"four-keys\"\n", "t.toml").unwrap();
        assert_eq!(c.metrics.profile, Profile::FourKeys);
        let e = Config::parse("[metrics]\nprofile = \"dora-2025\"\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t.toml") && e.contains("unknown profile `dora-2025`"),
            "{e}"
        );
        assert!(
            e.contains("four-keys") && e.contains("docs/PROFILES.md"),
            "{e}"
        );
        let people = Config::parse("[report]\npeople = \"none\"\n", "t.toml").unwrap();
        assert_eq!(people.report.people, People::None);
        assert!(Config::parse("[report]\nfolks = 1\n", "t.toml").is_err());
    }

    #[test]
    fn teams_and_unknown_keys() {
        let c = Config::parse(
            "[teams.payments]\nservices=[\"billing\"]\nrepos=[\"acme/billing\"]\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.team_of_service("billing"), Some("payments"));
        let err = Config::parse("[metrics]\nattribution_window=3\n", "f.toml").unwrap_err();
        assert!(err.to_string().contains("f.toml"), "{err}");
    }
}
