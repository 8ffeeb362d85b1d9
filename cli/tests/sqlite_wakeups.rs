//! On SQLite, a run triggered from another process starts at once: the
//! trigger wakes the running scheduler through its socket beside the
//! database file, as LISTEN/NOTIFY does on Postgres. With polling alone a
//! trigger waits for the scheduler's 2 s tick (1 s on average): the bounds
//! below (median under 700 ms, none over 1.5 s, five triggers) fail that way
//! almost always, and leave a loaded CI machine room.

use std::time::{Duration, Instant};

mod common;
use common::{Env, text, wait_until};

#[test]
fn a_trigger_from_another_process_wakes_the_scheduler_at_once() {
    let env = Env::new();
    env.write(
        "hello.yaml",
        "dag_id: hello\nstart_date: 2024-01-01\nschedule: null\ntasks:\n  a:\n    operator: shell\n    command: echo a\n  b:\n    operator: shell\n    command: echo b\n    depends_on: a\n",
    );
    let _standalone = env.standalone();
    // Listening once its socket is beside the database.
    let wake_dir = env.path().join(".updraft/updraft.db.wake");
    wait_until("the scheduler's wake-up socket", Duration::from_secs(60), || {
        std::fs::read_dir(&wake_dir)
            .ok()?
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "sock"))
            .then_some(())
    });
    let mut took = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let out = env.run(&["dags", "trigger", "hello", "--wait"]);
        took.push(started.elapsed());
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    eprintln!("trigger --wait of a 2-task chain on SQLite: {took:?}");
    let mut sorted = took.clone();
    sorted.sort();
    assert!(
        sorted[2] < Duration::from_millis(700),
        "median {:?}: {took:?}",
        sorted[2]
    );
    assert!(
        sorted[4] < Duration::from_millis(1500),
        "slowest {:?}: {took:?}",
        sorted[4]
    );
}
