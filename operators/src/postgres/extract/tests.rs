//! Against a real Postgres (`UPDRAFT_TEST_POSTGRES_URL`, started by
//! `.ci/postgres.sh`; skipped loudly without it, a failure under CI):
//! CSV as the server writes it, typed Parquet read back value by value,
//! and errors that name what is wrong with nothing left at the
//! destination.

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Decimal128Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use updraft_operator_api::{Operator, TaskContext, TaskError};

use super::{ExtractConfig, PostgresExtract};
use crate::postgres::FileFormat;
use crate::postgres::testing::{self, admin_url};

/// A schema of its own with a table of every kind the extract decodes.
async fn seed(url: &str, schema: &str) {
    let sql = format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
         CREATE TABLE {schema}.invoices (
           id int, qty bigint, price numeric(10,2), loose numeric, note text,
           at timestamp, at_tz timestamptz, day date, ok boolean, doc jsonb, u uuid);
         INSERT INTO {schema}.invoices VALUES
           (1, -6, 2.55, 1.5, 'WHITE HANGING HEART, \"T-LIGHT\"', '2010-12-01 08:26', '2010-12-01 08:26+07', '2010-12-01', true, '{{\"a\": 1}}', '00000000-0000-0000-0000-000000000001'),
           (2, 3000000000, -0.01, NULL, 'café £5 ’quoted’', '2011-12-09 12:50:00.123456', NULL, '1999-12-31', false, NULL, NULL),
           (3, NULL, NULL, 123456789.000001, NULL, NULL, '2000-01-01 00:00:00+00', NULL, NULL, '[]', NULL);"
    );
    testing::exec(url, &sql).await;
}

fn ctx(url: &str) -> TaskContext {
    testing::ctx(url, "extract")
}

