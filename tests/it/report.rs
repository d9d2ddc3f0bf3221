//! `flowmeter report` end to end on the bundled sample data: the Markdown and
//! text reports as snapshots (fixed week), the HTML report parsed (structure,
//! inline charts with data, nothing external, hostile titles escaped), and
//! every headline equal to `flowmeter metrics` for the same week.

use std::path::Path;

use scraper::{Html, Selector};
use serde_json::Value;

use crate::util::{flowmeter, sample_store, stdout_of};

const WEEK: &str = "2026-W44";
const SINCE: &str = "2026-10-26";
const UNTIL: &str = "2026-11-02";
/// The report week's metrics against the week before, as JSON.
const COMPARED: [&str; 9] = [
    "metrics",
    "--since",
    SINCE,
    "--until",
    UNTIL,
    "--compare",
    "previous",
    "--format",
    "json",
];

fn report(db: &Path, args: &[&str]) -> String {
    stdout_of(flowmeter(db).args(["report", "--week", WEEK]).args(args))
}

#[test]
fn weekly_markdown_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_store(dir.path(), "");
    insta::assert_snapshot!(report(&db, &["--format", "md"]));
}

#[test]
fn team_and_leadership_text_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_store(dir.path(), "");
    insta::assert_snapshot!(
        "team_text",
        report(
            &db,
            &["--kind", "team", "--team", "payments", "--format", "text"]
        )
    );
    insta::assert_snapshot!(
        "leadership_text",
        report(&db, &["--kind", "leadership", "--format", "text"])
    );
}

#[test]
fn markdown_with_out_writes_its_charts_next_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_store(dir.path(), "");
    let out = dir.path().join("weekly.md");
    flowmeter(&db)
        .args(["report", "--week", WEEK, "--format", "md", "--out"])
        .arg(&out)
        .assert()
        .success();
    let md = std::fs::read_to_string(&out).unwrap();
    let linked: Vec<&str> = md
        .lines()
        .flat_map(|l| l.split("](").skip(1))
        .map(|rest| rest.split(')').next().unwrap())
        .collect();
    assert_eq!(linked.len(), 8, "7 key trends and the stage chart: {md}");
    for file in linked {
        let svg = std::fs::read_to_string(dir.path().join(file)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("<polyline"),
            "{file}"
        );
    }
}

const HOSTILE: &str = r#"{"type":"pull_request","repo":"acme/billing","number":9001,"title":"<script>alert('x')</script> & <b>bold</b>","author":"mallory","created_at":"2026-10-10T09:00:00Z","merged_at":"2026-10-30T09:00:00Z","first_commit_at":"2026-10-09T09:00:00Z"}
"#;

#[test]
fn html_is_self_contained_escaped_and_has_charts_with_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_store(dir.path(), HOSTILE);
    let out = dir.path().join("weekly.html");
    flowmeter(&db)
        .args(["report", "--week", WEEK, "--out"])
        .arg(&out)
        .assert()
        .success();
    let text = std::fs::read_to_string(&out).unwrap();
    let html = Html::parse_document(&text);
    let sel = |s: &str| Selector::parse(s).unwrap();

    // The hostile title is text, not markup: no script element anywhere.
    assert_eq!(html.select(&sel("script")).count(), 0);
    assert_eq!(html.select(&sel("b")).count(), 0);
    let waits: String = html
        .select(&sel("#notable td"))
        .map(|td| td.text().collect::<String>())
        .collect();
    assert!(
        waits.contains("<script>alert('x')</script> & <b>bold</b>"),
        "{waits}"
    );

    // Structure: the sections, one row per headline key.
    for id in ["#keys", "#value-stream", "#notable", "#coverage"] {
        assert_eq!(html.select(&sel(id)).count(), 1, "{id}");
    }
    assert_eq!(html.select(&sel("#keys tbody tr")).count(), 7);

    // Every chart is an inline SVG that draws data.
    let charts: Vec<_> = html.select(&sel("figure.chart")).collect();
    assert_eq!(charts.len(), 8);
    for chart in charts {
        let svg = chart.select(&sel("svg")).next().expect("an inline svg");
        let marks = svg.select(&sel("polyline, circle, rect")).count();
        assert!(marks > 2, "{}", svg.html());
    }

    // Nothing is loaded from elsewhere.
    let external: Vec<String> = html
        .select(&sel("[src], link[href], img"))
        .map(|el| el.html())
        .collect();
    assert!(external.is_empty(), "external references: {external:?}");
    assert!(!text.contains("href=\"http") && !text.contains("url("));
    assert!(!text.contains("https://"));
}

