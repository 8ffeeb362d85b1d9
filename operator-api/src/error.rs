//! Why a task did not succeed. The variant carries the retry meaning, so an
//! operator says what a failure means and the worker decides nothing by
//! reading messages.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// Failed; retried (after the task's retry delay) if tries are left.
    #[error("{0}")]
    Failed(String),
    /// Failed, and the service said when to come back (HTTP 429 or 503
    /// with `Retry-After`, a rate limit): retried no sooner than `after`
    /// if tries are left.
    #[error("{message}")]
    RetryAfter { message: String, after: Duration },
    /// Failed in a way a retry cannot fix (a bad config after rendering, a
    /// missing connection, a 404): never retried.
    #[error("{0}")]
    Fatal(String),
    /// Nothing to do: the task ends `skipped` (a sensor's soft fail, a
    /// short-circuit) and downstream tasks follow their trigger rules.
    #[error("skipped: {0}")]
    Skipped(String),
    /// Stopped on request (timeout, shutdown, a user's action).
    #[error("cancelled")]
    Cancelled,
}

impl TaskError {
    /// `Failed` with `context` and the error's whole source chain
    /// (`writing s3://b/k: upload part 3: connection reset by peer`).
    pub fn failed(context: impl std::fmt::Display, err: &(dyn std::error::Error + 'static)) -> Self {
        TaskError::Failed(chain(context, err))
    }

    /// `Fatal` with `context` and the error's whole source chain.
    pub fn fatal(context: impl std::fmt::Display, err: &(dyn std::error::Error + 'static)) -> Self {
        TaskError::Fatal(chain(context, err))
    }

    /// The message without the kind, for logs and the stored error.
    pub fn message(&self) -> String {
        match self {
            TaskError::RetryAfter { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}

/// `context: error: its source: ...`, each message once (many errors repeat
/// their source's message in their own).
pub fn chain(context: impl std::fmt::Display, err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = context.to_string();
    let mut last = String::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        let msg = e.to_string();
        if !msg.is_empty() && !last.contains(&msg) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&msg);
        }
        last = msg;
        next = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("upload part 3")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn failures_carry_their_source_chain() {
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset by peer",
        ));
        assert_eq!(
            TaskError::failed("writing s3://b/k", &e).to_string(),
            "writing s3://b/k: upload part 3: connection reset by peer"
        );
        let r = TaskError::RetryAfter {
            message: "HTTP 429".into(),
            after: Duration::from_secs(30),
        };
        assert_eq!(r.message(), "HTTP 429");
        assert_eq!(
            TaskError::Skipped("no new file".into()).to_string(),
            "skipped: no new file"
        );
    }
}
