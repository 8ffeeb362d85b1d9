//! Server-side render time of the two heaviest pages, through the whole
//! router (authentication, store queries, template): the DAGs page with
//! 1,000 DAGs, and a DAG page whose grid is 25 runs x 50 tasks.
//! `cargo bench -p updraft-web --bench render`; prints medians.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use tower::ServiceExt;
use updraft_engine::runtime::{DagCache, create_run};
use updraft_engine::store::{RunType, Store, TaskState};
use updraft_web::{AppState, WebParams};

fn small_dag(i: usize) -> String {
    format!(
        "description: DAG number {i}\nschedule: \"{} 2 * * *\"\nstart_date: 2024-11-01\ntags: [team{}, bench]\ntasks:\n  a:\n    operator: shell\n    command: echo a\n  b:\n    operator: shell\n    depends_on: a\n    command: echo b\n  c:\n    operator: shell\n    depends_on: a\n    command: echo c\n",
        i % 60,
        i % 7
    )
}

fn wide_dag() -> String {
    let mut s = String::from("schedule: \"@daily\"\nstart_date: 2024-01-01\ntasks:\n");
    for t in 0..50 {
        s.push_str(&format!("  t{t:02}:\n    operator: shell\n    command: echo {t}\n"));
        if t > 0 {
            s.push_str(&format!("    depends_on: t{:02}\n", (t - 1) / 3));
        }
    }
    s
}

async fn add(store: &Store, cache: &DagCache, dag_id: &str, source: &str) -> (Arc<updraft_engine::Dag>, i64) {
    let file = format!("dags/{dag_id}.yaml");
    let dag = Arc::new(updraft_engine::load_dag(Path::new(&file), source, cache.registry()).unwrap());
    let v = store.sync_dag(dag_id, &file, source, false).await.unwrap();
    cache.insert(v, dag.clone());
    (dag, v)
}

async fn time(app: &axum::Router, uri: &str, runs: usize) -> (Duration, usize) {
    let mut times = Vec::new();
    let mut size = 0;
    for i in 0..runs + 3 {
        let start = Instant::now();
        let resp = app
            .clone()
            .oneshot(
                Request::get(uri)
                    .header("host", "127.0.0.1")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{uri}");
        size = resp.into_body().collect().await.unwrap().to_bytes().len();
        if i >= 3 {
            times.push(start.elapsed());
        }
    }
    times.sort();
    (times[times.len() / 2], size)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}/bench.db", dir.path().display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let cache = Arc::new(DagCache::new(
        store.clone(),
        updraft_engine::Registry::with(updraft_operators::register_all),
    ));
    eprintln!("setting up 1,000 DAGs with 3 runs each, and a 50-task DAG with 25 runs...");
    for i in 0..1000 {
        let id = format!("dag_{i:04}");
        let (dag, v) = add(&store, &cache, &id, &small_dag(i)).await;
        for day in 1..=3 {
            let at = format!("2024-11-{day:02}T02:00:00Z").parse().unwrap();
            create_run(&store, &dag, v, RunType::Scheduled, Some(at), Default::default())
                .await
                .unwrap();
        }
    }
    let (wide, v) = add(&store, &cache, "wide", &wide_dag()).await;
    for day in 1..=25 {
        let at = format!("2024-10-{day:02}T00:00:00Z").parse().unwrap();
        let run = create_run(&store, &wide, v, RunType::Scheduled, Some(at), Default::default())
            .await
            .unwrap()
            .unwrap();
        let ids: Vec<i64> = store
            .task_instances(run.id)
            .await
            .unwrap()
            .iter()
            .map(|t| t.id)
            .collect();
        store
            .transition_tasks(&ids[..ids.len() / 2], &[TaskState::None], TaskState::Success)
            .await
            .unwrap();
    }
    let app = updraft_web::router(AppState::new(WebParams {
        store: store.clone(),
        cache,
        signals: None,
        overrides: Default::default(),
        allow_open: true,
        secure_cookies: true,
        signing_key: None,
        limits: Default::default(),
    }));
    let runs = 15;
    let (dags, dags_size) = time(&app, "/dags", runs).await;
    let (dag, dag_size) = time(&app, "/dags/wide", runs).await;
    let (grid, _) = time(&app, "/dags/wide/live", runs).await;
    println!("web render, median of {runs} (after 3 warm-up requests):");
    println!(
        "  DAGs page, 1,000 DAGs:            {:>7.2} ms ({} KiB)",
        ms(dags),
        dags_size / 1024
    );
    println!(
        "  DAG page, grid 25 runs x 50 tasks: {:>7.2} ms ({} KiB)",
        ms(dag),
        dag_size / 1024
    );
    println!("  grid fragment (the live refresh):  {:>7.2} ms", ms(grid));
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
