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

mod checks;
#[path = "../common/mod.rs"]
mod common;
mod parts;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use common::{Daemon, Env, text, wait_until};
use parts::{Expected, ImageGuard, expected_from, fixture_server, ml_network, url_parts, zip_of};
use serde_json::json;
use sqlx::Connection as _;

const ROWS: usize = 541_909;
const KAGGLE_USER: &str = "carrie-fan";
const KAGGLE_KEY: &str = "3f9a0c0ffee0123456789abcdef01234";
const IMAGE_BASE: &str = "updraft:ci";

#[derive(Clone)]
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
            svc: svc.clone(),
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
}
