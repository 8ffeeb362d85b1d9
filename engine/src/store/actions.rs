//! What a user does to runs by hand (the web UI): clear task instances so
//! they run again, mark them success or failed. Each is one guarded
//! update: a running try whose row changes here is no longer its worker's
//! (its report is fenced out), and the worker notices on its next
//! heartbeat.

use super::{Result, Store, TaskState, now_us};

impl Store {
    /// Sends these task instances of a run back to `none` with `tries`
    /// more tries allowed each (task id, retries + 1); a finished run goes
    /// back to `queued` so the scheduler runs them. Returns how many tasks
    /// were cleared.
    pub async fn clear_tasks(&self, run_pk: i64, tasks: &[(String, u32)]) -> Result<u64> {
        let mut conn = self.writes().await?;
        let mut tx = conn.begin().await?;
        let mut cleared = 0;
        for (task_id, tries) in tasks {
            cleared += sqlx::query(
                "UPDATE task_instances SET state = 'none', max_tries = try_number + $1, next_retry_at = NULL, error = NULL, \
                 output = NULL, worker_id = NULL, heartbeat = NULL, queued_at = NULL, start_date = NULL, end_date = NULL \
                 WHERE run_pk = $2 AND task_id = $3",
            )
            .bind(i64::from(*tries))
            .bind(run_pk)
            .bind(task_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        if cleared > 0 {
            sqlx::query(
                "UPDATE dag_runs SET state = 'queued', start_date = NULL, end_date = NULL WHERE id = $1 AND state IN ('success', 'failed')",
            )
            .bind(run_pk)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(cleared)
    }

    /// Sets task instances of a run to `success` or `failed` by hand.
    /// Returns how many changed (those already in that state do not).
    pub async fn mark_tasks(&self, run_pk: i64, task_ids: &[String], state: TaskState) -> Result<u64> {
        if !matches!(state, TaskState::Success | TaskState::Failed) {
            return Err(super::StoreError::Conflict(format!(
                "tasks can be marked success or failed, not {state}"
            )));
        }
        let mut conn = self.writes().await?;
        let mut tx = conn.begin().await?;
        let now = now_us();
        let mut marked = 0;
        for task_id in task_ids {
            marked += sqlx::query(
                "UPDATE task_instances SET state = $1, end_date = $2, next_retry_at = NULL \
                 WHERE run_pk = $3 AND task_id = $4 AND state <> $1",
            )
            .bind(state.as_str())
            .bind(now)
            .bind(run_pk)
            .bind(task_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(marked)
    }
}
