//! Output read in chunks (a pipe, a container's stream) cut into log
//! lines without ever holding more than one line's limit: a longer line's
//! first `line_bytes` go to the log as soon as they are read (with a
//! marker), the rest of it is counted and skipped up to its newline.

use super::{LogSink, LogStream};

/// One stream's partial line. Feed it chunks with [`Lines::push`] and end
/// it with [`Lines::finish`].
#[derive(Debug, Default)]
pub struct Lines {
    pub(super) buf: Vec<u8>,
    /// The current line was cut: its bytes are skipped up to the newline.
    pub(super) skipping: bool,
}

impl Lines {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends every line completed by `chunk` to `sink` (a trailing `\r` is
    /// removed), and calls `each` with the text of every line sent.
    pub fn push(&mut self, sink: &LogSink, stream: LogStream, chunk: &[u8], mut each: impl FnMut(&str)) {
        let max = sink.limits().line_bytes;
        let mut rest = chunk;
        while !rest.is_empty() {
            let (part, newline) = match rest.iter().position(|b| *b == b'\n') {
                Some(pos) => (&rest[..pos], true),
                None => (rest, false),
            };
            rest = &rest[part.len() + usize::from(newline)..];
            if self.skipping {
                sink.dropped_from_line(part.len() as u64);
            } else if self.buf.len() + part.len() <= max {
                self.buf.extend_from_slice(part);
                if newline {
                    emit(sink, stream, &self.buf, &mut each);
                }
            } else {
                // Over the limit: the head now, the rest skipped.
                let take = max - self.buf.len();
                self.buf.extend_from_slice(&part[..take]);
                let head = utf8_head(&self.buf);
                let dropped = (self.buf.len() - head.len() + part.len() - take) as u64;
                let text = String::from_utf8_lossy(head);
                sink.cut(stream, &text, dropped);
                each(&text);
                self.skipping = !newline;
                self.buf.clear();
                continue;
            }
            if newline {
                self.buf.clear();
                self.skipping = false;
            }
        }
    }

    /// The end of the stream: a last line without a newline is a line too.
    pub fn finish(&mut self, sink: &LogSink, stream: LogStream, mut each: impl FnMut(&str)) {
        if !self.buf.is_empty() {
            emit(sink, stream, &self.buf, &mut each);
        }
        self.buf.clear();
        self.skipping = false;
    }
}

fn emit(sink: &LogSink, stream: LogStream, line: &[u8], each: &mut impl FnMut(&str)) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = String::from_utf8_lossy(line);
    sink.line(stream, &text);
    each(&text);
}

/// `bytes` without a UTF-8 character cut at its end.
fn utf8_head(bytes: &[u8]) -> &[u8] {
    match std::str::from_utf8(bytes) {
        Err(e) if e.error_len().is_none() => &bytes[..e.valid_up_to()],
        _ => bytes,
    }
}
