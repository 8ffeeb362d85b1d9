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
    /// One row per DAG, the runs joined in the database: per-row decoding
    /// is what costs at 1,000 DAGs.
    pub async fn recent_runs_by_dag(&self, per_dag: i64) -> Result<HashMap<String, Vec<RunDot>>> {
        let agg = match self.dialect() {
            super::Dialect::Sqlite => {
                "group_concat(x.run_id || char(31) || x.state, char(30) ORDER BY x.logical_date DESC)"
            }
            super::Dialect::Postgres => {
                "string_agg(x.run_id || chr(31) || x.state, chr(30) ORDER BY x.logical_date DESC)"
            }
        };
        let sql = format!(
            "SELECT d.dag_id, (SELECT {agg} FROM (SELECT run_id, state, logical_date FROM dag_runs \
             WHERE dag_id = d.dag_id ORDER BY logical_date DESC LIMIT $1) x) FROM dags d"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(per_dag)
            .fetch_all(self.pool())
            .await?;
        let mut out: HashMap<String, Vec<RunDot>> = HashMap::with_capacity(rows.len());
        for r in &rows {
            let Some(joined) = r.try_get::<Option<String>, _>(1)? else {
                continue;
            };
            let dots = joined
                .split('\u{1e}')
                .map(|rec| {
                    let (run_id, state) = rec
                        .split_once('\u{1f}')
                        .ok_or_else(|| StoreError::Corrupt(format!("run summary `{rec}`")))?;
                    Ok(RunDot {
                        run_id: run_id.to_string(),
                        state: state.parse().map_err(StoreError::Corrupt)?,
                    })
                })
                .collect::<Result<_>>()?;
            out.insert(r.try_get(0)?, dots);
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
