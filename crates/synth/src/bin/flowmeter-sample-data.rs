//! Writes the demo organisation to a directory (default `sample-data`):
//! `events.jsonl` (every record, sorted by type then time) and
//! `flowmeter.toml` (its teams).
//!
//! `cargo run --release -p flowmeter-synth --bin flowmeter-sample-data -- sample-data`

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "sample-data".into()),
    );
    let run = || -> std::io::Result<usize> {
        std::fs::create_dir_all(&dir)?;
        let jsonl = flowmeter_synth::demo_jsonl();
        std::fs::write(dir.join("events.jsonl"), &jsonl)?;
        std::fs::write(
            dir.join("flowmeter.toml"),
            flowmeter_synth::demo_config_toml(),
        )?;
        Ok(jsonl.lines().count())
    };
    match run() {
        Ok(n) => {
            eprintln!(
                "wrote {n} records to `{}`",
                dir.join("events.jsonl").display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "error: cannot write sample data to `{}`: {e}",
                dir.display()
            );
            ExitCode::from(2)
        }
    }
}
