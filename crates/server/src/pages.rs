//! The dashboard: server-rendered HTML that works without JavaScript. The
//! weekly, team and leadership pages are the reports' own templates with a
//! navigation bar on top (plain links and a GET form for week and scope)
//! and each headline linked to its explain page; explain, coverage and
//! sources are small pages built here. Every value from the data or the
//! request is HTML-escaped.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State as St};
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use flowmeter_app::read::{self, MetricsAnswer, ReportKind};
use flowmeter_app::{AppError, Question};
use flowmeter_report::pages::{Links, PageFormat};
use serde_json::{json, Value};

use crate::state::State;

/// `&`, `<`, `>`, `"`, `'` escaped.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The query string (`?week=...&team=...`) that keeps a question's window
/// and scope, or nothing.
pub fn query_string(q: &Question) -> String {
    let pairs: Vec<String> = [
        ("week", &q.week),
        ("since", &q.since),
        ("until", &q.until),
        ("team", &q.team),
        ("service", &q.service),
        ("repo", &q.repo),
    ]
    .into_iter()
    .filter_map(|(k, v)| {
        v.as_deref()
            .filter(|v| !v.is_empty())
            .map(|v| format!("{k}={}", enc(v)))
    })
    .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

/// The navigation bar: the pages (keeping the window and scope) and a form
/// to change them.
fn nav(s: &State, q: &Question) -> String {
    let qs = esc(&query_string(q));
    let link = |path: &str, name: &str| format!("<a href=\"{path}{qs}\">{name}</a>");
    let value = |v: &Option<String>| esc(v.as_deref().unwrap_or_default());
    let mut teams = String::from("<option value=\"\">all teams</option>");
    for t in s.config.teams.keys() {
        let selected = if q.team.as_deref() == Some(t.as_str()) {
            " selected"
        } else {
            ""
        };
        teams.push_str(&format!("<option{selected}>{}</option>", esc(t)));
    }
    format!(
        "<nav class=\"fm\">{} {} {} {} {}\
         <form method=\"get\">\
         <label>week <input name=\"week\" placeholder=\"2026-W07\" size=\"9\" value=\"{}\"></label>\
         <label>or since <input name=\"since\" type=\"date\" value=\"{}\"></label>\
         <label>until <input name=\"until\" type=\"date\" value=\"{}\"></label>\
         <select name=\"team\">{teams}</select>\
         <input name=\"service\" placeholder=\"service\" size=\"10\" value=\"{}\">\
         <input name=\"repo\" placeholder=\"repo\" size=\"12\" value=\"{}\">\
         <button>show</button></form></nav>",
        link("/weekly", "Weekly"),
        link("/team", "Teams"),
        link("/leadership", "Leadership"),
        link("/coverage", "Coverage"),
        "<a href=\"/sources\">Sources</a>",
        value(&q.week),
        value(&q.since),
        value(&q.until),
        value(&q.service),
        value(&q.repo),
    )
}

/// A page built here, in the reports' look.
fn page(s: &State, q: &Question, title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{STYLE}</style></head><body>{nav}<h1>{t}</h1>{body}\
         <footer>flowmeter · {store}</footer></body></html>\n",
        t = esc(title),
        nav = nav(s, q),
        store = esc(&s.store_label),
    ))
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;color:#1b1b1b;max-width:1100px;margin:2rem auto;padding:0 1rem;line-height:1.45}\
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #eee;vertical-align:top}\
th{background:#f6f6f6}td.num{text-align:right}.warn{color:#8a4b00}.muted{color:#666}footer{margin-top:2rem;color:#666;font-size:.85rem}\
nav.fm{display:flex;flex-wrap:wrap;gap:.4rem 1rem;align-items:center;border-bottom:1px solid #ddd;padding-bottom:.6rem}\
nav.fm form{display:flex;flex-wrap:wrap;gap:.4rem;margin-left:auto}pre{background:#f6f6f6;padding:.6rem;overflow:auto}";

/// An error as a page: the message, escaped, with its status.
pub struct PageError(StatusCode, String);

impl From<AppError> for PageError {
    fn from(e: AppError) -> PageError {
        let status = match &e {
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            e if e.is_user_error() => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        PageError(status, e.to_string())
    }
}

impl From<QueryRejection> for PageError {
    fn from(e: QueryRejection) -> PageError {
        PageError(StatusCode::BAD_REQUEST, e.body_text())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>flowmeter: {}</title></head>\
             <body><h1>{}</h1><p>{}</p><p><a href=\"/weekly\">back to the weekly page</a></p></body></html>\n",
            self.0.as_u16(),
            esc(self.0.canonical_reason().unwrap_or("error")),
            esc(&self.1)
        );
        (self.0, Html(body)).into_response()
    }
}

type PageResult = Result<Response, PageError>;

/// `/weekly`, `/team`, `/leadership`.
pub async fn report(
    St(s): St<State>,
    Path(kind): Path<String>,
    uri: Uri,
    q: Result<Query<Question>, QueryRejection>,
) -> PageResult {
    let kind = ReportKind::parse(&kind)
        .ok_or_else(|| PageError(StatusCode::NOT_FOUND, format!("no page `/{kind}`")))?;
    let q = q?.0;
    through_cache(&s, uri.to_string(), move |s| async move {
        let links = Links {
            nav: nav(&s, &q),
            explain: "/explain/".into(),
            query: query_string(&q),
        };
        let config = s.config.clone();
        let rendered = s
            .readers
            .with(move |store| {
                read::report(
                    store,
                    &config,
                    kind,
                    &q,
                    PageFormat::Html,
                    None,
                    Some(&links),
                )
            })
            .await?;
        Ok(rendered.page)
    })
    .await
}

/// Serves `uri`'s page from the cache while the store has not changed
/// since it was computed (or, with `[serve] page_max_age`, while it is
/// young enough); else computes it with `make`. One request computes a
/// page while the others for it serve the last one (marked, at most
/// [`REFRESHING_MAX_AGE`] old) or wait for it; one page is computed at a
/// time.
async fn through_cache<F, Fut>(s: &State, uri: String, make: F) -> PageResult
where
    F: FnOnce(State) -> Fut,
    Fut: std::future::Future<Output = Result<String, PageError>>,
{
    let generation = s.writes.generation();
    if let Some(page) = cached(s, &uri, generation) {
        return Ok(Html(page).into_response());
    }
    let turn = s.pages.turn(&uri);
    let _computing = match turn.try_lock() {
        Ok(computing) => computing,
        Err(_) => {
            // Another request computes this page: a recent one, marked,
            // now is better than the current one later.
            if let Some(c) = s.pages.get(&uri, generation, REFRESHING_MAX_AGE) {
                let page = match generation.checked_sub(c.generation) {
                    Some(writes) if writes > 0 => as_of(
                        c.page,
                        &c.computed,
                        writes,
                        "a newer page is being computed",
                    ),
                    _ => c.page,
                };
                return Ok(Html(page).into_response());
            }
            turn.lock().await
        }
    };
    if let Some(page) = cached(s, &uri, generation) {
        return Ok(Html(page).into_response());
    }
    let _one_at_a_time = s.pages.compute_turn().await;
    // What this computation reflects at least (writes counted before it).
    let generation = s.writes.generation();
    let page = make(s.clone()).await?;
    s.pages.put(&uri, generation, page.clone());
    Ok(Html(page).into_response())
}

/// While another request computes a page, an earlier one this young is
/// served at once (marked), instead of waiting for the computation.
const REFRESHING_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(300);

/// The cached page for a request that arrived at `generation`: current,
/// or young enough (`[serve] page_max_age`) and marked as such.
fn cached(s: &State, uri: &str, generation: usize) -> Option<String> {
    let c = s.pages.get(uri, generation, s.settings.page_max_age)?;
    Some(if c.generation >= generation {
        c.page
    } else {
        let note = "pages are recomputed at most every <code>page_max_age</code>";
        as_of(c.page, &c.computed, generation - c.generation, note)
    })
}

/// A page computed before the latest writes, with a line saying so (and
/// why, `note`) at the top of its body.
fn as_of(
    page: String,
    computed: &chrono::DateTime<chrono::Utc>,
    writes: usize,
    note: &str,
) -> String {
    let note = format!(
        "<p class=\"muted\" role=\"status\">Numbers as of {} UTC: {writes} write{} since then are not in them yet \
         ({note}).</p>",
        computed.format("%H:%M:%S"),
        if writes == 1 { "" } else { "s" }
    );
    match page
        .find("<body")
        .and_then(|i| page[i..].find('>').map(|j| i + j + 1))
    {
        Some(at) => format!("{}{note}{}", &page[..at], &page[at..]),
        None => format!("{note}{page}"),
    }
}

/// `/explain/{metric}`: the number and the records behind it.
pub async fn explain(
    St(s): St<State>,
    Path(metric): Path<String>,
    q: Result<Query<Question>, QueryRejection>,
) -> PageResult {
    let q = q?.0;
    let what = read::explained(&metric)?;
    let config = s.config.clone();
    let shown = q.clone();
    let e = s
        .readers
        .with(move |store| read::explain(store, &config, what, &shown))
        .await?;
    let mut body = format!(
        "<p><strong>{}</strong></p><p class=\"muted\">{} to {} (UTC) · {} records{}</p>",
        esc(&flowmeter_report::explain::headline(&e)),
        e.metrics.window.since.format("%Y-%m-%d %H:%M"),
        e.metrics.window.until.format("%Y-%m-%d %H:%M"),
        e.total,
        if e.rows.len() < e.total {
            format!(
                " (the first {}; add <code>limit=N</code> for more)",
                e.rows.len()
            )
        } else {
            String::new()
        }
    );
    for line in flowmeter_report::explain::verdict_line(&e)
        .into_iter()
        .chain(flowmeter_report::explain::missing_lines(&e))
    {
        body.push_str(&format!("<p>{}</p>", esc(&line)));
    }
    if e.total > 0 {
        body.push_str("<table><tr>");
        for c in &e.columns {
            body.push_str(&format!("<th>{}</th>", esc(c)));
        }
        body.push_str("</tr>");
        for r in &e.rows {
            body.push_str("<tr>");
            for v in r {
                let class = if v.is_number() { " class=\"num\"" } else { "" };
                body.push_str(&format!(
                    "<td{class}>{}</td>",
                    esc(&flowmeter_report::explain::cell(v))
                ));
            }
            body.push_str("</tr>");
        }
        body.push_str("</table>");
    }
    Ok(page(&s, &q, &format!("Explain: {metric}"), &body).into_response())
}

/// `/coverage`: what the numbers rest on and what is missing.
pub async fn coverage(
    St(s): St<State>,
    uri: Uri,
    q: Result<Query<Question>, QueryRejection>,
) -> PageResult {
    let q = q?.0;
    through_cache(&s, uri.to_string(), move |s| async move {
        let config = s.config.clone();
        let asked = q.clone();
        let answer = s
            .readers
            .with(move |store| read::metrics(store, &config, &asked))
            .await?;
        let MetricsAnswer::One(m) = answer else {
            return Err(PageError(
                StatusCode::BAD_REQUEST,
                "coverage takes no `by`".into(),
            ));
        };
        let body = format!(
            "<p class=\"muted\">{} to {} (UTC)</p><ul>{}</ul>",
            m.window.since.format("%Y-%m-%d"),
            m.window.until.format("%Y-%m-%d"),
            flowmeter_report::coverage_lines(&m.metrics)
                .iter()
                .map(|l| format!(
                    "<li{}>{}</li>",
                    if l.warn { " class=\"warn\"" } else { "" },
                    esc(&l.text)
                ))
                .collect::<String>()
        );
        Ok(page(&s, &q, "Data coverage", &body).0)
    })
    .await
}

/// Each configured source (and each source with a cursor): its schedule,
/// cursor, last sync and last error.
pub async fn source_rows(s: &State) -> Result<Vec<Value>, AppError> {
    let saved = s.readers.with(|store| Ok(store.sync_states()?)).await?;
    let status = s.sources.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut names: Vec<String> = status.keys().cloned().collect();
    for (n, _, _) in &saved {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    names.sort();
    Ok(names
        .into_iter()
        .map(|n| {
            let cursor = saved.iter().find(|(name, _, _)| *name == n);
            let st = status.get(&n).cloned().unwrap_or_default();
            json!({
                "name": n,
                "interval": st.interval,
                "running": st.running,
                "progress": st.progress,
                "cursor": cursor.map(|c| c.1.clone()),
                "cursor_saved_at": cursor.map(|c| c.2.clone()),
                "last_started": st.last_started,
                "last_finished": st.last_finished,
                "last_result": st.last_result,
                "last_error": st.last_error,
            })
        })
        .collect())
}

/// `/sources`.
pub async fn sources(St(s): St<State>) -> PageResult {
    let rows = source_rows(&s).await?;
    let text = |v: &Value| match v {
        Value::Null => "—".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut body = String::from(
        "<table><tr><th>source</th><th>schedule</th><th>state</th><th>last sync</th><th>result</th><th>last error</th><th>cursor</th></tr>",
    );
    for r in &rows {
        let state = if r["running"] == json!(true) {
            format!("running: {}", text(&r["progress"]))
        } else {
            "idle".into()
        };
        let mut cursor = text(&r["cursor"]);
        if cursor.chars().count() > 80 {
            cursor = cursor.chars().take(79).collect::<String>() + "…";
        }
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"warn\">{}</td><td><code>{}</code></td></tr>",
            esc(&text(&r["name"])),
            esc(&r["interval"].as_str().map(|i| format!("every {i}")).unwrap_or_else(|| "by hand".into())),
            esc(&state),
            esc(&text(&r["last_finished"])),
            esc(&text(&r["last_result"])),
            esc(&text(&r["last_error"])),
            esc(&cursor),
        ));
    }
    body.push_str("</table>");
    if rows.is_empty() {
        body = "<p>No sources: add <code>[[sources]]</code> to flowmeter.toml, with <code>interval = \"15m\"</code> to sync them on a schedule.</p>".into();
    }
    Ok(page(&s, &Question::default(), "Sources", &body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowmeter_config::Config;
    use flowmeter_store::Store;

    const WEEK: &str = "2026-W10";

    fn deployment(id: &str, finished: &str) -> flowmeter_model::Event {
        let line = format!(
            r#"{{"type":"deployment","id":"{id}","service":"app","repo":"acme/app","environment":"production","status":"success","finished_at":"{finished}","commit_sha":"{id}"}}"#
        );
        let mut read = flowmeter_model::read_jsonl(line.as_bytes(), "test").unwrap();
        assert!(read.errors.is_empty());
        read.events.remove(0)
    }

    async fn weekly(s: &State) -> String {
        let uri: Uri = format!("/weekly?week={WEEK}").parse().unwrap();
        let q = Question {
            week: Some(WEEK.into()),
            ..Question::default()
        };
        let path = Path("weekly".to_string());
        let Ok(response) = report(St(s.clone()), path, uri, Ok(Query(q))).await else {
            panic!("the weekly page failed");
        };
        let body = axum::body::to_bytes(response.into_body(), usize::MAX);
        String::from_utf8(body.await.unwrap().to_vec()).unwrap()
    }

    /// Under writes, the request that finds a page out of date computes it;
    /// one that comes meanwhile gets the last version at once, marked.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn while_a_page_is_computed_the_others_get_its_last_version() {
        let config = Config::default();
        let settings = crate::settings::Settings::resolve(&config, None).unwrap();
        let store = Store::in_memory().unwrap();
        let server = crate::Server::new(
            store,
            config,
            settings,
            "test".into(),
            "/".into(),
            Question::default(),
        )
        .unwrap();
        let s = server.state.clone();
        let write = |id: &'static str| {
            let s = s.clone();
            async move {
                let events = vec![deployment(id, "2026-03-03T10:00:00Z")];
                s.writes.import(events, None).await.unwrap();
            }
        };
        write("a").await;
        let first = weekly(&s).await;
        assert!(!first.contains("newer page"), "a first page is computed");
        write("b").await;
        // Another request is computing this page.
        let turn = s.pages.turn(&format!("/weekly?week={WEEK}"));
        let computing = turn.lock().await;
        let meanwhile = tokio::time::timeout(std::time::Duration::from_secs(30), weekly(&s))
            .await
            .expect("served at once, not after the computation");
        assert!(
            meanwhile.contains(
                "1 write since then are not in them yet (a newer page is being computed)"
            ),
            "{meanwhile}"
        );
        drop(computing);
        let current = weekly(&s).await;
        assert!(!current.contains("newer page"), "then it is computed again");
        assert_ne!(current, first, "with the second deployment");
    }
}
