//! The connector framework every source shares.
//!
//! A connector knows one API (or a local git clone) and nothing of metrics:
//! it turns what changed upstream since its last [`Cursor`] into interchange
//! [`Event`]s. The binary stores each [`SyncBatch`] through the same
//! validation and transactional upsert as `flowmeter import`, together with
//! the batch's cursor, so an interrupted sync resumes where it stopped and a
//! second sync with nothing new upstream writes nothing.

pub mod codeowners;
pub mod conformance;
pub mod fields;
pub mod http;
pub mod incident;
pub mod mark;
pub mod pr;
pub mod report;
pub mod source;

use chrono::{DateTime, Utc};
use flowmeter_model::Event;
use serde_json::Value;

/// Where a connector stopped; opaque JSON that only the connector reads.
/// Stored per source name next to the data it produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cursor(pub Value);

/// What a sync run asks of a connector.
#[derive(Debug, Clone)]
pub struct SyncContext {
    /// Backfill start for a first (or `--full`) sync.
    pub since: DateTime<Utc>,
    /// Ignore the stored cursor and fetch everything since `since`.
    pub full: bool,
}

impl SyncContext {
    /// A sync that backfills from `since` and resumes from a stored cursor.
    pub fn since(since: DateTime<Utc>) -> Self {
        SyncContext { since, full: false }
    }
}

/// What [`Connector::next_batch`] answers: a batch, `None` once up to
/// date, or the error that stopped the sync.
pub type Next = Result<Option<SyncBatch>, ConnectorError>;

/// What [`Connector::fetch_commits`] answers: the commits found, or `None`
/// when the source cannot fetch single commits.
pub type Fetched = Result<Option<Vec<Event>>, ConnectorError>;

/// One unit of progress: events to store and the cursor to save with them.
#[derive(Debug, Default)]
pub struct SyncBatch {
    pub events: Vec<Event>,
    pub cursor: Cursor,
    /// HTTP requests (or other upstream calls) this batch cost.
    pub requests: u64,
    /// Unmapped upstream names etc.: facts for the coverage report.
    pub notes: Vec<String>,
    /// Ids of this source's incidents, delivered before, that are no
    /// incidents any more (declined, merged into another, cancelled): the
    /// store removes them, and what they were attributed to is relinked.
    pub withdrawn: Vec<String>,
}

/// An error a user can act on: names the source, the API call or repo, and
/// never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("{source_name}: authentication failed for `{call}`: check the token in `{token_env}`")]
    Unauthorized {
        source_name: String,
        call: String,
        token_env: String,
    },
    #[error("{source_name}: `{call}` was not found: {hint}")]
    NotFound {
        source_name: String,
        call: String,
        hint: String,
    },
    #[error("{source_name}: `{call}` failed: {message}")]
    Api {
        source_name: String,
        call: String,
        message: String,
    },
    #[error("{source_name}: configuration: {message}")]
    Config {
        source_name: String,
        message: String,
    },
    #[error("{source_name}: {message}")]
    Other {
        source_name: String,
        message: String,
    },
}

impl ConnectorError {
    /// A 404 with the hint `hint()` (what was not found and why that may
    /// be); any other error as it is.
    pub fn with_not_found_hint(self, hint: impl FnOnce() -> String) -> ConnectorError {
        match self {
            ConnectorError::NotFound {
                source_name, call, ..
            } => ConnectorError::NotFound {
                source_name,
                call,
                hint: hint(),
            },
            other => other,
        }
    }

    /// The source name this error is about.
    pub fn source_name(&self) -> &str {
        match self {
            ConnectorError::Unauthorized { source_name, .. }
            | ConnectorError::NotFound { source_name, .. }
            | ConnectorError::Api { source_name, .. }
            | ConnectorError::Config { source_name, .. }
            | ConnectorError::Other { source_name, .. } => source_name,
        }
    }

    /// The same error about another source (e.g. after
    /// [`http::token_from_env`], which knows no source name).
    pub fn with_source(mut self, name: &str) -> Self {
        match &mut self {
            ConnectorError::Unauthorized { source_name, .. }
            | ConnectorError::NotFound { source_name, .. }
            | ConnectorError::Api { source_name, .. }
            | ConnectorError::Config { source_name, .. }
            | ConnectorError::Other { source_name, .. } => *source_name = name.to_string(),
        }
        self
    }
}

/// A source of events. Implementations live in `connectors/<name>/`.
///
/// `sync` is called repeatedly: it returns the next batch after `cursor`, or
/// `None` when the source is up to date. The caller commits each batch with
/// its cursor before asking for the next, which is what makes a sync
/// resumable after an interruption.
#[async_trait::async_trait]
pub trait Connector: Send {
    /// The configured source name (`name` in `[[sources]]`, default the type).
    fn name(&self) -> &str;

    async fn next_batch(&mut self, ctx: &SyncContext, cursor: Option<&Cursor>) -> Next;

    /// Fetches the given commits of `repo` by SHA (with their parents), to
    /// close the commit graph: the sync asks for every parent of a stored
    /// commit that the store lacks (a branch's commits dated before the last
    /// sync arrive with the merge that brought them). `None` when the source
    /// cannot fetch single commits; a commit the source does not have is
    /// simply absent from the answer.
    async fn fetch_commits(&mut self, _repo: &str, _shas: &[String]) -> Fetched {
        Ok(None)
    }
}
