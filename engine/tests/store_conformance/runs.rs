//! DAG versions, runs: created once, rerun in place, cleared and marked.

use super::*;

pub async fn migrations_apply_once(store: &Store) {
    // Already migrated once by the fixture.
    assert_eq!(store.migrate().await.unwrap(), 0);
}

pub async fn dag_versions_and_pause(store: &Store) {
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

pub async fn a_run_is_created_once(store: &Store) {
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

pub async fn concurrent_run_creation_creates_one(store: &Store) {
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

pub async fn rerun_in_place(store: &Store) {
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

pub async fn clear_and_mark_by_hand(store: &Store) {
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
    let alone = Store::connect(&format!("sqlite://{}/alone.db", dir.path().display()))
        .await
        .unwrap();
    let all = alone.migrate().await.unwrap();
    assert!(all >= 4);
    assert_eq!(applied, all, "each migration applied once, by one of them");
}
