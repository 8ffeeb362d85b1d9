//! Creating runs by hand: `dags trigger`, `dags test` and backfill.

use jiff::Timestamp;

use super::RuntimeError;
use crate::dag::Dag;
use crate::store::{DagRun, NewRun, RunType, Store, run_id_for};

/// A run's conf may set only the params the DAG declares, unless the DAG
/// says `allow_undeclared_conf: true`: conf values reach templates (a shell
/// command, a mount), so a key the DAG's author did not plan for is refused
/// when the run is triggered, not found in a rendered command.
pub fn check_conf(dag: &Dag, conf: &serde_json::Map<String, serde_json::Value>) -> Result<(), RuntimeError> {
    if dag.allow_undeclared_conf {
        return Ok(());
    }
    let keys: Vec<String> = conf.keys().filter(|k| !dag.params.contains_key(*k)).cloned().collect();
    if keys.is_empty() {
        return Ok(());
    }
    Err(RuntimeError::UndeclaredConf {
        dag_id: dag.dag_id.clone(),
        keys,
        declared: dag.params.keys().cloned().collect(),
    })
}

pub(super) fn undeclared_conf_message(dag_id: &str, keys: &[String], declared: &[String]) -> String {
    let list = |v: &[String]| v.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
    let declared = if declared.is_empty() {
        "it declares none".to_string()
    } else {
        format!("declared: {}", list(declared))
    };
    format!(
        "conf key(s) {} not declared in the `params` of DAG `{dag_id}` ({declared}); \
         declare them under `params:`, or set `allow_undeclared_conf: true` on the DAG",
        list(keys)
    )
}

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
    check_conf(dag, &conf)?;
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
