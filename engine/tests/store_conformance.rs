//! The state store's conformance suite: every test runs against SQLite and
//! against a real Postgres (`UPDRAFT_TEST_POSTGRES_URL`, an admin URL; each
//! test gets a fresh database). `.ci/run` starts Postgres and sets it; on a
//! machine without it the Postgres half says it is skipped, and under CI it
//! fails instead.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};

use jiff::{SignedDuration, Timestamp};
use updraft_engine::connection::Connection;
use updraft_engine::store::{NewRun, RunState, RunType, Store, TaskState, TryOutcome, WorkerInfo, run_id_for};

struct TestStore {
    store: Store,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/state/updraft.db", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    TestStore { store, _dir: Some(dir) }
}

static DB_COUNTER: AtomicU32 = AtomicU32::new(0);

async fn postgres() -> Option<TestStore> {
    let Ok(admin) = std::env::var("UPDRAFT_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must run the Postgres half: set UPDRAFT_TEST_POSTGRES_URL"
        );
        eprintln!("SKIPPED (Postgres): UPDRAFT_TEST_POSTGRES_URL is not set");
        return None;
    };
    let name = format!(
        "updraft_t_{}_{}",
        std::process::id(),
        DB_COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let admin_store = Store::connect(&admin).await.unwrap();
    admin_store
        .exec_admin(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let base = admin.rsplit_once('/').unwrap().0;
    let store = Store::connect(&format!("{base}/{name}")).await.unwrap();
    store.migrate().await.unwrap();
    Some(TestStore { store, _dir: None })
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite_backend {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(&super::sqlite().await.store).await; })*
        }
        mod postgres_backend {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(t) = super::postgres().await { super::$name(&t.store).await; }
            })*
        }
    };
}

conformance!(
    migrations_apply_once,
    dag_versions_and_pause,
    a_run_is_created_once,
    concurrent_run_creation_creates_one,
    claims_are_exclusive_under_concurrency,
    finishing_is_fenced_by_worker_and_try,
    retries_then_failure,
    lost_workers_tasks_are_reaped,
    released_tasks_go_back_to_the_queue,
    downstream_claims_are_guarded,
    batched_reports_are_fenced_one_by_one,
    transitions_only_from_expected_states,
    logs_append_and_follow,
    connections_and_variables,
    workers_come_and_go,
    rerun_in_place,
    clear_and_mark_by_hand,
    users_tokens_and_sessions,
    ui_reads,
);

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

async fn dag(store: &Store, dag_id: &str) -> i64 {
    store
        .sync_dag(
            dag_id,
            &format!("dags/{dag_id}.yaml"),
            &format!("dag_id: {dag_id}\n"),
            false,
        )
        .await
        .unwrap()
}

fn new_run(dag_id: &str, version_id: i64, day: &str, tasks: &[(&str, u32)]) -> NewRun {
    let logical = t(&format!("{day}T02:00:00Z"));
    NewRun {
        dag_id: dag_id.into(),
        run_id: run_id_for(RunType::Scheduled, logical),
        logical_date: logical,
        data_interval_start: logical,
        data_interval_end: logical + SignedDuration::from_hours(24),
        run_type: RunType::Scheduled,
        conf: serde_json::Map::new(),
        version_id,
        tasks: tasks.iter().map(|(id, tries)| (id.to_string(), *tries)).collect(),
    }
}

async fn queue_all(store: &Store, run_pk: i64) -> Vec<i64> {
    let ids: Vec<i64> = store
        .task_instances(run_pk)
        .await
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    store
        .transition_tasks(&ids, &[TaskState::None], TaskState::Queued)
        .await
        .unwrap();
    ids
}

async fn migrations_apply_once(store: &Store) {
    // Already migrated once by the fixture.
    assert_eq!(store.migrate().await.unwrap(), 0);
}

