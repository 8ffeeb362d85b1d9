//! An HTTP response body streamed to a location, shared by `http_download`
//! and `kaggle_download`: bytes go to a [`Writer`] as they arrive (never the
//! whole body in memory), are counted and hashed on the way, and become
//! visible at the destination only once the body is complete (its
//! `Content-Length` reached), its SHA-256 matches the one asked for, and the
//! writer is finished.
//!
//! Retries: the request itself goes through `updraft_io::http::send` (429,
//! 5xx and connection errors retried with backoff, other 4xx fail at once).
//! A body that breaks off after the response started (a reset, a server
//! closing before `Content-Length`) restarts the whole download from
//! scratch with a new request and a new writer, [`BODY_ATTEMPTS`] times in
//! all: the unfinished writer of the broken attempt is dropped, which leaves
//! nothing at the destination. No `Range` resumption: servers need not
//! support it, and the hash must cover one consistent body.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use updraft_io::{Location, Stores, Writer};
use updraft_operator_api::{TaskContext, TaskError};

/// Tries of the whole download when the body breaks off mid-way.
pub(crate) const BODY_ATTEMPTS: u32 = 3;
/// The pause before the second try (doubled for each further one).
const FIRST_PAUSE: Duration = Duration::from_millis(500);
/// A progress line at most this often...
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// ...or once this many more bytes arrived, but not more than once a second.
const PROGRESS_BYTES: u64 = 64 << 20;

/// A response whose status was a success, its body not read yet.
pub(crate) struct Started<S> {
    pub status: u16,
    /// `Content-Length`, when the server sent one.
    pub length: Option<u64>,
    pub content_type: Option<String>,
    /// The URL that answered (after redirects), without credentials or
    /// query.
    pub url: String,
    pub body: S,
}

/// Turns a `reqwest::Response` into a [`Started`] (a macro: this crate does
/// not name reqwest's types, it gets them from `updraft_io::http`). Errors
/// of the body stream lose their URL (reqwest prints it whole, query and
/// all).
macro_rules! started {
    ($resp:expr) => {{
        let resp = $resp;
        $crate::http_download::transfer::Started {
            status: resp.status().as_u16(),
            length: resp.content_length(),
            content_type: resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            url: updraft_io::http::redact_url(resp.url()),
            body: futures_util::StreamExt::map(resp.bytes_stream(), |r| r.map_err(|e| e.without_url())),
        }
    }};
}
pub(crate) use started;

/// What a finished download was.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub bytes: u64,
    /// Lower-case hex.
    pub sha256: String,
    pub status: u16,
    pub content_type: Option<String>,
    pub url: String,
}

/// Where a download goes, and what it must hash to.
pub(crate) struct Target<'a> {
    pub stores: &'a Stores,
    pub to: &'a Location,
    /// Expected SHA-256, hex (either case).
    pub sha256: Option<&'a str>,
}

/// Why one attempt did not end with a complete body.
enum Broken {
    /// The body stopped early: worth another try.
    Short { received: u64, detail: Option<String> },
    /// Anything else (the destination failed, a cancel, a hash mismatch):
    /// final.
    Task(TaskError),
}

