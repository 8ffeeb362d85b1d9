//! Reads shaped for the web UI: a few queries per page, whatever the number
//! of DAGs or tasks.

use std::collections::HashMap;

use sqlx::Row;

use super::runs::{RUN_COLUMNS, run_from_row};
use jiff::Timestamp;

use super::{DagRun, Result, RunState, Store, StoreError, TaskState, ts};

/// One cell of the grid: a task instance's state in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridCell {
    pub run_pk: i64,
    pub task_id: String,
    pub state: TaskState,
    pub try_number: u32,
}

/// A run's state, for the dots on the DAGs page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDot {
    pub run_id: String,
    pub state: RunState,
}

impl Store {
    /// Every DAG's `per_dag` newest runs (by logical date), newest first.
    pub async fn recent_runs_by_dag(&self, per_dag: i64) -> Result<HashMap<String, Vec<RunDot>>> {
        // Per DAG, a walk down the (dag_id, logical_date) index: a window
        // over all runs sorted every run and took 20 ms at 1,000 DAGs.
        let rows = sqlx::query(
            "SELECT r.dag_id, r.run_id, r.state FROM dags d JOIN dag_runs r ON r.id IN \
             (SELECT x.id FROM dag_runs x WHERE x.dag_id = d.dag_id ORDER BY x.logical_date DESC LIMIT $1) \
             ORDER BY r.dag_id, r.logical_date DESC",
        )
        .bind(per_dag)
        .fetch_all(self.pool())
        .await?;
        let mut out: HashMap<String, Vec<RunDot>> = HashMap::new();
        for r in &rows {
            let state: String = r.try_get(2)?;
            out.entry(r.try_get(0)?).or_default().push(RunDot {
                run_id: r.try_get(1)?,
                state: state.parse().map_err(StoreError::Corrupt)?,
            });
        }
        Ok(out)
    }

    /// Every DAG's latest scheduled data interval (start, end): where its
    /// next scheduled run follows on.
    pub async fn last_scheduled_intervals(&self) -> Result<HashMap<String, (Timestamp, Timestamp)>> {
        let rows = sqlx::query(
            "SELECT d.dag_id, r.data_interval_start, r.data_interval_end FROM dags d JOIN dag_runs r ON r.id = \
             (SELECT x.id FROM dag_runs x WHERE x.dag_id = d.dag_id AND x.run_type = 'scheduled' ORDER BY x.logical_date DESC LIMIT 1)",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, (ts(r.try_get(1)?)?, ts(r.try_get(2)?)?))))
            .collect()
    }

    /// A DAG's `limit` newest runs (newest first) and the states of their
    /// task instances: the grid.
    pub async fn grid(&self, dag_id: &str, limit: i64) -> Result<(Vec<DagRun>, Vec<GridCell>)> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM dag_runs WHERE dag_id = $1 ORDER BY logical_date DESC LIMIT $2");
        let runs: Vec<DagRun> = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(dag_id)
            .bind(limit)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(run_from_row)
            .collect::<Result<_>>()?;
        if runs.is_empty() {
            return Ok((runs, Vec::new()));
        }
        let ids: Vec<String> = runs.iter().map(|r| r.id.to_string()).collect();
        let sql = format!(
            "SELECT run_pk, task_id, state, try_number FROM task_instances WHERE run_pk IN ({})",
            ids.join(", ")
        );
        let cells = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| {
                let state: String = r.try_get(2)?;
                Ok(GridCell {
                    run_pk: r.try_get(0)?,
                    task_id: r.try_get(1)?,
                    state: state.parse().map_err(StoreError::Corrupt)?,
                    try_number: r.try_get::<i64, _>(3)? as u32,
                })
            })
            .collect::<Result<_>>()?;
        Ok((runs, cells))
    }
}
