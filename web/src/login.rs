//! The login page, logging in and out. Password checks are throttled per
//! client address and per user name ([`crate::limit`]) and at most
//! [`crate::WebLimits::login_hashes`] argon2 hashes run at once (each
//! holds ~19 MiB); a login that cannot get a slot within
//! [`crate::WebLimits::login_hash_wait`] is answered 503.

use std::time::Instant;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};

use crate::auth::{
    Client, Csrf, DEVICE_COOKIE, DUMMY_HASH, SESSION_COOKIE, cookie, random_token, safe_next, set_cookie, token_hash,
    verify_password,
};
use crate::views::{LoginPage, html};
use crate::{AppState, WebError, WebResult};

const SESSION_HOURS: i64 = 12;
/// How long a browser stays known for the user it logged in as.
const DEVICE_DAYS: i64 = 180;
const DEVICE: &str = "device";

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

fn page(csrf: Csrf, next: Option<&str>, status: StatusCode, error: String) -> Response {
    let mut r = html(&LoginPage {
        csrf: csrf.0,
        next: safe_next(next),
        error: Some(error),
        user: None,
    })
    .into_response();
    *r.status_mut() = status;
    r
}

pub async fn login(
    State(state): State<AppState>,
    Extension(csrf): Extension<Csrf>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> WebResult<Response> {
    let store = state.store();
    let key = state.key().await?;
    let who = crate::limit::key(&f.username);
    let trusted = cookie(&headers, DEVICE_COOKIE).is_some_and(|c| key.verify(&c, DEVICE, &who));
    let attempt = match state.logins().begin(&f.username, client.0, trusted, Instant::now()) {
        Ok(a) => a,
        Err(wait) => {
            tracing::warn!(user = %f.username, client = ?client.0, "login refused: too many failed attempts");
            let mut r = page(
                csrf,
                f.next.as_deref(),
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many failed logins from this address or for this user name; try again in {} second(s)",
                    wait.as_secs().max(1)
                ),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
            return Ok(r);
        }
    };
    let limits = &state.params().limits;
    let permit = match tokio::time::timeout(limits.login_hash_wait, state.hashes().clone().acquire_owned()).await {
        Ok(Ok(p)) => p,
        _ => {
            state.logins().cancelled(attempt);
            return Err(WebError::Busy {
                message: "the server is busy checking other logins; try again in a moment".into(),
                retry_after: std::time::Duration::from_secs(1),
            });
        }
    };
    let hash = store.user_password_hash(&f.username).await?;
    // Verify against a dummy hash for unknown users, so timing does not
    // tell. Argon2 takes tens of milliseconds of CPU on purpose: off the
    // runtime's threads (which also run the scheduler and workers), on
    // the hash threads (`hashers`).
    let password = f.password.clone();
    let ok = state
        .hashers()
        .run(move || {
            let _slot = permit;
            match &hash {
                Some(h) => verify_password(&password, h),
                None => {
                    let _ = verify_password(&password, DUMMY_HASH);
                    false
                }
            }
        })
        .await
        .unwrap_or(false);
    if !ok {
        return Ok(page(
            csrf,
            f.next.as_deref(),
            StatusCode::UNAUTHORIZED,
            "wrong user name or password".into(),
        ));
    }
    state.logins().succeeded(attempt);
    let session = random_token();
    let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(SESSION_HOURS);
    store
        .create_session(&token_hash(&session), &f.username, expires)
        .await?;
    let secure = state.params().secure_cookies;
    let mut r = Redirect::to(&safe_next(f.next.as_deref())).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &session, true, secure, Some(SESSION_HOURS * 3600)),
    );
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            DEVICE_COOKIE,
            &key.issue(DEVICE, &who),
            true,
            secure,
            Some(DEVICE_DAYS * 86_400),
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
