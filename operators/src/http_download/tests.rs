//! Against local HTTP servers started in each test (axum on 127.0.0.1:0,
//! and a raw TCP one for a body cut short). They answer as GitHub raw
//! (raw.githubusercontent.com) does: the file with `Content-Length` and
//! `text/plain`, `404: Not Found` for a missing path, private files only
//! with the right `Authorization` (`token ...`, `Bearer ...` or basic auth).
//! The operator runs from YAML through the engine's registry, as a worker
//! runs it. Nothing sleeps and then asserts: tests wait on log lines and
//! count requests.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use updraft_engine::Registry;
use updraft_engine::yaml::parse_document;
use updraft_operator_api::{Connection, LogSink, TaskContext, TaskError};

use super::HttpDownloadOperator;
use updraft_operator_api::Operator;

pub(crate) type Lines = Arc<Mutex<Vec<String>>>;

/// A detached context whose log lines are kept, with these connections.
pub(crate) fn ctx(connections: &[(&str, Connection)]) -> (TaskContext, Lines) {
    let lines: Lines = Arc::default();
    let sink = lines.clone();
    let ctx = TaskContext {
        log: LogSink::new(move |_, l| sink.lock().unwrap().push(l.to_string())),
        connections: Arc::new(
            connections
                .iter()
                .map(|(id, c)| (id.to_string(), c.clone()))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..TaskContext::detached("download")
    };
    (ctx, lines)
}

/// Serves `app` on 127.0.0.1 (a free port); returns `http://127.0.0.1:PORT`.
pub(crate) async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// Runs `operator` with a config written in YAML through the registry that
/// `register_all` fills, as the worker runs a rendered task.
pub(crate) async fn run(operator: &str, yaml: &str, ctx: TaskContext) -> Result<serde_json::Value, TaskError> {
    let registry = Registry::with(crate::register_all);
    let node = parse_document(yaml).expect("valid YAML");
    let problems = registry.check(operator, &node, &[]);
    assert!(problems.is_empty(), "{problems:?}");
    registry.execute(operator, &node, ctx).await
}

/// The config problems `registry().check` reports for `yaml`.
pub(crate) fn problems(operator: &str, yaml: &str) -> Vec<String> {
    let node = parse_document(yaml).expect("valid YAML");
    Registry::with(crate::register_all)
        .check(operator, &node, &[])
        .into_iter()
        .map(|p| p.1)
        .collect()
}

/// Standard base64 (the `Basic` credentials a client sends).
pub(crate) fn b64(s: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in s.as_bytes().chunks(3) {
        let n = u32::from(c[0]) << 16 | u32::from(*c.get(1).unwrap_or(&0)) << 8 | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Files in `dir` and below (temporary ones included).
pub(crate) fn files_in(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.path().is_dir() {
                found.extend(files_in(&e.path()));
            } else {
                found.push(e.path().display().to_string());
            }
        }
    }
    found
}

/// `url` as messages show it (`updraft_io::http::redact_url`).
pub(crate) fn redacted(url: &str) -> String {
    updraft_io::http::redact_url(updraft_io::http::client().get(url).build().unwrap().url())
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// 3 MiB and a bit: many chunks on the wire.
fn data() -> Vec<u8> {
    (0..(3 << 20) + 4321)
        .map(|i: usize| b"InvoiceNo,StockCode,Description\n"[i % 32])
        .collect()
}

/// GitHub raw's answers: the file, `404: Not Found`, and a private file
/// needing one of the accepted `Authorization` values (a wrong one gets a
/// 401 whose body echoes what was sent, as some servers do). Every
/// `Authorization` received is recorded.
struct Raw {
    base: String,
    hits: Arc<AtomicUsize>,
    auth_seen: Arc<Mutex<Vec<Option<String>>>>,
}

async fn raw_server(accepted: Vec<String>) -> Raw {
    let hits = Arc::new(AtomicUsize::new(0));
    let auth_seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let body = Arc::new(data());
    let text = |b: Vec<u8>| {
        let mut h = HeaderMap::new();
        h.insert("content-type", "text/plain; charset=utf-8".parse().unwrap());
        (h, b)
    };
    let (h1, h2, b1, b2, seen) = (
        hits.clone(),
        hits.clone(),
        body.clone(),
        body.clone(),
        auth_seen.clone(),
    );
    let app = axum::Router::new()
        .route(
            "/o/r/main/data.csv",
            get(move || {
                let b = b1.clone();
                h1.fetch_add(1, Ordering::SeqCst);
                async move { text(b.to_vec()) }
            }),
        )
        .route(
            "/o/r/main/flaky.csv",
            get(move || {
                let n = h2.fetch_add(1, Ordering::SeqCst);
                let b = b2.clone();
                async move {
                    if n == 0 {
                        let mut h = HeaderMap::new();
                        h.insert("retry-after", "0".parse().unwrap());
                        (StatusCode::SERVICE_UNAVAILABLE, h, b"try again".to_vec())
                    } else {
                        let (h, b) = text(b.to_vec());
                        (StatusCode::OK, h, b)
                    }
                }
            }),
        )
        .route(
            "/private/main/data.csv",
            get(move |headers: HeaderMap| {
                let got = headers.get("authorization").map(|v| v.to_str().unwrap().to_string());
                seen.lock().unwrap().push(got.clone());
                let ok = got.as_ref().is_some_and(|g| accepted.contains(g));
                async move {
                    if ok {
                        (StatusCode::OK, b"private,data\n1,2\n".to_vec())
                    } else {
                        (
                            StatusCode::UNAUTHORIZED,
                            format!("Bad credentials: {}", got.unwrap_or_default()).into_bytes(),
                        )
                    }
                }
            }),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "404: Not Found") });
    Raw {
        base: serve(app).await,
        hits,
        auth_seen,
    }
}

