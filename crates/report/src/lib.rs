//! Renderers: turn one in-memory metrics result into what people read.
//!
//! No renderer queries the store; each takes a [`Metrics`] or [`Grouped`]
//! from the analysis layer, so every format shows the same numbers.
//!
//! - [`text`]: the terminal tables of `flowmeter metrics`;
//! - [`flat`]: CSV rows (every JSON field, flattened with dotted names);
//! - [`pages`]: the weekly, team and leadership reports (HTML, Markdown,
//!   text) with [`charts`] drawn as SVG.

pub mod charts;
pub mod explain;
pub mod flat;
pub mod pages;
pub mod text;

pub use flowmeter_analysis::{Grouped, Metrics};

/// Hours as a person reads them: minutes under an hour, days past two days.
pub fn human_hours(h: f64) -> String {
    if h.abs() < 1.0 {
        format!("{:.0} min", h * 60.0)
    } else if h.abs() < 48.0 {
        format!("{h:.1} h")
    } else {
        format!("{:.1} d", h / 24.0)
    }
}

pub fn percent(r: f64) -> String {
    format!("{:.1} %", r * 100.0)
}

/// `part` of `whole` as a percentage, or a dash when there is no whole.
pub fn share_of(part: u64, whole: u64) -> String {
    if whole == 0 {
        "—".to_string()
    } else {
        percent(part as f64 / whole as f64)
    }
}
