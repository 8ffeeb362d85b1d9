//! What went wrong reading or writing a location, with the meaning a
//! retry needs.

use updraft_operator_api::TaskError;

#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// The object, file or bucket is not there: a retry will not help.
    #[error("{location}: not found{}", paren(.detail))]
    NotFound { location: String, detail: String },
    /// Credentials refused or missing rights: a retry will not help.
    #[error("{location}: access denied{}", paren(.detail))]
    Denied { location: String, detail: String },
    /// Something is already at the destination and the write said it
    /// must not be (a failed precondition).
    #[error("{location}: already exists{}", paren(.detail))]
    Exists { location: String, detail: String },
    /// A request the service refused as wrong (a bad name, a precondition).
    #[error("{location}: {detail}")]
    Rejected { location: String, detail: String },
    /// Credentials could not be found or made.
    #[error("credentials: {0}")]
    Credentials(String),
    /// A network problem or a service error worth another try.
    #[error("{location}: {detail}")]
    Transient { location: String, detail: String },
    #[error("{location}: {source}")]
    Local {
        location: String,
        #[source]
        source: std::io::Error,
    },
    /// The producing side stopped before committing (it failed or
    /// panicked): nothing was made visible at the destination.
    #[error("the data was abandoned before it was complete; nothing was written")]
    Abandoned,
    #[error("cancelled")]
    Cancelled,
}

fn paren(d: &str) -> String {
    if d.is_empty() { String::new() } else { format!(" ({d})") }
}

impl From<IoError> for TaskError {
    fn from(e: IoError) -> Self {
        match e {
            IoError::Cancelled => TaskError::Cancelled,
            IoError::NotFound { .. }
            | IoError::Denied { .. }
            | IoError::Exists { .. }
            | IoError::Rejected { .. }
            | IoError::Credentials(_) => TaskError::Fatal(e.to_string()),
            IoError::Local { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                TaskError::Fatal(e.to_string())
            }
            IoError::Transient { .. } | IoError::Local { .. } | IoError::Abandoned => TaskError::Failed(e.to_string()),
        }
    }
}
