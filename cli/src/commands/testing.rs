//! `dags test` and `tasks test`: run now, in this process, against a
//! private throwaway store (connections and variables are copied from the
//! configured one), so a test never disturbs real runs.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use jiff::Timestamp;
use updraft_engine::runtime::{
    DagCache, Local, LocalOptions, Scope, Signals, Timing, Worker, WorkerConfig, create_run,
};
use updraft_engine::store::{RunState, RunType, Store, StoreError, TaskState};
use updraft_engine::time::parse_instant;

use super::dags::find;
use super::tasks::print_line;
use crate::settings::Settings;

fn fast_timing() -> Timing {
    Timing {
        scheduler_tick: Duration::from_millis(200),
        worker_poll: Duration::from_millis(20),
        ..Timing::default()
    }
}

/// A private store in a temporary folder, with the configured store's
/// connections and variables.
async fn private_store(settings: &Settings) -> Result<(tempfile::TempDir, Store)> {
    let dir = tempfile::tempdir()?;
    let store = crate::store::open_url(settings, &format!("sqlite://{}/test.db", dir.path().display())).await?;
    match crate::store::open(settings).await {
        Ok(real) => {
            // A key problem is an error here, as in a worker: the test
            // would otherwise run without the connections it needs.
            for (id, c) in real.connections().await? {
                store.set_connection(&id, &c).await?;
            }
            for (k, v) in real.variables().await? {
                store.set_variable(&k, &v).await?;
            }
        }
        // A wrong key is an error, as in a worker; a store that cannot be
        // opened at all only means there is nothing to copy.
        Err(e) if is_key_error(&e) => return Err(e),
        Err(e) => eprintln!("note: no connections or variables ({e:#})"),
    }
    Ok((dir, store))
}

fn is_key_error(e: &anyhow::Error) -> bool {
    matches!(e.downcast_ref::<StoreError>(), Some(StoreError::Secret(_)))
}

fn logical(dag: &updraft_engine::Dag, text: Option<&str>) -> Result<Option<Timestamp>> {
    text.map(|t| {
        parse_instant(t, dag.tz())
            .map_err(anyhow::Error::msg)
            .context("logical date")
    })
    .transpose()
}

