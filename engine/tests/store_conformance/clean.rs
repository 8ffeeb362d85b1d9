//! `db clean`: finished history before a cut-off goes with its task
//! instances and logs, a batch at a time; unfinished runs and each DAG's
//! newest scheduled run stay.

use jiff::{SignedDuration, Timestamp};
use updraft_engine::store::{Dialect, RunState, RunType, Store};

use super::{dag, new_run};

pub async fn clean_removes_finished_history_but_the_newest_scheduled_run(store: &Store) {
    let v = dag(store, "etl").await;
    let mut finished = Vec::new();
    for day in 1..=5 {
        let run = store
            .create_run(&new_run("etl", v, &format!("2024-11-0{day}"), &[("a", 1), ("b", 1)]))
            .await
            .unwrap()
            .unwrap();
        let ti = store.task_instances(run.id).await.unwrap().remove(0);
        store
            .append_logs(
                ti.id,
                1,
                &[(Timestamp::now(), "stdout", "x"), (Timestamp::now(), "stdout", "y")],
            )
            .await
            .unwrap();
        if day < 5 {
            assert!(store.start_run(run.id).await.unwrap());
            let state = if day == 2 { RunState::Failed } else { RunState::Success };
            assert!(store.finish_run(run.id, state).await.unwrap());
            finished.push(run.id);
        }
    }
    // A manual run, finished, newer than every scheduled one: it goes too.
    let mut manual = new_run("etl", v, "2024-11-09", &[("a", 1)]);
    manual.run_type = RunType::Manual;
    manual.run_id = "manual__x".into();
    let manual = store.create_run(&manual).await.unwrap().unwrap();
    assert!(store.start_run(manual.id).await.unwrap());
    assert!(store.finish_run(manual.id, RunState::Success).await.unwrap());

    // A cut-off in the past: nothing ended before it.
    let past = Timestamp::now() - SignedDuration::from_hours(1);
    let none = store.clean_history(past, 2, false, |_| {}).await.unwrap();
    assert_eq!((none.runs, none.task_instances, none.log_lines), (0, 0, 0));

    // Everything finished so far is older than a cut-off just ahead; the
    // newest scheduled run (day 5) is still queued, so days 1-4 and the
    // manual run go.
    let cut = Timestamp::now() + SignedDuration::from_secs(1);
    let would = store.clean_history(cut, 2, true, |_| {}).await.unwrap();
    assert_eq!((would.runs, would.task_instances, would.log_lines), (5, 9, 8));
    assert_eq!(
        store.list_runs("etl", 100).await.unwrap().len(),
        6,
        "a dry run deletes nothing"
    );
    let mut batches = 0;
    let done = store.clean_history(cut, 2, false, |_| batches += 1).await.unwrap();
    assert_eq!((done.runs, done.task_instances, done.log_lines), (5, 9, 8));
    assert_eq!(batches, 3, "5 runs in batches of 2");
    let left = store.list_runs("etl", 100).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].logical_date.to_string(), "2024-11-05T02:00:00Z");
    assert_eq!(store.task_instances(left[0].id).await.unwrap().len(), 2);
    for pk in finished {
        assert!(store.task_instances(pk).await.unwrap().is_empty());
    }

    // Once finished, the newest scheduled run is still kept: the schedule
    // continues from it.
    assert!(store.start_run(left[0].id).await.unwrap());
    assert!(store.finish_run(left[0].id, RunState::Success).await.unwrap());
    let cut = Timestamp::now() + SignedDuration::from_secs(1);
    let again = store.clean_history(cut, 2, false, |_| {}).await.unwrap();
    assert_eq!(again.runs, 0);
    assert!(store.last_scheduled_interval("etl").await.unwrap().is_some());
}

/// On SQLite the file gives the deleted history's pages back (a store
/// made before incremental vacuum is switched by one VACUUM first).
pub async fn clean_gives_the_space_back(store: &Store) {
    let v = dag(store, "big").await;
    let line = "z".repeat(1000);
    for day in 1..=2 {
        let run = store
            .create_run(&new_run("big", v, &format!("2024-11-0{day}"), &[("a", 1)]))
            .await
            .unwrap()
            .unwrap();
        let ti = store.task_instances(run.id).await.unwrap().remove(0);
        let batch: Vec<(Timestamp, &str, &str)> = (0..10_000)
            .map(|_| (Timestamp::now(), "stdout", line.as_str()))
            .collect();
        store.append_logs(ti.id, 1, &batch).await.unwrap();
        assert!(store.start_run(run.id).await.unwrap());
        assert!(store.finish_run(run.id, RunState::Success).await.unwrap());
    }
    let cut = Timestamp::now() + SignedDuration::from_secs(1);
    let done = store.clean_history(cut, 100, false, |_| {}).await.unwrap();
    assert_eq!(
        (done.runs, done.log_lines),
        (1, 10_000),
        "day 2 is the newest scheduled run"
    );
    match store.dialect() {
        Dialect::Sqlite => assert!(done.bytes_freed > 8 << 20, "freed {} bytes", done.bytes_freed),
        Dialect::Postgres => assert_eq!(done.bytes_freed, 0),
    }
}
