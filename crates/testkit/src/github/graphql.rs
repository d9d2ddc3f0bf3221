//! `POST /graphql` (and `/api/graphql` for GitHub Enterprise Server).
//!
//! A small GraphQL parser and executor over the mocked organisation. Object
//! types, field names and enum spellings come from GitHub's public schema
//! (<https://docs.github.com/en/graphql/reference/objects>, the schema file
//! published as `octokit/graphql-schema`):
//!
//! * `Repository.pullRequests(first, after, last, before, states,
//!   labels, baseRefName, headRefName, orderBy: IssueOrder {field:
//!   CREATED_AT|UPDATED_AT|COMMENTS, direction})`
//! * `Repository.deployments(first, after, last, before, environments,
//!   orderBy: DeploymentOrder = {field: CREATED_AT, direction: ASC})`
//! * `PullRequest` (`number`, `title`, `url`, `state: PullRequestState`
//!   `OPEN|CLOSED|MERGED`, `isDraft`, `createdAt`, `updatedAt`, `mergedAt`,
//!   `closedAt`, `author`, `baseRefName`, `headRefName`, `additions`,
//!   `deletions`, `mergeCommit`, `labels`, `reviews`, `commits`,
//!   `timelineItems(itemTypes: [READY_FOR_REVIEW_EVENT])` ...)
//! * `PullRequestReview.state: PullRequestReviewState` (`APPROVED`,
//!   `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED`, `PENDING`)
//! * `Deployment` (`databaseId`, `commitOid`, `commit`, `environment`,
//!   `latestEnvironment`, `originalEnvironment`, `task`, `payload`, `state:
//!   DeploymentState` `ABANDONED|ACTIVE|DESTROYED|ERROR|FAILURE|INACTIVE|
//!   IN_PROGRESS|PENDING|QUEUED|SUCCESS|WAITING`, `ref`, `creator`,
//!   `latestStatus`, `statuses`)
//! * `DeploymentStatus.state: DeploymentStatusState` (`ERROR`, `FAILURE`,
//!   `INACTIVE`, `IN_PROGRESS`, `PENDING`, `QUEUED`, `SUCCESS`, `WAITING`)
//! * `RateLimit {cost, limit, nodeCount, remaining, resetAt, used}` and the
//!   cost formula of <https://docs.github.com/en/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api>
//!   (connections need `first`/`last` within 1-100).
//!
//! The executor honours the selection (aliases, fragments, inline fragments,
//! `@skip`/`@include`), and answers each object from a map holding every
//! field the mock models; fields the mock does not model resolve to `null`.
//! Cursors are opaque base64 strings encoding the sort key, so paging stays
//! stable when data changes between pages, as GitHub's do.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::model::{Commit, Deployment, DeploymentStatus, Org, Pull, Repo, Review};
use super::rest::{
    is_bot, org_id, pull_db_id, pull_head_sha, repo_id, repo_web, user_id, Ctx, RepoMeta,
};
use super::util::{b64_decode, b64_encode, git_ts, node_id, ts, ts_opt};

// ---------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Punct(char),
    Spread,
    Name(String),
    Int(i64),
    Float(f64),
    Str(String),
    Eof,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: usize,
    col: usize,
}

type PResult<T> = Result<T, (String, usize, usize)>;

fn describe(t: &Tok) -> String {
    match t {
        Tok::Punct(c) => c.to_string(),
        Tok::Spread => "...".to_string(),
        Tok::Name(n) => n.clone(),
        Tok::Int(i) => i.to_string(),
        Tok::Float(f) => f.to_string(),
        Tok::Str(s) => format!("\"{s}\""),
        Tok::Eof => "end of file".to_string(),
    }
}

fn lex(src: &str) -> PResult<Vec<Token>> {
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0usize;
    let mut line = 1usize;
    let mut col = 1usize;
    let mut out: Vec<Token> = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => {
                i += 1;
                line += 1;
                col = 1;
            }
            ' ' | '\t' | '\r' | ',' | '\u{feff}' => {
                i += 1;
                col += 1;
            }
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '{' | '}' | '(' | ')' | ':' | '[' | ']' | '!' | '$' | '@' | '=' | '|' | '&' => {
                out.push(Token {
                    tok: Tok::Punct(c),
                    line,
                    col,
                });
                i += 1;
                col += 1;
            }
            '.' => {
                if i + 2 < chars.len() && chars[i + 1] == '.' && chars[i + 2] == '.' {
                    out.push(Token {
                        tok: Tok::Spread,
                        line,
                        col,
                    });
                    i += 3;
                    col += 3;
                } else {
                    return Err(("Parse error on \".\"".to_string(), line, col));
                }
            }
            '"' => {
                let (sl, sc) = (line, col);
                let mut s = String::new();
                if i + 2 < chars.len() && chars[i + 1] == '"' && chars[i + 2] == '"' {
                    i += 3;
                    col += 3;
                    loop {
                        if i >= chars.len() {
                            return Err(("Unterminated string".to_string(), sl, sc));
                        }
                        if chars[i] == '"'
                            && i + 2 < chars.len()
                            && chars[i + 1] == '"'
                            && chars[i + 2] == '"'
                        {
                            i += 3;
                            col += 3;
                            break;
                        }
                        if chars[i] == '\\'
                            && i + 3 < chars.len()
                            && chars[i + 1] == '"'
                            && chars[i + 2] == '"'
                            && chars[i + 3] == '"'
                        {
                            s.push_str("\"\"\"");
                            i += 4;
                            col += 4;
                            continue;
                        }
                        if chars[i] == '\n' {
                            line += 1;
                            col = 1;
                        } else {
                            col += 1;
                        }
                        s.push(chars[i]);
                        i += 1;
                    }
                } else {
                    i += 1;
                    col += 1;
                    loop {
                        if i >= chars.len() || chars[i] == '\n' {
                            return Err(("Unterminated string".to_string(), sl, sc));
                        }
                        let ch = chars[i];
                        if ch == '"' {
                            i += 1;
                            col += 1;
                            break;
                        }
                        if ch == '\\' {
                            let e = chars.get(i + 1).copied().unwrap_or(' ');
                            match e {
                                'n' => s.push('\n'),
                                't' => s.push('\t'),
                                'r' => s.push('\r'),
                                'b' => s.push('\u{8}'),
                                'f' => s.push('\u{c}'),
                                'u' => {
                                    let hex: String = chars.iter().skip(i + 2).take(4).collect();
                                    let cp = u32::from_str_radix(&hex, 16)
                                        .ok()
                                        .and_then(char::from_u32)
                                        .unwrap_or('\u{fffd}');
                                    s.push(cp);
                                    i += 4;
                                    col += 4;
                                }
                                other => s.push(other),
                            }
                            i += 2;
                            col += 2;
                            continue;
                        }
                        s.push(ch);
                        i += 1;
                        col += 1;
                    }
                }
                out.push(Token {
                    tok: Tok::Str(s),
                    line: sl,
                    col: sc,
                });
            }
            c if c == '-' || c.is_ascii_digit() => {
                let start = i;
                let sc = col;
                i += 1;
                col += 1;
                let mut float = false;
                while i < chars.len() {
                    let d = chars[i];
                    let exp_sign = (d == '+' || d == '-') && matches!(chars[i - 1], 'e' | 'E');
                    if d.is_ascii_digit() {
                    } else if d == '.' || d == 'e' || d == 'E' || exp_sign {
                        float = true;
                    } else {
                        break;
                    }
                    i += 1;
                    col += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let tok = if float {
                    text.parse::<f64>().map(Tok::Float).ok()
                } else {
                    text.parse::<i64>().map(Tok::Int).ok()
                };
                match tok {
                    Some(t) => out.push(Token {
                        tok: t,
                        line,
                        col: sc,
                    }),
                    None => return Err((format!("Parse error on \"{text}\""), line, sc)),
                }
            }
            c if c == '_' || c.is_ascii_alphabetic() => {
                let start = i;
                let sc = col;
                while i < chars.len() && (chars[i] == '_' || chars[i].is_ascii_alphanumeric()) {
                    i += 1;
                    col += 1;
                }
                let text: String = chars[start..i].iter().collect();
                out.push(Token {
                    tok: Tok::Name(text),
                    line,
                    col: sc,
                });
            }
            other => return Err((format!("Parse error on \"{other}\""), line, col)),
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        line,
        col,
    });
    Ok(out)
}

