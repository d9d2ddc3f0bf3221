//! Messages from connectors (rate-limit waits, skipped records) go through
//! one sink that the binary installs, so `--quiet` silences every library
//! and no library writes to stderr on its own.
//!
//! Without a sink (library tests, embedding) messages are dropped.

use std::sync::{Arc, OnceLock, RwLock};

/// Receives connector messages; the binary's implementation decides where
/// they go (stderr, a progress bar, the server's log) and honours `-q`.
pub type Sink = Arc<dyn Fn(&str) + Send + Sync>;

fn slot() -> &'static RwLock<Option<Sink>> {
    static SINK: OnceLock<RwLock<Option<Sink>>> = OnceLock::new();
    SINK.get_or_init(|| RwLock::new(None))
}

/// Installs the process-wide sink (replacing any earlier one).
pub fn set_sink(sink: Sink) {
    *slot().write().unwrap_or_else(|e| e.into_inner()) = Some(sink);
}

/// An informational message (e.g. "rate limited, waiting 30s").
pub fn info(msg: impl AsRef<str>) {
    let sink = slot().read().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(sink) = sink {
        sink(msg.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn messages_reach_the_installed_sink() {
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let s = seen.clone();
        set_sink(Arc::new(move |m: &str| {
            s.lock().unwrap().push(m.to_string())
        }));
        info("waiting 3s");
        assert!(seen.lock().unwrap().iter().any(|m| m == "waiting 3s"));
    }
}
