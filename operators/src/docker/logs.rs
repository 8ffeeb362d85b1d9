//! The container's output as log lines: Docker hands out chunks (usually a
//! line each, but long lines come in pieces), which are cut into lines per
//! stream and sent to the task's log as they arrive. The last lines are
//! kept for the error of a failed container.

use std::collections::VecDeque;

use updraft_operator_api::{Lines, LogSink, LogStream};

/// How many lines a failure's error shows.
pub const TAIL_LINES: usize = 20;
/// How much of each of those lines it shows, in characters.
const TAIL_LINE_CHARS: usize = 1000;

pub struct LineLog {
    sink: LogSink,
    stdout: Lines,
    stderr: Lines,
    tail: Tail,
}

/// The last lines (for a failure's error) and the last stdout line.
#[derive(Default)]
struct Tail {
    lines: VecDeque<String>,
    last_stdout: Option<String>,
}

impl LineLog {
    pub fn new(sink: LogSink) -> Self {
        LineLog {
            sink,
            stdout: Lines::new(),
            stderr: Lines::new(),
            tail: Tail::default(),
        }
    }

    /// A chunk of output; every complete line in it goes to the log now.
    /// A line longer than the log's line limit is never held whole.
    pub fn push(&mut self, stream: LogStream, chunk: &[u8]) {
        let (lines, tail) = match stream {
            LogStream::Stderr => (&mut self.stderr, &mut self.tail),
            _ => (&mut self.stdout, &mut self.tail),
        };
        lines.push(&self.sink, stream, chunk, |l| tail.keep(stream, l));
    }

    /// The end of the output: a last line without a newline is a line too.
    pub fn finish(&mut self) {
        let tail = &mut self.tail;
        self.stdout
            .finish(&self.sink, LogStream::Stdout, |l| tail.keep(LogStream::Stdout, l));
        self.stderr
            .finish(&self.sink, LogStream::Stderr, |l| tail.keep(LogStream::Stderr, l));
    }

    /// The last non-empty stdout line.
    pub fn last_stdout(&self) -> Option<&str> {
        self.tail.last_stdout.as_deref()
    }

    /// The last lines of both streams, oldest first.
    pub fn tail(&self) -> impl Iterator<Item = &str> {
        self.tail.lines.iter().map(String::as_str)
    }
}

impl Tail {
    fn keep(&mut self, stream: LogStream, line: &str) {
        if line.trim().is_empty() {
            return;
        }
        if stream == LogStream::Stdout {
            self.last_stdout = Some(line.to_string());
        }
        if self.lines.len() == TAIL_LINES {
            self.lines.pop_front();
        }
        let short: String = line.chars().take(TAIL_LINE_CHARS).collect();
        self.lines.push_back(short);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn chunks_become_lines_per_stream_and_the_tail_is_bounded() {
        let seen: Arc<Mutex<Vec<(LogStream, String)>>> = Arc::default();
        let s = seen.clone();
        let mut log = LineLog::new(LogSink::new(move |st, l| s.lock().unwrap().push((st, l.to_string()))));
        log.push(LogStream::Stdout, b"one\ntw");
        log.push(LogStream::Stderr, b"err\r\n");
        log.push(LogStream::Stdout, b"o\n\nthree");
        log.finish();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            vec![
                (LogStream::Stdout, "one".to_string()),
                (LogStream::Stderr, "err".to_string()),
                (LogStream::Stdout, "two".to_string()),
                (LogStream::Stdout, "".to_string()),
                (LogStream::Stdout, "three".to_string()),
            ]
        );
        assert_eq!(log.last_stdout(), Some("three"));
        for i in 0..50 {
            log.push(LogStream::Stdout, format!("{i}\n").as_bytes());
        }
        let tail: Vec<&str> = log.tail().collect();
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail.last(), Some(&"49"));
    }

    #[test]
    fn a_long_line_goes_out_cut_before_its_newline_arrives() {
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let s = seen.clone();
        let sink = LogSink::new(move |_, l| s.lock().unwrap().push(l.to_string())).with_limits(
            updraft_operator_api::LogLimits {
                line_bytes: 10,
                try_bytes: 1 << 20,
            },
        );
        let mut log = LineLog::new(sink);
        for _ in 0..100 {
            log.push(LogStream::Stdout, &[b'y'; 4096]);
        }
        assert_eq!(
            seen.lock().unwrap().as_slice(),
            ["yyyyyyyyyy [... line cut at 10 bytes: the rest is not kept]"]
        );
        log.push(LogStream::Stdout, b"\nnext\n");
        log.finish();
        assert_eq!(seen.lock().unwrap().len(), 2);
        assert_eq!(log.last_stdout(), Some("next"));
    }
}
