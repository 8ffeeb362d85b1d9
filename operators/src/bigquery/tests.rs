//! Two kinds of tests.
//!
//! - Against local-bigquery (`UPDRAFT_TEST_BIGQUERY_URL`, `.ci/bigquery.sh`)
//!   reading the fake-gcs-server's files (`UPDRAFT_TEST_GCS_URL`): real load
//!   and query jobs, BigQuery's own errors, a retry that does not load
//!   twice.
//! - Against a local HTTP server in this file that follows BigQuery's
//!   documented REST v2 shapes, for what the stand-in does not do: jobs
//!   that stay PENDING and RUNNING for a while, a timeout and a task cancel
//!   that cancel the job, external tables created then replaced.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use serde_json::{Value, json};
use updraft_io::{Location, Stores};
use updraft_operator_api::{Operator, TaskContext, TaskError};

use super::*;
use crate::testing::{service, stores_ctx};

// ---------------------------------------------------------------------------
// The stand-in.

async fn standin(tag: &str) -> Option<(TaskContext, String, String)> {
    let (Some(bq), Some(s3), Some(gcs)) = (
        service("UPDRAFT_TEST_BIGQUERY_URL"),
        service("UPDRAFT_TEST_S3_URL"),
        service("UPDRAFT_TEST_GCS_URL"),
    ) else {
        return None;
    };
    let bucket = format!("bq-{tag}-{}", std::process::id());
    let mut ctx = stores_ctx(&s3, &gcs, &bucket).await;
    // Job ids come from the dag, task and run: unique per test and process.
    ctx.dag_id = format!("{tag}_{}", std::process::id());
    let dataset = format!("ds_{tag}_{}", std::process::id());
    let r = updraft_io::http::client()
        .post(format!("{bq}/bigquery/v2/projects/test/datasets"))
        .json(&json!({"datasetReference": {"projectId": "test", "datasetId": dataset}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "creating the dataset: {}", r.status());
    Some((ctx, bucket, bq))
}

fn invoices(n: usize) -> RecordBatch {
    let cols: Vec<(&str, ArrayRef)> = vec![
        (
            "InvoiceNo",
            Arc::new(StringArray::from_iter_values((0..n).map(|i| format!("5363{i:02}")))),
        ),
        (
            "Quantity",
            Arc::new(Int64Array::from_iter_values((0..n as i64).map(|i| i + 1))),
        ),
        (
            "UnitPrice",
            Arc::new(Float64Array::from_iter_values((0..n).map(|i| 2.5 + i as f64))),
        ),
    ];
    RecordBatch::try_from_iter(cols).unwrap()
}

async fn put_file(ctx: &TaskContext, loc: &str, bytes: &[u8]) {
    let stores = Stores::for_task(ctx, Some("s3"), Some("gcs")).unwrap();
    let mut w = stores.writer(&loc.parse::<Location>().unwrap()).await.unwrap();
    w.write(bytes).await.unwrap();
    w.finish().await.unwrap();
}

fn parquet_bytes(b: &RecordBatch) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, b.schema(), None).unwrap();
    w.write(b).unwrap();
    w.close().unwrap();
    out
}

async fn run<O: Operator>(op: O, ctx: &TaskContext, mut v: Value, endpoint: &str) -> Result<Value, TaskError> {
    v["gcp_conn_id"] = json!("gcs");
    v["endpoint"] = json!(endpoint);
    v["project_id"] = json!("test");
    let c: O::Config = serde_json::from_value(v).unwrap();
    let problems = O::validate(&c);
    assert!(problems.is_empty(), "{problems:?}");
    op.execute(c, ctx.clone()).await
}