fn metrics_json(db: &Path) -> Value {
    let out = flowmeter(db)
        .args([
            "metrics", "--since", SINCE, "--until", UNTIL, "--format", "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn html_headlines_equal_metrics_for_the_same_week() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_store(dir.path(), "");
    let out = dir.path().join("weekly.html");
    flowmeter(&db)
        .args(["report", "--week", WEEK, "--out"])
        .arg(&out)
        .assert()
        .success();
    let html = Html::parse_document(&std::fs::read_to_string(&out).unwrap());
    let m = metrics_json(&db);
    let row = |key: &str| -> Vec<String> {
        let s = Selector::parse(&format!("#keys tr[data-key={key}] td")).unwrap();
        html.select(&s)
            .map(|td| td.text().collect::<String>().trim().to_string())
            .collect()
    };
    let tier = |v: &Value| v.as_str().unwrap_or("—").to_string();
    let df = row("deployment_frequency");
    assert_eq!(
        df[1],
        format!(
            "{:.1}/week",
            m["deployment_frequency"]["per_week"].as_f64().unwrap()
        )
    );
    assert_eq!(df[2], tier(&m["deployment_frequency"]["tier"]));
    assert_eq!(df[3], m["deployment_frequency"]["deployments"].to_string());
    let lt = row("lead_time");
    assert_eq!(
        lt[1],
        flowmeter_report::human_hours(m["lead_time"]["p50_hours"].as_f64().unwrap())
    );
    assert_eq!(lt[2], tier(&m["lead_time"]["tier"]));
    assert_eq!(lt[3], m["lead_time"]["changes"].to_string());
    let cfr = row("change_failure_rate");
    assert_eq!(
        cfr[1],
        flowmeter_report::percent(m["change_failure_rate"]["rate"].as_f64().unwrap())
    );
    assert_eq!(cfr[2], tier(&m["change_failure_rate"]["tier"]));
    let rt = row("recovery_time");
    assert_eq!(rt[2], tier(&m["recovery_time"]["tier"]));
    assert!(rt[3].starts_with(&m["recovery_time"]["recovered"].to_string()));
    let rw = row("rework_rate");
    assert_eq!(
        rw[1],
        flowmeter_report::percent(m["rework_rate"]["rate"].as_f64().unwrap())
    );
}

fn run_json(db: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&run_ok(db, args)).unwrap()
}

#[test]
fn explain_lists_exactly_the_records_behind_each_number() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_store(dir.path(), "");
    let m = run_json(&db, &COMPARED);
    let e = run_json(
        &db,
        &[
            "explain",
            "lead-time",
            "--week",
            WEEK,
            "--format",
            "json",
            "--limit",
            "100000",
        ],
    );
    assert_eq!(e["metrics"], m, "explain computes the same metrics");
    assert_eq!(e["total"], m["lead_time"]["changes"]);
    let mut hours: Vec<f64> = e["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["lead_time_hours"].as_f64().unwrap())
        .collect();
    assert!(hours.windows(2).all(|w| w[0] >= w[1]), "slowest first");
    hours.sort_by(f64::total_cmp);
    let n = hours.len();
    let median = (hours[(n - 1) / 2] + hours[n / 2]) / 2.0;
    let p50 = m["lead_time"]["p50_hours"].as_f64().unwrap();
    assert!((median - p50).abs() < 0.01, "{median} vs {p50}");

    let cfr = run_json(
        &db,
        &[
            "explain",
            "change-failure-rate",
            "--week",
            WEEK,
            "--format",
            "json",
        ],
    );
    assert_eq!(cfr["total"], m["change_failure_rate"]["failed"]);
    for r in cfr["records"].as_array().unwrap() {
        assert!(
            !r["incidents"].is_null() || !r["rolled_back_by"].is_null(),
            "every failed deployment says what failed it: {r}"
        );
    }
    let pickup = run_json(
        &db,
        &[
            "explain", "pickup", "--week", WEEK, "--format", "json", "--limit", "100000",
        ],
    );
    assert_eq!(
        pickup["total"],
        m["cycle_time"]["stages"]["pickup"]["samples"]
    );
    let shares: f64 = pickup["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["share_of_stage"].as_f64().unwrap())
        .sum();
    assert!((shares - 1.0).abs() < 0.01, "{shares}");
}

#[test]
fn exports_open_in_duckdb_and_match_the_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_store(dir.path(), "");
    let by_week = {
        let out = flowmeter(&db)
            .args([
                "metrics",
                "--since",
                "2026-10-05",
                "--until",
                UNTIL,
                "--by",
                "week",
                "--format",
                "json",
            ])
            .output()
            .unwrap();
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let conn = duckdb::Connection::open_in_memory().unwrap();
    for format in ["parquet", "csv"] {
        let out = dir.path().join(format);
        flowmeter(&db)
            .args([
                "export",
                "--since",
                "2026-10-05",
                "--until",
                UNTIL,
                "--format",
                format,
                "--out",
            ])
            .arg(&out)
            .assert()
            .success();
        let read = |name: &str| {
            let file = out.join(format!("{name}.{format}")).display().to_string();
            if format == "parquet" {
                format!("read_parquet('{file}')")
            } else {
                format!("read_csv('{file}', header = true)")
            }
        };
        let count = |sql: String| -> i64 { conn.query_row(&sql, [], |r| r.get(0)).unwrap() };
        let groups = by_week["groups"].as_array().unwrap();
        let deployments: i64 = groups
            .iter()
            .map(|g| g["deployment_frequency"]["deployments"].as_i64().unwrap())
            .sum();
        assert_eq!(
            count(format!("SELECT count(*) FROM {}", read("deployments"))),
            deployments
        );
        assert_eq!(
            count(format!(
                "SELECT count(*) FILTER (WHERE failed) FROM {}",
                read("deployments")
            )),
            groups
                .iter()
                .map(|g| g["change_failure_rate"]["failed"].as_i64().unwrap())
                .sum::<i64>()
        );
        assert_eq!(
            count(format!("SELECT count(*) FROM {}", read("weekly"))),
            groups.len() as i64
        );
        assert_eq!(
            count(format!(
                "SELECT sum(\"deployment_frequency.deployments\")::BIGINT FROM {}",
                read("weekly")
            )),
            deployments
        );
        let prs: i64 = groups
            .iter()
            .map(|g| g["cycle_time"]["prs"].as_i64().unwrap())
            .sum();
        assert_eq!(
            count(format!("SELECT count(*) FROM {}", read("pull_requests"))),
            prs
        );
    }
}

fn run_ok(db: &Path, args: &[&str]) -> String {
    stdout_of(flowmeter(db).args(args))
}

#[test]
fn custom_windows_have_their_own_words_and_rates_keep_their_count() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_store(dir.path(), "");
    let two_months = run_ok(
        &db,
        &[
            "report",
            "--since",
            "2026-09-01",
            "--until",
            "2026-11-02",
            "--format",
            "md",
        ],
    );
    assert!(two_months.contains("in these 62 days"), "{two_months}");
    assert!(two_months.contains("previous 62 days"), "{two_months}");
    for wrong in [
        "this week",
        "previous week",
        "4-week average",
        "Weekly delivery report",
    ] {
        assert!(!two_months.contains(wrong), "`{wrong}` in a 62-day report");
    }
    // Three years, of which the sample organisation fills the last months:
    // a rate below one a week is given per month or year, never 0.0/week.
    let years = run_ok(
        &db,
        &[
            "report",
            "--since",
            "2023-11-01",
            "--until",
            "2026-11-02",
            "--format",
            "md",
        ],
    );
    assert!(years.contains("from 2023-11-01 to 2026-11-01"), "{years}");
    assert!(!years.contains("this week"));
    assert!(!years.contains("0.0/"), "{years}");
}

const EVE: &str = r#"{"type":"pull_request","repo":"acme/billing","number":9001,"title":"A long wait","author":"Eve Example <eve@evil.example>","created_at":"2026-09-01T09:00:00Z","merged_at":"2026-10-28T09:00:00Z"}
{"type":"pull_request","repo":"acme/billing","number":9002,"title":"Still open","author":"eve@evil.example","created_at":"2026-08-01T09:00:00Z"}
{"type":"pull_request","repo":"acme/billing","number":9003,"title":"Also open","author":"Eve Example <eve@evil.example>","created_at":"2026-08-02T09:00:00Z"}
"#;

#[test]
fn reports_never_show_addresses_and_name_people_only_where_a_team_acts() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_store(dir.path(), EVE);
    let weekly = report(&db, &["--format", "md"]);
    assert!(weekly.contains("A long wait"), "the PR is listed: {weekly}");
    assert!(!weekly.contains('@'), "an address on the weekly page");
    assert!(
        !weekly.contains("Eve Example"),
        "a name on the weekly page by default"
    );
    let team = report(
        &db,
        &["--kind", "team", "--team", "payments", "--format", "md"],
    );
    assert!(team.contains("Eve Example"), "{team}");
    assert!(!team.contains('@'), "{team}");
    let nobody = report(
        &db,
        &[
            "--kind",
            "team",
            "--team",
            "payments",
            "--format",
            "md",
            "--no-people",
        ],
    );
    assert!(!nobody.contains("Eve Example"), "{nobody}");
    let explain = run_ok(
        &db,
        &[
            "explain", "pickup", "--week", WEEK, "--format", "json", "--limit", "100",
        ],
    );
    assert!(explain.contains("\"Eve Example\""), "{explain}");
    assert!(!explain.contains('@'), "{explain}");
    let leadership = report(&db, &["--kind", "leadership", "--format", "md"]);
    assert!(!leadership.contains("Eve Example") && !leadership.contains('@'));
}

