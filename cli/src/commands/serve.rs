//! `standalone`, `scheduler` and `worker`: the long-running processes.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio_util::sync::CancellationToken;
use updraft_engine::runtime::{DagCache, Local, LocalOptions, Signals, Timing, Worker, WorkerConfig, spawn_listener};
use updraft_engine::store::redact;

use crate::settings::Settings;
use crate::store::{open, runtime};

/// Resolves on Ctrl-C or SIGTERM.
async fn terminated() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn options(settings: &Settings, slots: u32, scheduler: bool, worker: bool) -> LocalOptions {
    LocalOptions {
        dags_folder: settings.dags_folder.clone(),
        slots,
        paused_at_creation: settings.dags_paused_at_creation,
        run_scheduler: scheduler,
        run_worker: worker,
        timing: Timing::default(),
        reload_every: Duration::from_secs(2),
        overrides: settings.overrides.clone(),
        scope: Default::default(),
    }
}

async fn serve(settings: &Settings, opts: LocalOptions, what: &str) -> Result<ExitCode> {
    let store = open(settings).await?;
    let local = Local::start(store, updraft_operators::registry(), opts).await?;
    let current = local.processor.current();
    let paused = local.store.list_dags().await?.iter().filter(|d| d.is_paused).count();
    eprintln!(
        "updraft {what}: {} DAG(s) from {} ({paused} paused), state in {}",
        current.len(),
        settings.dags_folder.display(),
        redact(&settings.database_url)
    );
    terminated().await;
    eprintln!("updraft {what}: stopping; running tasks get up to 30 s to finish");
    local.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

pub fn standalone(settings: &Settings, bind: &str, slots: u32) -> Result<ExitCode> {
    let _ = bind; // The web UI binds here once it exists.
    runtime()?.block_on(serve(settings, options(settings, slots, true, true), "standalone"))
}

pub fn scheduler(settings: &Settings) -> Result<ExitCode> {
    runtime()?.block_on(serve(settings, options(settings, 1, true, false), "scheduler"))
}

pub fn worker(settings: &Settings, slots: u32) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let store = open(settings).await?;
        let cache = Arc::new(DagCache::new(store.clone(), updraft_operators::registry()));
        let signals = Signals::default();
        let config = WorkerConfig::new(slots).with_overrides(settings.overrides.clone());
        let worker = Arc::new(Worker::new(
            store.clone(),
            cache,
            signals.clone(),
            Timing::default(),
            config,
        ));
        eprintln!(
            "updraft worker {}: {slots} slot(s), state in {}",
            worker.id(),
            redact(&settings.database_url)
        );
        let stop = CancellationToken::new();
        // On Postgres, wake as soon as a scheduler queues work.
        let listener = spawn_listener(store, signals, stop.clone());
        let run = tokio::spawn(worker.run(stop.clone()));
        terminated().await;
        eprintln!("updraft worker: stopping; running tasks get up to 30 s to finish");
        stop.cancel();
        run.await??;
        if let Some(l) = listener {
            let _ = l.await;
        }
        Ok(ExitCode::SUCCESS)
    })
}