/// Downloads what `open` answers to `target`. `open` sends the request
/// (with its own retries) and is called again for each try of the whole
/// download.
pub(crate) async fn download<F, Fut, S, B, E>(
    ctx: &TaskContext,
    target: Target<'_>,
    mut open: F,
) -> Result<Fetched, TaskError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Started<S>, TaskError>>,
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: std::error::Error + 'static,
{
    let mut pause = FIRST_PAUSE;
    let mut attempt = 1;
    loop {
        let Started {
            status,
            length,
            content_type,
            url,
            body,
        } = open().await?;
        let mut writer = target.stores.writer(target.to).await?;
        ctx.log.info(&format!(
            "{url}: HTTP {status}, {}{}: writing to {}",
            match length {
                Some(n) => format!("{} ({n} bytes)", human(n)),
                None => "size not announced".into(),
            },
            content_type.as_deref().map(|t| format!(", {t}")).unwrap_or_default(),
            target.to
        ));
        let started = Instant::now();
        let broken = match receive(ctx, body, length, &mut writer).await {
            Ok(hash) => {
                let bytes = writer.written();
                let sha256 = hex(&hash);
                if let Some(expected) = target.sha256
                    && !expected.trim().eq_ignore_ascii_case(&sha256)
                {
                    // The writer is dropped unfinished: nothing appears.
                    return Err(TaskError::Fatal(format!(
                        "{url}: sha256 mismatch: expected {}, the {bytes} bytes received hash to {sha256}; nothing was written to {}",
                        expected.trim().to_ascii_lowercase(),
                        target.to
                    )));
                }
                let finished = tokio::select! {
                    r = writer.finish() => r?,
                    () = ctx.cancel.cancelled() => return Err(TaskError::Cancelled),
                };
                let secs = started.elapsed().as_secs_f64();
                ctx.log.info(&format!(
                    "downloaded {} ({finished} bytes) in {secs:.1} s ({}/s) to {}, sha256 {sha256}",
                    human(finished),
                    human((finished as f64 / secs.max(0.001)) as u64),
                    target.to
                ));
                return Ok(Fetched {
                    bytes: finished,
                    sha256,
                    status,
                    content_type,
                    url,
                });
            }
            Err(Broken::Task(e)) => return Err(e),
            Err(Broken::Short { received, detail }) => {
                drop(writer);
                shortfall(&url, received, length, detail.as_deref())
            }
        };
        if attempt >= BODY_ATTEMPTS {
            return Err(TaskError::Failed(format!(
                "{broken} (tried {BODY_ATTEMPTS} times); nothing was written to {}",
                target.to
            )));
        }
        attempt += 1;
        ctx.log.info(&format!(
            "{broken}; downloading again from the start in {:.1} s (try {attempt} of {BODY_ATTEMPTS})",
            pause.as_secs_f64()
        ));
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = ctx.cancel.cancelled() => return Err(TaskError::Cancelled),
        }
        pause *= 2;
    }
}

/// `URL: the body broke off after 400 of 1000 bytes (600 missing): why`.
fn shortfall(url: &str, received: u64, length: Option<u64>, detail: Option<&str>) -> String {
    let mut s = match length {
        Some(n) => format!(
            "{url}: the body broke off after {received} of {n} bytes ({} missing)",
            n.saturating_sub(received)
        ),
        None => format!("{url}: the body broke off after {received} bytes"),
    };
    if let Some(d) = detail {
        let _ = write!(s, ": {d}");
    }
    s
}

/// Streams `body` into `writer`; returns the SHA-256 of what it wrote.
async fn receive<S, B, E>(
    ctx: &TaskContext,
    body: S,
    length: Option<u64>,
    writer: &mut Writer,
) -> Result<[u8; 32], Broken>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: std::error::Error + 'static,
{
    let mut body = std::pin::pin!(body);
    let mut hasher = Sha256::new();
    let mut progress = Progress::new(length);
    loop {
        let next = tokio::select! {
            n = body.next() => n,
            () = ctx.cancel.cancelled() => return Err(Broken::Task(TaskError::Cancelled)),
        };
        let chunk = match next {
            None => break,
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                return Err(Broken::Short {
                    received: writer.written(),
                    detail: Some(updraft_operator_api::chain("", &e).trim_start_matches(": ").to_string()),
                });
            }
        };
        let data = chunk.as_ref();
        hasher.update(data);
        tokio::select! {
            r = writer.write(data) => r.map_err(|e| Broken::Task(e.into()))?,
            () = ctx.cancel.cancelled() => return Err(Broken::Task(TaskError::Cancelled)),
        }
        if let Some(line) = progress.tick(writer.written()) {
            ctx.log.info(&line);
        }
    }
    let received = writer.written();
    if length.is_some_and(|n| received != n) {
        return Err(Broken::Short { received, detail: None });
    }
    Ok(hasher.finalize().into())
}

