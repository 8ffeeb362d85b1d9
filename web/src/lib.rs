//! Updraft's web UI and JSON API: axum serving askama templates, reading
//! and changing the state store through the engine. Depends on the engine
//! only; the CLI starts it (`updraft web`, and inside `standalone`).

mod actions;
mod api;
pub mod auth;
mod csrf;
mod graph;
mod hashers;
mod headers;
mod limit;
mod login;
mod origin;
mod pages;
pub mod roles;
mod server;
mod streams;
mod views;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use limit::LoginPolicy;
pub use roles::{Access, Role, RouteRule, route_rules};
pub use server::serve;

use axum::Router;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use updraft_engine::runtime::{DagCache, Overrides, Signals};
use updraft_engine::store::{Store, StoreError};

/// What the UI needs from the process that starts it.
#[derive(Debug, Clone)]
pub struct WebParams {
    pub store: Store,
    /// Parses stored DAG versions (it holds the operator registry).
    pub cache: Arc<DagCache>,
    /// In-process wake-ups when a scheduler runs in this process; other
    /// processes are woken through the store (NOTIFY on Postgres).
    pub signals: Option<Signals>,
    /// Connections and variables from the environment, masked like stored ones.
    pub overrides: Overrides,
    /// Serve without login while no user exists (loopback binds only).
    pub allow_open: bool,
    /// Mark cookies `Secure` (browsers still keep them on http://localhost).
    pub secure_cookies: bool,
    /// Signs CSRF tokens and device cookies when set (derived from
    /// `UPDRAFT_SECRET_KEY`); else a random secret kept in the store.
    pub signing_key: Option<SigningKey>,
    pub limits: WebLimits,
}

/// A secret that never shows in `Debug` output.
#[derive(Clone)]
pub struct SigningKey(pub String);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

/// What one UI process allows, so that no client can exhaust it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebLimits {
    /// Open connections at most; more are closed at once.
    pub max_connections: usize,
    /// Time a client has to send a request's headers (also how long an
    /// idle kept-alive connection stays open).
    pub header_timeout: Duration,
    /// Request bodies larger than this are refused with 413.
    pub max_body_bytes: usize,
    /// Live log streams (server-sent events) per client address.
    pub sse_per_client: usize,
    /// Password hashes computed at once (argon2 takes ~19 MiB each).
    pub login_hashes: usize,
    /// How long a login waits for a hash slot before a 503.
    pub login_hash_wait: Duration,
    pub login: LoginPolicy,
}

impl Default for WebLimits {
    fn default() -> Self {
        WebLimits {
            max_connections: 256,
            header_timeout: Duration::from_secs(10),
            max_body_bytes: 1 << 20,
            sse_per_client: 8,
            login_hashes: 2,
            login_hash_wait: Duration::from_secs(2),
            login: LoginPolicy::default(),
        }
    }
}

/// Shared by every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<WebParams>,
    logins: Arc<limit::LoginLimiter>,
    hashes: Arc<tokio::sync::Semaphore>,
    hashers: Arc<hashers::Hashers>,
    key: Arc<tokio::sync::OnceCell<csrf::Key>>,
    streams: Arc<streams::StreamCounts>,
}

impl AppState {
    pub fn new(params: WebParams) -> Self {
        AppState {
            logins: Arc::new(limit::LoginLimiter::new(params.limits.login.clone())),
            hashes: Arc::new(tokio::sync::Semaphore::new(params.limits.login_hashes.max(1))),
            hashers: Arc::new(hashers::Hashers::new(params.limits.login_hashes)),
            key: Arc::default(),
            streams: Arc::default(),
            inner: Arc::new(params),
        }
    }
    pub(crate) fn logins(&self) -> &limit::LoginLimiter {
        &self.logins
    }
    pub(crate) fn hashes(&self) -> &Arc<tokio::sync::Semaphore> {
        &self.hashes
    }
    pub(crate) fn hashers(&self) -> &hashers::Hashers {
        &self.hashers
    }
    pub(crate) fn streams(&self) -> &Arc<streams::StreamCounts> {
        &self.streams
    }
    /// The key signing CSRF tokens and device cookies, read once.
    pub(crate) async fn key(&self) -> WebResult<&csrf::Key> {
        self.key
            .get_or_try_init(|| csrf::Key::load(self.store(), self.inner.signing_key.as_ref()))
            .await
    }
    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }
    pub(crate) fn params(&self) -> &WebParams {
        &self.inner
    }
    /// After changing runs or tasks: the scheduler looks at everything.
    pub(crate) async fn wake_scheduler(&self) {
        if let Some(s) = &self.inner.signals {
            s.wake_all();
        }
        let _ = self
            .store()
            .notify(
                updraft_engine::runtime::SCHEDULER_CHANNEL,
                &updraft_engine::runtime::payload("web", None),
            )
            .await;
    }
}

