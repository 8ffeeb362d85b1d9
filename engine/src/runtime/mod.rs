//! The runtime: the DAG processor (files -> versions in the store), the
//! scheduler (runs and task states), and workers (execution). They share
//! nothing but the store, and wake each other through [`Signals`]: an
//! in-process notification when they live in one process, and polling as a
//! slow safety net otherwise.

mod active;
mod backfill;
mod bridge;
mod cache;
mod host_paths;
mod limits;
mod local;
mod masking;
mod processor;
mod runs;
mod scheduler;
pub mod trigger;
mod view;
mod worker;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

pub use backfill::{Reprocess, Step, apply_step, plan_backfill};
pub use bridge::{SCHEDULER_CHANNEL, WORKERS_CHANNEL, payload, spawn_listener};
pub use cache::DagCache;
pub use limits::{Limits, LogLimits};
pub use local::{Local, LocalOptions};
pub use masking::{Masker, hide_sensitive_keys, is_sensitive_name};
pub use processor::{Current, DagProcessor, ProcessorReport};
pub use runs::{check_conf, create_run};
pub use scheduler::{Scheduler, Scope};
pub use worker::{Worker, WorkerConfig};

/// In-process wake-ups between the scheduler and workers.
#[derive(Debug, Clone)]
pub struct Signals {
    /// Tells this set of signals apart in cross-process notifications, so a
    /// process skips what it sent itself.
    pub id: String,
    /// Wakes the scheduler; what it should look at is in `pending`.
    pub(crate) scheduler: Arc<Notify>,
    /// Tasks were queued.
    pub workers: Arc<Notify>,
    /// What changed since the scheduler last looked: it advances just
    /// those runs instead of every running run.
    pending: Arc<std::sync::Mutex<Pending>>,
    /// How many runs this process's scheduler has ended: waiting on it
    /// replaces polling the store for the end of a run.
    runs_ended: Arc<tokio::sync::watch::Sender<u64>>,
}

/// A task instance's new state, as a worker in this process recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskEvent {
    pub run_pk: i64,
    pub ti_id: i64,
    pub state: crate::store::TaskState,
}

/// Changes waiting for the scheduler.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// Exact state changes, applied to the scheduler's picture of the run.
    pub events: Vec<TaskEvent>,
    /// Runs changed in ways not described exactly (another process, a
    /// user's action): read again from the store.
    pub runs: std::collections::HashSet<i64>,
    /// DAGs one of whose runs this process ended: a slot under their
    /// `max_active_runs` is free, so a queued run may start or a due one
    /// be created. Only those DAGs are looked at, not every running run.
    pub dags: std::collections::BTreeSet<String>,
    /// Look at everything: a run was created, DAGs were reloaded.
    pub full: bool,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.runs.is_empty() && self.dags.is_empty() && !self.full
    }
}

impl Default for Signals {
    fn default() -> Self {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Signals {
            id: format!("{}.{n}", std::process::id()),
            scheduler: Arc::default(),
            workers: Arc::default(),
            pending: Arc::default(),
            runs_ended: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }
}

impl Signals {
    /// Something in run `run_pk` changed (a task ended in another process,
    /// a task was cleared or marked): the scheduler reads it again.
    pub fn task_ended(&self, run_pk: i64) {
        self.pending.lock().expect("signals lock").runs.insert(run_pk);
        self.scheduler.notify_one();
    }

    /// Something not tied to one run changed (a run was created, DAGs
    /// were reloaded, tries were reaped): the scheduler makes a full pass.
    /// (A run that ended here frees a slot: [`Signals::slot_freed`].)
    pub fn wake_all(&self) {
        self.pending.lock().expect("signals lock").full = true;
        self.scheduler.notify_one();
    }

    /// A worker in this process recorded a task's new state.
    pub fn task_state(&self, event: TaskEvent) {
        self.task_states([event]);
    }

    /// Several exact changes, seen by the scheduler together (a try that
    /// ended and the downstream task its worker claimed at once).
    pub fn task_states(&self, events: impl IntoIterator<Item = TaskEvent>) {
        self.pending.lock().expect("signals lock").events.extend(events);
        self.scheduler.notify_one();
    }

    /// Changes each time this process's scheduler ends a run (a run ended
    /// by another process is not seen here).
    pub fn runs_ended(&self) -> tokio::sync::watch::Receiver<u64> {
        self.runs_ended.subscribe()
    }

    pub(crate) fn run_ended(&self) {
        self.runs_ended.send_modify(|n| *n += 1);
    }

    /// A run of `dag_id` ended here: the scheduler looks at that DAG's
    /// queued and due runs (a slot under `max_active_runs` is free).
    pub(crate) fn slot_freed(&self, dag_id: &str) {
        self.pending
            .lock()
            .expect("signals lock")
            .dags
            .insert(dag_id.to_string());
        self.scheduler.notify_one();
    }

    pub(crate) fn take_pending(&self) -> Pending {
        std::mem::take(&mut *self.pending.lock().expect("signals lock"))
    }
}

/// Connections and variables given outside the store (Airflow's
/// `AIRFLOW_CONN_*` / `AIRFLOW_VAR_*`, here `UPDRAFT_CONN_*` /
/// `UPDRAFT_VAR_*`); they win over stored ones.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub connections: std::collections::BTreeMap<String, crate::connection::Connection>,
    pub variables: std::collections::BTreeMap<String, String>,
}

/// Timing shared by the runtime's loops.
#[derive(Debug, Clone)]
pub struct Timing {
    /// How often workers prove they are alive.
    pub heartbeat: Duration,
    /// A worker silent this long has its running tries reaped.
    pub lost_after: Duration,
    /// The longest the scheduler sleeps without an event.
    pub scheduler_tick: Duration,
    /// How often a worker without events looks for queued work.
    pub worker_poll: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            heartbeat: Duration::from_secs(1),
            lost_after: Duration::from_secs(10),
            scheduler_tick: Duration::from_secs(2),
            worker_poll: Duration::from_millis(250),
        }
    }
}

/// Errors of the runtime loops.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("DAG version {version_id} ({dag_id}) no longer loads: {message}")]
    BadVersion {
        version_id: i64,
        dag_id: String,
        message: String,
    },
    /// A run's conf set keys the DAG does not declare in `params`.
    #[error("{}", runs::undeclared_conf_message(dag_id, keys, declared))]
    UndeclaredConf {
        dag_id: String,
        keys: Vec<String>,
        declared: Vec<String>,
    },
}

/// This machine's name, as workers register it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// A registered process on this machine whose pid is gone died without
/// deregistering (kill -9, a crash): no need to wait for its heartbeat to
/// go stale.
pub fn died_here(w: &crate::store::WorkerInfo) -> bool {
    w.hostname == hostname() && !std::path::Path::new(&format!("/proc/{}", w.pid)).exists()
}
