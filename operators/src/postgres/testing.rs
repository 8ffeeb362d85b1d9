//! For the tests against a real Postgres (`UPDRAFT_TEST_POSTGRES_URL`,
//! started by `.ci/postgres.sh`): skipped loudly without it, a failure
//! under CI.

use std::collections::BTreeMap;
use std::sync::Arc;

use sqlx::Connection as _;
use sqlx::postgres::PgConnection;
use updraft_engine::connection_uri::parse_uri;
use updraft_operator_api::TaskContext;

pub fn admin_url() -> Option<String> {
    match std::env::var("UPDRAFT_TEST_POSTGRES_URL") {
        Ok(u) => Some(u),
        Err(_) => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must run the Postgres tests: set UPDRAFT_TEST_POSTGRES_URL"
            );
            eprintln!("SKIPPED (Postgres): UPDRAFT_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// A task context whose connection `pg` is the test server.
pub fn ctx(url: &str, task: &str) -> TaskContext {
    let mut conns = BTreeMap::new();
    conns.insert("pg".to_string(), parse_uri(url).unwrap());
    TaskContext {
        connections: Arc::new(conns),
        ..TaskContext::detached(task)
    }
}

pub async fn connect(url: &str) -> PgConnection {
    PgConnection::connect(url).await.unwrap()
}

/// Runs statements (setup), panicking on an error.
pub async fn exec(url: &str, sql: &str) {
    let mut c = connect(url).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    c.close().await.unwrap();
}

/// The stand-in's URL in `var` (`UPDRAFT_TEST_S3_URL`,
/// `UPDRAFT_TEST_GCS_URL`), or `None` with a loud "skipped"; a failure
/// under CI.
pub fn service(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(u) => Some(u),
        Err(_) => {
            assert!(std::env::var("CI").is_err(), "CI must run this test: set {var}");
            eprintln!("SKIPPED: {var} is not set (.ci/s3.sh, .ci/gcs.sh start the stand-ins)");
            None
        }
    }
}

/// A task context with `pg` and the stand-ins as `s3` (moto) and `gcs`
/// (fake-gcs-server) connections, each with a fresh `bucket`.
pub async fn ctx_with_stores(url: &str, s3: &str, gcs: &str, bucket: &str) -> TaskContext {
    use updraft_operator_api::connection::Connection;
    let http = updraft_io::http::client();
    let r = http.put(format!("{s3}/{bucket}")).send().await.unwrap();
    assert!(r.status().is_success(), "creating s3://{bucket}: {}", r.status());
    let r = http
        .post(format!("{gcs}/storage/v1/b?project=test"))
        .json(&serde_json::json!({"name": bucket}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "creating gs://{bucket}: {}", r.status());
    let mut conns = BTreeMap::new();
    conns.insert("pg".to_string(), parse_uri(url).unwrap());
    let extra = |v: serde_json::Value| Some(serde_json::Value::String(v.to_string()));
    conns.insert(
        "s3".to_string(),
        Connection {
            conn_type: Some("aws".into()),
            login: Some("test".into()),
            password: Some("test".into()),
            extra: extra(serde_json::json!({"region_name": "us-east-1", "endpoint_url": s3})),
            ..Default::default()
        },
    );
    conns.insert(
        "gcs".to_string(),
        Connection {
            conn_type: Some("google_cloud_platform".into()),
            extra: extra(serde_json::json!({"endpoint_url": gcs})),
            ..Default::default()
        },
    );
    TaskContext {
        connections: Arc::new(conns),
        ..TaskContext::detached("cloud")
    }
}
