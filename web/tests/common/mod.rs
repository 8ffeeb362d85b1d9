//! A store with one DAG in a temporary SQLite file, and a router on it.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, header};
use http_body_util::BodyExt;
use tower::ServiceExt;
use updraft_engine::runtime::{DagCache, Overrides};
use updraft_engine::store::Store;
use updraft_web::{AppState, WebLimits, WebParams};

pub const DAG: &str = r#"description: three steps
schedule: "0 2 * * *"
start_date: 2024-11-01
tags: [etl, nightly]
params: {k: 0, a: 0}
tasks:
  extract:
    operator: shell
    command: echo "extract {{ ds }} with {{ var.value.api_token }}"
  transform:
    operator: shell
    depends_on: extract
    command: echo transform
  load:
    operator: shell
    depends_on: transform
    command: echo load
"#;

pub struct Fixture {
    pub store: Store,
    pub cache: Arc<DagCache>,
    pub dir: tempfile::TempDir,
}

pub async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/state.db", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let cache = Arc::new(DagCache::new(
        store.clone(),
        updraft_engine::Registry::with(updraft_operators::register_all),
    ));
    add_dag(&store, &cache, "etl", DAG).await;
    Fixture { store, cache, dir }
}

pub async fn add_dag(store: &Store, cache: &DagCache, dag_id: &str, source: &str) -> i64 {
    let file = format!("dags/{dag_id}.yaml");
    let dag = updraft_engine::load_dag(Path::new(&file), source, cache.registry()).unwrap();
    let v = store.sync_dag(dag_id, &file, source, false).await.unwrap();
    cache.insert(v, Arc::new(dag));
    v
}

impl Fixture {
    pub fn app(&self, allow_open: bool) -> Router {
        self.app_with(allow_open, WebLimits::default())
    }
    pub fn app_with(&self, allow_open: bool, limits: WebLimits) -> Router {
        updraft_web::router(AppState::new(self.params(allow_open, limits)))
    }
    pub fn params(&self, allow_open: bool, limits: WebLimits) -> WebParams {
        WebParams {
            store: self.store.clone(),
            cache: self.cache.clone(),
            signals: None,
            overrides: Overrides::default(),
            allow_open,
            secure_cookies: true,
            signing_key: None,
            limits,
        }
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
    pub fn location(&self) -> &str {
        self.headers.get(header::LOCATION).map_or("", |v| v.to_str().unwrap())
    }
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(|c| c.split(';').next().unwrap()[name.len() + 1..].to_string())
    }
}

/// Sends `req` as a browser on this machine would: with `Host: 127.0.0.1`
/// unless it names another.
pub async fn send(app: &Router, mut req: Request<Body>) -> Reply {
    if !req.headers().contains_key(header::HOST) {
        req.headers_mut()
            .insert(header::HOST, header::HeaderValue::from_static("127.0.0.1:8080"));
    }
    let resp: Response<Body> = app.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub async fn get(app: &Router, uri: &str) -> Reply {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

/// A CSRF token of the sender's choosing, not issued by the server.
pub const CSRF: &str = "0123456789abcdef0123456789abcdef0123";

/// The CSRF token the server hands a browser (with this session cookie,
/// if any) on a page.
pub async fn csrf_token(app: &Router, session: Option<&str>) -> String {
    let mut req = Request::get("/login");
    if let Some(s) = session {
        req = req.header(header::COOKIE, format!("updraft_session={s}"));
    }
    let page = send(app, req.body(Body::empty()).unwrap()).await;
    page.set_cookie("updraft_csrf")
        .expect("a page hands out the CSRF cookie")
}

/// A browser form POST with the CSRF cookie and field the server issued.
pub async fn post_form(app: &Router, uri: &str, form: &str) -> Reply {
    post_form_as(app, None, uri, form).await
}

/// The same from a browser logged in with `session`.
pub async fn post_form_as(app: &Router, session: Option<&str>, uri: &str, form: &str) -> Reply {
    let token = csrf_token(app, session).await;
    send(app, form_request(uri, form, &token, session)).await
}

/// A form POST carrying `token` as both CSRF cookie and field.
pub fn form_request(uri: &str, form: &str, token: &str, session: Option<&str>) -> Request<Body> {
    let body = if form.is_empty() {
        format!("csrf={}", enc(token))
    } else {
        format!("csrf={}&{form}", enc(token))
    };
    let mut cookies = format!("updraft_csrf={token}");
    if let Some(s) = session {
        cookies.push_str(&format!("; updraft_session={s}"));
    }
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookies)
        .body(Body::from(body))
        .unwrap()
}

pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
