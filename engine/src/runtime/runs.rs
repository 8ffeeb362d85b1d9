//! Creating runs by hand: `dags trigger`, `dags test` and backfill.

use jiff::Timestamp;

use super::RuntimeError;
use crate::dag::Dag;
use crate::store::{DagRun, NewRun, RunType, Store, run_id_for};

/// Creates a run of `dag` (stored as `version_id`) for `logical_date` (now
/// if `None`). Manual runs get Airflow's inferred data interval: the last
/// complete interval before the logical date. Returns `None` when the DAG
/// already has a run at that logical date.
pub async fn create_run(
    store: &Store,
    dag: &Dag,
    version_id: i64,
    run_type: RunType,
    logical_date: Option<Timestamp>,
    conf: serde_json::Map<String, serde_json::Value>,
) -> Result<Option<DagRun>, RuntimeError> {
    let logical_date = logical_date.unwrap_or_else(Timestamp::now);
    let interval = match run_type {
        RunType::Manual => dag.timetable.infer_manual_data_interval(logical_date),
        _ => {
            let plan = dag.plan(logical_date, logical_date);
            match plan.first() {
                Some(r) => r.data_interval,
                None => dag.timetable.infer_manual_data_interval(logical_date),
            }
        }
    };
    let new = NewRun {
        dag_id: dag.dag_id.clone(),
        run_id: run_id_for(run_type, logical_date),
        logical_date,
        data_interval_start: interval.start,
        data_interval_end: interval.end,
        run_type,
        conf,
        version_id,
        tasks: dag
            .tasks
            .iter()
            .map(|t| (t.task_id.clone(), t.retry.retries + 1))
            .collect(),
    };
    let run = store.create_run(&new).await?;
    if run.is_some() {
        // A scheduler in another process (Postgres) starts it at once.
        store
            .notify(super::SCHEDULER_CHANNEL, &super::payload("trigger", None))
            .await?;
    }
    Ok(run)
}
