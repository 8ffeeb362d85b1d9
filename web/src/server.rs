//! The accept loop: HTTP/1.1 connections through hyper, each with a time
//! limit for its request headers (a slow client is closed, an idle
//! kept-alive one too) and at most [`WebLimits::max_connections`] open at
//! once (past it, new connections are closed as soon as accepted, so file
//! descriptors stay bounded and the scheduler and tasks in the same process
//! keep theirs). On stop, open connections get a few seconds to finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use crate::{AppState, WebLimits, WebParams, router};

/// How long open connections get to finish once the server stops.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves the UI on `listener` until `stop` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    params: WebParams,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits: WebLimits = params.limits.clone();
    let app = router(AppState::new(params));
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(64 * 1024);
    let (stopping, stopped) = watch::channel(false);
    let mut conns = JoinSet::new();
    let mut refused: u64 = 0;
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            a = listener.accept() => a,
        };
        let (socket, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors, most likely: wait for some to
                // close rather than spin.
                tracing::warn!(error = %e, "the web UI could not accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(
                    max = limits.max_connections,
                    refused,
                    "the web UI has its maximum of open connections: closing new ones"
                );
            }
            drop(socket);
            continue;
        };
        let _ = socket.set_nodelay(true);
        let service = app.clone().map_request(move |mut req: axum::http::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            req
        });
        let conn = http.serve_connection(TokioIo::new(socket), TowerToHyperService::new(service));
        let mut stopped = stopped.clone();
        conns.spawn(async move {
            let _slot = slot;
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stopped.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    let _ = stopping.send(true);
    let drained = tokio::time::timeout(DRAIN, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        // Live log streams do not end by themselves.
        conns.abort_all();
    }
    Ok(())
}
