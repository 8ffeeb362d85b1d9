//! The DAG model: what a validated YAML file becomes.

mod bag;
mod fields;
mod graph;
mod load;
mod trigger_rule;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::{Timestamp, tz::TimeZone};

pub use bag::{DagBag, DagLimits, dag_files, load_paths};
pub use graph::DagGraph;
pub use load::{DAG_FIELDS, DEFAULT_ARGS_FIELDS, TASK_FIELDS, load_dag, load_dag_with};
pub use trigger_rule::TriggerRule;

use crate::schedule::{DagRunInfo, Schedule, TimeRestriction, Timetable};
use crate::yaml::{Node, Span};

/// A validated DAG.
#[derive(Debug, Clone)]
pub struct Dag {
    pub dag_id: String,
    pub description: Option<String>,
    /// The file it was loaded from, and its text (the version a run is
    /// created from).
    pub file: PathBuf,
    pub source: Arc<str>,
    pub timetable: Timetable,
    /// The time zone's name as written (`UTC` by default).
    pub timezone_name: String,
    pub start_date: Option<Timestamp>,
    pub end_date: Option<Timestamp>,
    pub catchup: bool,
    pub max_active_runs: u32,
    pub max_active_tasks: u32,
    pub tags: Vec<String>,
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Whether a run's conf may set keys not declared in `params` (off by
    /// default: conf values reach templates, so only declared ones may).
    pub allow_undeclared_conf: bool,
    /// Tasks in file order; `graph` indexes the same order.
    pub tasks: Vec<Task>,
    pub graph: DagGraph,
    /// Task id -> index into `tasks` (a 10,000-task DAG is looked up per
    /// task by workers and the scheduler).
    index: std::collections::HashMap<String, usize>,
}

/// One task of a DAG.
#[derive(Debug, Clone)]
pub struct Task {
    pub task_id: String,
    pub operator: String,
    /// The operator's own fields, unrendered (strings are templates).
    pub config: Node,
    /// Indices into [`Dag::tasks`] of the direct upstream tasks.
    pub upstream: Vec<usize>,
    pub trigger_rule: TriggerRule,
    pub retry: RetryPolicy,
    pub execution_timeout: Option<Duration>,
    pub description: Option<String>,
    pub span: Span,
    /// Upstream outputs the task's templates read.
    pub reads_outputs: OutputReads,
}

/// Which upstream outputs a task's templates read, found when it loads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum OutputReads {
    #[default]
    None,
    /// `outputs.X` for these task ids.
    Tasks(Vec<String>),
    /// `outputs` used as a whole (`outputs[name]`, a loop): all upstream.
    All,
}

/// How a failed task is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub retries: u32,
    pub retry_delay: Duration,
    pub exponential_backoff: bool,
    pub max_retry_delay: Option<Duration>,
}

impl Default for RetryPolicy {
    /// Airflow's defaults: no retries, five minutes apart.
    fn default() -> Self {
        RetryPolicy {
            retries: 0,
            retry_delay: Duration::from_secs(300),
            exponential_backoff: false,
            max_retry_delay: None,
        }
    }
}

impl RetryPolicy {
    /// The wait before try `try_number + 1`, after try `try_number` (1-based)
    /// failed: `retry_delay`, or with exponential backoff `retry_delay *
    /// 2^(try_number - 1)`, capped by `max_retry_delay` (24 hours if unset).
    pub fn delay_after(&self, try_number: u32) -> Duration {
        if !self.exponential_backoff {
            return self.retry_delay;
        }
        let cap = self.max_retry_delay.unwrap_or(Duration::from_secs(86_400));
        let factor = 2u32.saturating_pow(try_number.saturating_sub(1));
        self.retry_delay.saturating_mul(factor).min(cap)
    }
}

impl Dag {
    pub fn task(&self, task_id: &str) -> Option<&Task> {
        self.task_index(task_id).map(|i| &self.tasks[i])
    }

    pub fn task_index(&self, task_id: &str) -> Option<usize> {
        self.index.get(task_id).copied()
    }

    pub fn tz(&self) -> &TimeZone {
        &self.timetable.tz
    }

    pub fn schedule(&self) -> &Schedule {
        &self.timetable.schedule
    }

    /// The DAG's own bounds for scheduling.
    pub fn restriction(&self) -> TimeRestriction {
        TimeRestriction {
            earliest: self.start_date,
            latest: self.end_date,
            catchup: self.catchup,
        }
    }

    /// The first run the scheduler would create given no earlier runs.
    pub fn next_run(&self, now: Timestamp) -> Option<DagRunInfo> {
        self.timetable.next_dagrun_info(None, &self.restriction(), now)
    }

    /// The runs whose logical date lies in `[start, end]`, clamped to
    /// `start_date` and `end_date`: what a backfill of that range creates.
    pub fn plan(&self, start: Timestamp, end: Timestamp) -> Vec<DagRunInfo> {
        let earliest = self.start_date.map_or(start, |s| s.max(start));
        let latest = self.end_date.map_or(end, |e| e.min(end));
        match self.schedule() {
            Schedule::Manual => Vec::new(),
            Schedule::Once => self
                .start_date
                .filter(|s| *s >= start && *s <= latest)
                .map(|s| {
                    self.timetable.next_dagrun_info(
                        None,
                        &TimeRestriction {
                            earliest: Some(s),
                            latest: Some(latest),
                            catchup: true,
                        },
                        s,
                    )
                })
                .into_iter()
                .flatten()
                .collect(),
            Schedule::Cron { .. } => self.timetable.plan(earliest, latest).collect(),
        }
    }
}
