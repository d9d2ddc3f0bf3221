//! The bundled demo organisation: its events and configuration, embedded in
//! the binary so `flowmeter demo` and `flowmeter serve --demo` work from any
//! directory and after `cargo install`.

use chrono::Duration;
use flowmeter_analysis::{week_start, Window};
use flowmeter_config::Config;
use flowmeter_model::read_jsonl;
use flowmeter_store::{ImportSummary, Store};

use crate::AppError;

const EVENTS: &str = include_str!("../../../sample-data/events.jsonl");
const CONFIG: &str = include_str!("../../../sample-data/flowmeter.toml");

/// The demo organisation's configuration (teams, production environments).
pub fn config() -> Result<Config, AppError> {
    Config::parse(CONFIG, "sample-data/flowmeter.toml")
        .map_err(|e| AppError::Other(format!("the bundled demo config is invalid: {e}")))
}

/// Imports the demo organisation; returns the records read and what was stored.
pub fn load(store: &mut Store, config: &Config) -> Result<(usize, ImportSummary), AppError> {
    let parsed = read_jsonl(EVENTS.as_bytes(), "sample-data/events.jsonl")
        .map_err(|e| AppError::Io("reading the bundled sample data".into(), e))?;
    if let Some(e) = parsed.errors.first() {
        return Err(AppError::Other(format!(
            "the bundled sample data is invalid: {e}"
        )));
    }
    let n = parsed.events.len();
    Ok((n, store.import(parsed.events, &config.metrics)?))
}

/// The last four full ISO weeks of the store's data (ending with the week
/// of its last deployment).
pub fn last_four_weeks(store: &Store) -> Result<Window, AppError> {
    let last = store
        .last_deployment_at()?
        .ok_or_else(|| AppError::NotFound("the store has no deployments".into()))?;
    let until = week_start(last) + Duration::days(7);
    Ok(Window::new(until - Duration::days(28), until)?)
}