pub async fn test_dag(settings: &Settings, dag_id: &str, logical_date: Option<&str>) -> Result<ExitCode> {
    let registry = updraft_engine::Registry::with(updraft_operators::register_all);
    let dag = find(settings, &registry, dag_id)?;
    let at = logical(&dag, logical_date)?;
    let (_dir, store) = private_store(settings).await?;
    let opts = LocalOptions {
        dags_folder: settings.dags_folder.clone(),
        slots: 16,
        // Nothing is scheduled in the private store; only this run runs.
        paused_at_creation: true,
        run_scheduler: true,
        run_worker: true,
        timing: fast_timing(),
        reload_every: Duration::from_secs(3600),
        overrides: settings.overrides.clone(),
        scope: Scope {
            only_dag: Some(dag_id.to_string()),
            create_scheduled: false,
        },
    };
    let local = Local::start_with(store.clone(), registry, opts, &settings.limits).await?;
    let cur = local
        .processor
        .current()
        .remove(dag_id)
        .context("the DAG did not load")?;
    let run = create_run(
        &store,
        &cur.dag,
        cur.version_id,
        RunType::Manual,
        at,
        Default::default(),
    )
    .await?
    .context("a run already exists at that logical date")?;
    local.signals.wake_all();
    crate::outln!(
        "testing {} ({}, logical date {})",
        dag_id,
        run.run_id,
        crate::output::utc(run.logical_date)
    );
    let mut reported: HashMap<String, TaskState> = HashMap::new();
    let mut ended = local.signals.runs_ended();
    let end = loop {
        // The run first, then its tasks: once the run is read as ended,
        // every task is final in the read after it, and all are printed
        // (the other way round, tasks ending between the two reads were
        // never printed).
        let r = store.get_run_by_pk(run.id).await?.context("the run vanished")?;
        for ti in store.task_instances(run.id).await? {
            let finished = ti.state.is_finished() || ti.state == TaskState::UpForRetry;
            if finished && reported.get(&ti.task_id) != Some(&ti.state) {
                let took = match (ti.start_date, ti.end_date) {
                    (Some(s), Some(e)) => format!("{:.2}s", e.duration_since(s).as_secs_f64()),
                    _ => "-".into(),
                };
                crate::outln!(
                    "  {:<32} {:<16} try {}  {took}",
                    ti.task_id,
                    ti.state.as_str(),
                    ti.try_number
                );
                if matches!(ti.state, TaskState::Failed | TaskState::UpForRetry) {
                    for l in store
                        .read_logs(ti.id, ti.try_number, 0, 100_000)
                        .await?
                        .iter()
                        .rev()
                        .take(20)
                        .rev()
                    {
                        print!("      | ");
                        print_line(l);
                    }
                }
                reported.insert(ti.task_id.clone(), ti.state);
            }
        }
        if r.state.is_finished() {
            break r;
        }
        // Tasks are reported as they end, within 50 ms; the run's end at
        // once.
        tokio::select! {
            _ = ended.changed() => {}
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    };
    local.shutdown().await;
    let took = end
        .end_date
        .zip(end.start_date)
        .map(|(e, s)| e.duration_since(s).as_secs_f64())
        .unwrap_or(0.0);
    crate::outln!("run {}: {} in {took:.2}s", end.run_id, end.state);
    Ok(if end.state == RunState::Success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub async fn test_task(settings: &Settings, dag_id: &str, task_id: &str, logical_date: &str) -> Result<ExitCode> {
    let registry = updraft_engine::Registry::with(updraft_operators::register_all);
    let dag = find(settings, &registry, dag_id)?;
    if dag.task(task_id).is_none() {
        let names: Vec<&str> = dag.tasks.iter().map(|t| t.task_id.as_str()).collect();
        bail!(
            "DAG `{dag_id}` has no task `{task_id}`{}",
            updraft_engine::suggest::did_you_mean(task_id, names.iter().copied())
        );
    }
    let at = logical(&dag, Some(logical_date))?;
    let (_dir, store) = private_store(settings).await?;
    let version_id = store
        .sync_dag(dag_id, &dag.file.display().to_string(), &dag.source, true)
        .await?;
    let run = create_run(&store, &dag, version_id, RunType::Manual, at, Default::default())
        .await?
        .context("run exists")?;
    let ti = store
        .task_instance(run.id, task_id)
        .await?
        .context("task instance missing")?;
    // The run stays `queued` (no scheduler starts it), so only this task
    // runs: a worker claims downstream tasks of running runs only.
    store
        .transition_tasks(&[ti.id], &[TaskState::None], TaskState::Queued)
        .await?;
    let cache = Arc::new(DagCache::new(store.clone(), registry).with_limits(settings.limits.dags));
    let worker = Arc::new(Worker::new(
        store.clone(),
        cache,
        Signals::default(),
        fast_timing(),
        WorkerConfig::new(1)
            .with_overrides(settings.overrides.clone())
            .with_limits(&settings.limits),
    ));
    let stop = tokio_util::sync::CancellationToken::new();
    let handle = tokio::spawn(worker.run(stop.clone()));
    let mut seen = 0;
    let state = loop {
        let now = store
            .task_instance(run.id, task_id)
            .await?
            .context("task instance missing")?;
        let lines = store.read_logs(ti.id, 1, seen, 1000).await?;
        for l in &lines {
            print_line(l);
        }
        if let Some(l) = lines.last() {
            seen = l.seq;
        } else if now.try_number >= 1 && !matches!(now.state, TaskState::Queued | TaskState::Running) {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    stop.cancel();
    handle.await??;
    match state.state {
        TaskState::Success => {
            crate::outln!("{task_id}: success; output {}", state.output.unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
        other => {
            crate::outln!("{task_id}: {other}: {}", state.error.unwrap_or_default());
            Ok(ExitCode::FAILURE)
        }
    }
}
