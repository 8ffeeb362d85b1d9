//! Scheduling against the store: catchup one run at a time, many DAGs due
//! at once (read and created in batches), a date another run took, a
//! changed schedule, and `max_active_runs` across backfill, manual and
//! scheduled runs.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_backfill_runs_start_within_max_active_runs() {
    use updraft_engine::runtime::{Reprocess, apply_step, plan_backfill};
    let e = env().await;
    e.write(
        "daily.yaml",
        "schedule: '@daily'\nstart_date: 2024-01-01\ncatchup: false\nmax_active_runs: 1\ntasks:\n  t: {operator: test, sleep_ms: 50}\n",
    );
    // Four backfill runs and a manual one, all queued before the scheduler
    // starts (its first pass also creates the latest scheduled run): the
    // backfill runs have a budget of their own, one at a time; a running
    // backfill run also counts against the others' budget.
    let loader = e.load_only().await;
    let cur = loader.processor.current().remove("daily").unwrap();
    let steps = plan_backfill(
        &e.store,
        &cur.dag,
        "2024-01-01T00:00:00Z".parse().unwrap(),
        "2024-01-04T00:00:00Z".parse().unwrap(),
        Reprocess::None,
    )
    .await
    .unwrap();
    assert_eq!(steps.len(), 4);
    for step in &steps {
        apply_step(&e.store, &cur.dag, cur.version_id, step)
            .await
            .unwrap()
            .unwrap();
    }
    let manual = manual_run(&loader, "daily", None).await;
    loader.shutdown().await;
    let local = e.start(4).await;
    let runs = wait_for(&e.store, "six runs to succeed", 30, async |s: &Store| {
        let runs: Vec<DagRun> = s.list_runs("daily", 100).await.unwrap();
        (runs.len() == 6 && runs.iter().all(|r| r.state == RunState::Success)).then_some(runs)
    })
    .await;
    assert!(runs.iter().any(|r| r.id == manual.id));
    let (backfill, other): (Vec<&DagRun>, Vec<&DagRun>) = runs.iter().partition(|r| r.run_type == RunType::Backfill);
    assert_eq!(
        (backfill.len(), other.len()),
        (4, 2),
        "4 backfill, the manual and the latest scheduled"
    );
    // Queued together, oldest first, the backfill runs start first, and
    // while one runs nothing else may: no two of the six ran at once.
    let overlap = |a: &DagRun, b: &DagRun| {
        a.start_date.unwrap() < b.end_date.unwrap() && b.start_date.unwrap() < a.end_date.unwrap()
    };
    for (i, a) in runs.iter().enumerate() {
        for b in &runs[i + 1..] {
            assert!(
                !overlap(a, b),
                "max_active_runs 1: {} and {} ran at once",
                a.run_id,
                b.run_id
            );
        }
    }
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catchup_creates_every_missed_run_one_at_a_time_with_max_active_runs() {
    let e = env().await;
    let start = (Timestamp::now() - SignedDuration::from_hours(24 * 4))
        .strftime("%Y-%m-%d")
        .to_string();
    e.write(
        "daily.yaml",
        &format!("schedule: '@daily'\nstart_date: {start}\ncatchup: true\nmax_active_runs: 1\ntasks:\n  t: {{operator: test, sleep_ms: 50}}\n"),
    );
    e.write(
        "nocatch.yaml",
        &format!("schedule: '@daily'\nstart_date: {start}\ncatchup: false\ntasks:\n  t: {{operator: test}}\n"),
    );
    let local = e.start(4).await;
    let runs = wait_for(&e.store, "four daily runs to succeed", 30, async |s: &Store| {
        let runs = s.list_runs("daily", 100).await.unwrap();
        (runs.len() == 4 && runs.iter().all(|r| r.state == RunState::Success)).then_some(runs)
    })
    .await;
    // One at a time: each started after the previous ended.
    let mut ordered = runs.clone();
    ordered.sort_by_key(|r| r.logical_date);
    for w in ordered.windows(2) {
        assert!(w[1].start_date.unwrap() >= w[0].end_date.unwrap(), "max_active_runs: 1");
        assert_eq!(w[0].data_interval_end, w[1].data_interval_start);
    }
    let latest = wait_for(&e.store, "the latest run without catchup", 30, async |s: &Store| {
        let runs = s.list_runs("nocatch", 100).await.unwrap();
        (!runs.is_empty()).then_some(runs)
    })
    .await;
    assert_eq!(latest.len(), 1, "without catchup only the latest interval runs");
    assert_eq!(latest[0].logical_date, ordered.last().unwrap().logical_date);
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_dags_due_together_get_their_runs_and_a_taken_date_is_passed() {
    // More DAGs than the scheduler reads one by one (8): their facts are
    // read and their runs created in batches. d07 catches up one run at a
    // time, and the second of its dates is taken by a manual run already:
    // the scheduler must move past it (not try it again and again) to the
    // dates after it.
    let e = env().await;
    let now = Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC);
    let to_midnight = now
        .tomorrow()
        .unwrap()
        .start_of_day()
        .unwrap()
        .timestamp()
        .duration_since(now.timestamp());
    if to_midnight < SignedDuration::from_secs(30) {
        // The days below must not change while the test runs.
        tokio::time::sleep(Duration::try_from(to_midnight).unwrap() + Duration::from_secs(1)).await;
    }
    let start = (Timestamp::now() - SignedDuration::from_hours(24 * 4))
        .strftime("%Y-%m-%d")
        .to_string();
    for i in 0..20 {
        let catchup = if i == 7 { "true\nmax_active_runs: 1" } else { "false" };
        e.write(
            &format!("d{i:02}.yaml"),
            &format!("schedule: '@daily'\nstart_date: {start}\ncatchup: {catchup}\ntasks:\n  t: {{operator: test}}\n"),
        );
    }
    // Load the DAGs without a scheduler, and take d07's second date by hand.
    let loader = e.load_only().await;
    let cur = loader.processor.current().remove("d07").expect("d07 loaded");
    let (tt, restriction) = (&cur.dag.timetable, cur.dag.restriction());
    let mut dates = Vec::new();
    let mut last = None;
    while let Some(info) = tt.next_dagrun_info(last, &restriction, Timestamp::now()) {
        if info.run_after > Timestamp::now() {
            break;
        }
        dates.push(info.logical_date);
        last = Some(info.data_interval);
    }
    assert_eq!(dates.len(), 4, "four days to catch up");
    let manual = manual_run(&loader, "d07", Some(dates[1])).await;
    loader.shutdown().await;

    let local = e.start(4).await;
    let runs = wait_for(&e.store, "the runs of every DAG to succeed", 30, async |s: &Store| {
        let mut all = Vec::new();
        for i in 0..20 {
            let want = if i == 7 { 4 } else { 1 };
            let runs = s.list_runs(&format!("d{i:02}"), 10).await.unwrap();
            if runs.len() != want || runs.iter().any(|r| r.state != RunState::Success) {
                return None;
            }
            all.push(runs);
        }
        Some(all)
    })
    .await;
    for (i, runs) in runs.iter().enumerate() {
        if i == 7 {
            let mut got: Vec<(Timestamp, RunType)> = runs.iter().map(|r| (r.logical_date, r.run_type)).collect();
            got.sort_by_key(|g| g.0);
            let want: Vec<(Timestamp, RunType)> = dates
                .iter()
                .map(|d| {
                    (
                        *d,
                        if *d == dates[1] {
                            RunType::Manual
                        } else {
                            RunType::Scheduled
                        },
                    )
                })
                .collect();
            assert_eq!(got, want, "d07 caught up past the taken date");
            assert!(runs.iter().any(|r| r.id == manual.id));
        } else {
            assert_eq!(runs[0].run_type, RunType::Scheduled, "{}", runs[0].dag_id);
            assert_eq!(runs[0].logical_date, dates[3], "{}: the latest day", runs[0].dag_id);
        }
    }
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_schedule_is_followed_at_once() {
    // The scheduler remembers when each DAG's next run comes due, for the
    // DAG's version: a new version (monthly becomes every minute) is
    // reckoned again, not left waiting for next month.
    let e = env().await;
    let now = Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC);
    if now.day() == 1 && now.hour() == 0 && now.minute() < 2 {
        // Every minute's latest interval would not yet follow the month's.
        tokio::time::sleep(Duration::from_secs(121)).await;
    }
    let yaml = |schedule: &str| {
        format!("schedule: '{schedule}'\nstart_date: 2020-01-01\ncatchup: false\ntasks:\n  t: {{operator: test}}\n")
    };
    e.write("s.yaml", &yaml("@monthly"));
    let local = e.start(2).await;
    let first = wait_for(&e.store, "the monthly run to succeed", 30, async |s: &Store| {
        let runs = s.list_runs("s", 10).await.unwrap();
        (runs.len() == 1 && runs[0].state == RunState::Success).then(|| runs[0].clone())
    })
    .await;
    e.write("s.yaml", &yaml("* * * * *"));
    let second = wait_for(&e.store, "a run of the new schedule", 30, async |s: &Store| {
        let runs = s.list_runs("s", 10).await.unwrap();
        (runs.len() == 2).then(|| runs[0].clone())
    })
    .await;
    assert_ne!(second.version_id, first.version_id);
    assert_eq!(
        second.data_interval_end.duration_since(second.data_interval_start),
        SignedDuration::from_mins(1)
    );
    local.shutdown().await;
}