async fn dag_versions_and_pause(store: &Store) {
    let v1 = store.sync_dag("etl", "dags/etl.yaml", "a: 1\n", true).await.unwrap();
    assert_eq!(
        store.sync_dag("etl", "dags/etl.yaml", "a: 1\n", true).await.unwrap(),
        v1
    );
    let v2 = store.sync_dag("etl", "dags/etl.yaml", "a: 2\n", true).await.unwrap();
    assert_ne!(v1, v2);
    assert_eq!(store.dag_version(v1).await.unwrap().2, "a: 1\n");
    let d = store.get_dag("etl").await.unwrap().unwrap();
    assert!(d.is_paused, "new DAGs start paused when asked");
    assert_eq!(d.version_id, Some(v2));
    assert!(store.set_paused("etl", false).await.unwrap());
    assert!(!store.get_dag("etl").await.unwrap().unwrap().is_paused);
    assert!(!store.set_paused("nope", false).await.unwrap());
    // A later sync keeps the pause flag the user set.
    store.sync_dag("etl", "dags/etl.yaml", "a: 3\n", true).await.unwrap();
    assert!(!store.get_dag("etl").await.unwrap().unwrap().is_paused);
    store
        .set_import_errors(&[("dags/bad.yaml".into(), vec!["dags/bad.yaml:1:1: boom".into()])])
        .await
        .unwrap();
    assert_eq!(
        store.import_errors().await.unwrap()[0].1,
        vec!["dags/bad.yaml:1:1: boom".to_string()]
    );
    store.set_import_errors(&[]).await.unwrap();
    assert!(store.import_errors().await.unwrap().is_empty());
}

async fn a_run_is_created_once(store: &Store) {
    let v = dag(store, "etl").await;
    let mut nr = new_run("etl", v, "2024-11-01", &[("extract", 3), ("load", 1)]);
    nr.conf.insert("k".into(), "v".into());
    let run = store.create_run(&nr).await.unwrap().unwrap();
    assert_eq!(run.state, RunState::Queued);
    assert_eq!(run.run_id, "scheduled__2024-11-01T02:00:00+00:00");
    assert_eq!(run.conf["k"], "v");
    assert!(store.create_run(&nr).await.unwrap().is_none(), "same logical date");
    let mut other_id = nr.clone();
    other_id.run_id = "manual__x".into();
    assert!(
        store.create_run(&other_id).await.unwrap().is_none(),
        "same logical date, other run id"
    );
    let tis = store.task_instances(run.id).await.unwrap();
    assert_eq!(tis.len(), 2);
    assert_eq!(
        (
            tis[0].task_id.as_str(),
            tis[0].state,
            tis[0].max_tries,
            tis[0].try_number
        ),
        ("extract", TaskState::None, 3, 0)
    );
    assert_eq!(store.get_run("etl", &run.run_id).await.unwrap().unwrap(), run);
    assert_eq!(store.run_at("etl", nr.logical_date).await.unwrap().unwrap().id, run.id);
    assert!(store.start_run(run.id).await.unwrap());
    assert!(!store.start_run(run.id).await.unwrap(), "only a queued run starts");
    assert!(store.finish_run(run.id, RunState::Success).await.unwrap());
    let done = store.get_run_by_pk(run.id).await.unwrap().unwrap();
    assert_eq!(done.state, RunState::Success);
    assert!(done.start_date.is_some() && done.end_date.is_some());
    assert_eq!(
        store.last_scheduled_interval("etl").await.unwrap().unwrap().0,
        nr.logical_date
    );
    // Many tasks go in chunks.
    let many: Vec<(String, u32)> = (0..1234).map(|i| (format!("t{i}"), 1)).collect();
    let mut big = new_run("etl", v, "2024-11-02", &[]);
    big.tasks = many;
    let run = store.create_run(&big).await.unwrap().unwrap();
    assert_eq!(store.task_instances(run.id).await.unwrap().len(), 1234);
}

async fn concurrent_run_creation_creates_one(store: &Store) {
    let v = dag(store, "etl").await;
    let mut handles = Vec::new();
    for _ in 0..8 {
        let s = store.clone();
        let nr = new_run("etl", v, "2024-11-05", &[("a", 1), ("b", 1)]);
        handles.push(tokio::spawn(async move { s.create_run(&nr).await.unwrap().is_some() }));
    }
    let mut created = 0;
    for h in handles {
        created += usize::from(h.await.unwrap());
    }
    assert_eq!(created, 1);
    let run = store.list_runs("etl", 10).await.unwrap();
    assert_eq!(run.len(), 1);
    assert_eq!(store.task_instances(run[0].id).await.unwrap().len(), 2);
}

