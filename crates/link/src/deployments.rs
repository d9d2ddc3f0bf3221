//! Production deployments in each service's order, releases rolled out to
//! several regions folded into one, and rollbacks with what they undo.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use flowmeter_config::{DeployedWhen, MetricsConfig};

use crate::Micros;

/// A name many deployments share: their source, service, environment,
/// kind or repository, held once ([`Names`]).
pub type Name = Arc<str>;

/// A successful production deployment, as stored.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub source: Name,
    pub id: String,
    pub service: Name,
    pub environment: Name,
    pub repo: Option<Name>,
    pub finished_at: Micros,
    pub commit_sha: String,
    /// The explicit `commits` list, when the record has one.
    pub commits: Option<Vec<String>>,
    pub kind: Name,
}

/// Hands out each [`Name`] once: a full relink holds every deployment of
/// the store, and they share a few hundred names. (A relink of a
/// 10M-event store, 559,000 deployments: loading them took 372–384 MiB
/// more memory with a `String` for each name, 315–318 MiB with the names
/// held once, in the same time.)
#[derive(Debug, Default)]
pub struct Names(HashSet<Name>);

impl Names {
    /// The one [`Name`] of `name`.
    pub fn get(&mut self, name: &str) -> Name {
        match self.0.get(name) {
            Some(held) => held.clone(),
            None => {
                let held: Name = name.into();
                self.0.insert(held.clone());
                held
            }
        }
    }
}

/// Production deployments in link order: by service, then finish time,
/// ties broken by source and id (so every number is deterministic), with
/// each multi-region rollout folded into one when `dedupe_regions` is set.
pub struct Ordered {
    pub deployments: Vec<Deployment>,
    /// Ids of the folded deployments, with the index of the one that
    /// stands for each (an incident naming a folded id lands there).
    pub aliases: Vec<(String, usize)>,
    /// Each service's deployments: a range of `deployments`.
    pub services: HashMap<String, Range<usize>>,
}

/// Orders `deployments` (see [`Ordered`]).
pub fn order(mut deployments: Vec<Deployment>, config: &MetricsConfig) -> Ordered {
    deployments.sort_by(|a, b| {
        (&a.service, a.finished_at, &a.source, &a.id).cmp(&(
            &b.service,
            b.finished_at,
            &b.source,
            &b.id,
        ))
    });
    let mut aliases = Vec::new();
    if config.dedupe_regions {
        (deployments, aliases) = dedupe_regions(deployments, config.deployed_when);
    }
    let mut services: HashMap<String, Range<usize>> = HashMap::new();
    for (i, d) in deployments.iter().enumerate() {
        match services.get_mut(&*d.service) {
            Some(range) => range.end = i + 1,
            None => {
                services.insert(d.service.to_string(), i..i + 1);
            }
        }
    }
    Ordered {
        deployments,
        aliases,
        services,
    }
}

/// Folds each rollout of one commit of a service to several production
/// environments (consecutive in the service's order, each environment once)
/// into its first deployment, finished when the rollout first reached
/// production (`First`) or when it reached its last environment
/// (`Everywhere`). Returns the kept deployments and, for each folded one,
/// its id and the index of the deployment that stands for it.
pub fn dedupe_regions(
    deployments: Vec<Deployment>,
    when: DeployedWhen,
) -> (Vec<Deployment>, Vec<(String, usize)>) {
    let mut kept: Vec<Deployment> = Vec::with_capacity(deployments.len());
    let mut aliases = Vec::new();
    let mut environments: Vec<Name> = Vec::new();
    for d in deployments {
        if let Some(last) = kept.last_mut() {
            let same_rollout = last.service == d.service
                && last.commit_sha == d.commit_sha
                && &*d.kind != "rollback"
                && !environments.contains(&d.environment);
            if same_rollout {
                if when == DeployedWhen::Everywhere {
                    last.finished_at = d.finished_at;
                }
                environments.push(d.environment);
                aliases.push((d.id, kept.len() - 1));
                continue;
            }
        }
        environments = vec![d.environment.clone()];
        kept.push(d);
    }
    (kept, aliases)
}

