//! `operator: http_download`: a GET of `url` (GitHub raw or any HTTP(S)
//! URL) streamed to `to` (a path, `file://`, `s3://` or `gs://`). Optional
//! `conn_id` (an `http` connection: base URL for a relative `url`, basic
//! auth or a token, headers), `headers` of its own, and `sha256` to check.
//! The data appears at `to` only once the whole body arrived (as long as
//! `Content-Length` said) and matched `sha256`; a failure, a mismatch or a
//! cancel leaves nothing there. The output is `{bytes, sha256, location,
//! status}`.
//!
//! Retries: see [`transfer`]: the request is retried on 429, 5xx and
//! connection errors; a body that breaks off restarts the download from
//! scratch (3 tries); any other 4xx is `Fatal`.
//!
//! Secrets: the URL is logged and reported without credentials or query,
//! headers are never logged, and the connection's password or token (and
//! any credential-like header value) is replaced by `***` in error
//! messages, whatever the server echoes back.

pub(crate) mod transfer;

use std::collections::BTreeMap;

use serde::Deserialize;
use updraft_io::http::{Retry, client, redact_url, send};
use updraft_io::{Location, Stores};
use updraft_operator_api::connection::HttpAuth;
use updraft_operator_api::{Operator, Output, TaskContext, TaskError, is_template};

use transfer::{Target, download, scrub, started};

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpDownloadConfig {
    /// What to GET: a full `http(s)://` URL, or a path joined to the base
    /// URL of `conn_id`.
    pub url: String,
    /// Request headers (over those of the connection).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// An `http` connection: base URL, basic auth or token, headers.
    #[serde(default)]
    pub conn_id: Option<String>,
    /// Where the body goes.
    pub to: Location,
    /// The AWS connection for an `s3://` destination (else the standard
    /// chain).
    #[serde(default)]
    pub aws_conn_id: Option<String>,
    /// The GCP connection for a `gs://` destination (else Application
    /// Default Credentials).
    #[serde(default)]
    pub gcp_conn_id: Option<String>,
    /// The body's expected SHA-256 (hex).
    #[serde(default)]
    pub sha256: Option<String>,
}

impl std::fmt::Debug for HttpDownloadConfig {
    /// Header values may be credentials: only their names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpDownloadConfig")
            .field("url", &self.url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("conn_id", &self.conn_id)
            .field("to", &self.to)
            .field("aws_conn_id", &self.aws_conn_id)
            .field("gcp_conn_id", &self.gcp_conn_id)
            .field("sha256", &self.sha256)
            .finish()
    }
}

pub struct HttpDownloadOperator;

impl Operator for HttpDownloadOperator {
    const NAME: &'static str = "http_download";
    type Config = HttpDownloadConfig;

    fn validate(cfg: &HttpDownloadConfig) -> Vec<String> {
        let mut problems = Vec::new();
        let url = cfg.url.trim();
        if url.is_empty() {
            problems.push("`url` is empty".into());
        } else if !is_template(url) {
            match url.split_once("://") {
                Some((scheme, _)) if !is_http(scheme) => problems.push(format!(
                    "`url`: the scheme `{scheme}://` is not http:// or https://"
                )),
                None if cfg.conn_id.is_none() => problems.push(
                    "`url` must be a full http:// or https:// URL (or a path, with a `conn_id` whose host is the base URL)"
                        .into(),
                ),
                _ => {}
            }
        }
        if let Some(sum) = &cfg.sha256
            && !is_template(sum)
        {
            let s = sum.trim();
            if s.len() != 64 || !s.chars().all(|c| c.is_ascii_hexdigit()) {
                problems.push(format!(
                    "`sha256`: expected 64 hexadecimal characters, got {} characters{}",
                    s.chars().count(),
                    if s.chars().all(|c| c.is_ascii_hexdigit()) {
                        ""
                    } else {
                        " (not all hexadecimal)"
                    }
                ));
            }
        }
        for (name, value) in &cfg.headers {
            problems.extend(header_problem(name, value));
        }
        problems
    }

    async fn execute(&self, cfg: HttpDownloadConfig, ctx: TaskContext) -> Result<Output, TaskError> {
        let problems = Self::validate(&cfg);
        if !problems.is_empty() {
            return Err(TaskError::Fatal(problems.join("; ")));
        }
        let (url, auth, mut headers) = match cfg.conn_id.as_deref() {
            Some(id) => {
                let c = ctx.http("conn_id", id)?;
                (c.url(cfg.url.trim()), c.auth, c.headers)
            }
            None => (cfg.url.trim().to_string(), HttpAuth::None, BTreeMap::new()),
        };
        headers.extend(cfg.headers.clone());
        let pairs = secrets(&url, &auth, &headers);
        run(&cfg, &ctx, url, auth, headers).await.map_err(|e| scrub(e, &pairs))
    }
}