async fn claims_are_exclusive_under_concurrency(store: &Store) {
    let v = dag(store, "fan").await;
    let tasks: Vec<(String, u32)> = (0..200).map(|i| (format!("t{i}"), 1)).collect();
    let mut nr = new_run("fan", v, "2024-11-01", &[]);
    nr.tasks = tasks;
    let run = store.create_run(&nr).await.unwrap().unwrap();
    let ids = queue_all(store, run.id).await;
    let mut handles = Vec::new();
    for w in 0..6 {
        let s = store.clone();
        handles.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = s.claim(&format!("w{w}"), 7).await.unwrap();
                if batch.is_empty() {
                    return got;
                }
                for c in batch {
                    assert_eq!(c.ti.state, TaskState::Running);
                    assert_eq!(c.ti.try_number, 1);
                    assert_eq!(c.ti.worker_id.as_deref(), Some(format!("w{w}").as_str()));
                    assert_eq!(c.run.id, run.id);
                    got.push(c.ti.id);
                }
            }
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 200, "each task claimed exactly once");
    assert_eq!(unique, ids.into_iter().collect());
}

async fn finishing_is_fenced_by_worker_and_try(store: &Store) {
    let v = dag(store, "etl").await;
    let run = store
        .create_run(&new_run("etl", v, "2024-11-01", &[("a", 1)]))
        .await
        .unwrap()
        .unwrap();
    queue_all(store, run.id).await;
    let c = store.claim("w1", 10).await.unwrap().remove(0);
    let ok = TryOutcome::Success {
        output: serde_json::json!({"rows": 3}),
    };
    assert_eq!(
        store.finish_try(c.ti.id, 1, "w2", &ok).await.unwrap(),
        None,
        "another worker"
    );
    assert_eq!(
        store.finish_try(c.ti.id, 2, "w1", &ok).await.unwrap(),
        None,
        "another try"
    );
    assert_eq!(
        store.finish_try(c.ti.id, 1, "w1", &ok).await.unwrap(),
        Some(TaskState::Success)
    );
    assert_eq!(
        store.finish_try(c.ti.id, 1, "w1", &ok).await.unwrap(),
        None,
        "only once"
    );
    let ti = store.task_instance(run.id, "a").await.unwrap().unwrap();
    assert_eq!(ti.output, Some(serde_json::json!({"rows": 3})));
    assert!(ti.end_date.is_some());
    assert_eq!(
        store.task_outputs(run.id, &["a", "zzz"]).await.unwrap(),
        vec![("a".to_string(), serde_json::json!({"rows": 3}))]
    );
}

async fn retries_then_failure(store: &Store) {
    let v = dag(store, "etl").await;
    let run = store
        .create_run(&new_run("etl", v, "2024-11-01", &[("a", 2)]))
        .await
        .unwrap()
        .unwrap();
    queue_all(store, run.id).await;
    let c = store.claim("w1", 1).await.unwrap().remove(0);
    let retry_at = t("2030-01-01T00:00:00Z");
    let fail = TryOutcome::Failed {
        error: "boom".into(),
        retry_at: Some(retry_at),
    };
    assert_eq!(
        store.finish_try(c.ti.id, 1, "w1", &fail).await.unwrap(),
        Some(TaskState::UpForRetry)
    );
    let ti = store.task_instance(run.id, "a").await.unwrap().unwrap();
    assert_eq!((ti.next_retry_at, ti.error.as_deref()), (Some(retry_at), Some("boom")));
    assert!(
        store.claim("w1", 1).await.unwrap().is_empty(),
        "not queued until the scheduler says so"
    );
    store
        .transition_tasks(&[ti.id], &[TaskState::UpForRetry], TaskState::Queued)
        .await
        .unwrap();
    let c = store.claim("w1", 1).await.unwrap().remove(0);
    assert_eq!(c.ti.try_number, 2);
    assert_eq!(
        store.finish_try(c.ti.id, 2, "w1", &fail).await.unwrap(),
        Some(TaskState::Failed),
        "no tries left"
    );
    // A failure without a retry time is final even with tries left.
    let run = store
        .create_run(&new_run("etl", v, "2024-11-02", &[("b", 5)]))
        .await
        .unwrap()
        .unwrap();
    queue_all(store, run.id).await;
    let c = store.claim("w1", 1).await.unwrap().remove(0);
    let fatal = TryOutcome::Failed {
        error: "bad config".into(),
        retry_at: None,
    };
    assert_eq!(
        store.finish_try(c.ti.id, 1, "w1", &fatal).await.unwrap(),
        Some(TaskState::Failed)
    );
}