/// When to write a progress line, and what it says.
struct Progress {
    length: Option<u64>,
    started: Instant,
    last_at: Instant,
    last_bytes: u64,
}

impl Progress {
    fn new(length: Option<u64>) -> Self {
        let now = Instant::now();
        Progress {
            length,
            started: now,
            last_at: now,
            last_bytes: 0,
        }
    }

    fn tick(&mut self, bytes: u64) -> Option<String> {
        let since = self.last_at.elapsed();
        let due =
            since >= PROGRESS_EVERY || (bytes - self.last_bytes >= PROGRESS_BYTES && since >= Duration::from_secs(1));
        if !due {
            return None;
        }
        self.last_at = Instant::now();
        self.last_bytes = bytes;
        let rate = bytes as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        Some(match self.length {
            Some(n) if n > 0 => format!(
                "{} of {} ({:.0}%), {}/s",
                human(bytes),
                human(n),
                bytes as f64 * 100.0 / n as f64,
                human(rate as u64)
            ),
            _ => format!("{} so far, {}/s", human(bytes), human(rate as u64)),
        })
    }
}

/// `512 B`, `3.2 KiB`, `40.0 MiB`, `1.5 GiB`.
pub(crate) fn human(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Replaces secrets (and whole URLs by their redacted form) in the message
/// of an error: servers echo what they were sent, and transport errors
/// print the URL whole. Pairs are (needle, replacement); empty needles are
/// skipped.
pub(crate) fn scrub(e: TaskError, pairs: &[(String, String)]) -> TaskError {
    let clean = |mut s: String| {
        for (needle, with) in pairs {
            if !needle.is_empty() {
                s = s.replace(needle.as_str(), with);
            }
        }
        s
    };
    match e {
        TaskError::Failed(m) => TaskError::Failed(clean(m)),
        TaskError::Fatal(m) => TaskError::Fatal(clean(m)),
        TaskError::RetryAfter { message, after } => TaskError::RetryAfter {
            message: clean(message),
            after,
        },
        TaskError::Skipped(m) => TaskError::Skipped(clean(m)),
        TaskError::Cancelled => TaskError::Cancelled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_hex_and_shortfalls_read_well() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(3 << 20), "3.0 MiB");
        assert_eq!(human((3 << 30) / 2), "1.5 GiB");
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
        assert_eq!(
            shortfall("http://h/x", 400, Some(1000), Some("connection closed")),
            "http://h/x: the body broke off after 400 of 1000 bytes (600 missing): connection closed"
        );
        assert_eq!(
            shortfall("http://h/x", 7, None, None),
            "http://h/x: the body broke off after 7 bytes"
        );
    }

    #[test]
    fn progress_lines_are_rate_limited() {
        let mut p = Progress::new(Some(100 << 20));
        assert_eq!(p.tick(1 << 20), None, "not yet: neither 5 s nor 64 MiB");
        // As if the last line were 6 s ago.
        p.last_at = Instant::now() - Duration::from_secs(6);
        let line = p.tick(10 << 20).unwrap();
        assert!(line.starts_with("10.0 MiB of 100.0 MiB (10%), "), "{line}");
        assert_eq!(p.tick(11 << 20), None, "just written");
        p.last_at = Instant::now() - Duration::from_secs(2);
        assert!(p.tick(80 << 20).is_some(), "64 MiB more after a second");
    }

    #[test]
    fn scrub_replaces_every_needle_in_every_kind() {
        let pairs = vec![
            ("http://u:pw@h/x?token=s3cret".to_string(), "http://h/x?…".to_string()),
            ("s3cret".to_string(), "***".to_string()),
            (String::new(), "never".to_string()),
        ];
        let e = scrub(
            TaskError::Fatal("GET http://u:pw@h/x?token=s3cret: echoed s3cret".into()),
            &pairs,
        );
        assert_eq!(e.to_string(), "GET http://h/x?…: echoed ***");
        let e = scrub(
            TaskError::RetryAfter {
                message: "s3cret".into(),
                after: Duration::from_secs(1),
            },
            &pairs,
        );
        assert_eq!(e.message(), "***");
    }
}
