//! What users change: trigger, pause, backfill, clear, mark. Each action is
//! one function used by both the HTML forms (which redirect back) and the
//! JSON API.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Redirect;
use updraft_engine::runtime::{Reprocess, Step, apply_step, create_run, plan_backfill};
use updraft_engine::store::{DagRun, RunType, TaskState};
use updraft_engine::time::parse_instant;

use crate::pages::{load_dag, load_run, seg};
use crate::{AppState, WebError, WebResult};

/// The most runs one backfill request may create or rerun.
pub const MAX_BACKFILL_RUNS: usize = 1000;

fn none_if_blank(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

pub async fn trigger(
    state: &AppState,
    dag_id: &str,
    logical_date: Option<&str>,
    conf: serde_json::Map<String, serde_json::Value>,
) -> WebResult<DagRun> {
    let (stored, dag) = load_dag(state, dag_id).await?;
    let at = none_if_blank(logical_date)
        .map(|t| parse_instant(t, dag.tz()).map_err(|e| WebError::BadRequest(format!("logical date: {e}"))))
        .transpose()?;
    let version = stored.version_id.unwrap_or_default();
    let run = create_run(state.store(), &dag, version, RunType::Manual, at, conf)
        .await?
        .ok_or_else(|| WebError::Conflict(format!("DAG `{dag_id}` already has a run at that logical date")))?;
    state.wake_scheduler().await;
    Ok(run)
}

pub fn parse_conf(text: Option<&str>) -> WebResult<serde_json::Map<String, serde_json::Value>> {
    match none_if_blank(text) {
        None => Ok(Default::default()),
        Some(t) => match serde_json::from_str(t) {
            Ok(serde_json::Value::Object(m)) => Ok(m),
            Ok(_) => Err(WebError::BadRequest("conf must be a JSON object".into())),
            Err(e) => Err(WebError::BadRequest(format!("conf is not valid JSON: {e}"))),
        },
    }
}

pub async fn set_paused(state: &AppState, dag_id: &str, paused: bool) -> WebResult<()> {
    if !state.store().set_paused(dag_id, paused).await? {
        return Err(WebError::NotFound(format!("no DAG `{dag_id}`")));
    }
    if !paused {
        state.wake_scheduler().await;
    }
    Ok(())
}

pub fn parse_reprocess(s: Option<&str>) -> WebResult<Reprocess> {
    match none_if_blank(s).unwrap_or("none") {
        "none" => Ok(Reprocess::None),
        "failed" => Ok(Reprocess::Failed),
        "all" => Ok(Reprocess::All),
        other => Err(WebError::BadRequest(format!(
            "reprocess must be none, failed or all, not `{other}`"
        ))),
    }
}

/// Creates (or reruns) the runs of `[start, end]` and hands them to the
/// scheduler. Returns how many will run.
pub async fn backfill(
    state: &AppState,
    dag_id: &str,
    start: &str,
    end: &str,
    reprocess: Reprocess,
) -> WebResult<usize> {
    let (stored, dag) = load_dag(state, dag_id).await?;
    let parse = |what: &str, t: &str| {
        parse_instant(t.trim(), dag.tz()).map_err(|e| WebError::BadRequest(format!("{what}: {e}")))
    };
    let (start, end) = (parse("start", start)?, parse("end", end)?);
    if end < start {
        return Err(WebError::BadRequest("the end comes before the start".into()));
    }
    let steps = plan_backfill(state.store(), &dag, start, end, reprocess).await?;
    let todo: Vec<&Step> = steps.iter().filter(|s| !matches!(s, Step::Keep(_))).collect();
    if todo.len() > MAX_BACKFILL_RUNS {
        return Err(WebError::BadRequest(format!(
            "that range has {} runs; at most {MAX_BACKFILL_RUNS} per backfill from the UI (use `updraft backfill`)",
            todo.len()
        )));
    }
    let version = stored.version_id.unwrap_or_default();
    let mut n = 0;
    for step in todo {
        if apply_step(state.store(), &dag, version, step).await?.is_some() {
            n += 1;
        }
    }
    state.wake_scheduler().await;
    Ok(n)
}

/// Clears one task (with its downstream tasks if asked) or, without a
/// task, the whole run. Returns how many task instances were cleared.
pub async fn clear(
    state: &AppState,
    dag_id: &str,
    run_id: &str,
    task_id: Option<&str>,
    downstream: bool,
) -> WebResult<u64> {
    let run = load_run(state, dag_id, run_id).await?;
    let dag = state.params().cache.get(run.version_id).await?;
    let mut chosen = vec![task_id.is_none(); dag.tasks.len()];
    if let Some(t) = task_id {
        let i = dag
            .task_index(t)
            .ok_or_else(|| WebError::NotFound(format!("run `{run_id}` has no task `{t}`")))?;
        chosen[i] = true;
        if downstream {
            let mut stack = vec![i];
            while let Some(j) = stack.pop() {
                for d in dag.graph.downstream(j) {
                    if !chosen[d] {
                        chosen[d] = true;
                        stack.push(d);
                    }
                }
            }
        }
    }
    let tasks: Vec<(String, u32)> = dag
        .tasks
        .iter()
        .zip(&chosen)
        .filter(|(_, c)| **c)
        .map(|(t, _)| (t.task_id.clone(), t.retry.retries + 1))
        .collect();
    let n = state.store().clear_tasks(run.id, &tasks).await?;
    state.wake_scheduler().await;
    Ok(n)
}

pub async fn mark(state: &AppState, dag_id: &str, run_id: &str, task_id: &str, to: &str) -> WebResult<u64> {
    let to = match to {
        "success" => TaskState::Success,
        "failed" => TaskState::Failed,
        other => {
            return Err(WebError::BadRequest(format!(
                "a task can be marked success or failed, not `{other}`"
            )));
        }
    };
    let (run, _) = crate::pages::load_ti(state, dag_id, run_id, task_id).await?;
    let n = state.store().mark_tasks(run.id, &[task_id.to_string()], to).await?;
    state.wake_scheduler().await;
    Ok(n)
}

/// Back to the page the form was on (same site only), else `fallback`.
fn back(headers: &HeaderMap, fallback: String) -> Redirect {
    let path = headers
        .get(axum::http::header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.split_once("://"))
        .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_string()))
        .filter(|p| p.starts_with('/') && !p.starts_with("//"));
    Redirect::to(&path.unwrap_or(fallback))
}

