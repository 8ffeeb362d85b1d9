//! Shared by the io test crates: the stand-ins `.ci/run` starts.
#![allow(dead_code)]

use tokio::io::AsyncReadExt;
use updraft_io::{IoError, Location, Stores};
use updraft_operator_api::connection::{AwsAuth, AwsConnection, GcpConnection};

/// The URL in `var` (`UPDRAFT_TEST_S3_URL`, `UPDRAFT_TEST_GCS_URL`), or
/// `None` with a loud "skipped"; under CI a missing one fails the test.
pub fn service(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(std::env::var("CI").is_err(), "CI must run this test: set {var}");
            let script = if var.contains("S3") { "s3" } else { "gcs" };
            eprintln!("SKIPPED: {var} is not set (start it with .ci/{script}.sh)");
            None
        }
    }
}

/// Creates a bucket on moto (`s3`: it accepts an unsigned creation) or
/// fake-gcs-server (`gs`).
pub async fn create_bucket(scheme: &str, url: &str, bucket: &str) {
    let c = updraft_io::http::client();
    let resp = match scheme {
        "s3" => c.put(format!("{url}/{bucket}")).send().await.unwrap(),
        _ => c
            .post(format!("{url}/storage/v1/b?project=test"))
            .json(&serde_json::json!({"name": bucket}))
            .send()
            .await
            .unwrap(),
    };
    assert!(resp.status().is_success(), "creating {bucket}: {}", resp.status());
}

pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

/// Bytes that differ at every position, so a misplaced part shows.
pub fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

pub async fn read_all(stores: &Stores, loc: &Location) -> Result<Vec<u8>, IoError> {
    let mut r = stores.reader(loc).await?;
    let mut out = Vec::new();
    r.read_to_end(&mut out).await.unwrap();
    Ok(out)
}

pub fn s3_stores(url: &str) -> Stores {
    Stores::new(
        AwsConnection {
            auth: AwsAuth::Static {
                access_key_id: "test".into(),
                secret_access_key: "test".into(),
                session_token: None,
            },
            region: Some("us-east-1".into()),
            endpoint_url: Some(url.into()),
            force_path_style: true,
            role_arn: None,
        },
        GcpConnection::application_default(),
    )
}

pub fn gcs_stores(url: &str) -> Stores {
    Stores::new(
        AwsConnection::default_chain(),
        GcpConnection {
            endpoint_url: Some(url.into()),
            ..GcpConnection::application_default()
        },
    )
}
