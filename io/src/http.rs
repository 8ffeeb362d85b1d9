//! One HTTP client for the process (pooled connections, rustls on ring,
//! timeouts) and a send with retries: 429, 5xx, timeouts and connection
//! errors are tried again with exponential backoff and jitter, waiting at
//! least what `Retry-After` asks; any other 4xx fails at once.

use std::time::Duration;

use reqwest::{RequestBuilder, Response, StatusCode};
use tokio_util::sync::CancellationToken;
use updraft_operator_api::TaskError;

/// The client for this thread: connect timeout 10 s; no overall timeout
/// (downloads may be long): a read that stalls for 60 s fails.
///
/// One per thread rather than one per process: a pooled connection is
/// driven by a task on the runtime that opened it, and a process may run
/// several runtimes one after another (tests do); a connection whose
/// runtime is gone fails every request sent on it ("dispatch task is
/// gone"). A runtime's worker threads live and die with it, so their
/// pools do too. Clones are cheap (an `Arc`).
pub fn client() -> reqwest::Client {
    thread_local! {
        static CLIENT: reqwest::Client = build();
    }
    CLIENT.with(Clone::clone)
}

fn build() -> reqwest::Client {
    // reqwest is built without a default TLS provider: ring, as the S3
    // client uses. Installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("updraft/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("an HTTP client with rustls on ring")
}

/// How often and how long to try again.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts in all (1: no retry).
    pub attempts: u32,
    pub first_wait: Duration,
    pub max_wait: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 5,
            first_wait: Duration::from_millis(500),
            max_wait: Duration::from_secs(30),
        }
    }
}

/// Why a request did not get a successful answer.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The server answered with an error status (the last one, after any
    /// retries); `body` is the start of its answer, for the message.
    #[error("{method} {url}: HTTP {status}{}", body_text(.body))]
    Status {
        method: String,
        url: String,
        status: StatusCode,
        body: String,
        retry_after: Option<Duration>,
    },
    #[error("{method} {url}: {detail}")]
    Transport {
        method: String,
        url: String,
        detail: String,
    },
    #[error("cancelled")]
    Cancelled,
}

fn body_text(b: &str) -> String {
    if b.trim().is_empty() {
        String::new()
    } else {
        format!(": {}", b.trim())
    }
}

impl From<HttpError> for TaskError {
    /// 4xx but 408 and 429: `Fatal`. 429 and 503 with a wait asked for:
    /// `RetryAfter`. The rest: `Failed`.
    fn from(e: HttpError) -> Self {
        match &e {
            HttpError::Cancelled => TaskError::Cancelled,
            HttpError::Status {
                status,
                retry_after: Some(after),
                ..
            } if *status == StatusCode::TOO_MANY_REQUESTS || *status == StatusCode::SERVICE_UNAVAILABLE => {
                TaskError::RetryAfter {
                    message: e.to_string(),
                    after: *after,
                }
            }
            HttpError::Status { status, .. } if status.is_client_error() && !retryable(*status) => {
                TaskError::Fatal(e.to_string())
            }
            _ => TaskError::Failed(e.to_string()),
        }
    }
}

fn retryable(s: StatusCode) -> bool {
    s == StatusCode::TOO_MANY_REQUESTS || s == StatusCode::REQUEST_TIMEOUT || s.is_server_error()
}

/// The wait a `Retry-After` header asks for: seconds, or an HTTP date.
pub fn retry_after(resp: &Response) -> Option<Duration> {
    let v = resp.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::parse(v).ok()?.timestamp();
    let wait = at.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// Sends the request `build` makes (again for each attempt) until it gets
/// a success status, an error not worth a retry, or runs out of attempts.
/// `cancel` stops the wait and the request.
pub async fn send(
    build: impl Fn() -> RequestBuilder,
    retry: Retry,
    cancel: &CancellationToken,
) -> Result<Response, HttpError> {
    let mut wait = retry.first_wait;
    let mut attempt = 1;
    loop {
        let req = build().build().map_err(|e| HttpError::Transport {
            method: "?".into(),
            url: "?".into(),
            detail: e.to_string(),
        })?;
        let (method, url) = (req.method().to_string(), redact_url(req.url()));
        let sent = tokio::select! {
            r = client().execute(req) => r,
            () = cancel.cancelled() => return Err(HttpError::Cancelled),
        };
        let (err, asked) = match sent {
            Ok(resp) if resp.status().is_success() => return Ok(resp),
            Ok(resp) => {
                let status = resp.status();
                let asked = retry_after(&resp);
                let body = snippet(resp).await;
                let err = HttpError::Status {
                    method: method.clone(),
                    url: url.clone(),
                    status,
                    body,
                    retry_after: asked,
                };
                if !retryable(status) {
                    return Err(err);
                }
                (err, asked)
            }
            Err(e) => {
                // reqwest's message carries the whole URL, query (a token, a
                // signature) included; the redacted one is already in ours.
                let e = e.without_url();
                let detail = updraft_operator_api::chain("", &e).trim_start_matches(": ").to_string();
                (
                    HttpError::Transport {
                        method: method.clone(),
                        url: url.clone(),
                        detail,
                    },
                    None,
                )
            }
        };
        if attempt >= retry.attempts {
            return Err(err);
        }
        // The server's wait if it asked for one (capped by max_wait: a
        // longer one is the task's retry's business), else backoff with
        // jitter.
        let pause = match asked {
            Some(a) if a > retry.max_wait => return Err(err),
            Some(a) => a.max(wait),
            None => jitter(wait),
        };
        tracing::debug!(%method, %url, attempt, ?pause, error = %err, "retrying");
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = cancel.cancelled() => return Err(HttpError::Cancelled),
        }
        wait = (wait * 2).min(retry.max_wait);
        attempt += 1;
    }
}

/// The first 500 characters of an error answer.
async fn snippet(resp: Response) -> String {
    let text = resp.text().await.unwrap_or_default();
    let mut s: String = text.chars().take(500).collect();
    if text.chars().count() > 500 {
        s.push('…');
    }
    s.replace(['\n', '\r'], " ")
}

/// A URL without credentials or query (which may carry a signature or a
/// token), for messages.
/// Percent-encodes all but RFC 3986's unreserved characters: a value that
/// goes in one path segment or one query parameter (`/` too).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn redact_url(u: &reqwest::Url) -> String {
    let mut u = u.clone();
    let _ = u.set_password(None);
    let _ = u.set_username("");
    if u.query().is_some() {
        u.set_query(Some("…"));
    }
    u.to_string()
}

fn jitter(d: Duration) -> Duration {
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    let frac = f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX);
    d.mul_f64(0.5 + frac / 2.0)
}
