//! Runtime benchmarks (BENCHMARKS.md): a 200-task chain of `shell: true`
//! against 200 `bash -c true` run one after another (the floor), and a
//! 10,000-task fan-out of `empty` tasks, on SQLite in one process and, with
//! `UPDRAFT_BENCH_POSTGRES_URL` (an admin URL), on Postgres with two workers.
//!
//!     cargo bench -p updraft-cli --bench runtime [-- sqlite-chain postgres-fanout ...]
//!
//! Each case runs several times; medians are printed.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use updraft_engine::runtime::{Local, LocalOptions, Timing, Worker, WorkerConfig, create_run};
use updraft_engine::store::{RunState, RunType, Store};

const RUNS: usize = 7;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn floor_ms(n: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        assert!(Command::new("bash").args(["-c", "true"]).status().unwrap().success());
    }
    start.elapsed().as_secs_f64() * 1000.0
}

/// A chain of `n` tasks; `op` is `shell, command: 'true'` or `empty`.
fn chain_yaml(n: usize, op: &str) -> String {
    let mut y = String::from("tasks:\n");
    for i in 0..n {
        if i == 0 {
            y.push_str(&format!("  t0: {{operator: {op}}}\n"));
        } else {
            y.push_str(&format!("  t{i}: {{operator: {op}, depends_on: t{}}}\n", i - 1));
        }
    }
    y
}

fn fanout_yaml(n: usize) -> String {
    let mut y = String::from("max_active_tasks: 100000\ntasks:\n");
    for i in 0..n {
        y.push_str(&format!("  t{i}: {{operator: empty}}\n"));
    }
    y
}

async fn store_for(kind: &str, dir: &Path, n: usize) -> Option<Store> {
    match kind {
        "sqlite" => {
            let s = Store::connect(&format!("sqlite://{}/b{n}.db", dir.display()))
                .await
                .unwrap();
            s.migrate().await.unwrap();
            Some(s)
        }
        _ => {
            let admin = std::env::var("UPDRAFT_BENCH_POSTGRES_URL").ok()?;
            let name = format!("updraft_bench_{}_{n}", std::process::id());
            let a = Store::connect(&admin).await.unwrap();
            a.exec_admin(&format!("DROP DATABASE IF EXISTS {name}")).await.unwrap();
            a.exec_admin(&format!("CREATE DATABASE {name}")).await.unwrap();
            let s = Store::connect(&format!("{}/{name}", admin.rsplit_once('/').unwrap().0))
                .await
                .unwrap();
            s.migrate().await.unwrap();
            Some(s)
        }
    }
}

/// Time from creating a run to its end, with the given number of workers.
async fn time_run(kind: &str, yaml: &str, dag_id: &str, workers: usize, slots: u32, n: usize) -> Option<f64> {
    let dir = tempfile::tempdir().unwrap();
    let dags = dir.path().join("dags");
    std::fs::create_dir_all(&dags).unwrap();
    std::fs::write(dags.join(format!("{dag_id}.yaml")), yaml).unwrap();
    let store = store_for(kind, dir.path(), n).await?;
    let opts = LocalOptions {
        dags_folder: dags,
        slots,
        paused_at_creation: true,
        run_scheduler: true,
        run_worker: workers == 1,
        timing: Timing::default(),
        reload_every: Duration::from_secs(3600),
        overrides: Default::default(),
        scope: Default::default(),
    };
    let local = Local::start(
        store.clone(),
        updraft_engine::Registry::with(updraft_operators::register_all),
        opts,
    )
    .await
    .unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let mut extra = Vec::new();
    if workers > 1 {
        for _ in 0..workers {
            let w = Arc::new(Worker::new(
                store.clone(),
                local.cache.clone(),
                local.signals.clone(),
                Timing::default(),
                WorkerConfig::new(slots),
            ));
            extra.push(tokio::spawn(w.run(stop.clone())));
        }
    }
    let cur = local.processor.current().remove(dag_id).unwrap();
    // Woken when the scheduler ends a run, instead of polling the store
    // (a poll every few milliseconds is work the runtime would share the
    // two cores with).
    let mut ended = local.signals.runs_ended();
    let start = Instant::now();
    let run = create_run(
        &store,
        &cur.dag,
        cur.version_id,
        RunType::Manual,
        None,
        Default::default(),
    )
    .await
    .unwrap()
    .unwrap();
    local.signals.wake_all();
    loop {
        let r = store.get_run_by_pk(run.id).await.unwrap().unwrap();
        if r.state.is_finished() {
            assert_eq!(r.state, RunState::Success);
            break;
        }
        tokio::time::timeout(Duration::from_secs(60), ended.changed())
            .await
            .expect("the run ends within a minute")
            .unwrap();
    }
    let took = start.elapsed().as_secs_f64() * 1000.0;
    stop.cancel();
    for h in extra {
        h.await.unwrap().unwrap();
    }
    local.shutdown().await;
    Some(took)
}

/// Cases to run: every one, or those whose name (`sqlite-chain`,
/// `postgres-fanout`, ...) contains an argument.
fn selected(name: &str) -> bool {
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
}

#[tokio::main]
async fn main() {
    if std::env::var_os("UPDRAFT_BENCH_TRACE").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter("updraft_engine=debug")
            .with_writer(std::io::stderr)
            .init();
    }
    for kind in ["sqlite", "postgres"] {
        if kind == "postgres" && std::env::var_os("UPDRAFT_BENCH_POSTGRES_URL").is_none() {
            println!("{kind}: skipped (set UPDRAFT_BENCH_POSTGRES_URL)");
            continue;
        }
        if selected(&format!("{kind}-chain")) {
            // The floor and the chain take turns, so both meet the same
            // machine (its load drifts over a run of the bench).
            let (mut floor, mut chain, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
            for i in 0..RUNS {
                let f = floor_ms(200);
                let yaml = chain_yaml(200, "shell, command: 'true'");
                let c = time_run(kind, &yaml, "chain", 1, 4, i).await.unwrap();
                floor.push(f);
                chain.push(c);
                ratio.push(c / f);
            }
            println!(
                "{kind}: 200-task shell chain: median {:.0} ms; floor (200 x `bash -c true` one after another, taking turns with it): median {:.0} ms; median ratio {:.2}x the floor",
                median(chain),
                median(floor),
                median(ratio)
            );
        }
        if selected(&format!("{kind}-empty-chain")) {
            // The orchestration alone: what each link of the chain costs
            // besides the process it runs.
            let mut chain = Vec::new();
            for i in 0..RUNS {
                let yaml = chain_yaml(200, "empty");
                chain.push(time_run(kind, &yaml, "chain", 1, 4, 50 + i).await.unwrap());
            }
            let m = median(chain);
            println!(
                "{kind}: 200-task empty chain: median {m:.0} ms = {:.2} ms per task",
                m / 200.0
            );
        }
        if selected(&format!("{kind}-fanout")) {
            let workers = if kind == "sqlite" { 1 } else { 2 };
            let mut fan = Vec::new();
            for i in 0..3 {
                fan.push(
                    time_run(kind, &fanout_yaml(10_000), "fan", workers, 64, 100 + i)
                        .await
                        .unwrap(),
                );
            }
            let m = median(fan);
            println!(
                "{kind}: 10,000-task fan-out of empty, {workers} worker(s): median {m:.0} ms = {:.0} tasks/s",
                10_000.0 / (m / 1000.0)
            );
        }
    }
}
