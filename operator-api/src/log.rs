//! Where an operator writes its log, line by line, as lines are produced,
//! within the try's limits: a line longer than [`LogLimits::line_bytes`] is
//! cut (with a marker), and once a try has written
//! [`LogLimits::try_bytes`] further lines are dropped (one marker line, and
//! a count in [`LogSink::summary`] at the end of the try).

mod lines;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::BoxFuture;

pub use lines::Lines;

/// Which stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
    /// Lines written by Updraft itself about the task.
    System,
}

/// How much of a task's output one try keeps in its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// The longest line kept, in bytes; the rest of a longer line is
    /// dropped and the line ends with a marker.
    pub line_bytes: usize,
    /// The most log one try stores, in bytes (each line counts its text
    /// plus [`ROW_BYTES`] for its row); later lines are dropped.
    pub try_bytes: u64,
}

impl LogLimits {
    pub const DEFAULT_LINE_BYTES: usize = 64 << 10;
    pub const DEFAULT_TRY_BYTES: u64 = 100 << 20;
}

impl Default for LogLimits {
    fn default() -> Self {
        LogLimits {
            line_bytes: Self::DEFAULT_LINE_BYTES,
            try_bytes: Self::DEFAULT_TRY_BYTES,
        }
    }
}

/// What a stored line costs besides its text (its row and index entry):
/// a million one-letter lines are 60 MB in SQLite, not 2 MB.
pub const ROW_BYTES: u64 = 64;

type LineFn = dyn Fn(LogStream, &str) + Send + Sync;
type ReadyFn = dyn Fn() -> BoxFuture<'static, ()> + Send + Sync;

/// A task's log. `line` never blocks; an operator that streams a lot
/// (a process's output, a container's) awaits [`LogSink::ready`] between
/// chunks, so a task that prints faster than the store takes lines waits
/// instead of growing the worker's memory without bound. Output read from
/// a pipe or a socket goes through [`Lines`], which never holds more than
/// one line's limit.
#[derive(Clone)]
pub struct LogSink {
    line: Arc<LineFn>,
    ready: Option<Arc<ReadyFn>>,
    budget: Arc<Budget>,
}

/// What a try has written and what was dropped, shared by its sink's copies.
#[derive(Debug, Default)]
struct Budget {
    limits: LogLimits,
    /// Bytes stored (text plus [`ROW_BYTES`] per line).
    used: AtomicU64,
    /// Set once `try_bytes` is reached (and its marker written).
    full: AtomicBool,
    dropped_lines: AtomicU64,
    dropped_bytes: AtomicU64,
    cut_lines: AtomicU64,
    cut_bytes: AtomicU64,
}

impl LogSink {
    pub fn new(f: impl Fn(LogStream, &str) + Send + Sync + 'static) -> Self {
        LogSink {
            line: Arc::new(f),
            ready: None,
            budget: Arc::default(),
        }
    }

    /// With a wait for room, called by [`LogSink::ready`].
    pub fn with_backpressure(mut self, ready: impl Fn() -> BoxFuture<'static, ()> + Send + Sync + 'static) -> Self {
        self.ready = Some(Arc::new(ready));
        self
    }

    /// With these limits (and a fresh count: one sink per try).
    pub fn with_limits(mut self, limits: LogLimits) -> Self {
        self.budget = Arc::new(Budget {
            limits: LogLimits {
                line_bytes: limits.line_bytes.max(1),
                ..limits
            },
            ..Budget::default()
        });
        self
    }

    pub fn limits(&self) -> LogLimits {
        self.budget.limits
    }

    /// A line of the log; cut to the line limit, dropped past the try's.
    pub fn line(&self, stream: LogStream, text: &str) {
        let max = self.budget.limits.line_bytes;
        if text.len() <= max {
            self.store(stream, text, text.len());
        } else {
            let head = &text[..floor_char_boundary(text, max)];
            self.cut(stream, head, (text.len() - head.len()) as u64);
        }
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

    /// What the limits took from this try's log, in words, if anything:
    /// written by the worker when the try ends.
    pub fn summary(&self) -> Option<String> {
        let b = &self.budget;
        let mut parts = Vec::new();
        let cut = b.cut_lines.load(Ordering::Relaxed);
        if cut > 0 {
            parts.push(format!(
                "{cut} line(s) longer than {} were cut ({} dropped)",
                human_bytes(b.limits.line_bytes as u64),
                human_bytes(b.cut_bytes.load(Ordering::Relaxed))
            ));
        }
        let dropped = b.dropped_lines.load(Ordering::Relaxed);
        if dropped > 0 {
            parts.push(format!(
                "{dropped} line(s) ({}) were dropped after the try's log reached {}",
                human_bytes(b.dropped_bytes.load(Ordering::Relaxed)),
                human_bytes(b.limits.try_bytes)
            ));
        }
        (!parts.is_empty()).then(|| format!("log limits: {}", parts.join("; ")))
    }

    /// The first `line_bytes` of a longer line, whose other `dropped`
    /// bytes are not kept (a reader may still be skipping them: see
    /// [`LogSink::dropped_from_line`]).
    pub(crate) fn cut(&self, stream: LogStream, head: &str, dropped: u64) {
        let b = &self.budget;
        b.cut_lines.fetch_add(1, Ordering::Relaxed);
        b.cut_bytes.fetch_add(dropped, Ordering::Relaxed);
        let marked = format!(
            "{head} [... line cut at {}: the rest is not kept]",
            human_bytes(b.limits.line_bytes as u64)
        );
        self.store(stream, &marked, head.len() + dropped as usize);
    }

    /// More bytes of a line already cut.
    pub(crate) fn dropped_from_line(&self, bytes: u64) {
        self.budget.cut_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Stores `text` unless the try's log is full; `original` is the size
    /// of what it stands for (counted if dropped).
    fn store(&self, stream: LogStream, text: &str, original: usize) {
        let b = &self.budget;
        let size = text.len() as u64 + ROW_BYTES;
        let used = b.used.fetch_add(size, Ordering::Relaxed) + size;
        if used <= b.limits.try_bytes {
            (self.line)(stream, text);
            return;
        }
        if !b.full.swap(true, Ordering::Relaxed) {
            (self.line)(
                LogStream::System,
                &format!(
                    "[... this try's log reached its limit of {}: further lines are dropped and counted at the end]",
                    human_bytes(b.limits.try_bytes)
                ),
            );
        }
        b.dropped_lines.fetch_add(1, Ordering::Relaxed);
        b.dropped_bytes.fetch_add(original as u64, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogSink")
    }
}

/// The largest index `<= at` on a char boundary of `s`.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    let mut i = at.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// `65536` -> `64 KiB`, `1500000` -> `1.4 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if v.fract() == 0.0 {
        format!("{v} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests;