#[test]
fn metrics_compare_gives_every_headline_a_verdict_and_an_interval() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_store(dir.path(), "");
    let json = run_ok(&db, &COMPARED);
    let m: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(m["compared_with"]["since"], "2026-10-19T00:00:00Z");
    assert_eq!(m["compared_with"]["until"], "2026-10-26T00:00:00Z");
    for key in [
        "deployment_frequency",
        "lead_time",
        "change_failure_rate",
        "recovery_time",
        "rework_rate",
        "time_to_restore",
        "cycle_time",
    ] {
        let c = &m[key]["change"];
        let verdict = c["verdict"]
            .as_str()
            .unwrap_or_else(|| panic!("{key}: {c}"));
        assert!(
            ["changed", "no_clear_change", "too_few_samples"].contains(&verdict),
            "{key}: {verdict}"
        );
        assert_eq!(c["confidence"], 0.95, "{key}");
        if verdict == "too_few_samples" {
            assert!(c["ci_low"].is_null(), "{key}");
        } else {
            let (low, high) = (
                c["ci_low"].as_f64().unwrap(),
                c["ci_high"].as_f64().unwrap(),
            );
            assert!(low <= high, "{key}");
            assert_eq!(verdict == "changed", low > 0.0 || high < 0.0, "{key}: {c}");
        }
    }
    // The same week against itself: no clear change wherever there is a verdict.
    let itself = format!("{SINCE}..{UNTIL}");
    let mut args = COMPARED;
    args[6] = &itself;
    let same = run_ok(&db, &args);
    let same: Value = serde_json::from_str(&same).unwrap();
    assert_ne!(same["lead_time"]["change"]["verdict"], "changed");
    assert_eq!(same["lead_time"]["change"]["delta"], 0.0);
    // Reproducible: a seeded bootstrap gives the same interval twice.
    let again = run_ok(&db, &COMPARED);
    assert_eq!(json, again);
    let text = run_ok(&db, &COMPARED[..7]);
    assert!(text.contains("Compared with 2026-10-19"), "{text}");
    // Bad input: a clear error, naming the flag.
    let bad = flowmeter(&db)
        .args(["metrics", "--compare", "last-tuesday"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--compare"));
    let grouped = flowmeter(&db)
        .args(["metrics", "--by", "week", "--compare", "previous"])
        .output()
        .unwrap();
    assert!(!grouped.status.success());
}

#[test]
fn explain_shows_the_interval_behind_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_store(dir.path(), "");
    let text = run_ok(&db, &["explain", "lead-time", "--week", WEEK]);
    assert!(
        text.contains("vs 2026-10-19 00:00 → 2026-10-26 00:00: "),
        "{text}"
    );
    assert!(
        text.contains("interval") || text.contains("too few samples"),
        "{text}"
    );
}