async fn count(ctx: &TaskContext, bq: &str, table: &str) -> Value {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let mut ctx = ctx.clone();
    ctx.task_id = "count".into();
    ctx.run_id = format!("count{}", N.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
    let out = run(
        BigQueryQuery,
        &ctx,
        json!({"sql": format!("SELECT COUNT(*) AS n FROM {table}")}),
        bq,
    )
    .await
    .unwrap();
    out["rows"][0]["n"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_and_queries_run_as_jobs_on_the_standin() {
    let Some((ctx, bucket, bq)) = standin("load").await else {
        return;
    };
    let ds = format!("ds_load_{}", std::process::id());
    let table = format!("test.{ds}.invoices");
    put_file(
        &ctx,
        &format!("gs://{bucket}/staging/data.parquet"),
        &parquet_bytes(&invoices(3)),
    )
    .await;
    let load = |disposition: &str| json!({"from": format!("gs://{bucket}/staging/data.parquet"), "table": table, "write_disposition": disposition});
    let out = run(BigQueryLoad, &ctx, load("WRITE_TRUNCATE"), &bq).await.unwrap();
    assert_eq!(out["rows"], 3, "{out}");
    assert_eq!(out["table"], table);
    let id = out["job_id"].as_str().unwrap();
    let expected = format!("updraft_load_{}_cloud_detached_load_", std::process::id());
    assert!(id.starts_with(&expected) && id.ends_with("_t1"), "{id}");
    // The seed's autodetect load appends.
    let mut ctx2 = ctx.clone();
    ctx2.run_id = "second".into();
    run(BigQueryLoad, &ctx2, load("WRITE_APPEND"), &bq).await.unwrap();
    assert_eq!(count(&ctx, &bq, &table).await, 6);
    // WRITE_EMPTY on a full table: BigQuery's own error, plainly.
    let mut ctx3 = ctx.clone();
    ctx3.run_id = "third".into();
    let err = run(BigQueryLoad, &ctx3, load("WRITE_EMPTY"), &bq).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, TaskError::Fatal(_)), "{msg}");
    assert!(msg.contains("failed: duplicate: Already Exists: Table"), "{msg}");

    // A retry finds the earlier try's job: WRITE_APPEND does not load twice.
    let mut retry = ctx2.clone();
    retry.try_number = 2;
    let out = run(BigQueryLoad, &retry, load("WRITE_APPEND"), &bq).await.unwrap();
    assert!(out["job_id"].as_str().unwrap().ends_with("_t1"), "{out}");
    assert_eq!(count(&ctx, &bq, &table).await, 6);
    // A cleared task (a new attempt) loads again.
    let mut cleared = ctx2.clone();
    cleared.try_number = 3;
    cleared.first_try = 3;
    run(BigQueryLoad, &cleared, load("WRITE_APPEND"), &bq).await.unwrap();
    assert_eq!(count(&ctx, &bq, &table).await, 9);

    // CSV with a header, schema detected.
    put_file(
        &ctx,
        &format!("gs://{bucket}/in/a.csv"),
        b"InvoiceNo,Quantity\n536365,6\n536366,\n",
    )
    .await;
    let out = run(
        BigQueryLoad,
        &ctx,
        json!({"from": format!("gs://{bucket}/in/*.csv"), "table": format!("test.{ds}.csv"), "source_format": "CSV",
               "skip_leading_rows": 1, "write_disposition": "WRITE_TRUNCATE"}),
        &bq,
    )
    .await
    .unwrap();
    assert_eq!(out["rows"], 2);

    // A query: typed rows as output, a parameter, a destination table.
    let out = run(
        BigQueryQuery,
        &ctx,
        json!({"sql": format!("SELECT InvoiceNo, Quantity, UnitPrice FROM {table} WHERE Quantity >= @q ORDER BY Quantity, InvoiceNo"),
               "parameters": {"q": 3}, "max_rows": 2}),
        &bq,
    )
    .await
    .unwrap();
    assert_eq!(out["row_count"], 3);
    assert_eq!(out["truncated"], true);
    assert_eq!(
        out["rows"][0],
        json!({"InvoiceNo": "536302", "Quantity": 3, "UnitPrice": 4.5})
    );
    let out = run(
        BigQueryQuery,
        &ctx,
        json!({"sql": format!("SELECT Quantity FROM {table}"), "destination_table": format!("test.{ds}.copy"),
               "write_disposition": "WRITE_TRUNCATE"}),
        &bq,
    )
    .await
    .unwrap();
    assert_eq!(out["destination_table"], format!("test.{ds}.copy"));
    assert_eq!(count(&ctx, &bq, &format!("test.{ds}.copy")).await, 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_loads_fail_with_bigquerys_words() {
    let Some((ctx, bucket, bq)) = standin("bad").await else {
        return;
    };
    let ds = format!("ds_bad_{}", std::process::id());
    put_file(&ctx, &format!("gs://{bucket}/x/not.parquet"), b"this is not parquet").await;
    let cases = [
        (format!("gs://{bucket}/x/missing.parquet"), "No files found"),
        (format!("gs://{bucket}/x/not.parquet"), "No magic bytes"),
    ];
    for (i, (uri, words)) in cases.iter().enumerate() {
        let mut c = ctx.clone();
        c.run_id = format!("bad{i}");
        let err = run(
            BigQueryLoad,
            &c,
            json!({"from": uri, "table": format!("test.{ds}.t")}),
            &bq,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, TaskError::Fatal(_)), "{err}");
        assert!(err.to_string().contains(words), "{err}");
    }
    // A schema that does not match the file's.
    put_file(
        &ctx,
        &format!("gs://{bucket}/x/ok.parquet"),
        &parquet_bytes(&invoices(2)),
    )
    .await;
    let mut c = ctx.clone();
    c.run_id = "first".into();
    run(
        BigQueryLoad,
        &c,
        json!({"from": format!("gs://{bucket}/x/ok.parquet"), "table": format!("test.{ds}.s")}),
        &bq,
    )
    .await
    .unwrap();
    let other = RecordBatch::try_from_iter(vec![("other", Arc::new(Int64Array::from(vec![1])) as ArrayRef)]).unwrap();
    put_file(&ctx, &format!("gs://{bucket}/x/other.parquet"), &parquet_bytes(&other)).await;
    c.run_id = "second".into();
    let err = run(
        BigQueryLoad,
        &c,
        json!({"from": format!("gs://{bucket}/x/other.parquet"), "table": format!("test.{ds}.s"), "write_disposition": "WRITE_APPEND"}),
        &bq,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("invalid: Provided Schema does not match"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// A local server following BigQuery's REST v2 shapes
// (https://cloud.google.com/bigquery/docs/reference/rest): jobs.insert
// answers PENDING, jobs.get goes PENDING -> RUNNING -> DONE over a number of
// polls, jobs.cancel ends a job with reason `stopped`; tables.insert answers
// 409 for an existing table, tables.update replaces it.

#[derive(Default)]
struct Fake {
    /// job id -> (polls so far, polls until DONE, cancelled, configuration)
    jobs: Mutex<std::collections::HashMap<String, (u32, u32, bool, Value)>>,
    polls_to_done: u32,
    tables: Mutex<std::collections::HashMap<String, Value>>,
    calls: Mutex<Vec<String>>,
}

fn job_body(id: &str, state: &str, cancelled: bool, config: &Value) -> Value {
    let mut status = json!({"state": state});
    if cancelled {
        status["errorResult"] =
            json!({"reason": "stopped", "message": "Job execution was cancelled: User requested cancellation"});
    }
    json!({"kind": "bigquery#job", "id": format!("p:US.{id}"), "jobReference": {"projectId": "p", "jobId": id, "location": "US"},
           "configuration": config, "status": status,
           "statistics": {"load": {"outputRows": "42", "outputBytes": "1000", "inputFiles": "1"}}})
}

async fn fake_server(polls_to_done: u32) -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake {
        polls_to_done,
        ..Default::default()
    });
    type S = State<Arc<Fake>>;
    async fn insert(State(f): S, Path(_p): Path<String>, Json(b): Json<Value>) -> (StatusCode, Json<Value>) {
        let id = b["jobReference"]["jobId"].as_str().unwrap().to_string();
        f.calls.lock().unwrap().push(format!("insert {id}"));
        let mut jobs = f.jobs.lock().unwrap();
        if jobs.contains_key(&id) {
            return (
                StatusCode::CONFLICT,
                Json(
                    json!({"error": {"code": 409, "message": format!("Already Exists: Job p:US.{id}"), "errors": [{"reason": "duplicate"}]}}),
                ),
            );
        }
        jobs.insert(id.clone(), (0, f.polls_to_done, false, b["configuration"].clone()));
        (
            StatusCode::OK,
            Json(job_body(&id, "PENDING", false, &b["configuration"])),
        )
    }
    async fn get_job(State(f): S, Path((_p, id)): Path<(String, String)>) -> (StatusCode, Json<Value>) {
        let mut jobs = f.jobs.lock().unwrap();
        let Some(j) = jobs.get_mut(&id) else {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"error": {"code": 404, "message": format!("Not found: Job p:{id}")}})),
            );
        };
        j.0 += 1;
        let state = if j.2 || j.0 >= j.1 {
            "DONE"
        } else if j.0 * 2 >= j.1 {
            "RUNNING"
        } else {
            "PENDING"
        };
        (StatusCode::OK, Json(job_body(&id, state, j.2, &j.3)))
    }
    async fn cancel(State(f): S, Path((_p, id)): Path<(String, String)>) -> Json<Value> {
        f.calls
            .lock()
            .unwrap()
            .push(format!("cancel {}", id.trim_end_matches("/cancel")));
        let mut jobs = f.jobs.lock().unwrap();
        let j = jobs.get_mut(&id).unwrap();
        j.2 = true;
        Json(json!({"kind": "bigquery#jobCancelResponse", "job": job_body(&id, "RUNNING", false, &j.3)}))
    }
    async fn insert_table(
        State(f): S,
        Path((_p, _d)): Path<(String, String)>,
        Json(b): Json<Value>,
    ) -> (StatusCode, Json<Value>) {
        let id = b["tableReference"]["tableId"].as_str().unwrap().to_string();
        let mut tables = f.tables.lock().unwrap();
        if tables.contains_key(&id) {
            return (
                StatusCode::CONFLICT,
                Json(json!({"error": {"code": 409, "message": format!("Already Exists: Table p:d.{id}")}})),
            );
        }
        let mut t = b.clone();
        t["type"] = json!("EXTERNAL");
        tables.insert(id, t.clone());
        (StatusCode::OK, Json(t))
    }
    async fn update_table(
        State(f): S,
        Path((_p, _d, id)): Path<(String, String, String)>,
        Json(b): Json<Value>,
    ) -> Json<Value> {
        f.calls.lock().unwrap().push(format!("update {id}"));
        let mut t = b.clone();
        t["type"] = json!("EXTERNAL");
        f.tables.lock().unwrap().insert(id, t.clone());
        Json(t)
    }
    let app = axum::Router::new()
        .route("/bigquery/v2/projects/{p}/jobs", post(insert))
        .route("/bigquery/v2/projects/{p}/jobs/{id}", get(get_job))
        .route("/bigquery/v2/projects/{p}/jobs/{id}/cancel", post(cancel))
        .route("/bigquery/v2/projects/{p}/datasets/{d}/tables", post(insert_table))
        .route("/bigquery/v2/projects/{p}/datasets/{d}/tables/{t}", put(update_table))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, fake)
}

