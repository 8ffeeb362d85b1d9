//! Against the S3 (moto) and GCS (fake-gcs-server) stand-ins started by
//! `.ci/run`: uploads of folders, globs and single files, conditional
//! writes, copies within and across services, downloads, deletes.

use serde_json::json;
use tokio::io::AsyncReadExt;
use updraft_io::{Location, Stores};
use updraft_operator_api::{Operator, TaskContext, TaskError};

use super::*;
use crate::testing::{service, stores_ctx};

async fn setup(tag: &str) -> Option<(TaskContext, String)> {
    let (Some(s3), Some(gcs)) = (service("UPDRAFT_TEST_S3_URL"), service("UPDRAFT_TEST_GCS_URL")) else {
        return None;
    };
    let bucket = format!("objects-{tag}-{}", std::process::id());
    Some((stores_ctx(&s3, &gcs, &bucket).await, bucket))
}

fn stores(ctx: &TaskContext) -> Stores {
    Stores::for_task(ctx, Some("s3"), Some("gcs")).unwrap()
}

async fn read(ctx: &TaskContext, loc: &str) -> Vec<u8> {
    let mut r = stores(ctx).reader(&loc.parse().unwrap()).await.unwrap();
    let mut v = Vec::new();
    r.read_to_end(&mut v).await.unwrap();
    v
}

async fn names(ctx: &TaskContext, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = stores(ctx)
        .list(&prefix.parse().unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.location.to_string())
        .collect();
    v.sort();
    v
}

fn conns(mut v: serde_json::Value) -> serde_json::Value {
    v["aws_conn_id"] = json!("s3");
    v["gcp_conn_id"] = json!("gcs");
    v
}

async fn run<O: Operator>(op: O, ctx: &TaskContext, v: serde_json::Value) -> Result<serde_json::Value, TaskError> {
    let c: O::Config = serde_json::from_value(conns(v)).unwrap();
    let problems = O::validate(&c);
    assert!(problems.is_empty(), "{problems:?}");
    op.execute(c, ctx.clone()).await
}

