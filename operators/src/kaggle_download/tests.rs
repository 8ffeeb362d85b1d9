//! Against a local server that follows Kaggle's documented API, as its own
//! client (kagglesdk) calls it: `POST
//! /api/v1/datasets.DatasetApiService/DownloadDataset` with a JSON body
//! `{"ownerSlug", "datasetSlug"}` and basic auth, answered by a 302 to the
//! zip on a storage host; the legacy `GET
//! /api/v1/datasets/download/{owner}/{dataset}`; 401 with
//! `{"code":401,"message":"Unauthenticated"}` for a wrong key, 404 for a
//! dataset it does not have. The "storage host" is a second server reached
//! as `localhost` on another port, so the redirect crosses hosts as the
//! real one (to storage.googleapis.com) does. The zips are built here with
//! the `zip` crate. Credentials come from a connection in these tests (the
//! environment is the process's, shared by parallel tests); the lookup in
//! the environment and `kaggle.json` is tested in `credentials.rs`.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use updraft_operator_api::{Connection, TaskError};

use crate::http_download::tests::{b64, ctx, files_in, problems, redacted, run, serve};

const USER: &str = "carrie-fan";
const KEY: &str = "0123456789abcdef0123456789abcdef";

/// What the API endpoint answers.
#[derive(Clone, Copy, PartialEq)]
enum Current {
    /// A redirect to the zip on the storage host.
    Redirect,
    /// An error status (the endpoint missing: 404 without a route, 405).
    Status(u16),
}

/// Requests as the servers saw them.
#[derive(Default)]
struct Seen {
    /// (Authorization, JSON body) of each POST to the current endpoint.
    posts: Mutex<Vec<(Option<String>, serde_json::Value)>>,
    /// Authorization of each legacy GET.
    legacy: Mutex<Vec<Option<String>>>,
    /// Authorization of each request to the storage host.
    storage: Mutex<Vec<Option<String>>>,
}

struct Kaggle {
    base: String,
    /// The storage host, as `http://localhost:PORT`.
    storage: String,
    seen: Arc<Seen>,
}

fn auth(h: &HeaderMap) -> Option<String> {
    h.get("authorization").map(|v| v.to_str().unwrap().to_string())
}

fn unauthenticated() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(serde_json::json!({"code": 401, "message": "Unauthenticated"})),
    )
        .into_response()
}

/// Kaggle's API (dataset `carrie1/ecommerce-data` only) and a storage host
/// holding `zip` (and, at `/not-a-zip`, an HTML page).
async fn kaggle(current: Current, zip: Vec<u8>) -> Kaggle {
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    let storage_app = axum::Router::new()
        .route(
            "/datasets/carrie1/ecommerce-data.zip",
            get(move |h: HeaderMap| {
                s.storage.lock().unwrap().push(auth(&h));
                let zip = zip.clone();
                async move { ([("content-type", "application/zip")], zip) }
            }),
        )
        .route(
            "/not-a-zip",
            get(|| async { ([("content-type", "text/html")], "<html>maintenance</html>") }),
        );
    let storage = serve(storage_app).await.replace("127.0.0.1", "localhost");
    let storage_base = storage.clone();
    let zip_url = format!("{storage}/datasets/carrie1/ecommerce-data.zip?X-Goog-Signature=abc");
    let expected = format!("Basic {}", b64(&format!("{USER}:{KEY}")));
    let known = |owner: &str, slug: &str| owner == "carrie1" && (slug == "ecommerce-data" || slug == "broken");
    let target = move |slug: &str| {
        if slug == "broken" {
            format!("{storage}/not-a-zip")
        } else {
            zip_url.clone()
        }
    };

    let (s, exp, tgt) = (seen.clone(), expected.clone(), target.clone());
    let rpc = post(move |h: HeaderMap, Json(body): Json<serde_json::Value>| {
        s.posts.lock().unwrap().push((auth(&h), body.clone()));
        let (exp, tgt) = (exp.clone(), tgt.clone());
        async move {
            if let Current::Status(code) = current {
                return StatusCode::from_u16(code).unwrap().into_response();
            }
            if auth(&h).as_deref() != Some(exp.as_str()) {
                return unauthenticated();
            }
            let (owner, slug) = (
                body["ownerSlug"].as_str().unwrap_or(""),
                body["datasetSlug"].as_str().unwrap_or(""),
            );
            if !known(owner, slug) {
                return (StatusCode::NOT_FOUND, "dataset not found").into_response();
            }
            (StatusCode::FOUND, [("location", tgt(slug))]).into_response()
        }
    });
    let s = seen.clone();
    let legacy = get(move |h: HeaderMap, Path((owner, slug)): Path<(String, String)>| {
        s.legacy.lock().unwrap().push(auth(&h));
        let (expected, target) = (expected.clone(), target.clone());
        async move {
            if auth(&h).as_deref() != Some(expected.as_str()) {
                return unauthenticated();
            }
            if !known(&owner, &slug) {
                return (StatusCode::NOT_FOUND, "dataset not found").into_response();
            }
            (StatusCode::FOUND, [("location", target(&slug))]).into_response()
        }
    });
    let mut app = axum::Router::new().route("/api/v1/datasets/download/{owner}/{slug}", legacy);
    // A server without the current endpoint answers 404 (no route).
    if current != Current::Status(404) {
        app = app.route("/api/v1/datasets.DatasetApiService/DownloadDataset", rpc);
    }
    Kaggle {
        base: serve(app).await,
        storage: storage_base,
        seen,
    }
}

