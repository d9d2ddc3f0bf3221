//! The `flowmeter` binary: parses the command line, loads the config, opens
//! the store, and hands off to one module per command. Errors become one
//! sentence on stderr and exit code 2; data goes to stdout.

mod cli;
mod commands;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use flowmeter_config::Config;

use cli::{Cli, Command};

/// Parsing an import and linking allocate many small strings: mimalloc
/// does that faster than the system allocator (measured on the 1M-event
/// benchmark), and with `override` it serves DuckDB's allocations too.
/// It is built without asking for transparent huge pages (`no_thp`): where
/// the kernel grants them on request, every page mimalloc gave back and
/// then used again was a 2 MiB page zeroed anew, a fifth of an import's
/// CPU samples (1M events: 9 % less wall time without, median of 6
/// paired runs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What every command gets: the global options, resolved.
pub struct Env {
    pub db: PathBuf,
    /// Whether the user named the store (`--db` or `FLOWMETER_DB`).
    pub db_given: bool,
    pub config: Config,
    pub quiet: bool,
    pub verbose: u8,
    pub progress: bool,
}

impl Env {
    /// Diagnostics and progress go to stderr, unless `--quiet`.
    pub fn say(&self, msg: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("{msg}");
        }
    }
}

fn load_config(path: Option<&Path>) -> Result<Config> {
    match path {
        Some(p) => Ok(Config::load(p)?),
        None if Path::new("flowmeter.toml").exists() => {
            Ok(Config::load(Path::new("flowmeter.toml"))?)
        }
        None => Ok(Config::default()),
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let g = cli.global;
    let env = Env {
        db_given: g.db.is_some(),
        db: g.db.unwrap_or_else(|| PathBuf::from("flowmeter.duckdb")),
        config: load_config(g.config.as_deref()).context("loading the configuration")?,
        quiet: g.quiet,
        verbose: g.verbose,
        progress: !g.no_progress && std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    // Libraries speak through one sink, which honours `--quiet`.
    let quiet = env.quiet;
    flowmeter_connector::report::set_sink(std::sync::Arc::new(move |m: &str| {
        if !quiet {
            eprintln!("{m}");
        }
    }));
    match cli.command {
        Command::Import(args) => commands::import::run(&env, args),
        Command::Metrics(args) => commands::metrics::run(&env, args),
        Command::Demo(args) => commands::demo::run(&env, args),
        Command::Report(args) => commands::report::run(&env, args),
        Command::Explain(args) => commands::explain::run(&env, args),
        Command::Export(args) => commands::export::run(&env, args),
        Command::Sync(args) => commands::sync::run(&env, args),
        Command::Relink => commands::relink::run(&env),
        Command::Bench(args) => commands::bench::run(&env, args),
        Command::Serve(args) => commands::serve::run(&env, args),
        Command::Lake(cli::LakeCommand::Export(args)) => commands::lake::export(&env, args),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let mut msg = format!("error: {e}");
            for cause in e.chain().skip(1) {
                // An error that shows its cause in its own words (the
                // store's, `context: DuckDB's message`) has said what the
                // rest of the chain would: DuckDB's message again, then
                // its bare error code.
                let cause = cause.to_string();
                if msg.contains(&cause) {
                    break;
                }
                msg.push_str(&format!(": {cause}"));
            }
            eprintln!("{msg}");
            ExitCode::from(2)
        }
    }
}
