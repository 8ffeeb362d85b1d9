//! What every response carries: security headers, and JSON errors on
//! `/api/v1` whatever produced the error (a handler, an extractor's
//! rejection, the CSRF check, the body limit).

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::PublicMessage;

/// The UI loads its one script and one stylesheet from itself and has no
/// inline script or style; the graph is inline SVG markup, not an image.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub async fn security(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    resp
}

/// Longest error text taken from a non-JSON error body.
const MAX_MESSAGE: usize = 4096;

pub async fn api_json(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !api || is_json || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let message = match parts.extensions.get::<PublicMessage>() {
        Some(m) => m.0.clone(),
        None => match axum::body::to_bytes(body, MAX_MESSAGE).await {
            Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).trim().to_string(),
            _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
        },
    };
    let mut out = (status, axum::Json(serde_json::json!({ "error": message }))).into_response();
    for name in [header::RETRY_AFTER, header::SET_COOKIE] {
        for v in parts.headers.get_all(&name) {
            out.headers_mut().append(name.clone(), v.clone());
        }
    }
    out
}
