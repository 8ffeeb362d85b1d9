//! Running a script: one statement at a time (so an error names which,
//! and points into it), inside one transaction unless `autocommit`.

use futures_util::TryStreamExt;
use serde_json::{Map, Value};
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{Column, Either, Row, TypeInfo, ValueRef};
use updraft_operator_api::{Output, TaskContext, TaskError};

use super::{MAX_ROWS_LIMIT, SqlConfig, lexer, params};
use crate::postgres::error::sql_error;
use crate::postgres::session::Session;

/// The rows kept in the output stay under this many bytes of JSON.
const MAX_OUTPUT_BYTES: usize = 1 << 20;

/// What the statements did, as the output gives it.
#[derive(Default)]
struct Results {
    affected: Vec<u64>,
    /// The last statement that returned rows: its columns, its first rows,
    /// how many it returned in all.
    columns: Vec<String>,
    rows: Vec<Value>,
    row_count: u64,
    truncated: bool,
    bytes: usize,
}

pub async fn run(cfg: SqlConfig, ctx: TaskContext) -> Result<Output, TaskError> {
    let script = cfg.script();
    let statements = lexer::split(&script).map_err(|e| TaskError::Fatal(format!("`sql`: {e}")))?;
    if statements.is_empty() {
        return Err(TaskError::Fatal("`sql` holds no statement".into()));
    }
    let bound = statements
        .iter()
        .map(|s| params::bind(s, &cfg.parameters))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TaskError::Fatal(format!("`sql`: {e}")))?;
    let max_rows = cfg.max_rows.min(MAX_ROWS_LIMIT);
    let Session { mut conn, canceller } = Session::connect(&ctx, "conn_id", &cfg.conn_id).await?;
    let results = canceller
        .until(&ctx.cancel, run_all(&mut conn, &bound, cfg.autocommit, max_rows, &ctx))
        .await?;
    let mut out = serde_json::json!({
        "statements": bound.len(),
        "rows_affected": results.affected.iter().sum::<u64>(),
        "affected": results.affected,
    });
    if !results.columns.is_empty() {
        out["columns"] = results.columns.into();
        out["rows"] = results.rows.into();
        out["row_count"] = results.row_count.into();
        out["truncated"] = results.truncated.into();
    }
    Ok(out)
}

async fn simple(conn: &mut PgConnection, sql: &'static str) -> Result<(), TaskError> {
    sqlx::raw_sql(sql)
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(|e| sql_error(&format!("postgres_sql: {sql}"), e, None))
}

async fn run_all(
    conn: &mut PgConnection,
    statements: &[String],
    autocommit: bool,
    max_rows: usize,
    ctx: &TaskContext,
) -> Result<Results, TaskError> {
    // Parameters are quoted for this setting (the default since 9.1).
    simple(conn, "SET standard_conforming_strings = on").await?;
    if !autocommit {
        simple(conn, "BEGIN").await?;
    }
    let n = statements.len();
    let mut results = Results::default();
    for (i, sql) in statements.iter().enumerate() {
        let first_line = sql.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        ctx.log.info(&format!(
            "statement {}/{n}: {}{}",
            i + 1,
            first_line.chars().take(120).collect::<String>(),
            if sql.trim().contains('\n') || first_line.chars().count() > 120 {
                " ..."
            } else {
                ""
            }
        ));
        let context = if n == 1 {
            "postgres_sql".to_string()
        } else {
            format!("postgres_sql: statement {} of {n}", i + 1)
        };
        let mut stream = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone())).fetch_many(&mut *conn);
        let mut affected = 0;
        let mut first_row = true;
        while let Some(item) = stream
            .try_next()
            .await
            .map_err(|e| sql_error(&context, e, Some((sql, 0))))?
        {
            match item {
                Either::Left(done) => affected += done.rows_affected(),
                Either::Right(row) => {
                    if first_row {
                        // A new result replaces the one before.
                        results.columns = row.columns().iter().map(|c| c.name().to_string()).collect();
                        results.rows.clear();
                        results.row_count = 0;
                        results.truncated = false;
                        results.bytes = 0;
                        first_row = false;
                    }
                    keep(&mut results, &row, max_rows);
                }
            }
        }
        drop(stream);
        ctx.log.info(&format!("statement {}/{n}: {affected} rows", i + 1));
        results.affected.push(affected);
    }
    if !autocommit {
        simple(conn, "COMMIT").await?;
    }
    Ok(results)
}

fn keep(results: &mut Results, row: &PgRow, max_rows: usize) {
    results.row_count += 1;
    if results.truncated || results.rows.len() >= max_rows {
        results.truncated = true;
        return;
    }
    let mut obj = Map::new();
    for (i, col) in row.columns().iter().enumerate() {
        obj.insert(col.name().to_string(), value(row, i));
    }
    let v = Value::Object(obj);
    let size = v.to_string().len();
    if results.bytes + size > MAX_OUTPUT_BYTES {
        results.truncated = true;
        return;
    }
    results.bytes += size;
    results.rows.push(v);
}

/// A value as JSON: numbers and booleans typed, json as JSON, the rest
/// (numeric too, to stay exact) as Postgres' text for it. The simple
/// query protocol sends every value as text.
fn value(row: &PgRow, i: usize) -> Value {
    let Ok(raw) = row.try_get_raw(i) else {
        return Value::Null;
    };
    if raw.is_null() {
        return Value::Null;
    }
    let type_name = raw.type_info().name().to_ascii_uppercase();
    let Ok(text) = raw.as_str() else {
        return Value::Null;
    };
    match type_name.as_str() {
        "INT2" | "INT4" | "INT8" | "OID" => text.parse::<i64>().map(Value::from).unwrap_or_else(|_| text.into()),
        "FLOAT4" | "FLOAT8" => match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Value::from(f),
            _ => text.into(),
        },
        "BOOL" => Value::Bool(text == "t"),
        "JSON" | "JSONB" => serde_json::from_str(text).unwrap_or_else(|_| text.into()),
        _ => text.into(),
    }
}
