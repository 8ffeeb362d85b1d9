//! The runtime: the DAG processor (files -> versions in the store), the
//! scheduler (runs and task states), and workers (execution). They share
//! nothing but the store, and wake each other through [`Signals`]: an
//! in-process notification when they live in one process, and polling as a
//! slow safety net otherwise.

mod backfill;
mod bridge;
mod cache;
mod local;
mod masking;
mod processor;
mod runs;
mod scheduler;
pub mod trigger;
mod worker;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

pub use backfill::{Reprocess, Step, apply_step, plan_backfill};
pub use bridge::{SCHEDULER_CHANNEL, WORKERS_CHANNEL, payload, spawn_listener};
pub use cache::DagCache;
pub use local::{Local, LocalOptions};
pub use masking::{Masker, is_sensitive_name};
pub use processor::{Current, DagProcessor, ProcessorReport};
pub use runs::create_run;
pub use scheduler::{Scheduler, Scope};
pub use worker::{Worker, WorkerConfig};

/// In-process wake-ups between the scheduler and workers.
#[derive(Debug, Clone)]
pub struct Signals {
    /// Tells this set of signals apart in cross-process notifications, so a
    /// process skips what it sent itself.
    pub id: String,
    /// Something the scheduler should look at: a task ended, a run was
    /// created.
    pub scheduler: Arc<Notify>,
    /// Tasks were queued.
    pub workers: Arc<Notify>,
    /// Runs in which a task ended since the scheduler last looked: it
    /// advances just those instead of every running run.
    dirty: Arc<std::sync::Mutex<std::collections::HashSet<i64>>>,
}

impl Default for Signals {
    fn default() -> Self {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Signals {
            id: format!("{}.{n}", std::process::id()),
            scheduler: Arc::default(),
            workers: Arc::default(),
            dirty: Arc::default(),
        }
    }
}

impl Signals {
    /// A task of run `run_pk` ended.
    pub fn task_ended(&self, run_pk: i64) {
        self.dirty.lock().expect("signals lock").insert(run_pk);
        self.scheduler.notify_one();
    }

    fn take_dirty(&self) -> std::collections::HashSet<i64> {
        std::mem::take(&mut *self.dirty.lock().expect("signals lock"))
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
}

/// This machine's name, as workers register it.
pub(crate) fn hostname() -> String {
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
