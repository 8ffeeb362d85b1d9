//! A small client for BigQuery's REST API v2, on the shared HTTP client
//! and the GCS credentials (`updraft_io::google`): jobs (insert with our
//! own job id, get, cancel, wait), tables (insert, update, get) and query
//! results. What BigQuery says goes into errors plainly: `errorResult`
//! and `errors[]`.

use std::time::Duration;

use tokio::time::Instant;

use serde_json::{Value, json};
use updraft_io::google::{CLOUD_PLATFORM_SCOPE, GoogleAuth};
use updraft_operator_api::connection::GcpConnection;
use updraft_operator_api::{TaskContext, TaskError};

const DEFAULT_ENDPOINT: &str = "https://bigquery.googleapis.com";
/// Error reasons worth another try (BigQuery's documented transient ones).
const TRANSIENT: &[&str] = &[
    "backendError",
    "internalError",
    "rateLimitExceeded",
    "jobBackendError",
    "jobInternalError",
];

pub struct BigQuery {
    base: String,
    auth: GoogleAuth,
}

/// A finished job: its id, location and statistics.
#[derive(Debug)]
pub struct Done {
    pub job_id: String,
    pub job: Value,
}

/// `project.dataset.table` (the project may come from elsewhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    pub project: String,
    pub dataset: String,
    pub table: String,
}

impl TableRef {
    /// `project.dataset.table`, `project:dataset.table` or, with a default
    /// project, `dataset.table`.
    pub fn parse(s: &str, default_project: Option<&str>) -> Result<TableRef, String> {
        let s = s.trim().trim_matches('`');
        let s = s.replacen(':', ".", 1);
        let parts: Vec<&str> = s.split('.').collect();
        let ok = |p: &str| !p.is_empty();
        match parts.as_slice() {
            [p, d, t] if ok(p) && ok(d) && ok(t) => Ok(TableRef {
                project: p.to_string(),
                dataset: d.to_string(),
                table: t.to_string(),
            }),
            [d, t] if ok(d) && ok(t) => match default_project {
                Some(p) => Ok(TableRef {
                    project: p.into(),
                    dataset: d.to_string(),
                    table: t.to_string(),
                }),
                None => Err(format!(
                    "table {s:?} names no project: write project.dataset.table, or give `project_id`"
                )),
            },
            _ => Err(format!("table {s:?} is not project.dataset.table")),
        }
    }

    pub fn json(&self) -> Value {
        json!({"projectId": self.project, "datasetId": self.dataset, "tableId": self.table})
    }
}

impl std::fmt::Display for TableRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.project, self.dataset, self.table)
    }
}

