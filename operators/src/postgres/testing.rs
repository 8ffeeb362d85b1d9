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

/// A task context with `pg` and the stand-ins as `s3` and `gcs`
/// connections, each with a fresh `bucket`.
pub async fn ctx_with_stores(url: &str, s3: &str, gcs: &str, bucket: &str) -> TaskContext {
    let mut ctx = crate::testing::stores_ctx(s3, gcs, bucket).await;
    let mut conns = (*ctx.connections).clone();
    conns.insert("pg".to_string(), parse_uri(url).unwrap());
    ctx.connections = Arc::new(conns);
    ctx
}
