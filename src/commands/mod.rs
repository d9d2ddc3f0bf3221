//! One module per subcommand.

pub mod bench;
pub mod demo;
pub mod explain;
pub mod export;
pub mod import;
pub mod lake;
pub mod metrics;
pub mod relink;
pub mod report;
pub mod serve;
pub mod sync;

use flowmeter_app::Question;

use crate::cli::{FilterArgs, PeriodArgs, WindowArgs};

/// `--since/--until` and the filters, as the application layer's question.
pub fn window_question(w: &WindowArgs) -> Question {
    Question {
        since: w.since.clone(),
        until: w.until.clone(),
        ..filters_question(&w.filters)
    }
}

/// `--week` or `--since/--until`, and the filters.
pub fn period_question(p: &PeriodArgs) -> Question {
    Question {
        week: p.week.clone(),
        since: p.since.clone(),
        until: p.until.clone(),
        ..filters_question(&p.filters)
    }
}

fn filters_question(f: &FilterArgs) -> Question {
    Question {
        service: f.service.clone(),
        team: f.team.clone(),
        repo: f.repo.clone(),
        flags: true,
        ..Question::default()
    }
}
