//! Helpers the incident-tool connectors (PagerDuty, Opsgenie) share:
//! mapping upstream service names onto flowmeter services, and change
//! fingerprints that let a connector skip re-emitting an incident it
//! already delivered unchanged (so a sync with nothing new writes nothing).

use std::collections::{BTreeMap, BTreeSet};

use flowmeter_model::Event;

/// Maps an upstream service (id and/or name) to a flowmeter service name.
///
/// Order: `service_map` by id, then by name; then a known flowmeter service
/// whose name equals the upstream name ignoring case; else the upstream name
/// itself (or id), reported once as "unmapped <tool> service `X`".
#[derive(Debug, Clone, Default)]
pub struct ServiceMapper {
    map: BTreeMap<String, String>,
    /// lower-cased known name -> known name
    known: BTreeMap<String, String>,
    tool: String,
    reported: BTreeSet<String>,
}

impl ServiceMapper {
    pub fn new(tool: &str, map: BTreeMap<String, String>, known: Vec<String>) -> Self {
        ServiceMapper {
            map,
            known: known.into_iter().map(|k| (k.to_lowercase(), k)).collect(),
            tool: tool.to_string(),
            reported: BTreeSet::new(),
        }
    }

    /// The flowmeter service, and a note the first time a name is unmapped.
    pub fn map(&mut self, id: Option<&str>, name: Option<&str>) -> (String, Option<String>) {
        for key in [id, name].into_iter().flatten() {
            if let Some(s) = self.map.get(key) {
                return (s.clone(), None);
            }
        }
        if let Some(n) = name {
            if let Some(k) = self.known.get(&n.to_lowercase()) {
                return (k.clone(), None);
            }
        }
        let upstream = name.or(id).unwrap_or("unknown").to_string();
        let note = if self.reported.insert(upstream.clone()) {
            Some(format!("unmapped {} service `{upstream}`", self.tool))
        } else {
            None
        };
        (upstream, note)
    }

    /// Forget which names were reported (call per batch so every batch's
    /// notes are complete on their own).
    pub fn reset_reported(&mut self) {
        self.reported.clear();
    }
}

/// A stable fingerprint of an event's content (FNV-1a over its JSON).
pub fn fingerprint(e: &Event) -> String {
    let json = serde_json::to_string(e).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in json.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_by_id_then_name_then_known_then_reports() {
        let mut m = ServiceMapper::new(
            "PagerDuty",
            BTreeMap::from([
                ("PID1".to_string(), "checkout".to_string()),
                ("Web App".to_string(), "web".to_string()),
            ]),
            vec!["Payments".into()],
        );
        assert_eq!(m.map(Some("PID1"), Some("x")).0, "checkout");
        assert_eq!(m.map(Some("P2"), Some("Web App")).0, "web");
        assert_eq!(m.map(Some("P3"), Some("payments")).0, "Payments");
        let (s, note) = m.map(Some("P4"), Some("Legacy"));
        assert_eq!(s, "Legacy");
        assert_eq!(note.unwrap(), "unmapped PagerDuty service `Legacy`");
        assert!(m.map(Some("P4"), Some("Legacy")).1.is_none());
    }
}
