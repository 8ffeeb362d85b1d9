//! Against a real Postgres (see `postgres::testing`): Parquet in binary
//! and CSV as it is, every mode, the seed's pandas files unchanged, and
//! bad input that names what is wrong and leaves the table as it was.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, Decimal128Array, Float64Array, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray,
};
use arrow_schema::{Field, Schema};
use parquet::arrow::ArrowWriter;
use serde_json::json;
use sqlx::Row;
use updraft_operator_api::{Operator, TaskError};

use super::{LoadConfig, PostgresLoad};
use crate::postgres::testing::{self, admin_url, connect, exec};

fn config(yaml: &str) -> LoadConfig {
    serde_json::from_value(serde_yaml_ng_like(yaml)).unwrap()
}

/// The operator's config as a DAG file gives it (YAML read through JSON,
/// as the engine hands configs over).
fn serde_yaml_ng_like(yaml: &str) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for line in yaml.lines().filter(|l| !l.trim().is_empty()) {
        let (k, v) = line.split_once(':').unwrap();
        let v = v.trim();
        let value = if v.starts_with('{') || v.starts_with('[') {
            serde_json::from_str(v).unwrap()
        } else {
            json!(v)
        };
        map.insert(k.trim().to_string(), value);
    }
    serde_json::Value::Object(map)
}

async fn load(url: &str, yaml: &str) -> Result<serde_json::Value, TaskError> {
    let c = config(&format!("conn_id: pg\n{yaml}"));
    let problems = PostgresLoad::validate(&c);
    assert!(problems.is_empty(), "{problems:?}");
    PostgresLoad.execute(c, testing::ctx(url, "load")).await
}

fn write_parquet(path: &Path, cols: Vec<(&str, ArrayRef)>) {
    let schema = Schema::new(
        cols.iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    );
    let batch = RecordBatch::try_new(Arc::new(schema), cols.into_iter().map(|(_, a)| a).collect()).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// Rows as Postgres writes each value as text, in column order.
async fn rows(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    let mut c = connect(url).await;
    let row = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SELECT json_agg((SELECT json_agg(value) FROM json_each_text(to_json(t))))::text FROM ({sql}) t"
    )))
    .fetch_one(&mut c)
    .await
    .unwrap();
    let text: Option<String> = row.try_get(0).unwrap();
    text.map_or_else(Vec::new, |t| serde_json::from_str(&t).unwrap())
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

/// The cleaned invoice file as pandas writes it: its index column,
/// nanosecond timestamps, float money.
fn invoice_file(path: &Path, quantities: Vec<i64>) {
    let n = quantities.len();
    let ns = |m: i64| 1_291_191_960_000_000_000 + m * 60_000_000_000; // 2010-12-01 08:26
    write_parquet(
        path,
        vec![
            (
                "InvoiceNo",
                Arc::new(StringArray::from_iter_values((0..n).map(|i| format!("5363{i:02}")))) as ArrayRef,
            ),
            (
                "StockCode",
                Arc::new(StringArray::from_iter_values((0..n).map(|i| format!("8512{i}A")))),
            ),
            (
                "Description",
                Arc::new(StringArray::from_iter(
                    (0..n).map(|i| (i != 1).then(|| format!("WHITE HEART £{i} ’T-LIGHT’, \"x\""))),
                )),
            ),
            ("Quantity", Arc::new(Int64Array::from(quantities))),
            (
                "InvoiceDate",
                Arc::new(TimestampNanosecondArray::from_iter_values((0..n as i64).map(ns))),
            ),
            (
                "UnitPrice",
                Arc::new(Float64Array::from_iter_values((0..n).map(|i| 2.55 + i as f64))),
            ),
            (
                "CustomerID",
                Arc::new(Int64Array::from_iter_values((0..n as i64).map(|i| 17850 + i))),
            ),
            (
                "Country",
                Arc::new(StringArray::from_iter_values((0..n).map(|_| "United Kingdom"))),
            ),
            (
                "total_spend",
                Arc::new(Float64Array::from_iter_values((0..n).map(|i| 15.3 * (i + 1) as f64))),
            ),
            ("__index_level_0__", Arc::new(Int64Array::from_iter_values(0..n as i64))),
        ],
    );
}