async fn lost_workers_tasks_are_reaped(store: &Store) {
    let v = dag(store, "etl").await;
    let run = store
        .create_run(&new_run("etl", v, "2024-11-01", &[("a", 2), ("b", 1), ("c", 1)]))
        .await
        .unwrap()
        .unwrap();
    queue_all(store, run.id).await;
    let claimed = store.claim("dead", 2).await.unwrap();
    let alive = store.claim("alive", 1).await.unwrap();
    assert_eq!((claimed.len(), alive.len()), (2, 1));
    let long_ago = t("2000-01-01T00:00:00Z");
    let mut reaped = store.reap_lost_tasks(long_ago, &["alive".to_string()]).await.unwrap();
    reaped.sort_by(|a, b| a.task_id.cmp(&b.task_id));
    assert_eq!(
        reaped
            .iter()
            .map(|r| (r.task_id.as_str(), r.retried))
            .collect::<Vec<_>>(),
        [("a", true), ("b", false)]
    );
    let a = store.task_instance(run.id, "a").await.unwrap().unwrap();
    assert_eq!(a.state, TaskState::UpForRetry);
    assert!(a.error.unwrap().contains("no heartbeat"));
    // The lost worker's late report is refused.
    let ok = TryOutcome::Success {
        output: serde_json::Value::Null,
    };
    assert_eq!(store.finish_try(a.id, 1, "dead", &ok).await.unwrap(), None);
    // A live worker whose heartbeat is stale is reaped too.
    let far_future = Timestamp::now() + SignedDuration::from_hours(1);
    let reaped = store.reap_lost_tasks(far_future, &["alive".to_string()]).await.unwrap();
    assert_eq!(reaped.len(), 1);
    assert_eq!(reaped[0].task_id, "c");
    assert_eq!(store.heartbeat_tasks("alive").await.unwrap(), vec![]);
}

async fn released_tasks_go_back_to_the_queue(store: &Store) {
    let v = dag(store, "etl").await;
    let run = store
        .create_run(&new_run("etl", v, "2024-11-01", &[("a", 1)]))
        .await
        .unwrap()
        .unwrap();
    queue_all(store, run.id).await;
    let c = store.claim("w1", 1).await.unwrap().remove(0);
    assert_eq!(store.heartbeat_tasks("w1").await.unwrap(), vec![(c.ti.id, 1)]);
    assert_eq!(store.release_tasks("w1", &[c.ti.id]).await.unwrap(), 1);
    let again = store.claim("w2", 1).await.unwrap().remove(0);
    assert_eq!(
        (again.ti.id, again.ti.try_number),
        (c.ti.id, 1),
        "a released try does not count"
    );
}

async fn transitions_only_from_expected_states(store: &Store) {
    let v = dag(store, "etl").await;
    let run = store
        .create_run(&new_run("etl", v, "2024-11-01", &[("a", 1), ("b", 1)]))
        .await
        .unwrap()
        .unwrap();
    let tis = store.task_instances(run.id).await.unwrap();
    assert_eq!(
        store
            .transition_tasks(&[tis[0].id], &[TaskState::None], TaskState::Skipped)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .transition_tasks(&[tis[0].id], &[TaskState::None], TaskState::Queued)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .transition_tasks(&[tis[1].id], &[TaskState::None], TaskState::UpstreamFailed)
            .await
            .unwrap(),
        1
    );
    let tis = store.task_instances(run.id).await.unwrap();
    assert_eq!(
        (tis[0].state, tis[1].state),
        (TaskState::Skipped, TaskState::UpstreamFailed)
    );
    assert!(tis[0].end_date.is_some());
}

