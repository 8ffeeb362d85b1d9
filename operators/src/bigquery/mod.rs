//! The BigQuery operators, on a small client for BigQuery's REST API v2
//! (`client.rs`; why not `gcp-bigquery-client`: ARCHITECTURE.md):
//! `bigquery_load` (GCS files into a table), `bigquery_external_table`
//! (a table over GCS files) and `bigquery_query` (into a table, or the
//! first rows as output). Jobs carry our own deterministic ids, so a retry
//! finds its earlier try's job instead of loading twice; they are waited
//! for with a timeout and cancelled with the task.

mod client;
mod external;
mod files;
mod load;
mod query;
mod schema;

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use updraft_operator_api::{ConfigDuration, TaskContext, TaskError};

pub use client::TableRef;
use client::{BigQuery, Done};
pub use external::{BigQueryExternalTable, ExternalConfig};
pub use load::{BigQueryLoad, LoadConfig};
pub use query::{BigQueryQuery, QueryConfig};

/// Where and as whom jobs run: shared by the three operators.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Common {
    /// The project that runs (and pays for) the jobs; by default the
    /// connection's, then the table's.
    #[serde(default)]
    pub project_id: Option<String>,
    /// The jobs' location (`US`, `EU`, `europe-west1`, ...).
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub gcp_conn_id: Option<String>,
    /// How long to wait for a job before cancelling it (default 1h).
    #[serde(default)]
    pub timeout: Option<ConfigDuration>,
    /// Another BigQuery endpoint (an emulator); `BIGQUERY_EMULATOR_HOST`
    /// does the same for every task.
    #[serde(default)]
    pub endpoint: Option<String>,
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);

impl Common {
    fn client(&self, ctx: &TaskContext) -> Result<(BigQuery, Option<String>), TaskError> {
        let conn = ctx.gcp("gcp_conn_id", self.gcp_conn_id.as_deref())?;
        let project = self.project_id.clone().or_else(|| conn.project.clone());
        Ok((BigQuery::new(&conn, self.endpoint.as_deref())?, project))
    }

    fn timeout(&self) -> Duration {
        self.timeout.as_ref().map_or(DEFAULT_TIMEOUT, |t| t.0)
    }
}

/// Runs a job once per attempt: an earlier try of this attempt whose job
/// succeeded or still runs is used instead of a new job (a retry does not
/// load twice); otherwise this try's own job runs.
async fn run_once(
    bq: &BigQuery,
    ctx: &TaskContext,
    project: &str,
    location: Option<&str>,
    kind: &str,
    configuration: Value,
    timeout: Duration,
) -> Result<Done, TaskError> {
    for earlier in ctx.first_try..ctx.try_number {
        let id = client::job_id(ctx, kind, earlier, &configuration);
        let Some(job) = bq.get_job(project, &id, location).await? else {
            continue;
        };
        let state = job.pointer("/status/state").and_then(Value::as_str).unwrap_or("");
        let failed = job.pointer("/status/errorResult").is_some();
        if state != "DONE" {
            ctx.log.info(&format!(
                "try {earlier}'s job {id} is still {state}: waiting for it instead of starting another"
            ));
            match bq.wait(ctx, project, &id, location, timeout).await {
                Ok(done) => return Ok(done),
                Err(TaskError::Cancelled) => return Err(TaskError::Cancelled),
                Err(e) => ctx.log.info(&format!("it failed ({e}); this try runs its own")),
            }
        } else if !failed {
            ctx.log.info(&format!(
                "try {earlier}'s job {id} succeeded already: not running it again"
            ));
            return Ok(Done { job_id: id, job });
        }
    }
    let id = client::job_id(ctx, kind, ctx.try_number, &configuration);
    bq.run_job(ctx, project, location, &id, configuration, timeout).await
}

/// A statistic BigQuery gives as a string of digits.
fn stat(job: &Value, pointer: &str) -> u64 {
    match job.pointer(pointer) {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(v) => v.as_u64().unwrap_or(0),
        None => 0,
    }
}

/// A table name's problem, unless it is a template (checked once rendered).
fn check_table(t: &str) -> Option<String> {
    if updraft_operator_api::is_template(t) {
        return None;
    }
    TableRef::parse(t, Some("p")).err()
}

/// The client, the table and the project the job runs in.
fn target(common: &Common, table: &str, ctx: &TaskContext) -> Result<(BigQuery, TableRef, String), TaskError> {
    let (bq, project) = common.client(ctx)?;
    let table = TableRef::parse(table, project.as_deref()).map_err(TaskError::Fatal)?;
    let project = project.unwrap_or_else(|| table.project.clone());
    Ok((bq, table, project))
}

#[cfg(test)]
mod tests;