#[tokio::test]
async fn downloads_to_a_local_path_and_reports_its_sha256() {
    let raw = raw_server(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("landing/data_url_uncleaned.csv");
    let expected = sha256_hex(&data());
    let (ctx, lines) = ctx(&[]);
    let out = run(
        "http_download",
        &format!(
            "url: {}/o/r/main/data.csv\nto: file://{}\nsha256: {}\n",
            raw.base,
            dest.display(),
            expected.to_uppercase()
        ),
        ctx,
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        serde_json::json!({
            "bytes": data().len(),
            "sha256": expected,
            "location": dest.display().to_string(),
            "status": 200,
        })
    );
    assert!(std::fs::read(&dest).unwrap() == data(), "the bytes differ");
    assert_eq!(
        files_in(dir.path()),
        vec![dest.display().to_string()],
        "no temporary file left"
    );
    let lines = lines.lock().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("HTTP 200, 3.0 MiB (3150049 bytes), text/plain")),
        "{lines:?}"
    );
    let last = lines.last().unwrap();
    assert!(
        last.starts_with("downloaded 3.0 MiB (3150049 bytes) in ") && last.contains("/s) to "),
        "{last}"
    );
    assert_eq!(raw.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_sha256_mismatch_fails_and_leaves_nothing() {
    let raw = raw_server(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.csv");
    let (ctx, _) = ctx(&[]);
    let wrong = "0".repeat(64);
    let e = run(
        "http_download",
        &format!(
            "url: {}/o/r/main/data.csv\nto: {}\nsha256: \"{wrong}\"\n",
            raw.base,
            dest.display()
        ),
        ctx,
    )
    .await
    .unwrap_err();
    let TaskError::Fatal(msg) = e else {
        panic!("not fatal: {e:?}")
    };
    assert!(
        msg.contains(&format!(
            "sha256 mismatch: expected {wrong}, the 3150049 bytes received hash to {}",
            sha256_hex(&data())
        )),
        "{msg}"
    );
    assert!(files_in(dir.path()).is_empty(), "left: {:?}", files_in(dir.path()));
}

/// A server that declares `Content-Length: 1000`, sends 400 bytes and
/// closes the connection, for every request; counts requests.
async fn truncating_server() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let h = h.clone();
            tokio::spawn(async move {
                // Read the request head.
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = sock.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    head.extend_from_slice(&buf[..n]);
                }
                h.fetch_add(1, Ordering::SeqCst);
                let mut resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n".to_vec();
                resp.extend(std::iter::repeat_n(b'x', 400));
                sock.write_all(&resp).await.unwrap();
                sock.shutdown().await.unwrap();
            });
        }
    });
    (base, hits)
}