fn load_cfg(endpoint: &str, extra: Value) -> LoadConfig {
    let mut v = json!({"from": "gs://b/x.parquet", "table": "p.d.t", "endpoint": endpoint, "project_id": "p"});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    serde_json::from_value(v).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_job_is_polled_through_pending_and_running_until_done() {
    let (url, fake) = fake_server(6).await;
    let out = BigQueryLoad
        .execute(load_cfg(&url, json!({})), TaskContext::detached("load"))
        .await
        .unwrap();
    assert_eq!(out["rows"], 42);
    let jobs = fake.jobs.lock().unwrap();
    let (polls, ..) = jobs.values().next().unwrap();
    assert_eq!(*polls, 6, "polled until DONE and no more");
    let config = &jobs.values().next().unwrap().3;
    assert_eq!(config["load"]["sourceFormat"], "PARQUET");
    assert_eq!(config["load"]["writeDisposition"], "WRITE_EMPTY");
    assert_eq!(
        config["load"]["destinationTable"],
        json!({"projectId": "p", "datasetId": "d", "tableId": "t"})
    );
}

#[tokio::test(start_paused = true)]
async fn a_job_past_its_timeout_or_a_cancelled_task_cancels_the_job() {
    let (url, fake) = fake_server(u32::MAX).await;
    let err = BigQueryLoad
        .execute(load_cfg(&url, json!({"timeout": "30s"})), TaskContext::detached("slow"))
        .await
        .unwrap_err();
    assert!(matches!(err, TaskError::Failed(_)), "{err}");
    assert!(err.to_string().contains("did not finish in 30s"), "{err}");
    assert!(
        fake.calls
            .lock()
            .unwrap()
            .iter()
            .any(|c| c.starts_with("cancel updraft_detached_slow"))
    );

    let ctx = TaskContext::detached("stopped");
    let cancel = ctx.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        cancel.cancel();
    });
    let err = BigQueryLoad.execute(load_cfg(&url, json!({})), ctx).await.unwrap_err();
    assert!(matches!(err, TaskError::Cancelled), "{err}");
    assert!(
        fake.calls
            .lock()
            .unwrap()
            .iter()
            .any(|c| c.starts_with("cancel updraft_detached_stopped"))
    );
}

