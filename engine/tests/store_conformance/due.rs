//! What the scheduler reads and writes for many runs at once: created in
//! batches (a taken logical date answered in its place), counted per DAG,
//! started together, their task states read together.

use super::*;

pub async fn runs_are_created_in_batches_and_a_taken_date_is_answered_in_place(store: &Store) {
    let mut batch = Vec::new();
    // More than one transaction's worth (64 runs), over 150 DAGs.
    for i in 0..150 {
        let dag_id = format!("d{i:03}");
        let v = dag(store, &dag_id).await;
        batch.push(new_run(&dag_id, v, "2024-11-01", &[("a", 1), ("b", 2)]));
    }
    // d070's logical date is taken already: its answer is None, in its place.
    let taken = store.create_run(&batch[70]).await.unwrap().unwrap();
    let created = store.create_runs(&batch).await.unwrap();
    assert_eq!(created.len(), 150);
    for (i, (new, run)) in batch.iter().zip(&created).enumerate() {
        if i == 70 {
            assert!(run.is_none(), "d070 had its run already");
            continue;
        }
        let run = run.as_ref().unwrap_or_else(|| panic!("run of {} created", new.dag_id));
        assert_eq!(
            (run.dag_id.as_str(), run.state),
            (new.dag_id.as_str(), RunState::Queued)
        );
        assert_eq!(run.logical_date, new.logical_date);
        let tis = store.task_instances(run.id).await.unwrap();
        let got: Vec<(&str, u32, TaskState)> = tis.iter().map(|t| (t.task_id.as_str(), t.max_tries, t.state)).collect();
        assert_eq!(got, [("a", 1, TaskState::None), ("b", 2, TaskState::None)]);
    }
    assert_eq!(store.list_runs("d070", 10).await.unwrap(), vec![taken]);
    // Once more: every one is taken now.
    assert!(
        store
            .create_runs(&batch[..3])
            .await
            .unwrap()
            .iter()
            .all(Option::is_none)
    );
    assert!(store.create_runs(&[]).await.unwrap().is_empty());
}

pub async fn runs_are_counted_started_and_read_together(store: &Store) {
    let a = dag(store, "a").await;
    let b = dag(store, "b").await;
    let mk = |dag_id: &str, v: i64, day: &str, run_type: RunType| {
        let mut n = new_run(dag_id, v, day, &[("x", 1), ("y", 1), ("z", 1)]);
        n.run_type = run_type;
        n.run_id = run_id_for(run_type, n.logical_date);
        n
    };
    let a1 = store
        .create_run(&mk("a", a, "2024-11-01", RunType::Scheduled))
        .await
        .unwrap()
        .unwrap();
    let a2 = store
        .create_run(&mk("a", a, "2024-11-02", RunType::Backfill))
        .await
        .unwrap()
        .unwrap();
    let a3 = store
        .create_run(&mk("a", a, "2024-11-03", RunType::Manual))
        .await
        .unwrap()
        .unwrap();
    let b1 = store
        .create_run(&mk("b", b, "2024-11-01", RunType::Scheduled))
        .await
        .unwrap()
        .unwrap();
    let b2 = store
        .create_run(&mk("b", b, "2024-11-02", RunType::Scheduled))
        .await
        .unwrap()
        .unwrap();
    assert!(store.start_run(a3.id).await.unwrap());
    assert!(store.start_run(b2.id).await.unwrap());
    assert!(store.finish_run(b2.id, RunState::Success).await.unwrap());

    let active = store.active_runs_by_dag().await.unwrap();
    assert_eq!((active.get("a"), active.get("b")), (Some(&3), Some(&1)), "{active:?}");

    // a3 runs already and b2 ended: only the queued ones start.
    let before = Timestamp::now();
    let started = store
        .start_runs(vec![a1.clone(), a2.clone(), a3.clone(), b1.clone(), b2.clone()])
        .await
        .unwrap();
    let ids: Vec<i64> = started.iter().map(|r| r.id).collect();
    assert_eq!(ids, [a1.id, a2.id, b1.id]);
    for r in &started {
        assert_eq!(r.state, RunState::Running);
        let stored = store.get_run_by_pk(r.id).await.unwrap().unwrap();
        assert_eq!(stored, *r, "what start_runs answers is what the store holds");
        assert!(r.start_date.unwrap() >= before - SignedDuration::from_secs(1));
    }
    assert!(
        store.start_runs(vec![a1.clone()]).await.unwrap().is_empty(),
        "only a queued run starts"
    );

    let counts = store.running_counts().await.unwrap();
    assert_eq!(
        counts.all.get("a"),
        Some(&3),
        "scheduled, backfill and manual: {counts:?}"
    );
    assert_eq!(counts.backfill.get("a"), Some(&1));
    assert_eq!(counts.all.get("b"), Some(&1));
    assert_eq!(counts.backfill.get("b"), None);

    let tis = store.task_instances(a1.id).await.unwrap();
    store
        .transition_tasks(&[tis[1].id], &[TaskState::None], TaskState::Queued)
        .await
        .unwrap();
    let states = store.task_states_of_runs(&[a1.id, b1.id, 999_999]).await.unwrap();
    assert_eq!(states.len(), 2, "a run without task instances has no entry");
    for pk in [a1.id, b1.id] {
        let mut together = states[&pk].clone();
        let mut alone = store.task_states(pk).await.unwrap();
        together.sort_by_key(|s| s.0);
        alone.sort_by_key(|s| s.0);
        assert_eq!(together, alone, "read together as read alone");
    }
    let queued: Vec<&str> = states[&a1.id]
        .iter()
        .filter(|s| s.2 == TaskState::Queued)
        .map(|s| s.1.as_str())
        .collect();
    assert_eq!(queued, ["y"]);
}
