//! Task instances: claims, reports fenced by worker and try, retries,
//! reaping, and the claims a worker makes on its way out of a task.

use super::*;
use updraft_engine::store::DownstreamClaim;

pub async fn claims_are_exclusive_under_concurrency(store: &Store) {
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

pub async fn finishing_is_fenced_by_worker_and_try(store: &Store) {
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

pub async fn retries_then_failure(store: &Store) {
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

pub async fn lost_workers_tasks_are_reaped(store: &Store) {
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
    let c = &alive[0].ti;
    assert_eq!(
        store.heartbeat_tasks("alive", &[(c.id, c.try_number)]).await.unwrap(),
        vec![],
        "a reaped try is no longer the worker's"
    );
}

pub async fn released_tasks_go_back_to_the_queue(store: &Store) {
    let v = dag(store, "etl").await;
    let run = store
        .create_run(&new_run("etl", v, "2024-11-01", &[("a", 1)]))
        .await
        .unwrap()
        .unwrap();
    queue_all(store, run.id).await;
    let c = store.claim("w1", 1).await.unwrap().remove(0);
    assert_eq!(
        store.heartbeat_tasks("w1", &[(c.ti.id, 1)]).await.unwrap(),
        vec![(c.ti.id, 1)]
    );
    assert_eq!(
        store.heartbeat_tasks("w1", &[(c.ti.id, 2)]).await.unwrap(),
        vec![],
        "another try of the task is not this one"
    );
    assert_eq!(store.release_tasks("w1", &[c.ti.id]).await.unwrap(), 1);
    let again = store.claim("w2", 1).await.unwrap().remove(0);
    assert_eq!(
        (again.ti.id, again.ti.try_number),
        (c.ti.id, 1),
        "a released try does not count"
    );
}

pub async fn transitions_only_from_expected_states(store: &Store) {
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

pub async fn downstream_claims_are_guarded(store: &Store) {
    let v = dag(store, "etl").await;
    let run = store
        .create_run(&new_run("etl", v, "2024-11-01", &[("a", 1), ("b", 1), ("x", 1)]))
        .await
        .unwrap()
        .unwrap();
    let id = |tis: &[updraft_engine::store::TaskInstance], t: &str| tis.iter().find(|ti| ti.task_id == t).unwrap().id;
    let tis = store.task_instances(run.id).await.unwrap();
    let (a, x) = (id(&tis, "a"), id(&tis, "x"));
    let wanted = |max| DownstreamClaim {
        task_id: "b".into(),
        upstream: vec!["a".into()],
        max_active: max,
    };
    let claim = |max| async move { store.claim_downstream("w1", run.id, &wanted(max)).await };
    // The run has not started.
    store
        .transition_tasks(&[a], &[TaskState::None], TaskState::Success)
        .await
        .unwrap();
    assert!(claim(16).await.unwrap().is_none(), "the run is not running yet");
    assert!(store.start_run(run.id).await.unwrap());
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

pub async fn batched_reports_are_fenced_one_by_one(store: &Store) {
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

pub async fn a_report_carries_its_lines_and_the_next_claim(store: &Store) {
    let v = dag(store, "etl").await;
    let run = store
        .create_run(&new_run("etl", v, "2024-11-01", &[("a", 2), ("b", 1), ("c", 1)]))
        .await
        .unwrap()
        .unwrap();
    assert!(store.start_run(run.id).await.unwrap());
    let tis = store.task_instances(run.id).await.unwrap();
    let id = |t: &str| tis.iter().find(|ti| ti.task_id == t).unwrap().id;
    store
        .transition_tasks(&[id("a")], &[TaskState::None], TaskState::Queued)
        .await
        .unwrap();
    assert_eq!(store.claim("w1", 10).await.unwrap().len(), 1);
    let next = |t: &str, up: &str| DownstreamClaim {
        task_id: t.into(),
        upstream: vec![up.into()],
        max_active: 16,
    };
    let now = Timestamp::now();
    let lines = [
        (id("a"), 1, now, "stdout", "hello"),
        (id("a"), 1, now, "system", "succeeded"),
    ];
    let ok = TryOutcome::Success {
        output: serde_json::json!({"rows": 3}),
    };
    // Another worker's report changes nothing and claims nothing.
    let (state, claimed) = store
        .finish_and_claim("w2", (&[], &[]), (id("a"), 1, &ok), run.id, &[next("b", "a")])
        .await
        .unwrap();
    assert_eq!((state, claimed.map(|t| t.task_id)), (None, None));
    // A failure is recorded and claims nothing.
    let failed = TryOutcome::Failed {
        error: "boom".into(),
        retry_at: Some(now),
    };
    let (state, claimed) = store
        .finish_and_claim(
            "w1",
            (&lines[..1], &[]),
            (id("a"), 1, &failed),
            run.id,
            &[next("b", "a")],
        )
        .await
        .unwrap();
    assert_eq!(state, Some(TaskState::UpForRetry));
    assert!(claimed.is_none());
    // The retry succeeds: its lines are stored, and the first claimable
    // task of the list is claimed for w1. "c" waits on an upstream that
    // never ran.
    store
        .transition_tasks(&[id("a")], &[TaskState::UpForRetry], TaskState::Queued)
        .await
        .unwrap();
    assert_eq!(store.claim("w1", 10).await.unwrap()[0].ti.try_number, 2);
    let (state, claimed) = store
        .finish_and_claim(
            "w1",
            (
                &[(id("a"), 2, now, "stdout", "second try")],
                &[(id("a"), 2, r#"{"command":"echo 2"}"#)],
            ),
            (id("a"), 2, &ok),
            run.id,
            &[next("c", "x"), next("b", "a")],
        )
        .await
        .unwrap();
    assert_eq!(state, Some(TaskState::Success));
    assert_eq!(
        store.rendered_fields(id("a"), 2).await.unwrap(),
        Some(serde_json::json!({"command": "echo 2"})),
        "stored with the report"
    );
    assert_eq!(store.rendered_fields(id("a"), 1).await.unwrap(), None);
    let b = store.task_instance(run.id, "b").await.unwrap().unwrap();
    let claimed = claimed.expect("b is claimed");
    assert_eq!((claimed.task_id.as_str(), claimed.id), ("b", b.id));
    assert_eq!(
        (b.state, b.try_number, b.worker_id.as_deref()),
        (TaskState::Running, 1, Some("w1"))
    );
    let c = store.task_instance(run.id, "c").await.unwrap().unwrap();
    assert_eq!(c.state, TaskState::None);
    let first: Vec<String> = store
        .read_logs(id("a"), 1, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.line)
        .collect();
    assert_eq!(first, vec!["hello"]);
    let second: Vec<String> = store
        .read_logs(id("a"), 2, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.line)
        .collect();
    assert_eq!(second, vec!["second try"]);
    let outputs = store.task_outputs(run.id, &["a"]).await.unwrap();
    assert_eq!(outputs, vec![("a".to_string(), serde_json::json!({"rows": 3}))]);
}

/// Claims of different tasks of one run, at the same moment, never take the
/// run past `max_active_tasks`: on Postgres each claim locks the run's row
/// first, so their counts of busy tasks cannot both miss the other.
pub async fn racing_downstream_claims_keep_max_active_tasks(store: &Store) {
    let v = dag(store, "etl").await;
    for round in 0..9 {
        let mut tasks = vec![("a", 1)];
        let names: Vec<String> = (0..16).map(|i| format!("b{i}")).collect();
        tasks.extend(names.iter().map(|n| (n.as_str(), 1)));
        let run = store
            .create_run(&new_run("etl", v, &format!("2024-11-0{}", round + 1), &tasks))
            .await
            .unwrap()
            .unwrap();
        assert!(store.start_run(run.id).await.unwrap());
        let a = store.task_instance(run.id, "a").await.unwrap().unwrap();
        store
            .transition_tasks(&[a.id], &[TaskState::None], TaskState::Success)
            .await
            .unwrap();
        let claims: Vec<_> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let store = store.clone();
                let claim = DownstreamClaim {
                    task_id: n.clone(),
                    upstream: vec!["a".into()],
                    max_active: 2,
                };
                tokio::spawn(async move { store.claim_downstream(&format!("w{i}"), run.id, &claim).await })
            })
            .collect();
        let mut claimed = 0;
        for c in claims {
            claimed += usize::from(c.await.unwrap().unwrap().is_some());
        }
        assert_eq!(claimed, 2, "round {round}: exactly max_active_tasks claimed");
        let running = store
            .task_instances(run.id)
            .await
            .unwrap()
            .into_iter()
            .filter(|t| t.state == TaskState::Running)
            .count();
        assert_eq!(running, 2);
    }
}

/// A worker keeps alive only the tries it still runs: one whose report it
/// could not store goes stale and is reaped (then retried by its policy)
/// instead of staying `running` for as long as the worker lives.
pub async fn only_the_tries_a_worker_runs_are_kept_alive(store: &Store) {
    let v = dag(store, "etl").await;
    let run = store
        .create_run(&new_run("etl", v, "2024-11-01", &[("a", 2), ("b", 1)]))
        .await
        .unwrap()
        .unwrap();
    queue_all(store, run.id).await;
    let claimed = store.claim("w1", 2).await.unwrap();
    let by = |t: &str| claimed.iter().find(|c| c.ti.task_id == t).unwrap().ti.clone();
    let (a, b) = (by("a"), by("b"));
    let before = store.task_instance(run.id, "a").await.unwrap().unwrap().heartbeat;
    // The worker still runs b only.
    assert_eq!(
        store.heartbeat_tasks("w1", &[(b.id, 1)]).await.unwrap(),
        vec![(b.id, 1)]
    );
    let a_now = store.task_instance(run.id, "a").await.unwrap().unwrap();
    assert_eq!(a_now.heartbeat, before, "a is not kept alive");
    let b_now = store.task_instance(run.id, "b").await.unwrap().unwrap();
    assert!(b_now.heartbeat > before);
    // Reaped by its stale heartbeat although its worker is alive.
    let reaped = store
        .reap_lost_tasks(b_now.heartbeat.unwrap(), &["w1".to_string()])
        .await
        .unwrap();
    assert_eq!(reaped.iter().map(|r| r.ti_id).collect::<Vec<_>>(), vec![a.id]);
    assert!(reaped[0].retried);
}

/// Issue 15 (fencing): the reaper judges a try by one read and gives it up
/// by a later write. If, between the two, the try ended and the same
/// worker claimed the task's next try (a worker back from a partition),
/// the write must not give up that next, live try. Postgres only: a row
/// lock held by the test stops the reaper between its read and its write,
/// and the row moves on to the next try meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reaper_gives_up_only_the_try_it_judged() {
    use sqlx::Connection;
    let Some(url) = common::fresh_postgres_url("updraft_reap").await else {
        return;
    };
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let v = dag(&store, "etl").await;
    let run = store
        .create_run(&new_run("etl", v, "2024-11-01", &[("a", 3)]))
        .await
        .unwrap()
        .unwrap();
    queue_all(&store, run.id).await;
    let a = store.claim("w", 1).await.unwrap().remove(0).ti;
    assert_eq!(a.try_number, 1);
    // Try 1's heartbeat is old: the reaper will judge it lost.
    let mut test = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE task_instances SET heartbeat = 0 WHERE id = $1")
        .bind(a.id)
        .execute(&mut test)
        .await
        .unwrap();
    let mut lock = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("BEGIN").execute(&mut lock).await.unwrap();
    sqlx::query("SELECT id FROM task_instances WHERE id = $1 FOR UPDATE")
        .bind(a.id)
        .execute(&mut lock)
        .await
        .unwrap();
    let cutoff = Timestamp::now() - SignedDuration::from_secs(10);
    let reaper = {
        let store = store.clone();
        tokio::spawn(async move { store.reap_lost_tasks(cutoff, &["w".to_string()]).await.unwrap() })
    };
    // The reaper has read try 1 and waits for the row to write it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND query LIKE 'UPDATE task_instances SET state = CASE%'",
        )
        .fetch_one(&mut test)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the reaper never reached its write"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Meanwhile try 1 ended (retry) and the same worker claimed try 2,
    // heartbeating it now.
    sqlx::query("UPDATE task_instances SET try_number = 2, heartbeat = $2, start_date = $2 WHERE id = $1")
        .bind(a.id)
        .bind(Timestamp::now().as_microsecond())
        .execute(&mut lock)
        .await
        .unwrap();
    sqlx::raw_sql("COMMIT").execute(&mut lock).await.unwrap();
    let reaped = reaper.await.unwrap();
    let now = store.task_instance(run.id, "a").await.unwrap().unwrap();
    assert!(reaped.is_empty(), "the live try 2 was given up for try 1: {now:?}");
    assert_eq!((now.state, now.try_number), (TaskState::Running, 2));
    assert_eq!(store.heartbeat_tasks("w", &[(a.id, 2)]).await.unwrap(), vec![(a.id, 2)]);
}