#[tokio::test]
async fn an_external_table_is_created_then_replaced() {
    let (url, fake) = fake_server(1).await;
    let cfg = |uri: &str| -> ExternalConfig {
        serde_json::from_value(json!({"from": uri, "table": "p.d.ext", "endpoint": url,
            "hive_partitioning": {"source_uri_prefix": "gs://b/t/"}}))
        .unwrap()
    };
    assert!(BigQueryExternalTable::validate(&cfg("gs://b/t/*.parquet")).is_empty());
    let out = BigQueryExternalTable
        .execute(cfg("gs://b/t/*.parquet"), TaskContext::detached("ext"))
        .await
        .unwrap();
    assert_eq!(out, json!({"table": "p.d.ext", "type": "EXTERNAL"}));
    BigQueryExternalTable
        .execute(cfg("gs://b/t2/*.parquet"), TaskContext::detached("ext"))
        .await
        .unwrap();
    assert!(fake.calls.lock().unwrap().contains(&"update ext".to_string()));
    let t = fake.tables.lock().unwrap()["ext"].clone();
    assert_eq!(
        t["externalDataConfiguration"],
        json!({"sourceUris": ["gs://b/t2/*.parquet"], "sourceFormat": "PARQUET",
               "hivePartitioningOptions": {"mode": "AUTO", "sourceUriPrefix": "gs://b/t/", "requirePartitionFilter": false}})
    );
}

