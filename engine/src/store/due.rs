//! What the scheduler reads and writes for many runs at once: when a
//! thousand DAGs come due in the same minute, one statement for all of
//! them instead of one (or three) per DAG.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use sqlx::Row;

use super::runs::insert_run;
use super::tasks::id_list;
use super::{DagRun, NewRun, Result, RunState, Store, StoreError, TaskState, now_us, opt_ts, ts};

/// Runs created per transaction: one commit for many, while a worker's
/// claim waits for the write lock no longer than a few milliseconds.
const CREATE_BATCH: usize = 64;

/// Ids per `IN (...)` list.
const IDS_PER_STATEMENT: usize = 500;

/// One task instance as the scheduler's picture of a run needs it: id,
/// task, state and retry time.
pub type TaskStateRow = (i64, String, TaskState, Option<Timestamp>);

/// Running runs per DAG, for `max_active_runs`.
#[derive(Debug, Default)]
pub struct RunningCounts {
    /// Every running run of the DAG, of any type.
    pub all: HashMap<String, i64>,
    /// Its running backfill runs (a backfill has a budget of its own).
    pub backfill: HashMap<String, i64>,
}

impl Store {
    /// Creates many runs, each as [`Store::create_run`] does, in
    /// transactions of [`CREATE_BATCH`] runs. One answer per run, in order:
    /// `None` where the DAG already had a run for that logical date or id.
    pub async fn create_runs(&self, new: &[NewRun]) -> Result<Vec<Option<DagRun>>> {
        let mut out = Vec::with_capacity(new.len());
        for chunk in new.chunks(CREATE_BATCH) {
            let now = now_us();
            let mut conn = self.writes().await?;
            let mut tx = conn.begin().await?;
            for n in chunk {
                out.push(insert_run(&mut tx, n, now).await?);
            }
            tx.commit().await?;
        }
        Ok(out)
    }

    /// How many runs of each DAG are queued or running (DAGs with none
    /// are left out).
    pub async fn active_runs_by_dag(&self) -> Result<HashMap<String, i64>> {
        let rows =
            sqlx::query("SELECT dag_id, COUNT(*) FROM dag_runs WHERE state IN ('queued', 'running') GROUP BY dag_id")
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }

    /// Running runs per DAG: all of them, and the backfill ones.
    pub async fn running_counts(&self) -> Result<RunningCounts> {
        let rows = sqlx::query(
            "SELECT dag_id, run_type, COUNT(*) FROM dag_runs WHERE state = 'running' GROUP BY dag_id, run_type",
        )
        .fetch_all(self.pool())
        .await?;
        let mut counts = RunningCounts::default();
        for r in &rows {
            let (dag_id, run_type, n): (String, String, i64) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            if run_type == super::RunType::Backfill.as_str() {
                *counts.backfill.entry(dag_id.clone()).or_default() += n;
            }
            *counts.all.entry(dag_id).or_default() += n;
        }
        Ok(counts)
    }

    /// Moves these queued runs to running, all with the same start date;
    /// returns the ones moved (a run another scheduler started, or that
    /// is no longer queued, is left out) with their new state.
    pub async fn start_runs(&self, runs: Vec<DagRun>) -> Result<Vec<DagRun>> {
        let now = now_us();
        let start = Some(ts(now)?);
        let mut started = HashSet::new();
        let ids: Vec<i64> = runs.iter().map(|r| r.id).collect();
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE dag_runs SET state = 'running', start_date = $1 WHERE id IN ({}) AND state = 'queued' RETURNING id",
                id_list(chunk)
            );
            let moved: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(now)
                .fetch_all(&mut *self.writes().await?)
                .await?;
            started.extend(moved);
        }
        Ok(runs
            .into_iter()
            .filter(|r| started.contains(&r.id))
            .map(|mut r| {
                r.state = RunState::Running;
                r.start_date = start;
                r
            })
            .collect())
    }

    /// The task states of many runs (see [`Store::task_states`]), by run.
    /// A run without task instances has no entry.
    pub async fn task_states_of_runs(&self, run_pks: &[i64]) -> Result<HashMap<i64, Vec<TaskStateRow>>> {
        let mut out: HashMap<i64, Vec<TaskStateRow>> = HashMap::with_capacity(run_pks.len());
        for chunk in run_pks.chunks(IDS_PER_STATEMENT) {
            let sql = format!(
                "SELECT run_pk, id, task_id, state, next_retry_at FROM task_instances WHERE run_pk IN ({})",
                id_list(chunk)
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(self.pool()).await?;
            for r in &rows {
                let state: String = r.try_get(3)?;
                out.entry(r.try_get(0)?).or_default().push((
                    r.try_get(1)?,
                    r.try_get(2)?,
                    state.parse().map_err(StoreError::Corrupt)?,
                    opt_ts(r.try_get(4)?)?,
                ));
            }
        }
        Ok(out)
    }
}
