//! `flowmeter serve`: the dashboard, the API, webhooks and schedules (the
//! server is `flowmeter_server`; this resolves its settings and runs it).

use std::process::ExitCode;

use anyhow::{Context, Result};
use flowmeter_app::demo;
use flowmeter_server::{Server, Settings};
use flowmeter_store::{server_marker_path, Store};

use crate::cli::ServeArgs;
use crate::Env;

pub fn run(env: &Env, args: ServeArgs) -> Result<ExitCode> {
    let (config, mut store, label, marker) = if args.demo {
        let config = demo::config()?;
        let mut store = Store::in_memory()?;
        let (n, _) = demo::load(&mut store, &config)?;
        env.say(format!(
            "loaded the demo organisation: {n} records, in memory"
        ));
        (
            config,
            store,
            "the bundled demo organisation".to_string(),
            None,
        )
    } else {
        let store = Store::open(&env.db)?;
        let label = format!("store {}", env.db.display());
        (
            env.config.clone(),
            store,
            label,
            Some(server_marker_path(&env.db)),
        )
    };
    let settings = Settings::resolve(&config, args.listen.as_deref())?;
    for note in &settings.notes {
        env.say(format!("note: {note}"));
    }
    // The demo's clock is its data's last weeks.
    let (home, gauge_window) = if args.demo {
        let four = demo::last_four_weeks(&store)?;
        let last =
            flowmeter_analysis::Window::new(four.until - chrono::Duration::days(7), four.until)?;
        let window = flowmeter_app::Question {
            since: Some(four.since.to_rfc3339()),
            until: Some(four.until.to_rfc3339()),
            ..Default::default()
        };
        (format!("/weekly?week={}", last.week_label()), window)
    } else {
        ("/weekly".to_string(), Default::default())
    };
    store.ensure_linked(&config.metrics)?;
    let listen = settings.listen;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        let server = Server::new(store, config, settings, label, home, gauge_window)?;
        if let Some(m) = &marker {
            std::fs::write(
                m,
                format!(
                    "flowmeter serve at http://{addr} (PID {})\n",
                    std::process::id()
                ),
            )
            .with_context(|| format!("cannot write `{}`", m.display()))?;
        }
        // Signals are caught from here on, before anyone learns the address.
        let stop = flowmeter_server::shutdown_signal();
        // One line on stdout, the address (scripts read it; `--listen
        // 127.0.0.1:0` picks a free port).
        println!("http://{addr}");
        env.say(format!(
            "serving the dashboard at http://{addr}/ (Ctrl-C stops, after finishing queued writes)"
        ));
        let done = server.run(listener, stop).await;
        if let Some(m) = &marker {
            let _ = std::fs::remove_file(m);
        }
        done?;
        env.say("stopped; every accepted write is stored");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