#[test]
fn configs_are_checked_when_the_dag_loads() {
    // A misspelt field is refused, whichever part of the config it belongs to.
    for typo in ["wirte_disposition", "skip_leading_row", "projet_id", "sourceformat"] {
        let mut v = json!({"from": "gs://b/x.csv", "table": "p.d.t"});
        v[typo] = json!(1);
        assert!(serde_json::from_value::<LoadConfig>(v.clone()).is_err(), "{typo}");
        assert!(serde_json::from_value::<ExternalConfig>(v).is_err(), "{typo}");
    }
    let load = |v: Value| BigQueryLoad::validate(&serde_json::from_value(v).unwrap());
    assert!(load(json!({"from": "gs://b/x.parquet", "table": "p.d.t"})).is_empty());
    assert_eq!(
        load(json!({"from": "/local/x.parquet", "table": "p.d.t"})),
        ["\"/local/x.parquet\": BigQuery reads gs:// URIs"]
    );
    assert_eq!(
        load(json!({"from": "gs://b/x.parquet", "table": "p.d.t", "write_disposition": "OVERWRITE"})),
        ["`write_disposition` \"OVERWRITE\" is not one of WRITE_EMPTY, WRITE_TRUNCATE, WRITE_APPEND"]
    );
    assert_eq!(
        load(json!({"from": "gs://b/x", "table": "p.d.t"})),
        ["`source_format` is needed: the file names do not say (PARQUET, CSV, ...)"]
    );
    assert_eq!(
        load(json!({"from": "gs://b/x.parquet", "table": "p.d.t", "skip_leading_rows": 1})),
        ["CSV options (`skip_leading_rows`, `delimiter`, ...) are for CSV files"]
    );
    assert_eq!(
        load(json!({"from": "gs://b/x.csv", "table": "p.d.t", "schema": [{"name": "a", "type": "TEXT"}]})),
        ["schema field \"a\": type \"TEXT\" is not a BigQuery type"]
    );
    let query = |v: Value| BigQueryQuery::validate(&serde_json::from_value(v).unwrap());
    assert_eq!(
        query(json!({"sql": "SELECT 1", "write_disposition": "WRITE_TRUNCATE"})),
        ["`write_disposition` and `create_disposition` go with `destination_table`"]
    );
    assert_eq!(
        query(json!({"sql": "SELECT @a", "parameters": {"a": [1]}})),
        ["parameter a: [1] is not a string, number or boolean; give {type, value}"]
    );
}

#[test]
fn query_rows_are_typed_by_their_schema() {
    let results = json!({
        "schema": {"fields": [
            {"name": "n", "type": "INTEGER"}, {"name": "x", "type": "FLOAT"}, {"name": "ok", "type": "BOOLEAN"},
            {"name": "at", "type": "TIMESTAMP"}, {"name": "tags", "type": "STRING", "mode": "REPEATED"},
            {"name": "r", "type": "RECORD", "fields": [{"name": "a", "type": "INTEGER"}]}]},
        "rows": [{"f": [{"v": "7"}, {"v": "2.5"}, {"v": "true"}, {"v": "1.2911919600E9"},
                        {"v": [{"v": "a"}, {"v": "b"}]}, {"v": {"f": [{"v": "1"}]}}]},
                 {"f": [{"v": null}, {"v": null}, {"v": null}, {"v": null}, {"v": []}, {"v": null}]}]
    });
    let (cols, rows) = query::rows_json(&results);
    assert_eq!(cols, ["n", "x", "ok", "at", "tags", "r"]);
    assert_eq!(
        rows[0],
        json!({"n": 7, "x": 2.5, "ok": true, "at": "2010-12-01T08:26:00Z", "tags": ["a", "b"], "r": {"a": 1}})
    );
    assert_eq!(
        rows[1],
        json!({"n": null, "x": null, "ok": null, "at": null, "tags": [], "r": null})
    );
}
