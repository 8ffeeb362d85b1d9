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
use updraft_web::{AppState, WebParams};

pub const DAG: &str = r#"description: three steps
schedule: "0 2 * * *"
start_date: 2024-11-01
tags: [etl, nightly]
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
        updraft_web::router(AppState::new(WebParams {
            store: self.store.clone(),
            cache: self.cache.clone(),
            signals: None,
            overrides: Overrides::default(),
            allow_open,
            secure_cookies: true,
        }))
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

pub async fn send(app: &Router, req: Request<Body>) -> Reply {
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

pub const CSRF: &str = "0123456789abcdef0123456789abcdef0123";

/// A browser form POST with the CSRF cookie and field.
pub async fn post_form(app: &Router, uri: &str, form: &str) -> Reply {
    let body = if form.is_empty() {
        format!("csrf={CSRF}")
    } else {
        format!("csrf={CSRF}&{form}")
    };
    send(
        app,
        Request::post(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, format!("updraft_csrf={CSRF}"))
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
