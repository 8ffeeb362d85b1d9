//! The first user's two pipelines end to end: `dags/ecomm_invoice_etl.yaml`
//! and `dags/ml_dynamic_segment.yaml`, unchanged, run by real `updraft`
//! processes (scheduler, worker, web) on a Postgres store, against:
//!
//! - a real Postgres (`UPDRAFT_TEST_POSTGRES_URL`): the source database
//!   seeded with 541,909 generated invoices in the Kaggle dataset's shape
//!   by `compose/init/seed.yaml` (the compose file's own seeding), the
//!   target database with its empty snake_case table;
//! - the S3 and GCS stand-ins (moto, fake-gcs-server) and the BigQuery one
//!   (local-bigquery, reading the GCS stand-in's files), started by
//!   `.ci/run`;
//! - GitHub raw and Kaggle, which cannot run here: a local server in this
//!   test that follows what they document (a raw file by path; Kaggle's
//!   `POST /api/v1/datasets.DatasetApiService/DownloadDataset` with basic
//!   auth, answered by a redirect to the dataset's zip);
//! - the Docker engine, running a stand-in for the ML team's image built
//!   here FROM `updraft:ci` (`.ci/compose-images.sh`): it takes their
//!   arguments, checks the environment and mount the DAG gives it, reads
//!   the Parquet the ETL published and writes the files their job writes.
//!
//! It checks the data, not just task states: rows and sampled values in
//! the target table and in BigQuery, the external table's definition, the
//! staging object gone, the S3 branch, the ML outputs; then a backfill of
//! three days and a rerun of one leave exactly the expected rows.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use common::{Daemon, Env, text, wait_until};
use serde_json::{Value, json};
use sqlx::Connection as _;

const ROWS: usize = 541_909;
const KAGGLE_USER: &str = "carrie-fan";
const KAGGLE_KEY: &str = "3f9a0c0ffee0123456789abcdef01234";
const IMAGE_BASE: &str = "updraft:ci";

struct Services {
    pg: String,
    s3: String,
    gcs: String,
    bq: String,
}

