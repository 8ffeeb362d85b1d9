//! What the end-to-end test checks and how it drives the deployment: the
//! methods of `Setup` after its construction.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Connection as _;

use crate::common::{text, wait_until};
use crate::parts::{ImageGuard, KAGGLE_COLUMNS, ML_SEGMENT_SH, ML_STUB_DAG};
use crate::{IMAGE_BASE, Setup};

impl Setup {
    /// The environment every `updraft` process of the deployment gets.
    pub(crate) fn vars(&self) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("UPDRAFT_DATABASE_URL", self.state.clone()),
            ("UPDRAFT_SECRET_KEY", "e2e-secret-key-0123456789abcdef0123456789".into()),
            ("STORAGE_EMULATOR_HOST", self.svc.gcs.clone()),
            ("BIGQUERY_EMULATOR_HOST", self.svc.bq.clone()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ])
    }

    pub(crate) fn run_ok(&self, args: &[&str]) -> String {
        let out = self.env.cmd().envs(self.vars()).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "updraft {args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    pub(crate) fn bucket(&self, which: &str) -> String {
        format!("{}-{which}", self.id)
    }

    /// Triggers a run (the DAGs stay paused: only these runs exist) and
    /// returns its id.
    pub(crate) fn trigger(&self, dag: &str, day: &str) -> String {
        self.run_ok(&["dags", "trigger", dag, "--logical-date", day]);
        format!("manual__{day}T00:00:00+00:00")
    }

    pub(crate) fn tasks(&self, dag: &str, run: &str) -> Vec<Value> {
        let out = self.run_ok(&["tasks", "list", dag, run, "--output", "json"]);
        serde_json::from_str::<Value>(&out).unwrap().as_array().unwrap().clone()
    }

    /// Waits for every task of the run to succeed; fails at once, with the
    /// task's error, when one fails or waits for a retry.
    pub(crate) fn expect_success(&self, dag: &str, run: &str) {
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
    pub(crate) fn print_timings(&self, dag: &str, run: &str) {
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

    pub(crate) async fn get_json(&self, url: &str) -> Value {
        let r = updraft_io::http::client().get(url).send().await.unwrap();
        assert!(r.status().is_success(), "GET {url}: {}", r.status());
        r.json().await.unwrap()
    }

    pub(crate) async fn get_text(&self, url: &str) -> String {
        let r = updraft_io::http::client().get(url).send().await.unwrap();
        assert!(r.status().is_success(), "GET {url}: {}", r.status());
        r.text().await.unwrap()
    }

    /// Object names under a prefix, sorted.
    pub(crate) async fn gcs_list(&self, bucket: &str, prefix: &str) -> Vec<String> {
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

    pub(crate) async fn s3_list(&self, prefix: &str) -> Vec<String> {
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
    pub(crate) async fn check_s3_day(&self, day: &str) {
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

    pub(crate) async fn bq_table(&self, table: &str) -> Value {
        self.get_json(&format!(
            "{}/bigquery/v2/projects/{}/datasets/silver/tables/{table}",
            self.svc.bq, self.project
        ))
        .await
    }

    pub(crate) async fn bigquery_tables(&self) -> Vec<String> {
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
    pub(crate) async fn check_bigquery_day(&self, day: &str) {
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
                [&KAGGLE_COLUMNS[..], &["total_spend"]].concat(),
                "{table}: the seed's columns, in order"
            );
        }
    }

    pub(crate) async fn bq_query(&self, sql: &str) -> Vec<Vec<Value>> {
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
    pub(crate) async fn check_bigquery_values(&self, day: &str) {
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
    pub(crate) async fn check_external_table(&self, day: &str) {
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
    pub(crate) async fn check_target_table(&self) {
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
    pub(crate) async fn check_ml_outputs(&self, day: &str) {
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
    pub(crate) fn build_ml_image(&self) -> ImageGuard {
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
