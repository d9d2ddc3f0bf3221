//! Interchange records as Arrow columns, one record batch per record type,
//! appended to DuckDB in bulk (`Appender::append_record_batch`) instead of
//! row by row. Columns are in table order (queries/schema), list fields are
//! `VARCHAR[]`; the import adds a last `seq__` column ([`with_seq`]) that
//! numbers the records so that the newest record of a key wins.

use std::sync::Arc;

use duckdb::arrow::array::{
    Array, ArrayRef, Int64Array, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use duckdb::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use duckdb::arrow::record_batch::RecordBatch;
use flowmeter_model::{Event, EventKind, Extra, Timestamp};

#[derive(Clone, Copy)]
enum Type {
    Str,
    Ts,
    List,
    Int,
}

use Type::*;

/// Column names and types per record type, in table order.
fn spec(kind: EventKind) -> &'static [(&'static str, Type)] {
    match kind {
        EventKind::Deployment => &[
            ("source", Str),
            ("id", Str),
            ("service", Str),
            ("repo", Str),
            ("environment", Str),
            ("status", Str),
            ("started_at", Ts),
            ("finished_at", Ts),
            ("commit_sha", Str),
            ("commits", List),
            ("kind", Str),
            ("actor", Str),
            ("url", Str),
            ("ref", Str),
            ("labels", List),
            ("extra", Str),
        ],
        EventKind::Commit => &[
            ("source", Str),
            ("repo", Str),
            ("sha", Str),
            ("parents", List),
            ("authored_at", Ts),
            ("committed_at", Ts),
            ("author", Str),
            ("message", Str),
            ("extra", Str),
            ("files", List),
            ("owners", List),
        ],
        EventKind::PullRequest => &[
            ("source", Str),
            ("repo", Str),
            ("number", Int),
            ("title", Str),
            ("author", Str),
            ("base", Str),
            ("head", Str),
            ("labels", List),
            ("created_at", Ts),
            ("ready_at", Ts),
            ("merged_at", Ts),
            ("closed_at", Ts),
            ("merge_commit_sha", Str),
            ("commits", List),
            ("first_commit_at", Ts),
            ("additions", Int),
            ("deletions", Int),
            ("extra", Str),
            ("files", List),
            ("owners", List),
        ],
        EventKind::Review => &[
            ("source", Str),
            ("repo", Str),
            ("pr", Int),
            ("id", Str),
            ("author", Str),
            ("state", Str),
            ("submitted_at", Ts),
            ("extra", Str),
        ],
        EventKind::Incident => &[
            ("source", Str),
            ("id", Str),
            ("services", List),
            ("title", Str),
            ("severity", Str),
            ("url", Str),
            ("created_at", Ts),
            ("acknowledged_at", Ts),
            ("resolved_at", Ts),
            ("deployment_id", Str),
            ("deployment_source", Str),
            ("extra", Str),
            ("root_cause", Str),
        ],
    }
}

/// The column names of a record type's table, in table order.
pub(crate) fn names(kind: EventKind) -> impl Iterator<Item = &'static str> {
    spec(kind).iter().map(|(name, _)| *name)
}

/// Where column `name` is in a record type's table (and its batches).
pub(crate) fn position(kind: EventKind, name: &str) -> Option<usize> {
    names(kind).position(|n| n == name)
}

/// The columns of a record type's table with their DuckDB types, then
/// `seq__ BIGINT`: the definition of its staging table. Created this way
/// rather than `AS SELECT ... LIMIT 0` from the table, which DuckDB plans
/// and runs (0.71 -> 0.35 ms a table, DuckDB 2.0 from Python); a test
/// holds it to the table's own columns.
pub(crate) fn staging_definition(kind: EventKind) -> String {
    let columns = spec(kind).iter().map(|(name, t)| {
        let t = match t {
            Str => "VARCHAR",
            Ts => "TIMESTAMP",
            List => "VARCHAR[]",
            Int => "BIGINT",
        };
        format!("\"{name}\" {t}")
    });
    format!("{}, seq__ BIGINT", columns.collect::<Vec<_>>().join(", "))
}

enum Col {
    Str(StringBuilder),
    Ts(TimestampMicrosecondBuilder),
    List(ListBuilder<StringBuilder>),
    Int(Int64Builder),
}

/// The columns of one record type being filled, record by record.
pub(crate) struct Columns {
    kind: EventKind,
    cols: Vec<Col>,
    /// Records pushed since the last batch.
    rows: usize,
    /// The column being filled by the record being pushed.
    at: usize,
}

impl Columns {
    pub(crate) fn new(kind: EventKind) -> Columns {
        let cols = spec(kind)
            .iter()
            .map(|(_, t)| match t {
                Str => Col::Str(StringBuilder::new()),
                Ts => Col::Ts(TimestampMicrosecondBuilder::new()),
                List => Col::List(ListBuilder::new(StringBuilder::new())),
                Int => Col::Int(Int64Builder::new()),
            })
            .collect();
        Columns {
            kind,
            cols,
            rows: 0,
            at: 0,
        }
    }

    pub(crate) fn kind(&self) -> EventKind {
        self.kind
    }

    pub(crate) fn len(&self) -> usize {
        self.rows
    }

    fn next(&mut self) -> &mut Col {
        let i = self.at;
        self.at += 1;
        &mut self.cols[i]
    }

    fn s(&mut self, v: Option<&str>) {
        match self.next() {
            Col::Str(b) => b.append_option(v),
            _ => unreachable!("column type mismatch"),
        }
    }

    fn t(&mut self, v: Option<Timestamp>) {
        match self.next() {
            Col::Ts(b) => b.append_option(v.map(|t| t.timestamp_micros())),
            _ => unreachable!("column type mismatch"),
        }
    }

