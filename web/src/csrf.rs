//! CSRF tokens the server issues and signs. A token is `NONCE.MAC`, the MAC
//! an HMAC-SHA256 over the browser's session (the hash of its session
//! cookie, or nothing before login) and the nonce, with the server's key:
//! random per store and kept in it, or derived from `UPDRAFT_SECRET_KEY`.
//! Every page gets the token in the `updraft_csrf` cookie and in its forms;
//! every browser POST must send it back (form field `csrf` or header
//! `X-CSRF-Token`), equal to the cookie and signed for the current
//! session. A cookie planted by someone else is not signed, and a token of
//! another session (or from before login) does not verify.

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use updraft_engine::store::Store;

use crate::auth::{CSRF_COOKIE, Client, Csrf, SESSION_COOKIE, bearer, cookie, random_token, set_cookie, token_hash};
use crate::{AppState, SigningKey, WebError, WebResult};

/// The server's signing key.
#[derive(Clone)]
pub struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(***)")
    }
}

impl Key {
    pub(crate) async fn load(store: &Store, configured: Option<&SigningKey>) -> WebResult<Key> {
        let material = match configured {
            Some(k) => k.0.clone(),
            None => store.web_secret(random_token).await?,
        };
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(material.as_bytes()).expect("HMAC takes any key");
        mac.update(b"updraft web signing key v1");
        Ok(Key(mac.finalize().into_bytes().into()))
    }

    /// The MAC of `parts`, each length-prefixed so that no two lists of
    /// parts sign alike.
    pub(crate) fn sign(&self, parts: &[&str]) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key");
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p.as_bytes());
        }
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// `NONCE.MAC` over `purpose` and `bound_to`.
    pub(crate) fn issue(&self, purpose: &str, bound_to: &str) -> String {
        let nonce = random_token();
        let mac = self.sign(&[purpose, bound_to, &nonce]);
        format!("{nonce}.{mac}")
    }

    /// Whether `token` was issued by [`Key::issue`] for these.
    pub(crate) fn verify(&self, token: &str, purpose: &str, bound_to: &str) -> bool {
        token
            .split_once('.')
            .is_some_and(|(nonce, mac)| crate::auth::same(mac, &self.sign(&[purpose, bound_to, nonce])))
    }
}

const PURPOSE: &str = "csrf";

/// What a browser's CSRF token is bound to: its session, if it has one.
fn binding(headers: &HeaderMap) -> String {
    cookie(headers, SESSION_COOKIE)
        .map(|s| token_hash(&s))
        .unwrap_or_default()
}

/// Every request: notes the client's address, hands out a signed CSRF
/// token when the browser has none valid for its session, and refuses a
/// browser POST that does not send that token back. Requests with an API
/// token carry no cookies and need no CSRF token. Bodies past the limit are
/// refused with 413.
pub async fn check(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match prepare(&state, req).await {
        Ok((req, issued)) => {
            let mut resp = next.run(req).await;
            if let Some(token) = issued {
                resp.headers_mut()
                    .append(header::SET_COOKIE, set_cookie(CSRF_COOKIE, &token, false, true, None));
            }
            resp
        }
        Err(e) => e.into_response(),
    }
}

/// The request to pass on, and the token to set as a cookie if new.
async fn prepare(state: &AppState, req: Request) -> WebResult<(Request, Option<String>)> {
    let key = state.key().await?;
    let (mut parts, body) = req.into_parts();
    let address = parts
        .extensions
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    parts.extensions.insert(Client(address));
    let bound_to = binding(&parts.headers);
    let existing = cookie(&parts.headers, CSRF_COOKIE).filter(|c| key.verify(c, PURPOSE, &bound_to));
    let issued = existing.is_none().then(|| key.issue(PURPOSE, &bound_to));
    let token = existing.clone().or_else(|| issued.clone()).unwrap_or_default();
    let limit = state.params().limits.max_body_bytes;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(WebError::TooLarge(limit));
    }
    let mut req = if parts.method == Method::POST && bearer(&parts.headers).is_none() {
        let bytes = axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| WebError::TooLarge(limit))?;
        let from_header = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let sent = from_header.or_else(|| crate::auth::form_urlencoded_field(&bytes, "csrf"));
        let ok = matches!((&existing, &sent), (Some(c), Some(s)) if crate::auth::same(c, s));
        if !ok {
            return Err(WebError::Forbidden(
                "missing or wrong CSRF token: reload the page and try again".into(),
            ));
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        Request::from_parts(parts, body)
    };
    req.extensions_mut().insert(Csrf(token));
    Ok((req, issued))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_for_their_binding_and_key() {
        let k = Key([7; 32]);
        let t = k.issue(PURPOSE, "session-a");
        assert!(k.verify(&t, PURPOSE, "session-a"));
        assert!(!k.verify(&t, PURPOSE, "session-b"), "another session");
        assert!(!k.verify(&t, PURPOSE, ""), "no session");
        assert!(!k.verify(&t, "device", "session-a"), "another purpose");
        assert!(!Key([8; 32]).verify(&t, PURPOSE, "session-a"), "another key");
        let (nonce, _) = t.split_once('.').unwrap();
        assert!(!k.verify(nonce, PURPOSE, "session-a"), "no MAC");
        assert!(!k.verify(&format!("{nonce}.AAAA"), PURPOSE, "session-a"));
    }
}