async fn run(
    cfg: &HttpDownloadConfig,
    ctx: &TaskContext,
    url: String,
    auth: HttpAuth,
    headers: BTreeMap<String, String>,
) -> Result<Output, TaskError> {
    match url.split_once("://") {
        Some((scheme, _)) if is_http(scheme) => {}
        _ => {
            return Err(TaskError::Fatal(format!(
                "`url` {:?} is not an http:// or https:// URL{}",
                url.split(['?', '#']).next().unwrap_or_default(),
                if cfg.conn_id.is_some() {
                    " (the connection has no host to join it to)"
                } else {
                    ""
                }
            )));
        }
    }
    // reqwest parses the URL (and moves any user:password@ into an
    // Authorization header); a bad one is a config error.
    let probe = client()
        .get(url.as_str())
        .build()
        .map_err(|e| TaskError::fatal("`url` is not a valid URL", &e))?;
    let shown = redact_url(probe.url());
    let stores = Stores::for_task(ctx, cfg.aws_conn_id.as_deref(), cfg.gcp_conn_id.as_deref())?;
    ctx.log.info(&format!("GET {shown} -> {}", cfg.to));

    let open = || {
        let (url, headers, auth, cancel) = (url.clone(), headers.clone(), auth.clone(), ctx.cancel.clone());
        async move {
            let build = || {
                let mut rb = client().get(url.as_str());
                for (name, value) in &headers {
                    rb = rb.header(name.as_str(), value.as_str());
                }
                match &auth {
                    HttpAuth::None => rb,
                    HttpAuth::Basic { login, password } => rb.basic_auth(login, password.as_ref()),
                    HttpAuth::Bearer(token) => rb.bearer_auth(token),
                }
            };
            let resp = send(build, Retry::default(), &cancel).await?;
            Ok::<_, TaskError>(started!(resp))
        }
    };
    let target = Target {
        stores: &stores,
        to: &cfg.to,
        sha256: cfg.sha256.as_deref(),
    };
    let got = download(ctx, target, open).await?;
    Ok(serde_json::json!({
        "bytes": got.bytes,
        "sha256": got.sha256,
        "location": cfg.to.to_string(),
        "status": got.status,
    }))
}

fn is_http(scheme: &str) -> bool {
    scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")
}

/// A header name must be an HTTP token; a value must not hold line breaks
/// or NUL (the value is not shown: it may be a credential).
fn header_problem(name: &str, value: &str) -> Option<String> {
    const TOKEN_EXTRA: &str = "!#$%&'*+-.^_`|~";
    if name.is_empty() {
        return Some("`headers`: a header name is empty".into());
    }
    if !is_template(name)
        && !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || TOKEN_EXTRA.contains(c))
    {
        return Some(format!("`headers`: {name:?} is not a valid header name"));
    }
    if value.contains(['\r', '\n', '\0']) {
        return Some(format!("`headers`: the value of {name:?} holds a line break or NUL"));
    }
    None
}

/// Whether a header's value is likely a credential.
fn sensitive_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "authorization",
        "cookie",
        "token",
        "key",
        "secret",
        "auth",
        "password",
        "session",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// What to take out of error messages: the URL as written (it may hold
/// `user:password@` or a token in its query) and as reqwest prints it,
/// replaced by its redacted form; the password or token; credential-like
/// header values (whole, and each long word of them: `token ghp_...`).
fn secrets(url: &str, auth: &HttpAuth, headers: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    if let Ok(req) = client().get(url).build() {
        let shown = redact_url(req.url());
        pairs.push((url.to_string(), shown.clone()));
        pairs.push((req.url().as_str().to_string(), shown));
    }
    let mut hide = |s: &str| {
        if s.len() >= 4 {
            pairs.push((s.to_string(), "***".into()));
        }
    };
    // user:password@ in the URL.
    if let Some((_, rest)) = url.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && let Some((_, password)) = userinfo.split_once(':')
        {
            hide(password);
        }
    }
    match auth {
        HttpAuth::None => {}
        HttpAuth::Basic { password, .. } => hide(password.as_deref().unwrap_or_default()),
        HttpAuth::Bearer(token) => hide(token),
    }
    for (name, value) in headers {
        if sensitive_header(name) {
            hide(value);
            for word in value.split_whitespace().filter(|w| w.len() >= 8) {
                hide(word);
            }
        }
    }
    // Longest first, so a value is replaced before a word inside it.
    pairs.sort_by_key(|(needle, _)| std::cmp::Reverse(needle.len()));
    pairs
}

/// Test helpers (local servers, contexts) shared with `kaggle_download`.
#[cfg(test)]
pub(crate) mod tests;
