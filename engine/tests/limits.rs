//! Issue 15's limits through a real worker on SQLite: a try's log lines
//! and volume, its output size, a run's conf against the DAG's params, and
//! host paths (bind mounts) built from a run's values. Test operators stand
//! in for shell and docker; tests wait on store state with a deadline.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::Deserialize;
use updraft_engine::operator::{LogStream, Operator, Output, Registry, TaskContext, TaskError};
use updraft_engine::runtime::{Limits, Local, LocalOptions, LogLimits, RuntimeError, Timing, create_run};
use updraft_engine::store::{DagRun, RunType, Store, TaskInstance, TaskState};
use updraft_operator_api::ROW_BYTES;

/// Prints `lines` lines of `width` bytes as fast as the log takes them,
/// then returns an output of `output_bytes`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpewConfig {
    #[serde(default)]
    lines: usize,
    #[serde(default)]
    width: usize,
    #[serde(default)]
    output_bytes: usize,
}

struct Spew;

impl Operator for Spew {
    const NAME: &'static str = "spew";
    type Config = SpewConfig;

    async fn execute(&self, cfg: SpewConfig, ctx: TaskContext) -> Result<Output, TaskError> {
        let line = "y".repeat(cfg.width);
        for i in 0..cfg.lines {
            ctx.log.line(LogStream::Stdout, &line);
            if i % 64 == 0 {
                ctx.log.ready().await;
            }
        }
        Ok(serde_json::json!({ "blob": "z".repeat(cfg.output_bytes) }))
    }
}

/// Hands `source` out as a host path, as the docker operator does with a
/// bind mount's source; counts its executions.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MountConfig {
    source: String,
}

struct Mounter(Arc<AtomicUsize>);

impl Operator for Mounter {
    const NAME: &'static str = "mounter";
    type Config = MountConfig;

    fn host_paths(cfg: &MountConfig) -> Vec<(String, String)> {
        vec![("mounts[0].source".into(), cfg.source.clone())]
    }

    async fn execute(&self, _: MountConfig, _: TaskContext) -> Result<Output, TaskError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(serde_json::Value::Null)
    }
}

