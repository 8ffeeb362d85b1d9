//! Live schedulers and workers, known by their heartbeats.

use jiff::Timestamp;
use sqlx::Row;

use super::{Result, Store, WorkerInfo, now_us, ts, us};

impl Store {
    /// Registers (or re-registers) a process.
    pub async fn register_worker(&self, w: &WorkerInfo) -> Result<()> {
        sqlx::query(
            "INSERT INTO workers (worker_id, kind, hostname, pid, slots, started_at, heartbeat) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (worker_id) DO UPDATE SET heartbeat = excluded.heartbeat",
        )
        .bind(&w.worker_id)
        .bind(&w.kind)
        .bind(&w.hostname)
        .bind(i64::from(w.pid))
        .bind(i64::from(w.slots))
        .bind(us(w.started_at))
        .bind(us(w.heartbeat))
        .execute(&mut *self.writes().await?)
        .await?;
        Ok(())
    }

    pub async fn heartbeat_worker(&self, worker_id: &str) -> Result<()> {
        sqlx::query("UPDATE workers SET heartbeat = $1 WHERE worker_id = $2")
            .bind(now_us())
            .bind(worker_id)
            .execute(&mut *self.writes().await?)
            .await?;
        Ok(())
    }

    pub async fn deregister_worker(&self, worker_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM workers WHERE worker_id = $1")
            .bind(worker_id)
            .execute(&mut *self.writes().await?)
            .await?;
        Ok(())
    }

    /// Processes that heartbeat since `since`; older entries are removed.
    pub async fn live_workers(&self, since: Timestamp) -> Result<Vec<WorkerInfo>> {
        sqlx::query("DELETE FROM workers WHERE heartbeat < $1")
            .bind(us(since))
            .execute(&mut *self.writes().await?)
            .await?;
        let rows = sqlx::query(
            "SELECT worker_id, kind, hostname, pid, slots, started_at, heartbeat FROM workers ORDER BY started_at",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(WorkerInfo {
                    worker_id: r.try_get(0)?,
                    kind: r.try_get(1)?,
                    hostname: r.try_get(2)?,
                    pid: r.try_get::<i64, _>(3)? as u32,
                    slots: r.try_get::<i64, _>(4)? as u32,
                    started_at: ts(r.try_get(5)?)?,
                    heartbeat: ts(r.try_get(6)?)?,
                })
            })
            .collect()
    }
}
