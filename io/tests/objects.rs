//! Object operations (list with pages, stat, conditional writes, batched
//! deletes, server-side copies, content types) on S3 against moto and GCS
//! against fake-gcs-server (started by `.ci/run`), and on local files.

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use updraft_io::{IoError, Location, Stores, WriteOptions};

mod common;
use common::{create_bucket, data, gcs_stores, read_all, s3_stores, service, unique};

async fn put(stores: &Stores, loc: &Location, bytes: &[u8], opts: WriteOptions) -> Result<u64, IoError> {
    let mut w = stores.writer_with(loc, opts).await?;
    w.write(bytes).await?;
    w.finish().await
}

async fn exercise(stores: &Stores, root: &str) {
    let loc = |key: &str| -> Location { format!("{root}/{key}").parse().unwrap() };
    let cancel = CancellationToken::new();
    // 1,001 small objects under one prefix: more than one page of a
    // listing on both services.
    let keys: Vec<String> = (0..1001).map(|i| format!("many/part-{i:05}.csv")).collect();
    let puts = futures_util::stream::iter(&keys)
        .map(|k| async move { put(stores, &loc(k), k.as_bytes(), WriteOptions::default()).await })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    assert!(puts.iter().all(Result::is_ok), "{:?}", puts.iter().find(|r| r.is_err()));
    put(stores, &loc("other/x.csv"), b"x", WriteOptions::default())
        .await
        .unwrap();
    let listed = stores.list(&loc("many/")).await.unwrap();
    assert_eq!(listed.len(), 1001);
    let mut names: Vec<String> = listed.iter().map(|o| o.location.to_string()).collect();
    names.sort();
    assert_eq!(names[0], loc("many/part-00000.csv").to_string());
    assert_eq!(names[1000], loc("many/part-01000.csv").to_string());
    assert!(listed.iter().all(|o| o.size == "many/part-00000.csv".len() as u64));

    // Stat: the size of what is there, nothing for what is not.
    let big = data(3 << 20);
    put(stores, &loc("one/big.bin"), &big, WriteOptions::default())
        .await
        .unwrap();
    let info = stores.stat(&loc("one/big.bin")).await.unwrap().unwrap();
    assert_eq!(info.size, big.len() as u64);
    assert!(stores.stat(&loc("one/missing.bin")).await.unwrap().is_none());

    // Only if absent: refused where something is, fine where nothing is.
    let absent = WriteOptions {
        if_absent: true,
        ..Default::default()
    };
    let err = put(stores, &loc("one/big.bin"), b"new", absent.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, IoError::Exists { .. }), "{err}");
    assert_eq!(
        read_all(stores, &loc("one/big.bin")).await.unwrap(),
        big,
        "the object was replaced"
    );
    put(stores, &loc("one/new.bin"), b"new", absent).await.unwrap();

    // A copy within the service.
    stores.copy_object(&info, &loc("copy/big.bin"), &cancel).await.unwrap();
    assert_eq!(read_all(stores, &loc("copy/big.bin")).await.unwrap(), big);

    // Deletes: a thousand and one, and one that is not there.
    let mut doomed: Vec<Location> = keys.iter().map(|k| loc(k)).collect();
    doomed.push(loc("many/never-was.csv"));
    let deleted = stores.delete(&doomed).await.unwrap();
    assert!(deleted == 1001 || deleted == 1002, "{deleted}");
    assert!(stores.list(&loc("many/")).await.unwrap().is_empty());
    assert_eq!(
        stores.list(&loc("other/")).await.unwrap().len(),
        1,
        "only the prefix went"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_objects() {
    let Some(url) = service("UPDRAFT_TEST_S3_URL") else {
        return;
    };
    let bucket = unique("objects-s3");
    create_bucket("s3", &url, &bucket).await;
    let stores = s3_stores(&url);
    exercise(&stores, &format!("s3://{bucket}")).await;
    // The content type goes with the object.
    let loc: Location = format!("s3://{bucket}/typed/a.csv").parse().unwrap();
    let opts = WriteOptions {
        content_type: Some("text/csv".into()),
        ..Default::default()
    };
    put(&stores, &loc, b"a,b\n", opts).await.unwrap();
    let got = stores.stat(&loc).await.unwrap().unwrap();
    assert_eq!(got.content_type.as_deref(), Some("text/csv"));
    // A missing bucket is an error, not an empty listing.
    let err = stores
        .list(&"s3://no-such-bucket-x/p".parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, IoError::NotFound { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_objects() {
    let Some(url) = service("UPDRAFT_TEST_GCS_URL") else {
        return;
    };
    let bucket = unique("objects-gcs");
    create_bucket("gs", &url, &bucket).await;
    let stores = gcs_stores(&url);
    exercise(&stores, &format!("gs://{bucket}")).await;
    let loc: Location = format!("gs://{bucket}/typed/a.parquet").parse().unwrap();
    let opts = WriteOptions {
        content_type: Some(updraft_io::content_type_for("a.parquet").into()),
        ..Default::default()
    };
    put(&stores, &loc, b"PAR1", opts).await.unwrap();
    let got = stores.stat(&loc).await.unwrap().unwrap();
    assert_eq!(got.content_type.as_deref(), Some("application/vnd.apache.parquet"));
    let err = stores
        .list(&"gs://no-such-bucket-x/p".parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, IoError::NotFound { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_objects() {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::new(
        updraft_operator_api::connection::AwsConnection::default_chain(),
        updraft_operator_api::connection::GcpConnection::application_default(),
    );
    exercise(&stores, &format!("file://{}", dir.path().display())).await;
}
