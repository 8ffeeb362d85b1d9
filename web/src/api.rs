//! `/api/v1`: the pages' data as JSON, and the actions. Same
//! authentication as the pages (session cookie + CSRF header, or an API
//! token); errors are `{"error": "..."}` with the matching status.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use updraft_engine::store::{DagRun, RunWindow, TaskInstance};

use crate::actions;
use crate::pages::{
    DagsQuery, GridPage, RUNS_PER_PAGE, TryQuery, dag_rows, grid_view, load_dag, load_run, load_ti, masker, run_window,
    seg,
};
use crate::roles::{Role, Routes};
use crate::views::when;
use crate::{AppState, WebError};

/// A `WebError` answered as JSON.
pub struct ApiError(WebError);

impl From<WebError> for ApiError {
    fn from(e: WebError) -> Self {
        ApiError(e)
    }
}

impl From<updraft_engine::store::StoreError> for ApiError {
    fn from(e: updraft_engine::store::StoreError) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0.status(), Json(json!({"error": self.0.public_message()}))).into_response()
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

/// The API's routes, each with the role it needs: reads for viewers,
/// actions for ops.
pub(crate) fn routes() -> Routes {
    use Role::{Op, Viewer};
    Routes::new("/api/v1")
        .get("/dags", Viewer, dags)
        .get("/dags/{dag_id}", Viewer, dag)
        .get("/dags/{dag_id}/grid", Viewer, grid)
        .get("/dags/{dag_id}/runs", Viewer, runs)
        .get("/dags/{dag_id}/runs/{run_id}", Viewer, run)
        .get("/dags/{dag_id}/runs/{run_id}/tasks", Viewer, task_instances)
        .get("/dags/{dag_id}/runs/{run_id}/tasks/{task_id}", Viewer, task_instance)
        .get("/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/logs", Viewer, logs)
        .post("/dags/{dag_id}/trigger", Op, trigger)
        .post("/dags/{dag_id}/pause", Op, pause)
        .post("/dags/{dag_id}/backfill", Op, backfill)
        .post("/dags/{dag_id}/runs/{run_id}/clear", Op, clear)
        .post("/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/mark", Op, mark)
        .fallback(|| async { ApiError(WebError::NotFound("no such endpoint".into())) })
}

fn ts(t: Option<jiff::Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(t.to_string()))
}

fn run_json(r: &DagRun, conf: Value) -> Value {
    json!({
        "dag_id": r.dag_id,
        "run_id": r.run_id,
        "run_type": r.run_type.as_str(),
        "state": r.state.as_str(),
        "logical_date": r.logical_date.to_string(),
        "data_interval_start": r.data_interval_start.to_string(),
        "data_interval_end": r.data_interval_end.to_string(),
        "start_date": ts(r.start_date),
        "end_date": ts(r.end_date),
        "conf": conf,
    })
}

fn ti_json(t: &TaskInstance, output: Value, error: Option<String>) -> Value {
    json!({
        "task_id": t.task_id,
        "state": t.state.as_str(),
        "try_number": t.try_number,
        "max_tries": t.max_tries,
        "start_date": ts(t.start_date),
        "end_date": ts(t.end_date),
        "output": output,
        "error": error,
    })
}

async fn dags(State(state): State<AppState>, Query(q): Query<DagsQuery>) -> ApiResult {
    let (rows, tags) = dag_rows(&state, &q).await?;
    Ok(Json(json!({"dags": rows, "tags": tags})))
}

