//! Log retention and the cap on what one read returns.

use jiff::{SignedDuration, Timestamp};
use updraft_engine::store::{READ_LINE_CHARS, Store};

use super::{dag, new_run};

pub async fn old_log_lines_are_pruned_oldest_first(store: &Store) {
    let v = dag(store, "etl").await;
    let run = store
        .create_run(&new_run("etl", v, "2024-11-01", &[("a", 1)]))
        .await
        .unwrap()
        .unwrap();
    let ti = store.task_instances(run.id).await.unwrap().remove(0);
    let now = Timestamp::now();
    let old = now - SignedDuration::from_hours(24 * 40);
    // More old lines than one DELETE takes, then new ones.
    let lines: Vec<String> = (0..12_000).map(|i| format!("line {i}")).collect();
    let batch: Vec<(Timestamp, &str, &str)> = lines.iter().map(|l| (old, "stdout", l.as_str())).collect();
    store.append_logs(ti.id, 1, &batch).await.unwrap();
    store
        .append_logs(ti.id, 1, &[(now, "stdout", "fresh 1"), (now, "stdout", "fresh 2")])
        .await
        .unwrap();
    let cutoff = now - SignedDuration::from_hours(24 * 30);
    assert_eq!(store.prune_logs(cutoff).await.unwrap(), 12_000);
    let left = store.read_logs(ti.id, 1, 0, 100).await.unwrap();
    let left: Vec<&str> = left.iter().map(|l| l.line.as_str()).collect();
    assert_eq!(left, ["fresh 1", "fresh 2"]);
    // Nothing more to do: a second pass deletes nothing.
    assert_eq!(store.prune_logs(cutoff).await.unwrap(), 0);
}

pub async fn a_huge_stored_line_is_cut_when_read(store: &Store) {
    let v = dag(store, "etl").await;
    let run = store
        .create_run(&new_run("etl", v, "2024-11-02", &[("a", 1)]))
        .await
        .unwrap()
        .unwrap();
    let ti = store.task_instances(run.id).await.unwrap().remove(0);
    // As an older version stored it, whole.
    let huge = "x".repeat(3 * READ_LINE_CHARS);
    store
        .append_logs(
            ti.id,
            1,
            &[(Timestamp::now(), "stdout", &huge), (Timestamp::now(), "stdout", "ok")],
        )
        .await
        .unwrap();
    let read = store.read_logs(ti.id, 1, 0, 10).await.unwrap();
    assert!(read[0].line.len() < READ_LINE_CHARS + 100, "{}", read[0].line.len());
    assert!(read[0].line.ends_with("[... line cut at 1048576 characters when read]"));
    assert_eq!(read[1].line, "ok");
}