    fn l(&mut self, v: Option<&[String]>) {
        match self.next() {
            Col::List(b) => match v {
                Some(items) => {
                    for item in items {
                        b.values().append_value(item);
                    }
                    b.append(true);
                }
                None => b.append(false),
            },
            _ => unreachable!("column type mismatch"),
        }
    }

    fn i(&mut self, v: Option<i64>) {
        match self.next() {
            Col::Int(b) => b.append_option(v),
            _ => unreachable!("column type mismatch"),
        }
    }

    fn extra(&mut self, e: &Extra) {
        let text = (!e.is_empty()).then(|| serde_json::to_string(e).unwrap_or_default());
        self.s(text.as_deref());
    }

    /// Appends one record (of this batch's type).
    pub(crate) fn push(&mut self, event: &Event) {
        debug_assert_eq!(event.kind(), self.kind);
        self.at = 0;
        match event {
            Event::Deployment(d) => {
                self.s(Some(&d.source));
                self.s(Some(&d.id));
                self.s(Some(&d.service));
                self.s(d.repo.as_deref());
                self.s(Some(&d.environment));
                self.s(Some(d.status.as_str()));
                self.t(d.started_at);
                self.t(d.finished_at);
                self.s(Some(&d.commit_sha));
                self.l(d.commits.as_deref());
                self.s(Some(d.kind.as_str()));
                self.s(d.actor.as_deref());
                self.s(d.url.as_deref());
                self.s(d.git_ref.as_deref());
                self.l(Some(&d.labels));
                self.extra(&d.extra);
            }
            Event::Commit(c) => {
                self.s(Some(&c.source));
                self.s(Some(&c.repo));
                self.s(Some(&c.sha));
                self.l(c.parents.as_deref());
                self.t(Some(c.authored_at));
                self.t(c.committed_at);
                self.s(c.author.as_deref());
                self.s(c.message.as_deref());
                self.extra(&c.extra);
                self.l(c.files.as_deref());
                self.l(c.owners.as_deref());
            }
            Event::PullRequest(p) => {
                self.s(Some(&p.source));
                self.s(Some(&p.repo));
                self.i(Some(p.number));
                self.s(p.title.as_deref());
                self.s(p.author.as_deref());
                self.s(p.base.as_deref());
                self.s(p.head.as_deref());
                self.l(Some(&p.labels));
                self.t(Some(p.created_at));
                self.t(p.ready_at);
                self.t(p.merged_at);
                self.t(p.closed_at);
                self.s(p.merge_commit_sha.as_deref());
                self.l(p.commits.as_deref());
                self.t(p.first_commit_at);
                self.i(p.additions);
                self.i(p.deletions);
                self.extra(&p.extra);
                self.l(p.files.as_deref());
                self.l(p.owners.as_deref());
            }
            Event::Review(r) => {
                self.s(Some(&r.source));
                self.s(Some(&r.repo));
                self.i(Some(r.pr));
                self.s(Some(&r.id));
                self.s(Some(&r.author));
                self.s(Some(r.state.as_str()));
                self.t(Some(r.submitted_at));
                self.extra(&r.extra);
            }
            Event::Incident(i) => {
                self.s(Some(&i.source));
                self.s(Some(&i.id));
                self.l(Some(&i.services));
                self.s(i.title.as_deref());
                self.s(i.severity.as_deref());
                self.s(i.url.as_deref());
                self.t(Some(i.created_at));
                self.t(i.acknowledged_at);
                self.t(i.resolved_at);
                self.s(i.deployment_id.as_deref());
                self.s(i.deployment_source.as_deref());
                self.extra(&i.extra);
                self.s(i.root_cause.as_deref());
            }
        }
        debug_assert_eq!(self.at, self.cols.len(), "every column filled");
        self.rows += 1;
    }

    /// The record batch of everything pushed so far (the builders are
    /// emptied, ready for more).
    pub(crate) fn finish(&mut self) -> RecordBatch {
        self.rows = 0;
        let mut fields = Vec::with_capacity(self.cols.len());
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.cols.len());
        for ((name, _), col) in spec(self.kind).iter().zip(self.cols.iter_mut()) {
            let (dt, array): (DataType, ArrayRef) = match col {
                Col::Str(b) => (DataType::Utf8, Arc::new(b.finish())),
                Col::Ts(b) => (
                    DataType::Timestamp(TimeUnit::Microsecond, None),
                    Arc::new(b.finish()),
                ),
                Col::List(b) => {
                    let a = b.finish();
                    (a.data_type().clone(), Arc::new(a))
                }
                Col::Int(b) => (DataType::Int64, Arc::new(b.finish())),
            };
            fields.push(Field::new(*name, dt, true));
            arrays.push(array);
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
            .expect("columns of one length and their declared types")
    }
}

/// Whether two column types hold the same values: a list's item may be
/// named otherwise, or be nullable or not (DuckDB reads, and hands back,
/// the same values).
pub(crate) fn alike(a: &DataType, b: &DataType) -> bool {
    match (a, b) {
        (DataType::List(x), DataType::List(y)) => alike(x.data_type(), y.data_type()),
        _ => a == b,
    }
}

/// `batch` with a last column `seq__` numbering its rows from `first`.
pub(crate) fn with_seq(batch: RecordBatch, first: i64) -> RecordBatch {
    let rows = batch.num_rows() as i64;
    let schema = batch.schema();
    let mut fields: Vec<_> = schema.fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new("seq__", DataType::Int64, true)));
    let mut arrays = batch.columns().to_vec();
    arrays.push(Arc::new(Int64Array::from_iter_values(first..first + rows)));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .expect("a column of the batch's length")
}
