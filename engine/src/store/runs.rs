//! DAG runs: created once per (DAG, logical date), never twice.

use jiff::Timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{DagRun, NewRun, Result, RunState, RunType, Store, StoreError, TaskState, now_us, opt_ts, ts, us};

pub(crate) const RUN_COLUMNS: &str = "id, dag_id, run_id, logical_date, data_interval_start, data_interval_end, run_type, state, conf, version_id, created_at, start_date, end_date";

pub(crate) fn run_from_row(r: &AnyRow) -> Result<DagRun> {
    let conf: String = r.try_get(8)?;
    let run_type: String = r.try_get(6)?;
    let state: String = r.try_get(7)?;
    Ok(DagRun {
        id: r.try_get(0)?,
        dag_id: r.try_get(1)?,
        run_id: r.try_get(2)?,
        logical_date: ts(r.try_get(3)?)?,
        data_interval_start: ts(r.try_get(4)?)?,
        data_interval_end: ts(r.try_get(5)?)?,
        run_type: run_type.parse().map_err(StoreError::Corrupt)?,
        state: state.parse().map_err(StoreError::Corrupt)?,
        conf: serde_json::from_str(&conf).map_err(|e| StoreError::Corrupt(format!("run conf: {e}")))?,
        version_id: r.try_get(9)?,
        created_at: ts(r.try_get(10)?)?,
        start_date: opt_ts(r.try_get(11)?)?,
        end_date: opt_ts(r.try_get(12)?)?,
    })
}

impl Store {
    /// Creates a run and its task instances (state `none`) in one
    /// transaction. Returns `None` when the DAG already has a run for that
    /// logical date or run id: a run is never created twice.
    pub async fn create_run(&self, new: &NewRun) -> Result<Option<DagRun>> {
        let now = now_us();
        let mut conn = self.writes().await?;
        let mut tx = conn.begin().await?;
        let run = insert_run(&mut tx, new, now).await?;
        tx.commit().await?;
        Ok(run)
    }

    pub async fn get_run(&self, dag_id: &str, run_id: &str) -> Result<Option<DagRun>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM dag_runs WHERE dag_id = $1 AND run_id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(dag_id)
            .bind(run_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    pub async fn get_run_by_pk(&self, pk: i64) -> Result<Option<DagRun>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM dag_runs WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(pk)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    pub async fn run_at(&self, dag_id: &str, logical_date: Timestamp) -> Result<Option<DagRun>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM dag_runs WHERE dag_id = $1 AND logical_date = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(dag_id)
            .bind(us(logical_date))
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    /// A DAG's runs, newest logical date first.
    pub async fn list_runs(&self, dag_id: &str, limit: i64) -> Result<Vec<DagRun>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM dag_runs WHERE dag_id = $1 ORDER BY logical_date DESC LIMIT $2");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(dag_id)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(run_from_row).collect()
    }

    /// Runs in one of these states, oldest first.
    pub async fn runs_in_states(&self, states: &[RunState]) -> Result<Vec<DagRun>> {
        let list: Vec<String> = states.iter().map(|s| format!("'{}'", s.as_str())).collect();
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM dag_runs WHERE state IN ({}) ORDER BY logical_date, id",
            list.join(", ")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(self.pool()).await?;
        rows.iter().map(run_from_row).collect()
    }

    /// The data interval of the DAG's latest scheduled run, where catchup
    /// continues from.
    pub async fn last_scheduled_interval(&self, dag_id: &str) -> Result<Option<(Timestamp, Timestamp)>> {
        let row = sqlx::query(
            "SELECT data_interval_start, data_interval_end FROM dag_runs WHERE dag_id = $1 AND run_type = 'scheduled' ORDER BY logical_date DESC LIMIT 1",
        )
        .bind(dag_id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| Ok((ts(r.try_get(0)?)?, ts(r.try_get(1)?)?))).transpose()
    }

    /// How many of a DAG's runs are in one of these states.
    /// How many runs of `dag_id` of one type are in `states`.
    pub async fn count_runs_of_type(&self, dag_id: &str, run_type: RunType, states: &[RunState]) -> Result<i64> {
        self.count(dag_id, Some(run_type), states).await
    }