// ---------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub(crate) enum GValue {
    Var(String),
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Null,
    Enum(String),
    List(Vec<GValue>),
    Obj(Vec<(String, GValue)>),
}

#[derive(Clone, Debug)]
pub(crate) struct Directive {
    name: String,
    args: Vec<(String, GValue)>,
}

#[derive(Clone, Debug)]
pub(crate) struct Field {
    alias: Option<String>,
    name: String,
    args: Vec<(String, GValue)>,
    directives: Vec<Directive>,
    sel: Vec<Sel>,
    line: usize,
    col: usize,
}

impl Field {
    fn key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Sel {
    Field(Field),
    Inline {
        cond: Option<String>,
        directives: Vec<Directive>,
        sel: Vec<Sel>,
    },
    Spread {
        name: String,
        directives: Vec<Directive>,
    },
}

#[derive(Clone, Debug)]
pub(crate) struct Operation {
    name: Option<String>,
    kind: String,
    vars: Vec<(String, Option<GValue>)>,
    sel: Vec<Sel>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Document {
    ops: Vec<Operation>,
    frags: HashMap<String, (String, Vec<Sel>)>,
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.toks[self.pos]
    }

    fn next(&mut self) -> Token {
        let t = self.toks[self.pos].clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn err<T>(&self, what: &str) -> PResult<T> {
        let t = self.peek();
        Err((
            format!(
                "Parse error on \"{}\" ({what}) at [{}, {}]",
                describe(&t.tok),
                t.line,
                t.col
            ),
            t.line,
            t.col,
        ))
    }

    fn at_eof(&self) -> bool {
        matches!(self.peek().tok, Tok::Eof)
    }

    fn is_punct(&self, c: char) -> bool {
        matches!(&self.peek().tok, Tok::Punct(p) if *p == c)
    }

    fn is_name(&self, s: &str) -> bool {
        matches!(&self.peek().tok, Tok::Name(n) if n == s)
    }

    fn expect_punct(&mut self, c: char) -> PResult<()> {
        if self.is_punct(c) {
            self.next();
            Ok(())
        } else {
            self.err(&format!("expected {c}"))
        }
    }

    fn name(&mut self) -> PResult<String> {
        let n = match &self.peek().tok {
            Tok::Name(n) => n.clone(),
            _ => return self.err("expected a name"),
        };
        self.next();
        Ok(n)
    }

    fn document(&mut self) -> PResult<Document> {
        let mut doc = Document::default();
        loop {
            let tok = self.peek().tok.clone();
            match tok {
                Tok::Eof => break,
                Tok::Punct('{') => {
                    let sel = self.selection_set()?;
                    doc.ops.push(Operation {
                        name: None,
                        kind: "query".to_string(),
                        vars: Vec::new(),
                        sel,
                    });
                }
                Tok::Name(n) if n == "query" || n == "mutation" || n == "subscription" => {
                    self.next();
                    let name = if matches!(self.peek().tok, Tok::Name(_)) {
                        Some(self.name()?)
                    } else {
                        None
                    };
                    let vars = if self.is_punct('(') {
                        self.var_defs()?
                    } else {
                        Vec::new()
                    };
                    self.directives()?;
                    let sel = self.selection_set()?;
                    doc.ops.push(Operation {
                        name,
                        kind: n,
                        vars,
                        sel,
                    });
                }
                Tok::Name(n) if n == "fragment" => {
                    self.next();
                    let name = self.name()?;
                    if !self.is_name("on") {
                        return self.err("expected on");
                    }
                    self.next();
                    let ty = self.name()?;
                    self.directives()?;
                    let sel = self.selection_set()?;
                    doc.frags.insert(name, (ty, sel));
                }
                _ => return self.err("expected a definition"),
            }
        }
        if doc.ops.is_empty() {
            return Err(("No operation given".to_string(), 1, 1));
        }
        Ok(doc)
    }

    fn var_defs(&mut self) -> PResult<Vec<(String, Option<GValue>)>> {
        self.expect_punct('(')?;
        let mut out = Vec::new();
        while !self.is_punct(')') {
            if self.at_eof() {
                return self.err("unexpected end");
            }
            self.expect_punct('$')?;
            let name = self.name()?;
            self.expect_punct(':')?;
            self.type_ref()?;
            let default = if self.is_punct('=') {
                self.next();
                Some(self.value()?)
            } else {
                None
            };
            self.directives()?;
            out.push((name, default));
        }
        self.next();
        Ok(out)
    }

    fn type_ref(&mut self) -> PResult<()> {
        if self.is_punct('[') {
            self.next();
            self.type_ref()?;
            self.expect_punct(']')?;
        } else {
            self.name()?;
        }
        if self.is_punct('!') {
            self.next();
        }
        Ok(())
    }

    fn directives(&mut self) -> PResult<Vec<Directive>> {
        let mut out = Vec::new();
        while self.is_punct('@') {
            self.next();
            let name = self.name()?;
            let args = if self.is_punct('(') {
                self.arguments()?
            } else {
                Vec::new()
            };
            out.push(Directive { name, args });
        }
        Ok(out)
    }

    fn arguments(&mut self) -> PResult<Vec<(String, GValue)>> {
        self.expect_punct('(')?;
        let mut out = Vec::new();
        while !self.is_punct(')') {
            if self.at_eof() {
                return self.err("unexpected end");
            }
            let n = self.name()?;
            self.expect_punct(':')?;
            let v = self.value()?;
            out.push((n, v));
        }
        self.next();
        Ok(out)
    }

    fn value(&mut self) -> PResult<GValue> {
        let tok = self.peek().tok.clone();
        match tok {
            Tok::Punct('$') => {
                self.next();
                Ok(GValue::Var(self.name()?))
            }
            Tok::Int(n) => {
                self.next();
                Ok(GValue::Int(n))
            }
            Tok::Float(f) => {
                self.next();
                Ok(GValue::Float(f))
            }
            Tok::Str(s) => {
                self.next();
                Ok(GValue::Str(s))
            }
            Tok::Name(n) => {
                self.next();
                Ok(match n.as_str() {
                    "true" => GValue::Bool(true),
                    "false" => GValue::Bool(false),
                    "null" => GValue::Null,
                    _ => GValue::Enum(n.clone()),
                })
            }
            Tok::Punct('[') => {
                self.next();
                let mut items = Vec::new();
                while !self.is_punct(']') {
                    if self.at_eof() {
                        return self.err("unexpected end");
                    }
                    items.push(self.value()?);
                }
                self.next();
                Ok(GValue::List(items))
            }
            Tok::Punct('{') => {
                self.next();
                let mut fields = Vec::new();
                while !self.is_punct('}') {
                    if self.at_eof() {
                        return self.err("unexpected end");
                    }
                    let k = self.name()?;
                    self.expect_punct(':')?;
                    let v = self.value()?;
                    fields.push((k, v));
                }
                self.next();
                Ok(GValue::Obj(fields))
            }
            _ => self.err("expected a value"),
        }
    }

    fn selection_set(&mut self) -> PResult<Vec<Sel>> {
        self.expect_punct('{')?;
        let mut out = Vec::new();
        while !self.is_punct('}') {
            if self.at_eof() {
                return self.err("unexpected end");
            }
            if matches!(self.peek().tok, Tok::Spread) {
                self.next();
                if self.is_name("on") {
                    self.next();
                    let cond = self.name()?;
                    let directives = self.directives()?;
                    let sel = self.selection_set()?;
                    out.push(Sel::Inline {
                        cond: Some(cond),
                        directives,
                        sel,
                    });
                } else if self.is_punct('{') || self.is_punct('@') {
                    let directives = self.directives()?;
                    let sel = self.selection_set()?;
                    out.push(Sel::Inline {
                        cond: None,
                        directives,
                        sel,
                    });
                } else {
                    let name = self.name()?;
                    let directives = self.directives()?;
                    out.push(Sel::Spread { name, directives });
                }
                continue;
            }
            let (line, col) = (self.peek().line, self.peek().col);
            let first = self.name()?;
            let (alias, name) = if self.is_punct(':') {
                self.next();
                let real = self.name()?;
                (Some(first), real)
            } else {
                (None, first)
            };
            let args = if self.is_punct('(') {
                self.arguments()?
            } else {
                Vec::new()
            };
            let directives = self.directives()?;
            let sel = if self.is_punct('{') {
                self.selection_set()?
            } else {
                Vec::new()
            };
            out.push(Sel::Field(Field {
                alias,
                name,
                args,
                directives,
                sel,
                line,
                col,
            }));
        }
        self.next();
        Ok(out)
    }
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

/// A parsed `{query, variables, operationName}` body.
#[derive(Clone, Debug)]
pub(crate) struct GqlRequest {
    doc: Document,
    op_index: usize,
    vars: Map<String, Value>,
}

/// Connection fields worth naming in the request log.
const LOGGED_CONNECTIONS: &[&str] = &[
    "pullRequests",
    "deployments",
    "repositories",
    "issues",
    "refs",
    "history",
    "releases",
];

fn const_value(v: &GValue) -> Value {
    match v {
        GValue::Var(_) | GValue::Null => Value::Null,
        GValue::Int(i) => json!(i),
        GValue::Float(f) => json!(f),
        GValue::Str(s) => Value::String(s.clone()),
        GValue::Bool(b) => Value::Bool(*b),
        GValue::Enum(e) => Value::String(e.clone()),
        GValue::List(items) => Value::Array(items.iter().map(const_value).collect()),
        GValue::Obj(fs) => {
            let mut m = Map::new();
            for (k, x) in fs {
                m.insert(k.clone(), const_value(x));
            }
            Value::Object(m)
        }
    }
}

/// Parses a request body; on failure, the status and body to answer.
pub(crate) fn parse_request(body: &[u8]) -> Result<GqlRequest, (u16, Value)> {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            return Err((
                400,
                json!({"message": "Problems parsing JSON", "documentation_url": "https://docs.github.com/graphql"}),
            ))
        }
    };
    let query = match v.get("query").and_then(|q| q.as_str()) {
        Some(q) => q.to_string(),
        None => {
            return Err((
                200,
                json!({"errors": [{"message": "A query attribute must be specified and must be a string."}]}),
            ))
        }
    };
    let parsed = lex(&query).and_then(|toks| Parser { toks, pos: 0 }.document());
    let doc = match parsed {
        Ok(d) => d,
        Err((msg, line, col)) => {
            return Err((
                200,
                json!({"errors": [{"message": msg, "locations": [{"line": line, "column": col}]}]}),
            ))
        }
    };
    let op_index = match v.get("operationName").and_then(|n| n.as_str()) {
        Some(name) => match doc.ops.iter().position(|o| o.name.as_deref() == Some(name)) {
            Some(i) => i,
            None => {
                return Err((
                    200,
                    json!({"errors": [{"message": format!("No operation named \"{name}\"")}]}),
                ))
            }
        },
        None => 0,
    };
    let mut vars = Map::new();
    for (name, default) in &doc.ops[op_index].vars {
        if let Some(d) = default {
            vars.insert(name.clone(), const_value(d));
        }
    }
    if let Some(Value::Object(given)) = v.get("variables") {
        for (k, x) in given {
            vars.insert(k.clone(), x.clone());
        }
    }
    Ok(GqlRequest {
        doc,
        op_index,
        vars,
    })
}

impl GqlRequest {
    fn op(&self) -> &Operation {
        &self.doc.ops[self.op_index]
    }