async fn logs_append_and_follow(store: &Store) {
    let v = dag(store, "etl").await;
    let run = store
        .create_run(&new_run("etl", v, "2024-11-01", &[("a", 1)]))
        .await
        .unwrap()
        .unwrap();
    let ti = store.task_instances(run.id).await.unwrap().remove(0);
    let now = Timestamp::now();
    let lines: Vec<String> = (0..450).map(|i| format!("line {i}")).collect();
    let batch: Vec<(Timestamp, &str, &str)> = lines.iter().map(|l| (now, "stdout", l.as_str())).collect();
    store.append_logs(ti.id, 1, &batch).await.unwrap();
    store
        .append_logs(ti.id, 2, &[(now, "stderr", "second try")])
        .await
        .unwrap();
    let first = store.read_logs(ti.id, 1, 0, 100).await.unwrap();
    assert_eq!(first.len(), 100);
    assert_eq!(first[0].line, "line 0");
    let rest = store
        .read_logs(ti.id, 1, first.last().unwrap().seq, 1000)
        .await
        .unwrap();
    assert_eq!(rest.len(), 350);
    assert_eq!(rest.last().unwrap().line, "line 449");
    let try2 = store.read_logs(ti.id, 2, 0, 10).await.unwrap();
    assert_eq!((try2.len(), try2[0].stream.as_str()), (1, "stderr"));
}

