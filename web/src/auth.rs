//! Who is asking: a browser session (cookie), an API token (`Authorization:
//! Bearer`), or nobody while the UI runs open (no user configured, loopback
//! only, and only for requests naming a loopback host: see [`crate::origin`]).
//! Passwords are argon2id hashes; tokens and session ids are random and
//! stored only as SHA-256 hashes. CSRF tokens: [`crate::csrf`]; logging in:
//! [`crate::login`].

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::roles::Role;
use crate::{AppState, WebResult};

pub const SESSION_COOKIE: &str = "updraft_session";
pub const CSRF_COOKIE: &str = "updraft_csrf";
/// Set after a login: lets this browser skip that user's login throttle.
pub const DEVICE_COOKIE: &str = "updraft_device";

/// The signed-in user (`anonymous`, an admin, when the UI runs open) and
/// their role, read on every request.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub role: Role,
}

impl User {
    /// Whether the user may change runs, tasks and DAGs (pages hide the
    /// buttons otherwise).
    pub fn operates(&self) -> bool {
        self.role >= Role::Op
    }
    /// Whether the user may see connections and variables.
    pub fn administers(&self) -> bool {
        self.role >= Role::Admin
    }
}

/// This request's CSRF token, to embed in forms.
#[derive(Debug, Clone)]
pub struct Csrf(pub String);

/// The address of the client (none when the server was not told, as in
/// tests through the router alone).
#[derive(Debug, Clone, Copy)]
pub struct Client(pub Option<std::net::IpAddr>);

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
    verify_with_memory(password, hash).unwrap_or(false)
}

/// Checks `password` against a PHC string with argon2's working memory
/// (~19 MiB) kept per thread and reused: allocating and freeing it per
/// check made glibc keep freed blocks on its heap (40 logins at once left
/// ~170 MiB resident with 2 checking at a time).
fn verify_with_memory(password: &str, hash: &str) -> Option<bool> {
    use argon2::{Algorithm, Block, Params, Version};
    thread_local! {
        static MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let parsed = PasswordHash::new(hash).ok()?;
    let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .ok()?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).ok()?;
    let expected = parsed.hash?;
    let mut salt = [0u8; 64];
    let salt = parsed.salt?.decode_b64(&mut salt).ok()?;
    let blocks = params.block_count();
    // A stored hash asking for more than 256 MiB is refused, not allocated.
    if blocks > 256 * 1024 {
        return None;
    }
    let argon = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    MEMORY.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() < blocks {
            m.resize(blocks, Block::default());
        }
        argon
            .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut m[..blocks])
            .ok()
    })?;
    // Output compares in constant time.
    Some(argon2::password_hash::Output::new(&out).ok()? == expected)
}

pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

pub(crate) fn set_cookie(name: &str, value: &str, http_only: bool, secure: bool, max_age: Option<i64>) -> HeaderValue {
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

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Constant-time comparison of two tokens.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) fn form_urlencoded_field(body: &[u8], name: &str) -> Option<String> {
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

pub(crate) fn decode(s: &str) -> String {
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
        Ok(Some(Who::Open)) => {
            if let Err(e) = crate::origin::loopback_only(&req) {
                return e.into_response();
            }
            req.extensions_mut().insert(User {
                name: ANONYMOUS.into(),
                role: Role::Admin,
            });
            next.run(req).await
        }
        Ok(Some(Who::User(user))) => {
            req.extensions_mut().insert(user);
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

const ANONYMOUS: &str = "anonymous";

enum Who {
    User(User),
    /// No user exists and the UI runs open.
    Open,
}

async fn identify(state: &AppState, headers: &HeaderMap) -> WebResult<Option<Who>> {
    let store = state.store();
    if let Some(token) = bearer(headers) {
        return Ok(store
            .token_user_role(&token_hash(token))
            .await?
            .map(|(name, role)| Who::User(User { name, role })));
    }
    if let Some(session) = cookie(headers, SESSION_COOKIE)
        && let Some((name, role)) = store.session_user_role(&token_hash(&session)).await?
    {
        return Ok(Some(Who::User(User { name, role })));
    }
    if state.params().allow_open && store.count_users().await? == 0 {
        return Ok(Some(Who::Open));
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

/// Where to go after login: only a path on this site. Anything else (a
/// scheme, `//host`, a backslash, a control character or whitespace, raw
/// or percent-encoded, which some browsers strip to make `/\t/host` into
/// `//host`) goes to the DAGs page.
pub(crate) fn safe_next(next: Option<&str>) -> String {
    let fallback = || "/dags".to_string();
    let Some(n) = next else { return fallback() };
    let decoded = decode_path(n);
    let ok = |p: &str| {
        p.starts_with('/')
            && !p.starts_with("//")
            && !p.contains('\\')
            && !p.chars().any(|c| c.is_control() || c.is_whitespace())
    };
    if n.len() <= 2048 && n.is_ascii() && ok(n) && ok(&decoded) && !decoded.contains("//") {
        n.to_string()
    } else {
        fallback()
    }
}

/// Percent-decoding as a path (a `+` stays a `+`).
fn decode_path(s: &str) -> String {
    decode(&s.replace('+', "%2B"))
}

pub(crate) const DUMMY_HASH: &str =
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
        assert_eq!(safe_next(Some("/dags/etl")), "/dags/etl");
        assert_eq!(safe_next(Some("/dags/etl?run=a%2Bb")), "/dags/etl?run=a%2Bb");
        assert_eq!(safe_next(None), "/dags");
        for evil in [
            "//evil.example",
            "/%09/evil.example/",
            "/\t/evil.example/",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "/\\evil.example",
            "/%5Cevil.example",
            "/ /evil.example",
            "/%20/evil.example",
            "/%0d%0a/evil.example",
            "/x//evil.example",
            "https://evil.example",
            "evil.example",
            "javascript:alert(1)",
            "",
        ] {
            assert_eq!(safe_next(Some(evil)), "/dags", "{evil:?}");
        }
    }
}
