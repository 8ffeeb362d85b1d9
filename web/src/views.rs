//! View models: what each template shows, already formatted, and the
//! helpers that format it.

use askama::Template;
use axum::response::Html;
use jiff::Timestamp;

use crate::auth::User;

/// Renders a template; a template error is logged and shown as a plain
/// message (it is a bug, never user data).
pub fn html(t: &impl Template) -> Html<String> {
    match t.render() {
        Ok(s) => Html(s),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            Html("<h1>500</h1><p>the page failed to render</p>".into())
        }
    }
}

pub fn when(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "-".into(), |t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
}

pub fn took(start: Option<Timestamp>, end: Option<Timestamp>) -> String {
    let (Some(s), end) = (start, end) else {
        return "-".into();
    };
    let secs = (end.unwrap_or_else(Timestamp::now).as_millisecond() - s.as_millisecond()).max(0) as f64 / 1000.0;
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else if secs < 3600.0 {
        format!("{}m {}s", (secs / 60.0) as u64, secs as u64 % 60)
    } else {
        format!("{}h {}m", (secs / 3600.0) as u64, (secs as u64 % 3600) / 60)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub status: u16,
    pub message: String,
    pub user: Option<User>,
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub csrf: String,
    pub next: String,
    pub error: Option<String>,
    pub user: Option<User>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Dot {
    pub run_id: String,
    pub state: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DagRow {
    pub dag_id: String,
    pub description: String,
    pub schedule: String,
    pub next_run: String,
    pub tags: Vec<String>,
    pub paused: bool,
    pub dots: Vec<Dot>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportErrorRow {
    pub file: String,
    pub line: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "dags.html")]
pub struct DagsPage {
    pub rows: Vec<DagRow>,
    pub all_tags: Vec<String>,
    pub tag: String,
    pub q: String,
    pub import_errors: Vec<ImportErrorRow>,
    /// The user may pause and unpause (else the state shows as text).
    pub ops: bool,
    pub user: Option<User>,
    pub csrf: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RunRow {
    pub run_id: String,
    pub run_type: String,
    pub state: String,
    pub logical_date: String,
    pub start: String,
    pub end: String,
    pub duration: String,
}

impl RunRow {
    pub fn new(r: &updraft_engine::store::DagRun) -> Self {
        RunRow {
            run_id: r.run_id.clone(),
            run_type: r.run_type.to_string(),
            state: r.state.to_string(),
            logical_date: when(Some(r.logical_date)),
            start: when(r.start_date),
            end: when(r.end_date),
            duration: took(r.start_date, r.end_date),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct GridCellView {
    pub state: String,
    pub href: String,
    pub title: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct GridRow {
    pub task_id: String,
    pub cells: Vec<GridCellView>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GridView {
    /// Oldest first, left to right (as Airflow's grid).
    pub runs: Vec<Dot>,
    pub run_hrefs: Vec<String>,
    pub rows: Vec<GridRow>,
    /// The cursor of the older page (the oldest run's logical date), if
    /// there are older runs.
    pub older: Option<String>,
    /// The cursor of the newer page, if there are newer runs.
    pub newer: Option<String>,
    /// The first task row shown, and how many tasks the DAG has (rows are
    /// shown a page at a time).
    pub tasks_from: usize,
    pub task_count: usize,
    /// The DAG page's links to those pages, and to the newest (empty when
    /// there is none, or this is it).
    #[serde(skip)]
    pub older_href: String,
    #[serde(skip)]
    pub newer_href: String,
    #[serde(skip)]
    pub newest_href: String,
    /// "tasks 101-200 of 2000" when not every task is shown, and the links
    /// to the tasks before and after.
    #[serde(skip)]
    pub tasks_label: String,
    #[serde(skip)]
    pub prev_tasks_href: String,
    #[serde(skip)]
    pub next_tasks_href: String,
}

#[derive(Template)]
#[template(path = "live.html")]
pub struct LiveFragment {
    pub grid: GridView,
    pub graph_svg: String,
    pub selected_run: String,
}

#[derive(Template)]
#[template(path = "dag.html")]
pub struct DagPage {
    pub dag_id: String,
    pub description: String,
    pub schedule: String,
    pub next_run: String,
    pub tags: Vec<String>,
    pub paused: bool,
    pub graph_svg: String,
    pub poll: String,
    pub selected_run: String,
    pub grid: GridView,
    pub source: String,
    pub file: String,
    pub runs: Vec<RunRow>,
    /// The user may trigger, pause and backfill (else no such buttons).
    pub ops: bool,
    pub user: Option<User>,
    pub csrf: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TiRow {
    pub task_id: String,
    pub state: String,
    pub try_number: u32,
    pub max_tries: u32,
    pub start: String,
    pub end: String,
    pub duration: String,
}

impl TiRow {
    pub fn new(t: &updraft_engine::store::TaskInstance) -> Self {
        TiRow {
            task_id: t.task_id.clone(),
            state: t.state.to_string(),
            try_number: t.try_number,
            max_tries: t.max_tries,
            start: when(t.start_date),
            end: when(t.end_date),
            duration: took(t.start_date, t.end_date),
        }
    }
}

#[derive(Template)]
#[template(path = "run.html")]
pub struct RunPage {
    pub dag_id: String,
    pub run_id: String,
    pub live: RunLive,
    /// Where the page's script reads `live` again while the run is active.
    pub poll: String,
    pub conf: String,
    pub user: Option<User>,
    pub csrf: String,
}

/// The part of a run's page that changes while it runs: its state and
/// times, the task table, the timeline. Served alone for the page's script.
#[derive(Template)]
#[template(path = "run_live.html")]
pub struct RunLive {
    pub dag_id: String,
    pub run: RunRow,
    /// The run ended: the script stops reading it again.
    pub finished: bool,
    pub interval_start: String,
    pub interval_end: String,
    pub tis: Vec<TiRow>,
    pub gantt_svg: String,
    /// The user may clear and mark (else no such buttons).
    pub ops: bool,
    pub csrf: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LogLineView {
    pub at: String,
    pub stream: String,
    pub line: String,
}

#[derive(Template)]
#[template(path = "task.html")]
pub struct TaskPage {
    pub dag_id: String,
    pub run_id: String,
    pub task_id: String,
    pub operator: String,
    pub ti: TiRow,
    pub tries: Vec<u32>,
    pub selected_try: u32,
    pub lines: Vec<LogLineView>,
    pub last_seq: i64,
    pub live: bool,
    pub rendered: String,
    pub output: String,
    pub error: String,
    pub user: Option<User>,
    pub csrf: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnRow {
    pub conn_id: String,
    pub conn_type: String,
    pub host: String,
    pub login: String,
    pub password: String,
    pub port: String,
    pub schema: String,
    pub extra: String,
}

#[derive(Template)]
#[template(path = "secrets.html")]
pub struct SecretsPage {
    pub title: String,
    pub error: String,
    pub connections: Vec<ConnRow>,
    pub variables: Vec<(String, String)>,
    pub user: Option<User>,
    pub csrf: String,
}