async fn dag(State(state): State<AppState>, Path(dag_id): Path<String>) -> ApiResult {
    let (stored, dag) = load_dag(&state, &dag_id).await?;
    let last = state
        .store()
        .last_scheduled_interval(&dag_id)
        .await?
        .map(|(start, end)| updraft_engine::schedule::DataInterval { start, end });
    let next = dag
        .timetable
        .next_dagrun_info(last, &dag.restriction(), jiff::Timestamp::now())
        .map(|r| r.run_after.to_string());
    let tasks: Vec<Value> = dag
        .tasks
        .iter()
        .map(|t| {
            json!({
                "task_id": t.task_id,
                "operator": t.operator,
                "upstream": t.upstream.iter().map(|u| dag.tasks[*u].task_id.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({
        "dag_id": dag.dag_id,
        "description": dag.description,
        "schedule": dag.schedule().to_string(),
        "next_run": next,
        "tags": dag.tags,
        "is_paused": stored.is_paused,
        "file": stored.file,
        "tasks": tasks,
    })))
}

/// A page of runs: `before` or `after` a logical date (RFC 3339, as the
/// answer's `next` and `newer` links give it), at most `limit` runs.
#[derive(Debug, Default, serde::Deserialize)]
struct PageQuery {
    limit: Option<i64>,
    before: Option<String>,
    after: Option<String>,
    /// The grid's first task (wide DAGs: at most 100 tasks per answer).
    #[serde(default)]
    tasks_from: usize,
}

impl PageQuery {
    fn window(&self) -> Result<RunWindow, ApiError> {
        Ok(run_window(self.before.as_deref(), self.after.as_deref())?)
    }
}

/// The links to the pages beside this one (`null` where there is none).
fn page_links(
    path: &str,
    limit: i64,
    older: Option<jiff::Timestamp>,
    newer: Option<jiff::Timestamp>,
) -> (Value, Value) {
    let link = |key: &str, t: Option<jiff::Timestamp>| {
        t.map_or(Value::Null, |t| {
            Value::String(format!("{path}?{key}={}&limit={limit}", seg(&t.to_string())))
        })
    };
    (link("before", older), link("after", newer))
}

async fn grid(State(state): State<AppState>, Path(dag_id): Path<String>, Query(q): Query<PageQuery>) -> ApiResult {
    let (_, dag) = load_dag(&state, &dag_id).await?;
    let limit = q.limit.unwrap_or(RUNS_PER_PAGE).clamp(1, 100);
    let at = GridPage {
        window: q.window()?,
        runs: limit,
        tasks_from: q.tasks_from,
    };
    let (grid, _) = grid_view(&state, &dag, at).await?;
    let parse = |c: &Option<String>| c.as_deref().and_then(|c| c.parse().ok());
    let path = format!("/api/v1/dags/{}/grid", seg(&dag_id));
    let (next, newer) = page_links(&path, limit, parse(&grid.older), parse(&grid.newer));
    // The run pages keep the task page.
    let (next, newer) = if grid.tasks_from > 0 {
        let keep = |v: Value| match v {
            Value::String(u) => Value::String(format!("{u}&tasks_from={}", grid.tasks_from)),
            other => other,
        };
        (keep(next), keep(newer))
    } else {
        (next, newer)
    };
    let next_tasks = grid.tasks_from + grid.rows.len();
    let more_tasks = if next_tasks < grid.task_count {
        let mut url = format!("{path}?tasks_from={next_tasks}&limit={limit}");
        if let Some(b) = &q.before {
            url.push_str(&format!("&before={}", seg(b)));
        } else if let Some(a) = &q.after {
            url.push_str(&format!("&after={}", seg(a)));
        }
        Value::String(url)
    } else {
        Value::Null
    };
    let mut body = serde_json::to_value(grid).unwrap_or_default();
    body["next"] = next;
    body["newer"] = newer;
    body["more_tasks"] = more_tasks;
    Ok(Json(body))
}

async fn runs(State(state): State<AppState>, Path(dag_id): Path<String>, Query(q): Query<PageQuery>) -> ApiResult {
    load_dag(&state, &dag_id).await?;
    let m = masker(&state).await;
    let limit = q.limit.unwrap_or(RUNS_PER_PAGE).clamp(1, 1000);
    let page = state.store().runs_page(&dag_id, q.window()?, limit).await?;
    let items: Vec<Value> = page
        .runs
        .iter()
        .map(|r| run_json(r, m.redact_json(Value::Object(r.conf.clone()))))
        .collect();
    let (next, newer) = page_links(
        &format!("/api/v1/dags/{}/runs", seg(&dag_id)),
        limit,
        page.older_cursor(),
        page.newer_cursor(),
    );
    Ok(Json(json!({ "runs": items, "next": next, "newer": newer })))
}

async fn run(State(state): State<AppState>, Path((dag_id, run_id)): Path<(String, String)>) -> ApiResult {
    let r = load_run(&state, &dag_id, &run_id).await?;
    let m = masker(&state).await;
    Ok(Json(run_json(&r, m.redact_json(Value::Object(r.conf.clone())))))
}

async fn task_instances(State(state): State<AppState>, Path((dag_id, run_id)): Path<(String, String)>) -> ApiResult {
    let r = load_run(&state, &dag_id, &run_id).await?;
    let m = masker(&state).await;
    let tis = state.store().task_instances(r.id).await?;
    let items: Vec<Value> = tis
        .iter()
        .map(|t| {
            ti_json(
                t,
                t.output.clone().map_or(Value::Null, |o| m.mask_json(o)),
                t.error.as_deref().map(|e| m.mask(e)),
            )
        })
        .collect();
    Ok(Json(json!({ "task_instances": items })))
}

async fn task_instance(
    State(state): State<AppState>,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
) -> ApiResult {
    let (_, t) = load_ti(&state, &dag_id, &run_id, &task_id).await?;
    let m = masker(&state).await;
    Ok(Json(ti_json(
        &t,
        t.output.clone().map_or(Value::Null, |o| m.mask_json(o)),
        t.error.as_deref().map(|e| m.mask(e)),
    )))
}

async fn logs(
    State(state): State<AppState>,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
    Query(q): Query<TryQuery>,
) -> ApiResult {
    let (_, t) = load_ti(&state, &dag_id, &run_id, &task_id).await?;
    let try_number = q.try_number.unwrap_or(t.try_number);
    let m = masker(&state).await;
    let lines = state.store().read_logs(t.id, try_number, q.after, 10_000).await?;
    let items: Vec<Value> = lines
        .iter()
        .map(|l| json!({"seq": l.seq, "at": when(Some(l.at)), "stream": l.stream, "line": m.mask(&l.line)}))
        .collect();
    Ok(Json(json!({
        "try_number": try_number,
        "state": t.state.as_str(),
        "lines": items,
        "next_after": lines.last().map_or(q.after, |l| l.seq),
    })))
}

#[derive(Debug, Default, serde::Deserialize)]
struct TriggerBody {
    logical_date: Option<String>,
    #[serde(default)]
    conf: serde_json::Map<String, Value>,
}

async fn trigger(
    State(state): State<AppState>,
    Path(dag_id): Path<String>,
    body: Option<Json<TriggerBody>>,
) -> Result<Response, ApiError> {
    let b = body.map(|Json(b)| b).unwrap_or_default();
    let r = actions::trigger(&state, &dag_id, b.logical_date.as_deref(), b.conf).await?;
    let m = masker(&state).await;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(run_json(&r, m.redact_json(Value::Object(r.conf.clone())))),
    )
        .into_response())
}

#[derive(Debug, serde::Deserialize)]
struct PauseBody {
    paused: bool,
}

async fn pause(State(state): State<AppState>, Path(dag_id): Path<String>, Json(b): Json<PauseBody>) -> ApiResult {
    actions::set_paused(&state, &dag_id, b.paused).await?;
    Ok(Json(json!({"dag_id": dag_id, "is_paused": b.paused})))
}

#[derive(Debug, serde::Deserialize)]
struct BackfillBody {
    start: String,
    end: String,
    reprocess: Option<String>,
}

async fn backfill(State(state): State<AppState>, Path(dag_id): Path<String>, Json(b): Json<BackfillBody>) -> ApiResult {
    let reprocess = actions::parse_reprocess(b.reprocess.as_deref())?;
    let n = actions::backfill(&state, &dag_id, &b.start, &b.end, reprocess).await?;
    Ok(Json(json!({"dag_id": dag_id, "runs": n})))
}

#[derive(Debug, Default, serde::Deserialize)]
struct ClearBody {
    task_id: Option<String>,
    #[serde(default)]
    downstream: bool,
}

async fn clear(
    State(state): State<AppState>,
    Path((dag_id, run_id)): Path<(String, String)>,
    body: Option<Json<ClearBody>>,
) -> ApiResult {
    let b = body.map(|Json(b)| b).unwrap_or_default();
    let n = actions::clear(&state, &dag_id, &run_id, b.task_id.as_deref(), b.downstream).await?;
    Ok(Json(json!({"cleared": n})))
}

#[derive(Debug, serde::Deserialize)]
struct MarkBody {
    state: String,
}

async fn mark(
    State(state): State<AppState>,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
    Json(b): Json<MarkBody>,
) -> ApiResult {
    let n = actions::mark(&state, &dag_id, &run_id, &task_id, &b.state).await?;
    Ok(Json(json!({"marked": n})))
}
