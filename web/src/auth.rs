//! Who is asking: a browser session (cookie), an API token (`Authorization:
//! Bearer`), or nobody while the UI runs open (no user configured, loopback
//! only). Passwords are argon2id hashes; tokens and session ids are random
//! and stored only as SHA-256 hashes. Every POST from a browser carries the
//! CSRF token of the double-submit cookie (form field `csrf` or header
//! `X-CSRF-Token`).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::views::{LoginPage, html};
use crate::{AppState, WebError, WebResult};

pub const SESSION_COOKIE: &str = "updraft_session";
pub const CSRF_COOKIE: &str = "updraft_csrf";
const SESSION_HOURS: i64 = 12;

/// The signed-in user's name (`anonymous` when the UI runs open).
#[derive(Debug, Clone)]
pub struct User(pub String);

/// This request's CSRF token, to embed in forms.
#[derive(Debug, Clone)]
pub struct Csrf(pub String);

/// A random token, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// How tokens and session ids are stored.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// An argon2id hash (PHC string) of a password.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the OS random source");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes of salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters")
        .to_string()
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn set_cookie(name: &str, value: &str, http_only: bool, secure: bool, max_age: Option<i64>) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; SameSite=Strict");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&c).expect("cookie text is ASCII")
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Constant-time comparison of two tokens.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Every request: hands out the CSRF cookie when missing, and refuses a
/// browser POST whose form field or header does not match it. Requests
/// with an API token carry no cookies and need no CSRF token.
pub async fn csrf(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let existing = cookie(&parts.headers, CSRF_COOKIE).filter(|c| c.len() >= 32);
    let token = existing.clone().unwrap_or_else(random_token);
    let mut req = if parts.method == Method::POST && bearer(&parts.headers).is_none() {
        let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
            return WebError::BadRequest("request body too large".into()).into_response();
        };
        let from_header = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let sent = from_header.or_else(|| form_urlencoded_field(&bytes, "csrf"));
        let ok = matches!((&existing, &sent), (Some(c), Some(s)) if same(c, s));
        if !ok {
            return WebError::Forbidden("missing or wrong CSRF token: reload the page and try again".into())
                .into_response();
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        Request::from_parts(parts, body)
    };
    req.extensions_mut().insert(Csrf(token.clone()));
    let mut resp = next.run(req).await;
    if existing.is_none() {
        resp.headers_mut()
            .append(header::SET_COOKIE, set_cookie(CSRF_COOKIE, &token, false, true, None));
    }
    resp
}

fn form_urlencoded_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded_pairs(body)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// `a=b&c=d` pairs, percent-decoded.
fn serde_urlencoded_pairs(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                match (
                    bytes.get(i + 1).and_then(|b| hex(*b)),
                    bytes.get(i + 2).and_then(|b| hex(*b)),
                ) {
                    (Some(h), Some(l)) => {
                        out.push(h * 16 + l);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Pages and the API: who is asking. Without a user, pages redirect to the
/// login page and the API answers 401.
pub async fn guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    match identify(&state, req.headers()).await {
        Ok(Some(user)) => {
            req.extensions_mut().insert(User(user));
            next.run(req).await
        }
        Ok(None) => {
            let path = req.uri().path();
            if path.starts_with("/api/") || req.method() != Method::GET {
                let mut r = axum::Json(serde_json::json!({"error": "login or an API token required"})).into_response();
                *r.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
                r
            } else {
                let next = req.uri().path_and_query().map_or("/", |p| p.as_str());
                Redirect::to(&format!("/login?next={}", encode(next))).into_response()
            }
        }
        Err(e) => e.into_response(),
    }
}

async fn identify(state: &AppState, headers: &HeaderMap) -> WebResult<Option<String>> {
    let store = state.store();
    if let Some(token) = bearer(headers) {
        return Ok(store.token_user(&token_hash(token)).await?);
    }
    if let Some(session) = cookie(headers, SESSION_COOKIE)
        && let Some(user) = store.session_user(&token_hash(&session)).await?
    {
        return Ok(Some(user));
    }
    if state.params().allow_open && store.count_users().await? == 0 {
        return Ok(Some("anonymous".into()));
    }
    Ok(None)
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Only local paths: never redirect elsewhere after login.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/dags".to_string(),
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn login_page(Extension(csrf): Extension<Csrf>, Query(q): Query<NextQuery>) -> Response {
    html(&LoginPage {
        csrf: csrf.0,
        next: safe_next(q.next.as_deref()),
        error: None,
        user: None,
    })
    .into_response()
}

#[derive(Debug, serde::Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    Extension(csrf): Extension<Csrf>,
    Form(f): Form<LoginForm>,
) -> WebResult<Response> {
    let store = state.store();
    let now = std::time::Instant::now();
    if let Some(wait) = state.logins().locked(&f.username, now) {
        tracing::warn!(user = %f.username, "login refused: too many failed attempts");
        let mut r = html(&LoginPage {
            csrf: csrf.0,
            next: safe_next(f.next.as_deref()),
            error: Some(format!(
                "too many failed logins for this user name; try again in {} minute(s)",
                wait.as_secs().div_ceil(60)
            )),
            user: None,
        })
        .into_response();
        *r.status_mut() = axum::http::StatusCode::TOO_MANY_REQUESTS;
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
        return Ok(r);
    }
    let hash = store.user_password_hash(&f.username).await?;
    // Verify against a dummy hash for unknown users, so timing does not
    // tell. Argon2 takes tens of milliseconds of CPU on purpose: off the
    // runtime's threads, which also run the scheduler and workers.
    let password = f.password.clone();
    let ok = tokio::task::spawn_blocking(move || match &hash {
        Some(h) => verify_password(&password, h),
        None => {
            let _ = verify_password(&password, DUMMY_HASH);
            false
        }
    })
    .await
    .unwrap_or(false);
    if !ok {
        state.logins().failed(&f.username, now);
        let mut r = html(&LoginPage {
            csrf: csrf.0,
            next: safe_next(f.next.as_deref()),
            error: Some("wrong user name or password".into()),
            user: None,
        })
        .into_response();
        *r.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
        return Ok(r);
    }
    state.logins().succeeded(&f.username);
    let session = random_token();
    let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(SESSION_HOURS);
    store
        .create_session(&token_hash(&session), &f.username, expires)
        .await?;
    let mut r = Redirect::to(&safe_next(f.next.as_deref())).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            SESSION_COOKIE,
            &session,
            true,
            state.params().secure_cookies,
            Some(SESSION_HOURS * 3600),
        ),
    );
    Ok(r)
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> WebResult<Response> {
    if let Some(session) = cookie(&headers, SESSION_COOKIE) {
        state.store().delete_session(&token_hash(&session)).await?;
    }
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", true, state.params().secure_cookies, Some(0)),
    );
    Ok(r)
}

const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$1ZS2m8F2kpnl0hAA0LU2bZ1Pj0nGp8cZq2jXwx3cy1E";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn forms_decode_and_next_stays_local() {
        assert_eq!(
            form_urlencoded_field(b"a=1&csrf=x%2By+z", "csrf").as_deref(),
            Some("x+y z")
        );
        assert_eq!(safe_next(Some("//evil.example")), "/dags");
        assert_eq!(safe_next(Some("/dags/etl")), "/dags/etl");
    }
}
