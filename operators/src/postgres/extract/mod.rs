//! `operator: postgres_extract`: a query's result (or a table's rows) to a
//! location, as CSV (`COPY ... TO STDOUT WITH CSV HEADER`, streamed as
//! the server writes it) or Parquet (binary `COPY`, decoded into typed
//! Arrow columns and written in row groups: constant memory). Output
//! `{rows, bytes, location, format}`.

mod run;

use serde::Deserialize;
use updraft_io::Location;
use updraft_operator_api::{Operator, Output, TaskContext, TaskError};

use super::{FileFormat, ParquetCompression, ident};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractConfig {
    /// A Postgres connection.
    pub conn_id: String,
    /// The query (templated); or `table` instead.
    #[serde(default)]
    pub sql: Option<String>,
    /// A table (`schema.table`), with optional `columns` and `where`.
    #[serde(default)]
    pub table: Option<String>,
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    #[serde(default, rename = "where")]
    pub where_: Option<String>,
    pub to: Location,
    /// `csv` or `parquet`; by default from `to`'s extension.
    #[serde(default)]
    pub format: Option<FileFormat>,
    /// Parquet only: `zstd` (default), `snappy` or `none`.
    #[serde(default)]
    pub compression: ParquetCompression,
    #[serde(default)]
    pub aws_conn_id: Option<String>,
    #[serde(default)]
    pub gcp_conn_id: Option<String>,
}

impl ExtractConfig {
    /// The query to run, from `sql` or `table`.
    pub fn query(&self) -> Result<String, String> {
        if let Some(sql) = &self.sql {
            return Ok(sql.trim().trim_end_matches(';').trim_end().to_string());
        }
        let table = self.table.as_deref().ok_or("give `sql` or `table`")?;
        let columns = match &self.columns {
            Some(c) if !c.is_empty() => c.iter().map(|c| ident::quote(c)).collect::<Vec<_>>().join(", "),
            _ => "*".into(),
        };
        let mut q = format!("SELECT {columns} FROM {}", ident::qualified(table)?);
        if let Some(w) = self.where_.as_deref().filter(|w| !w.trim().is_empty()) {
            q.push_str(&format!(" WHERE {w}"));
        }
        Ok(q)
    }

    pub fn format(&self) -> FileFormat {
        self.format.unwrap_or_else(|| FileFormat::of(&self.to))
    }
}

pub struct PostgresExtract;

impl Operator for PostgresExtract {
    const NAME: &'static str = "postgres_extract";
    type Config = ExtractConfig;

    fn validate(c: &ExtractConfig) -> Vec<String> {
        let mut problems = Vec::new();
        match (&c.sql, &c.table) {
            (Some(_), Some(_)) => problems.push("give `sql` or `table`, not both".to_string()),
            (None, None) => problems.push("give `sql` (a query) or `table`".to_string()),
            (Some(s), None) if s.trim().trim_end_matches(';').trim().is_empty() => {
                problems.push("`sql` is empty".to_string())
            }
            (Some(_), None) if c.columns.is_some() || c.where_.is_some() => {
                problems.push("`columns` and `where` go with `table`; put them in `sql` instead".to_string())
            }
            (None, Some(t)) if !updraft_operator_api::is_template(t) => {
                if let Err(e) = ident::parts(t) {
                    problems.push(e);
                }
            }
            _ => {}
        }
        if c.format.is_none() && c.compression != ParquetCompression::default() && c.format() == FileFormat::Csv {
            problems.push("`compression` is for Parquet; `to` looks like CSV (set `format: parquet`)".to_string());
        }
        problems
    }

    async fn execute(&self, config: ExtractConfig, ctx: TaskContext) -> Result<Output, TaskError> {
        run::run(config, ctx).await
    }
}

#[cfg(test)]
mod tests;
