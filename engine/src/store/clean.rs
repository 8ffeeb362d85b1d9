//! `updraft db clean`: history older than a cut-off goes, a batch of runs
//! per transaction, so it can run beside a live scheduler (each batch holds
//! the write lock briefly). A run goes with its task instances, their log
//! lines and rendered fields (the foreign keys cascade). Runs that have not
//! finished are never touched, and each DAG keeps its newest scheduled run:
//! the scheduler continues the schedule from it (Airflow's `db clean` keeps
//! the last run for the same reason).

use jiff::Timestamp;
use sqlx::Row;

use super::{Dialect, Result, Store, us};

/// What a clean removed, or would remove (`dry_run`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Cleaned {
    pub runs: u64,
    pub task_instances: u64,
    pub log_lines: u64,
    /// SQLite: bytes the file shrank by (0 on Postgres, where autovacuum
    /// reuses the space).
    pub bytes_freed: u64,
}

/// The runs to remove: finished before the cut-off, not the newest
/// scheduled run of their DAG.
const OLD_RUNS: &str = "FROM dag_runs r WHERE r.state IN ('success', 'failed') \
     AND COALESCE(r.end_date, r.created_at) < $1 \
     AND NOT (r.run_type = 'scheduled' AND r.logical_date = \
       (SELECT MAX(n.logical_date) FROM dag_runs n WHERE n.dag_id = r.dag_id AND n.run_type = 'scheduled'))";

impl Store {
    /// Removes (or with `dry_run` counts) the history finished before
    /// `before`, `batch` runs per transaction; `progress` is told the
    /// running total after each batch.
    pub async fn clean_history(
        &self,
        before: Timestamp,
        batch: u32,
        dry_run: bool,
        mut progress: impl FnMut(&Cleaned),
    ) -> Result<Cleaned> {
        let cut = us(before);
        let mut total = Cleaned::default();
        if dry_run {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*), \
                 (SELECT COUNT(*) FROM task_instances t WHERE t.run_pk IN (SELECT r.id {OLD_RUNS})), \
                 (SELECT COUNT(*) FROM task_logs l JOIN task_instances t ON t.id = l.ti_id \
                   WHERE t.run_pk IN (SELECT r.id {OLD_RUNS})) {OLD_RUNS}"
            )))
            .bind(cut)
            .fetch_one(self.pool())
            .await?;
            total.runs = row.try_get::<i64, _>(0)? as u64;
            total.task_instances = row.try_get::<i64, _>(1)? as u64;
            total.log_lines = row.try_get::<i64, _>(2)? as u64;
            return Ok(total);
        }
        let pages_before = self.sqlite_pages().await?;
        loop {
            let ids: Vec<i64> = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT r.id {OLD_RUNS} ORDER BY r.id LIMIT {}",
                batch.max(1)
            )))
            .bind(cut)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()?;
            if ids.is_empty() {
                break;
            }
            let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
            let mut conn = self.writes().await?;
            let mut tx = conn.begin().await?;
            // Counted before the cascade removes them; the runs are
            // re-checked inside the transaction (one may have been cleared
            // and re-queued since the SELECT).
            let still = format!("id IN ({list}) AND state IN ('success', 'failed')");
            let count = |sql: String| sqlx::query(sqlx::AssertSqlSafe(sql));
            let tis: i64 = count(format!(
                "SELECT COUNT(*) FROM task_instances WHERE run_pk IN (SELECT id FROM dag_runs WHERE {still})"
            ))
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
            let logs: i64 = count(format!(
                "SELECT COUNT(*) FROM task_logs WHERE ti_id IN (SELECT t.id FROM task_instances t \
                 WHERE t.run_pk IN (SELECT id FROM dag_runs WHERE {still}))"
            ))
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
            let runs = count(format!("DELETE FROM dag_runs WHERE {still}"))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            total.runs += runs;
            total.task_instances += tis as u64;
            total.log_lines += logs as u64;
            progress(&total);
        }
        if let (Some(before_pages), Some(page_size)) = (pages_before, self.sqlite_page_size().await?) {
            self.sqlite_shrink().await?;
            let after = self.sqlite_pages().await?.unwrap_or(before_pages);
            total.bytes_freed = before_pages.saturating_sub(after) * page_size;
        }
        Ok(total)
    }

    /// SQLite: the file's page count (`None` on Postgres).
    async fn sqlite_pages(&self) -> Result<Option<u64>> {
        self.sqlite_pragma("PRAGMA page_count").await
    }

    async fn sqlite_page_size(&self) -> Result<Option<u64>> {
        self.sqlite_pragma("PRAGMA page_size").await
    }

    /// A number SQLite's `pragma` answers (`None` on Postgres).
    async fn sqlite_pragma(&self, pragma: &'static str) -> Result<Option<u64>> {
        if self.dialect != Dialect::Sqlite {
            return Ok(None);
        }
        let n: i64 = sqlx::query(pragma)
            .fetch_one(&mut *self.writes().await?)
            .await?
            .try_get(0)?;
        Ok(Some(n as u64))
    }

    /// SQLite: gives the free pages back to the file system. A store made
    /// before incremental vacuum was on is switched once (`VACUUM`
    /// rewrites the file); after that each clean frees its pages
    /// incrementally. The WAL is then checkpointed and truncated.
    async fn sqlite_shrink(&self) -> Result<()> {
        let mut conn = self.writes().await?;
        let mode: i64 = sqlx::query("PRAGMA auto_vacuum")
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        if mode != 2 {
            sqlx::query("PRAGMA auto_vacuum = INCREMENTAL")
                .execute(&mut *conn)
                .await?;
            sqlx::query("VACUUM").execute(&mut *conn).await?;
        } else {
            sqlx::query("PRAGMA incremental_vacuum").execute(&mut *conn).await?;
        }
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}