impl BigQuery {
    /// `endpoint`: the config's, else `BIGQUERY_EMULATOR_HOST`, else
    /// Google's. With another endpoint and no key, requests go anonymous
    /// (an emulator).
    pub fn new(conn: &GcpConnection, endpoint: Option<&str>) -> Result<BigQuery, TaskError> {
        let env = std::env::var("BIGQUERY_EMULATOR_HOST").ok().filter(|s| !s.is_empty());
        let endpoint = endpoint
            .map(str::to_string)
            .or(env)
            .map(|e| if e.contains("://") { e } else { format!("http://{e}") })
            .unwrap_or_else(|| DEFAULT_ENDPOINT.into());
        let custom = endpoint != DEFAULT_ENDPOINT;
        let auth = GoogleAuth::new(conn, CLOUD_PLATFORM_SCOPE, custom)?;
        Ok(BigQuery {
            base: format!("{}/bigquery/v2", endpoint.trim_end_matches('/')),
            auth,
        })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<(u16, Value), TaskError> {
        let url = format!("{}{path}", self.base);
        let mut rb = updraft_io::http::client().request(method, &url);
        if let Some(t) = self.auth.bearer().await? {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(b);
        }
        let resp = rb.send().await.map_err(|e| TaskError::failed("calling BigQuery", &e))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| TaskError::failed("reading BigQuery's answer", &e))?;
        let v = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| json!({"error": {"message": text.trim()}}))
        };
        Ok((status, v))
    }

    /// A 2xx answer's body, else BigQuery's error as a task error.
    async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Value, TaskError> {
        let (status, v) = self.call(method, path, body).await?;
        if (200..300).contains(&status) {
            return Ok(v);
        }
        Err(api_error(what, status, &v))
    }

    pub async fn get_job(
        &self,
        project: &str,
        job_id: &str,
        location: Option<&str>,
    ) -> Result<Option<Value>, TaskError> {
        let path = format!(
            "/projects/{}/jobs/{}{}",
            enc(project),
            enc(job_id),
            loc_query(location, '?')
        );
        let (status, v) = self.call(reqwest::Method::GET, &path, None).await?;
        match status {
            200 => Ok(Some(v)),
            404 => Ok(None),
            s => Err(api_error(&format!("reading job {job_id}"), s, &v)),
        }
    }

    /// Runs `configuration` as job `job_id`: inserted (or found, when an
    /// earlier try already inserted it), then waited for until DONE or
    /// `timeout` (the job is cancelled then), cancelled if the task is.
    pub async fn run_job(
        &self,
        ctx: &TaskContext,
        project: &str,
        location: Option<&str>,
        job_id: &str,
        configuration: Value,
        timeout: Duration,
    ) -> Result<Done, TaskError> {
        let mut reference = json!({"projectId": project, "jobId": job_id});
        if let Some(l) = location {
            reference["location"] = json!(l);
        }
        let body = json!({"jobReference": reference, "configuration": configuration});
        let path = format!("/projects/{}/jobs", enc(project));
        let (status, v) = self.call(reqwest::Method::POST, &path, Some(&body)).await?;
        let location = match status {
            200..=299 => {
                ctx.log.info(&format!("BigQuery job {job_id} started"));
                v.pointer("/jobReference/location")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            }
            // The job id is ours and deterministic: it exists because this
            // try inserted it before (a restarted worker). Wait for it.
            409 => {
                ctx.log
                    .info(&format!("BigQuery job {job_id} exists already: waiting for it"));
                location.map(str::to_string)
            }
            s => return Err(api_error(&format!("starting BigQuery job {job_id}"), s, &v)),
        };
        self.wait(ctx, project, job_id, location.as_deref(), timeout).await
    }

    /// Polls the job until DONE (0.5 s, growing to 5 s between polls).
    pub async fn wait(
        &self,
        ctx: &TaskContext,
        project: &str,
        job_id: &str,
        location: Option<&str>,
        timeout: Duration,
    ) -> Result<Done, TaskError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(500);
        let mut last_state = String::new();
        loop {
            let job = self
                .get_job(project, job_id, location)
                .await?
                .ok_or_else(|| TaskError::Failed(format!("BigQuery job {job_id} is gone")))?;
            let state = job
                .pointer("/status/state")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if state != last_state {
                ctx.log.info(&format!("BigQuery job {job_id}: {state}"));
                last_state = state.clone();
            }
            if state == "DONE" {
                if let Some(e) = job.pointer("/status/errorResult") {
                    return Err(job_error(job_id, e, job.pointer("/status/errors")));
                }
                return Ok(Done {
                    job_id: job_id.to_string(),
                    job,
                });
            }
            if started.elapsed() >= timeout {
                self.cancel(project, job_id, location).await;
                return Err(TaskError::Failed(format!(
                    "BigQuery job {job_id} did not finish in {}s (still {state}); it was cancelled",
                    timeout.as_secs()
                )));
            }
            tokio::select! {
                () = tokio::time::sleep(pause.min(timeout.saturating_sub(started.elapsed()))) => {}
                () = ctx.cancel.cancelled() => {
                    self.cancel(project, job_id, location).await;
                    return Err(TaskError::Cancelled);
                }
            }
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    /// Asks BigQuery to cancel the job (best effort: it may finish anyway).
    pub async fn cancel(&self, project: &str, job_id: &str, location: Option<&str>) {
        let path = format!(
            "/projects/{}/jobs/{}/cancel{}",
            enc(project),
            enc(job_id),
            loc_query(location, '?')
        );
        match self.call(reqwest::Method::POST, &path, None).await {
            Ok((s, _)) if (200..300).contains(&s) => {}
            Ok((s, v)) => tracing::warn!(job_id, status = s, answer = %v, "cancelling a BigQuery job failed"),
            Err(e) => tracing::warn!(job_id, error = %e, "cancelling a BigQuery job failed"),
        }
    }

    /// Creates the table, or replaces its definition if it exists.
    pub async fn put_table(&self, t: &TableRef, table: &Value) -> Result<Value, TaskError> {
        let path = format!("/projects/{}/datasets/{}/tables", enc(&t.project), enc(&t.dataset));
        let (status, v) = self.call(reqwest::Method::POST, &path, Some(table)).await?;
        match status {
            200..=299 => Ok(v),
            409 => {
                self.ok(
                    reqwest::Method::PUT,
                    &table_path(t),
                    Some(table),
                    &format!("replacing table {t}"),
                )
                .await
            }
            s => Err(api_error(&format!("creating table {t}"), s, &v)),
        }
    }

    /// The first `max` rows of a finished query job, with its schema.
    pub async fn query_results(
        &self,
        project: &str,
        job_id: &str,
        location: Option<&str>,
        max: usize,
    ) -> Result<Value, TaskError> {
        let path = format!(
            "/projects/{}/queries/{}?maxResults={max}{}",
            enc(project),
            enc(job_id),
            loc_query(location, '&')
        );
        self.ok(
            reqwest::Method::GET,
            &path,
            None,
            &format!("reading the results of {job_id}"),
        )
        .await
    }
}

