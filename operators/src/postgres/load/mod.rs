//! `operator: postgres_load`: a CSV or Parquet location into a table with
//! `COPY ... FROM STDIN`, in one transaction with whatever the mode does
//! first (truncate, drop and create, create) or after (an upsert from a
//! staging table): a failed load leaves the table as it was. Parquet moves
//! in Postgres' binary form where the table's types allow (every common
//! one does), typed and checked value by value on our side first, so an
//! error names the row, column and value; CSV streams as it is. Output
//! `{rows, table, mode}`.

mod encode;
mod run;
mod target;

use std::collections::BTreeMap;

use serde::Deserialize;
use updraft_io::Location;
use updraft_operator_api::{Operator, Output, TaskContext, TaskError};

use super::{FileFormat, ident};

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Add the rows to the table, which must exist.
    #[default]
    Append,
    /// Empty the table first, in the same transaction.
    Truncate,
    /// Drop the table and create it from the file's columns.
    Replace,
    /// Create the table from the file's columns if it is missing, then
    /// append.
    Create,
    /// Insert new keys, update existing ones (`key`), through a staging
    /// table and `INSERT ... ON CONFLICT`.
    Upsert,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Append => "append",
            Mode::Truncate => "truncate",
            Mode::Replace => "replace",
            Mode::Create => "create",
            Mode::Upsert => "upsert",
        }
    }
}

/// How file column names become table column names.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Rename {
    /// `InvoiceNo` -> `invoice_no`.
    SnakeCase,
    /// `InvoiceNo` -> `invoiceno`, as an unquoted name in SQL would be.
    Lower,
}

/// A CSV file's text encoding, as Postgres names it for `COPY`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub enum CsvEncoding {
    #[default]
    #[serde(rename = "utf-8", alias = "utf8", alias = "UTF-8")]
    Utf8,
    #[serde(rename = "cp1252", alias = "windows-1252", alias = "win1252")]
    Cp1252,
    #[serde(rename = "latin-1", alias = "latin1", alias = "iso-8859-1")]
    Latin1,
}

impl CsvEncoding {
    pub fn postgres(self) -> &'static str {
        match self {
            CsvEncoding::Utf8 => "UTF8",
            CsvEncoding::Cp1252 => "WIN1252",
            CsvEncoding::Latin1 => "LATIN1",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadConfig {
    /// A Postgres connection.
    pub conn_id: String,
    /// A CSV (with a header) or Parquet file.
    pub from: Location,
    /// `schema.table` or `table`.
    pub table: String,
    #[serde(default)]
    pub mode: Mode,
    /// `upsert`: the columns of the table's unique key (table names).
    #[serde(default)]
    pub key: Vec<String>,
    /// File column -> table column, for the columns whose names differ.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// How the other file columns' names become table names.
    #[serde(default)]
    pub rename: Option<Rename>,
    /// `csv` or `parquet`; by default from `from`'s extension.
    #[serde(default)]
    pub format: Option<FileFormat>,
    /// CSV only: the file's encoding (`utf-8`, `cp1252`, `latin-1`).
    #[serde(default)]
    pub encoding: CsvEncoding,
    /// CSV only: the field delimiter (`,` by default).
    #[serde(default)]
    pub delimiter: Option<char>,
    #[serde(default)]
    pub aws_conn_id: Option<String>,
    #[serde(default)]
    pub gcp_conn_id: Option<String>,
}

impl LoadConfig {
    pub fn format(&self) -> FileFormat {
        self.format.unwrap_or_else(|| FileFormat::of(&self.from))
    }

    /// The table column a file column goes to.
    pub fn target_name(&self, file_column: &str) -> String {
        if let Some(t) = self.columns.get(file_column) {
            return t.clone();
        }
        match self.rename {
            Some(Rename::SnakeCase) => ident::snake_case(file_column),
            Some(Rename::Lower) => file_column.to_lowercase(),
            None => file_column.to_string(),
        }
    }
}

pub struct PostgresLoad;

impl Operator for PostgresLoad {
    const NAME: &'static str = "postgres_load";
    type Config = LoadConfig;

    fn validate(c: &LoadConfig) -> Vec<String> {
        let mut problems = Vec::new();
        if !updraft_operator_api::is_template(&c.table)
            && let Err(e) = ident::parts(&c.table)
        {
            problems.push(e);
        }
        match (c.mode, c.key.is_empty()) {
            (Mode::Upsert, true) => {
                problems.push("`mode: upsert` needs `key`: the columns of the table's unique key".into())
            }
            (m, false) if m != Mode::Upsert => {
                problems.push(format!("`key` goes with `mode: upsert`, not `{}`", m.name()))
            }
            _ => {}
        }
        let mut seen = BTreeMap::new();
        for (from, to) in &c.columns {
            if to.trim().is_empty() {
                problems.push(format!("`columns`: {from:?} maps to an empty name"));
            }
            if let Some(other) = seen.insert(to.clone(), from.clone()) {
                problems.push(format!("`columns`: {other:?} and {from:?} both map to {to:?}"));
            }
        }
        if c.format() == FileFormat::Parquet && (c.encoding != CsvEncoding::default() || c.delimiter.is_some()) {
            problems.push("`encoding` and `delimiter` are for CSV; `from` is Parquet".into());
        }
        if let Some(d) = c.delimiter
            && (!d.is_ascii() || d == '"' || d == '\n' || d == '\r')
        {
            problems.push(format!(
                "`delimiter` {d:?}: one ASCII character, not a quote or a line break"
            ));
        }
        problems
    }

    async fn execute(&self, config: LoadConfig, ctx: TaskContext) -> Result<Output, TaskError> {
        run::run(config, ctx).await
    }
}

#[cfg(test)]
mod tests;
