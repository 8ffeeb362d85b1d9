//! The runtime end to end, in one process, on SQLite (and Postgres where
//! noted): trigger rules, retries, timeouts, max_active_tasks, catchup,
//! max_active_runs, version pinning, reload of a broken file, recovery of a
//! lost worker's tries, exactly-once execution with two workers. Test
//! operators stand in for real ones; tests wait on store state with a
//! deadline, never sleep-then-assert.

#[path = "../common/mod.rs"]
mod common;
mod scheduling;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use updraft_engine::operator::{LogStream, Operator, Output, Registry, TaskContext, TaskError};
use updraft_engine::runtime::{Local, LocalOptions, Timing, Worker, WorkerConfig, create_run};
use updraft_engine::store::{DagRun, RunState, RunType, Store, TaskState};

/// Counts executions per task id and the most tasks running at once.
#[derive(Default)]
struct Probe {
    runs: Mutex<HashMap<String, usize>>,
    running: AtomicUsize,
    max_running: AtomicUsize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestConfig {
    #[serde(default)]
    sleep_ms: u64,
    /// Fail the first N tries.
    #[serde(default)]
    fail_tries: u32,
    #[serde(default)]
    say: Option<String>,
}

struct TestOp(Arc<Probe>);

impl Operator for TestOp {
    const NAME: &'static str = "test";
    type Config = TestConfig;

    async fn execute(&self, cfg: TestConfig, ctx: TaskContext) -> Result<Output, TaskError> {
        *self
            .0
            .runs
            .lock()
            .unwrap()
            .entry(format!("{}/{}", ctx.run_id, ctx.task_id))
            .or_default() += 1;
        let now = self.0.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.0.max_running.fetch_max(now, Ordering::SeqCst);
        if let Some(s) = &cfg.say {
            ctx.log.line(LogStream::Stdout, s);
        }
        let slept = tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(cfg.sleep_ms)) => true,
            () = ctx.cancel.cancelled() => false,
        };
        self.0.running.fetch_sub(1, Ordering::SeqCst);
        if !slept {
            return Err(TaskError::Cancelled);
        }
        if ctx.try_number <= cfg.fail_tries {
            return Err(TaskError::Failed(format!("planned failure on try {}", ctx.try_number)));
        }
        Ok(serde_json::json!({ "try": ctx.try_number, "first_try": ctx.first_try }))
    }
}

struct Env {
    _dir: tempfile::TempDir,
    dags: PathBuf,
    store: Store,
    probe: Arc<Probe>,
    registry: Registry,
}

