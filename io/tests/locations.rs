//! Every location scheme against a real server: local files; S3 against
//! moto (`UPDRAFT_TEST_S3_URL`) and GCS against fake-gcs-server
//! (`UPDRAFT_TEST_GCS_URL`), both started by `.ci/run` (`.ci/s3.sh`,
//! `.ci/gcs.sh`). Without them the cloud halves say they are skipped; under
//! CI they fail instead.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use updraft_io::{IoError, Location, Stores};
use updraft_operator_api::connection::{AwsConnection, GcpConnection};

mod common;
use common::{create_bucket, data, gcs_stores, read_all, s3_stores, service, unique};

/// Writes, reads back, checks atomicity (nothing visible before finish,
/// nothing left after a dropped writer) and the error of a missing object
/// and bucket, for one scheme.
async fn exercise(stores: &Stores, scheme: &str, bucket: &str) {
    let loc = |key: &str| -> Location { format!("{scheme}://{bucket}/{key}").parse().unwrap() };
    // Small: one request.
    let small = loc("in/small.csv");
    let mut w = stores.writer(&small).await.unwrap();
    w.write(b"a,b\n1,2\n").await.unwrap();
    assert!(
        matches!(read_all(stores, &small).await, Err(IoError::NotFound { .. })),
        "visible before finish"
    );
    assert_eq!(w.finish().await.unwrap(), 8);
    assert_eq!(read_all(stores, &small).await.unwrap(), b"a,b\n1,2\n");

    // Large: parts / chunks, written in odd-sized pieces.
    let big = data(21 * 1024 * 1024 + 12345);
    let large = loc("in/large.bin");
    let mut w = stores.writer(&large).await.unwrap();
    for piece in big.chunks(1_000_003) {
        w.write(piece).await.unwrap();
    }
    assert_eq!(w.finish().await.unwrap(), big.len() as u64);
    let back = read_all(stores, &large).await.unwrap();
    assert!(back == big, "read back {} bytes, wrote {}", back.len(), big.len());

    // Dropped mid-upload (after two parts went): nothing at the key.
    let cancelled = loc("in/cancelled.bin");
    let mut w = stores.writer(&cancelled).await.unwrap();
    w.write(&big[..20 * 1024 * 1024]).await.unwrap();
    drop(w);
    assert!(
        matches!(read_all(stores, &cancelled).await, Err(IoError::NotFound { .. })),
        "a dropped upload left an object"
    );

    // Copy through the layer, then a cancelled copy leaves nothing.
    let copied = loc("out/copy.bin");
    let n = stores.copy(&large, &copied, &CancellationToken::new()).await.unwrap();
    assert_eq!(n, big.len() as u64);
    let cancel = CancellationToken::new();
    cancel.cancel();
    let e = stores.copy(&large, &loc("out/never.bin"), &cancel).await.unwrap_err();
    assert!(matches!(e, IoError::Cancelled), "{e}");
    assert!(matches!(
        read_all(stores, &loc("out/never.bin")).await,
        Err(IoError::NotFound { .. })
    ));

    // Errors name the location and carry the service's words.
    let e = read_all(stores, &loc("no/such/object")).await.unwrap_err();
    assert!(matches!(e, IoError::NotFound { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("{scheme}://{bucket}/no/such/object: not found")),
        "{e}"
    );
    let missing_bucket: Location = format!("{scheme}://{}/x", unique("no-such-bucket")).parse().unwrap();
    let e = read_all(stores, &missing_bucket).await.unwrap_err();
    assert!(matches!(e, IoError::NotFound { .. }), "{e}");
    let mut w = stores.writer(&missing_bucket).await.unwrap();
    w.write(b"x").await.unwrap();
    let e = w.finish().await.unwrap_err();
    assert!(matches!(e, IoError::NotFound { .. }), "{e}");
    let task_error = updraft_operator_api::TaskError::from(e);
    assert!(
        matches!(task_error, updraft_operator_api::TaskError::Fatal(_)),
        "not retried: {task_error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_against_moto() {
    let Some(url) = service("UPDRAFT_TEST_S3_URL") else {
        return;
    };
    let bucket = unique("updraft-s3");
    create_bucket("s3", &url, &bucket).await;
    let stores = s3_stores(&url);
    exercise(&stores, "s3", &bucket).await;
    // The dropped multipart upload was aborted: no stored parts remain.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = multipart_uploads(&url, &bucket).await;
        if !list.contains("<Upload>") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the multipart upload was not aborted: {list}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_against_fake_gcs_server() {
    let Some(url) = service("UPDRAFT_TEST_GCS_URL") else {
        return;
    };
    let bucket = unique("updraft-gcs");
    create_bucket("gs", &url, &bucket).await;
    exercise(&gcs_stores(&url), "gs", &bucket).await;
}

#[tokio::test]
async fn local_files_appear_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::new(AwsConnection::default_chain(), GcpConnection::application_default());
    let dest = Location::Local(dir.path().join("sub/out.bin"));
    let mut w = stores.writer(&dest).await.unwrap();
    w.write(&data(3 << 20)).await.unwrap();
    assert!(!dir.path().join("sub/out.bin").exists(), "visible before finish");
    drop(w);
    let left: Vec<_> = std::fs::read_dir(dir.path().join("sub")).unwrap().collect();
    assert!(left.is_empty(), "a dropped writer left {left:?}");
    let mut w = stores.writer(&dest).await.unwrap();
    w.write(b"whole").await.unwrap();
    w.finish().await.unwrap();
    assert_eq!(std::fs::read(dir.path().join("sub/out.bin")).unwrap(), b"whole");
    let file_url: Location = format!("file://{}", dir.path().join("sub/out.bin").display())
        .parse()
        .unwrap();
    assert_eq!(read_all(&stores, &file_url).await.unwrap(), b"whole");
    let e = read_all(&stores, &Location::Local(dir.path().join("missing")))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("missing: No such file"), "{e}");
    assert!(matches!(
        updraft_operator_api::TaskError::from(e),
        updraft_operator_api::TaskError::Fatal(_)
    ));
}

/// A local file over one part goes up with its parts read from the file:
/// the bytes arrive whole; a cancel before the end, or a missing bucket,
/// leaves no object and no stored parts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_files_upload_in_parts_read_from_the_file() {
    let Some(url) = service("UPDRAFT_TEST_S3_URL") else {
        return;
    };
    let bucket = unique("updraft-s3-file");
    create_bucket("s3", &url, &bucket).await;
    let stores = s3_stores(&url);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    // 2.5 parts of 8 MiB: the last one short.
    let bytes = data(20 << 20);
    std::fs::write(&path, &bytes).unwrap();
    let from = Location::Local(path.clone());
    let to: Location = format!("s3://{bucket}/big.bin").parse().unwrap();
    let n = stores.copy(&from, &to, &CancellationToken::new()).await.unwrap();
    assert_eq!(n, bytes.len() as u64);
    assert_eq!(read_all(&stores, &to).await.unwrap(), bytes);
    // Each part went with its CRC32, which the service checked: the object
    // carries the composite CRC32 (the CRC32 of the parts' CRC32s).
    let head = updraft_io::http::client()
        .head(format!("{url}/{bucket}/big.bin"))
        .header("x-amz-checksum-mode", "ENABLED")
        .send()
        .await
        .unwrap();
    let stored = head
        .headers()
        .get("x-amz-checksum-crc32")
        .map(|v| v.to_str().unwrap().to_string())
        .expect("the object has a CRC32 checksum");
    assert_eq!(stored.split('-').next().unwrap(), composite_crc32(&bytes, 8 << 20));

    let cancel = CancellationToken::new();
    cancel.cancel();
    let gone: Location = format!("s3://{bucket}/cancelled.bin").parse().unwrap();
    let e = stores.copy(&from, &gone, &cancel).await.unwrap_err();
    assert!(matches!(e, IoError::Cancelled), "{e}");
    assert!(matches!(read_all(&stores, &gone).await, Err(IoError::NotFound { .. })));
    let uploads = multipart_uploads(&url, &bucket).await;
    assert!(
        !uploads.contains("<Upload>"),
        "the cancelled upload was aborted: {uploads}"
    );

    let nowhere: Location = format!("s3://{}-missing/big.bin", bucket).parse().unwrap();
    let e = stores
        .copy(&from, &nowhere, &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(e, IoError::NotFound { .. }), "{e}");
    assert!(e.to_string().contains("NoSuchBucket"), "{e}");
}

/// S3's composite checksum of an upload in `part`-byte parts, base64.
fn composite_crc32(bytes: &[u8], part: usize) -> String {
    use base64::Engine;
    let crcs: Vec<u8> = bytes
        .chunks(part)
        .flat_map(|p| crc32fast::hash(p).to_be_bytes())
        .collect();
    base64::engine::general_purpose::STANDARD.encode(crc32fast::hash(&crcs).to_be_bytes())
}

/// moto's ListMultipartUploads answer for the bucket (XML).
async fn multipart_uploads(url: &str, bucket: &str) -> String {
    updraft_io::http::client()
        .get(format!("{url}/{bucket}?uploads"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