/// Every service this test needs, or `None` after saying loudly what is
/// missing; under CI a missing one fails the test.
fn services() -> Option<Services> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let found = (
        var("UPDRAFT_TEST_POSTGRES_URL"),
        var("UPDRAFT_TEST_S3_URL"),
        var("UPDRAFT_TEST_GCS_URL"),
        var("UPDRAFT_TEST_BIGQUERY_URL"),
    );
    let docker = Command::new("docker")
        .args(["image", "inspect", IMAGE_BASE])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    match found {
        (Some(pg), Some(s3), Some(gcs), Some(bq)) if docker => Some(Services { pg, s3, gcs, bq }),
        _ => {
            let why = format!(
                "needs UPDRAFT_TEST_POSTGRES_URL, UPDRAFT_TEST_S3_URL, UPDRAFT_TEST_GCS_URL, \
                 UPDRAFT_TEST_BIGQUERY_URL and a Docker engine with the image {IMAGE_BASE} \
                 (.ci/compose-images.sh); docker image present: {docker}"
            );
            assert!(std::env::var("CI").is_err(), "CI must run the end-to-end test: {why}");
            eprintln!("SKIPPED (ecomm end to end): {why}");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_invoice_etl_and_the_ml_job_run_end_to_end() {
    let Some(svc) = services() else { return };
    let started = Instant::now();
    let t = Setup::new(&svc).await;
    eprintln!("e2e: set up in {:.1}s", started.elapsed().as_secs_f64());

    // One day of the ETL, then the ML job reading what it published.
    let run = t.trigger("ecomm_invoice_etl", "2024-11-05");
    t.expect_success("ecomm_invoice_etl", &run);
    t.print_timings("ecomm_invoice_etl", &run);
    t.check_target_table().await;
    t.check_bigquery_day("20241105").await;
    t.check_bigquery_values("20241105").await;
    t.check_external_table("2024-11-05").await;
    assert_eq!(
        t.gcs_list(&t.bucket("staging"), "staging_area/").await,
        Vec::<String>::new()
    );
    t.check_s3_day("2024-11-05").await;

    let ml = t.trigger("ml_dynamic_segment", "2024-11-05");
    t.expect_success("ml_dynamic_segment", &ml);
    t.check_ml_outputs("2024-11-05").await;

    // The UI shows the run (open on loopback while no user exists).
    let page = t.get_text(&format!("{}/dags/ecomm_invoice_etl", t.web)).await;
    assert!(page.contains("manual__2024-11-05"), "the DAG page lists the run");

    // A backfill of three days, handed to the running scheduler.
    t.run_ok(&[
        "backfill",
        "ecomm_invoice_etl",
        "--start",
        "2024-11-01",
        "--end",
        "2024-11-03",
    ]);
    let days = ["20241101", "20241102", "20241103", "20241105"];
    for day in days {
        t.check_bigquery_day(day).await;
    }
    t.check_target_table().await;
    for day in ["2024-11-01", "2024-11-02", "2024-11-03"] {
        t.check_s3_day(day).await;
        t.check_external_table(day).await;
    }
    assert_eq!(
        t.gcs_list(&t.bucket("staging"), "staging_area/").await,
        Vec::<String>::new()
    );
    let landing_before = t.gcs_list(&t.bucket("landing"), "").await;

    // Rerun one day: it replaces that day's data and nothing else.
    t.run_ok(&[
        "backfill",
        "ecomm_invoice_etl",
        "--start",
        "2024-11-02",
        "--end",
        "2024-11-02",
        "--reprocess",
        "all",
    ]);
    for day in days {
        t.check_bigquery_day(day).await;
    }
    t.check_target_table().await;
    assert_eq!(t.gcs_list(&t.bucket("landing"), "").await, landing_before);
    assert_eq!(t.s3_list("").await.len(), 4 * 4, "4 days x (3 raw files + 1 cleaned)");
    let tables = t.bigquery_tables().await;
    assert_eq!(tables.len(), 4 * 3, "three tables per day, nothing else: {tables:?}");
    eprintln!("e2e: done in {:.1}s", started.elapsed().as_secs_f64());
}

/// Everything one run of the test made: names, processes, clients.
struct Setup {
    env: Env,
    svc: Services,
    id: String,
    project: String,
    web: String,
    /// Updraft's state database.
    state: String,
    target_db: String,
    expected: Expected,
    _server: tokio::task::JoinHandle<()>,
    _daemons: Vec<Daemon>,
    _image: ImageGuard,
}

/// What the cleaning must give, computed here from the generated CSV.
#[derive(Debug)]
struct Expected {
    rows: usize,
    /// Rows whose CustomerID was empty (0 after the cleaning).
    no_customer: usize,
    /// Rows whose Description was empty.
    no_description: usize,
    /// The first data row, as the CSV has it.
    first: Vec<String>,
}

impl Setup {
    async fn new(svc: &Services) -> Setup {
        let env = Env::new();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
        for dag in ["ecomm_invoice_etl.yaml", "ml_dynamic_segment.yaml"] {
            std::fs::copy(root.join("dags").join(dag), env.path().join("dags").join(dag)).unwrap();
        }
        let id = format!(
            "e2e{}x{}",
            std::process::id(),
            jiff::Timestamp::now().as_millisecond() % 100_000
        );
        let project = format!("acme-{id}");

        // Postgres: Updraft's state, the source and the target database.
        let dbs = ["state", "source", "target"].map(|d| format!("{id}_{d}"));
        let mut admin = sqlx::PgConnection::connect(&svc.pg).await.unwrap();
        for db in &dbs {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
                .execute(&mut admin)
                .await
                .unwrap();
        }
        let db_url = |db: &str| {
            let (base, _) = svc.pg.rsplit_once('/').unwrap();
            format!("{base}/{db}")
        };
        let pg = url_parts(&svc.pg);

        // Buckets and datasets on the stand-ins.
        let http = updraft_io::http::client();
        for b in ["landing", "staging", "curate", "artifact"] {
            let r = http
                .post(format!("{}/storage/v1/b?project={project}", svc.gcs))
                .json(&json!({"name": format!("{id}-{b}")}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "creating a GCS bucket: {}", r.status());
        }
        let r = http.put(format!("{}/{id}-s3", svc.s3)).send().await.unwrap();
        assert!(r.status().is_success(), "creating the S3 bucket: {}", r.status());
        for ds in ["silver", "gold"] {
            let r = http
                .post(format!("{}/bigquery/v2/projects/{project}/datasets", svc.bq))
                .json(&json!({"datasetReference": {"projectId": project, "datasetId": ds}}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "creating dataset {ds}: {}", r.status());
        }

        // The data: Kaggle's shape, cp1252 as Kaggle serves it; UTF-8 for
        // the source database.
        let csv = env.path().join("data.csv");
        let seed_csv = env.path().join("seed.csv");
        for (out, enc) in [(&csv, "cp1252"), (&seed_csv, "utf-8")] {
            let o = env
                .cmd()
                .args(["dev", "invoices", "--encoding", enc, "--out"])
                .arg(out)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", text(&o.stderr));
        }
        let data = std::fs::read(&csv).unwrap();
        let expected = expected_from(&data);
        assert_eq!(
            expected.rows, ROWS,
            "the generator gives the Kaggle dataset's row count"
        );
        let server_base;
        let server = {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            server_base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
            let app = fixture_server(Bytes::from(data), Bytes::from(zip_of(&csv)), server_base.clone());
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() })
        };

        // The user's files, in their formats: connections as Airflow
        // exports them (the GCP one empty: Application Default Credentials,
        // here anonymous against the emulators), variables with the seed's
        // keys plus the optional ones that point at the local parts.
        let conn = |db: &str| {
            json!({"conn_type": "postgres", "description": "", "login": pg.user, "password": pg.password,
                   "host": pg.host, "port": pg.port, "schema": db, "extra": ""})
        };
        let connections = json!({
            "google-cloud-default": {"conn_type": "google-cloud-platform", "description": null, "login": null,
                "password": null, "host": null, "port": null, "schema": null, "extra": null},
            "postgres-source": conn(&dbs[1]),
            "postgres-target": conn(&dbs[2]),
            "aws-default": {"conn_type": "aws", "login": "AKIDEXAMPLE", "password": "wJalrXUtnFEMI-example",
                "extra": {"region_name": "us-east-1", "endpoint_url": svc.s3}},
            "kaggle-api": {"conn_type": "generic", "login": KAGGLE_USER, "password": KAGGLE_KEY},
        });
        let gcloud = env.path().join("gcloud");
        std::fs::create_dir_all(&gcloud).unwrap();
        std::fs::write(
            gcloud.join("application_default_credentials.json"),
            "{\"type\": \"authorized_user\"}",
        )
        .unwrap();
        let variables = json!({
            "project_id": project,
            "region": "us-central1",
            "gcs": {"landing": format!("{id}-landing"), "staging": format!("{id}-staging"),
                    "curate": format!("{id}-curate"), "artifact": format!("{id}-artifact")},
            "gar_repo": "ecomm",
            "s3": format!("{id}-s3"),
            "gcp_service_account": "updraft-worker@example.iam.gserviceaccount.com",
            "invoice_csv_url": format!("{server_base}/Patcharanat/ecommerce-invoice/master/data/cleaned_data.csv"),
            "kaggle_base_url": server_base,
            "gcloud_config_dir": gcloud,
            "ml_network_mode": ml_network(),
            "seed_csv": seed_csv,
        });
        std::fs::write(env.path().join("connections.json"), connections.to_string()).unwrap();
        std::fs::write(env.path().join("variables.json"), variables.to_string()).unwrap();

        let state = db_url(&dbs[0]);
        let target_db = db_url(&dbs[2]);
        let mut t = Setup {
            env,
            svc: Services {
                pg: svc.pg.clone(),
                s3: svc.s3.clone(),
                gcs: svc.gcs.clone(),
                bq: svc.bq.clone(),
            },
            id,
            project,
            web: String::new(),
            state: state.clone(),
            target_db,
            expected,
            _server: server,
            _daemons: Vec::new(),
            _image: ImageGuard(String::new()),
        };
        t.run_ok(&["db", "migrate"]);
        t.run_ok(&["connections", "import", "connections.json"]);
        t.run_ok(&["variables", "import", "variables.json"]);
        let init = root.join("compose").join("init");
        t.run_ok(&[
            "--dags-folder",
            init.to_str().unwrap(),
            "dags",
            "test",
            "seed",
            "2024-11-01",
        ]);
        t._image = t.build_ml_image();

        // The three processes of a deployment.
        for (name, args) in [
            ("scheduler", vec!["scheduler"]),
            ("worker", vec!["worker", "--slots", "8"]),
            ("web", vec!["web", "--bind", "127.0.0.1:0"]),
        ] {
            let log_path = t.env.path().join(format!("{name}.log"));
            let log = std::fs::File::create(&log_path).unwrap();
            let child = t
                .env
                .cmd()
                .envs(t.vars())
                .env("UPDRAFT_DATABASE_URL", &state)
                .args(args)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap();
            t._daemons.push(Daemon(Some(child), log_path));
        }
        let web_log = t.env.path().join("web.log");
        t.web = wait_until("the web UI's address", Duration::from_secs(30), || {
            let log = std::fs::read_to_string(&web_log).ok()?;
            let at = log.find("updraft web UI: ")?;
            Some(log[at + 16..].lines().next()?.trim().to_string())
        });
        t
    }

    /// The environment every `updraft` process of the deployment gets.
    fn vars(&self) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("UPDRAFT_DATABASE_URL", self.state.clone()),
            ("UPDRAFT_SECRET_KEY", "e2e-secret-key-0123456789abcdef0123456789".into()),
            ("STORAGE_EMULATOR_HOST", self.svc.gcs.clone()),
            ("BIGQUERY_EMULATOR_HOST", self.svc.bq.clone()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ])
    }

    fn run_ok(&self, args: &[&str]) -> String {
        let out = self.env.cmd().envs(self.vars()).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "updraft {args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn bucket(&self, which: &str) -> String {
        format!("{}-{which}", self.id)
    }

    /// Triggers a run (the DAGs stay paused: only these runs exist) and
    /// returns its id.
    fn trigger(&self, dag: &str, day: &str) -> String {
        self.run_ok(&["dags", "trigger", dag, "--logical-date", day]);
        format!("manual__{day}T00:00:00+00:00")
    }

    fn tasks(&self, dag: &str, run: &str) -> Vec<Value> {
        let out = self.run_ok(&["tasks", "list", dag, run, "--output", "json"]);
        serde_json::from_str::<Value>(&out).unwrap().as_array().unwrap().clone()
    }

    /// Waits for every task of the run to succeed; fails at once, with the
    /// task's error, when one fails or waits for a retry.
    fn expect_success(&self, dag: &str, run: &str) {
        wait_until(&format!("{dag} {run}"), Duration::from_secs(180), || {
            let tasks = self.tasks(dag, run);
            for t in &tasks {
                let state = t["state"].as_str().unwrap();
                assert!(
                    !["failed", "up_for_retry", "upstream_failed"].contains(&state),
                    "{dag} {run}: task {} is {state}: {}\n{}",
                    t["task_id"],
                    t["error"],
                    self.run_ok(&["tasks", "logs", dag, run, t["task_id"].as_str().unwrap()])
                );
            }
            (!tasks.is_empty() && tasks.iter().all(|t| t["state"] == "success")).then_some(())
        });
    }

    /// The wall time of each task, for the closing note and the README.
    fn print_timings(&self, dag: &str, run: &str) {
        let ts = |v: &Value| v.as_str().and_then(|s| s.parse::<jiff::Timestamp>().ok());
        let tasks = self.tasks(dag, run);
        let first = tasks.iter().filter_map(|t| ts(&t["start_date"])).min().unwrap();
        let last = tasks.iter().filter_map(|t| ts(&t["end_date"])).max().unwrap();
        for t in &tasks {
            let (s, e) = (ts(&t["start_date"]).unwrap(), ts(&t["end_date"]).unwrap());
            eprintln!(
                "e2e timing: {:<28} {:>6.2}s (from +{:.2}s)",
                t["task_id"].as_str().unwrap(),
                (e - s).as_secs_f64(),
                (s - first).as_secs_f64()
            );
        }
        eprintln!(
            "e2e timing: {dag} {run}: {:.2}s first start to last end",
            (last - first).as_secs_f64()
        );
    }

    async fn get_json(&self, url: &str) -> Value {
        let r = updraft_io::http::client().get(url).send().await.unwrap();
        assert!(r.status().is_success(), "GET {url}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn get_text(&self, url: &str) -> String {
        let r = updraft_io::http::client().get(url).send().await.unwrap();
        assert!(r.status().is_success(), "GET {url}: {}", r.status());
        r.text().await.unwrap()
    }

    /// Object names under a prefix, sorted.
    async fn gcs_list(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let v = self
            .get_json(&format!("{}/storage/v1/b/{bucket}/o?prefix={prefix}", self.svc.gcs))
            .await;
        let mut names: Vec<String> = v["items"]
            .as_array()
            .map(|items| items.iter().map(|i| i["name"].as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    async fn s3_list(&self, prefix: &str) -> Vec<String> {
        let body = self
            .get_text(&format!(
                "{}/{}?list-type=2&prefix={prefix}",
                self.svc.s3,
                self.bucket("s3")
            ))
            .await;
        let mut keys: Vec<String> = body
            .split("<Key>")
            .skip(1)
            .map(|s| s.split("</Key>").next().unwrap().to_string())
            .collect();
        keys.sort();
        keys
    }

    /// The AWS branch wrote the day's three extracts and its cleaned file.
    async fn check_s3_day(&self, day: &str) {
        assert_eq!(
            self.s3_list(&format!("raw/{day}/")).await,
            [
                "data_api_uncleaned.csv",
                "data_postgres_cleaned.csv",
                "data_url_uncleaned.csv"
            ]
            .map(|f| format!("raw/{day}/{f}"))
        );
        assert_eq!(
            self.s3_list(&format!("staging_area/{day}/")).await,
            [format!("staging_area/{day}/ecomm_invoice_transaction.parquet")]
        );
    }

    async fn bq_table(&self, table: &str) -> Value {
        self.get_json(&format!(
            "{}/bigquery/v2/projects/{}/datasets/silver/tables/{table}",
            self.svc.bq, self.project
        ))
        .await
    }

    async fn bigquery_tables(&self) -> Vec<String> {
        let v = self
            .get_json(&format!(
                "{}/bigquery/v2/projects/{}/datasets/silver/tables",
                self.svc.bq, self.project
            ))
            .await;
        v["tables"]
            .as_array()
            .map(|t| {
                t.iter()
                    .map(|t| t["tableReference"]["tableId"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The day's native table (WRITE_TRUNCATE) and autodetect table
    /// (WRITE_APPEND after a drop) each hold the day's rows once.
    async fn check_bigquery_day(&self, day: &str) {
        for table in [
            format!("invoice_transaction_{day}"),
            format!("invoice_transaction_autodetect_{day}"),
        ] {
            let t = self.bq_table(&table).await;
            assert_eq!(t["numRows"], json!(self.expected.rows.to_string()), "{table}");
            let fields: Vec<&str> = t["schema"]["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["name"].as_str().unwrap())
                .collect();
            assert_eq!(
                fields,
                [
                    "InvoiceNo",
                    "StockCode",
                    "Description",
                    "Quantity",
                    "InvoiceDate",
                    "UnitPrice",
                    "CustomerID",
                    "Country",
                    "total_spend"
                ],
                "{table}: the seed's columns, in order"
            );
        }
    }

    async fn bq_query(&self, sql: &str) -> Vec<Vec<Value>> {
        let r = updraft_io::http::client()
            .post(format!("{}/bigquery/v2/projects/{}/queries", self.svc.bq, self.project))
            .json(&json!({"query": sql, "useLegacySql": false}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{sql}: {}", r.status());
        let v: Value = r.json().await.unwrap();
        v["rows"]
            .as_array()
            .unwrap_or_else(|| panic!("{sql}: {v}"))
            .iter()
            .map(|row| row["f"].as_array().unwrap().iter().map(|c| c["v"].clone()).collect())
            .collect()
    }

    /// Values, not just counts: the cleaning's nulls and the first row.
    async fn check_bigquery_values(&self, day: &str) {
        let table = format!("`{}.silver.invoice_transaction_{day}`", self.project);
        let rows = self
            .bq_query(&format!(
                "SELECT COUNT(*), COUNTIF(CustomerID = 0), COUNTIF(Description = 'No Description') FROM {table}"
            ))
            .await;
        let n = |v: &Value| v.as_str().unwrap().parse::<usize>().unwrap();
        assert_eq!(
            (n(&rows[0][0]), n(&rows[0][1])),
            (self.expected.rows, self.expected.no_customer),
            "rows, and missing CustomerIDs filled with 0"
        );
        assert!(n(&rows[0][2]) <= self.expected.no_description);
        let f = &self.expected.first;
        let rows = self
            .bq_query(&format!(
                "SELECT StockCode, Quantity, UnitPrice, CustomerID, total_spend FROM {table} \
                 WHERE InvoiceNo = '{}' AND StockCode = '{}' LIMIT 1",
                f[0],
                f[1].to_uppercase()
            ))
            .await;
        assert_eq!(rows.len(), 1, "the CSV's first row is in BigQuery");
        let qty: f64 = f[3].parse().unwrap();
        let price: f64 = f[5].parse().unwrap();
        assert_eq!(rows[0][1].as_str().unwrap().parse::<f64>().unwrap(), qty);
        assert!((rows[0][4].as_str().unwrap().parse::<f64>().unwrap() - qty * price).abs() < 1e-9);
    }

    /// The external table points at the day's published file, which stays.
    async fn check_external_table(&self, day: &str) {
        let nodash = day.replace('-', "");
        let t = self.bq_table(&format!("invoice_transaction_external_{nodash}")).await;
        let uri = format!(
            "gs://{}/input/data/{day}/ecomm_invoice_transaction.parquet",
            self.bucket("landing")
        );
        assert_eq!(t["externalDataConfiguration"]["sourceUris"], json!([uri]));
        assert_eq!(t["externalDataConfiguration"]["sourceFormat"], "PARQUET");
        assert_eq!(
            self.gcs_list(&self.bucket("landing"), &format!("input/data/{day}/"))
                .await,
            [format!("input/data/{day}/ecomm_invoice_transaction.parquet")]
        );
    }

    /// The target table holds the latest snapshot, cleaned, snake_case.
    async fn check_target_table(&self) {
        let mut c = sqlx::PgConnection::connect(&self.target_db).await.unwrap();
        let (rows, no_customer, null_desc): (i64, i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE customer_id = 0), COUNT(*) FILTER (WHERE description IS NULL) \
             FROM public.ecomm_invoice_transaction",
        )
        .fetch_one(&mut c)
        .await
        .unwrap();
        assert_eq!(
            (rows as usize, no_customer as usize, null_desc),
            (self.expected.rows, self.expected.no_customer, 0)
        );
        let f = &self.expected.first;
        let (stock, qty, date, price, spend): (String, i64, String, f64, f64) = sqlx::query_as(
            "SELECT stock_code, quantity, to_char(invoice_date, 'FMMM/FMDD/YYYY FMHH24:MI'), unit_price, total_spend \
             FROM public.ecomm_invoice_transaction WHERE invoice_no = $1 ORDER BY stock_code = $2 DESC LIMIT 1",
        )
        .bind(&f[0])
        .bind(f[1].to_uppercase())
        .fetch_one(&mut c)
        .await
        .unwrap();
        assert_eq!(stock, f[1].to_uppercase());
        assert_eq!(qty.to_string(), f[3]);
        assert_eq!(date, f[4], "InvoiceDate parsed from M/D/YYYY H:MM");
        assert_eq!(price, f[5].parse::<f64>().unwrap());
        assert!((spend - qty as f64 * price).abs() < 1e-9);
        c.close().await.unwrap();
    }

    /// The ML stand-in wrote what the real job writes, where it writes it.
    async fn check_ml_outputs(&self, day: &str) {
        let staging = self.bucket("staging");
        assert_eq!(
            self.gcs_list(&staging, "output/").await,
            [
                format!("output/artifact/{day}/control_file.json"),
                format!("output/data/{day}/df_cluster_importance.parquet"),
                format!("output/data/{day}/df_cluster_rfm.parquet"),
                format!("output/models/{day}/model.txt"),
            ]
        );
        let control = self
            .get_text(&format!(
                "{}/storage/v1/b/{staging}/o/{}?alt=media",
                self.svc.gcs,
                format!("output/artifact/{day}/control_file.json").replace('/', "%2F")
            ))
            .await;
        let control: Value = serde_json::from_str(&control).unwrap();
        assert_eq!(
            control,
            json!({
                "exec_date": day,
                "project_id": self.project,
                "google_cloud_project": self.project,
                "input_path": format!("gs://{}/input/data/{day}/ecomm_invoice_transaction.parquet", self.bucket("landing")),
                "output_path": format!("gs://{staging}/output"),
                "adc_mounted": true,
            })
        );
    }

    /// The ML team's image, stood in for: built FROM the Updraft image and
    /// tagged as the DAG names it, so the docker operator finds it locally.
    fn build_ml_image(&self) -> ImageGuard {
        let tag = format!(
            "us-central1-docker.pkg.dev/{}/ecomm/ecomm/interpretable-dynamic-rfm-service:v5",
            self.project
        );
        let ctx = self.env.path().join("ml-image");
        std::fs::create_dir_all(ctx.join("dags")).unwrap();
        std::fs::write(ctx.join("segment.sh"), ML_SEGMENT_SH).unwrap();
        std::fs::write(ctx.join("dags").join("rfm_stub.yaml"), ML_STUB_DAG).unwrap();
        std::fs::write(
            ctx.join("Dockerfile"),
            format!(
                "FROM {IMAGE_BASE}\nUSER root\nCOPY segment.sh /ml/segment.sh\nCOPY dags /ml/dags\n\
                 ENV STORAGE_EMULATOR_HOST={}\nENTRYPOINT [\"bash\", \"/ml/segment.sh\"]\n",
                self.svc.gcs
            ),
        )
        .unwrap();
        let out = Command::new("docker")
            .args(["build", "-q", "-t", &tag])
            .arg(&ctx)
            .output()
            .unwrap();
        assert!(out.status.success(), "docker build: {}", text(&out.stderr));
        ImageGuard(tag)
    }
}

/// The network the ML container joins to reach the GCS stand-in on this
/// test's 127.0.0.1: the host's, or, when the test itself runs in a
/// container (GitHub's container jobs), that container's.
fn ml_network() -> String {
    if Path::new("/.dockerenv").exists()
        && let Ok(id) = std::fs::read_to_string("/etc/hostname")
    {
        return format!("container:{}", id.trim());
    }
    "host".into()
}

/// Removes the ML stand-in's image when the test ends.
struct ImageGuard(String);

impl Drop for ImageGuard {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let _ = Command::new("docker")
                .args(["rmi", "-f", &self.0])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Takes the real job's arguments, checks what the DAG gives it, and
/// writes its files with Updraft's own operators (ML_STUB_DAG).
const ML_SEGMENT_SH: &str = r#"#!/usr/bin/env bash
set -euo pipefail
while [ $# -gt 0 ]; do
  case "$1" in
    --env) env=$2 ;; --project_id) project=$2 ;; --method) method=$2 ;;
    --input_path) input=$2 ;; --output_path) output=$2 ;; --exec_date) day=$2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift 2
done
[ "$env" = gcp ] && [ "$method" = filesystem ] || { echo "--env gcp --method filesystem expected" >&2; exit 2; }
adc=false
[ -f /root/.config/gcloud/application_default_credentials.json ] && adc=true
mkdir -p /tmp/out
printf '{"exec_date": "%s", "project_id": "%s", "google_cloud_project": "%s", "input_path": "%s", "output_path": "%s", "adc_mounted": %s}\n' \
  "$day" "$project" "${GOOGLE_CLOUD_PROJECT:-}" "$input" "$output" "$adc" >/tmp/out/control_file.json
echo "k-means stand-in for $day" >/tmp/out/model.txt
export UPDRAFT_DATABASE_URL=sqlite:///tmp/ml.db UPDRAFT_VAR_INPUT="$input" UPDRAFT_VAR_OUTPUT="$output"
exec updraft --dags-folder /ml/dags dags test rfm_stub "$day"
"#;

const ML_STUB_DAG: &str = r#"dag_id: rfm_stub
schedule: null
start_date: 2024-01-01
tasks:
  rfm:
    operator: transform
    from: "{{ var.value.input }}"
    steps:
      - dedupe: {columns: [CustomerID]}
      - select: [CustomerID, InvoiceDate, total_spend]
    to: "{{ var.value.output }}/data/{{ ds }}/df_cluster_rfm.parquet"
  importance:
    operator: transform
    from: "{{ var.value.input }}"
    steps:
      - dedupe: {columns: [Country]}
      - select: [Country, total_spend]
    to: "{{ var.value.output }}/data/{{ ds }}/df_cluster_importance.parquet"
  control_file:
    operator: gcs_upload
    from: /tmp/out/control_file.json
    to: "{{ var.value.output }}/artifact/{{ ds }}/control_file.json"
  model:
    operator: gcs_upload
    from: /tmp/out/model.txt
    to: "{{ var.value.output }}/models/{{ ds }}/model.txt"
"#;

struct PgParts {
    user: String,
    password: Option<String>,
    host: String,
    port: u16,
}

/// postgres://user[:password]@host[:port]/db
fn url_parts(url: &str) -> PgParts {
    let rest = url.split_once("://").unwrap().1;
    let (auth, hostpart) = rest.rsplit_once('@').unwrap();
    let (user, password) = match auth.split_once(':') {
        Some((u, p)) => (u.to_string(), Some(p.to_string())),
        None => (auth.to_string(), None),
    };
    let hostport = hostpart.split('/').next().unwrap();
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().unwrap()),
        None => (hostport.to_string(), 5432),
    };
    PgParts {
        user,
        password,
        host,
        port,
    }
}

/// Counts from the generated CSV (cp1252; every field is plain, no quoted
/// commas in the columns read here).
fn expected_from(data: &[u8]) -> Expected {
    let text: String = data.iter().map(|&b| b as char).collect();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        header,
        [
            "InvoiceNo",
            "StockCode",
            "Description",
            "Quantity",
            "InvoiceDate",
            "UnitPrice",
            "CustomerID",
            "Country"
        ]
    );
    let (mut rows, mut no_customer, mut no_description) = (0, 0, 0);
    let mut first = Vec::new();
    for line in lines {
        let f = split_csv(line);
        if rows == 0 {
            first = f.clone();
        }
        rows += 1;
        if f[6].is_empty() {
            no_customer += 1;
        }
        if f[2].is_empty() {
            no_description += 1;
        }
    }
    Expected {
        rows,
        no_customer,
        no_description,
        first,
    }
}

/// One CSV line's fields (quotes and doubled quotes).
fn split_csv(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

/// The dataset's zip as Kaggle serves it: one member, `data.csv`.
fn zip_of(csv: &PathBuf) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut buf);
    z.start_file(
        "data.csv",
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated),
    )
    .unwrap();
    z.write_all(&std::fs::read(csv).unwrap()).unwrap();
    z.finish().unwrap();
    buf.into_inner()
}

/// GitHub raw (a file by path) and Kaggle's documented download API: the
/// current endpoint with basic auth, redirecting to the zip on a storage
/// path, as kaggle.com redirects to storage.googleapis.com.
fn fixture_server(csv: Bytes, zip: Bytes, base: String) -> axum::Router {
    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{KAGGLE_USER}:{KAGGLE_KEY}"))
    );
    let expected_auth = Arc::new(expected_auth);
    axum::Router::new()
        .route(
            "/Patcharanat/ecommerce-invoice/master/data/cleaned_data.csv",
            get(move || {
                let csv = csv.clone();
                async move { ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], csv) }
            }),
        )
        .route(
            "/api/v1/datasets.DatasetApiService/DownloadDataset",
            post(move |headers: HeaderMap, body: axum::Json<Value>| {
                let expected_auth = expected_auth.clone();
                let base = base.clone();
                async move {
                    let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
                    if auth != Some(expected_auth.as_str()) {
                        return (
                            StatusCode::UNAUTHORIZED,
                            axum::Json(json!({"code": 401, "message": "Unauthenticated"})),
                        )
                            .into_response();
                    }
                    if body.0 != json!({"ownerSlug": "carrie1", "datasetSlug": "ecommerce-data"}) {
                        return (
                            StatusCode::NOT_FOUND,
                            axum::Json(json!({"code": 404, "message": "Not found"})),
                        )
                            .into_response();
                    }
                    Response::builder()
                        .status(StatusCode::FOUND)
                        .header(header::LOCATION, format!("{base}/storage/ecommerce-data.zip"))
                        .body(axum::body::Body::empty())
                        .unwrap()
                }
            }),
        )
        .route(
            "/storage/ecommerce-data.zip",
            get(move || {
                let zip = zip.clone();
                async move { ([(header::CONTENT_TYPE, "application/zip")], zip) }
            }),
        )
}