const TARGET: &str = "invoice_no text, stock_code text, description text, quantity integer,
    invoice_date timestamp, unit_price numeric(10,2), customer_id bigint, country text, total_spend double precision";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_goes_into_the_snake_case_table_value_by_value() {
    let Some(url) = admin_url() else { return };
    exec(
        &url,
        &format!(
            "DROP SCHEMA IF EXISTS load_pq CASCADE; CREATE SCHEMA load_pq;
             CREATE TABLE load_pq.invoices ({TARGET});
             INSERT INTO load_pq.invoices (invoice_no) VALUES ('old');"
        ),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ecomm_invoice_transaction.parquet");
    invoice_file(&file, vec![6, -1, 12]);
    let out = load(
        &url,
        &format!(
            "from: {}\ntable: load_pq.invoices\nmode: truncate\nrename: snake_case",
            file.display()
        ),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({"rows": 3, "table": "load_pq.invoices", "mode": "truncate"}));
    let got = rows(&url, "SELECT * FROM load_pq.invoices ORDER BY invoice_no").await;
    assert_eq!(
        got,
        vec![
            vec![
                s("536300"),
                s("85120A"),
                s("WHITE HEART £0 ’T-LIGHT’, \"x\""),
                s("6"),
                s("2010-12-01T08:26:00"),
                s("2.55"),
                s("17850"),
                s("United Kingdom"),
                s("15.3")
            ],
            vec![
                s("536301"),
                s("85121A"),
                None,
                s("-1"),
                s("2010-12-01T08:27:00"),
                s("3.55"),
                s("17851"),
                s("United Kingdom"),
                s("30.6")
            ],
            vec![
                s("536302"),
                s("85122A"),
                s("WHITE HEART £2 ’T-LIGHT’, \"x\""),
                s("12"),
                s("2010-12-01T08:28:00"),
                s("4.55"),
                s("17852"),
                s("United Kingdom"),
                s("45.900000000000006")
            ],
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_truncate_load_leaves_the_old_rows() {
    let Some(url) = admin_url() else { return };
    exec(
        &url,
        "DROP SCHEMA IF EXISTS load_fail CASCADE; CREATE SCHEMA load_fail;
         CREATE TABLE load_fail.t (invoice_no text NOT NULL, quantity smallint);
         INSERT INTO load_fail.t VALUES ('kept', 1);",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.parquet");
    // Enough rows that some reach the server before the bad one.
    let mut q: Vec<i64> = vec![1; 100_000];
    q[99_990] = 70_000;
    write_parquet(
        &file,
        vec![
            (
                "InvoiceNo",
                Arc::new(StringArray::from_iter_values((0..q.len()).map(|i| i.to_string()))) as ArrayRef,
            ),
            ("Quantity", Arc::new(Int64Array::from(q))),
        ],
    );
    let err = load(
        &url,
        &format!(
            "from: {}\ntable: load_fail.t\nmode: truncate\nrename: snake_case",
            file.display()
        ),
    )
    .await
    .unwrap_err();
    let TaskError::Fatal(msg) = err else { panic!("{err:?}") };
    assert!(
        msg.contains(r#"row 99991, column "Quantity": "70000" is not a valid smallint (table column "quantity")"#),
        "{msg}"
    );
    assert_eq!(
        rows(&url, "SELECT * FROM load_fail.t").await,
        vec![vec![s("kept"), s("1")]]
    );

    // A null into a NOT NULL column, caught before the server sees it.
    let file = dir.path().join("null.parquet");
    write_parquet(
        &file,
        vec![(
            "invoice_no",
            Arc::new(StringArray::from(vec![Some("a"), None])) as ArrayRef,
        )],
    );
    let err = load(
        &url,
        &format!("from: {}\ntable: load_fail.t\nmode: truncate", file.display()),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains(r#"row 2, column "invoice_no": no value, and table column "invoice_no" is NOT NULL"#),
        "{err}"
    );
    assert_eq!(
        rows(&url, "SELECT * FROM load_fail.t").await,
        vec![vec![s("kept"), s("1")]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mode_does_what_it_says() {
    let Some(url) = admin_url() else { return };
    exec(
        &url,
        "DROP SCHEMA IF EXISTS load_modes CASCADE; CREATE SCHEMA load_modes;",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.parquet");
    write_parquet(
        &a,
        vec![
            ("id", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
            (
                "price",
                Arc::new(
                    Decimal128Array::from(vec![250, -1])
                        .with_precision_and_scale(8, 2)
                        .unwrap(),
                ),
            ),
            ("name", Arc::new(StringArray::from(vec!["one", "two"]))),
        ],
    );
    let b = dir.path().join("b.parquet");
    write_parquet(
        &b,
        vec![
            ("id", Arc::new(Int64Array::from(vec![2, 3])) as ArrayRef),
            (
                "price",
                Arc::new(
                    Decimal128Array::from(vec![999, 0])
                        .with_precision_and_scale(8, 2)
                        .unwrap(),
                ),
            ),
            ("name", Arc::new(StringArray::from(vec!["TWO", "three"]))),
        ],
    );
    let at = |f: &Path, mode: &str| format!("from: {}\ntable: load_modes.t\nmode: {mode}", f.display());

    // Append to a table that is not there: a clear error, nothing made.
    let err = load(&url, &at(&a, "append")).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("table load_modes.t does not exist; `mode: create`"),
        "{err}"
    );

    // Create: the file's types.
    assert_eq!(load(&url, &at(&a, "create")).await.unwrap()["rows"], 2);
    let types = rows(
        &url,
        "SELECT column_name::text, data_type::text, numeric_precision, numeric_scale FROM information_schema.columns \
         WHERE table_schema = 'load_modes' AND table_name = 't' ORDER BY ordinal_position",
    )
    .await;
    assert_eq!(
        types,
        vec![
            vec![s("id"), s("bigint"), s("64"), s("0")],
            vec![s("price"), s("numeric"), s("8"), s("2")],
            vec![s("name"), s("text"), None, None],
        ]
    );
    // Create again: the table is there, rows are appended.
    load(&url, &at(&b, "create")).await.unwrap();
    assert_eq!(
        rows(&url, "SELECT count(*) FROM load_modes.t").await,
        vec![vec![s("4")]]
    );
    // Append.
    load(&url, &at(&a, "append")).await.unwrap();
    assert_eq!(
        rows(&url, "SELECT count(*) FROM load_modes.t").await,
        vec![vec![s("6")]]
    );
    // Replace: a new table of the file's shape, whatever was there.
    exec(&url, "ALTER TABLE load_modes.t ADD COLUMN extra int").await;
    load(&url, &at(&a, "replace")).await.unwrap();
    assert_eq!(
        rows(&url, "SELECT * FROM load_modes.t ORDER BY id").await,
        vec![vec![s("1"), s("2.50"), s("one")], vec![s("2"), s("-0.01"), s("two")]]
    );
    // Upsert on the key: 2 is updated, 3 inserted, 1 untouched.
    exec(&url, "ALTER TABLE load_modes.t ADD PRIMARY KEY (id)").await;
    let out = load(&url, &format!("{}\nkey: [\"id\"]", at(&b, "upsert")))
        .await
        .unwrap();
    assert_eq!(out["rows"], 2);
    assert_eq!(out["upserted"], 2);
    assert_eq!(
        rows(&url, "SELECT * FROM load_modes.t ORDER BY id").await,
        vec![
            vec![s("1"), s("2.50"), s("one")],
            vec![s("2"), s("9.99"), s("TWO")],
            vec![s("3"), s("0.00"), s("three")]
        ]
    );
    // Truncate.
    load(&url, &at(&b, "truncate")).await.unwrap();
    assert_eq!(
        rows(&url, "SELECT id FROM load_modes.t ORDER BY id").await,
        vec![vec![s("2")], vec![s("3")]]
    );
}

/// The Parquet files the user's own pipeline wrote (pandas/pyarrow 11,
/// with `__index_level_0__`), loaded unchanged; every value compared with
/// the file through Postgres' own text of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_pandas_files_load_unchanged() {
    let Some(url) = admin_url() else { return };
    exec(
        &url,
        "DROP SCHEMA IF EXISTS load_seed CASCADE; CREATE SCHEMA load_seed;",
    )
    .await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/seed-data/output/data");
    for (day, table) in [
        ("2024-11-08", "df_cluster_rfm"),
        ("2024-11-03", "df_cluster_importance"),
    ] {
        let file = root.join(day).join(format!("{table}.parquet"));
        let out = load(
            &url,
            &format!("from: {}\ntable: load_seed.{table}\nmode: replace", file.display()),
        )
        .await
        .unwrap();
        let (schema, reader) = crate::table::open_parquet(&file, 1 << 20).unwrap();
        let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
        let batch = arrow_select::concat::concat_batches(&schema, &batches).unwrap();
        assert_eq!(out["rows"], batch.num_rows() as u64, "{table}");
        assert!(schema.field_with_name("__index_level_0__").is_err());
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let in_table = rows(
            &url,
            &format!(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = 'load_seed' AND table_name = '{table}' ORDER BY ordinal_position"
            ),
        )
        .await;
        assert_eq!(
            in_table,
            names.iter().map(|n| vec![s(n)]).collect::<Vec<_>>(),
            "{table}"
        );
        // Each column as the file has it, against the table in file order.
        let got = rows(&url, &format!("SELECT * FROM load_seed.{table}")).await;
        for (c, name) in names.iter().enumerate() {
            let col = batch.column(c);
            let fmt = arrow_cast::display::ArrayFormatter::try_new(col.as_ref(), &Default::default()).unwrap();
            for r in [0, batch.num_rows() / 2, batch.num_rows() - 1] {
                let want = col.is_valid(r).then(|| fmt.value(r).to_string());
                let have = got[r][c].clone();
                let same = match (&want, &have) {
                    (Some(w), Some(h)) => w == h || w.parse::<f64>().ok() == h.parse::<f64>().ok(),
                    (w, h) => w == h,
                };
                assert!(same, "{table}.{name} row {r}: file {want:?}, table {have:?}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_streams_in_its_own_encoding() {
    let Some(url) = admin_url() else { return };
    exec(
        &url,
        "DROP SCHEMA IF EXISTS load_csv CASCADE; CREATE SCHEMA load_csv;
         CREATE TABLE load_csv.a (invoice_no text, stock_code text, description text, quantity integer,
           invoice_date text, unit_price numeric, customer_id text, country text);
         CREATE TABLE load_csv.b (LIKE load_csv.a);",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (name, encoding) in [
        ("cp1252.csv", updraft_invoices::Encoding::Cp1252),
        ("utf8.csv", updraft_invoices::Encoding::Utf8),
    ] {
        let path = dir.path().join(name);
        let opts = updraft_invoices::Options {
            rows: 20_000,
            seed: 7,
            encoding,
        };
        updraft_invoices::write_csv(&opts, std::fs::File::create(&path).unwrap()).unwrap();
        files.push(path);
    }
    let out = load(
        &url,
        &format!(
            "from: {}\ntable: load_csv.a\nrename: snake_case\nencoding: cp1252",
            files[0].display()
        ),
    )
    .await
    .unwrap();
    assert_eq!(out["rows"], 20_000);
    load(
        &url,
        &format!("from: {}\ntable: load_csv.b\nrename: snake_case", files[1].display()),
    )
    .await
    .unwrap();
    // The same text either way, the non-ASCII characters included.
    assert_eq!(
        rows(
            &url,
            "SELECT count(*) FROM (SELECT * FROM load_csv.a EXCEPT ALL SELECT * FROM load_csv.b) d"
        )
        .await,
        vec![vec![s("0")]]
    );
    let non_ascii = rows(
        &url,
        "SELECT count(*) FROM load_csv.a WHERE description ~ '[^\\x01-\\x7f]'",
    )
    .await;
    assert_ne!(
        non_ascii,
        vec![vec![s("0")]],
        "the generated file has cp1252 characters"
    );

    // pandas' index column in a CSV has no name: said plainly.
    let indexed = dir.path().join("indexed.csv");
    std::fs::write(&indexed, ",InvoiceNo\n0,536365\n").unwrap();
    let err = load(
        &url,
        &format!("from: {}\ntable: load_csv.a\nrename: snake_case", indexed.display()),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("column 1 of the header has no name"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn types_only_the_server_parses_go_as_text() {
    let Some(url) = admin_url() else { return };
    exec(
        &url,
        "DROP SCHEMA IF EXISTS load_text CASCADE; CREATE SCHEMA load_text;
         CREATE TABLE load_text.t (id uuid, doc jsonb, tags text[], n int, note text);",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.parquet");
    write_parquet(
        &file,
        vec![
            (
                "id",
                Arc::new(StringArray::from(vec![
                    Some("00000000-0000-0000-0000-000000000001"),
                    None,
                ])) as ArrayRef,
            ),
            (
                "doc",
                Arc::new(StringArray::from(vec![Some(r#"{"a": [1, "x"]}"#), None])),
            ),
            (
                "tags",
                Arc::new(StringArray::from(vec![Some("{a,\"b c\"}"), Some("{}")])),
            ),
            ("n", Arc::new(Int64Array::from(vec![Some(1), None]))),
            (
                "note",
                Arc::new(StringArray::from(vec![Some("line\nbreak, \"quoted\""), Some("")])),
            ),
        ],
    );
    load(&url, &format!("from: {}\ntable: load_text.t", file.display()))
        .await
        .unwrap();
    assert_eq!(
        rows(
            &url,
            "SELECT id::text, doc::text, tags::text, n, note FROM load_text.t ORDER BY n NULLS LAST"
        )
        .await,
        vec![
            vec![
                s("00000000-0000-0000-0000-000000000001"),
                s(r#"{"a": [1, "x"]}"#),
                s("{a,\"b c\"}"),
                s("1"),
                s("line\nbreak, \"quoted\"")
            ],
            vec![None, None, s("{}"), None, s("")],
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_names_what_is_wrong() {
    let Some(url) = admin_url() else { return };
    exec(
        &url,
        "DROP SCHEMA IF EXISTS load_bad CASCADE; CREATE SCHEMA load_bad;
         CREATE TABLE load_bad.t (invoice_no text, quantity int);",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f.parquet");
    invoice_file(&file, vec![1]);
    // File columns the table lacks: named, with the table's columns.
    let err = load(&url, &format!("from: {}\ntable: load_bad.t", file.display()))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(r#"table load_bad.t has no column for file column "InvoiceNo""#),
        "{msg}"
    );
    assert!(
        msg.contains(r#"its columns: ["invoice_no", "quantity"]"#) && msg.contains("rename: snake_case"),
        "{msg}"
    );
    // A `columns` entry for a column the file does not have.
    let err = load(
        &url,
        &format!(
            "from: {}\ntable: load_bad.t\ncolumns: {{\"Qty\": \"quantity\"}}",
            file.display()
        ),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains(r#"`columns` names ["Qty"], which the file does not have"#),
        "{err}"
    );
    // A missing connection.
    let c = config(&format!("conn_id: nope\nfrom: {}\ntable: load_bad.t", file.display()));
    let err = PostgresLoad.execute(c, testing::ctx(&url, "load")).await.unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    // Not a Parquet file.
    let junk = dir.path().join("junk.parquet");
    std::fs::write(&junk, b"not parquet").unwrap();
    let err = load(&url, &format!("from: {}\ntable: load_bad.t", junk.display()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a Parquet file"), "{err}");
    // Nothing was loaded by any of them.
    assert_eq!(rows(&url, "SELECT count(*) FROM load_bad.t").await, vec![vec![s("0")]]);
}

#[test]
fn configs_are_checked_when_the_dag_loads() {
    let problems = |yaml: &str| PostgresLoad::validate(&config(&format!("conn_id: pg\n{yaml}")));
    assert!(problems("from: a.parquet\ntable: t").is_empty());
    assert_eq!(
        problems("from: a.parquet\ntable: t\nmode: upsert"),
        ["`mode: upsert` needs `key`: the columns of the table's unique key"]
    );
    assert_eq!(
        problems("from: a.parquet\ntable: t\nkey: [\"id\"]"),
        ["`key` goes with `mode: upsert`, not `append`"]
    );
    assert_eq!(
        problems("from: a.parquet\ntable: t\nencoding: cp1252"),
        ["`encoding` and `delimiter` are for CSV; `from` is Parquet"]
    );
    assert_eq!(
        problems("from: a.csv\ntable: t\ncolumns: {\"A\": \"x\", \"B\": \"x\"}"),
        ["`columns`: \"A\" and \"B\" both map to \"x\""]
    );
    assert!(problems("from: a.csv\ntable: a b")[0].contains("may not hold spaces"));
}

/// Through the S3 and GCS stand-ins: a table extracted to `s3://` as
/// Parquet and to `gs://` as CSV, each loaded back into a table of its
/// own, equal to the source row for row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extract_and_load_through_s3_and_gcs() {
    use crate::postgres::extract::PostgresExtract;
    let Some(url) = admin_url() else { return };
    let (Some(s3), Some(gcs)) = (
        crate::testing::service("UPDRAFT_TEST_S3_URL"),
        crate::testing::service("UPDRAFT_TEST_GCS_URL"),
    ) else {
        return;
    };
    exec(
        &url,
        "DROP SCHEMA IF EXISTS load_cloud CASCADE; CREATE SCHEMA load_cloud;
         CREATE TABLE load_cloud.src AS
           SELECT g AS id, 'note ' || g || ' £' AS note, (g / 7.0)::numeric(12,4) AS ratio,
                  timestamp '2010-12-01 08:26' + g * interval '1 minute' AS at, g % 3 = 0 AS flag
           FROM generate_series(1, 50000) g;
         CREATE TABLE load_cloud.via_s3 (LIKE load_cloud.src);
         CREATE TABLE load_cloud.via_gcs (LIKE load_cloud.src);",
    )
    .await;
    let bucket = format!("pg-cloud-{}", std::process::id());
    let ctx = testing::ctx_with_stores(&url, &s3, &gcs, &bucket).await;
    for (to, table) in [
        (format!("s3://{bucket}/extract/src.parquet"), "via_s3"),
        (format!("gs://{bucket}/extract/src.csv"), "via_gcs"),
    ] {
        let extract = serde_json::from_value(json!({
            "conn_id": "pg", "table": "load_cloud.src", "to": to, "aws_conn_id": "s3", "gcp_conn_id": "gcs"
        }))
        .unwrap();
        let out = PostgresExtract.execute(extract, ctx.clone()).await.unwrap();
        assert_eq!(out["rows"], 50_000, "{to}");
        let load: LoadConfig = serde_json::from_value(json!({
            "conn_id": "pg", "from": to, "table": format!("load_cloud.{table}"), "aws_conn_id": "s3", "gcp_conn_id": "gcs"
        }))
        .unwrap();
        let out = PostgresLoad.execute(load, ctx.clone()).await.unwrap();
        assert_eq!(out["rows"], 50_000, "{to}");
        let diff = rows(
            &url,
            &format!(
                "SELECT count(*) FROM (SELECT * FROM load_cloud.src EXCEPT ALL SELECT * FROM load_cloud.{table}) d"
            ),
        )
        .await;
        assert_eq!(diff, vec![vec![s("0")]], "{to}");
    }
}
