//! Airflow's connection URIs: `postgres://user:pass@host:5432/schema?sslmode=require`.
//! Used for `UPDRAFT_CONN_<ID>` environment variables and `connections set --uri`.

use crate::connection::Connection;

/// Parses a connection URI; the query string becomes `extra`.
pub fn parse_uri(uri: &str) -> Result<Connection, String> {
    let (scheme, rest) = uri
        .split_once("://")
        .ok_or_else(|| "a connection URI looks like type://login:password@host:port/schema".to_string())?;
    let conn_type = match scheme {
        "postgresql" => "postgres".to_string(),
        s => s.replace('-', "_"),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match rest.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (rest, None),
    };
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (login, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((l, p)) => (Some(decode(l)?), Some(decode(p)?)),
            None => (Some(decode(u)?), None),
        },
        None => (None, None),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() => (h, Some(p.parse::<u16>().map_err(|_| format!("invalid port {p:?}"))?)),
        _ => (hostport, None),
    };
    let mut extra = serde_json::Map::new();
    for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        extra.insert(decode(k)?, serde_json::Value::String(decode(v)?));
    }
    let nonempty = |s: String| if s.is_empty() { None } else { Some(s) };
    Ok(Connection {
        conn_type: Some(conn_type),
        host: nonempty(decode(host)?),
        login: login.and_then(nonempty),
        password: password.and_then(nonempty),
        port,
        schema: path.map(decode).transpose()?.and_then(nonempty),
        extra: (!extra.is_empty()).then(|| serde_json::Value::Object(extra)),
    })
}

fn decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                // Errors never repeat the text: it may be a password.
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).map_err(|_| "a bad %-escape".to_string())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| "a bad %-escape".to_string())?);
                i += 3;
            }
            b'%' => return Err("a bad %-escape".to_string()),
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "text that is not UTF-8 once decoded".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_airflow_style_uris() {
        let c = parse_uri("postgresql://etl:p%40ss%2Fw@db.internal:5432/sales?sslmode=require").unwrap();
        assert_eq!(c.conn_type.as_deref(), Some("postgres"));
        assert_eq!(
            (c.login.as_deref(), c.password.as_deref()),
            (Some("etl"), Some("p@ss/w"))
        );
        assert_eq!(
            (c.host.as_deref(), c.port, c.schema.as_deref()),
            (Some("db.internal"), Some(5432), Some("sales"))
        );
        assert_eq!(c.extra_json()["sslmode"], "require");
        let c = parse_uri("google-cloud-platform://").unwrap();
        assert_eq!(c.conn_type.as_deref(), Some("google_cloud_platform"));
        assert_eq!((c.host, c.login, c.port), (None, None, None));
        assert!(parse_uri("nonsense").is_err());
        assert!(parse_uri("pg://h:notaport/x").unwrap_err().contains("invalid port"));
        let e = parse_uri("pg://u:s3cret%zz@h").unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
    }
}
