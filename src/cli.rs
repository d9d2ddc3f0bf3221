//! Every command-line type of flowmeter, in one place (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// flowmeter: DORA metrics and value-stream analytics from your delivery events.
///
/// Data flows: sources (files, Git hosts, incident tools) → the DuckDB store →
/// metrics and reports. Start with `flowmeter demo`.
#[derive(Debug, Parser)]
#[command(name = "flowmeter", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: Global,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The store, a DuckDB file, created if missing [default: ./flowmeter.duckdb].
    #[arg(long, global = true, env = "FLOWMETER_DB")]
    pub db: Option<PathBuf>,
    /// The configuration file [default: ./flowmeter.toml when it exists].
    #[arg(long, global = true, env = "FLOWMETER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more about what is happening (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// No progress bars (they are off anyway when stderr is not a terminal).
    #[arg(long, global = true)]
    pub no_progress: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import event files (EVENTS.md format: JSON Lines or CSV) into the store.
    ///
    /// Every import is one transaction: a refused import leaves the store as it
    /// was. Records are upserted by natural key, so importing twice changes
    /// nothing and a newer record of the same key replaces the older one.
    /// FLOWMETER_MEMORY_LIMIT (e.g. 1GB) caps DuckDB's memory, and a quarter
    /// of it what linking holds at once (see the README's "Import your
    /// events").
    ///
    /// Examples:
    ///   flowmeter import events.jsonl
    ///   flowmeter import deployments.csv pull_requests.csv
    ///   cat export.jsonl | flowmeter import -
    #[command(verbatim_doc_comment)]
    Import(ImportArgs),
    /// Compute the DORA keys and the value stream for a window.
    ///
    /// Examples:
    ///   flowmeter metrics
    ///   flowmeter metrics --since 2026-09-01 --until 2026-10-01 --team payments
    ///   flowmeter metrics --by week --format json
    #[command(verbatim_doc_comment)]
    Metrics(MetricsArgs),
    /// Import the bundled demo organisation and show its metrics.
    ///
    /// The store is a fresh one in a temporary directory unless `--db` is given.
    Demo(DemoArgs),
    /// Write a report people read: the weekly delivery report, the team view
    /// or the leadership page.
    ///
    /// Built from the same numbers as `flowmeter metrics`. HTML is one
    /// self-contained file (charts inline, no external fonts or scripts);
    /// Markdown writes its charts as SVG files next to `--out`.
    ///
    /// Examples:
    ///   flowmeter report                                   # last week, HTML file
    ///   flowmeter report --week 2026-W44 --format md --out weekly.md
    ///   flowmeter report --kind team --team payments --format text
    ///   flowmeter report --kind leadership --out kpis.html
    #[command(verbatim_doc_comment)]
    Report(ReportArgs),
    /// Show the records behind a number: which changes make up the lead
    /// time, which deployments failed and why, which PRs dominate a stage.
    ///
    /// The number is computed exactly as `flowmeter metrics` does, for the
    /// same window and filters; the records are read from the same links.
    ///
    /// Examples:
    ///   flowmeter explain lead-time --week 2026-W44
    ///   flowmeter explain change-failure-rate --team payments
    ///   flowmeter explain pickup --since 2026-10-01 --until 2026-11-01 --limit 10
    #[command(verbatim_doc_comment)]
    Explain(ExplainArgs),
    /// Export the linked facts and the weekly series for warehouses and
    /// spreadsheets: deployments, changes, pull_requests, incidents, weekly.
    ///
    /// Examples:
    ///   flowmeter export --out exports/
    ///   flowmeter export --format csv --since 2026-07-01 --until 2026-10-01 --out q3/
    #[command(verbatim_doc_comment)]
    Export(ExportArgs),
    /// Pull events from the sources in the config (`[[sources]]`).
    Sync(SyncArgs),
    /// Re-materialise every link (changes of each deployment, PRs of
    /// commits, incident attribution, rollbacks, PR stages) from scratch.
    ///
    /// Imports and syncs relink only the services and repositories they
    /// touch; this gives the same tables from the whole store, as a check
    /// or after editing the store by hand.
    Relink,
    /// Benchmark: generate a synthetic organisation, import it, compute all metrics.
    Bench(BenchArgs),
    /// Serve the dashboard, the JSON API, webhook receivers and scheduled
    /// syncs from one process that holds the store.
    ///
    /// Listens on 127.0.0.1:8080 unless told otherwise (`[serve] listen` or
    /// `--listen`); anything but loopback needs an API token in
    /// FLOWMETER_API_TOKEN. Webhook receivers are enabled by their secrets:
    /// FLOWMETER_GITHUB_WEBHOOK_SECRET, FLOWMETER_GITLAB_WEBHOOK_TOKEN,
    /// FLOWMETER_PAGERDUTY_WEBHOOK_SECRET (names configurable in `[serve]`).
    /// Sources with `interval = "15m"` are synced on that schedule.
    ///
    /// Examples:
    ///   flowmeter serve --demo                      # the bundled organisation
    ///   flowmeter serve --db flowmeter.duckdb
    ///   FLOWMETER_API_TOKEN=... flowmeter serve --listen 0.0.0.0:8080
    ///
    /// Pages: /weekly /team /leadership /explain/lead-time /coverage /sources
    /// API:   /api/v1/metrics /api/v1/explain/METRIC /api/v1/coverage
    ///        /api/v1/export/TABLE /api/v1/events (POST JSON Lines)
    #[command(verbatim_doc_comment)]
    Serve(ServeArgs),
    /// The store as a Parquet lake for engines past one machine (Spark,
    /// Trino, DuckDB over object storage).
    #[command(subcommand)]
    Lake(LakeCommand),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FileType {
    Deployment,
    Commit,
    PullRequest,
    Review,
    Incident,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Files to import: `.jsonl`/`.ndjson` (JSON Lines), `.csv` (one record
    /// type per file), or `-` for JSON Lines on stdin.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Refuse the whole import if any line is invalid (the default).
    #[arg(long, conflicts_with = "skip_invalid")]
    pub strict: bool,
    /// Store the valid lines and report each invalid one.
    #[arg(long)]
    pub skip_invalid: bool,
    /// The record type of CSV files without a `type` column, when the file
    /// name does not tell (`deployments.csv` does).
    #[arg(long = "type", value_enum)]
    pub file_type: Option<FileType>,
    /// Store the records but leave the links for later: the next command
    /// that reads them relinks the whole store first, and `lake export
    /// --shard I/N` links only what its shard needs (machines that each own
    /// a shard split the link between them; see the README, "Past one machine").
    #[arg(long)]
    pub no_link: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Tables for people.
    Text,
    /// The public JSON shape of METRICS.md.
    Json,
    /// One row per result or group; columns are the JSON fields, dotted.
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum By {
    Service,
    Team,
    Repo,
    Week,
}

#[derive(Debug, Args, Clone)]
pub struct WindowArgs {
    /// Start of the window, inclusive: `YYYY-MM-DD` (00:00 UTC) or RFC 3339
    /// [default: 28 days before --until].
    #[arg(long)]
    pub since: Option<String>,
    /// End of the window, exclusive: `YYYY-MM-DD` (00:00 UTC) or RFC 3339
    /// [default: the start of today, UTC].
    #[arg(long)]
    pub until: Option<String>,
    #[command(flatten)]
    pub filters: FilterArgs,
}

/// `--service`, `--team`, `--repo`: every given filter must hold.
#[derive(Debug, Args, Clone)]
pub struct FilterArgs {
    /// Only this service.
    #[arg(long)]
    pub service: Option<String>,
    /// Only this team (its services and repos, from the config).
    #[arg(long)]
    pub team: Option<String>,
    /// Only this repository (`owner/name`).
    #[arg(long)]
    pub repo: Option<String>,
}

#[derive(Debug, Args)]
pub struct MetricsArgs {
    #[command(flatten)]
    pub window: WindowArgs,
    /// One result per group instead of one overall.
    #[arg(long, value_enum)]
    pub by: Option<By>,
    /// Compare with another window: `previous` (the same length just
    /// before) or `SINCE..UNTIL`. Each headline then carries the change, its
    /// 95 % interval and a verdict: changed, no clear change or too few
    /// samples (a seeded bootstrap over the records; Wilson for rates).
    #[arg(long, value_name = "previous|SINCE..UNTIL")]
    pub compare: Option<String>,
    /// Also count PR stages in working hours: the team's calendar
    /// (`[teams.NAME.working_hours]`), else `[metrics.working_hours]`
    /// (time zone, working days, hours, holidays). Wall-clock stays.
    #[arg(long)]
    pub working_hours: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportKind {
    /// The weekly delivery report: the five keys against last week and the
    /// 4-week average, 12-week charts, the bottleneck, notable events.
    Weekly,
    /// Per team: where work waits against the organisation, stages per
    /// week, work in progress and the oldest open pull requests.
    Team,
    /// The quarter (13 weeks) per team and org-wide: trends, tiers, speed
    /// against stability.
    Leadership,
}

/// Where `report --post` sends the weekly digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PostTo {
    /// A Slack incoming webhook (URL in `FLOWMETER_SLACK_WEBHOOK_URL`).
    Slack,
    /// A Microsoft Teams incoming webhook or Workflows URL (in `FLOWMETER_TEAMS_WEBHOOK_URL`).
    Teams,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// One self-contained HTML file.
    Html,
    /// Markdown tables; with `--out`, charts as SVG files next to it.
    Md,
    /// Plain text for a terminal (the Markdown report without charts).
    Text,
}

/// A reporting period (an ISO week by default) and the filters.
#[derive(Debug, Args, Clone)]
pub struct PeriodArgs {
    /// The ISO week, like `2026-W07` [default: the last complete week].
    #[arg(long, conflicts_with_all = ["since", "until"])]
    pub week: Option<String>,
    /// Start of another window (`YYYY-MM-DD` or RFC 3339) [default: 7 days
    /// before --until]; it is compared with the window of the same length
    /// before it.
    #[arg(long)]
    pub since: Option<String>,
    /// End of the window, exclusive [default: the start of today, UTC].
    #[arg(long)]
    pub until: Option<String>,
    #[command(flatten)]
    pub filters: FilterArgs,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[arg(long, value_enum, default_value = "weekly")]
    pub kind: ReportKind,
    #[command(flatten)]
    pub period: PeriodArgs,
    #[arg(long, value_enum, default_value = "html")]
    pub format: ReportFormat,
    /// Where to write [default: stdout for md and text;
    /// `flowmeter-report-KIND-WEEK.html` for html].
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
    /// Send the weekly digest (headlines, tiers, the bottleneck) to a chat
    /// channel's incoming webhook instead of writing a file.
    #[arg(long, value_enum, value_name = "CHANNEL")]
    pub post: Option<PostTo>,
    /// The environment variable holding the incoming-webhook URL (a secret)
    /// [default: FLOWMETER_SLACK_WEBHOOK_URL or FLOWMETER_TEAMS_WEBHOOK_URL].
    #[arg(long, value_name = "VAR", requires = "post")]
    pub post_url_env: Option<String>,
    /// The dashboard's address, linked from the posted digest
    /// (e.g. `https://flowmeter.example.com`).
    #[arg(long, value_name = "URL", env = "FLOWMETER_DASHBOARD_URL")]
    pub dashboard_url: Option<String>,
    /// Name nobody: leave person names out of every table (as `[report]
    /// people = "none"`). E-mail addresses are never shown.
    #[arg(long)]
    pub no_people: bool,
    /// Also count PR stages in working hours: the team's calendar
    /// (`[teams.NAME.working_hours]`), else `[metrics.working_hours]`
    /// (time zone, working days, hours, holidays). Wall-clock stays.
    #[arg(long)]
    pub working_hours: bool,
}

/// The numbers `explain` takes apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExplainMetric {
    /// The deployments counted.
    DeploymentFrequency,
    /// The changes and their lead times, slowest first, with percentiles.
    LeadTime,
    /// The failed deployments and the incidents or rollbacks that failed them.
    ChangeFailureRate,
    /// Each failed deployment's recovery, or that it is still open.
    RecoveryTime,
    /// The incidents opened or resolved, longest first.
    TimeToRestore,
    /// The rework deployments and why each is rework.
    ReworkRate,
    /// The PRs with the longest cycles (first commit to deployment).
    CycleTime,
    /// The PRs that dominate the coding stage.
    Coding,
    /// The PRs that waited longest for a first review.
    Pickup,
    /// The PRs that spent longest in review.
    Review,
    /// The PRs that waited longest between merge and production.
    Deploy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExplainFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[arg(value_enum)]
    pub metric: ExplainMetric,
    #[command(flatten)]
    pub period: PeriodArgs,
    #[arg(long, value_enum, default_value = "text")]
    pub format: ExplainFormat,
    /// Show at most this many records.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// The window the verdict compares with: `previous` (default: the same
    /// length just before, as the reports do) or `SINCE..UNTIL`.
    #[arg(long, value_name = "previous|SINCE..UNTIL")]
    pub compare: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Parquet,
    Csv,
    /// JSON Lines, one object per row.
    Json,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub window: WindowArgs,
    #[arg(long, value_enum, default_value = "parquet")]
    pub format: ExportFormat,
    /// The directory to write into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Output format of the metrics.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Only the source with this name.
    #[arg(long)]
    pub source: Option<String>,
    /// Store what the sources send but leave the links for later, as
    /// `import --no-link` does (a sync worker of a sharded organisation;
    /// the next command that reads the links relinks the whole store).
    #[arg(long)]
    pub no_link: bool,
    /// Backfill start of a first sync: `YYYY-MM-DD` or RFC 3339 [default: the
    /// source's `since` in the config, else 90 days ago].
    #[arg(long)]
    pub since: Option<String>,
    /// Ignore saved cursors and fetch everything since --since again.
    #[arg(long)]
    pub full: bool,
}

#[derive(Debug, Subcommand)]
pub enum LakeCommand {
    /// Write the records and links as Hive-partitioned Parquet
    /// (`DIR/<table>/month=YYYY-MM/*.parquet`) and `DIR/manifest.json`.
    ///
    /// A shard writes only its rows (deployment-side tables by service,
    /// pull-request-side tables by repository) into files named after it,
    /// so machines that each own a shard fill one lake together. On a store
    /// whose links are out of date (`import --no-link`), a shard links only
    /// what its own rows need and keeps none of it.
    /// `--from-month` rewrites only the partitions from that month on.
    ///
    /// Examples:
    ///   flowmeter lake export lake/
    ///   flowmeter lake export lake/ --shard 0/2      # on one machine
    ///   flowmeter lake export lake/ --shard 1/2      # on another
    ///   flowmeter lake export lake/ --from-month 2026-10
    #[command(verbatim_doc_comment)]
    Export(LakeExportArgs),
}

#[derive(Debug, Args)]
pub struct LakeExportArgs {
    /// The lake's directory (created if missing).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// This machine's shard, `INDEX/COUNT` counting from 0 (e.g. `2/8`).
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Rewrite only the partitions from this month (`YYYY-MM`) on.
    #[arg(long, value_name = "YYYY-MM")]
    pub from_month: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on [default: `[serve] listen`, else 127.0.0.1:8080];
    /// port 0 picks a free one (the address is printed on stdout).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Serve the bundled demo organisation from memory (no config, no store file).
    #[arg(long)]
    pub demo: bool,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// How many events the synthetic organisation has.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Random seed of the generator.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Keep the generated JSON Lines and the store in this directory
    /// (default: a temporary directory, removed afterwards). Stores an
    /// earlier run left there are replaced: every run measures empty ones.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<std::path::PathBuf>,
}