/// The rollbacks of one service's deployments (in order): a deployment is
/// one when its kind says so, or when it redeploys the revision of an
/// earlier deployment that is not the one just before it. It undoes the
/// deployments since the last one of the revision it returns to (or, when
/// none, the one just before it). Returns, per deployment, whether it is a
/// rollback and the first rollback that undid it (positions in `service`).
pub fn rollbacks(service: &[Deployment]) -> (Vec<bool>, Vec<Option<usize>>) {
    let n = service.len();
    let mut is_rollback = vec![false; n];
    let mut rolled_back_by: Vec<Option<usize>> = vec![None; n];
    let mut last_pos: foldhash::HashMap<&str, usize> = Default::default();
    let mut sha_count: foldhash::HashMap<&str, usize> = Default::default();
    for (pos, d) in service.iter().enumerate() {
        let sha = d.commit_sha.as_str();
        let earlier_same = sha_count.get(sha).copied().unwrap_or(0);
        let prev_same = pos > 0 && service[pos - 1].commit_sha == d.commit_sha;
        let redeploys_older = earlier_same > usize::from(prev_same);
        if &*d.kind == "rollback" || redeploys_older {
            is_rollback[pos] = true;
            let undone = match last_pos.get(sha) {
                Some(&j) => j + 1..pos,
                None if pos > 0 => pos - 1..pos,
                None => pos..pos,
            };
            for u in undone {
                rolled_back_by[u].get_or_insert(pos);
            }
        }
        *sha_count.entry(sha).or_default() += 1;
        last_pos.insert(sha, pos);
    }
    (is_rollback, rolled_back_by)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn deployment(id: &str, service: &str, at: Micros, sha: &str) -> Deployment {
        Deployment {
            source: "ci".into(),
            id: id.into(),
            service: service.into(),
            environment: "production".into(),
            repo: Some("r".into()),
            finished_at: at,
            commit_sha: sha.into(),
            commits: None,
            kind: "deploy".into(),
        }
    }

    #[test]
    fn a_name_is_held_once() {
        let mut names = Names::default();
        let (a, b) = (names.get("api"), names.get("api"));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*names.get("web"), "web");
        assert!(!Arc::ptr_eq(&a, &names.get("web")));
    }

    #[test]
    fn order_is_by_service_then_time_then_source_and_id() {
        let ordered = order(
            vec![
                deployment("b", "api", 5, "x"),
                deployment("a", "web", 1, "y"),
                deployment("a", "api", 5, "z"),
                deployment("c", "api", 2, "w"),
            ],
            &MetricsConfig::default(),
        );
        let ids: Vec<_> = ordered.deployments.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["c", "a", "b", "a"]);
        assert_eq!(ordered.services["api"], 0..3);
        assert_eq!(ordered.services["web"], 3..4);
    }

    #[test]
    fn a_rollout_to_several_regions_is_one_deployment() {
        let mut eu = deployment("2", "api", 20, "x");
        eu.environment = "production-eu".into();
        let us = deployment("1", "api", 10, "x");
        let again = deployment("3", "api", 30, "x");
        let (kept, aliases) =
            dedupe_regions(vec![us.clone(), eu.clone(), again], DeployedWhen::First);
        // The third deployment returns to production: a new one.
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].finished_at, 10);
        assert_eq!(aliases, vec![("2".to_string(), 0)]);
        let (kept, _) = dedupe_regions(vec![us, eu], DeployedWhen::Everywhere);
        assert_eq!(kept[0].finished_at, 20);
    }

    #[test]
    fn a_redeploy_of_an_older_revision_rolls_back_what_came_after_it() {
        let mut explicit = deployment("5", "api", 5, "d");
        explicit.kind = "rollback".into();
        let service = vec![
            deployment("1", "api", 1, "a"),
            deployment("2", "api", 2, "b"),
            deployment("3", "api", 3, "c"),
            deployment("4", "api", 4, "a"),
            explicit,
            deployment("6", "api", 6, "d"),
        ];
        let (is_rollback, by) = rollbacks(&service);
        assert_eq!(is_rollback, [false, false, false, true, true, false]);
        // "a" again undoes b and c; the explicit rollback of a new revision
        // undoes the one before it; redeploying the same revision twice in
        // a row is no rollback.
        assert_eq!(by, [None, Some(3), Some(3), Some(4), None, None]);
    }
}
