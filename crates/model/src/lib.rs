//! The event interchange model of flowmeter (EVENTS.md, version 1).
//!
//! Every source — a connector, a webhook, a file a user imports — is
//! normalised to the five record types here before it reaches the store.
//! This crate knows nothing of any API or of metrics: it parses, validates
//! and names errors precisely (file, line, record, field).
//!
//! - [`record`]: the typed records ([`Event`] and its five kinds).
//! - [`parse`]: JSON object → validated [`Event`], with the EVENTS.md rules;
//!   a line's text is read borrowing its strings (`json`).
//! - [`read`]: JSON Lines and CSV readers that attach file and line to errors.

mod json;
pub mod parse;
pub mod read;
pub mod record;

pub use parse::{event_from_json, event_from_text, FieldError};
pub use read::{
    kind_from_file_name, read_jsonl, CsvChunks, JsonlChunks, LineError, ReadOutcome, Sink,
};
pub use record::*;
