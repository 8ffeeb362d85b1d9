//! The shared HTTP client's retry rules against a local server that
//! answers what each test scripts: 429 and 5xx are tried again (waiting
//! what `Retry-After` asks), other 4xx fail at once, and the errors carry
//! the retry meaning into `TaskError`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use tokio_util::sync::CancellationToken;
use updraft_io::http::{HttpError, Retry, send};
use updraft_operator_api::TaskError;

/// Serves `script[n]` (status, Retry-After) to the n-th request (the last
/// one again after the end); counts requests.
async fn server(script: Vec<(u16, Option<&'static str>)>) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = axum::Router::new().route(
        "/x",
        axum::routing::get(move || {
            let h = h.clone();
            let script = script.clone();
            async move {
                let n = h.fetch_add(1, Ordering::SeqCst);
                let (status, after) = script[n.min(script.len() - 1)];
                let mut headers = HeaderMap::new();
                if let Some(a) = after {
                    headers.insert("retry-after", a.parse().unwrap());
                }
                (StatusCode::from_u16(status).unwrap(), headers, format!("answer {n}"))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/x", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, hits)
}

fn quick() -> Retry {
    Retry {
        attempts: 4,
        first_wait: Duration::from_millis(20),
        max_wait: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn server_errors_and_429_are_retried_until_success() {
    let (url, hits) = server(vec![(503, None), (500, None), (429, Some("1")), (200, None)]).await;
    let started = Instant::now();
    let resp = send(
        || updraft_io::http::client().get(&url),
        quick(),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(resp.text().await.unwrap(), "answer 3");
    assert_eq!(hits.load(Ordering::SeqCst), 4);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was not honoured"
    );
}

#[tokio::test]
async fn other_client_errors_fail_at_once_and_are_fatal() {
    let (url, hits) = server(vec![(404, None), (200, None)]).await;
    let e = send(
        || updraft_io::http::client().get(&url),
        quick(),
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(hits.load(Ordering::SeqCst), 1, "a 404 is not retried");
    let msg = e.to_string();
    assert!(
        msg.contains("GET") && msg.contains("HTTP 404 Not Found: answer 0"),
        "{msg}"
    );
    assert!(matches!(TaskError::from(e), TaskError::Fatal(_)));
}

#[tokio::test]
async fn a_long_retry_after_is_left_to_the_task_retry() {
    let (url, hits) = server(vec![(429, Some("120"))]).await;
    let e = send(
        || updraft_io::http::client().get(&url),
        quick(),
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "a 2-minute wait is not slept in the request"
    );
    match TaskError::from(e) {
        TaskError::RetryAfter { after, .. } => assert_eq!(after, Duration::from_secs(120)),
        other => panic!("expected RetryAfter, got {other:?}"),
    }
}

#[tokio::test]
async fn exhausted_retries_fail_retryably_and_cancel_stops_the_wait() {
    let (url, hits) = server(vec![(502, None)]).await;
    let e = send(
        || updraft_io::http::client().get(&url),
        quick(),
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(hits.load(Ordering::SeqCst), 4);
    assert!(matches!(TaskError::from(e), TaskError::Failed(_)));

    let slow = Retry {
        attempts: 5,
        first_wait: Duration::from_secs(30),
        max_wait: Duration::from_secs(30),
    };
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    let url2 = url.clone();
    let task = tokio::spawn(async move { send(|| updraft_io::http::client().get(&url2), slow, &c).await });
    // The first answer arrives, then the backoff wait begins: cancel it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while hits.load(Ordering::SeqCst) < 5 {
        assert!(Instant::now() < deadline, "the first attempt did not happen");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cancel.cancel();
    let r = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("cancel ends the wait");
    assert!(matches!(r.unwrap(), Err(HttpError::Cancelled)));
}

#[tokio::test]
async fn a_refused_connection_is_a_retryable_failure() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let e = send(
        || updraft_io::http::client().get(&url),
        quick(),
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, HttpError::Transport { .. }), "{e}");
    assert!(matches!(TaskError::from(e), TaskError::Failed(_)));
}

#[tokio::test]
async fn a_connection_error_does_not_repeat_the_query_it_may_carry_a_token_in() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/file.csv?token=SECRET-TOKEN-42");
    let one = Retry {
        attempts: 1,
        ..Retry::default()
    };
    let e = send(|| updraft_io::http::client().get(&url), one, &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(e, HttpError::Transport { .. }), "{e:?}");
    let text = e.to_string();
    let shown = format!("{text} {:?}", TaskError::from(e));
    assert!(!shown.contains("SECRET-TOKEN-42"), "{shown}");
    assert!(shown.contains(&format!("127.0.0.1:{port}/file.csv")), "{shown}");
}