fn timing() -> Timing {
    Timing {
        heartbeat: Duration::from_millis(100),
        lost_after: Duration::from_millis(800),
        scheduler_tick: Duration::from_millis(200),
        worker_poll: Duration::from_millis(50),
    }
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let dags = dir.path().join("dags");
    std::fs::create_dir_all(&dags).unwrap();
    let store = Store::connect(&format!("sqlite://{}/u.db", dir.path().display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let probe = Arc::new(Probe::default());
    let mut registry = Registry::new();
    registry.register(TestOp(probe.clone()));
    Env {
        _dir: dir,
        dags,
        store,
        probe,
        registry,
    }
}

impl Env {
    fn write(&self, name: &str, yaml: &str) {
        std::fs::write(self.dags.join(name), yaml).unwrap();
    }

    /// Options for a `Local` over this environment's folder.
    fn options(&self, slots: u32, run_worker: bool, timing: Timing) -> LocalOptions {
        LocalOptions {
            dags_folder: self.dags.clone(),
            slots,
            paused_at_creation: false,
            run_scheduler: true,
            run_worker,
            timing,
            reload_every: Duration::from_millis(100),
            overrides: Default::default(),
            scope: Default::default(),
        }
    }

    /// The scheduler (and DAG processor) alone; tests add their own workers.
    async fn start_scheduler_only(&self, timing: Timing) -> Local {
        Local::start(
            self.store.clone(),
            self.registry.clone(),
            self.options(1, false, timing),
        )
        .await
        .unwrap()
    }

    /// The DAGs loaded and their versions recorded, without a scheduler:
    /// runs made by hand then are all queued before its first pass.
    async fn load_only(&self) -> Local {
        let mut opts = self.options(1, false, timing());
        opts.run_scheduler = false;
        Local::start(self.store.clone(), self.registry.clone(), opts)
            .await
            .unwrap()
    }

    async fn start(&self, slots: u32) -> Local {
        let opts = self.options(slots, true, timing());
        Local::start(self.store.clone(), self.registry.clone(), opts)
            .await
            .unwrap()
    }
}

/// The environment on a fresh Postgres database (see `common`).
async fn postgres_env() -> Option<Env> {
    let store = common::fresh_postgres_store("updraft_rt").await?;
    let mut e = env().await;
    e.store = store;
    Some(e)
}

/// A manual run of a loaded DAG, made in the store at `logical_date` (now
/// when `None`); nothing is woken.
async fn manual_run(local: &Local, dag_id: &str, logical_date: Option<Timestamp>) -> DagRun {
    let cur = local.processor.current().remove(dag_id).expect("DAG loaded");
    create_run(
        &local.store,
        &cur.dag,
        cur.version_id,
        RunType::Manual,
        logical_date,
        Default::default(),
    )
    .await
    .unwrap()
    .unwrap()
}

/// A manual run, and the scheduler woken for it.
async fn trigger(local: &Local, dag_id: &str) -> DagRun {
    let run = manual_run(local, dag_id, None).await;
    local.signals.wake_all();
    run
}

/// Waits (with a deadline) until `cond` holds for the store.
async fn wait_for<T>(store: &Store, what: &str, secs: u64, mut cond: impl AsyncFnMut(&Store) -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = cond(store).await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_run_end(store: &Store, pk: i64) -> DagRun {
    wait_for(store, "the run to end", 30, async |s: &Store| {
        s.get_run_by_pk(pk).await.unwrap().filter(|r| r.state.is_finished())
    })
    .await
}

async fn states(store: &Store, pk: i64) -> HashMap<String, TaskState> {
    store
        .task_instances(pk)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.task_id, t.state))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_rules_decide_what_runs_after_a_failure() {
    let e = env().await;
    e.write(
        "rules.yaml",
        "tasks:\n  ok: {operator: test}\n  bad: {operator: test, fail_tries: 9}\n\
         after_all: {operator: test, depends_on: [ok, bad]}\n\
         cleanup: {operator: test, depends_on: [ok, bad], trigger_rule: all_done}\n\
         alert: {operator: test, depends_on: [ok, bad], trigger_rule: one_failed}\n\
         when_fine: {operator: test, depends_on: [ok, bad], trigger_rule: none_failed}\n\
         chain: {operator: test, depends_on: after_all}\n\
         end: {operator: test, depends_on: [cleanup], trigger_rule: all_success}\n"
            .replace("after_all:", "  after_all:")
            .replace("cleanup:", "  cleanup:")
            .replace("alert:", "  alert:")
            .replace("when_fine:", "  when_fine:")
            .replace("chain:", "  chain:")
            .replace("end:", "  end:")
            .as_str(),
    );
    let local = e.start(4).await;
    let run = trigger(&local, "rules").await;
    let done = wait_run_end(&e.store, run.id).await;
    let s = states(&e.store, run.id).await;
    assert_eq!(s["ok"], TaskState::Success);
    assert_eq!(s["bad"], TaskState::Failed);
    assert_eq!(s["after_all"], TaskState::UpstreamFailed);
    assert_eq!(s["chain"], TaskState::UpstreamFailed, "upstream_failed propagates");
    assert_eq!(s["cleanup"], TaskState::Success);
    assert_eq!(s["alert"], TaskState::Success);
    assert_eq!(s["when_fine"], TaskState::UpstreamFailed);
    assert_eq!(s["end"], TaskState::Success);
    assert_eq!(done.state, RunState::Failed, "leaves chain, when_fine failed upstream");
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_wait_their_delay_and_log_each_try() {
    let e = env().await;
    e.write(
        "flaky.yaml",
        "tasks:\n  f:\n    operator: test\n    fail_tries: 2\n    say: hello\n    retries: 2\n    retry_delay: 300ms\n",
    );
    let local = e.start(2).await;
    let started = Timestamp::now();
    let run = trigger(&local, "flaky").await;
    let done = wait_run_end(&e.store, run.id).await;
    assert_eq!(done.state, RunState::Success);
    let ti = e.store.task_instance(run.id, "f").await.unwrap().unwrap();
    assert_eq!((ti.state, ti.try_number), (TaskState::Success, 3));
    // The three tries were one attempt.
    assert_eq!(ti.output, Some(serde_json::json!({"try": 3, "first_try": 1})));
    // Two waits of 300 ms between three tries.
    assert!(Timestamp::now().duration_since(started) >= SignedDuration::from_millis(600));
    for try_number in 1..=3 {
        let lines = e.store.read_logs(ti.id, try_number, 0, 100).await.unwrap();
        let text: Vec<&str> = lines.iter().map(|l| l.line.as_str()).collect();
        assert!(text.contains(&"hello"), "try {try_number}: {text:?}");
        assert!(text[0].starts_with(&format!("try {try_number} of 3")), "{text:?}");
        if try_number < 3 {
            assert!(text.iter().any(|l| l.contains("planned failure")), "{text:?}");
        }
    }
    // Cleared, it starts a new attempt at try 4.
    e.store.clear_tasks(run.id, &[("f".into(), 3)]).await.unwrap();
    local.signals.task_ended(run.id);
    let ti = wait_for(&e.store, "the cleared task to run again", 20, async |s: &Store| {
        let ti = s.task_instance(run.id, "f").await.unwrap().unwrap();
        (ti.state == TaskState::Success && ti.try_number == 4).then_some(ti)
    })
    .await;
    assert_eq!(ti.output, Some(serde_json::json!({"try": 4, "first_try": 4})));
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exponential_backoff_grows_the_delay() {
    let e = env().await;
    e.write(
        "backoff.yaml",
        "tasks:\n  f:\n    operator: test\n    fail_tries: 3\n    retries: 3\n    retry_delay: 100ms\n    retry_exponential_backoff: true\n",
    );
    let local = e.start(1).await;
    let run = trigger(&local, "backoff").await;
    let mut retry_gaps = Vec::new();
    let mut seen_try = 0;
    wait_for(&e.store, "three retries", 30, async |s: &Store| {
        let ti = s.task_instance(run.id, "f").await.unwrap().unwrap();
        if ti.state == TaskState::UpForRetry && ti.try_number > seen_try {
            seen_try = ti.try_number;
            retry_gaps.push(ti.next_retry_at.unwrap().duration_since(ti.end_date.unwrap()));
        }
        (ti.state == TaskState::Success).then_some(())
    })
    .await;
    assert_eq!(retry_gaps.len(), 3);
    // 100 ms, 200 ms, 400 ms (a few ms of slack for the clock read between).
    for (gap, want) in retry_gaps.iter().zip([100, 200, 400]) {
        let ms = gap.as_millis();
        assert!((want - 5..=want + 50).contains(&ms), "{retry_gaps:?}");
    }
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_timeout_stops_the_task_and_fails_it() {
    let e = env().await;
    e.write(
        "slow.yaml",
        "tasks:\n  s: {operator: test, sleep_ms: 60000, execution_timeout: 300ms}\n",
    );
    let local = e.start(1).await;
    let started = Timestamp::now();
    let run = trigger(&local, "slow").await;
    let done = wait_run_end(&e.store, run.id).await;
    assert_eq!(done.state, RunState::Failed);
    let ti = e.store.task_instance(run.id, "s").await.unwrap().unwrap();
    assert_eq!(ti.state, TaskState::Failed);
    assert!(ti.error.unwrap().contains("execution_timeout of 300ms exceeded"));
    assert!(Timestamp::now().duration_since(started) < SignedDuration::from_secs(10));
    assert_eq!(
        e.probe.running.load(Ordering::SeqCst),
        0,
        "the operator saw the cancellation"
    );
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_active_tasks_bounds_parallelism_within_a_run() {
    let e = env().await;
    let mut yaml = String::from("max_active_tasks: 2\ntasks:\n");
    for i in 0..6 {
        yaml.push_str(&format!("  t{i}: {{operator: test, sleep_ms: 100}}\n"));
    }
    e.write("wide.yaml", &yaml);
    let local = e.start(6).await;
    let run = trigger(&local, "wide").await;
    assert_eq!(wait_run_end(&e.store, run.id).await.state, RunState::Success);
    assert_eq!(e.probe.max_running.load(Ordering::SeqCst), 2);
    local.shutdown().await;
}

/// Backfill runs left queued (a backfill asked from the UI creates them all
/// at once) start within the DAG's `max_active_runs`, as the scheduler
/// starts scheduled runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_finishes_with_the_version_it_started_on() {
    let e = env().await;
    e.write(
        "v.yaml",
        "tasks:\n  first: {operator: test, sleep_ms: 500}\n  second: {operator: test, depends_on: first, say: old}\n",
    );
    let local = e.start(2).await;
    let run = trigger(&local, "v").await;
    wait_for(&e.store, "first to start", 10, async |s: &Store| {
        (s.task_instance(run.id, "first").await.unwrap().unwrap().state == TaskState::Running).then_some(())
    })
    .await;
    e.write("v.yaml", "tasks:\n  first: {operator: test}\n  second: {operator: test, depends_on: first, say: new}\n  third: {operator: test}\n");
    let new_version = wait_for(&e.store, "the new version", 10, async |s: &Store| {
        let d = s.get_dag("v").await.unwrap().unwrap();
        (d.version_id != Some(run.version_id)).then_some(d.version_id.unwrap())
    })
    .await;
    assert_eq!(wait_run_end(&e.store, run.id).await.state, RunState::Success);
    let tis = e.store.task_instances(run.id).await.unwrap();
    assert_eq!(tis.len(), 2, "the old version has no `third`");
    let second = &tis[1];
    let log = e.store.read_logs(second.id, 1, 0, 10).await.unwrap();
    assert!(log.iter().any(|l| l.line == "old"), "{log:?}");
    let run2 = trigger(&local, "v").await;
    assert_eq!(run2.version_id, new_version);
    assert_eq!(e.store.task_instances(run2.id).await.unwrap().len(), 3);
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_file_keeps_its_last_good_version_and_its_error_is_visible() {
    let e = env().await;
    e.write("b.yaml", "tasks:\n  a: {operator: test}\n");
    let local = e.start(1).await;
    let good = local.processor.current()["b"].version_id;
    e.write("b.yaml", "tasks:\n  a: {operator: nope}\n");
    let errors = wait_for(&e.store, "the error to be recorded", 10, async |s: &Store| {
        let errs = s.import_errors().await.unwrap();
        (!errs.is_empty()).then_some(errs)
    })
    .await;
    assert!(errors[0].0.ends_with("b.yaml"));
    assert!(errors[0].1[0].contains("unknown operator `nope`"), "{errors:?}");
    assert_eq!(local.processor.current()["b"].version_id, good, "still runnable");
    let run = trigger(&local, "b").await;
    assert_eq!(wait_run_end(&e.store, run.id).await.state, RunState::Success);
    e.write("b.yaml", "tasks:\n  a: {operator: test}\n  z: {operator: test}\n");
    wait_for(&e.store, "the error to clear", 10, async |s: &Store| {
        s.import_errors().await.unwrap().is_empty().then_some(())
    })
    .await;
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_workers_try_is_retried_by_another() {
    let e = env().await;
    e.write(
        "lost.yaml",
        "tasks:\n  t: {operator: test, retries: 1, retry_delay: 0s}\n",
    );
    // No worker yet: the scheduler queues the task, a "worker" claims it and
    // dies (never heartbeats).
    let local = e.start_scheduler_only(timing()).await;
    let run = trigger(&local, "lost").await;
    let claimed = wait_for(&e.store, "the task to be queued and claimed", 10, async |s: &Store| {
        let c = s.claim("ghost", 1).await.unwrap();
        (!c.is_empty()).then_some(c)
    })
    .await;
    assert_eq!(claimed[0].ti.try_number, 1);
    let worker = Arc::new(Worker::new(
        e.store.clone(),
        local.cache.clone(),
        local.signals.clone(),
        timing(),
        WorkerConfig::new(1),
    ));
    let stop = tokio_util::sync::CancellationToken::new();
    let w = tokio::spawn(worker.clone().run(stop.clone()));
    assert_eq!(wait_run_end(&e.store, run.id).await.state, RunState::Success);
    let ti = e.store.task_instance(run.id, "t").await.unwrap().unwrap();
    assert_eq!((ti.try_number, ti.worker_id.as_deref()), (2, Some(worker.id())));
    stop.cancel();
    w.await.unwrap().unwrap();
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_running_tasks() {
    let e = env().await;
    e.write("drain.yaml", "tasks:\n  t: {operator: test, sleep_ms: 300}\n");
    let local = e.start(1).await;
    let run = trigger(&local, "drain").await;
    wait_for(&e.store, "t to run", 10, async |s: &Store| {
        (s.task_instance(run.id, "t").await.unwrap().unwrap().state == TaskState::Running).then_some(())
    })
    .await;
    local.shutdown().await;
    // It finished within the grace period instead of being killed.
    let ti = e.store.task_instance(run.id, "t").await.unwrap().unwrap();
    assert_eq!(ti.state, TaskState::Success);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_postgres_run_each_task_exactly_once() {
    let Some(e) = postgres_env().await else { return };
    let mut yaml = String::from("tasks:\n");
    for i in 0..300 {
        yaml.push_str(&format!("  t{i}: {{operator: test, sleep_ms: {}}}\n", i % 7));
    }
    e.write("fan.yaml", &yaml);
    // Loaded test machines can stall a heartbeat past the short test
    // timing; a reaped try would fail the run without any double run.
    let timing = Timing {
        lost_after: Duration::from_secs(10),
        ..timing()
    };
    let local = e.start_scheduler_only(timing.clone()).await;
    // Two workers that share nothing but the database, as on two machines.
    let stop = tokio_util::sync::CancellationToken::new();
    let mut workers = Vec::new();
    for _ in 0..2 {
        let w = Arc::new(Worker::new(
            e.store.clone(),
            local.cache.clone(),
            Default::default(),
            timing.clone(),
            WorkerConfig::new(8),
        ));
        workers.push((w.id().to_string(), tokio::spawn(w.run(stop.clone()))));
    }
    let run = trigger(&local, "fan").await;
    assert_eq!(wait_run_end(&e.store, run.id).await.state, RunState::Success);
    let runs = e.probe.runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 300);
    assert!(runs.values().all(|n| *n == 1), "a task ran twice");
    let tis = e.store.task_instances(run.id).await.unwrap();
    let by_worker: Vec<usize> = workers
        .iter()
        .map(|(id, _)| tis.iter().filter(|t| t.worker_id.as_deref() == Some(id)).count())
        .collect();
    assert!(
        by_worker.iter().all(|n| *n > 0),
        "both workers took work: {by_worker:?}"
    );
    assert!(tis.iter().all(|t| t.try_number == 1));
    stop.cancel();
    for (_, h) in workers {
        h.await.unwrap().unwrap();
    }
    local.shutdown().await;
}

/// On Postgres a worker and a scheduler in different processes wake each
/// other through LISTEN/NOTIFY instead of waiting for their polls: a
/// 20-step chain across the two (separate signals, default timing: the
/// scheduler polls every 2 s) ends far sooner than polling would allow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_wakes_other_processes_on_postgres() {
    let Some(e) = postgres_env().await else { return };
    let mut yaml = String::from("tasks:\n  t0: {operator: test}\n");
    for i in 1..20 {
        yaml.push_str(&format!("  t{i}: {{operator: test, depends_on: t{}}}\n", i - 1));
    }
    e.write("chain.yaml", &yaml);
    let local = e.start_scheduler_only(Timing::default()).await;
    // The "other process": its own signals, woken only through Postgres.
    let signals = updraft_engine::runtime::Signals::default();
    let stop = tokio_util::sync::CancellationToken::new();
    let listener = updraft_engine::runtime::spawn_listener(e.store.clone(), signals.clone(), stop.clone()).unwrap();
    let worker = Arc::new(Worker::new(
        e.store.clone(),
        local.cache.clone(),
        signals,
        Timing::default(),
        WorkerConfig::new(2),
    ));
    let w = tokio::spawn(worker.run(stop.clone()));
    let started = std::time::Instant::now();
    let run = manual_run(&local, "chain", None).await;
    assert_eq!(wait_run_end(&e.store, run.id).await.state, RunState::Success);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "20 steps took {took:?}: notifications are not arriving"
    );
    stop.cancel();
    w.await.unwrap().unwrap();
    listener.await.unwrap();
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_try_still_running_after_the_grace_period_is_handed_back() {
    let e = env().await;
    e.write("long.yaml", "tasks:\n  t: {operator: test, sleep_ms: 60000}\n");
    let local = e.start_scheduler_only(timing()).await;
    let mut config = WorkerConfig::new(1);
    config.drain_grace = Duration::from_millis(200);
    let worker = Arc::new(Worker::new(
        e.store.clone(),
        local.cache.clone(),
        local.signals.clone(),
        timing(),
        config,
    ));
    let stop = tokio_util::sync::CancellationToken::new();
    let w = tokio::spawn(worker.run(stop.clone()));
    let run = trigger(&local, "long").await;
    wait_for(&e.store, "t to run", 10, async |s: &Store| {
        (s.task_instance(run.id, "t").await.unwrap().unwrap().state == TaskState::Running).then_some(())
    })
    .await;
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), w)
        .await
        .expect("drained within the grace")
        .unwrap()
        .unwrap();
    let ti = e.store.task_instance(run.id, "t").await.unwrap().unwrap();
    assert_eq!(
        (ti.state, ti.try_number),
        (TaskState::Queued, 0),
        "handed back, the try not counted"
    );
    assert_eq!(e.probe.running.load(Ordering::SeqCst), 0, "the operator was cancelled");
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_task_marked_failed_by_a_user_is_stopped() {
    let e = env().await;
    e.write("long.yaml", "tasks:\n  t: {operator: test, sleep_ms: 60000}\n");
    let local = e.start(1).await;
    let run = trigger(&local, "long").await;
    let ti = wait_for(&e.store, "t to run", 10, async |s: &Store| {
        s.task_instance(run.id, "t")
            .await
            .unwrap()
            .filter(|t| t.state == TaskState::Running)
    })
    .await;
    wait_for(&e.store, "the operator to start", 10, async |_: &Store| {
        (e.probe.running.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    // What the UI's "mark failed" does: change the row, nothing else.
    let moved = e
        .store
        .transition_tasks(&[ti.id], &[TaskState::Running], TaskState::Failed)
        .await
        .unwrap();
    assert_eq!(moved, 1);
    local.signals.wake_all();
    // The worker sees on its next heartbeat that the try is no longer its
    // own and cancels the operator, long before its 60 s sleep ends.
    wait_for(&e.store, "the operator to be cancelled", 10, async |_: &Store| {
        (e.probe.running.load(Ordering::SeqCst) == 0).then_some(())
    })
    .await;
    let done = wait_run_end(&e.store, run.id).await;
    assert_eq!(done.state, RunState::Failed);
    let ti = e.store.task_instance(run.id, "t").await.unwrap().unwrap();
    assert_eq!(ti.state, TaskState::Failed, "the user's mark stands");
    assert_eq!(e.probe.runs.lock().unwrap().len(), 1, "not rerun");
    local.shutdown().await;
}
