//! Against a real Postgres (see `postgres::testing`).

use serde_json::json;
use updraft_operator_api::{Operator, TaskError};

use super::{PostgresSql, SqlConfig};
use crate::postgres::testing::{self, admin_url, exec};

fn config(v: serde_json::Value) -> SqlConfig {
    let mut v = v;
    v["conn_id"] = json!("pg");
    serde_json::from_value(v).unwrap()
}

async fn run(url: &str, v: serde_json::Value) -> Result<serde_json::Value, TaskError> {
    let c = config(v);
    let problems = PostgresSql::validate(&c);
    assert!(problems.is_empty(), "{problems:?}");
    PostgresSql.execute(c, testing::ctx(url, "sql")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_run_in_one_transaction_with_typed_parameters() {
    let Some(url) = admin_url() else { return };
    exec(&url, "DROP SCHEMA IF EXISTS sql_ok CASCADE; CREATE SCHEMA sql_ok;").await;
    let out = run(
        &url,
        json!({
            "sql": "CREATE TABLE sql_ok.t (day date, name text, n int, doc jsonb, price numeric(6,2), ok boolean);
                    INSERT INTO sql_ok.t VALUES (%(day)s, %(name)s, %(n)s, %(doc)s, 2.50, true), ('2024-11-02', 'b', NULL, NULL, NULL, false);
                    -- the day's rows, as downstream templates read them
                    SELECT * FROM sql_ok.t WHERE day >= %(day)s AND name <> '%(name)s' ORDER BY day;",
            "parameters": {
                "day": {"value": "2024-11-01", "type": "date"},
                "name": "O'Brien; DROP TABLE sql_ok.t; --",
                "n": 7,
                "doc": {"k": [1, "two"]}
            }
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        json!({
            "statements": 3,
            "rows_affected": 4,
            "affected": [0, 2, 2],
            "columns": ["day", "name", "n", "doc", "price", "ok"],
            "rows": [
                {"day": "2024-11-01", "name": "O'Brien; DROP TABLE sql_ok.t; --", "n": 7, "doc": {"k": [1, "two"]}, "price": "2.50", "ok": true},
                {"day": "2024-11-02", "name": "b", "n": null, "doc": null, "price": null, "ok": false}
            ],
            "row_count": 2,
            "truncated": false
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_statement_rolls_back_the_ones_before_and_is_named() {
    let Some(url) = admin_url() else { return };
    exec(
        &url,
        "DROP SCHEMA IF EXISTS sql_fail CASCADE; CREATE SCHEMA sql_fail; CREATE TABLE sql_fail.t (a int);",
    )
    .await;
    let err = run(
        &url,
        json!({"sql": "INSERT INTO sql_fail.t VALUES (1);\nSELECT a\n  FROM sql_fail.nope;\nINSERT INTO sql_fail.t VALUES (2)"}),
    )
    .await
    .unwrap_err();
    let TaskError::Fatal(msg) = err else { panic!("{err:?}") };
    assert!(
        msg.starts_with("postgres_sql: statement 2 of 3: 42P01: relation \"sql_fail.nope\" does not exist"),
        "{msg}"
    );
    assert!(
        msg.ends_with("at line 2, column 8:\n    FROM sql_fail.nope\n         ^"),
        "{msg}"
    );
    let count = run(&url, json!({"sql": "SELECT count(*) AS n FROM sql_fail.t"}))
        .await
        .unwrap();
    assert_eq!(count["rows"], json!([{"n": 0}]), "the first insert was rolled back");

    // With autocommit each statement stands alone (and VACUUM can run).
    let err = run(
        &url,
        json!({"sql": ["INSERT INTO sql_fail.t VALUES (1)", "VACUUM sql_fail.t", "SELECT 1/0"], "autocommit": true}),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("statement 3 of 3: 22012: division by zero"),
        "{err}"
    );
    let count = run(&url, json!({"sql": "SELECT count(*) AS n FROM sql_fail.t"}))
        .await
        .unwrap();
    assert_eq!(count["rows"], json!([{"n": 1}]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_result_is_bounded_and_says_so() {
    let Some(url) = admin_url() else { return };
    let out = run(
        &url,
        json!({"sql": "SELECT g AS id, repeat('x', 10) AS pad FROM generate_series(1, 100000) g", "max_rows": 3}),
    )
    .await
    .unwrap();
    assert_eq!(
        out["rows"],
        json!([{"id": 1, "pad": "xxxxxxxxxx"}, {"id": 2, "pad": "xxxxxxxxxx"}, {"id": 3, "pad": "xxxxxxxxxx"}])
    );
    assert_eq!(out["row_count"], 100_000);
    assert_eq!(out["truncated"], true);
    // Wide rows stop at 1 MiB of output whatever max_rows says.
    let out = run(
        &url,
        json!({"sql": "SELECT repeat('y', 100000) AS big FROM generate_series(1, 100)", "max_rows": 100}),
    )
    .await
    .unwrap();
    assert_eq!(out["rows"].as_array().unwrap().len(), 10);
    assert_eq!(out["truncated"], true);
}

#[test]
fn configs_are_checked_when_the_dag_loads() {
    let problems = |v: serde_json::Value| PostgresSql::validate(&config(v));
    assert!(problems(json!({"sql": "SELECT %(a)s", "parameters": {"a": 1}})).is_empty());
    assert_eq!(
        problems(json!({"sql": "SELECT %(a)s, %(b)s"})),
        [
            "`sql` uses %(a)s, which `parameters` does not give",
            "`sql` uses %(b)s, which `parameters` does not give"
        ]
    );
    assert_eq!(problems(json!({"sql": " -- nothing\n;"})), ["`sql` holds no statement"]);
    assert_eq!(
        problems(json!({"sql": "SELECT 'x"})),
        ["`sql`: a string literal opened on line 1 is not closed"]
    );
    assert_eq!(
        problems(json!({"sql": "SELECT 1", "max_rows": 20000})),
        ["`max_rows` is at most 10000 (the output is for templates, not data)"]
    );
    assert_eq!(
        problems(json!({"sql": "SELECT %(a)s", "parameters": {"a": {"value": 1, "type": "int); DROP TABLE t; --"}}})),
        ["`parameters.a`: \"int); DROP TABLE t; --\" is not a type name"]
    );
}