fn table_path(t: &TableRef) -> String {
    format!(
        "/projects/{}/datasets/{}/tables/{}",
        enc(&t.project),
        enc(&t.dataset),
        enc(&t.table)
    )
}

fn loc_query(location: Option<&str>, sep: char) -> String {
    location
        .map(|l| format!("{sep}location={}", enc(l)))
        .unwrap_or_default()
}

/// An API call's error: `{"error": {"code", "message", "errors": [{reason, message}]}}`.
fn api_error(what: &str, status: u16, v: &Value) -> TaskError {
    let message = v
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("(no message)");
    let reason = v
        .pointer("/error/errors/0/reason")
        .and_then(Value::as_str)
        .unwrap_or("");
    let msg = if reason.is_empty() {
        format!("{what}: HTTP {status}: {message}")
    } else {
        format!("{what}: HTTP {status} {reason}: {message}")
    };
    if status == 429 || status >= 500 || TRANSIENT.contains(&reason) {
        TaskError::Failed(msg)
    } else {
        TaskError::Fatal(msg)
    }
}

/// A failed job: `errorResult` first, then up to five of `errors[]`.
fn job_error(job_id: &str, result: &Value, errors: Option<&Value>) -> TaskError {
    let one = |e: &Value| {
        let reason = e.get("reason").and_then(Value::as_str).unwrap_or("error");
        let message = e.get("message").and_then(Value::as_str).unwrap_or("");
        match e.get("location").and_then(Value::as_str).filter(|l| !l.is_empty()) {
            Some(l) => format!("{reason}: {message} (at {l})"),
            None => format!("{reason}: {message}"),
        }
    };
    let mut msg = format!("BigQuery job {job_id} failed: {}", one(result));
    let rest: Vec<&Value> = errors
        .and_then(Value::as_array)
        .map(|a| a.iter().filter(|e| *e != result).collect())
        .unwrap_or_default();
    for e in rest.iter().take(5) {
        msg.push_str(&format!("\n  {}", one(e)));
    }
    if rest.len() > 5 {
        msg.push_str(&format!("\n  ... and {} more", rest.len() - 5));
    }
    let reason = result.get("reason").and_then(Value::as_str).unwrap_or("");
    if TRANSIENT.contains(&reason) {
        TaskError::Failed(msg)
    } else {
        TaskError::Fatal(msg)
    }
}

use updraft_io::http::encode_component as enc;

/// A job id for this task instance and configuration that is the same
/// on every run of the same try: letters, digits, `-` and `_` (BigQuery's
/// alphabet), at most 1,024. The configuration's hash (FNV-1a, stable
/// across builds) makes an edited task a different job.
pub fn job_id(ctx: &TaskContext, kind: &str, try_number: u32, configuration: &Value) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
            .collect()
    };
    let hash = configuration
        .to_string()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    let mut id = format!(
        "updraft_{}_{}_{}_{kind}_{hash:016x}",
        clean(&ctx.dag_id),
        clean(&ctx.task_id),
        clean(&ctx.run_id),
    );
    id.truncate(1000);
    format!("{id}_t{try_number}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_take_the_forms_people_write() {
        let t = TableRef::parse("proj.sales.invoices", None).unwrap();
        assert_eq!(t.to_string(), "proj.sales.invoices");
        assert_eq!(TableRef::parse("proj:sales.invoices", None).unwrap(), t);
        assert_eq!(TableRef::parse("`proj.sales.invoices`", None).unwrap(), t);
        assert_eq!(TableRef::parse("sales.invoices", Some("proj")).unwrap(), t);
        assert!(
            TableRef::parse("sales.invoices", None)
                .unwrap_err()
                .contains("names no project")
        );
        assert!(TableRef::parse("a.b.c.d", None).is_err());
    }

    #[test]
    fn job_errors_say_what_bigquery_said() {
        let result =
            json!({"reason": "invalid", "message": "Error while reading data", "location": "gs://b/x.parquet"});
        let errors = json!([result.clone(), {"reason": "invalid", "message": "Column 3 is not a DATE"}]);
        let e = job_error("j1", &result, Some(&errors));
        assert!(matches!(e, TaskError::Fatal(_)));
        assert_eq!(
            e.to_string(),
            "BigQuery job j1 failed: invalid: Error while reading data (at gs://b/x.parquet)\n  invalid: Column 3 is not a DATE"
        );
        let e = job_error("j2", &json!({"reason": "backendError", "message": "try again"}), None);
        assert!(matches!(e, TaskError::Failed(_)));
    }
}
