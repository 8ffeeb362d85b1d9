//! The end-to-end test's parts: the local GitHub and Kaggle server, the ML
//! stand-in, and what the generated CSV must give after the cleaning.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::{KAGGLE_KEY, KAGGLE_USER};

/// What the cleaning must give, computed here from the generated CSV.
#[derive(Debug)]
pub(crate) struct Expected {
    pub(crate) rows: usize,
    /// Rows whose CustomerID was empty (0 after the cleaning).
    pub(crate) no_customer: usize,
    /// Rows whose Description was empty.
    pub(crate) no_description: usize,
    /// The first data row, as the CSV has it.
    pub(crate) first: Vec<String>,
}

/// The network the ML container joins to reach the GCS stand-in on this
/// test's 127.0.0.1: the host's, or, when the test itself runs in a
/// container (GitHub's container jobs), that container's.
pub(crate) fn ml_network() -> String {
    // Inside a container, this machine's name is the container's, and the
    // engine knows it; on a host (or a VM) it knows no such container.
    let Ok(name) = std::fs::read_to_string("/etc/hostname") else {
        return "host".into();
    };
    let out = Command::new("docker")
        .args(["inspect", "--type", "container", "-f", "{{.Id}}", name.trim()])
        .stderr(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => format!("container:{}", String::from_utf8_lossy(&o.stdout).trim()),
        _ => "host".into(),
    }
}

/// Removes the ML stand-in's image when the test ends.
pub(crate) struct ImageGuard(pub(crate) String);

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
pub(crate) const ML_SEGMENT_SH: &str = r#"#!/usr/bin/env bash
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

pub(crate) const ML_STUB_DAG: &str = r#"dag_id: rfm_stub
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

pub(crate) struct PgParts {
    pub(crate) user: String,
    pub(crate) password: Option<String>,
    pub(crate) host: String,
    pub(crate) port: u16,
}

/// postgres://user[:password]@host[:port]/db
pub(crate) fn url_parts(url: &str) -> PgParts {
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
/// The Kaggle dataset's columns; the cleaning adds `total_spend`.
pub(crate) const KAGGLE_COLUMNS: [&str; 8] = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
];

pub(crate) fn expected_from(data: &[u8]) -> Expected {
    let text: String = data.iter().map(|&b| b as char).collect();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header, KAGGLE_COLUMNS);
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
pub(crate) fn zip_of(csv: &PathBuf) -> Vec<u8> {
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
pub(crate) fn fixture_server(csv: Bytes, zip: Bytes, base: String) -> axum::Router {
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
