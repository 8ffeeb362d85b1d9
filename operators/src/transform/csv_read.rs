//! Reading CSV: one thread reads and decodes the bytes to UTF-8 in large
//! blocks (cp1252 and latin-1 through encoding_rs, UTF-8 checked), another
//! splits them into fields (RFC 4180 quoting; CRLF or LF; blank lines
//! skipped) and appends each field to its column's buffer: no allocation
//! per value. Batches of text columns go to the steps; `read.types` are
//! applied there, by the same conversion as `cast`.

use std::io::Read;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use arrow_array::ArrayRef;
use arrow_schema::DataType;
use tokio_util::sync::CancellationToken;

use super::config::Encoding;
use super::error::Error;
use super::source::Out;
use super::table::{Batch, LineMap, Rows, Schema, TextBuilder};

/// Rows per batch, and the text a batch may hold (well below the 2 GiB an
/// Arrow string array can).
const BATCH_ROWS: usize = 64 * 1024;
const BATCH_BYTES: usize = 64 << 20;
/// Bytes read at once.
pub const BLOCK: usize = 1 << 20;

#[derive(Debug, Clone)]
pub struct CsvOptions {
    pub encoding: Encoding,
    pub delimiter: u8,
    pub header: bool,
    pub names: Option<Vec<String>>,
    /// Values read as null; `None`: only the empty field.
    pub null_values: Option<Vec<String>>,
    /// Bytes read at once ([`BLOCK`]; tests use tiny blocks to cut
    /// records and characters everywhere).
    pub block: usize,
}

enum Chunk {
    /// Text, and whether it is the last.
    Text(Vec<u8>, bool),
    /// Bytes that are not UTF-8, right after the text sent before.
    BadUtf8(Vec<u8>),
    Failed(std::io::Error),
}

/// Starts reading `input` on two threads; batches (after the schema) come
/// out of the returned channel.
pub fn start(
    input: Box<dyn Read + Send>,
    opts: CsvOptions,
    lines: Arc<Mutex<LineMap>>,
    cancel: CancellationToken,
    out: SyncSender<Result<Out, Error>>,
) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
    let (tx, rx) = sync_channel::<Chunk>(4);
    let (recycle_tx, recycle_rx) = sync_channel::<Vec<u8>>(4);
    let (encoding, block) = (opts.encoding, opts.block.max(1));
    let decoder = std::thread::Builder::new()
        .name("transform-decode".into())
        .spawn(move || decode(input, encoding, block, &tx, &recycle_rx))?;
    let parser = std::thread::Builder::new()
        .name("transform-csv".into())
        .spawn(move || {
            let mut p = Parser::new(opts, lines, out.clone());
            if let Err(e) = p.run(&rx, &recycle_tx, &cancel) {
                let _ = out.send(Err(e));
            }
        })?;
    Ok(vec![decoder, parser])
}

