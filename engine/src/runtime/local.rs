//! Everything in one process: the DAG processor, a scheduler and a worker
//! sharing in-process signals (what `standalone` and `dags test` run).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{DagCache, DagProcessor, RuntimeError, Scheduler, Signals, Timing, Worker, WorkerConfig};
use crate::operator::Registry;
use crate::store::Store;

/// What to start.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    pub dags_folder: PathBuf,
    pub slots: u32,
    pub paused_at_creation: bool,
    pub run_scheduler: bool,
    pub run_worker: bool,
    pub timing: Timing,
    /// How often the DAGs folder is checked for changes.
    pub reload_every: Duration,
    pub overrides: super::Overrides,
    /// What the scheduler (and worker) look after.
    pub scope: super::Scope,
}

/// A running set of loops; stop it with [`Local::shutdown`].
pub struct Local {
    pub store: Store,
    pub processor: Arc<DagProcessor>,
    pub cache: Arc<DagCache>,
    pub signals: Signals,
    pub worker_id: Option<String>,
    stop: CancellationToken,
    handles: Vec<JoinHandle<()>>,
}

impl Local {
    /// Loads the DAGs once (so errors show at once), then starts the loops.
    pub async fn start(store: Store, registry: Registry, opts: LocalOptions) -> Result<Local, RuntimeError> {
        Self::start_with(store, registry, opts, &super::Limits::default()).await
    }

    /// [`Local::start`] with the installation's limits.
    pub async fn start_with(
        store: Store,
        registry: Registry,
        opts: LocalOptions,
        limits: &super::Limits,
    ) -> Result<Local, RuntimeError> {
        let cache = Arc::new(DagCache::new(store.clone(), registry).with_limits(limits.dags));
        let processor = Arc::new(DagProcessor::new(
            opts.dags_folder.clone(),
            store.clone(),
            cache.clone(),
            opts.paused_at_creation,
        ));
        let report = processor.refresh(true).await?;
        for (file, errors) in &report.errors {
            tracing::warn!(%file, "DAG file failed to load:\n{}", errors.join("\n"));
        }
        let signals = Signals::default();
        let stop = CancellationToken::new();
        let mut handles = Vec::new();
        if let Some(h) = super::spawn_listener(store.clone(), signals.clone(), stop.clone()) {
            handles.push(h);
        }
        {
            let p = processor.clone();
            let s = stop.clone();
            let sig = signals.clone();
            let every = opts.reload_every;
            handles.push(tokio::spawn(async move {
                p.run(every, s, |r| {
                    tracing::info!(dags = r.dags, broken = r.errors.len(), "DAGs reloaded");
                    sig.wake_all();
                })
                .await
            }));
        }
        if opts.run_scheduler {
            let sched = Scheduler::scoped(
                opts.scope.clone(),
                store.clone(),
                processor.clone(),
                cache.clone(),
                signals.clone(),
                opts.timing.clone(),
            )
            .with_log_retention(limits.log_retention);
            let s = stop.clone();
            handles.push(tokio::spawn(async move { sched.run(s).await }));
        }
        let mut worker_id = None;
        if opts.run_worker {
            let mut config = WorkerConfig::new(opts.slots).with_limits(limits);
            config.overrides = opts.overrides.clone();
            config.only_dag = opts.scope.only_dag.clone();
            let worker = Arc::new(Worker::new(
                store.clone(),
                cache.clone(),
                signals.clone(),
                opts.timing.clone(),
                config,
            ));
            worker_id = Some(worker.id().to_string());
            let s = stop.clone();
            handles.push(tokio::spawn(async move {
                if let Err(e) = worker.run(s).await {
                    tracing::error!(error = %e, "worker stopped with an error");
                }
            }));
        }
        Ok(Local {
            store,
            processor,
            cache,
            signals,
            worker_id,
            stop,
            handles,
        })
    }

    /// Stops claiming, lets running tasks finish (within the worker's grace
    /// period), and waits for every loop to end.
    pub async fn shutdown(self) {
        self.stop.cancel();
        for h in self.handles {
            let _ = h.await;
        }
    }
}