/// The dataset's CSV, in its shape (about 1 MiB).
fn csv() -> Vec<u8> {
    let mut s = String::from("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n");
    for i in 0..12_000 {
        s.push_str(&format!(
            "{},85123A,WHITE HANGING HEART T-LIGHT HOLDER,{},12/1/2010 8:26,2.55,{},United Kingdom\n",
            536_365 + i,
            i % 24,
            17_850 + i % 100
        ));
    }
    s.into_bytes()
}

/// A zip (deflated) of these files; folders are added for nested names.
fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in files {
        if let Some((dir, _)) = name.rsplit_once('/') {
            w.add_directory(format!("{dir}/"), opts).unwrap();
        }
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn dataset_zip() -> Vec<u8> {
    zip_of(&[
        ("data.csv", &csv()),
        ("README.md", b"E-Commerce Data\n"),
        ("nested/other.csv", b"a,b\n1,2\n"),
    ])
}

fn kaggle_conn(user: &str, key: &str) -> Connection {
    Connection {
        conn_type: Some("kaggle".into()),
        login: Some(user.into()),
        password: Some(key.into()),
        ..Default::default()
    }
}

fn config(k: &Kaggle, dataset: &str, file: Option<&str>, to: &std::path::Path) -> String {
    format!(
        "dataset: {dataset}\n{}to: {}\nconn_id: kaggle\nbase_url: {}\n",
        file.map(|f| format!("file: {f}\n")).unwrap_or_default(),
        to.display(),
        k.base
    )
}

#[tokio::test]
async fn the_current_endpoint_redirects_to_the_zip_and_the_file_is_extracted() {
    let k = kaggle(Current::Redirect, dataset_zip()).await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("landing/data_api_uncleaned.csv");
    let (c, lines) = ctx(&[("kaggle", kaggle_conn(USER, KEY))]);
    let scratch = c.scratch.path().to_path_buf();
    let out = run(
        "kaggle_download",
        &config(&k, "carrie1/ecommerce-data", Some("data.csv"), &dest),
        c,
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        serde_json::json!({
            "bytes": csv().len(),
            "location": dest.display().to_string(),
            "dataset": "carrie1/ecommerce-data",
            "file": "data.csv",
        })
    );
    assert!(std::fs::read(&dest).unwrap() == csv(), "the extracted bytes differ");
    assert_eq!(files_in(dir.path()), vec![dest.display().to_string()]);
    assert!(!scratch.exists(), "the zip outlived the try in {}", scratch.display());

    let posts = k.seen.posts.lock().unwrap().clone();
    assert_eq!(
        posts,
        vec![(
            Some(format!("Basic {}", b64(&format!("{USER}:{KEY}")))),
            serde_json::json!({"ownerSlug": "carrie1", "datasetSlug": "ecommerce-data"})
        )]
    );
    assert!(
        k.seen.legacy.lock().unwrap().is_empty(),
        "the legacy endpoint was not needed"
    );
    assert_eq!(
        *k.seen.storage.lock().unwrap(),
        vec![None],
        "the credentials must not follow the redirect to another host"
    );
    let lines = lines.lock().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("holds 3 files: data.csv, README.md, nested/other.csv")),
        "{lines:?}"
    );
    let storage_url = redacted(&format!(
        "{}/datasets/carrie1/ecommerce-data.zip?X-Goog-Signature=abc",
        k.storage
    ));
    assert!(
        lines.iter().any(|l| l.starts_with(&format!("{storage_url}: HTTP 200"))),
        "the storage URL is logged without its signature: {lines:?}"
    );
    assert!(!lines.iter().any(|l| l.contains(KEY) || l.contains("X-Goog-Signature")));
}

