//! `operator: bigquery_query`: a query job (GoogleSQL), into a table or
//! with its first rows as output. Output `{job_id, rows, row_count,
//! truncated, columns}` (+ `destination_table`).

use serde::Deserialize;
use serde_json::{Map, Value, json};
use updraft_operator_api::{Operator, Output, TaskContext, TaskError};

use super::{Common, TableRef, run_once};

/// Rows kept in the output at most.
const MAX_ROWS_LIMIT: usize = 10_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryConfig {
    /// The query (templated), GoogleSQL.
    pub sql: String,
    /// Write the result there (`project.dataset.table`).
    #[serde(default)]
    pub destination_table: Option<String>,
    /// With a destination: WRITE_EMPTY (default), WRITE_TRUNCATE, WRITE_APPEND.
    #[serde(default)]
    pub write_disposition: Option<String>,
    #[serde(default)]
    pub create_disposition: Option<String>,
    /// `@name` parameters: a string, number or boolean, or `{type, value}`
    /// (`{type: DATE, value: "{{ ds }}"}`).
    #[serde(default)]
    pub parameters: Map<String, Value>,
    /// Rows kept in the output (100 by default, at most 10,000).
    #[serde(default = "hundred")]
    pub max_rows: usize,
    #[serde(flatten)]
    pub common: Common,
}

fn hundred() -> usize {
    100
}

fn parameter(name: &str, v: &Value) -> Result<Value, String> {
    let (t, value) = match v {
        Value::Object(o) if o.contains_key("type") => {
            let t = o["type"].as_str().ok_or(format!("parameter {name}: `type` is text"))?;
            let value = match o.get("value") {
                Some(Value::String(s)) => Value::String(s.clone()),
                Some(Value::Null) | None => Value::Null,
                Some(other) => Value::String(other.to_string()),
            };
            (t.to_ascii_uppercase(), value)
        }
        Value::String(s) => ("STRING".into(), Value::String(s.clone())),
        Value::Bool(b) => ("BOOL".into(), Value::String(b.to_string())),
        Value::Number(n) if n.is_i64() || n.is_u64() => ("INT64".into(), Value::String(n.to_string())),
        Value::Number(n) => ("FLOAT64".into(), Value::String(n.to_string())),
        Value::Null => ("STRING".into(), Value::Null),
        other => {
            return Err(format!(
                "parameter {name}: {other} is not a string, number or boolean; give {{type, value}}"
            ));
        }
    };
    let value = if value.is_null() {
        json!({})
    } else {
        json!({"value": value})
    };
    Ok(json!({"name": name, "parameterType": {"type": t}, "parameterValue": value}))
}

impl QueryConfig {
    pub fn configuration(&self, destination: Option<&TableRef>) -> Result<Value, String> {
        let mut q = json!({"query": self.sql, "useLegacySql": false});
        if !self.parameters.is_empty() {
            q["parameterMode"] = json!("NAMED");
            q["queryParameters"] = Value::Array(
                self.parameters
                    .iter()
                    .map(|(k, v)| parameter(k, v))
                    .collect::<Result<_, _>>()?,
            );
        }
        if let Some(t) = destination {
            q["destinationTable"] = t.json();
            q["writeDisposition"] = json!(
                self.write_disposition
                    .as_deref()
                    .unwrap_or("WRITE_EMPTY")
                    .to_ascii_uppercase()
            );
            q["createDisposition"] = json!(
                self.create_disposition
                    .as_deref()
                    .unwrap_or("CREATE_IF_NEEDED")
                    .to_ascii_uppercase()
            );
        }
        Ok(json!({"query": q}))
    }
}

pub struct BigQueryQuery;

impl Operator for BigQueryQuery {
    const NAME: &'static str = "bigquery_query";
    type Config = QueryConfig;

    fn validate(c: &QueryConfig) -> Vec<String> {
        let mut p = Vec::new();
        if c.sql.trim().is_empty() {
            p.push("`sql` is empty".to_string());
        }
        if c.max_rows > MAX_ROWS_LIMIT {
            p.push(format!(
                "`max_rows` is at most {MAX_ROWS_LIMIT} (the output is for templates, not data)"
            ));
        }
        if c.destination_table.is_none() && (c.write_disposition.is_some() || c.create_disposition.is_some()) {
            p.push("`write_disposition` and `create_disposition` go with `destination_table`".into());
        }
        if let Some(t) = &c.destination_table {
            p.extend(super::check_table(t));
        }
        for (k, v) in &c.parameters {
            if let Err(e) = parameter(k, v) {
                p.push(e);
            }
        }
        p
    }

