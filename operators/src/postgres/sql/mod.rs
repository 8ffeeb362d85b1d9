//! `operator: postgres_sql`: a script of one or more statements
//! (templated), run in one transaction by default, with typed parameters
//! (`%(name)s`, as Airflow's Postgres operators take them); output the
//! rows each statement affected and, for a query, its first rows as JSON
//! (bounded) for downstream templates.

mod lexer;
mod params;
mod run;

use std::collections::BTreeMap;

use serde::Deserialize;
use updraft_operator_api::{Operator, Output, TaskContext, TaskError};

pub use params::Param;

/// Rows of a query's result kept in the output, at most.
pub const MAX_ROWS_LIMIT: usize = 10_000;

/// One script, or a list of them run in order.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Sql {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlConfig {
    /// A Postgres connection.
    pub conn_id: String,
    /// Statements separated by `;` (or a list of such scripts).
    pub sql: Sql,
    /// Values for `%(name)s` in the SQL: a string, number, boolean, null,
    /// list or object (as jsonb), or `{value, type}` for a Postgres type.
    #[serde(default)]
    pub parameters: BTreeMap<String, Param>,
    /// `false` (the default): every statement in one transaction, all or
    /// nothing. `true`: each statement commits on its own (for `VACUUM`,
    /// `CREATE INDEX CONCURRENTLY`).
    #[serde(default)]
    pub autocommit: bool,
    /// Rows of the last query kept in the output (100 by default, at most
    /// 10,000; the output also stays under 1 MiB).
    #[serde(default = "default_max_rows")]
    pub max_rows: usize,
}

fn default_max_rows() -> usize {
    100
}

impl SqlConfig {
    pub fn script(&self) -> String {
        match &self.sql {
            Sql::One(s) => s.clone(),
            Sql::Many(v) => v
                .iter()
                .map(|s| s.trim().trim_end_matches(';'))
                .collect::<Vec<_>>()
                .join(";\n"),
        }
    }
}

pub struct PostgresSql;

impl Operator for PostgresSql {
    const NAME: &'static str = "postgres_sql";
    type Config = SqlConfig;

    fn validate(c: &SqlConfig) -> Vec<String> {
        let mut problems = Vec::new();
        let script = c.script();
        if !updraft_operator_api::is_template(&script) {
            match lexer::split(&script) {
                Ok(s) if s.is_empty() => problems.push("`sql` holds no statement".to_string()),
                Ok(statements) => {
                    for s in &statements {
                        for (_, name) in &s.params {
                            if !c.parameters.contains_key(name) {
                                problems.push(format!("`sql` uses %({name})s, which `parameters` does not give"));
                            }
                        }
                    }
                }
                Err(e) => problems.push(format!("`sql`: {e}")),
            }
        }
        for (name, p) in &c.parameters {
            if let Err(e) = p.check() {
                problems.push(format!("`parameters.{name}`: {e}"));
            }
        }
        if c.max_rows > MAX_ROWS_LIMIT {
            problems.push(format!(
                "`max_rows` is at most {MAX_ROWS_LIMIT} (the output is for templates, not data)"
            ));
        }
        problems.dedup();
        problems
    }

    async fn execute(&self, config: SqlConfig, ctx: TaskContext) -> Result<Output, TaskError> {
        run::run(config, ctx).await
    }
}

#[cfg(test)]
mod tests;
