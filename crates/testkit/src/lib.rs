//! Mock servers of the APIs flowmeter's connectors read, built from each
//! API's documentation; used by tests only.
//!
//! Each module models one upstream API from that API's *public documentation*
//! (never from flowmeter's own connector code), so that connector tests check
//! the connector against the real API's shape: field names, enum spellings,
//! paging, rate-limit headers and error bodies.

// `serde_json::json!` literals of full GitHub objects nest deeply.
#![recursion_limit = "256"]

pub mod github;
pub mod gitlab;
mod http;
pub mod incidentio;
pub mod jsm;
pub mod opsgenie;