    async fn execute(&self, c: QueryConfig, ctx: TaskContext) -> Result<Output, TaskError> {
        let (bq, project) = c.common.client(&ctx)?;
        let destination = c
            .destination_table
            .as_deref()
            .map(|t| TableRef::parse(t, project.as_deref()))
            .transpose()
            .map_err(TaskError::Fatal)?;
        let project = project
            .or_else(|| destination.as_ref().map(|t| t.project.clone()))
            .ok_or_else(|| {
                TaskError::Fatal("no project to run the query in: give `project_id` (or a connection with one)".into())
            })?;
        let configuration = c.configuration(destination.as_ref()).map_err(TaskError::Fatal)?;
        let done = run_once(
            &bq,
            &ctx,
            &project,
            c.common.location.as_deref(),
            "query",
            configuration,
            c.common.timeout(),
        )
        .await?;
        let location = done
            .job
            .pointer("/jobReference/location")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or(c.common.location.clone());
        let max = c.max_rows.min(MAX_ROWS_LIMIT);
        let results = bq
            .query_results(&project, &done.job_id, location.as_deref(), max)
            .await?;
        let (columns, rows) = rows_json(&results);
        let row_count = super::stat(&results, "/totalRows");
        let mut out = json!({
            "job_id": done.job_id,
            "columns": columns,
            "truncated": (rows.len() as u64) < row_count,
            "rows": rows,
            "row_count": row_count,
        });
        if let Some(t) = destination {
            out["destination_table"] = json!(t.to_string());
        }
        ctx.log
            .info(&format!("query job {} returned {row_count} rows", done.job_id));
        Ok(out)
    }
}

/// Rows in BigQuery's `{f: [{v}]}` form as JSON objects, typed by the
/// schema: integers and floats as numbers, booleans, timestamps as RFC
/// 3339 text, records as objects, repeated fields as lists.
pub fn rows_json(results: &Value) -> (Vec<String>, Vec<Value>) {
    let fields = results
        .pointer("/schema/fields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let columns = fields
        .iter()
        .filter_map(|f| f.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    let rows = results
        .get("rows")
        .and_then(Value::as_array)
        .map(|rows| rows.iter().map(|r| record(&fields, r)).collect())
        .unwrap_or_default();
    (columns, rows)
}

fn record(fields: &[Value], row: &Value) -> Value {
    let cells = row.get("f").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut obj = Map::new();
    for (f, cell) in fields.iter().zip(cells) {
        let name = f.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        obj.insert(name, field_value(f, cell.get("v").unwrap_or(&Value::Null)));
    }
    Value::Object(obj)
}

fn field_value(f: &Value, v: &Value) -> Value {
    if v.is_null() {
        return Value::Null;
    }
    if f.get("mode").and_then(Value::as_str) == Some("REPEATED") {
        let mut single = f.clone();
        single["mode"] = json!("NULLABLE");
        return Value::Array(
            v.as_array()
                .map(|items| {
                    items
                        .iter()
                        .map(|i| field_value(&single, i.get("v").unwrap_or(&Value::Null)))
                        .collect()
                })
                .unwrap_or_default(),
        );
    }
    let t = f.get("type").and_then(Value::as_str).unwrap_or("STRING");
    match (t, v) {
        ("RECORD" | "STRUCT", _) => {
            let sub = f.get("fields").and_then(Value::as_array).cloned().unwrap_or_default();
            record(&sub, v)
        }
        ("INTEGER" | "INT64", Value::String(s)) => s.parse::<i64>().map(Value::from).unwrap_or_else(|_| v.clone()),
        ("FLOAT" | "FLOAT64", Value::String(s)) => match s.parse::<f64>() {
            Ok(x) if x.is_finite() => Value::from(x),
            _ => v.clone(),
        },
        ("BOOLEAN" | "BOOL", Value::String(s)) => Value::Bool(s.eq_ignore_ascii_case("true")),
        // Seconds since the epoch, as text ("1.2911914E9" or "1291191960.0").
        ("TIMESTAMP", Value::String(s)) => s
            .parse::<f64>()
            .ok()
            .and_then(|secs| jiff::Timestamp::from_microsecond((secs * 1e6).round() as i64).ok())
            .map(|ts| Value::String(ts.to_string()))
            .unwrap_or_else(|| v.clone()),
        ("JSON", Value::String(s)) => serde_json::from_str(s).unwrap_or_else(|_| v.clone()),
        _ => v.clone(),
    }
}
