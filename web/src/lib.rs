//! Updraft's web UI and JSON API: axum serving askama templates, reading
//! and changing the state store through the engine. Depends on the engine
//! only; the CLI starts it (`updraft web`, and inside `standalone`).

mod actions;
mod api;
pub mod auth;
mod graph;
mod limit;
mod pages;
mod views;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
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
}

/// Shared by every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<WebParams>,
    logins: Arc<limit::LoginLimiter>,
}

impl AppState {
    pub fn new(params: WebParams) -> Self {
        AppState {
            inner: Arc::new(params),
            logins: Arc::default(),
        }
    }
    pub(crate) fn logins(&self) -> &limit::LoginLimiter {
        &self.logins
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
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        let page = views::ErrorPage {
            status: status.as_u16(),
            message: self.public_message(),
            user: None,
            csrf: String::new(),
        };
        (status, views::html(&page)).into_response()
    }
}

pub(crate) type WebResult<T> = Result<T, WebError>;

/// The whole application: pages, actions, the JSON API and static files,
/// behind authentication and CSRF checks.
pub fn router(state: AppState) -> Router {
    let pages = Router::new()
        .route("/", get(pages::index))
        .route("/dags", get(pages::dags))
        .route("/dags/{dag_id}", get(pages::dag))
        .route("/dags/{dag_id}/live", get(pages::live_fragment))
        .route("/dags/{dag_id}/runs/{run_id}", get(pages::run))
        .route("/dags/{dag_id}/runs/{run_id}/live", get(pages::run_live_fragment))
        .route("/dags/{dag_id}/runs/{run_id}/tasks/{task_id}", get(pages::task))
        .route(
            "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/logs/stream",
            get(pages::log_stream),
        )
        .route("/connections", get(pages::connections))
        .route("/variables", get(pages::variables))
        .route("/dags/{dag_id}/trigger", post(actions::trigger_form))
        .route("/dags/{dag_id}/pause", post(actions::pause_form))
        .route("/dags/{dag_id}/backfill", post(actions::backfill_form))
        .route("/dags/{dag_id}/runs/{run_id}/clear", post(actions::clear_form))
        .route(
            "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/mark",
            post(actions::mark_form),
        )
        .route("/logout", post(auth::logout));
    let api = api::routes();
    Router::new()
        .merge(pages)
        .nest("/api/v1", api)
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::guard))
        .route("/login", get(auth::login_page).post(auth::login))
        .route(
            "/static/app.js",
            get(|| async { static_file("text/javascript", APP_JS) }),
        )
        .route("/static/app.css", get(|| async { static_file("text/css", APP_CSS) }))
        .layer(axum::middleware::from_fn(auth::csrf))
        .fallback(|| async { WebError::NotFound("no such page".into()) })
        .with_state(state)
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

/// Serves the UI on `listener` until `stop` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    params: WebParams,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(AppState::new(params));
    axum::serve(listener, app).with_graceful_shutdown(stop).await
}