#[tokio::test]
async fn the_whole_zip_without_file_and_a_file_found_in_a_folder() {
    let zip = dataset_zip();
    let k = kaggle(Current::Redirect, zip.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = ctx(&[("kaggle", kaggle_conn(USER, KEY))]);

    let whole = dir.path().join("ecommerce-data.zip");
    let out = run(
        "kaggle_download",
        &config(&k, "carrie1/ecommerce-data", None, &whole),
        c.clone(),
    )
    .await
    .unwrap();
    assert_eq!(out["bytes"], zip.len());
    assert_eq!(out["file"], serde_json::Value::Null);
    assert!(std::fs::read(&whole).unwrap() == zip);

    let other = dir.path().join("other.csv");
    let out = run(
        "kaggle_download",
        &config(&k, "carrie1/ecommerce-data", Some("other.csv"), &other),
        c,
    )
    .await
    .unwrap();
    assert_eq!(out["file"], "nested/other.csv");
    assert_eq!(std::fs::read(&other).unwrap(), b"a,b\n1,2\n");
}

#[tokio::test]
async fn a_server_without_the_current_endpoint_is_asked_on_the_legacy_one() {
    for missing in [404, 405] {
        let k = kaggle(Current::Status(missing), dataset_zip()).await;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("data.csv");
        let (c, lines) = ctx(&[("kaggle", kaggle_conn(USER, KEY))]);
        let out = run(
            "kaggle_download",
            &config(&k, "carrie1/ecommerce-data", Some("data.csv"), &dest),
            c,
        )
        .await
        .unwrap();
        assert_eq!(out["bytes"], csv().len(), "{missing}");
        assert!(std::fs::read(&dest).unwrap() == csv());
        let expected = Some(format!("Basic {}", b64(&format!("{USER}:{KEY}"))));
        // Without the route, the POST never reached a handler.
        let posts = k.seen.posts.lock().unwrap().len();
        assert_eq!(posts, usize::from(missing == 405), "{missing}");
        assert_eq!(*k.seen.legacy.lock().unwrap(), vec![expected], "{missing}");
        assert_eq!(*k.seen.storage.lock().unwrap(), vec![None], "{missing}");
        assert!(
            lines
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains(&format!("HTTP {missing}")) && l.contains("using the legacy endpoint GET")),
            "{missing}"
        );
    }
}