    pub async fn count_runs(&self, dag_id: &str, states: &[RunState]) -> Result<i64> {
        self.count(dag_id, None, states).await
    }

    async fn count(&self, dag_id: &str, run_type: Option<RunType>, states: &[RunState]) -> Result<i64> {
        let list: Vec<String> = states.iter().map(|s| format!("'{}'", s.as_str())).collect();
        let sql = format!(
            "SELECT COUNT(*) FROM dag_runs WHERE dag_id = $1 AND ($2 = '' OR run_type = $2) AND state IN ({})",
            list.join(", ")
        );
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(dag_id)
            .bind(run_type.map_or("", RunType::as_str))
            .fetch_one(self.pool())
            .await?
            .try_get(0)?)
    }

    /// Moves a queued run to running.
    pub async fn start_run(&self, pk: i64) -> Result<bool> {
        let done =
            sqlx::query("UPDATE dag_runs SET state = 'running', start_date = $1 WHERE id = $2 AND state = 'queued'")
                .bind(now_us())
                .bind(pk)
                .execute(&mut *self.writes().await?)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Ends a running run.
    pub async fn finish_run(&self, pk: i64, state: RunState) -> Result<bool> {
        let done = sqlx::query("UPDATE dag_runs SET state = $1, end_date = $2 WHERE id = $3 AND state = 'running'")
            .bind(state.as_str())
            .bind(now_us())
            .bind(pk)
            .execute(&mut *self.writes().await?)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Runs a finished run again, in place: its tasks go back to `none` with
    /// their tries allowed reset past the tries already used, the run to
    /// `queued`. (Backfill `--reprocess`, and clearing a whole run.)
    pub async fn rerun(&self, pk: i64, run_type: RunType, max_tries: &[(String, u32)]) -> Result<bool> {
        let mut conn = self.writes().await?;
        let mut tx = conn.begin().await?;
        let done = sqlx::query(
            "UPDATE dag_runs SET state = 'queued', run_type = $1, start_date = NULL, end_date = NULL WHERE id = $2 AND state IN ('success', 'failed')",
        )
        .bind(run_type.as_str())
        .bind(pk)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        for (task_id, tries) in max_tries {
            sqlx::query(
                "UPDATE task_instances SET state = $1, max_tries = try_number + $2, next_retry_at = NULL, error = NULL, output = NULL, worker_id = NULL, queued_at = NULL, start_date = NULL, end_date = NULL WHERE run_pk = $3 AND task_id = $4",
            )
            .bind(TaskState::None.as_str())
            .bind(i64::from(*tries))
            .bind(pk)
            .bind(task_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// Inserts a run and its task instances (state `none`) in `tx`; `None`
/// when the DAG already has a run for that logical date or run id.
pub(crate) async fn insert_run(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    new: &NewRun,
    now: i64,
) -> Result<Option<DagRun>> {
    let sql = format!(
        "INSERT INTO dag_runs (dag_id, run_id, logical_date, data_interval_start, data_interval_end, run_type, state, conf, version_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $8, $9) ON CONFLICT DO NOTHING RETURNING {RUN_COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&new.dag_id)
        .bind(&new.run_id)
        .bind(us(new.logical_date))
        .bind(us(new.data_interval_start))
        .bind(us(new.data_interval_end))
        .bind(new.run_type.as_str())
        .bind(serde_json::Value::Object(new.conf.clone()).to_string())
        .bind(new.version_id)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let run = run_from_row(&row)?;
    for chunk in new.tasks.chunks(400) {
        let mut sql = String::from("INSERT INTO task_instances (run_pk, dag_id, task_id, state, max_tries) VALUES ");
        for i in 0..chunk.len() {
            let b = i * 2;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("($1, $2, ${}, 'none', ${})", b + 3, b + 4));
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(run.id).bind(&new.dag_id);
        for (task_id, max_tries) in chunk {
            q = q.bind(task_id).bind(i64::from(*max_tries));
        }
        q.execute(&mut **tx).await?;
    }
    Ok(Some(run))
}