/// Reads `input` whole, sending UTF-8 blocks (each valid on its own).
fn decode(
    mut input: Box<dyn Read + Send>,
    enc: Encoding,
    block: usize,
    tx: &SyncSender<Chunk>,
    recycle: &Receiver<Vec<u8>>,
) {
    let mut raw = vec![0u8; block];
    let mut carry: Vec<u8> = Vec::new();
    let mut at_start = true;
    let mut cp1252 = encoding_rs::WINDOWS_1252.new_decoder_without_bom_handling();
    loop {
        // Fill the block (a network stream gives small pieces).
        let mut n = 0;
        let mut eof = false;
        while n < raw.len() {
            match input.read(&mut raw[n..]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Chunk::Failed(e));
                    return;
                }
            }
        }
        let mut src = &raw[..n];
        let mut out = recycle.try_recv().unwrap_or_default();
        out.clear();
        let mut bad = None;
        match enc {
            Encoding::Utf8 => {
                out.append(&mut carry);
                out.extend_from_slice(src);
                if at_start {
                    if out.len() < 3 && !eof {
                        carry = out;
                        continue;
                    }
                    if out.starts_with(b"\xEF\xBB\xBF") {
                        out.drain(..3);
                    }
                    at_start = false;
                }
                if let Err(e) = std::str::from_utf8(&out) {
                    let rest = out.split_off(e.valid_up_to());
                    match e.error_len() {
                        // A character cut by the block's end.
                        None if !eof => carry = rest,
                        _ => bad = Some(rest[..rest.len().min(4)].to_vec()),
                    }
                }
            }
            Encoding::Cp1252 => {
                // Into the string's spare capacity: nothing is zeroed first.
                let mut text = String::from_utf8(out).expect("cleared");
                text.reserve(src.len() + src.len() / 8 + 16);
                loop {
                    let (res, read) = cp1252.decode_to_string_without_replacement(src, &mut text, eof);
                    src = &src[read..];
                    match res {
                        encoding_rs::DecoderResult::InputEmpty => break,
                        encoding_rs::DecoderResult::OutputFull => text.reserve(src.len() * 3 + 16),
                        // windows-1252 maps every byte.
                        encoding_rs::DecoderResult::Malformed(_, _) => {}
                    }
                }
                out = text.into_bytes();
            }
            Encoding::Latin1 => {
                out.resize(src.len() * 2, 0);
                let w = encoding_rs::mem::convert_latin1_to_utf8(src, &mut out);
                out.truncate(w);
            }
        }
        if tx.send(Chunk::Text(out, eof && bad.is_none())).is_err() {
            return;
        }
        if let Some(bytes) = bad {
            let _ = tx.send(Chunk::BadUtf8(bytes));
            return;
        }
        if eof {
            return;
        }
    }
}

/// A field of the record being read: in the block, or unescaped into the
/// scratch buffer.
#[derive(Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
    scratch: bool,
}

enum Scan {
    /// The record ended at this offset (after its line end).
    Record(usize),
    /// The block ends inside the record: more text is needed.
    More,
}

struct Parser {
    opts: CsvOptions,
    out: SyncSender<Result<Out, Error>>,
    lines: Arc<Mutex<LineMap>>,
    names: Option<Vec<String>>,
    cols: Vec<TextBuilder>,
    spans: Vec<Span>,
    scratch: Vec<u8>,
    /// Line breaks inside the quoted fields of the record being read.
    quoted_lines: u64,
    /// The next data row (1-based), the line the next record starts on,
    /// and the line the line map expects it on.
    row: u64,
    line: u64,
    expect_line: u64,
    batch_first: u64,
    null_set: Option<Vec<Vec<u8>>>,
}

impl Parser {
    fn new(opts: CsvOptions, lines: Arc<Mutex<LineMap>>, out: SyncSender<Result<Out, Error>>) -> Self {
        let null_set = opts
            .null_values
            .as_ref()
            .map(|v| v.iter().map(|s| s.as_bytes().to_vec()).collect());
        Parser {
            opts,
            out,
            lines,
            names: None,
            cols: Vec::new(),
            spans: Vec::with_capacity(64),
            scratch: Vec::new(),
            quoted_lines: 0,
            row: 1,
            line: 1,
            expect_line: 0,
            batch_first: 1,
            null_set,
        }
    }