    fn int_arg(&self, v: &GValue) -> Option<i64> {
        match v {
            GValue::Int(i) => Some(*i),
            GValue::Var(n) => self.vars.get(n).and_then(|x| x.as_i64()),
            _ => None,
        }
    }

    /// Point cost and node count as the rate-limit docs compute them: one
    /// request per connection per parent node, divided by 100, minimum 1.
    pub(crate) fn cost(&self) -> (u64, u64) {
        let mut requests = 0u64;
        let mut nodes = 0u64;
        self.walk_cost(&self.op().sel, 1, &mut requests, &mut nodes, 0);
        let cost = ((requests as f64) / 100.0).round().max(1.0) as u64;
        (cost, nodes)
    }

    fn walk_cost(&self, sel: &[Sel], mult: u64, requests: &mut u64, nodes: &mut u64, depth: usize) {
        if depth > 32 {
            return;
        }
        for s in sel {
            match s {
                Sel::Field(f) => {
                    let n = f
                        .args
                        .iter()
                        .find(|(k, _)| k == "first" || k == "last")
                        .and_then(|(_, v)| self.int_arg(v));
                    match n {
                        Some(n) => {
                            *requests = requests.saturating_add(mult);
                            let m = mult.saturating_mul(n.max(0) as u64);
                            *nodes = nodes.saturating_add(m);
                            self.walk_cost(&f.sel, m, requests, nodes, depth + 1);
                        }
                        None => self.walk_cost(&f.sel, mult, requests, nodes, depth + 1),
                    }
                }
                Sel::Inline { sel, .. } => self.walk_cost(sel, mult, requests, nodes, depth + 1),
                Sel::Spread { name, .. } => {
                    if let Some((_, sel)) = self.doc.frags.get(name) {
                        self.walk_cost(sel, mult, requests, nodes, depth + 1);
                    }
                }
            }
        }
    }

    /// The connections the query asks for (`pullRequests`, `deployments`,
    /// ...), comma-joined, for the request log.
    pub(crate) fn connection_names(&self) -> Option<String> {
        let mut names: Vec<String> = Vec::new();
        self.walk_names(&self.op().sel, &mut names, 0);
        if names.is_empty() {
            None
        } else {
            Some(names.join(","))
        }
    }

    fn walk_names(&self, sel: &[Sel], names: &mut Vec<String>, depth: usize) {
        if depth > 32 {
            return;
        }
        for s in sel {
            match s {
                Sel::Field(f) => {
                    if LOGGED_CONNECTIONS.contains(&f.name.as_str()) && !names.contains(&f.name) {
                        names.push(f.name.clone());
                    }
                    self.walk_names(&f.sel, names, depth + 1);
                }
                Sel::Inline { sel, .. } => self.walk_names(sel, names, depth + 1),
                Sel::Spread { name, .. } => {
                    if let Some((_, sel)) = self.doc.frags.get(name) {
                        self.walk_names(sel, names, depth + 1);
                    }
                }
            }
        }
    }

    pub(crate) fn is_query(&self) -> bool {
        self.op().kind == "query"
    }
}

/// Rate-limit figures for the `rateLimit` object.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RateView {
    pub(crate) limit: u64,
    pub(crate) remaining: u64,
    pub(crate) used: u64,
    pub(crate) reset: DateTime<Utc>,
    pub(crate) cost: u64,
    pub(crate) node_count: u64,
}

/// Runs the query; returns the response body (`data`, and `errors` if any).
pub(crate) fn execute(req: &GqlRequest, org: &Org, ctx: &Ctx, rate: RateView) -> Value {
    let op = req.op();
    if op.kind != "query" {
        return json!({"errors": [{"message": format!("This mock answers queries only, not a {}.", op.kind)}]});
    }
    let mut ex = Exec {
        doc: &req.doc,
        org,
        ctx,
        vars: &req.vars,
        rate,
        errors: Vec::new(),
        path: Vec::new(),
    };
    let data = ex.run(&op.sel);
    let mut out = Map::new();
    out.insert("data".to_string(), data);
    if !ex.errors.is_empty() {
        out.insert("errors".to_string(), Value::Array(ex.errors));
    }
    Value::Object(out)
}

// ---------------------------------------------------------------------------
// Executor
// ---------------------------------------------------------------------------

/// Interfaces and unions an inline fragment may name on any object.
const ABSTRACT_TYPES: &[&str] = &[
    "Node",
    "Actor",
    "UniformResourceLocatable",
    "GitObject",
    "RepositoryOwner",
    "RepositoryNode",
    "PullRequestTimelineItems",
    "Comment",
    "Reactable",
    "Subscribable",
    "Closable",
    "Updatable",
    "UpdatableComment",
    "Lockable",
    "Labelable",
    "Assignable",
    "Deletable",
    "Minimizable",
    "Starrable",
    "RepositoryInfo",
    "ProfileOwner",
    "PackageOwner",
    "Sponsorable",
    "ProjectV2Owner",
    "ProjectOwner",
];

