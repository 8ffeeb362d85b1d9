//! Shared by the io test crates: the stand-ins `.ci/run` starts.
#![allow(dead_code)]

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
