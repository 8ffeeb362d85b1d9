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
use updraft_engine::store::{DagRun, StoredDag, TaskInstance, TaskState};

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

pub async fn grid_view(state: &AppState, dag: &Dag) -> WebResult<GridView> {
    let (mut runs, cells) = state.store().grid(&dag.dag_id, 25).await?;
    runs.reverse();
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
    let rows = dag
        .tasks
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
    Ok(GridView {
        runs: dots,
        run_hrefs,
        rows,
    })
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct DagQuery {
    pub run: Option<String>,
}

pub async fn dag(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Extension(csrf): Extension<Csrf>,
    Path(dag_id): Path<String>,
    Query(q): Query<DagQuery>,
) -> WebResult<Html<String>> {
    let (stored, dag) = load_dag(&state, &dag_id).await?;
    let runs = state.store().list_runs(&dag_id, 25).await?;
    let last = state.store().last_scheduled_interval(&dag_id).await?;
    let (selected_run, graph_svg) = graph_for(&state, &dag, q.run.as_deref(), runs.first()).await?;
    Ok(html(&DagPage {
        description: dag.description.clone().unwrap_or_default(),
        schedule: dag.schedule().to_string(),
        next_run: next_run_text(&dag, stored.is_paused, last),
        tags: dag.tags.clone(),
        paused: stored.is_paused,
        graph_svg,
        poll: poll_url(&dag_id, q.run.as_deref()),
        selected_run,
        grid: grid_view(&state, &dag).await?,
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
        for t in state.store().task_instances(r.id).await? {
            states.insert(t.task_id, t.state.to_string());
        }
    }
    let run_href = selected
        .as_ref()
        .map(|r| format!("/dags/{}/runs/{}", dag.dag_id, seg(&r.run_id)));
    let svg = dag_svg(dag, &states, |t| run_href.as_ref().map(|h| format!("{h}/tasks/{t}")));
    Ok((selected.map(|r| r.run_id).unwrap_or_default(), svg))
}

fn poll_url(dag_id: &str, run: Option<&str>) -> String {
    match run {
        Some(r) => format!("/dags/{dag_id}/live?run={}", seg(r)),
        None => format!("/dags/{dag_id}/live"),
    }
}

/// The grid and graph alone, for the page's script to refresh in place.
pub async fn live_fragment(
    State(state): State<AppState>,
    Path(dag_id): Path<String>,
    Query(q): Query<DagQuery>,
) -> WebResult<Html<String>> {
    let (_, dag) = load_dag(&state, &dag_id).await?;
    let newest = state.store().list_runs(&dag_id, 1).await?;
    let (selected_run, graph_svg) = graph_for(&state, &dag, q.run.as_deref(), newest.first()).await?;
    Ok(html(&LiveFragment {
        grid: grid_view(&state, &dag).await?,
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
