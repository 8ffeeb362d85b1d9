//! For tests against the S3 and GCS stand-ins (`.ci/s3.sh`, `.ci/gcs.sh`):
//! skipped loudly without them, a failure under CI.

use std::collections::BTreeMap;
use std::sync::Arc;

use updraft_operator_api::TaskContext;

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

/// A task context with the stand-ins as `s3` (moto) and `gcs`
/// (fake-gcs-server) connections, each with a fresh `bucket`.
pub async fn stores_ctx(s3: &str, gcs: &str, bucket: &str) -> TaskContext {
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