async fn connections_and_variables(store: &Store) {
    let c = Connection {
        conn_type: Some("postgres".into()),
        host: Some("db".into()),
        login: Some("u".into()),
        password: Some("p@ss".into()),
        port: Some(5432),
        schema: Some("public".into()),
        extra: Some(serde_json::json!({"sslmode": "require"})),
    };
    store.set_connection("postgres-source", &c).await.unwrap();
    let all = store.connections().await.unwrap();
    let got = &all["postgres-source"];
    assert_eq!(
        (got.host.as_deref(), got.port, got.password.as_deref()),
        (Some("db"), Some(5432), Some("p@ss"))
    );
    assert_eq!(got.extra_json()["sslmode"], "require");
    store
        .set_connection(
            "postgres-source",
            &Connection {
                host: Some("db2".into()),
                ..Connection::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.connections().await.unwrap()["postgres-source"].host.as_deref(),
        Some("db2")
    );
    assert!(store.delete_connection("postgres-source").await.unwrap());
    assert!(!store.delete_connection("postgres-source").await.unwrap());
    store.set_variable("gcs", r#"{"landing": "l"}"#).await.unwrap();
    store.set_variable("gcs", r#"{"landing": "m"}"#).await.unwrap();
    assert_eq!(store.variables().await.unwrap()["gcs"], r#"{"landing": "m"}"#);
    assert!(store.delete_variable("gcs").await.unwrap());
    assert!(store.variables().await.unwrap().is_empty());
}

async fn workers_come_and_go(store: &Store) {
    let now = Timestamp::now();
    let w = |id: &str, beat: Timestamp| WorkerInfo {
        worker_id: id.into(),
        kind: "worker".into(),
        hostname: "h".into(),
        pid: 1,
        slots: 4,
        started_at: beat,
        heartbeat: beat,
    };
    store
        .register_worker(&w("old", now - SignedDuration::from_mins(10)))
        .await
        .unwrap();
    store.register_worker(&w("new", now)).await.unwrap();
    let live = store.live_workers(now - SignedDuration::from_secs(30)).await.unwrap();
    assert_eq!(live.iter().map(|w| w.worker_id.as_str()).collect::<Vec<_>>(), ["new"]);
    store.deregister_worker("new").await.unwrap();
    assert!(
        store
            .live_workers(now - SignedDuration::from_secs(30))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn rerun_in_place(store: &Store) {
    let v = dag(store, "etl").await;
    let run = store
        .create_run(&new_run("etl", v, "2024-11-01", &[("a", 2)]))
        .await
        .unwrap()
        .unwrap();
    queue_all(store, run.id).await;
    store.start_run(run.id).await.unwrap();
    let c = store.claim("w", 1).await.unwrap().remove(0);
    store
        .finish_try(
            c.ti.id,
            1,
            "w",
            &TryOutcome::Failed {
                error: "x".into(),
                retry_at: None,
            },
        )
        .await
        .unwrap();
    assert!(
        !store
            .rerun(run.id, RunType::Backfill, &[("a".into(), 2)])
            .await
            .unwrap(),
        "a running run is not rerun"
    );
    store.finish_run(run.id, RunState::Failed).await.unwrap();
    assert!(
        store
            .rerun(run.id, RunType::Backfill, &[("a".into(), 2)])
            .await
            .unwrap()
    );
    let again = store.get_run_by_pk(run.id).await.unwrap().unwrap();
    assert_eq!(
        (again.state, again.run_type, again.run_id),
        (RunState::Queued, RunType::Backfill, run.run_id)
    );
    let ti = store.task_instance(run.id, "a").await.unwrap().unwrap();
    assert_eq!(
        (ti.state, ti.try_number, ti.max_tries, ti.error),
        (TaskState::None, 1, 3, None)
    );
    assert_eq!(
        store.list_runs("etl", 10).await.unwrap().len(),
        1,
        "never two runs for one date"
    );
}

/// Processes starting together (a CLI command beside `standalone`) migrate
/// the same fresh SQLite file at once: one does the work, none fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrations_of_a_fresh_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/fresh.db", dir.path().display());
    let mut handles = Vec::new();
    for _ in 0..4 {
        let url = url.clone();
        handles.push(tokio::spawn(async move {
            let store = Store::connect(&url).await.unwrap();
            store.migrate().await.unwrap()
        }));
    }
    let mut applied = 0;
    for h in handles {
        applied += h.await.unwrap();
    }
    assert_eq!(applied, 3, "each migration applied once, by one of them");
}

/// With a secret key, passwords, extras and variable values are encrypted
/// at rest: not in the database file, unreadable without the key or with
/// another one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_encrypted_at_rest_with_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/enc.db", dir.path().display());
    let store = Store::connect(&url)
        .await
        .unwrap()
        .with_secret_key("correct horse battery staple");
    store.migrate().await.unwrap();
    let c = Connection {
        password: Some("pw-plain-7781".into()),
        extra: Some(serde_json::json!({"api_key": "extra-plain-7782"})),
        host: Some("db".into()),
        ..Connection::default()
    };
    store.set_connection("pg", &c).await.unwrap();
    store.set_variable("token", "var-plain-7783").await.unwrap();
    let back = store.connections().await.unwrap();
    assert_eq!(back["pg"].password.as_deref(), Some("pw-plain-7781"));
    assert_eq!(back["pg"].extra_json()["api_key"], "extra-plain-7782");
    assert_eq!(store.variables().await.unwrap()["token"], "var-plain-7783");
    store.close().await;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for secret in ["pw-plain-7781", "extra-plain-7782", "var-plain-7783"] {
            assert!(!text.contains(secret), "{secret} is stored in the clear");
        }
    }
    let no_key = Store::connect(&url).await.unwrap();
    let e = no_key.connections().await.unwrap_err().to_string();
    assert!(
        e.contains("connection `pg` is encrypted at rest; set UPDRAFT_SECRET_KEY"),
        "{e}"
    );
    let wrong = Store::connect(&url).await.unwrap().with_secret_key("wrong");
    let e = wrong.variables().await.unwrap_err().to_string();
    assert!(e.contains("variable `token` cannot be decrypted"), "{e}");
    assert!(!e.contains("var-plain"), "{e}");
}

async fn clear_and_mark_by_hand(store: &Store) {
    let v = dag(store, "etl").await;
    let run = store
        .create_run(&new_run("etl", v, "2024-11-01", &[("a", 1), ("b", 1)]))
        .await
        .unwrap()
        .unwrap();
    queue_all(store, run.id).await;
    let claimed = store.claim("w1", 2).await.unwrap();
    assert_eq!(claimed.len(), 2);
    // Marking a running try takes it from its worker: its report is fenced out.
    assert_eq!(
        store
            .mark_tasks(run.id, &["a".into()], TaskState::Failed)
            .await
            .unwrap(),
        1
    );
    let a = claimed.iter().find(|c| c.ti.task_id == "a").unwrap();
    let ok = TryOutcome::Success {
        output: serde_json::json!(1),
    };
    assert_eq!(store.finish_try(a.ti.id, 1, "w1", &ok).await.unwrap(), None);
    assert!(
        store
            .mark_tasks(run.id, &["a".into()], TaskState::Running)
            .await
            .is_err()
    );
    let b = claimed.iter().find(|c| c.ti.task_id == "b").unwrap();
    store.finish_try(b.ti.id, 1, "w1", &ok).await.unwrap();
    store.start_run(run.id).await.unwrap();
    store.finish_run(run.id, RunState::Failed).await.unwrap();
    // Clearing a task of a finished run queues the run again.
    assert_eq!(store.clear_tasks(run.id, &[("a".into(), 2)]).await.unwrap(), 1);
    let a = store.task_instance(run.id, "a").await.unwrap().unwrap();
    assert_eq!((a.state, a.try_number, a.max_tries), (TaskState::None, 1, 3));
    assert_eq!(
        store.task_instance(run.id, "b").await.unwrap().unwrap().state,
        TaskState::Success
    );
    let r = store.get_run_by_pk(run.id).await.unwrap().unwrap();
    assert_eq!((r.state, r.end_date), (RunState::Queued, None));
}

async fn users_tokens_and_sessions(store: &Store) {
    assert_eq!(store.count_users().await.unwrap(), 0);
    store.set_user("ada", "hash1").await.unwrap();
    store.set_user("ada", "hash2").await.unwrap();
    assert_eq!(store.user_password_hash("ada").await.unwrap().as_deref(), Some("hash2"));
    assert_eq!(store.user_password_hash("bob").await.unwrap(), None);
    store.add_api_token("ada", "ci", "tokhash").await.unwrap();
    assert_eq!(store.token_user("tokhash").await.unwrap().as_deref(), Some("ada"));
    let later = Timestamp::now() + SignedDuration::from_hours(1);
    store.create_session("s1", "ada", later).await.unwrap();
    store
        .create_session("old", "ada", Timestamp::now() - SignedDuration::from_hours(1))
        .await
        .unwrap();
    assert_eq!(store.session_user("s1").await.unwrap().as_deref(), Some("ada"));
    assert_eq!(store.session_user("old").await.unwrap(), None, "expired");
    let users = store.list_users().await.unwrap();
    assert_eq!((users[0].username.as_str(), users[0].tokens), ("ada", 1));
    store.delete_session("s1").await.unwrap();
    assert_eq!(store.session_user("s1").await.unwrap(), None);
    assert!(store.delete_user("ada").await.unwrap());
    assert_eq!(store.token_user("tokhash").await.unwrap(), None);
    assert_eq!(store.count_users().await.unwrap(), 0);
}

async fn ui_reads(store: &Store) {
    let v = dag(store, "etl").await;
    for day in ["2024-11-01", "2024-11-02", "2024-11-03"] {
        store
            .create_run(&new_run("etl", v, day, &[("a", 1), ("b", 1)]))
            .await
            .unwrap();
    }
    let last = store.last_scheduled_intervals().await.unwrap();
    assert_eq!(last["etl"].0, t("2024-11-03T02:00:00Z"));
    let dots = store.recent_runs_by_dag(2).await.unwrap();
    let etl = &dots["etl"];
    assert_eq!(etl.len(), 2);
    assert_eq!(etl[0].run_id, "scheduled__2024-11-03T02:00:00+00:00");
    let (runs, cells) = store.grid("etl", 2).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(cells.len(), 4);
    assert!(cells.iter().all(|c| c.state == TaskState::None));
}

async fn downstream_claims_are_guarded(store: &Store) {
    use updraft_engine::store::Dialect;
    let v = dag(store, "etl").await;
    let run = store
        .create_run(&new_run("etl", v, "2024-11-01", &[("a", 1), ("b", 1), ("x", 1)]))
        .await
        .unwrap()
        .unwrap();
    let id = |tis: &[updraft_engine::store::TaskInstance], t: &str| tis.iter().find(|ti| ti.task_id == t).unwrap().id;
    let tis = store.task_instances(run.id).await.unwrap();
    let (a, x) = (id(&tis, "a"), id(&tis, "x"));
    let claim = |max| store.claim_downstream("w1", run.id, "b", &["a"], max);
    // The run has not started.
    store
        .transition_tasks(&[a], &[TaskState::None], TaskState::Success)
        .await
        .unwrap();
    assert!(claim(16).await.unwrap().is_none(), "the run is not running yet");
    assert!(store.start_run(run.id).await.unwrap());
    if store.dialect() == Dialect::Postgres {
        assert!(
            claim(16).await.unwrap().is_none(),
            "Postgres leaves it to the scheduler"
        );
        return;
    }
    // An upstream that has not succeeded blocks it.
    store
        .transition_tasks(&[a], &[TaskState::Success], TaskState::Failed)
        .await
        .unwrap();
    assert!(claim(16).await.unwrap().is_none(), "upstream failed");
    store
        .transition_tasks(&[a], &[TaskState::Failed], TaskState::Success)
        .await
        .unwrap();
    // So does a full run under max_active_tasks.
    store
        .transition_tasks(&[x], &[TaskState::None], TaskState::Queued)
        .await
        .unwrap();
    assert!(claim(1).await.unwrap().is_none(), "no free slot");
    let ti = claim(2).await.unwrap().expect("claimed");
    assert_eq!(
        (ti.task_id.as_str(), ti.state, ti.try_number, ti.worker_id.as_deref()),
        ("b", TaskState::Running, 1, Some("w1"))
    );
    assert!(claim(16).await.unwrap().is_none(), "claimed once only");
}

async fn batched_reports_are_fenced_one_by_one(store: &Store) {
    let v = dag(store, "etl").await;
    let run = store
        .create_run(&new_run(
            "etl",
            v,
            "2024-11-01",
            &[("a", 1), ("b", 1), ("c", 2), ("d", 1)],
        ))
        .await
        .unwrap()
        .unwrap();
    queue_all(store, run.id).await;
    let claimed = store.claim("w1", 10).await.unwrap();
    let by = |t: &str| claimed.iter().find(|c| c.ti.task_id == t).unwrap().ti.id;
    let ok = |n: i64| TryOutcome::Success {
        output: serde_json::json!({ "n": n }),
    };
    let failed = TryOutcome::Failed {
        error: "boom".into(),
        retry_at: Some(Timestamp::now()),
    };
    let (ok_a, ok_b, ok_d) = (ok(1), ok(2), ok(4));
    let states = store
        .finish_tries(
            "w1",
            &[
                (by("a"), 1, &ok_a),
                (by("b"), 2, &ok_b), // not this try
                (by("c"), 1, &failed),
                (by("d"), 1, &ok_d),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        states,
        vec![
            Some(TaskState::Success),
            None,
            Some(TaskState::UpForRetry),
            Some(TaskState::Success)
        ]
    );
    let outputs = store.task_outputs(run.id, &["a", "b", "d"]).await.unwrap();
    assert_eq!(
        outputs.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
        [
            ("a".to_string(), serde_json::json!({"n": 1})),
            ("d".to_string(), serde_json::json!({"n": 4}))
        ]
        .into_iter()
        .collect()
    );
    let b = store.task_instance(run.id, "b").await.unwrap().unwrap();
    assert_eq!(b.state, TaskState::Running, "a report for another try changes nothing");
}
