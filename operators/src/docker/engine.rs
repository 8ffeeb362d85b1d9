//! Reaching the Docker engine named by `docker_url`.

use std::time::Duration;

use bollard::{API_DEFAULT_VERSION, Docker};

use super::error::{DockerError, reason};

/// How long connecting and agreeing on an API version may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// bollard's per-request limit on waiting for response headers; streams
/// (logs, wait) answer headers at once, so only slow engines hit it.
const REQUEST_TIMEOUT_SECS: u64 = 120;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(String),
    Tcp(String),
}

/// `unix:///path`, `tcp://host:port` (or `http://`), or a bare socket path.
pub fn parse_url(url: &str) -> Result<Endpoint, DockerError> {
    let bad = |reason: &str| DockerError::BadUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    if let Some(path) = url.strip_prefix("unix://") {
        if !path.starts_with('/') {
            return Err(bad("a unix socket path must be absolute (unix:///var/run/docker.sock)"));
        }
        Ok(Endpoint::Unix(url.to_string()))
    } else if let Some(rest) = url.strip_prefix("tcp://").or_else(|| url.strip_prefix("http://")) {
        if rest.is_empty() || rest.starts_with(':') {
            return Err(bad("no host (tcp://host:2375)"));
        }
        Ok(Endpoint::Tcp(format!("tcp://{rest}")))
    } else if url.starts_with('/') {
        Ok(Endpoint::Unix(format!("unix://{url}")))
    } else {
        Err(bad(
            "expected unix:///path/to/docker.sock or tcp://host:port (TLS is not supported)",
        ))
    }
}

/// Connects and agrees on an API version with the engine (so an older engine
/// works), failing with [`DockerError::Unreachable`] naming the URL.
pub async fn connect(url: &str) -> Result<Docker, DockerError> {
    let unreachable = |reason: String| DockerError::Unreachable {
        url: url.to_string(),
        reason,
    };
    let docker = match parse_url(url)? {
        Endpoint::Unix(u) => Docker::connect_with_unix(&u, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION),
        Endpoint::Tcp(u) => Docker::connect_with_http(&u, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION),
    }
    .map_err(|e| unreachable(reason(&e)))?;
    match tokio::time::timeout(CONNECT_TIMEOUT, docker.negotiate_version()).await {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(e)) => Err(unreachable(reason(&e))),
        Err(_) => Err(unreachable(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()))),
    }
}
