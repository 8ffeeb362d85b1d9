//! The state store's conformance suite: every test runs against SQLite and
//! against a real Postgres (`UPDRAFT_TEST_POSTGRES_URL`, an admin URL; each
//! test gets a fresh database). `.ci/run` starts Postgres and sets it; on a
//! machine without it the Postgres half says it is skipped, and under CI it
//! fails instead.

use std::collections::HashSet;

use jiff::{SignedDuration, Timestamp};
use updraft_engine::connection::Connection;
use updraft_engine::store::{NewRun, Role, RunState, RunType, Store, TaskState, TryOutcome, WorkerInfo, run_id_for};

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

async fn postgres() -> Option<TestStore> {
    let store = common::fresh_postgres_store("updraft_t").await?;
    Some(TestStore { store, _dir: None })
}

mod clean;
#[path = "../common/mod.rs"]
mod common;
mod due;
mod logs;
mod people;
mod plans;
mod runs;
mod secrets;
mod tasks;

macro_rules! conformance {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod sqlite_backend {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { crate::$module::$name(&crate::sqlite().await.store).await; })*
        }
        mod postgres_backend {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(t) = crate::postgres().await { crate::$module::$name(&t.store).await; }
            })*
        }
    };
}

conformance!(
    runs::migrations_apply_once,
    runs::dag_versions_and_pause,
    runs::a_run_is_created_once,
    runs::concurrent_run_creation_creates_one,
    runs::rerun_in_place,
    runs::clear_and_mark_by_hand,
    due::runs_are_created_in_batches_and_a_taken_date_is_answered_in_place,
    due::runs_are_counted_started_and_read_together,
    tasks::claims_are_exclusive_under_concurrency,
    tasks::finishing_is_fenced_by_worker_and_try,
    tasks::retries_then_failure,
    tasks::lost_workers_tasks_are_reaped,
    tasks::released_tasks_go_back_to_the_queue,
    tasks::only_the_tries_a_worker_runs_are_kept_alive,
    tasks::downstream_claims_are_guarded,
    tasks::racing_downstream_claims_keep_max_active_tasks,
    tasks::batched_reports_are_fenced_one_by_one,
    tasks::a_report_carries_its_lines_and_the_next_claim,
    tasks::transitions_only_from_expected_states,
    people::logs_append_and_follow,
    logs::old_log_lines_are_pruned_oldest_first,
    clean::clean_removes_finished_history_but_the_newest_scheduled_run,
    clean::clean_gives_the_space_back,
    logs::a_huge_stored_line_is_cut_when_read,
    secrets::connections_and_variables,
    people::workers_come_and_go,
    people::users_tokens_and_sessions,
    people::users_have_roles,
    people::ui_reads,
    plans::hot_reads_use_indexes,
    plans::runs_are_read_a_page_at_a_time,
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
