//! Helpers shared by the end-to-end tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Std, Stdio};

use assert_cmd::cargo::CommandCargoExt;
use assert_cmd::Command;
use serde_json::Value;

/// The project's root (sample data, fixtures).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `flowmeter --db DB` with nothing from the caller's environment (no
/// `FLOWMETER_DB`, no `FLOWMETER_CONFIG`).
pub fn bare(db: &Path) -> Command {
    let mut cmd = Command::cargo_bin("flowmeter").unwrap();
    cmd.arg("--db")
        .arg(db)
        .env_remove("FLOWMETER_DB")
        .env_remove("FLOWMETER_CONFIG");
    cmd
}

/// Runs `cmd`, asserts that it succeeded (its stderr otherwise), and
/// returns its stdout.
pub fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `cmd`, asserts that it succeeded, and returns what it said on
/// stderr (the summaries and notes of `import`, `sync`, `lake export`).
pub fn stderr_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    err
}

/// `flowmeter --db DB --config sample-data/flowmeter.toml`.
pub fn flowmeter(db: &Path) -> Command {
    let mut cmd = bare(db);
    cmd.arg("--config")
        .arg(root().join("sample-data/flowmeter.toml"));
    cmd
}

/// A store in `dir` holding the bundled sample organisation, plus `extra`
/// JSON Lines.
pub fn sample_store(dir: &Path, extra: &str) -> PathBuf {
    let db = dir.join("s.duckdb");
    flowmeter(&db)
        .arg("import")
        .arg(root().join("sample-data/events.jsonl"))
        .assert()
        .success();
    if !extra.is_empty() {
        let file = dir.join("extra.jsonl");
        std::fs::write(&file, extra).unwrap();
        flowmeter(&db).arg("import").arg(&file).assert().success();
    }
    db
}

/// A running `flowmeter serve` on an ephemeral loopback port; killed when
/// dropped (unless stopped with [`Served::stop`]).
pub struct Served {
    child: Child,
    pub url: String,
}

impl Served {
    /// Starts `flowmeter [--db DB --config sample] serve --listen
    /// 127.0.0.1:0 ARGS` with `env`, and waits for its address.
    pub fn start(db: Option<&Path>, args: &[&str], env: &[(&str, &str)]) -> Served {
        let config = root().join("sample-data/flowmeter.toml");
        Served::start_with(db, &config, args, env)
    }

    /// The same with another config file.
    pub fn start_with(
        db: Option<&Path>,
        config: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Served {
        let mut cmd = Std::cargo_bin("flowmeter").unwrap();
        if let Some(db) = db {
            cmd.arg("--db").arg(db).arg("--config").arg(config);
        }
        cmd.arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("FLOWMETER_API_TOKEN")
            .env_remove("FLOWMETER_GITHUB_WEBHOOK_SECRET")
            .env_remove("FLOWMETER_GITLAB_WEBHOOK_TOKEN")
            .env_remove("FLOWMETER_PAGERDUTY_WEBHOOK_SECRET")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("flowmeter serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("flowmeter serve prints its address");
        assert!(line.starts_with("http://127.0.0.1:"), "printed: {line:?}");
        Served {
            child,
            url: line.trim().to_string(),
        }
    }

    /// SIGTERM, then the exit status.
    pub fn stop(self) -> std::process::ExitStatus {
        self.stop_within(std::time::Duration::MAX)
            .expect("the server exits")
    }

    /// SIGTERM, then the exit status if the server exits within `limit`
    /// (else it is killed when dropped).
    pub fn stop_within(mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        Std::new("kill").args(["-TERM", &pid]).status().unwrap();
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::mem::forget(self);
                return Some(status);
            }
            if start.elapsed() > limit {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `a` and `b` are the same JSON, numbers within 1e-9 relative (the
/// grouped pass may add floats in another order).
pub fn assert_close(a: &Value, b: &Value, at: &str) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys = |m: &serde_json::Map<String, Value>| {
                m.keys().cloned().collect::<std::collections::BTreeSet<_>>()
            };
            assert_eq!(keys(x), keys(y), "{at}");
            for (k, v) in x {
                assert_close(v, &y[k], &format!("{at}.{k}"));
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}");
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                assert_close(v, w, &format!("{at}[{i}]"));
            }
        }
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
                "{at}: {x} vs {y}"
            );
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}