#[tokio::test]
async fn a_missing_file_is_fatal_and_lists_what_the_zip_holds() {
    let k = kaggle(Current::Redirect, dataset_zip()).await;
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = ctx(&[("kaggle", kaggle_conn(USER, KEY))]);
    let e = run(
        "kaggle_download",
        &config(
            &k,
            "carrie1/ecommerce-data",
            Some("invoices.csv"),
            &dir.path().join("x.csv"),
        ),
        c,
    )
    .await
    .unwrap_err();
    assert_eq!(
        e,
        TaskError::Fatal(
            "Kaggle dataset `carrie1/ecommerce-data`: its zip has no file `invoices.csv`; it holds: data.csv, README.md, nested/other.csv"
                .into()
        )
    );
    assert!(files_in(dir.path()).is_empty());
}

#[tokio::test]
async fn a_damaged_file_in_the_zip_fails_and_leaves_nothing() {
    let mut zip = dataset_zip();
    // Inside data.csv's compressed bytes (the first member): the central
    // directory still lists it, reading it fails (deflate or CRC error).
    for b in &mut zip[2000..2010] {
        *b ^= 0xff;
    }
    let k = kaggle(Current::Redirect, zip).await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("data.csv");
    let (c, _) = ctx(&[("kaggle", kaggle_conn(USER, KEY))]);
    let e = run(
        "kaggle_download",
        &config(&k, "carrie1/ecommerce-data", Some("data.csv"), &dest),
        c,
    )
    .await
    .unwrap_err();
    let TaskError::Failed(msg) = &e else { panic!("{e:?}") };
    assert!(
        msg.starts_with("Kaggle dataset `carrie1/ecommerce-data`: extracting `data.csv` from its zip: ")
            && msg.ends_with(&format!("; nothing was written to {}", dest.display())),
        "{msg}"
    );
    assert!(files_in(dir.path()).is_empty(), "left: {:?}", files_in(dir.path()));
}

#[tokio::test]
async fn refused_credentials_are_fatal_and_the_key_is_nowhere() {
    let k = kaggle(Current::Redirect, dataset_zip()).await;
    let dir = tempfile::tempdir().unwrap();
    let wrong = "ffffffffffffffffffffffffffffffff";
    let (c, lines) = ctx(&[("kaggle", kaggle_conn(USER, wrong))]);
    let e = run(
        "kaggle_download",
        &config(
            &k,
            "carrie1/ecommerce-data",
            Some("data.csv"),
            &dir.path().join("x.csv"),
        ),
        c,
    )
    .await
    .unwrap_err();
    let TaskError::Fatal(msg) = &e else { panic!("{e:?}") };
    assert!(
        msg.starts_with(&format!(
            "POST {}/api/v1/datasets.DatasetApiService/DownloadDataset: HTTP 401 Unauthorized: Kaggle refused the credentials of `{USER}` for dataset `carrie1/ecommerce-data`",
            k.base
        )),
        "{msg}"
    );
    assert!(!msg.contains(wrong));
    assert!(!lines.lock().unwrap().iter().any(|l| l.contains(wrong)));
    assert!(k.seen.storage.lock().unwrap().is_empty());
    assert!(files_in(dir.path()).is_empty());
}