    fn run(
        &mut self,
        rx: &Receiver<Chunk>,
        recycle: &SyncSender<Vec<u8>>,
        cancel: &CancellationToken,
    ) -> Result<(), Error> {
        let mut carry: Vec<u8> = Vec::new();
        loop {
            if cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            let (block, eof) = match rx.recv() {
                Ok(Chunk::Text(t, last)) => (t, last),
                Ok(Chunk::BadUtf8(bytes)) => {
                    // The complete records before them were read: the
                    // bytes are in the record in progress.
                    let shown: Vec<String> = bytes.iter().map(|b| format!("\\x{b:02X}")).collect();
                    let problem = format!(
                        "bytes \"{}\" are not UTF-8; if the file is in another encoding, set `read.encoding` (cp1252, latin-1)",
                        shown.join("")
                    );
                    return Err(match self.names {
                        None => Error::BadFile(format!("the header line: {problem}")),
                        Some(_) => self.row_error(problem),
                    });
                }
                Ok(Chunk::Failed(e)) => return Err(Error::Read(e)),
                Err(_) => return Err(Error::BadFile("the reading thread stopped unexpectedly".into())),
            };
            // A record cut by the block's end: complete it line by line
            // in `carry`, then read the rest of the block where it is.
            let mut start = 0;
            while !carry.is_empty() && start < block.len() {
                // One line first; if that is not enough (a quoted line
                // break), the whole block.
                let end = match block[start..].iter().position(|&c| c == b'\n') {
                    Some(k) if start == 0 => k + 1,
                    _ => block.len(),
                };
                carry.extend_from_slice(&block[start..end]);
                start = end;
                let used = self.parse(&carry, eof && start == block.len())?;
                carry.drain(..used);
            }
            if carry.is_empty() {
                if start < block.len() {
                    let used = self.parse(&block[start..], eof)?;
                    carry.extend_from_slice(&block[start + used..]);
                } else if eof {
                    self.parse(&[], true)?;
                }
            } else if eof {
                let used = self.parse(&carry, true)?;
                carry.drain(..used);
            }
            let _ = recycle.try_send(block);
            if eof {
                break;
            }
        }
        if self.names.is_none() {
            match &self.opts.names {
                Some(names) if !self.opts.header => self.set_names(names.clone())?,
                _ => return Err(Error::BadFile("the file is empty (no header line)".into())),
            }
        }
        self.flush()?;
        self.out.send(Ok(Out::End)).map_err(|_| Error::Stopped)
    }

    /// Reads the complete records of `b`; returns the bytes used.
    fn parse(&mut self, b: &[u8], eof: bool) -> Result<usize, Error> {
        let mut pos = 0;
        while pos < b.len() {
            match self.record(b, pos, eof)? {
                Scan::Record(next) => {
                    self.commit(b)?;
                    pos = next;
                }
                Scan::More => break,
            }
        }
        Ok(pos)
    }

    /// Splits the record at `start` into `self.spans`.
    fn record(&mut self, b: &[u8], start: usize, eof: bool) -> Result<Scan, Error> {
        let d = self.opts.delimiter;
        self.spans.clear();
        self.scratch.clear();
        self.quoted_lines = 0;
        let mut pos = start;
        loop {
            if pos < b.len() && b[pos] == b'"' {
                // A quoted field.
                let mut i = pos + 1;
                let mut escaped = false;
                let close = loop {
                    match b[i..].iter().position(|&c| c == b'"') {
                        None if eof => {
                            return Err(self.row_error("a quoted field is not closed before the end of the file"));
                        }
                        None => return Ok(Scan::More),
                        Some(k) => {
                            let q = i + k;
                            if q + 1 < b.len() && b[q + 1] == b'"' {
                                escaped = true;
                                i = q + 2;
                            } else if q + 1 == b.len() && !eof {
                                return Ok(Scan::More);
                            } else {
                                break q;
                            }
                        }
                    }
                };
                let content = &b[pos + 1..close];
                self.quoted_lines += content.iter().filter(|&&c| c == b'\n').count() as u64;
                let mut after = close + 1;
                let tail_end = if after < b.len() && b[after] != d && b[after] != b'\n' && b[after] != b'\r' {
                    // Text after the closing quote joins the field, as
                    // Python's csv module reads it.
                    match find2(&b[after..], d, b'\n') {
                        Some(k) => Some(after + k),
                        None if eof => Some(b.len()),
                        None => return Ok(Scan::More),
                    }
                } else {
                    None
                };
                if escaped || tail_end.is_some() {
                    let s = self.scratch.len() as u32;
                    let mut k = 0;
                    while k < content.len() {
                        self.scratch.push(content[k]);
                        k += if content[k] == b'"' { 2 } else { 1 };
                    }
                    if let Some(e) = tail_end {
                        let mut tail = &b[after..e];
                        if tail.last() == Some(&b'\r') && e < b.len() {
                            tail = &tail[..tail.len() - 1];
                        }
                        self.scratch.extend_from_slice(tail);
                        after = e;
                    }
                    self.spans.push(Span {
                        start: s,
                        end: self.scratch.len() as u32,
                        scratch: true,
                    });
                } else {
                    self.spans.push(Span {
                        start: (pos + 1) as u32,
                        end: close as u32,
                        scratch: false,
                    });
                }
                // What ends the field.
                match b.get(after) {
                    None if eof => return Ok(Scan::Record(b.len())),
                    None => return Ok(Scan::More),
                    Some(&c) if c == d => pos = after + 1,
                    Some(b'\n') => return Ok(Scan::Record(after + 1)),
                    Some(b'\r') => match b.get(after + 1) {
                        Some(b'\n') => return Ok(Scan::Record(after + 2)),
                        None if !eof => return Ok(Scan::More),
                        _ => return Ok(Scan::Record(after + 1)),
                    },
                    Some(_) => unreachable!("text after the quote was joined to the field"),
                }
            } else {
                match find2(&b[pos..], d, b'\n') {
                    Some(k) => {
                        let end = pos + k;
                        if b[end] == d {
                            self.spans.push(Span {
                                start: pos as u32,
                                end: end as u32,
                                scratch: false,
                            });
                            pos = end + 1;
                        } else {
                            let e = if end > pos && b[end - 1] == b'\r' { end - 1 } else { end };
                            self.spans.push(Span {
                                start: pos as u32,
                                end: e as u32,
                                scratch: false,
                            });
                            return Ok(Scan::Record(end + 1));
                        }
                    }
                    None if eof => {
                        let end = b.len();
                        let e = if end > pos && b[end - 1] == b'\r' { end - 1 } else { end };
                        self.spans.push(Span {
                            start: pos as u32,
                            end: e as u32,
                            scratch: false,
                        });
                        return Ok(Scan::Record(end));
                    }
                    None => return Ok(Scan::More),
                }
            }
        }
    }

