//! Where an operator writes its log, line by line, as lines are produced.

use std::sync::Arc;

use crate::BoxFuture;

/// Which stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
    /// Lines written by Updraft itself about the task.
    System,
}

type LineFn = dyn Fn(LogStream, &str) + Send + Sync;
type ReadyFn = dyn Fn() -> BoxFuture<'static, ()> + Send + Sync;

/// A task's log. `line` never blocks; an operator that streams a lot
/// (a process's output, a container's) awaits [`LogSink::ready`] between
/// lines, so a task that prints faster than the store takes lines waits
/// instead of growing the worker's memory without bound.
#[derive(Clone)]
pub struct LogSink {
    line: Arc<LineFn>,
    ready: Option<Arc<ReadyFn>>,
}

impl LogSink {
    pub fn new(f: impl Fn(LogStream, &str) + Send + Sync + 'static) -> Self {
        LogSink {
            line: Arc::new(f),
            ready: None,
        }
    }

    /// With a wait for room, called by [`LogSink::ready`].
    pub fn with_backpressure(mut self, ready: impl Fn() -> BoxFuture<'static, ()> + Send + Sync + 'static) -> Self {
        self.ready = Some(Arc::new(ready));
        self
    }

    pub fn line(&self, stream: LogStream, text: &str) {
        (self.line)(stream, text)
    }

    /// A line written by Updraft about the task (`System`).
    pub fn info(&self, text: &str) {
        self.line(LogStream::System, text)
    }

    /// Resolves once the log has room for more lines.
    pub async fn ready(&self) {
        if let Some(r) = &self.ready {
            r().await
        }
    }
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogSink")
    }
}