/// Why a request failed. Internal details are logged, never shown.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("login required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    /// The `Host` or `Origin` is not one this server answers to.
    #[error("{0}")]
    Misdirected(String),
    #[error("request body too large: at most {0} bytes")]
    TooLarge(usize),
    #[error("{message}")]
    TooMany { message: String, retry_after: Duration },
    #[error("{message}")]
    Busy { message: String, retry_after: Duration },
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        WebError::Internal(e.to_string())
    }
}

impl From<updraft_engine::runtime::RuntimeError> for WebError {
    fn from(e: updraft_engine::runtime::RuntimeError) -> Self {
        match e {
            e @ updraft_engine::runtime::RuntimeError::UndeclaredConf { .. } => WebError::BadRequest(e.to_string()),
            e => WebError::Internal(e.to_string()),
        }
    }
}

impl WebError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Conflict(_) => StatusCode::CONFLICT,
            WebError::Unauthorized => StatusCode::UNAUTHORIZED,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::Misdirected(_) => StatusCode::MISDIRECTED_REQUEST,
            WebError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
            WebError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message shown to the user; internal errors only say so.
    pub(crate) fn public_message(&self) -> String {
        if let WebError::Internal(detail) = self {
            tracing::error!(error = %detail, "web request failed");
        }
        self.to_string()
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            WebError::TooMany { retry_after, .. } | WebError::Busy { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// The message of an error response, for [`headers::api_json`] to answer
/// `/api/v1` requests with JSON whatever produced the error.
#[derive(Debug, Clone)]
pub(crate) struct PublicMessage(pub String);

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry = self.retry_after();
        let message = self.public_message();
        let page = views::ErrorPage {
            status: status.as_u16(),
            message: message.clone(),
            user: None,
            csrf: String::new(),
        };
        let mut r = (status, views::html(&page)).into_response();
        if let Some(wait) = retry {
            r.headers_mut()
                .insert(header::RETRY_AFTER, wait.as_secs().max(1).into());
        }
        r.extensions_mut().insert(PublicMessage(message));
        r
    }
}

pub(crate) type WebResult<T> = Result<T, WebError>;

/// The whole application: pages, actions, the JSON API and static files,
/// behind authentication, roles ([`roles`]) and CSRF checks.
pub fn router(state: AppState) -> Router {
    let max_body = state.params().limits.max_body_bytes;
    let (guarded, public, _) = routes();
    guarded
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::guard))
        .merge(public)
        .fallback(|| async { WebError::NotFound("no such page".into()) })
        .layer(axum::middleware::from_fn_with_state(state.clone(), csrf::check))
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(headers::api_json))
        .layer(axum::middleware::from_fn(headers::security))
        .with_state(state)
}

/// The routes behind the login (each with the role it needs), the public
/// ones, and the rules of both.
fn routes() -> (Router<AppState>, Router<AppState>, Vec<RouteRule>) {
    use Role::{Admin, Op, Viewer};
    let (guarded, mut rules) = roles::Routes::new("")
        .get("/", Viewer, pages::index)
        .get("/dags", Viewer, pages::dags)
        .get("/dags/{dag_id}", Viewer, pages::dag)
        .get("/dags/{dag_id}/live", Viewer, pages::live_fragment)
        .get("/dags/{dag_id}/runs/{run_id}", Viewer, pages::run)
        .get("/dags/{dag_id}/runs/{run_id}/live", Viewer, pages::run_live_fragment)
        .get("/dags/{dag_id}/runs/{run_id}/tasks/{task_id}", Viewer, pages::task)
        .get(
            "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/logs/stream",
            Viewer,
            pages::log_stream,
        )
        .get("/connections", Admin, pages::connections)
        .get("/variables", Admin, pages::variables)
        .post("/dags/{dag_id}/trigger", Op, actions::trigger_form)
        .post("/dags/{dag_id}/pause", Op, actions::pause_form)
        .post("/dags/{dag_id}/backfill", Op, actions::backfill_form)
        .post("/dags/{dag_id}/runs/{run_id}/clear", Op, actions::clear_form)
        .post(
            "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/mark",
            Op,
            actions::mark_form,
        )
        .post("/logout", Viewer, login::logout)
        .nest(api::routes())
        .into_parts();
    let public = Router::new()
        .route("/login", get(login::login_page).post(login::login))
        .route(
            "/static/app.js",
            get(|| async { static_file("text/javascript", APP_JS) }),
        )
        .route("/static/app.css", get(|| async { static_file("text/css", APP_CSS) }));
    for (method, path) in [
        (Method::GET, "/login"),
        (Method::POST, "/login"),
        (Method::GET, "/static/app.js"),
        (Method::GET, "/static/app.css"),
    ] {
        rules.push(RouteRule {
            method,
            path: path.into(),
            access: Access::Public,
        });
    }
    (guarded, public, rules)
}

const APP_JS: &str = include_str!("../static/app.js");
const APP_CSS: &str = include_str!("../static/app.css");

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// Whether an address is on this machine only.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}