struct Env {
    dir: tempfile::TempDir,
    store: Store,
    mounted: Arc<AtomicUsize>,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("dags")).unwrap();
    let store = Store::connect(&format!("sqlite://{}/u.db", dir.path().display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    Env {
        dir,
        store,
        mounted: Arc::default(),
    }
}

impl Env {
    fn write(&self, name: &str, yaml: &str) {
        std::fs::write(self.dir.path().join("dags").join(name), yaml).unwrap();
    }

    async fn start(&self, limits: &Limits) -> Local {
        let mut registry = Registry::new();
        registry.register(Spew).register(Mounter(self.mounted.clone()));
        let opts = LocalOptions {
            dags_folder: self.dir.path().join("dags"),
            slots: 2,
            paused_at_creation: false,
            run_scheduler: true,
            run_worker: true,
            timing: Timing {
                scheduler_tick: Duration::from_millis(200),
                worker_poll: Duration::from_millis(50),
                ..Timing::default()
            },
            reload_every: Duration::from_secs(3600),
            overrides: Default::default(),
            scope: Default::default(),
        };
        Local::start_with(self.store.clone(), registry, opts, limits)
            .await
            .unwrap()
    }
}

async fn trigger(local: &Local, dag_id: &str, conf: serde_json::Value) -> Result<DagRun, RuntimeError> {
    let cur = local.processor.current().remove(dag_id).expect("DAG loaded");
    let conf = conf.as_object().cloned().unwrap_or_default();
    let run = create_run(&local.store, &cur.dag, cur.version_id, RunType::Manual, None, conf).await?;
    local.signals.wake_all();
    Ok(run.expect("a new run"))
}

/// The run's only task instance once the run ended.
async fn ended(store: &Store, run: &DagRun) -> TaskInstance {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = store.get_run_by_pk(run.id).await.unwrap().unwrap();
        if r.state.is_finished() {
            return store.task_instances(run.id).await.unwrap().remove(0);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for the run to end"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn log_lines(store: &Store, ti: &TaskInstance) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = store.read_logs(ti.id, ti.try_number, after, 10_000).await.unwrap();
        let Some(last) = page.last() else { return out };
        after = last.seq;
        out.extend(page.into_iter().map(|l| (l.stream, l.line)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_printing_without_pause_is_held_to_the_try_log_limit() {
    let e = env().await;
    // 20 MB of output against a 1 MiB limit per try.
    e.write(
        "spew.yaml",
        "tasks:\n  spew: {operator: spew, lines: 200000, width: 99}\n",
    );
    let limits = Limits {
        log: LogLimits {
            line_bytes: 64 << 10,
            try_bytes: 1 << 20,
        },
        ..Limits::default()
    };
    let local = e.start(&limits).await;
    let run = trigger(&local, "spew", serde_json::json!({})).await.unwrap();
    let ti = ended(&e.store, &run).await;
    assert_eq!(ti.state, TaskState::Success, "{:?}", ti.error);
    let lines = log_lines(&e.store, &ti).await;
    let stdout: usize = lines
        .iter()
        .filter(|(s, _)| s == "stdout")
        .map(|(_, l)| l.len() + ROW_BYTES as usize)
        .sum();
    assert!(stdout <= 1 << 20, "{stdout} bytes of stdout stored");
    assert!(stdout > (1 << 20) - 200, "the log fills up to its limit: {stdout}");
    let system: Vec<&str> = lines
        .iter()
        .filter(|(s, _)| s == "system")
        .map(|(_, l)| l.as_str())
        .collect();
    assert_eq!(
        system
            .iter()
            .filter(|l| l.contains("reached its limit of 1 MiB"))
            .count(),
        1,
        "{system:?}"
    );
    let summary = system.iter().find(|l| l.starts_with("log limits:")).expect("a summary");
    let kept = stdout / (99 + ROW_BYTES as usize);
    assert!(
        summary.contains(&format!("{} line(s)", 200_000 - kept)),
        "{summary} (kept {kept})"
    );
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_line_is_stored_cut_with_a_marker() {
    let e = env().await;
    e.write(
        "long.yaml",
        "tasks:\n  long: {operator: spew, lines: 1, width: 5000000}\n",
    );
    let limits = Limits::default();
    let local = e.start(&limits).await;
    let run = trigger(&local, "long", serde_json::json!({})).await.unwrap();
    let ti = ended(&e.store, &run).await;
    let lines = log_lines(&e.store, &ti).await;
    let out: Vec<&str> = lines
        .iter()
        .filter(|(s, _)| s == "stdout")
        .map(|(_, l)| l.as_str())
        .collect();
    assert_eq!(out.len(), 1);
    assert!(out[0].starts_with(&"y".repeat(64 << 10)), "the first 64 KiB are kept");
    assert!(out[0].ends_with(" [... line cut at 64 KiB: the rest is not kept]"));
    assert!(out[0].len() < (64 << 10) + 100);
    assert!(
        lines
            .iter()
            .any(|(_, l)| l.starts_with("log limits: 1 line(s) longer than 64 KiB were cut")),
        "{:?}",
        lines.iter().filter(|(s, _)| s == "system").collect::<Vec<_>>()
    );
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_over_the_limit_fails_the_try_and_says_why() {
    let e = env().await;
    e.write(
        "out.yaml",
        "tasks:\n  big: {operator: spew, output_bytes: 2000000, retries: 3}\n",
    );
    let local = e.start(&Limits::default()).await;
    let run = trigger(&local, "out", serde_json::json!({})).await.unwrap();
    let ti = ended(&e.store, &run).await;
    assert_eq!(ti.state, TaskState::Failed);
    assert_eq!(ti.try_number, 1, "not retried: the same work gives the same output");
    let error = ti.error.unwrap_or_default();
    assert!(error.contains("over the limit of 1 MiB"), "{error}");
    assert!(error.contains("UPDRAFT_MAX_TASK_OUTPUT"), "{error}");
    assert!(ti.output.is_none());
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_conf_may_set_only_declared_params() {
    let e = env().await;
    e.write("strict.yaml", "params: {name: world}\ntasks:\n  t: {operator: spew}\n");
    e.write(
        "open.yaml",
        "allow_undeclared_conf: true\ntasks:\n  t: {operator: spew}\n",
    );
    let local = e.start(&Limits::default()).await;
    let err = trigger(
        &local,
        "strict",
        serde_json::json!({"name": "x", "cmd": "x; id > pwned"}),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, RuntimeError::UndeclaredConf { .. }));
    assert_eq!(
        err.to_string(),
        "conf key(s) `cmd` not declared in the `params` of DAG `strict` (declared: `name`); \
         declare them under `params:`, or set `allow_undeclared_conf: true` on the DAG"
    );
    assert!(
        e.store.list_runs("strict", 10).await.unwrap().is_empty(),
        "no run created"
    );
    let run = trigger(&local, "strict", serde_json::json!({"name": "x"}))
        .await
        .unwrap();
    assert_eq!(ended(&e.store, &run).await.state, TaskState::Success);
    let run = trigger(&local, "open", serde_json::json!({"anything": 1}))
        .await
        .unwrap();
    assert_eq!(ended(&e.store, &run).await.state, TaskState::Success);
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mount_built_from_a_runs_values_must_be_under_an_allowed_prefix() {
    let e = env().await;
    let allowed: PathBuf = e.dir.path().join("data");
    std::fs::create_dir_all(allowed.join("in")).unwrap();
    e.write(
        "m.yaml",
        "params: {dir: /tmp}\ntasks:\n  m: {operator: mounter, source: '{{ params.dir }}'}\n",
    );
    e.write("lit.yaml", "tasks:\n  m: {operator: mounter, source: /etc}\n");
    e.write(
        "var.yaml",
        "tasks:\n  m: {operator: mounter, source: \"{{ var.value.get('d', '/etc') }}\"}\n",
    );
    let limits = Limits {
        allowed_mounts: vec![allowed.clone()],
        ..Limits::default()
    };
    let local = e.start(&limits).await;
    // The finding: a conf path mounted the host's /etc.
    for hostile in ["/etc".to_string(), format!("{}/../../../etc", allowed.display())] {
        let run = trigger(&local, "m", serde_json::json!({"dir": hostile})).await.unwrap();
        let ti = ended(&e.store, &run).await;
        assert_eq!(ti.state, TaskState::Failed);
        let error = ti.error.unwrap_or_default();
        assert!(
            error.starts_with("task `m`: `mounts[0].source` is ") && error.contains(&hostile),
            "{error}"
        );
        // A new run at another logical date next time.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(e.mounted.load(Ordering::SeqCst), 0, "nothing was mounted");
    let inside = allowed.join("in").display().to_string();
    let run = trigger(&local, "m", serde_json::json!({"dir": inside})).await.unwrap();
    assert_eq!(ended(&e.store, &run).await.state, TaskState::Success);
    // Written in the DAG file, or from variables: the author's and admins' choice.
    for dag in ["lit", "var"] {
        let run = trigger(&local, dag, serde_json::json!({})).await.unwrap();
        assert_eq!(ended(&e.store, &run).await.state, TaskState::Success, "{dag}");
    }
    assert_eq!(e.mounted.load(Ordering::SeqCst), 3);
    local.shutdown().await;
}