/// A folder with a subfolder, a big file (multipart / resumable) and small ones.
fn folder() -> (tempfile::TempDir, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..(13 << 20)).map(|i: usize| (i % 251) as u8).collect();
    std::fs::create_dir_all(dir.path().join("out/sub")).unwrap();
    std::fs::write(dir.path().join("out/a.csv"), b"a,b\n1,2\n").unwrap();
    std::fs::write(dir.path().join("out/b.parquet"), b"PAR1").unwrap();
    std::fs::write(dir.path().join("out/sub/c.csv"), b"c\n").unwrap();
    std::fs::write(dir.path().join("out/big.bin"), &big).unwrap();
    (dir, big)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_take_folders_globs_and_files_to_either_service() {
    let Some((ctx, bucket)) = setup("up").await else { return };
    let (dir, big) = folder();
    let out = dir.path().join("out");
    for (op_scheme, upload) in [("gs", true), ("s3", false)] {
        let root = format!("{op_scheme}://{bucket}");
        let cfg = json!({"from": format!("{}/", out.display()), "to": format!("{root}/landing/")});
        let result = if upload {
            run(GcsUpload, &ctx, cfg).await
        } else {
            run(S3Upload, &ctx, cfg).await
        }
        .unwrap();
        assert_eq!(result["objects"], 4, "{result}");
        assert_eq!(result["bytes"], (big.len() + 8 + 4 + 2) as u64);
        assert_eq!(
            names(&ctx, &format!("{root}/landing/")).await,
            ["a.csv", "b.parquet", "big.bin", "sub/c.csv"].map(|n| format!("{root}/landing/{n}"))
        );
        assert_eq!(read(&ctx, &format!("{root}/landing/big.bin")).await, big);
        let meta = stores(&ctx)
            .stat(&format!("{root}/landing/a.csv").parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(meta.content_type.as_deref(), Some("text/csv"));
    }

    // A glob, to a prefix: the names below the glob's folder.
    let root = format!("gs://{bucket}");
    let r = run(
        GcsUpload,
        &ctx,
        json!({"from": format!("{}/**/*.csv", out.display()), "to": format!("{root}/glob/")}),
    )
    .await
    .unwrap();
    assert_eq!(
        r["uris"],
        json!([format!("{root}/glob/a.csv"), format!("{root}/glob/sub/c.csv")])
    );

    // One file to an exact key, then the three if_exists.
    let one = json!({"from": out.join("a.csv").display().to_string(), "to": format!("{root}/one/data.csv")});
    run(GcsUpload, &ctx, one.clone()).await.unwrap();
    std::fs::write(out.join("a.csv"), b"changed\n").unwrap();
    let mut skip = one.clone();
    skip["if_exists"] = json!("skip");
    let r = run(GcsUpload, &ctx, skip).await.unwrap();
    assert_eq!((r["objects"].clone(), r["skipped"].clone()), (json!(0), json!(1)));
    let mut fail = one.clone();
    fail["if_exists"] = json!("fail");
    let err = run(GcsUpload, &ctx, fail).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("one/data.csv already exists (if_exists: fail)"),
        "{err}"
    );
    assert_eq!(read(&ctx, &format!("{root}/one/data.csv")).await, b"a,b\n1,2\n");
    run(GcsUpload, &ctx, one).await.unwrap();
    assert_eq!(read(&ctx, &format!("{root}/one/data.csv")).await, b"changed\n");

    // Bad input, each named.
    let err = run(
        GcsUpload,
        &ctx,
        json!({"from": format!("{}/*", out.display()), "to": format!("{root}/x.csv")}),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("`to` must be a prefix ending in `/`"), "{err}");
    let err = run(
        GcsUpload,
        &ctx,
        json!({"from": out.join("nope.csv").display().to_string(), "to": format!("{root}/x.csv")}),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("nope.csv: not found"), "{err}");
    let err = run(
        S3Upload,
        &ctx,
        json!({"from": out.join("b.parquet").display().to_string(), "to": "s3://no-such-bucket-anywhere/x"}),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, TaskError::Fatal(_)) && err.to_string().contains("no-such-bucket-anywhere"),
        "{err}"
    );
    assert!(
        names(&ctx, &format!("s3://{bucket}/x")).await.is_empty(),
        "nothing half-written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_go_through_the_service_or_across_and_deletes_clear_up() {
    let Some((ctx, bucket)) = setup("cp").await else { return };
    let (dir, big) = folder();
    let gs = format!("gs://{bucket}");
    let s3 = format!("s3://{bucket}");
    run(
        GcsUpload,
        &ctx,
        json!({"from": format!("{}/out/", dir.path().display()), "to": format!("{gs}/src/")}),
    )
    .await
    .unwrap();
    // Within GCS (rewriteTo), across to S3 (streamed), within S3 (CopyObject).
    let r = run(
        GcsCopy,
        &ctx,
        json!({"from": format!("{gs}/src/"), "to": format!("{gs}/copy/")}),
    )
    .await
    .unwrap();
    assert_eq!(r["objects"], 4);
    let r = run(
        S3Copy,
        &ctx,
        json!({"from": format!("{gs}/src/*.csv"), "to": format!("{s3}/aws/")}),
    )
    .await
    .unwrap();
    assert_eq!(r["uris"], json!([format!("{s3}/aws/a.csv")]));
    run(
        S3Copy,
        &ctx,
        json!({"from": format!("{gs}/src/big.bin"), "to": format!("{s3}/aws/big.bin")}),
    )
    .await
    .unwrap();
    run(
        S3Copy,
        &ctx,
        json!({"from": format!("{s3}/aws/big.bin"), "to": format!("{s3}/again/big.bin")}),
    )
    .await
    .unwrap();
    assert_eq!(read(&ctx, &format!("{gs}/copy/big.bin")).await, big);
    assert_eq!(read(&ctx, &format!("{s3}/again/big.bin")).await, big);

    // Delete named objects: one missing fails the task and deletes nothing.
    let named = json!({"objects": [format!("{gs}/copy/a.csv"), format!("{gs}/copy/missing.csv")]});
    let err = run(GcsDelete, &ctx, named.clone()).await.unwrap_err();
    assert!(
        err.to_string().contains("not found: gs://") && err.to_string().contains("nothing was deleted"),
        "{err}"
    );
    assert_eq!(names(&ctx, &format!("{gs}/copy/")).await.len(), 4);
    let mut ok = named;
    ok["missing_ok"] = json!(true);
    let r = run(GcsDelete, &ctx, ok).await.unwrap();
    assert_eq!(r["deleted"], 1);
    // A prefix: everything under it, nothing beside it.
    let r = run(GcsDelete, &ctx, json!({"prefix": format!("{gs}/copy/")}))
        .await
        .unwrap();
    assert_eq!(r["deleted"], 3);
    assert!(names(&ctx, &format!("{gs}/copy/")).await.is_empty());
    assert_eq!(names(&ctx, &format!("{gs}/src/")).await.len(), 4);
    // The seed's clear_staging_area: one object.
    let r = run(S3Delete, &ctx, json!({"objects": format!("{s3}/aws/big.bin")}))
        .await
        .unwrap();
    assert_eq!(r["deleted"], 1);
    assert_eq!(names(&ctx, &format!("{s3}/aws/")).await, [format!("{s3}/aws/a.csv")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_bring_objects_prefixes_and_globs_to_the_worker() {
    let Some((ctx, bucket)) = setup("down").await else {
        return;
    };
    let (dir, big) = folder();
    let src = format!("{}/out/", dir.path().display());
    for (op_up, scheme) in [("gcs", "gs"), ("s3", "s3")] {
        let prefix = format!("{scheme}://{bucket}/src/");
        match op_up {
            "gcs" => run(GcsUpload, &ctx, json!({"from": src, "to": prefix})).await.unwrap(),
            _ => run(S3Upload, &ctx, json!({"from": src, "to": prefix})).await.unwrap(),
        };
        let down = tempfile::tempdir().unwrap();
        let to = format!("{}/", down.path().display());
        // A prefix: every object, its path below the prefix kept.
        let download = |v: serde_json::Value| async {
            match op_up {
                "gcs" => run(GcsDownload, &ctx, v).await,
                _ => run(S3Download, &ctx, v).await,
            }
        };
        let r = download(json!({"from": prefix, "to": format!("{to}all/")}))
            .await
            .unwrap();
        assert_eq!(r["objects"], 4, "{r}");
        assert_eq!(std::fs::read(down.path().join("all/big.bin")).unwrap(), big);
        assert_eq!(std::fs::read(down.path().join("all/sub/c.csv")).unwrap(), b"c\n");
        // A glob to a folder, then one object to a file name.
        let r = download(json!({"from": format!("{prefix}*.csv"), "to": format!("{to}csv/")}))
            .await
            .unwrap();
        assert_eq!(r["uris"], json!([format!("{to}csv/a.csv")]));
        download(json!({"from": format!("{prefix}a.csv"), "to": format!("{to}one.csv")}))
            .await
            .unwrap();
        assert_eq!(std::fs::read(down.path().join("one.csv")).unwrap(), b"a,b\n1,2\n");
        // if_exists: skip leaves the file, fail fails the task.
        std::fs::write(down.path().join("one.csv"), b"mine").unwrap();
        let r = download(json!({"from": format!("{prefix}a.csv"), "to": format!("{to}one.csv"), "if_exists": "skip"}))
            .await
            .unwrap();
        assert_eq!((r["objects"].clone(), r["skipped"].clone()), (json!(0), json!(1)));
        let e = download(json!({"from": format!("{prefix}a.csv"), "to": format!("{to}one.csv"), "if_exists": "fail"}))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("already exists (if_exists: fail)"), "{e}");
        assert_eq!(std::fs::read(down.path().join("one.csv")).unwrap(), b"mine");
        // Nothing matched: a clear error, nothing written.
        let e = download(json!({"from": format!("{prefix}nothing/"), "to": format!("{to}none/")}))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("matches nothing"), "{e}");
        assert!(!down.path().join("none").exists());
    }
}

#[test]
fn configs_say_which_service_and_direction() {
    let t = |v: serde_json::Value| serde_json::from_value::<TransferConfig>(v).unwrap();
    assert_eq!(
        GcsUpload::validate(&t(json!({"from": "gs://b/x", "to": "gs://b/y"}))),
        ["`from` \"gs://b/x\" is not a local path: `gcs_copy` copies objects, `gcs_download` downloads them"]
    );
    assert_eq!(
        S3Upload::validate(&t(json!({"from": "/x", "to": "gs://b/y"}))),
        ["`to` must be a s3://... location, not \"gs://b/y\""]
    );
    assert_eq!(
        GcsCopy::validate(&t(json!({"from": "/x", "to": "gs://b/y"}))),
        ["`from` \"/x\" is a local path: `gcs_upload` uploads files"]
    );
    assert!(S3Copy::validate(&t(json!({"from": ["gs://a/x", "s3://b/y"], "to": "s3://c/"}))).is_empty());
    assert_eq!(
        GcsDownload::validate(&t(json!({"from": "s3://b/x", "to": "gs://b/y"}))),
        [
            "`to` must be a path on the worker, not \"gs://b/y\": `gcs_copy` copies objects",
            "`from` must be gs://... objects, not \"s3://b/x\""
        ]
    );
    assert!(S3Download::validate(&t(json!({"from": "s3://b/data/", "to": "/tmp/data/"}))).is_empty());
    let d = |v: serde_json::Value| serde_json::from_value::<DeleteConfig>(v).unwrap();
    assert_eq!(
        GcsDelete::validate(&d(json!({}))),
        ["give `objects` (a list) or `prefix`"]
    );
    assert_eq!(
        GcsDelete::validate(&d(json!({"prefix": "gs://b/staging"}))),
        ["`prefix` \"gs://b/staging\" must end in `/` (a folder of objects)"]
    );
    assert_eq!(
        S3Delete::validate(&d(json!({"objects": ["gs://b/k"]}))),
        ["\"gs://b/k\" is not a s3://... location"]
    );
    let _ = Location::Local("/x".into());
}