#[derive(Debug, serde::Deserialize)]
pub struct TriggerForm {
    pub logical_date: Option<String>,
    pub conf: Option<String>,
}

pub async fn trigger_form(
    State(state): State<AppState>,
    Path(dag_id): Path<String>,
    Form(f): Form<TriggerForm>,
) -> WebResult<Redirect> {
    let conf = parse_conf(f.conf.as_deref())?;
    trigger(&state, &dag_id, f.logical_date.as_deref(), conf).await?;
    Ok(Redirect::to(&format!("/dags/{dag_id}")))
}

#[derive(Debug, serde::Deserialize)]
pub struct PauseForm {
    pub paused: bool,
}

pub async fn pause_form(
    State(state): State<AppState>,
    Path(dag_id): Path<String>,
    headers: HeaderMap,
    Form(f): Form<PauseForm>,
) -> WebResult<Redirect> {
    set_paused(&state, &dag_id, f.paused).await?;
    Ok(back(&headers, format!("/dags/{dag_id}")))
}

#[derive(Debug, serde::Deserialize)]
pub struct BackfillForm {
    pub start: String,
    pub end: String,
    pub reprocess: Option<String>,
}

pub async fn backfill_form(
    State(state): State<AppState>,
    Path(dag_id): Path<String>,
    Form(f): Form<BackfillForm>,
) -> WebResult<Redirect> {
    let reprocess = parse_reprocess(f.reprocess.as_deref())?;
    backfill(&state, &dag_id, &f.start, &f.end, reprocess).await?;
    Ok(Redirect::to(&format!("/dags/{dag_id}")))
}

#[derive(Debug, serde::Deserialize)]
pub struct ClearForm {
    pub task_id: Option<String>,
    #[serde(default)]
    pub downstream: bool,
}

pub async fn clear_form(
    State(state): State<AppState>,
    Path((dag_id, run_id)): Path<(String, String)>,
    Form(f): Form<ClearForm>,
) -> WebResult<Redirect> {
    clear(
        &state,
        &dag_id,
        &run_id,
        none_if_blank(f.task_id.as_deref()),
        f.downstream,
    )
    .await?;
    Ok(Redirect::to(&format!("/dags/{dag_id}/runs/{}", seg(&run_id))))
}

#[derive(Debug, serde::Deserialize)]
pub struct MarkForm {
    pub state: String,
}

pub async fn mark_form(
    State(state): State<AppState>,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
    Form(f): Form<MarkForm>,
) -> WebResult<Redirect> {
    mark(&state, &dag_id, &run_id, &task_id, &f.state).await?;
    Ok(Redirect::to(&format!("/dags/{dag_id}/runs/{}", seg(&run_id))))
}
