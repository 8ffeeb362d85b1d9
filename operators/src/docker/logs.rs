//! The container's output as log lines: Docker hands out chunks (usually a
//! line each, but long lines come in pieces), which are cut into lines per
//! stream and sent to the task's log as they arrive. The last lines are
//! kept for the error of a failed container.

use std::collections::VecDeque;

use updraft_operator_api::{LogSink, LogStream};

/// How many lines a failure's error shows.
pub const TAIL_LINES: usize = 20;

pub struct LineLog {
    sink: LogSink,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    tail: VecDeque<String>,
    last_stdout: Option<String>,
}

impl LineLog {
    pub fn new(sink: LogSink) -> Self {
        LineLog {
            sink,
            stdout: Vec::new(),
            stderr: Vec::new(),
            tail: VecDeque::with_capacity(TAIL_LINES),
            last_stdout: None,
        }
    }

    /// A chunk of output; every complete line in it goes to the log now.
    pub fn push(&mut self, stream: LogStream, chunk: &[u8]) {
        let mut buf = std::mem::take(self.buffer(stream));
        buf.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|b| *b == b'\n') {
            let end = start + pos;
            self.emit(stream, &buf[start..end]);
            start = end + 1;
        }
        buf.drain(..start);
        *self.buffer(stream) = buf;
    }

    /// The end of the output: a last line without a newline is a line too.
    pub fn finish(&mut self) {
        for stream in [LogStream::Stdout, LogStream::Stderr] {
            let rest = std::mem::take(self.buffer(stream));
            if !rest.is_empty() {
                self.emit(stream, &rest);
            }
        }
    }

    /// The last non-empty stdout line.
    pub fn last_stdout(&self) -> Option<&str> {
        self.last_stdout.as_deref()
    }

    /// The last lines of both streams, oldest first.
    pub fn tail(&self) -> impl Iterator<Item = &str> {
        self.tail.iter().map(String::as_str)
    }

    fn buffer(&mut self, stream: LogStream) -> &mut Vec<u8> {
        match stream {
            LogStream::Stderr => &mut self.stderr,
            _ => &mut self.stdout,
        }
    }

    fn emit(&mut self, stream: LogStream, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        let line = text.strip_suffix('\r').unwrap_or(&text);
        self.sink.line(stream, line);
        if line.trim().is_empty() {
            return;
        }
        if stream == LogStream::Stdout {
            self.last_stdout = Some(line.to_string());
        }
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_string());
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
}
