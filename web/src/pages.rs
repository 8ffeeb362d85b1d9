//! Page handlers: read the store, build a view model, render it.

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use futures_util::Stream;
use jiff::Timestamp;
use updraft_engine::Dag;
use updraft_engine::runtime::{Masker, hide_sensitive_keys, is_sensitive_name};
use updraft_engine::store::{DagRun, RunWindow, StoredDag, TaskInstance, TaskState};

use crate::auth::{Csrf, User};
use crate::graph::{dag_svg, gantt_svg};
use crate::views::*;
use crate::{AppState, WebError, WebResult};

pub async fn index() -> Redirect {
    Redirect::to("/dags")
}

/// Percent-encodes a path segment (run ids hold `:` and `+`).
pub fn seg(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A stored DAG and its parsed current version.
pub async fn load_dag(state: &AppState, dag_id: &str) -> WebResult<(StoredDag, Arc<Dag>)> {
    let stored = state
        .store()
        .get_dag(dag_id)
        .await?
        .ok_or_else(|| WebError::NotFound(format!("no DAG `{dag_id}`")))?;
    let version = stored
        .version_id
        .ok_or_else(|| WebError::NotFound(format!("DAG `{dag_id}` has no loaded version")))?;
    let dag = state.params().cache.get(version).await?;
    Ok((stored, dag))
}

pub async fn load_run(state: &AppState, dag_id: &str, run_id: &str) -> WebResult<DagRun> {
    state
        .store()
        .get_run(dag_id, run_id)
        .await?
        .ok_or_else(|| WebError::NotFound(format!("DAG `{dag_id}` has no run `{run_id}`")))
}

/// Masks known secrets: stored and environment connections and variables.
pub async fn masker(state: &AppState) -> Masker {
    let store = state.store();
    let over = &state.params().overrides;
    let mut conns = store.connections().await.unwrap_or_default();
    let mut vars = store.variables().await.unwrap_or_default();
    conns.extend(over.connections.clone());
    vars.extend(over.variables.clone());
    Masker::new(&conns, &vars)
}

/// When the scheduler creates the next run: after the latest scheduled
/// interval (`last`), as the scheduler computes it.
fn next_run_text(dag: &Dag, paused: bool, last: Option<(Timestamp, Timestamp)>) -> String {
    if paused {
        return "paused".into();
    }
    let last = last.map(|(start, end)| updraft_engine::schedule::DataInterval { start, end });
    match dag
        .timetable
        .next_dagrun_info(last, &dag.restriction(), Timestamp::now())
    {
        Some(r) => when(Some(r.run_after)),
        None => "-".into(),
    }
}

/// `path:line:col: message` -> (file, line, message).
pub fn split_diagnostic(file: &str, d: &str) -> ImportErrorRow {
    let rest = d.strip_prefix(file).and_then(|r| r.strip_prefix(':'));
    if let Some(rest) = rest {
        let mut parts = rest.splitn(3, ':');
        if let (Some(line), Some(_col), Some(msg)) = (parts.next(), parts.next(), parts.next())
            && line.chars().all(|c| c.is_ascii_digit())
        {
            return ImportErrorRow {
                file: file.into(),
                line: line.into(),
                message: msg.trim().into(),
            };
        }
    }
    ImportErrorRow {
        file: file.into(),
        line: "-".into(),
        message: d.into(),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct DagsQuery {
    #[serde(default)]
    pub tag: String,
    #[serde(default)]
    pub q: String,
}

pub async fn dag_rows(state: &AppState, filter: &DagsQuery) -> WebResult<(Vec<DagRow>, Vec<String>)> {
    let store = state.store();
    let dags = store.list_dags().await?;
    let mut dots = store.recent_runs_by_dag(10).await?;
    let last = store.last_scheduled_intervals().await?;
    let mut rows = Vec::with_capacity(dags.len());
    let mut all_tags = BTreeSet::new();
    let q = filter.q.to_lowercase();
    for d in dags {
        let Some(v) = d.version_id else { continue };
        let Ok(dag) = state.params().cache.get(v).await else {
            continue;
        };
        all_tags.extend(dag.tags.iter().cloned());
        if !q.is_empty() && !d.dag_id.to_lowercase().contains(&q) {
            continue;
        }
        if !filter.tag.is_empty() && !dag.tags.contains(&filter.tag) {
            continue;
        }
        let mut runs: Vec<Dot> = dots
            .remove(&d.dag_id)
            .unwrap_or_default()
            .into_iter()
            .map(|r| Dot {
                run_id: r.run_id,
                state: r.state.to_string(),
            })
            .collect();
        runs.reverse();
        rows.push(DagRow {
            next_run: next_run_text(&dag, d.is_paused, last.get(&d.dag_id).copied()),
            schedule: dag.schedule().to_string(),
            description: dag.description.clone().unwrap_or_default(),
            tags: dag.tags.clone(),
            paused: d.is_paused,
            dots: runs,
            dag_id: d.dag_id,
        });
    }
    Ok((rows, all_tags.into_iter().collect()))
}

pub async fn dags(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Extension(csrf): Extension<Csrf>,
    Query(filter): Query<DagsQuery>,
) -> WebResult<Html<String>> {
    let (rows, all_tags) = dag_rows(&state, &filter).await?;
    let import_errors = state
        .store()
        .import_errors()
        .await?
        .into_iter()
        .flat_map(|(file, diags)| diags.into_iter().map(move |d| split_diagnostic(&file, &d)))
        .collect();
    Ok(html(&DagsPage {
        rows,
        all_tags,
        tag: filter.tag,
        q: filter.q,
        import_errors,
        ops: user.operates(),
        user: Some(user),
        csrf: csrf.0,
    }))
}

/// Runs per page of the grid and the run list.
pub const RUNS_PER_PAGE: i64 = 25;

/// Task rows per page of the grid: a DAG of 2,000 tasks would otherwise
/// make 50,000 cells (11 MB of HTML) for 25 runs.
pub const GRID_TASKS_PER_PAGE: usize = 100;

/// Which part of the grid to show: a page of runs, a page of tasks.
#[derive(Debug, Clone, Copy, Default)]
pub struct GridPage {
    pub window: RunWindow,
    pub runs: i64,
    /// The first task row shown (in file order).
    pub tasks_from: usize,
}

/// A page of the grid (runs oldest first, left to right) and the same runs
/// newest first, for the run list beside it.
pub async fn grid_view(state: &AppState, dag: &Dag, at: GridPage) -> WebResult<(GridView, Vec<DagRun>)> {
    let task_count = dag.tasks.len();
    let from = at.tasks_from.min(task_count.saturating_sub(1));
    let shown = &dag.tasks[from..(from + GRID_TASKS_PER_PAGE).min(task_count)];
    let ids: Vec<&str> = shown.iter().map(|t| t.task_id.as_str()).collect();
    let only = (shown.len() < task_count).then_some(ids.as_slice());
    let (page, cells) = state.store().grid_page(&dag.dag_id, at.window, at.runs, only).await?;
    let (older, newer) = (page.older_cursor(), page.newer_cursor());
    let newest_first = page.runs;
    let runs: Vec<&DagRun> = newest_first.iter().rev().collect();
    let col: HashMap<i64, usize> = runs.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
    let mut by_task: HashMap<&str, Vec<Option<(TaskState, u32)>>> = HashMap::new();
    for c in &cells {
        if let Some(&i) = col.get(&c.run_pk) {
            by_task
                .entry(c.task_id.as_str())
                .or_insert_with(|| vec![None; runs.len()])[i] = Some((c.state, c.try_number));
        }
    }
    let run_hrefs: Vec<String> = runs
        .iter()
        .map(|r| format!("/dags/{}/runs/{}", dag.dag_id, seg(&r.run_id)))
        .collect();
    let rows = shown
        .iter()
        .map(|t| GridRow {
            task_id: t.task_id.clone(),
            cells: by_task
                .get(t.task_id.as_str())
                .map(|v| v.as_slice())
                .unwrap_or(&[])
                .iter()
                .chain(std::iter::repeat(&None))
                .take(runs.len())
                .enumerate()
                .map(|(i, c)| match c {
                    Some((s, tries)) => GridCellView {
                        state: s.to_string(),
                        href: format!("{}/tasks/{}", run_hrefs[i], t.task_id),
                        title: format!("{} · {}: {s} (try {tries})", runs[i].run_id, t.task_id),
                    },
                    None => GridCellView {
                        state: "none".into(),
                        href: String::new(),
                        title: String::new(),
                    },
                })
                .collect(),
        })
        .collect();
    let dots = runs
        .iter()
        .map(|r| Dot {
            run_id: r.run_id.clone(),
            state: r.state.to_string(),
        })
        .collect();
    // Links keep the other dimension where it is.
    let href = |window: Option<(&str, Timestamp)>, tasks_from: usize| {
        let mut params = Vec::new();
        if let Some((key, t)) = window {
            params.push(format!("{key}={}", seg(&t.to_string())));
        }
        if tasks_from > 0 {
            params.push(format!("tasks_from={tasks_from}"));
        }
        if params.is_empty() {
            format!("/dags/{}", dag.dag_id)
        } else {
            format!("/dags/{}?{}", dag.dag_id, params.join("&"))
        }
    };
    let here = match at.window {
        RunWindow::Newest => None,
        RunWindow::Before(t) => Some(("before", t)),
        RunWindow::After(t) => Some(("after", t)),
    };
    let next_tasks = from + shown.len();
    let grid = GridView {
        runs: dots,
        run_hrefs,
        rows,
        older: older.map(|t| t.to_string()),
        newer: newer.map(|t| t.to_string()),
        tasks_from: from,
        task_count,
        older_href: older.map(|t| href(Some(("before", t)), from)).unwrap_or_default(),
        newer_href: newer.map(|t| href(Some(("after", t)), from)).unwrap_or_default(),
        newest_href: if at.window == RunWindow::Newest {
            String::new()
        } else {
            href(None, from)
        },
        tasks_label: if shown.len() < task_count {
            format!("tasks {}-{} of {task_count}", from + 1, next_tasks)
        } else {
            String::new()
        },
        prev_tasks_href: if from > 0 {
            href(here, from.saturating_sub(GRID_TASKS_PER_PAGE))
        } else {
            String::new()
        },
        next_tasks_href: if next_tasks < task_count {
            href(here, next_tasks)
        } else {
            String::new()
        },
    };
    Ok((grid, newest_first))
}

/// `before` / `after` (a logical date, RFC 3339): which page of runs.
pub fn run_window(before: Option<&str>, after: Option<&str>) -> WebResult<RunWindow> {
    let parse = |name: &str, v: &str| {
        v.parse::<Timestamp>()
            .map_err(|e| WebError::BadRequest(format!("`{name}`: not a timestamp (RFC 3339): {e}")))
    };
    match (before, after) {
        (Some(_), Some(_)) => Err(WebError::BadRequest("give `before` or `after`, not both".into())),
        (Some(b), None) => Ok(RunWindow::Before(parse("before", b)?)),
        (None, Some(a)) => Ok(RunWindow::After(parse("after", a)?)),
        (None, None) => Ok(RunWindow::Newest),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct DagQuery {
    pub run: Option<String>,
    /// Show the runs older than this logical date.
    pub before: Option<String>,
    /// Show the runs newer than this logical date.
    pub after: Option<String>,
    /// The grid's first task row (wide DAGs show their tasks a page at a
    /// time).
    #[serde(default)]
    pub tasks_from: usize,
}

impl DagQuery {
    fn grid_page(&self) -> WebResult<GridPage> {
        Ok(GridPage {
            window: run_window(self.before.as_deref(), self.after.as_deref())?,
            runs: RUNS_PER_PAGE,
            tasks_from: self.tasks_from,
        })
    }
}

pub async fn dag(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Extension(csrf): Extension<Csrf>,
    Path(dag_id): Path<String>,
    Query(q): Query<DagQuery>,
) -> WebResult<Html<String>> {
    let (stored, dag) = load_dag(&state, &dag_id).await?;
    let at = q.grid_page()?;
    let (grid, runs) = grid_view(&state, &dag, at).await?;
    let newest = match at.window {
        RunWindow::Newest => runs.first().cloned(),
        _ => state.store().list_runs(&dag_id, 1).await?.pop(),
    };
    let last = state.store().last_scheduled_interval(&dag_id).await?;
    let (selected_run, graph_svg) = graph_for(&state, &dag, q.run.as_deref(), newest.as_ref()).await?;
    Ok(html(&DagPage {
        description: dag.description.clone().unwrap_or_default(),
        schedule: dag.schedule().to_string(),
        next_run: next_run_text(&dag, stored.is_paused, last),
        tags: dag.tags.clone(),
        paused: stored.is_paused,
        graph_svg,
        poll: poll_url(&dag_id, &q),
        selected_run,
        grid,
        source: dag.source.to_string(),
        file: stored.file,
        runs: runs.iter().map(RunRow::new).collect(),
        dag_id,
        ops: user.operates(),
        user: Some(user),
        csrf: csrf.0,
    }))
}

/// The graph coloured by a run (`run`, else the newest): (run id, SVG).
async fn graph_for(
    state: &AppState,
    dag: &Dag,
    run: Option<&str>,
    newest: Option<&DagRun>,
) -> WebResult<(String, String)> {
    let selected = match run {
        Some(id) => Some(load_run(state, &dag.dag_id, id).await?),
        None => newest.cloned(),
    };
    let mut states = HashMap::new();
    if let Some(r) = &selected {
        for (task_id, s) in state.store().graph_states(r.id).await? {
            states.insert(task_id, s.to_string());
        }
    }
    let run_href = selected
        .as_ref()
        .map(|r| format!("/dags/{}/runs/{}", dag.dag_id, seg(&r.run_id)));
    let svg = dag_svg(dag, &states, |t| run_href.as_ref().map(|h| format!("{h}/tasks/{t}")));
    Ok((selected.map(|r| r.run_id).unwrap_or_default(), svg))
}

/// The live fragment of the page `q` shows: the same run and page of runs.
fn poll_url(dag_id: &str, q: &DagQuery) -> String {
    let mut params: Vec<String> = [("run", &q.run), ("before", &q.before), ("after", &q.after)]
        .iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| format!("{k}={}", seg(v))))
        .collect();
    if q.tasks_from > 0 {
        params.push(format!("tasks_from={}", q.tasks_from));
    }
    if params.is_empty() {
        format!("/dags/{dag_id}/live")
    } else {
        format!("/dags/{dag_id}/live?{}", params.join("&"))
    }
}

/// The grid and graph alone, for the page's script to refresh in place.
pub async fn live_fragment(
    State(state): State<AppState>,
    Path(dag_id): Path<String>,
    Query(q): Query<DagQuery>,
) -> WebResult<Html<String>> {
    let (_, dag) = load_dag(&state, &dag_id).await?;
    let at = q.grid_page()?;
    let (grid, runs) = grid_view(&state, &dag, at).await?;
    let newest = match at.window {
        RunWindow::Newest => runs.first().cloned(),
        _ => state.store().list_runs(&dag_id, 1).await?.pop(),
    };
    let (selected_run, graph_svg) = graph_for(&state, &dag, q.run.as_deref(), newest.as_ref()).await?;
    Ok(html(&LiveFragment {
        grid,
        graph_svg,
        selected_run,
    }))
}

pub async fn run(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Extension(csrf): Extension<Csrf>,
    Path((dag_id, run_id)): Path<(String, String)>,
) -> WebResult<Html<String>> {
    let run = load_run(&state, &dag_id, &run_id).await?;
    let conf = masker(&state)
        .await
        .redact_json(serde_json::Value::Object(run.conf.clone()));
    Ok(html(&RunPage {
        poll: format!("/dags/{dag_id}/runs/{}/live", seg(&run.run_id)),
        live: run_live(&state, &dag_id, &run, &csrf, user.operates()).await?,
        conf: serde_json::to_string_pretty(&conf).unwrap_or_default(),
        run_id: run.run_id,
        dag_id,
        user: Some(user),
        csrf: csrf.0,
    }))
}

async fn run_live(state: &AppState, dag_id: &str, run: &DagRun, csrf: &Csrf, ops: bool) -> WebResult<RunLive> {
    let tis = state.store().task_instances(run.id).await?;
    Ok(RunLive {
        dag_id: dag_id.to_string(),
        run: RunRow::new(run),
        finished: run.state.is_finished(),
        interval_start: when(Some(run.data_interval_start)),
        interval_end: when(Some(run.data_interval_end)),
        gantt_svg: gantt_svg(&tis),
        tis: tis.iter().map(TiRow::new).collect(),
        ops,
        csrf: csrf.0.clone(),
    })
}

/// A run's changing part alone, for the run page's script to refresh in
/// place.
pub async fn run_live_fragment(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Extension(csrf): Extension<Csrf>,
    Path((dag_id, run_id)): Path<(String, String)>,
) -> WebResult<Html<String>> {
    let run = load_run(&state, &dag_id, &run_id).await?;
    Ok(html(&run_live(&state, &dag_id, &run, &csrf, user.operates()).await?))
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct TryQuery {
    #[serde(rename = "try")]
    pub try_number: Option<u32>,
    #[serde(default)]
    pub after: i64,
}

pub async fn load_ti(state: &AppState, dag_id: &str, run_id: &str, task_id: &str) -> WebResult<(DagRun, TaskInstance)> {
    let run = load_run(state, dag_id, run_id).await?;
    let ti = state
        .store()
        .task_instance(run.id, task_id)
        .await?
        .ok_or_else(|| WebError::NotFound(format!("run `{run_id}` has no task `{task_id}`")))?;
    Ok((run, ti))
}

/// What the selected try's config rendered to, as the worker stored it
/// when the try started (secrets masked there, and again here with today's
/// secrets).
async fn rendered_fields(state: &AppState, ti: &TaskInstance, try_number: u32, masker: &Masker) -> String {
    match state.store().rendered_fields(ti.id, try_number).await {
        Ok(Some(fields)) => serde_json::to_string_pretty(&masker.redact_json(fields)).unwrap_or_default(),
        Ok(None) => "(not rendered yet: this try has not started)".into(),
        Err(e) => format!("(cannot read the rendered fields: {e})"),
    }
}

pub async fn task(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Extension(csrf): Extension<Csrf>,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
    Query(q): Query<TryQuery>,
) -> WebResult<Html<String>> {
    let (run, ti) = load_ti(&state, &dag_id, &run_id, &task_id).await?;
    let tries: Vec<u32> = (1..=ti.try_number).collect();
    let selected_try = q.try_number.unwrap_or(ti.try_number).clamp(1, ti.try_number.max(1));
    let masker = masker(&state).await;
    let lines = state.store().read_logs(ti.id, selected_try, 0, 100_000).await?;
    let last_seq = lines.last().map_or(0, |l| l.seq);
    let live = selected_try >= ti.try_number
        && matches!(
            ti.state,
            TaskState::Running | TaskState::Queued | TaskState::None | TaskState::UpForRetry
        );
    let operator = match state.params().cache.get(run.version_id).await {
        Ok(dag) => dag.task(&task_id).map(|t| t.operator.clone()).unwrap_or_default(),
        Err(_) => String::new(),
    };
    Ok(html(&TaskPage {
        rendered: rendered_fields(&state, &ti, selected_try, &masker).await,
        output: ti
            .output
            .clone()
            .map(|o| serde_json::to_string_pretty(&masker.mask_json(o)).unwrap_or_default())
            .unwrap_or_else(|| "-".into()),
        error: ti.error.as_deref().map(|e| masker.mask(e)).unwrap_or_default(),
        lines: lines
            .iter()
            .map(|l| LogLineView {
                at: l.at.strftime("%H:%M:%S").to_string(),
                stream: l.stream.clone(),
                line: masker.mask(&l.line),
            })
            .collect(),
        ti: TiRow::new(&ti),
        tries,
        selected_try,
        last_seq,
        live,
        operator,
        dag_id,
        run_id,
        task_id,
        user: Some(user),
        csrf: csrf.0,
    }))
}

/// Server-sent events: each new log line as a `line` event (data: JSON
/// `{seq, at, stream, line}`), then `end` once the try is over and its
/// log read to the end.
pub async fn log_stream(
    State(state): State<AppState>,
    Extension(client): Extension<crate::auth::Client>,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
    Query(q): Query<TryQuery>,
) -> WebResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let max = state.params().limits.sse_per_client;
    let slot = state.streams().take(client.0, max).ok_or_else(|| WebError::TooMany {
        message: format!("too many live logs open from your address (at most {max}): close some pages"),
        retry_after: std::time::Duration::from_secs(5),
    })?;
    let (_, ti) = load_ti(&state, &dag_id, &run_id, &task_id).await?;
    let masker = Arc::new(masker(&state).await);
    let try_number = q.try_number.unwrap_or(ti.try_number.max(1));
    struct Follow {
        state: AppState,
        masker: Arc<Masker>,
        run_pk: i64,
        ti_id: i64,
        task_id: String,
        try_number: u32,
        after: i64,
        pending: std::collections::VecDeque<Event>,
        done: bool,
        _slot: crate::streams::StreamSlot,
    }
    let start = Follow {
        state,
        masker,
        run_pk: ti.run_pk,
        ti_id: ti.id,
        task_id,
        try_number,
        after: q.after,
        pending: Default::default(),
        done: false,
        _slot: slot,
    };
    let stream = futures_util::stream::unfold(start, |mut f| async move {
        loop {
            if let Some(e) = f.pending.pop_front() {
                return Some((Ok(e), f));
            }
            if f.done {
                return None;
            }
            // Read the state before the lines: a try that ended has
            // written all its lines by then.
            let finished = match f.state.store().task_instance(f.run_pk, &f.task_id).await {
                Ok(Some(t)) => {
                    t.try_number > f.try_number
                        || !matches!(
                            t.state,
                            TaskState::Running | TaskState::Queued | TaskState::None | TaskState::UpForRetry
                        )
                }
                _ => true,
            };
            let lines = f
                .state
                .store()
                .read_logs(f.ti_id, f.try_number, f.after, 1000)
                .await
                .unwrap_or_default();
            for l in &lines {
                f.after = l.seq;
                let data = serde_json::json!({
                    "seq": l.seq,
                    "at": l.at.strftime("%H:%M:%S").to_string(),
                    "stream": l.stream,
                    "line": f.masker.mask(&l.line),
                });
                f.pending
                    .push_back(Event::default().event("line").data(data.to_string()));
            }
            if finished && lines.len() < 1000 {
                f.pending.push_back(Event::default().event("end").data("end"));
                f.done = true;
            }
            if f.pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

pub async fn connections(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Extension(csrf): Extension<Csrf>,
) -> Response {
    let (connections, error) = match state.store().connections().await {
        Ok(c) => (c, String::new()),
        Err(e) => (Default::default(), e.to_string()),
    };
    let mut all = connections;
    all.extend(state.params().overrides.connections.clone());
    let rows = all
        .into_iter()
        .map(|(id, c)| {
            let extra = hide_sensitive_keys(serde_json::Value::Object(c.extra_json()));
            ConnRow {
                conn_id: id,
                conn_type: c.conn_type.unwrap_or_default(),
                host: c.host.unwrap_or_default(),
                login: c.login.unwrap_or_default(),
                password: if c.password.is_some() {
                    "***".into()
                } else {
                    String::new()
                },
                port: c.port.map(|p| p.to_string()).unwrap_or_default(),
                schema: c.schema.unwrap_or_default(),
                extra: match extra {
                    serde_json::Value::Object(m) if m.is_empty() => String::new(),
                    other => other.to_string(),
                },
            }
        })
        .collect();
    html(&SecretsPage {
        title: "Connections".into(),
        error,
        connections: rows,
        variables: Vec::new(),
        user: Some(user),
        csrf: csrf.0,
    })
    .into_response()
}

pub async fn variables(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Extension(csrf): Extension<Csrf>,
) -> Response {
    let (vars, error) = match state.store().variables().await {
        Ok(v) => (v, String::new()),
        Err(e) => (Default::default(), e.to_string()),
    };
    let mut all = vars;
    all.extend(state.params().overrides.variables.clone());
    let masker = masker(&state).await;
    let variables = all
        .into_iter()
        .map(|(k, v)| {
            let shown = if is_sensitive_name(&k) {
                "***".into()
            } else {
                masker.mask(&v)
            };
            (k, shown)
        })
        .collect();
    html(&SecretsPage {
        title: "Variables".into(),
        error,
        connections: Vec::new(),
        variables,
        user: Some(user),
        csrf: csrf.0,
    })
    .into_response()
}