    /// An error in the record being read (its line is marked first).
    fn row_error(&self, problem: impl Into<String>) -> Error {
        self.lines.lock().expect("line map").mark(self.row, self.line);
        Error::row(self.row, problem)
    }

    fn field<'a>(&'a self, b: &'a [u8], s: Span) -> &'a [u8] {
        if s.scratch {
            &self.scratch[s.start as usize..s.end as usize]
        } else {
            &b[s.start as usize..s.end as usize]
        }
    }

    fn commit(&mut self, b: &[u8]) -> Result<(), Error> {
        let line = self.line;
        self.line += 1 + self.quoted_lines;
        // A blank line is no record.
        if self.spans.len() == 1 && self.spans[0].start == self.spans[0].end && !self.spans[0].scratch {
            let s = self.spans[0];
            if s.start == 0 || b[s.start as usize - 1] != b'"' {
                return Ok(());
            }
        }
        if self.names.is_none() {
            let found: Vec<String> = self
                .spans
                .iter()
                .map(|&s| String::from_utf8_lossy(self.field(b, s)).into_owned())
                .collect();
            let names = match (&self.opts.names, self.opts.header) {
                (Some(given), true) if given.len() != found.len() => {
                    return Err(Error::BadFile(format!(
                        "`read.names` has {} names; the header has {} columns",
                        given.len(),
                        found.len()
                    )));
                }
                (Some(given), _) => given.clone(),
                (None, true) => header_names(found),
                (None, false) => (1..=found.len()).map(|i| format!("column_{i}")).collect(),
            };
            self.set_names(names)?;
            if self.opts.header {
                return Ok(());
            }
        }
        if line != self.expect_line {
            self.lines.lock().expect("line map").mark(self.row, line);
        }
        self.expect_line = line + 1;
        let n = self.cols.len();
        if self.spans.len() != n {
            return Err(Error::row(
                self.row,
                format!(
                    "has {} fields; the header has {n} ({})",
                    self.spans.len(),
                    self.names.as_deref().unwrap_or_default().join(", ")
                ),
            ));
        }
        for i in 0..n {
            let s = self.spans[i];
            let v = if s.scratch {
                &self.scratch[s.start as usize..s.end as usize]
            } else {
                &b[s.start as usize..s.end as usize]
            };
            let null = match &self.null_set {
                None => v.is_empty(),
                Some(set) => set.iter().any(|x| x.as_slice() == v),
            };
            if null {
                self.cols[i].push_null();
            } else {
                self.cols[i].push(v);
            }
        }
        self.row += 1;
        if self.cols[0].len() >= BATCH_ROWS || self.cols.iter().map(TextBuilder::bytes).sum::<usize>() >= BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn set_names(&mut self, names: Vec<String>) -> Result<(), Error> {
        self.cols = names
            .iter()
            .map(|_| TextBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 8))
            .collect();
        let schema = Schema {
            types: vec![DataType::Utf8; names.len()],
            names: names.clone(),
        };
        self.names = Some(names);
        self.out.send(Ok(Out::Schema(schema))).map_err(|_| Error::Stopped)
    }

