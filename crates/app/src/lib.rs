//! flowmeter's application layer: the use-cases (import, sync, metrics,
//! reports, explain, chat digests) that the command line and the server
//! both call. The faces only parse and print (the CLI) or route and encode
//! (the server); what a question means and how it is answered lives here,
//! so both give the same numbers for the same question.
//!
//! - [`query`]: a window and a scope from flags or URL parameters.
//! - [`read`]: metrics, reports, explain.
//! - [`ingest`]: files and request bodies into validated records.
//! - [`sync`]: pulling sources through their connectors into a store.
//! - [`post`]: the weekly digest as a Slack or Teams message.

pub mod demo;
pub mod export;
pub mod ingest;
pub mod lake;
pub mod post;
pub mod query;
pub mod read;
pub mod sync;

pub use query::Question;

/// Why a use-case failed. The faces map these to exit codes and HTTP
/// statuses: `Invalid` is the user's to fix (400), `NotFound` names what
/// does not exist (404), the rest are the store's or the system's (500).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Io(String, #[source] std::io::Error),
    #[error(transparent)]
    Store(#[from] flowmeter_store::StoreError),
    #[error(transparent)]
    Analysis(#[from] flowmeter_analysis::AnalysisError),
    #[error("rendering the report: {0}")]
    Render(#[from] flowmeter_report::pages::RenderError),
    #[error(transparent)]
    Connector(#[from] flowmeter_connector::ConnectorError),
    #[error("{0}")]
    Other(String),
}

impl AppError {
    /// Whether the user (their input, their config) can fix it.
    pub fn is_user_error(&self) -> bool {
        match self {
            AppError::Invalid(_) | AppError::NotFound(_) => true,
            AppError::Analysis(e) => !matches!(e, flowmeter_analysis::AnalysisError::Store(_)),
            AppError::Store(e) => matches!(e, flowmeter_store::StoreError::UnknownTeam { .. }),
            _ => false,
        }
    }
}