fn type_matches(cond: &str, typename: &str) -> bool {
    cond == typename || ABSTRACT_TYPES.contains(&cond)
}

/// Inserts `v` under `key`, merging objects selected twice (fragments).
fn put(out: &mut Map<String, Value>, key: &str, v: Value) {
    match v {
        Value::Object(new) => {
            if let Some(Value::Object(existing)) = out.get_mut(key) {
                for (k, x) in new {
                    put(existing, &k, x);
                }
                return;
            }
            out.insert(key.to_string(), Value::Object(new));
        }
        other => {
            out.insert(key.to_string(), other);
        }
    }
}

fn encode_cursor(k: (i64, i64)) -> String {
    b64_encode(format!("cursor:v2:{}:{}", k.0, k.1).as_bytes())
}

fn decode_cursor(s: &str) -> Option<(i64, i64)> {
    let bytes = b64_decode(s)?;
    let text = String::from_utf8(bytes).ok()?;
    let rest = text.strip_prefix("cursor:v2:")?;
    let (a, b) = rest.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The slice of a connection a `first/after/last/before` selects.
struct Window {
    idx: Vec<usize>,
    cursors: Vec<String>,
    has_next: bool,
    has_prev: bool,
}

type NodeFn<'f, 'a> = &'f dyn Fn(&mut Exec<'a>, usize, &'a [Sel]) -> Value;

struct Exec<'a> {
    doc: &'a Document,
    org: &'a Org,
    ctx: &'a Ctx,
    vars: &'a Map<String, Value>,
    rate: RateView,
    errors: Vec<Value>,
    path: Vec<Value>,
}

fn pr_state(p: &Pull) -> &'static str {
    if p.merged_at.is_some() {
        "MERGED"
    } else if p.state == "closed" {
        "CLOSED"
    } else {
        "OPEN"
    }
}

impl<'a> Exec<'a> {
    fn eval(&self, v: &GValue) -> Value {
        match v {
            GValue::Var(n) => self.vars.get(n).cloned().unwrap_or(Value::Null),
            GValue::List(items) => Value::Array(items.iter().map(|x| self.eval(x)).collect()),
            GValue::Obj(fs) => {
                let mut m = Map::new();
                for (k, x) in fs {
                    m.insert(k.clone(), self.eval(x));
                }
                Value::Object(m)
            }
            other => const_value(other),
        }
    }

