//! Real sockets against the served UI: clients that send their headers
//! slowly, more of them than the connection cap, neither keep the UI from
//! answering once the header timeout has passed nor hold file descriptors
//! without bound. (Alone in this binary: it counts the process's fds.)

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use updraft_web::WebLimits;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// `GET /dags` answered, with its status line.
fn answered(addr: std::net::SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /dags HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.lines()
        .next()
        .map(str::to_string)
        .filter(|l| l.starts_with("HTTP/1.1"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_beyond_the_cap_do_not_take_the_ui_down() {
    const CAP: usize = 16;
    const SLOW: usize = 80;
    let f = common::fixture().await;
    let limits = WebLimits {
        max_connections: CAP,
        header_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = std::sync::Arc::new(tokio::sync::Notify::new());
    let server = tokio::spawn(updraft_web::serve(listener, f.params(true, limits), {
        let stop = stop.clone();
        async move { stop.notified().await }
    }));
    let ok = tokio::task::spawn_blocking(move || answered(addr)).await.unwrap();
    assert_eq!(ok.as_deref(), Some("HTTP/1.1 200 OK"), "the UI answers at first");

    let before = open_fds();
    let slow: Vec<TcpStream> = tokio::task::spawn_blocking(move || {
        (0..SLOW)
            .map(|_| {
                let mut s = TcpStream::connect(addr).unwrap();
                // Half a request, and then nothing.
                s.write_all(b"GET /dags HTTP/1.1\r\nHost: 127.0.0.1\r\n").unwrap();
                s
            })
            .collect()
    })
    .await
    .unwrap();
    // The server has accepted what it will: at most CAP held, the rest closed.
    let deadline = Instant::now() + Duration::from_secs(5);
    let server_fds = loop {
        let held = open_fds().saturating_sub(before + SLOW);
        if held <= CAP + 4 || Instant::now() > deadline {
            break held;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        server_fds <= CAP + 4,
        "the server holds {server_fds} descriptors for {SLOW} slow clients (cap {CAP})"
    );

    // Once the header timeout has passed, the UI answers again.
    let started = Instant::now();
    let deadline = started + Duration::from_secs(15);
    loop {
        let r = tokio::task::spawn_blocking(move || answered(addr)).await.unwrap();
        if r.as_deref() == Some("HTTP/1.1 200 OK") {
            break;
        }
        assert!(Instant::now() < deadline, "the UI did not answer within 15 s: {r:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "the UI answered {:?} after {SLOW} slow clients took the {CAP} connections",
        started.elapsed()
    );
    // Every slow client was closed: refused at once or timed out.
    let closed = tokio::task::spawn_blocking(move || {
        slow.into_iter()
            .filter(|s| {
                let mut s = s.try_clone().unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut buf = [0u8; 512];
                // EOF, a reset, or a 408 before the close.
                !matches!(s.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut)
            })
            .count()
    })
    .await
    .unwrap();
    assert_eq!(closed, SLOW, "every slow client was closed");
    stop.notify_waiters();
    server.await.unwrap().unwrap();
}