#[test]
fn working_hours_are_counted_in_the_team_calendar_next_to_wall_clock() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_store(dir.path(), "");
    let config = dir.path().join("flowmeter.toml");
    let mut text =
        std::fs::read_to_string(crate::util::root().join("sample-data/flowmeter.toml")).unwrap();
    text.push_str(
        "\n[metrics.working_hours]\ntimezone = \"Europe/Berlin\"\nholidays = [\"2026-10-30\"]\n\n[teams.search.working_hours]\ntimezone = \"America/New_York\"\ndays = [\"mon\", \"tue\", \"wed\", \"thu\"]\n",
    );
    std::fs::write(&config, text).unwrap();
    let json = |args: &[&str]| -> Value {
        let out = stdout_of(
            crate::util::bare(&db)
                .arg("--config")
                .arg(&config)
                .args(args),
        );
        serde_json::from_str(&out).unwrap()
    };
    let m = json(&[
        "metrics",
        "--since",
        SINCE,
        "--until",
        UNTIL,
        "--working-hours",
        "--format",
        "json",
    ]);
    let ct = &m["cycle_time"];
    let w = &ct["working_hours"];
    assert_eq!(
        w["calendar"],
        "Mon–Fri 09:00–17:00 Europe/Berlin, 1 holiday"
    );
    for stage in ["coding", "pickup", "review", "deploy"] {
        let wall = ct["stages"][stage]["p90_hours"].as_f64().unwrap();
        let work = w[stage]["p90_hours"].as_f64().unwrap();
        // Eight hours a day, five days a week: never more than wall-clock.
        assert!(work <= wall + 1e-9, "{stage}: {work} > {wall}");
    }
    assert!(w["cycle"]["p50_hours"].as_f64().unwrap() < ct["cycle"]["p50_hours"].as_f64().unwrap());
    // A team with its own calendar is counted in it; the others in the
    // organisation's.
    let search = json(&[
        "metrics",
        "--since",
        SINCE,
        "--until",
        UNTIL,
        "--team",
        "search",
        "--working-hours",
        "--format",
        "json",
    ]);
    assert_eq!(
        search["cycle_time"]["working_hours"]["calendar"],
        "Mon–Thu 09:00–17:00 America/New_York"
    );
    let by_team = json(&[
        "metrics",
        "--since",
        SINCE,
        "--until",
        UNTIL,
        "--by",
        "team",
        "--working-hours",
        "--format",
        "json",
    ]);
    for g in by_team["groups"].as_array().unwrap() {
        let want = if g["key"] == "search" {
            "America/New_York"
        } else {
            "Europe/Berlin"
        };
        let calendar = g["cycle_time"]["working_hours"]["calendar"]
            .as_str()
            .unwrap();
        assert!(calendar.contains(want), "{}: {calendar}", g["key"]);
    }
    // Without the flag the contract's shape is unchanged.
    let plain = json(&[
        "metrics", "--since", SINCE, "--until", UNTIL, "--format", "json",
    ]);
    assert!(plain["cycle_time"].get("working_hours").is_none());
    // The weekly page says which hours it shows.
    let out = crate::util::bare(&db)
        .arg("--config")
        .arg(&config)
        .args([
            "report",
            "--week",
            WEEK,
            "--format",
            "md",
            "--working-hours",
        ])
        .output()
        .unwrap();
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(md.contains("p50, working hours"), "{md}");
    assert!(
        md.contains("In working hours (Mon–Fri 09:00–17:00 Europe/Berlin"),
        "{md}"
    );
    // No calendar: a clear error naming where to add one.
    let none = flowmeter(&db)
        .args(["metrics", "--working-hours"])
        .output()
        .unwrap();
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("[metrics.working_hours]"));
}