    fn arg(&self, f: &Field, name: &str) -> Option<Value> {
        f.args
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| self.eval(v))
            .filter(|v| !v.is_null())
    }

    fn arg_i64(&self, f: &Field, name: &str) -> Option<i64> {
        self.arg(f, name).and_then(|v| v.as_i64())
    }

    fn arg_str(&self, f: &Field, name: &str) -> Option<String> {
        self.arg(f, name)
            .and_then(|v| v.as_str().map(|s| s.to_string()))
    }

    /// A list argument (a single value is coerced to a one-item list).
    fn arg_list(&self, f: &Field, name: &str) -> Option<Vec<String>> {
        match self.arg(f, name)? {
            Value::Array(a) => Some(
                a.iter()
                    .filter_map(|x| x.as_str().map(|s| s.to_string()))
                    .collect(),
            ),
            Value::String(s) => Some(vec![s]),
            _ => None,
        }
    }

    fn included(&self, dirs: &[Directive]) -> bool {
        for d in dirs {
            let cond = d
                .args
                .iter()
                .find(|(k, _)| k == "if")
                .map(|(_, v)| self.eval(v))
                .and_then(|v| v.as_bool());
            match (d.name.as_str(), cond) {
                ("skip", Some(true)) => return false,
                ("include", Some(false)) => return false,
                _ => {}
            }
        }
        true
    }

    fn collect(&self, sel: &'a [Sel], typename: &str, out: &mut Vec<&'a Field>, depth: usize) {
        if depth > 32 {
            return;
        }
        let doc: &'a Document = self.doc;
        for s in sel {
            match s {
                Sel::Field(f) => {
                    if self.included(&f.directives) {
                        out.push(f);
                    }
                }
                Sel::Inline {
                    cond,
                    directives,
                    sel,
                } => {
                    let ok = cond.as_deref().is_none_or(|c| type_matches(c, typename));
                    if ok && self.included(directives) {
                        self.collect(sel, typename, out, depth + 1);
                    }
                }
                Sel::Spread { name, directives } => {
                    if self.included(directives) {
                        if let Some((ty, fsel)) = doc.frags.get(name) {
                            if type_matches(ty, typename) {
                                self.collect(fsel, typename, out, depth + 1);
                            }
                        }
                    }
                }
            }
        }
    }

    fn fields(&self, sel: &'a [Sel], typename: &str) -> Vec<&'a Field> {
        let mut out = Vec::new();
        self.collect(sel, typename, &mut out, 0);
        out
    }

    fn error_at(&mut self, f: &Field, kind: &str, message: String) {
        let mut e = Map::new();
        if !kind.is_empty() {
            e.insert("type".to_string(), json!(kind));
        }
        e.insert("path".to_string(), Value::Array(self.path.clone()));
        e.insert(
            "locations".to_string(),
            json!([{"line": f.line, "column": f.col}]),
        );
        e.insert("message".to_string(), json!(message));
        self.errors.push(Value::Object(e));
    }

    /// Projects a plain object onto a selection.
    fn project(&mut self, v: &Value, sel: &'a [Sel]) -> Value {
        match v {
            Value::Array(items) => {
                Value::Array(items.iter().map(|x| self.project(x, sel)).collect())
            }
            Value::Object(m) => {
                if sel.is_empty() {
                    return v.clone();
                }
                let tn = m
                    .get("__typename")
                    .and_then(|t| t.as_str())
                    .unwrap_or("")
                    .to_string();
                let fields = self.fields(sel, &tn);
                let mut out = Map::new();
                for f in fields {
                    let val = match m.get(f.name.as_str()) {
                        Some(inner) if !f.sel.is_empty() => self.project(inner, &f.sel),
                        Some(inner) => inner.clone(),
                        None => Value::Null,
                    };
                    put(&mut out, f.key(), val);
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }

    fn project_field(&mut self, base: &Value, f: &'a Field) -> Value {
        match base.get(f.name.as_str()) {
            Some(inner) if !f.sel.is_empty() => self.project(inner, &f.sel),
            Some(inner) => inner.clone(),
            None => Value::Null,
        }
    }

    // -- connections --------------------------------------------------------

    /// Validates `first`/`last` (1-100 as documented) and applies
    /// `after`/`before`; `keys` are in presentation order, descending when
    /// `desc`.
    fn window(
        &mut self,
        f: &'a Field,
        conn: &str,
        keys: &[(i64, i64)],
        desc: bool,
    ) -> Option<Window> {
        let first = self.arg_i64(f, "first");
        let last = self.arg_i64(f, "last");
        let wants_items = self
            .fields(&f.sel, "")
            .iter()
            .any(|cf| cf.name == "nodes" || cf.name == "edges");
        if first.is_none() && last.is_none() && wants_items {
            self.error_at(
                f,
                "MISSING_PAGINATION_BOUNDARIES",
                format!("You must provide a `first` or `last` value to properly paginate the `{conn}` connection."),
            );
            return None;
        }
        for (arg, n) in [("first", first), ("last", last)] {
            if let Some(n) = n {
                if n < 0 {
                    self.error_at(
                        f,
                        "",
                        format!("`{arg}` on the `{conn}` connection cannot be less than zero."),
                    );
                    return None;
                }
                if n > 100 {
                    self.error_at(
                        f,
                        "EXCESSIVE_PAGINATION",
                        format!("Requesting {n} records on the `{conn}` connection exceeds the `{arg}` limit of 100 records."),
                    );
                    return None;
                }
            }
        }
        let len = keys.len();
        let mut start = 0usize;
        let mut end = len;
        for (arg, is_after) in [("after", true), ("before", false)] {
            if let Some(c) = self.arg_str(f, arg) {
                let k = match decode_cursor(&c) {
                    Some(k) => k,
                    None => {
                        self.error_at(
                            f,
                            "INVALID_CURSOR_ARGUMENTS",
                            format!("`{c}` does not appear to be a valid cursor."),
                        );
                        return None;
                    }
                };
                if is_after {
                    start = keys
                        .iter()
                        .position(|x| if desc { *x < k } else { *x > k })
                        .unwrap_or(len);
                } else {
                    end = keys
                        .iter()
                        .position(|x| if desc { *x <= k } else { *x >= k })
                        .unwrap_or(len);
                }
            }
        }
        let end = end.max(start);
        let mut s = start;
        let mut e = end;
        if let Some(n) = first {
            e = e.min(s + n as usize);
        }
        if let Some(n) = last {
            s = s.max(e.saturating_sub(n as usize));
        }
        let idx: Vec<usize> = (s..e).collect();
        let cursors = idx.iter().map(|i| encode_cursor(keys[*i])).collect();
        Some(Window {
            idx,
            cursors,
            has_next: e < len,
            has_prev: s > 0,
        })
    }

    fn conn_output(
        &mut self,
        f: &'a Field,
        type_name: &str,
        total: usize,
        w: &Window,
        node: NodeFn<'_, 'a>,
        extra: &Map<String, Value>,
    ) -> Value {
        let conn_type = format!("{type_name}Connection");
        let edge_type = format!("{type_name}Edge");
        let fields = self.fields(&f.sel, &conn_type);
        let mut out = Map::new();
        for cf in fields {
            let v = match cf.name.as_str() {
                "totalCount" => json!(total),
                "pageInfo" => {
                    let pi = json!({
                        "__typename": "PageInfo",
                        "hasNextPage": w.has_next,
                        "hasPreviousPage": w.has_prev,
                        "startCursor": w.cursors.first(),
                        "endCursor": w.cursors.last()
                    });
                    self.project(&pi, &cf.sel)
                }
                "nodes" => {
                    self.path.push(json!(cf.key()));
                    let mut items = Vec::with_capacity(w.idx.len());
                    for (k, i) in w.idx.iter().enumerate() {
                        self.path.push(json!(k));
                        items.push(node(&mut *self, *i, &cf.sel));
                        self.path.pop();
                    }
                    self.path.pop();
                    Value::Array(items)
                }
                "edges" => {
                    self.path.push(json!(cf.key()));
                    let efs = self.fields(&cf.sel, &edge_type);
                    let mut items = Vec::with_capacity(w.idx.len());
                    for (k, i) in w.idx.iter().enumerate() {
                        self.path.push(json!(k));
                        let mut em = Map::new();
                        for ef in efs.iter().copied() {
                            let ev = match ef.name.as_str() {
                                "cursor" => json!(w.cursors[k]),
                                "node" => {
                                    self.path.push(json!(ef.key()));
                                    let n = node(&mut *self, *i, &ef.sel);
                                    self.path.pop();
                                    n
                                }
                                "__typename" => json!(edge_type),
                                _ => Value::Null,
                            };
                            put(&mut em, ef.key(), ev);
                        }
                        self.path.pop();
                        items.push(Value::Object(em));
                    }
                    self.path.pop();
                    Value::Array(items)
                }
                "__typename" => json!(conn_type),
                other => extra.get(other).cloned().unwrap_or(Value::Null),
            };
            put(&mut out, cf.key(), v);
        }
        Value::Object(out)
    }

    // -- plain objects --------------------------------------------------------

    fn actor_base(&self, login: &str) -> Value {
        let bot = is_bot(login);
        let id = user_id(login);
        // GraphQL shows a bot's login without the REST `[bot]` suffix.
        let shown = login.trim_end_matches("[bot]").to_string();
        let kind = if bot { "Bot" } else { "User" };
        let path = if bot {
            format!("/apps/{shown}")
        } else {
            format!("/{login}")
        };
        json!({
            "__typename": kind,
            "login": shown,
            "id": node_id(kind, id),
            "databaseId": id,
            "url": format!("{}{}", self.ctx.web, path),
            "resourcePath": path,
            "avatarUrl": format!("https://avatars.githubusercontent.com/u/{id}?v=4")
        })
    }

    fn owner_base(&self, login: &str) -> Value {
        if login.eq_ignore_ascii_case(&self.org.name) {
            let id = org_id(login);
            json!({
                "__typename": "Organization",
                "login": login,
                "name": login,
                "id": node_id("Organization", id),
                "databaseId": id,
                "url": format!("{}/{}", self.ctx.web, login),
                "resourcePath": format!("/{login}"),
                "avatarUrl": format!("https://avatars.githubusercontent.com/u/{id}?v=4")
            })
        } else {
            self.actor_base(login)
        }
    }

    fn commit_base(&self, r: &Repo, c: &Commit) -> Value {
        let web = repo_web(self.ctx, r);
        let headline = c.message.lines().next().unwrap_or("").to_string();
        let body = match c.message.split_once('\n') {
            Some((_, rest)) => rest.trim_start_matches('\n').to_string(),
            None => String::new(),
        };
        let user = match &c.author_login {
            Some(l) => self.actor_base(l),
            None => Value::Null,
        };
        let git_actor = |at: &DateTime<Utc>| {
            json!({
                "__typename": "GitActor",
                "name": c.author_name,
                "email": c.author_email,
                "date": git_ts(at),
                "user": user.clone()
            })
        };
        let parents: Vec<Value> = c
            .parents
            .iter()
            .map(|p| json!({"__typename": "Commit", "oid": p, "abbreviatedOid": &p[..std::cmp::min(7, p.len())]}))
            .collect();
        let abbrev = &c.sha[..std::cmp::min(7, c.sha.len())];
        let author = git_actor(&c.authored_at);
        let committer = git_actor(&c.committed_at);
        json!({
            "__typename": "Commit",
            "id": node_id("Commit", format!("{}:{}", repo_id(r), c.sha)),
            "oid": c.sha,
            "abbreviatedOid": abbrev,
            "authoredDate": ts(&c.authored_at),
            "committedDate": ts(&c.committed_at),
            "pushedDate": null,
            "message": c.message,
            "messageHeadline": headline,
            "messageBody": body,
            "url": format!("{web}/commit/{}", c.sha),
            "commitUrl": format!("{web}/commit/{}", c.sha),
            "resourcePath": format!("/{}/commit/{}", r.full_name(), c.sha),
            "additions": 0,
            "deletions": 0,
            "changedFiles": 0,
            "changedFilesIfAvailable": 0,
            "authoredByCommitter": true,
            "committedViaWeb": false,
            "author": author,
            "committer": committer,
            "parents": {
                "__typename": "CommitConnection",
                "totalCount": c.parents.len(),
                "nodes": parents,
                "pageInfo": {"__typename": "PageInfo", "hasNextPage": false, "hasPreviousPage": false, "startCursor": null, "endCursor": null}
            }
        })
    }

    fn commit_or_oid(&self, r: &Repo, sha: &str) -> Value {
        match r.commits.get(sha) {
            Some(c) => self.commit_base(r, c),
            None => json!({"__typename": "Commit", "oid": sha}),
        }
    }

    fn repo_base(&self, r: &Repo) -> Value {
        let id = repo_id(r);
        let web = repo_web(self.ctx, r);
        let meta = RepoMeta::of(r);
        let default_ref = match r.head() {
            Some(h) => json!({
                "__typename": "Ref",
                "id": node_id("Ref", format!("{}:refs/heads/{}", id, r.default_branch)),
                "name": r.default_branch,
                "prefix": "refs/heads/",
                "target": self.commit_or_oid(r, h)
            }),
            None => Value::Null,
        };
        json!({
            "__typename": "Repository",
            "id": node_id("Repository", id),
            "databaseId": id,
            "name": r.name,
            "nameWithOwner": r.full_name(),
            "owner": self.owner_base(&r.owner),
            "url": web,
            "resourcePath": format!("/{}", r.full_name()),
            "isArchived": r.archived,
            "isPrivate": false,
            "isFork": false,
            "isDisabled": false,
            "isEmpty": r.commits.is_empty(),
            "visibility": "PUBLIC",
            "description": null,
            "createdAt": ts(&meta.created_at),
            "pushedAt": ts(&meta.pushed_at),
            "updatedAt": ts(&meta.pushed_at),
            "defaultBranchRef": default_ref
        })
    }

    fn pull_base(&self, r: &Repo, p: &Pull) -> Value {
        let id = pull_db_id(r, p.number);
        let web = repo_web(self.ctx, r);
        let n = p.number;
        let merge_commit = match p.merge_commit_sha.as_deref() {
            Some(s) => self.commit_or_oid(r, s),
            None => Value::Null,
        };
        let merged_by = if p.merged_at.is_some() {
            self.actor_base(&p.author)
        } else {
            Value::Null
        };
        let review_decision = if p.reviews.iter().any(|rv| rv.state == "APPROVED") {
            json!("APPROVED")
        } else if p.reviews.iter().any(|rv| rv.state == "CHANGES_REQUESTED") {
            json!("CHANGES_REQUESTED")
        } else if p.state == "open" {
            json!("REVIEW_REQUIRED")
        } else {
            Value::Null
        };
        let open = p.state == "open";
        json!({
            "__typename": "PullRequest",
            "id": node_id("PullRequest", id),
            "databaseId": id,
            "fullDatabaseId": id.to_string(),
            "number": n,
            "title": p.title,
            "body": "",
            "bodyText": "",
            "url": format!("{web}/pull/{n}"),
            "permalink": format!("{web}/pull/{n}"),
            "resourcePath": format!("/{}/pull/{n}", r.full_name()),
            "state": pr_state(p),
            "closed": p.state == "closed",
            "merged": p.merged_at.is_some(),
            "isDraft": p.is_draft,
            "locked": false,
            "isCrossRepository": false,
            "createdAt": ts(&p.created_at),
            "updatedAt": ts(&p.updated_at),
            "publishedAt": ts(&p.created_at),
            "lastEditedAt": null,
            "mergedAt": ts_opt(&p.merged_at),
            "closedAt": ts_opt(&p.closed_at),
            "author": self.actor_base(&p.author),
            "authorAssociation": "MEMBER",
            "mergedBy": merged_by,
            "baseRefName": p.base_ref,
            "headRefName": p.head_ref,
            "baseRefOid": super::rest::pull_base_sha(r, p),
            "headRefOid": pull_head_sha(r, p),
            "additions": p.additions,
            "deletions": p.deletions,
            "changedFiles": (p.additions + p.deletions) / 40 + 1,
            "mergeCommit": merge_commit,
            "mergeable": if open { "MERGEABLE" } else { "UNKNOWN" },
            "reviewDecision": review_decision,
            "totalCommentsCount": 0
        })
    }

    fn review_base(&self, r: &Repo, p: &Pull, rv: &Review) -> Value {
        let web = repo_web(self.ctx, r);
        let at = rv.submitted_at.unwrap_or(p.created_at);
        json!({
            "__typename": "PullRequestReview",
            "id": rv.node_id,
            "databaseId": rv.id,
            "fullDatabaseId": rv.id.to_string(),
            "author": self.actor_base(&rv.author),
            "authorAssociation": "MEMBER",
            "state": rv.state,
            "submittedAt": ts_opt(&rv.submitted_at),
            "publishedAt": ts_opt(&rv.submitted_at),
            "createdAt": ts(&at),
            "updatedAt": ts(&at),
            "body": "",
            "bodyText": "",
            "url": format!("{web}/pull/{}#pullrequestreview-{}", p.number, rv.id),
            "commit": {"__typename": "Commit", "oid": pull_head_sha(r, p)}
        })
    }

    fn status_base(&self, d: &Deployment, s: &DeploymentStatus) -> Value {
        json!({
            "__typename": "DeploymentStatus",
            "id": node_id("DeploymentStatus", s.id),
            "state": s.state.to_ascii_uppercase(),
            "createdAt": ts(&s.created_at),
            "updatedAt": ts(&s.created_at),
            "description": s.description,
            "environment": d.environment,
            "environmentUrl": s.environment_url,
            "logUrl": s.log_url,
            "creator": self.actor_base(&d.creator)
        })
    }

    fn deployment_base(&self, r: &Repo, d: &Deployment, active: &HashMap<String, u64>) -> Value {
        let state = match d.latest_status().map(|s| s.state.as_str()) {
            None => "PENDING",
            Some("success") => {
                if active.get(&d.environment) == Some(&d.id) {
                    "ACTIVE"
                } else {
                    "INACTIVE"
                }
            }
            Some("failure") => "FAILURE",
            Some("error") => "ERROR",
            Some("inactive") => {
                if d.transient_environment {
                    "DESTROYED"
                } else {
                    "INACTIVE"
                }
            }
            Some("in_progress") => "IN_PROGRESS",
            Some("queued") => "QUEUED",
            Some("waiting") => "WAITING",
            Some(_) => "PENDING",
        };
        // `ref` is null when the deployment was created from a sha or the
        // ref no longer exists.
        let git_ref = if r.branches.contains_key(&d.git_ref) {
            json!({
                "__typename": "Ref",
                "id": node_id("Ref", format!("{}:refs/heads/{}", repo_id(r), d.git_ref)),
                "name": d.git_ref,
                "prefix": "refs/heads/"
            })
        } else {
            Value::Null
        };
        json!({
            "__typename": "Deployment",
            "id": node_id("Deployment", d.id),
            "databaseId": d.id,
            "commitOid": d.sha,
            "commit": self.commit_or_oid(r, &d.sha),
            "createdAt": ts(&d.created_at),
            "updatedAt": ts(&d.updated_at),
            "environment": d.environment,
            "latestEnvironment": d.environment,
            "originalEnvironment": d.environment,
            "task": d.task,
            "description": d.description,
            "payload": "{}",
            "state": state,
            "ref": git_ref,
            "creator": self.actor_base(&d.creator)
        })
    }

    fn rate_base(&self) -> Value {
        json!({
            "__typename": "RateLimit",
            "cost": self.rate.cost,
            "limit": self.rate.limit,
            "nodeCount": self.rate.node_count,
            "remaining": self.rate.remaining,
            "resetAt": ts(&self.rate.reset),
            "used": self.rate.used
        })
    }

    // -- resolvers ------------------------------------------------------------

    fn run(&mut self, sel: &'a [Sel]) -> Value {
        let fields = self.fields(sel, "Query");
        let mut data = Map::new();
        for f in fields {
            self.path.push(json!(f.key()));
            let v = match f.name.as_str() {
                "repository" => self.repository_field(f),
                "organization" => self.organization_field(f),
                "rateLimit" => {
                    let base = self.rate_base();
                    self.project(&base, &f.sel)
                }
                "viewer" => {
                    let base = self.actor_base("flowmeter-mock");
                    self.project(&base, &f.sel)
                }
                "__typename" => json!("Query"),
                other => {
                    let mut e = Map::new();
                    e.insert("path".to_string(), Value::Array(self.path.clone()));
                    e.insert(
                        "extensions".to_string(),
                        json!({"code": "undefinedField", "typeName": "Query", "fieldName": other}),
                    );
                    e.insert(
                        "locations".to_string(),
                        json!([{"line": f.line, "column": f.col}]),
                    );
                    e.insert(
                        "message".to_string(),
                        json!(format!("Field '{other}' doesn't exist on type 'Query'")),
                    );
                    self.errors.push(Value::Object(e));
                    Value::Null
                }
            };
            self.path.pop();
            put(&mut data, f.key(), v);
        }
        Value::Object(data)
    }

    fn repository_field(&mut self, f: &'a Field) -> Value {
        let owner = self.arg_str(f, "owner").unwrap_or_default();
        let name = self.arg_str(f, "name").unwrap_or_default();
        let org: &'a Org = self.org;
        match org.find(&owner, &name) {
            Some(r) => self.repository(r, &f.sel),
            None => {
                self.error_at(
                    f,
                    "NOT_FOUND",
                    format!("Could not resolve to a Repository with the name '{owner}/{name}'."),
                );
                Value::Null
            }
        }
    }

    fn organization_field(&mut self, f: &'a Field) -> Value {
        let login = self.arg_str(f, "login").unwrap_or_default();
        let org: &'a Org = self.org;
        if !login.eq_ignore_ascii_case(&org.name) {
            self.error_at(
                f,
                "NOT_FOUND",
                format!("Could not resolve to an Organization with the login of '{login}'."),
            );
            return Value::Null;
        }
        let fields = self.fields(&f.sel, "Organization");
        let base = self.owner_base(&org.name);
        let mut out = Map::new();
        for cf in fields {
            self.path.push(json!(cf.key()));
            let v = match cf.name.as_str() {
                "repositories" => {
                    let mut repos: Vec<&'a Repo> = org
                        .repos
                        .iter()
                        .filter(|r| r.owner.eq_ignore_ascii_case(&org.name))
                        .collect();
                    repos.sort_by_key(|r| r.name.to_ascii_lowercase());
                    let keys: Vec<(i64, i64)> = (0..repos.len()).map(|i| (i as i64, 0)).collect();
                    match self.window(cf, "repositories", &keys, false) {
                        Some(w) => {
                            let node = |ex: &mut Exec<'a>, i: usize, s: &'a [Sel]| -> Value {
                                ex.repository(repos[i], s)
                            };
                            self.conn_output(cf, "Repository", repos.len(), &w, &node, &Map::new())
                        }
                        None => Value::Null,
                    }
                }
                _ => self.project_field(&base, cf),
            };
            self.path.pop();
            put(&mut out, cf.key(), v);
        }
        Value::Object(out)
    }

    fn repository(&mut self, r: &'a Repo, sel: &'a [Sel]) -> Value {
        let fields = self.fields(sel, "Repository");
        let mut base: Option<Value> = None;
        let mut out = Map::new();
        for f in fields {
            self.path.push(json!(f.key()));
            let v = match f.name.as_str() {
                "pullRequests" => self.pull_requests(r, f),
                "deployments" => self.deployments(r, f),
                "pullRequest" => {
                    let n = self.arg_i64(f, "number").unwrap_or(-1);
                    match r.pulls.iter().find(|p| p.number as i64 == n) {
                        Some(p) => self.pull_request(r, p, &f.sel),
                        None => {
                            self.error_at(
                                f,
                                "NOT_FOUND",
                                format!(
                                    "Could not resolve to a PullRequest with the number of {n}."
                                ),
                            );
                            Value::Null
                        }
                    }
                }
                _ => {
                    if base.is_none() {
                        base = Some(self.repo_base(r));
                    }
                    match &base {
                        Some(b) => self.project_field(b, f),
                        None => Value::Null,
                    }
                }
            };
            self.path.pop();
            put(&mut out, f.key(), v);
        }
        Value::Object(out)
    }

    fn pull_requests(&mut self, r: &'a Repo, f: &'a Field) -> Value {
        let states = self.arg_list(f, "states");
        let labels = self.arg_list(f, "labels");
        let base_ref = self.arg_str(f, "baseRefName");
        let head_ref = self.arg_str(f, "headRefName");
        let order = self.arg(f, "orderBy");
        let (field, desc) = match &order {
            Some(o) => (
                o.get("field")
                    .and_then(|v| v.as_str())
                    .unwrap_or("CREATED_AT")
                    .to_string(),
                o.get("direction").and_then(|v| v.as_str()) == Some("DESC"),
            ),
            None => ("NUMBER".to_string(), false),
        };
        let mut prs: Vec<&'a Pull> = r
            .pulls
            .iter()
            .filter(|p| {
                states
                    .as_ref()
                    .is_none_or(|s| s.iter().any(|x| x == pr_state(p)))
            })
            .filter(|p| {
                labels.as_ref().is_none_or(|ls| {
                    ls.iter()
                        .any(|l| p.labels.iter().any(|x| x.eq_ignore_ascii_case(l)))
                })
            })
            .filter(|p| base_ref.as_ref().is_none_or(|b| &p.base_ref == b))
            .filter(|p| head_ref.as_ref().is_none_or(|h| &p.head_ref == h))
            .collect();
        let key = |p: &Pull| -> (i64, i64) {
            match field.as_str() {
                "UPDATED_AT" => (p.updated_at.timestamp_millis(), p.number as i64),
                "CREATED_AT" => (p.created_at.timestamp_millis(), p.number as i64),
                "COMMENTS" => (0, p.number as i64),
                _ => (p.number as i64, 0),
            }
        };
        prs.sort_by_key(|p| key(p));
        if desc {
            prs.reverse();
        }
        let keys: Vec<(i64, i64)> = prs.iter().map(|p| key(p)).collect();
        let w = match self.window(f, "pullRequests", &keys, desc) {
            Some(w) => w,
            None => return Value::Null,
        };
        let node =
            |ex: &mut Exec<'a>, i: usize, s: &'a [Sel]| -> Value { ex.pull_request(r, prs[i], s) };
        self.conn_output(f, "PullRequest", prs.len(), &w, &node, &Map::new())
    }

    fn pull_request(&mut self, r: &'a Repo, p: &'a Pull, sel: &'a [Sel]) -> Value {
        let fields = self.fields(sel, "PullRequest");
        let mut base: Option<Value> = None;
        let mut out = Map::new();
        for f in fields {
            self.path.push(json!(f.key()));
            let v = match f.name.as_str() {
                "labels" => self.labels_conn(r, p, f),
                "reviews" | "latestReviews" | "latestOpinionatedReviews" => {
                    self.reviews_conn(r, p, f)
                }
                "commits" => self.pr_commits_conn(r, p, f),
                "files" => self.files_conn(p, f),
                "timelineItems" => self.timeline_conn(r, p, f),
                _ => {
                    if base.is_none() {
                        base = Some(self.pull_base(r, p));
                    }
                    match &base {
                        Some(b) => self.project_field(b, f),
                        None => Value::Null,
                    }
                }
            };
            self.path.pop();
            put(&mut out, f.key(), v);
        }
        Value::Object(out)
    }

    fn labels_conn(&mut self, r: &'a Repo, p: &'a Pull, f: &'a Field) -> Value {
        let keys: Vec<(i64, i64)> = (0..p.labels.len()).map(|i| (i as i64, 0)).collect();
        let w = match self.window(f, "labels", &keys, false) {
            Some(w) => w,
            None => return Value::Null,
        };
        let web = repo_web(self.ctx, r);
        let node = |ex: &mut Exec<'a>, i: usize, s: &'a [Sel]| -> Value {
            let name = &p.labels[i];
            let id = super::rest::label_id(name);
            let b = json!({
                "__typename": "Label",
                "id": node_id("Label", id),
                "name": name,
                "color": format!("{:06x}", super::util::fnv64(&[b"color", name.as_bytes()]) & 0xff_ffff),
                "description": null,
                "isDefault": matches!(name.as_str(), "bug" | "documentation" | "enhancement"),
                "url": format!("{web}/labels/{name}"),
                "resourcePath": format!("/{}/labels/{name}", r.full_name())
            });
            ex.project(&b, s)
        };
        self.conn_output(f, "Label", p.labels.len(), &w, &node, &Map::new())
    }

    /// `PullRequest.files`: `PullRequestChangedFile` (`path`, `additions`,
    /// `deletions`, `changeType`), in path order as GitHub lists them.
    fn files_conn(&mut self, p: &'a Pull, f: &'a Field) -> Value {
        let keys: Vec<(i64, i64)> = (0..p.files.len()).map(|i| (i as i64, 0)).collect();
        let w = match self.window(f, "files", &keys, false) {
            Some(w) => w,
            None => return Value::Null,
        };
        let node = |ex: &mut Exec<'a>, i: usize, s: &'a [Sel]| -> Value {
            let b = json!({
                "__typename": "PullRequestChangedFile",
                "path": p.files[i],
                "additions": 1,
                "deletions": 0,
                "changeType": "MODIFIED",
                "viewerViewedState": "UNVIEWED"
            });
            ex.project(&b, s)
        };
        self.conn_output(
            f,
            "PullRequestChangedFile",
            p.files.len(),
            &w,
            &node,
            &Map::new(),
        )
    }

    fn reviews_conn(&mut self, r: &'a Repo, p: &'a Pull, f: &'a Field) -> Value {
        let states = self.arg_list(f, "states");
        let mut reviews: Vec<&'a Review> = p
            .reviews
            .iter()
            .filter(|rv| states.as_ref().is_none_or(|s| s.contains(&rv.state)))
            .collect();
        reviews.sort_by_key(|rv| (rv.submitted_at.is_none(), rv.submitted_at, rv.id));
        if f.name != "reviews" {
            // The latest (opinionated) review of each author.
            let opinionated = f.name == "latestOpinionatedReviews";
            let mut latest: Vec<&'a Review> = Vec::new();
            for rv in reviews.iter().rev() {
                if rv.state == "PENDING"
                    || (opinionated && rv.state != "APPROVED" && rv.state != "CHANGES_REQUESTED")
                {
                    continue;
                }
                if !latest.iter().any(|x| x.author == rv.author) {
                    latest.push(*rv);
                }
            }
            latest.reverse();
            reviews = latest;
        }
        let keys: Vec<(i64, i64)> = reviews
            .iter()
            .enumerate()
            .map(|(i, rv)| (i as i64, rv.id as i64))
            .collect();
        let w = match self.window(f, "reviews", &keys, false) {
            Some(w) => w,
            None => return Value::Null,
        };
        let node = |ex: &mut Exec<'a>, i: usize, s: &'a [Sel]| -> Value {
            let b = ex.review_base(r, p, reviews[i]);
            ex.project(&b, s)
        };
        self.conn_output(
            f,
            "PullRequestReview",
            reviews.len(),
            &w,
            &node,
            &Map::new(),
        )
    }

    fn pr_commits_conn(&mut self, r: &'a Repo, p: &'a Pull, f: &'a Field) -> Value {
        let shas: Vec<&'a String> = p.commits.iter().take(250).collect();
        let keys: Vec<(i64, i64)> = (0..shas.len()).map(|i| (i as i64, 0)).collect();
        let w = match self.window(f, "commits", &keys, false) {
            Some(w) => w,
            None => return Value::Null,
        };
        let web = repo_web(self.ctx, r);
        let pid = pull_db_id(r, p.number);
        let node = |ex: &mut Exec<'a>, i: usize, s: &'a [Sel]| -> Value {
            let sha = shas[i];
            let b = json!({
                "__typename": "PullRequestCommit",
                "id": node_id("PullRequestCommit", format!("{pid}:{sha}")),
                "url": format!("{web}/pull/{}/commits/{sha}", p.number),
                "resourcePath": format!("/{}/pull/{}/commits/{sha}", r.full_name(), p.number),
                "commit": ex.commit_or_oid(r, sha)
            });
            ex.project(&b, s)
        };
        self.conn_output(f, "PullRequestCommit", shas.len(), &w, &node, &Map::new())
    }

    fn timeline_conn(&mut self, r: &'a Repo, p: &'a Pull, f: &'a Field) -> Value {
        let types = self.arg_list(f, "itemTypes");
        let wanted = types
            .as_ref()
            .is_none_or(|t| t.iter().any(|x| x == "READY_FOR_REVIEW_EVENT"));
        let events: Vec<DateTime<Utc>> = match (wanted, p.ready_for_review_at) {
            (true, Some(at)) => vec![at],
            _ => Vec::new(),
        };
        let keys: Vec<(i64, i64)> = events.iter().map(|t| (t.timestamp_millis(), 0)).collect();
        let w = match self.window(f, "timelineItems", &keys, false) {
            Some(w) => w,
            None => return Value::Null,
        };
        let web = repo_web(self.ctx, r);
        let pid = pull_db_id(r, p.number);
        let node = |ex: &mut Exec<'a>, i: usize, s: &'a [Sel]| -> Value {
            let at = events[i];
            let b = json!({
                "__typename": "ReadyForReviewEvent",
                "id": node_id("ReadyForReviewEvent", pid),
                "createdAt": ts(&at),
                "actor": ex.actor_base(&p.author),
                "pullRequest": {"__typename": "PullRequest", "number": p.number},
                "url": format!("{web}/pull/{}#event-{pid}", p.number),
                "resourcePath": format!("/{}/pull/{}#event-{pid}", r.full_name(), p.number)
            });
            ex.project(&b, s)
        };
        let mut extra = Map::new();
        extra.insert("filteredCount".to_string(), json!(events.len()));
        extra.insert("pageCount".to_string(), json!(events.len()));
        extra.insert("updatedAt".to_string(), json!(ts(&p.updated_at)));
        self.conn_output(
            f,
            "PullRequestTimelineItems",
            events.len(),
            &w,
            &node,
            &extra,
        )
    }

    fn deployments(&mut self, r: &'a Repo, f: &'a Field) -> Value {
        let envs = self.arg_list(f, "environments");
        let desc = self
            .arg(f, "orderBy")
            .and_then(|o| {
                o.get("direction")
                    .and_then(|d| d.as_str())
                    .map(|d| d == "DESC")
            })
            .unwrap_or(false);
        let mut ds: Vec<&'a Deployment> = r
            .deployments
            .iter()
            .filter(|d| envs.as_ref().is_none_or(|e| e.contains(&d.environment)))
            .collect();
        let key = |d: &Deployment| (d.created_at.timestamp_millis(), d.id as i64);
        ds.sort_by_key(|d| key(d));
        if desc {
            ds.reverse();
        }
        let keys: Vec<(i64, i64)> = ds.iter().map(|d| key(d)).collect();
        let w = match self.window(f, "deployments", &keys, desc) {
            Some(w) => w,
            None => return Value::Null,
        };
        // The newest successful deployment of each environment is ACTIVE;
        // older successful ones read INACTIVE.
        let mut newest: HashMap<String, (DateTime<Utc>, u64)> = HashMap::new();
        for d in &r.deployments {
            if d.latest_status()
                .map(|s| s.state == "success")
                .unwrap_or(false)
            {
                let e = newest
                    .entry(d.environment.clone())
                    .or_insert((d.created_at, d.id));
                if (d.created_at, d.id) > *e {
                    *e = (d.created_at, d.id);
                }
            }
        }
        let active: HashMap<String, u64> = newest.into_iter().map(|(k, v)| (k, v.1)).collect();
        let node = |ex: &mut Exec<'a>, i: usize, s: &'a [Sel]| -> Value {
            ex.deployment(r, ds[i], s, &active)
        };
        self.conn_output(f, "Deployment", ds.len(), &w, &node, &Map::new())
    }

    fn deployment(
        &mut self,
        r: &'a Repo,
        d: &'a Deployment,
        sel: &'a [Sel],
        active: &HashMap<String, u64>,
    ) -> Value {
        let fields = self.fields(sel, "Deployment");
        let mut base: Option<Value> = None;
        let mut out = Map::new();
        for f in fields {
            self.path.push(json!(f.key()));
            let v = match f.name.as_str() {
                "statuses" => {
                    let mut st: Vec<&'a DeploymentStatus> = d.statuses.iter().collect();
                    st.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.id)));
                    let keys: Vec<(i64, i64)> = st
                        .iter()
                        .map(|s| (s.created_at.timestamp_millis(), s.id as i64))
                        .collect();
                    match self.window(f, "statuses", &keys, true) {
                        Some(w) => {
                            let node = |ex: &mut Exec<'a>, i: usize, s: &'a [Sel]| -> Value {
                                let b = ex.status_base(d, st[i]);
                                ex.project(&b, s)
                            };
                            self.conn_output(
                                f,
                                "DeploymentStatus",
                                st.len(),
                                &w,
                                &node,
                                &Map::new(),
                            )
                        }
                        None => Value::Null,
                    }
                }
                "latestStatus" => match d.latest_status() {
                    Some(s) => {
                        let b = self.status_base(d, s);
                        self.project(&b, &f.sel)
                    }
                    None => Value::Null,
                },
                _ => {
                    if base.is_none() {
                        base = Some(self.deployment_base(r, d, active));
                    }
                    match &base {
                        Some(b) => self.project_field(b, f),
                        None => Value::Null,
                    }
                }
            };
            self.path.pop();
            put(&mut out, f.key(), v);
        }
        Value::Object(out)
    }
}
