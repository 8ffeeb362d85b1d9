//! Many logins at once, each from its own address and for its own name (so
//! no throttle stops them): the password hashes run a few at a time, so
//! memory stays bounded (argon2 holds ~19 MiB per hash). Alone in this
//! binary: it reads the process's peak memory.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use common::*;
use updraft_web::WebLimits;

fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_logins_hash_a_few_at_a_time() {
    const LOGINS: usize = 40;
    let f = fixture().await;
    let app = f.app_with(
        true,
        WebLimits {
            login_hashes: 2,
            login_hash_wait: Duration::from_millis(300),
            ..Default::default()
        },
    );
    // Tokens first, so the logins start together.
    let mut reqs = Vec::new();
    for i in 0..LOGINS {
        let token = csrf_token(&app, None).await;
        let mut req = form_request("/login", &format!("username=u{i}&password=guess"), &token, None);
        let addr: SocketAddr = format!("10.1.{}.{}:4000", i / 200, i % 200).parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(addr));
        reqs.push(req);
    }
    let before = peak_rss_mib();
    let tasks: Vec<_> = reqs
        .into_iter()
        .map(|req| {
            let app = app.clone();
            tokio::spawn(async move { send(&app, req).await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let grew = peak_rss_mib().saturating_sub(before);
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let busy = statuses.iter().filter(|s| **s == 503).count();
    eprintln!("{LOGINS} logins at once: {checked} checked, {busy} told to retry (503); peak RSS grew {grew} MiB");
    assert_eq!(checked + busy, LOGINS, "{statuses:?}");
    assert!(checked >= 2, "{statuses:?}");
    assert!(grew < 150, "peak memory grew {grew} MiB for {LOGINS} concurrent logins");
}