#[tokio::test]
async fn a_truncated_body_is_downloaded_again_then_fails_naming_the_shortfall() {
    let (base, hits) = truncating_server().await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("short.csv");
    let (ctx, lines) = ctx(&[]);
    let e = run(
        "http_download",
        &format!("url: {base}/file.csv\nto: {}\n", dest.display()),
        ctx,
    )
    .await
    .unwrap_err();
    let TaskError::Failed(msg) = e else {
        panic!("a broken body is worth a later retry: {e:?}")
    };
    assert!(
        msg.starts_with(&format!(
            "{base}/file.csv: the body broke off after 400 of 1000 bytes (600 missing)"
        )),
        "{msg}"
    );
    assert!(
        msg.ends_with(&format!("(tried 3 times); nothing was written to {}", dest.display())),
        "{msg}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 3, "each try downloads from the start");
    assert!(
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("downloading again from the start") && l.contains("try 2 of 3")),
        "{lines:?}"
    );
    assert!(files_in(dir.path()).is_empty(), "left: {:?}", files_in(dir.path()));
}

#[tokio::test]
async fn a_404_is_fatal_and_names_the_url_without_its_query() {
    let raw = raw_server(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let (ctx, lines) = ctx(&[]);
    let e = run(
        "http_download",
        &format!(
            "url: \"{}/o/r/main/nope.csv?token=qs-secret-123\"\nto: {}/x.csv\n",
            raw.base,
            dir.path().display()
        ),
        ctx,
    )
    .await
    .unwrap_err();
    // The URL as `redact_url` shows it: no query (whatever its spelling of
    // the ellipsis).
    let shown = redacted(&format!("{}/o/r/main/nope.csv?token=qs-secret-123", raw.base));
    assert!(
        shown.starts_with(&format!("{}/o/r/main/nope.csv?", raw.base)),
        "{shown}"
    );
    assert_eq!(
        e,
        TaskError::Fatal(format!("GET {shown}: HTTP 404 Not Found: 404: Not Found"))
    );
    assert!(!lines.lock().unwrap().iter().any(|l| l.contains("qs-secret-123")));
    assert!(files_in(dir.path()).is_empty());
}

#[tokio::test]
async fn a_503_is_retried_and_the_download_succeeds() {
    let raw = raw_server(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _) = ctx(&[]);
    let out = run(
        "http_download",
        &format!(
            "url: {}/o/r/main/flaky.csv\nto: {}/flaky.csv\n",
            raw.base,
            dir.path().display()
        ),
        ctx,
    )
    .await
    .unwrap();
    assert_eq!(raw.hits.load(Ordering::SeqCst), 2, "one 503, then the file");
    assert_eq!(out["bytes"], data().len());
    assert_eq!(out["status"], 200);
    assert!(std::fs::read(dir.path().join("flaky.csv")).unwrap() == data());
}

#[tokio::test]
async fn credentials_reach_the_server_but_not_the_log_or_the_errors() {
    let raw = raw_server(vec![
        format!("Basic {}", b64("reader:basic-pass-4711")),
        "token ghp_headertoken0815".to_string(),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    // Basic auth from a connection whose host is the base URL; the task's
    // `url` is a path joined to it.
    let basic = Connection {
        conn_type: Some("http".into()),
        host: Some(raw.base.clone()),
        login: Some("reader".into()),
        password: Some("basic-pass-4711".into()),
        ..Default::default()
    };
    // A token the server does not accept (its 401 echoes it back).
    let bearer = Connection {
        conn_type: Some("http".into()),
        host: Some(raw.base.clone()),
        extra: Some(serde_json::Value::String(r#"{"token": "ghp_wrongtoken4242"}"#.into())),
        ..Default::default()
    };
    let (c, lines) = ctx(&[("gh_basic", basic), ("gh_bearer", bearer)]);
    let out = run(
        "http_download",
        &format!(
            "url: /private/main/data.csv\nconn_id: gh_basic\nto: {}/basic.csv\n",
            dir.path().display()
        ),
        c.clone(),
    )
    .await
    .unwrap();
    assert_eq!(out["bytes"], 17);

    let e = run(
        "http_download",
        &format!(
            "url: private/main/data.csv\nconn_id: gh_bearer\nto: {}/bearer.csv\n",
            dir.path().display()
        ),
        c.clone(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        e,
        TaskError::Fatal(format!(
            "GET {}/private/main/data.csv: HTTP 401 Unauthorized: Bad credentials: Bearer ***",
            raw.base
        ))
    );

    // A GitHub-style header of the task's own, no connection.
    let out = run(
        "http_download",
        &format!(
            "url: {}/private/main/data.csv\nheaders: {{Authorization: token ghp_headertoken0815}}\nto: {}/header.csv\n",
            raw.base,
            dir.path().display()
        ),
        c,
    )
    .await
    .unwrap();
    assert_eq!(out["status"], 200);

    assert_eq!(
        *raw.auth_seen.lock().unwrap(),
        vec![
            Some(format!("Basic {}", b64("reader:basic-pass-4711"))),
            Some("Bearer ghp_wrongtoken4242".into()),
            Some("token ghp_headertoken0815".into()),
        ]
    );
    let lines = lines.lock().unwrap();
    assert!(!lines.is_empty());
    for secret in ["basic-pass-4711", "ghp_wrongtoken4242", "ghp_headertoken0815"] {
        assert!(!lines.iter().any(|l| l.contains(secret)), "{secret} logged: {lines:?}");
    }
    let mut names = files_in(dir.path());
    names.sort();
    assert_eq!(
        names,
        vec![
            dir.path().join("basic.csv").display().to_string(),
            dir.path().join("header.csv").display().to_string(),
        ]
    );
}

#[tokio::test]
async fn cancelling_mid_body_leaves_nothing() {
    // The first 64 KiB of a 10 MiB file, then nothing more (the server
    // keeps the connection open).
    let app = axum::Router::new().route(
        "/big.bin",
        get(|| async {
            let first = futures_util::stream::iter([Ok::<_, std::io::Error>(vec![7u8; 64 << 10])]);
            let rest = futures_util::stream::pending::<Result<Vec<u8>, std::io::Error>>();
            let mut h = HeaderMap::new();
            h.insert("content-length", (10u64 << 20).to_string().parse().unwrap());
            (
                h,
                axum::body::Body::from_stream(futures_util::StreamExt::chain(first, rest)),
            )
        }),
    );
    let base = serve(app).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut c, _) = ctx(&[]);
    let (tx, mut rx) = mpsc::unbounded_channel();
    c.log = LogSink::new(move |_, l| {
        let _ = tx.send(l.to_string());
    });
    let cancel = c.cancel.clone();
    let cfg = format!("url: {base}/big.bin\nto: {}/big.bin\n", dir.path().display());
    let task = tokio::spawn(async move { run("http_download", &cfg, c).await });
    // The response started and the writer is open.
    while let Some(line) = rx.recv().await {
        if line.contains("HTTP 200, 10.0 MiB") {
            break;
        }
    }
    let partial = files_in(dir.path());
    assert!(
        partial.len() == 1 && partial[0].ends_with(".tmp"),
        "the download is under way into a temporary file: {partial:?}"
    );
    cancel.cancel();
    assert_eq!(task.await.unwrap(), Err(TaskError::Cancelled));
    assert!(files_in(dir.path()).is_empty(), "left: {:?}", files_in(dir.path()));
}

#[test]
fn config_problems_are_found_when_the_dag_loads() {
    let bad = [
        (
            "url: ftp://h/x\nto: x",
            "the scheme `ftp://` is not http:// or https://",
        ),
        ("url: /a/b.csv\nto: x", "`url` must be a full http:// or https:// URL"),
        (
            "url: http://h/x\nto: x\nsha256: abc",
            "`sha256`: expected 64 hexadecimal characters, got 3",
        ),
        (
            "url: http://h/x\nto: x\nheaders: {\"Bad Name\": v}",
            "\"Bad Name\" is not a valid header name",
        ),
        ("url: http://h/x\nto: ftp://h/x", "unknown scheme `ftp://`"),
        ("url: http://h/x\nto: x\ntimeout: 5", "timeout"),
    ];
    for (yaml, says) in bad {
        let p = problems("http_download", yaml);
        assert!(p.len() == 1 && p[0].contains(says), "{yaml}: {p:?}");
    }
    // Templates are checked once rendered; any location is a destination.
    for to in [
        "\"gs://{{ var.json.gcs.landing }}/data_url_uncleaned.csv\"",
        "s3://bucket/in/x.csv",
        "file:///data/x.csv",
        "relative/x.csv",
    ] {
        let yaml = format!(
            "url: \"{{{{ var.value.raw_url }}}}\"\nsha256: \"{{{{ var.value.sum }}}}\"\nto: {to}\naws_conn_id: aws\ngcp_conn_id: gcp\n"
        );
        assert_eq!(problems("http_download", &yaml), Vec::<String>::new(), "{to}");
    }
    assert!(problems("http_download", "url: /a.csv\nconn_id: gh\nto: x").is_empty());

    let node = parse_document("url: http://h/x\nto: x\nheaders: {Authorization: token hunter2}").unwrap();
    let cfg: super::HttpDownloadConfig = updraft_engine::yaml::from_node(&node).unwrap();
    assert!(!format!("{cfg:?}").contains("hunter2"));
    assert_eq!(HttpDownloadOperator::NAME, "http_download");
}
