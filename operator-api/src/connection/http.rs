//! Airflow's `http` connection: the base URL from `schema` (http or
//! https), `host` and `port` (or a host that is already a URL); login and
//! password for basic auth, or a token (`extra.token`, or a password
//! without a login) sent as a bearer token; `extra.headers` (or, as
//! Airflow's HttpHook does, the other plain `extra` fields) as headers.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Connection, ConnectionError};

#[derive(Clone, PartialEq, Eq)]
pub enum HttpAuth {
    None,
    Basic { login: String, password: Option<String> },
    Bearer(String),
}

impl std::fmt::Debug for HttpAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpAuth::None => f.write_str("None"),
            HttpAuth::Basic { login, .. } => write!(f, "Basic({login}, ***)"),
            HttpAuth::Bearer(_) => f.write_str("Bearer(***)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConnection {
    /// Without a trailing slash; empty when the connection names no host
    /// (the task's URL is then used as it is).
    pub base_url: String,
    pub auth: HttpAuth,
    pub headers: BTreeMap<String, String>,
}

/// `extra` fields of Airflow's HttpHook that are settings, not headers.
const NOT_HEADERS: &[&str] = &[
    "headers",
    "token",
    "auth_type",
    "timeout",
    "verify",
    "proxies",
    "stream",
    "cert",
    "max_redirects",
    "trust_env",
    "allow_redirects",
    "check_response",
];

impl HttpConnection {
    pub fn from_connection(id: &str, c: &Connection) -> Result<Self, ConnectionError> {
        c.expect_type(id, &["http", "https", "github"])?;
        let extra = c.extra_json();
        let base_url = match c.host.as_deref().map(str::trim).filter(|h| !h.is_empty()) {
            None => String::new(),
            Some(h) if h.contains("://") => h.trim_end_matches('/').to_string(),
            Some(h) => {
                let scheme = match c.schema.as_deref().filter(|s| !s.is_empty()) {
                    Some(s) => s.to_string(),
                    None if c.conn_type.as_deref() == Some("https") => "https".into(),
                    None => "http".into(),
                };
                let port = c.port.map(|p| format!(":{p}")).unwrap_or_default();
                format!("{scheme}://{}{port}", h.trim_end_matches('/'))
            }
        };
        let token = Connection::extra_str(&extra, "http", "token");
        let auth = match (c.login.clone().filter(|l| !l.is_empty()), c.password.clone(), token) {
            (_, _, Some(t)) => HttpAuth::Bearer(t),
            (Some(login), password, None) => HttpAuth::Basic { login, password },
            (None, Some(p), None) if !p.is_empty() => HttpAuth::Bearer(p),
            _ => HttpAuth::None,
        };
        let mut headers = BTreeMap::new();
        match extra.get("headers") {
            Some(Value::Object(h)) => {
                for (k, v) in h {
                    headers.insert(k.clone(), value_text(v));
                }
            }
            Some(_) => {
                return Err(ConnectionError::Invalid {
                    id: id.into(),
                    problem: "extra.headers must be an object of header names to values".into(),
                });
            }
            None => {
                for (k, v) in &extra {
                    if !NOT_HEADERS.contains(&k.as_str())
                        && !k.starts_with("extra__")
                        && !v.is_object()
                        && !v.is_array()
                    {
                        headers.insert(k.clone(), value_text(v));
                    }
                }
            }
        }
        Ok(HttpConnection {
            base_url,
            auth,
            headers,
        })
    }

    /// `path` joined to the base URL; a full URL is kept as it is.
    pub fn url(&self, path: &str) -> String {
        if path.contains("://") || self.base_url.is_empty() {
            path.to_string()
        } else if path.is_empty() {
            self.base_url.clone()
        } else {
            format!("{}/{}", self.base_url, path.trim_start_matches('/'))
        }
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base_url_auth_and_headers() {
        let c = Connection {
            conn_type: Some("http".into()),
            host: Some("raw.githubusercontent.com".into()),
            schema: Some("https".into()),
            extra: Some(json!({"token": "ghp_x", "Accept": "text/csv", "timeout": 30})),
            ..Default::default()
        };
        let h = HttpConnection::from_connection("gh", &c).unwrap();
        assert_eq!(
            h.url("/o/r/main/a.csv"),
            "https://raw.githubusercontent.com/o/r/main/a.csv"
        );
        assert_eq!(h.url("http://elsewhere/x"), "http://elsewhere/x");
        assert_eq!(h.auth, HttpAuth::Bearer("ghp_x".into()));
        assert_eq!(h.headers.get("Accept").map(String::as_str), Some("text/csv"));
        assert!(!h.headers.contains_key("timeout"));
        assert!(!format!("{h:?}").contains("ghp_x"));
        let basic = Connection {
            host: Some("http://127.0.0.1:8080/".into()),
            login: Some("u".into()),
            password: Some("p".into()),
            extra: Some(json!({"headers": {"X-A": 1}})),
            ..Default::default()
        };
        let h = HttpConnection::from_connection("b", &basic).unwrap();
        assert_eq!(h.base_url, "http://127.0.0.1:8080");
        assert_eq!(h.headers.get("X-A").map(String::as_str), Some("1"));
        assert!(matches!(h.auth, HttpAuth::Basic { .. }));
    }
}