    fn flush(&mut self) -> Result<(), Error> {
        let len = self.cols.first().map_or(0, TextBuilder::len);
        if len == 0 {
            return Ok(());
        }
        // The next batch's buffers, sized after this one's.
        let next: Vec<TextBuilder> = self
            .cols
            .iter()
            .map(|c| TextBuilder::with_capacity(BATCH_ROWS, c.bytes() + c.bytes() / 8))
            .collect();
        let cols: Vec<ArrayRef> = std::mem::replace(&mut self.cols, next)
            .into_iter()
            .map(|c| c.finish().map(|a| Arc::new(a) as ArrayRef))
            .collect::<Result<_, _>>()?;
        let batch = Batch::new(cols, Rows::From(self.batch_first), len);
        self.batch_first = self.row;
        self.out.send(Ok(Out::Batch(batch))).map_err(|_| Error::Stopped)
    }
}

/// Column names as pandas makes them: an empty name is `Unnamed: i`, a
/// repeated one gets `.1`, `.2`...
fn header_names(found: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(found.len());
    for (i, name) in found.into_iter().enumerate() {
        let base = if name.is_empty() { format!("Unnamed: {i}") } else { name };
        let mut candidate = base.clone();
        let mut k = 1;
        while out.contains(&candidate) {
            candidate = format!("{base}.{k}");
            k += 1;
        }
        out.push(candidate);
    }
    out
}

/// The first `a` or `b` in `h`, eight bytes at a time.
#[inline]
fn find2(h: &[u8], a: u8, b: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let (va, vb) = (LO * u64::from(a), LO * u64::from(b));
    let mut i = 0;
    let mut words = h.chunks_exact(8);
    for w in words.by_ref() {
        let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        let (xa, xb) = (w ^ va, w ^ vb);
        let z = (xa.wrapping_sub(LO) & !xa & HI) | (xb.wrapping_sub(LO) & !xb & HI);
        if z != 0 {
            return Some(i + (z.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    words.remainder().iter().position(|&c| c == a || c == b).map(|p| i + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find2_finds_the_first_of_either_byte() {
        let h = b"abcdefghijklmnop,qrstuvwxyz\n0123";
        assert_eq!(find2(h, b',', b'\n'), Some(16));
        assert_eq!(find2(&h[17..], b',', b'\n'), Some(10));
        assert_eq!(find2(b"abc", b',', b'\n'), None);
        for n in 0..40 {
            let mut v = vec![b'x'; 40];
            v[n] = b'\n';
            assert_eq!(find2(&v, b',', b'\n'), Some(n));
            v[n] = 0x8A; // high bytes are not matches
            assert_eq!(find2(&v, b',', b'\n'), None);
        }
    }

    #[test]
    fn header_names_follow_pandas() {
        let names = header_names(vec!["a".into(), "".into(), "a".into(), "a".into()]);
        assert_eq!(names, ["a", "Unnamed: 1", "a.1", "a.2"]);
    }
}
