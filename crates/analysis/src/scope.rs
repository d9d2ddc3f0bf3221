//! The user's filters (`--service`, `--team`, `--repo`) as the `scope_*`
//! temporary views that every query in `queries/metrics/` reads.
//!
//! - deployments (and their changes): `service = S`; `repo = R`; for a team,
//!   its services or its repos;
//! - incidents: one of the incident's services is in the filter's services
//!   (for a repo: the services that deploy from it);
//! - pull requests: `repo = R`; for a service, the repos it deploys from;
//!   for a team, its repos and the repos its services deploy from (or, with
//!   `[metrics] pr_team = "author"`, the PRs of its people).
//!
//! A team's dated members (`[[teams.NAME.members]]`) hold only in their
//! period: a deployment by its finish, an incident by its creation, a pull
//! request by its merge (else its creation).

use chrono::{DateTime, Utc};
use duckdb::Connection;
use flowmeter_config::{Config, PrTeam, Team};

use crate::{AnalysisError, Filters, GroupBy};

pub(crate) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "(NULL)".to_string()
    } else {
        format!(
            "({})",
            items
                .iter()
                .map(|s| quote(s))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// `column` within `[since, until)` (`TRUE` for an undated part).
fn period(column: &str, since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> String {
    let at = |t: DateTime<Utc>| quote(&t.naive_utc().to_string());
    let mut parts = Vec::new();
    if let Some(s) = since {
        parts.push(format!("{column} >= {}::TIMESTAMP", at(s)));
    }
    if let Some(u) = until {
        parts.push(format!("{column} < {}::TIMESTAMP", at(u)));
    }
    if parts.is_empty() {
        "TRUE".into()
    } else {
        parts.join(" AND ")
    }
}

/// The conditions of a team on deployments, incidents and pull requests:
/// its undated services, repos and people, or any dated member's within
/// its period.
fn team_scope(
    team: &Team,
    pr_team: PrTeam,
    incident_has: &dyn Fn(String) -> String,
) -> (String, String, String) {
    let (mut dep, mut inc, mut pr) = (Vec::new(), Vec::new(), Vec::new());
    for part in team.parts() {
        let (since, until) = (part.since, part.until);
        let (services, repos, people) =
            (list(&part.services), list(&part.repos), list(&part.people));
        dep.push(format!(
            "((service IN {services} OR repo IN {repos}) AND {})",
            period("finished_at", since, until)
        ));
        inc.push(format!(
            "(({} OR {}) AND {})",
            incident_has(services.clone()),
            incident_has(format!(
                "(SELECT service FROM link_deployments WHERE repo IN {repos})"
            )),
            period("i.created_at", since, until)
        ));
        let owned = match pr_team {
            PrTeam::Repo => format!(
                "(repo IN {repos} OR repo IN (SELECT repo FROM link_deployments WHERE service IN {services}))"
            ),
            PrTeam::Author => format!("author IN {people}"),
        };
        pr.push(format!(
            "({owned} AND {})",
            period("coalesce(merged_at, created_at)", since, until)
        ));
    }
    let any = |v: Vec<String>| format!("({})", v.join(" OR "));
    (any(dep), any(inc), any(pr))
}

/// (re)creates the scope views for `filters`, each row with `grp = ''`.
pub(crate) fn apply(
    conn: &Connection,
    config: &Config,
    filters: &Filters,
) -> Result<(), AnalysisError> {
    apply_grouped(conn, config, filters, None, None)
}

/// (re)creates the scope views for `filters`; with `by`, each row carries
/// in `grp` the service, repo or team it counts for (a row counts once per
/// group it belongs to: an incident for each of its services, a pull
/// request for each service deploying from its repo), exactly the rows the
/// filter `--service`/`--repo`/`--team` of that group would keep. Every
/// metric query then runs once for all groups (`metric_windows.grp`).
/// Grouped by team, `teams` (when given) are the teams whose rows are
/// wanted, else every team of the config.
pub(crate) fn apply_grouped(
    conn: &Connection,
    config: &Config,
    filters: &Filters,
    by: Option<GroupBy>,
    teams: Option<&[String]>,
) -> Result<(), AnalysisError> {
    let mut dep = vec!["TRUE".to_string()];
    let mut inc = vec!["TRUE".to_string()];
    let mut pr = vec!["TRUE".to_string()];
    let incident_has = |services_sql: String| {
        format!(
            "EXISTS (SELECT 1 FROM link_incident_services s WHERE s.incident_source = i.source \
             AND s.incident_id = i.id AND s.service IN {services_sql})"
        )
    };
    if let Some(s) = &filters.service {
        dep.push(format!("service = {}", quote(s)));
        inc.push(incident_has(format!("({})", quote(s))));
        pr.push(format!(
            "repo IN (SELECT repo FROM link_deployments WHERE service = {})",
            quote(s)
        ));
    }
    if let Some(r) = &filters.repo {
        dep.push(format!("repo = {}", quote(r)));
        inc.push(incident_has(format!(
            "(SELECT service FROM link_deployments WHERE repo = {})",
            quote(r)
        )));
        pr.push(format!("repo = {}", quote(r)));
    }
    if let Some(t) = &filters.team {
        let team = crate::team(config, t)?;
        let (d, i, p) = team_scope(team, config.metrics.pr_team, &incident_has);
        dep.push(d);
        inc.push(i);
        pr.push(p);
    }
    let (dep, inc, pr) = (dep.join(" AND "), inc.join(" AND "), pr.join(" AND "));
    let [deployments, incidents, prs] = match by {
        None | Some(GroupBy::Week) => [
            format!("SELECT *, '' AS grp FROM link_deployments WHERE {dep}"),
            format!("SELECT *, '' AS grp FROM incidents i WHERE {inc}"),
            format!("SELECT *, '' AS grp FROM link_prs WHERE {pr}"),
        ],
        Some(GroupBy::Service) => [
            format!("SELECT *, service AS grp FROM link_deployments WHERE {dep}"),
            format!(
                "SELECT * FROM (SELECT i.*, s.service AS grp FROM incidents i JOIN \
                 (SELECT DISTINCT incident_source, incident_id, service FROM link_incident_services) s \
                 ON s.incident_source = i.source AND s.incident_id = i.id) i WHERE {inc}"
            ),
            format!(
                "SELECT * FROM (SELECT p.*, r.service AS grp FROM link_prs p JOIN \
                 (SELECT DISTINCT repo, service FROM link_deployments) r ON r.repo = p.repo) WHERE {pr}"
            ),
        ],
        Some(GroupBy::Repo) => [
            format!(
                "SELECT *, repo AS grp FROM link_deployments WHERE repo IS NOT NULL AND {dep}"
            ),
            format!(
                "SELECT * FROM (SELECT i.*, r.repo AS grp FROM incidents i JOIN \
                 (SELECT DISTINCT s.incident_source, s.incident_id, d.repo FROM link_incident_services s \
                  JOIN (SELECT DISTINCT service, repo FROM link_deployments WHERE repo IS NOT NULL) d \
                  ON d.service = s.service) r \
                 ON r.incident_source = i.source AND r.incident_id = i.id) i WHERE {inc}"
            ),
            format!("SELECT *, repo AS grp FROM link_prs WHERE {pr}"),
        ],
        Some(GroupBy::Team) => {
            // One branch per team: its conditions are the `--team` filter's.
            let mut parts: [Vec<String>; 3] = Default::default();
            let wanted = |name: &String| teams.is_none_or(|t| t.contains(name));
            for (name, team) in config.teams.iter().filter(|(n, _)| wanted(n)) {
                let (d, i, p) = team_scope(team, config.metrics.pr_team, &incident_has);
                let grp = quote(name);
                parts[0].push(format!(
                    "SELECT *, {grp} AS grp FROM link_deployments WHERE {dep} AND {d}"
                ));
                parts[1].push(format!(
                    "SELECT *, {grp} AS grp FROM incidents i WHERE {inc} AND {i}"
                ));
                parts[2].push(format!(
                    "SELECT *, {grp} AS grp FROM link_prs WHERE {pr} AND {p}"
                ));
            }
            let union = |branches: Vec<String>, table: &str| {
                if branches.is_empty() {
                    format!("SELECT *, '' AS grp FROM {table} WHERE FALSE")
                } else {
                    branches.join(" UNION ALL ")
                }
            };
            let [d, i, p] = parts;
            [
                union(d, "link_deployments"),
                union(i, "incidents"),
                union(p, "link_prs"),
            ]
        }
    };
    let grouped = matches!(by, Some(GroupBy::Service | GroupBy::Repo | GroupBy::Team));
    // Not grouped, a semi join keeps link_changes' row order (and so the
    // order floats are summed in: the same store gives the same digits).
    let changes = if grouped {
        "SELECT c.*, d.grp FROM link_changes c \
         JOIN scope_deployments d ON c.deployment_source = d.source AND c.deployment_id = d.id"
    } else {
        "SELECT c.*, '' AS grp FROM link_changes c \
         SEMI JOIN scope_deployments d ON c.deployment_source = d.source AND c.deployment_id = d.id"
    };
    let relations = [
        ("scope_deployments", deployments.as_str()),
        ("scope_changes", changes),
        ("scope_incidents", incidents.as_str()),
        ("scope_prs", prs.as_str()),
    ];
    // Grouped, each relation is materialised first: joined to the windows
    // by group, a view's estimates led DuckDB to pair every row with every
    // window before matching groups (18.6M rows for 208 services).
    let sql: String = relations
        .iter()
        .map(|(name, select)| {
            if grouped {
                format!(
                    "CREATE OR REPLACE TEMP TABLE {name}_rows AS {select};
                     CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {name}_rows;"
                )
            } else {
                // A grouped computation's rows are not kept (a server's
                // connection lives on).
                format!(
                    "CREATE OR REPLACE TEMP VIEW {name} AS {select};
                     DROP TABLE IF EXISTS {name}_rows;"
                )
            }
        })
        .collect();
    conn.execute_batch(&sql).map_err(|e| AnalysisError::Query {
        query: "scope".into(),
        source: e,
    })
}