fn cfg(sql: &str, to: &std::path::Path) -> ExtractConfig {
    ExtractConfig {
        conn_id: "pg".into(),
        sql: Some(sql.into()),
        table: None,
        columns: None,
        where_: None,
        to: updraft_io::Location::Local(to.to_path_buf()),
        format: None,
        compression: Default::default(),
        aws_conn_id: None,
        gcp_conn_id: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_is_what_the_server_writes_with_a_header() {
    let Some(url) = admin_url() else { return };
    seed(&url, "ext_csv").await;
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("out/data.csv");
    let c = ExtractConfig {
        sql: None,
        table: Some("ext_csv.invoices".into()),
        columns: Some(vec!["id".into(), "note".into(), "price".into()]),
        where_: Some("id <= 2".into()),
        ..cfg("", &to)
    };
    let out = PostgresExtract.execute(c, ctx(&url)).await.unwrap();
    let text = std::fs::read_to_string(&to).unwrap();
    assert_eq!(
        text,
        "id,note,price\n1,\"WHITE HANGING HEART, \"\"T-LIGHT\"\"\",2.55\n2,café £5 ’quoted’,-0.01\n"
    );
    assert_eq!(out["rows"], 2);
    assert_eq!(out["bytes"], text.len() as u64);
    assert_eq!(out["format"], "csv");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_keeps_the_column_types_and_values() {
    let Some(url) = admin_url() else { return };
    seed(&url, "ext_pq").await;
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("data.parquet");
    let out = PostgresExtract
        .execute(cfg("SELECT * FROM ext_pq.invoices ORDER BY id;", &to), ctx(&url))
        .await
        .unwrap();
    assert_eq!(out["rows"], 3);
    assert_eq!(out["format"], "parquet");

    let file = std::fs::File::open(&to).unwrap();
    let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let b = arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap();
    let types: Vec<DataType> = b.schema().fields().iter().map(|f| f.data_type().clone()).collect();
    assert_eq!(
        types,
        [
            DataType::Int32,
            DataType::Int64,
            DataType::Decimal128(10, 2),
            DataType::Utf8, // an unconstrained numeric: exact, as text
            DataType::Utf8,
            DataType::Timestamp(TimeUnit::Microsecond, None),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            DataType::Date32,
            DataType::Boolean,
            DataType::Utf8,
            DataType::Utf8, // uuid, cast to text by the query
        ]
    );
    let col = |n: &str| b.column_by_name(n).unwrap().clone();
    assert_eq!(col("id").as_primitive::<Int32Type>().values(), &[1, 2, 3]);
    let qty = col("qty");
    let qty = qty.as_primitive::<Int64Type>();
    assert_eq!((qty.value(0), qty.value(1), qty.is_null(2)), (-6, 3_000_000_000, true));
    let price = col("price");
    let price = price.as_primitive::<Decimal128Type>();
    assert_eq!((price.value(0), price.value(1), price.is_null(2)), (255, -1, true));
    let loose = col("loose");
    assert_eq!(loose.as_string::<i32>().value(2), "123456789.000001");
    assert_eq!(col("note").as_string::<i32>().value(1), "café £5 ’quoted’");
    let at = col("at");
    let at = at.as_primitive::<TimestampMicrosecondType>();
    assert_eq!(at.value(0), 1_291_191_960_000_000); // 2010-12-01T08:26:00
    assert_eq!(at.value(1), 1_323_435_000_123_456); // 2011-12-09T12:50:00.123456
    let tz = col("at_tz");
    let tz = tz.as_primitive::<TimestampMicrosecondType>();
    assert_eq!(tz.value(0), 1_291_191_960_000_000 - 7 * 3_600_000_000);
    assert_eq!(tz.value(2), 946_684_800_000_000);
    let day = col("day");
    let day = day.as_primitive::<Date32Type>();
    assert_eq!((day.value(0), day.value(1)), (14_944, 10_956));
    let ok = col("ok");
    assert!(ok.as_boolean().value(0) && !ok.as_boolean().value(1) && ok.is_null(2));
    assert_eq!(col("doc").as_string::<i32>().value(0), r#"{"a": 1}"#);
    assert_eq!(
        col("u").as_string::<i32>().value(0),
        "00000000-0000-0000-0000-000000000001"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_rows_stream_through_several_row_groups() {
    let Some(url) = admin_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("big.parquet");
    let sql = "SELECT g AS n, 'row ' || g AS label, g * 0.5 AS half FROM generate_series(1, 300000) g";
    let c = ExtractConfig {
        format: Some(FileFormat::Parquet),
        ..cfg(sql, &to)
    };
    let out = PostgresExtract.execute(c, ctx(&url)).await.unwrap();
    assert_eq!(out["rows"], 300_000);
    let file = std::fs::File::open(&to).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    assert_eq!(builder.metadata().num_row_groups(), 3);
    let mut sum = 0i64;
    let mut seen = 0;
    for b in builder.build().unwrap() {
        let b = b.unwrap();
        let n = b.column(0).as_primitive::<Int32Type>();
        sum += n.values().iter().map(|v| i64::from(*v)).sum::<i64>();
        let label = b.column(1).as_string::<i32>();
        assert_eq!(label.value(0), format!("row {}", n.value(0)));
        seen += b.num_rows();
    }
    assert_eq!(seen, 300_000);
    assert_eq!(sum, 300_000 * 300_001 / 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sql_names_the_error_and_its_place_and_leaves_nothing() {
    let Some(url) = admin_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (name, format) in [("x.csv", FileFormat::Csv), ("x.parquet", FileFormat::Parquet)] {
        let c = ExtractConfig {
            format: Some(format),
            ..cfg("SELECT id,\n  nme FROM pg_class", &dir.path().join(name))
        };
        let e = PostgresExtract.execute(c, ctx(&url)).await.unwrap_err();
        let TaskError::Fatal(msg) = &e else { panic!("{e:?}") };
        assert!(
            msg.contains("42703") && msg.contains("column \"id\" does not exist"),
            "{msg}"
        );
        assert!(msg.contains("at line 1, column 8"), "{msg}");
    }
    let c = cfg("SELECT 1", &dir.path().join("y.csv"));
    let e = PostgresExtract
        .execute(c, TaskContext::detached("extract"))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        TaskError::Fatal(
            "task `extract`: `conn_id`: connection `pg` does not exist (add it with `updraft connections set` or `import`)"
                .into()
        )
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn configs_are_checked_when_the_dag_loads() {
    let to = std::path::Path::new("o.csv");
    let both = ExtractConfig {
        table: Some("t".into()),
        ..cfg("SELECT 1", to)
    };
    assert_eq!(PostgresExtract::validate(&both), ["give `sql` or `table`, not both"]);
    let bad_table = ExtractConfig {
        sql: None,
        table: Some("a; drop table b".into()),
        ..cfg("", to)
    };
    assert!(PostgresExtract::validate(&bad_table)[0].contains("may not hold"));
    let q = ExtractConfig {
        sql: None,
        table: Some("Sales.Invoices".into()),
        columns: Some(vec!["InvoiceNo".into()]),
        where_: Some("\"InvoiceDate\" >= '2011-01-01'".into()),
        ..cfg("", to)
    };
    assert_eq!(
        q.query().unwrap(),
        r#"SELECT "InvoiceNo" FROM "sales"."invoices" WHERE "InvoiceDate" >= '2011-01-01'"#
    );
    assert_eq!(
        FileFormat::of(&"gs://b/x.PARQUET".parse().unwrap()),
        FileFormat::Parquet
    );
}
