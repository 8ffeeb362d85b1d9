//! DNS rebinding: a web page the operator visits can make its own host name
//! resolve to 127.0.0.1 and then talk to a UI that runs open (no user) on
//! this machine. Such requests name the attacker's host in `Host` (and
//! `Origin`), so in open mode only loopback names are answered: `localhost`,
//! `127.0.0.0/8` and `[::1]`, with any port.

use std::net::{IpAddr, Ipv6Addr};

use axum::extract::Request;
use axum::http::header;

use crate::WebError;

/// Refuses a request whose `Host` (421) or `Origin` (403) is not loopback.
pub fn loopback_only(req: &Request) -> Result<(), WebError> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_string()));
    if !host.as_deref().is_some_and(loopback_host) {
        return Err(WebError::Misdirected(
            "this UI runs without login, so it answers only to localhost, 127.0.0.1 or [::1]: \
             open it by one of those names, or create a user (`updraft users create NAME`)"
                .into(),
        ));
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let ok = origin.to_str().ok().is_some_and(|o| {
            o.strip_prefix("http://")
                .or_else(|| o.strip_prefix("https://"))
                .is_some_and(loopback_host)
        });
        if !ok {
            return Err(WebError::Forbidden(
                "this UI runs without login and refuses requests from pages of other sites (Origin header)".into(),
            ));
        }
    }
    Ok(())
}

/// `name[:port]` naming this machine.
pub fn loopback_host(host: &str) -> bool {
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, port)) => {
                return v6.parse::<Ipv6Addr>().is_ok_and(|a| a.is_loopback()) && valid_port(port);
            }
            None => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) => (name, format!(":{port}")),
            None => (host, String::new()),
        },
    };
    valid_port(&port)
        && (name.eq_ignore_ascii_case("localhost")
            || name.parse::<IpAddr>().is_ok_and(|a| a.is_loopback() && a.is_ipv4()))
}

/// Empty, or `:` and a port number.
fn valid_port(p: &str) -> bool {
    p.is_empty() || p.strip_prefix(':').is_some_and(|n| n.parse::<u16>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_pass() {
        for ok in [
            "localhost",
            "LocalHost:8080",
            "127.0.0.1",
            "127.0.0.1:80",
            "127.9.8.7:65535",
            "[::1]",
            "[::1]:8080",
        ] {
            assert!(loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "10.0.0.1",
            "0.0.0.0:8080",
            "[::2]:80",
            "[::1",
            "localhost:http",
            "localhost:99999",
            "127.0.0.1:80:80",
            "",
        ] {
            assert!(!loopback_host(bad), "{bad}");
        }
    }
}