#[tokio::test]
async fn an_unknown_dataset_and_an_answer_that_is_not_a_zip() {
    let k = kaggle(Current::Redirect, dataset_zip()).await;
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = ctx(&[("kaggle", kaggle_conn(USER, KEY))]);
    // Kaggle's current endpoint says 404 for a dataset it does not have:
    // the legacy one is asked too, and its 404 is the answer.
    let e = run(
        "kaggle_download",
        &config(&k, "carrie1/no-such-data", Some("data.csv"), &dir.path().join("x.csv")),
        c.clone(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        e,
        TaskError::Fatal(format!(
            "GET {}/api/v1/datasets/download/carrie1/no-such-data: HTTP 404 Not Found: Kaggle has no dataset `carrie1/no-such-data` visible to `{USER}`",
            k.base
        ))
    );
    let e = run(
        "kaggle_download",
        &config(&k, "carrie1/broken", Some("data.csv"), &dir.path().join("x.csv")),
        c,
    )
    .await
    .unwrap_err();
    let TaskError::Failed(msg) = &e else { panic!("{e:?}") };
    assert!(
        msg.contains("/not-a-zip (text/html, 24 bytes) is not a zip archive"),
        "{msg}"
    );
    assert!(files_in(dir.path()).is_empty());
}

#[tokio::test]
async fn a_connection_without_a_key_is_named() {
    let (c, _) = ctx(&[("kaggle", kaggle_conn(USER, ""))]);
    let e = run(
        "kaggle_download",
        "dataset: carrie1/ecommerce-data\nto: /tmp/never.csv\nconn_id: kaggle\nbase_url: http://127.0.0.1:9\n",
        c,
    )
    .await
    .unwrap_err();
    assert_eq!(
        e,
        TaskError::Fatal(
            "task `download`: `conn_id`: connection `kaggle` needs the Kaggle username as its login and the API key as its password"
                .into()
        )
    );
}

#[tokio::test]
async fn a_cancel_during_the_download_leaves_nothing() {
    // The zip's first bytes, then nothing: the download is under way when
    // the task is cancelled.
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = axum::Router::new().route(
        "/api/v1/datasets.DatasetApiService/DownloadDataset",
        post(move || {
            h.fetch_add(1, Ordering::SeqCst);
            async {
                let first = futures_util::stream::iter([Ok::<_, std::io::Error>(b"PK\x03\x04".to_vec())]);
                let rest = futures_util::stream::pending::<Result<Vec<u8>, std::io::Error>>();
                (
                    [("content-length", "1000000")],
                    axum::body::Body::from_stream(futures_util::StreamExt::chain(first, rest)),
                )
            }
        }),
    );
    let base = serve(app).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut c, _) = ctx(&[("kaggle", kaggle_conn(USER, KEY))]);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    c.log = updraft_operator_api::LogSink::new(move |_, l| {
        let _ = tx.send(l.to_string());
    });
    let cancel = c.cancel.clone();
    let cfg = format!(
        "dataset: carrie1/ecommerce-data\nfile: data.csv\nto: {}/x.csv\nconn_id: kaggle\nbase_url: {base}\n",
        dir.path().display()
    );
    let task = tokio::spawn(async move { run("kaggle_download", &cfg, c).await });
    while let Some(line) = rx.recv().await {
        if line.contains("HTTP 200") {
            break;
        }
    }
    cancel.cancel();
    assert_eq!(task.await.unwrap(), Err(TaskError::Cancelled));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert!(files_in(dir.path()).is_empty());
}

#[test]
fn config_problems_are_found_when_the_dag_loads() {
    for (yaml, says) in [
        ("dataset: ecommerce-data\nto: x", "is not `owner/dataset-slug`"),
        ("dataset: carrie1/ecommerce data\nto: x", "is not `owner/dataset-slug`"),
        ("dataset: a/b/c\nto: x", "is not `owner/dataset-slug`"),
        ("dataset: carrie1/..\nto: x", "is not `owner/dataset-slug`"),
        ("dataset: a/b\nfile: \"\"\nto: x", "`file` is empty"),
        ("dataset: a/b\nto: x\nbase_url: ftp://k", "`base_url`"),
        ("dataset: a/b\nto: x\nversion: 3", "version"),
    ] {
        let p = problems("kaggle_download", yaml);
        assert!(p.len() == 1 && p[0].contains(says), "{yaml}: {p:?}");
    }
    for to in [
        "\"gs://{{ var.json.gcs.landing }}/data_api_uncleaned.csv\"",
        "s3://bucket/in/data.csv",
        "file:///data/x.csv",
        "x.csv",
    ] {
        let yaml = format!(
            "dataset: \"{{{{ params.dataset }}}}\"\nfile: data.csv\nto: {to}\nconn_id: kaggle\ngcp_conn_id: gcp\naws_conn_id: aws\n"
        );
        assert_eq!(problems("kaggle_download", &yaml), Vec::<String>::new(), "{to}");
    }
    assert!(problems("kaggle_download", "dataset: carrie1/ecommerce-data\nto: x").is_empty());
}
