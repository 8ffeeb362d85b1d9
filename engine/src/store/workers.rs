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
        .execute(&mut *self.beats().await?)
        .await?;
        Ok(())
    }

    /// Returns whether the process is still registered: `false` once a
    /// scheduler removed it as silent (it must register again, or its
    /// tries would be orphans to every reaper).
    pub async fn heartbeat_worker(&self, worker_id: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE workers SET heartbeat = $1 WHERE worker_id = $2")
            .bind(now_us())
            .bind(worker_id)
            .execute(&mut *self.beats().await?)
            .await?;
        Ok(done.rows_affected() > 0)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Found with 8 workers of 64 slots on one Postgres: each worker's
    /// slots kept its 16 pooled connections busy, its heartbeats queued
    /// behind them for 10 s, and the reaper gave up every live try. Here
    /// every pooled connection is held: a heartbeat must still go through.
    #[tokio::test]
    async fn heartbeats_go_through_while_every_pooled_connection_is_busy() {
        let Ok(admin) = std::env::var("UPDRAFT_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var("CI").is_err(),
                "CI must run the Postgres half: set UPDRAFT_TEST_POSTGRES_URL"
            );
            eprintln!("SKIPPED (Postgres): UPDRAFT_TEST_POSTGRES_URL is not set");
            return;
        };
        let name = format!("updraft_beats_{}", std::process::id());
        let admin_store = Store::connect(&admin).await.unwrap();
        for sql in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            admin_store.exec_admin(&sql).await.unwrap();
        }
        let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let now = Timestamp::now();
        store
            .register_worker(&WorkerInfo {
                worker_id: "w".into(),
                kind: "worker".into(),
                hostname: "h".into(),
                pid: 1,
                slots: 64,
                started_at: now,
                heartbeat: now,
            })
            .await
            .unwrap();
        let mut held = Vec::new();
        while let Ok(Ok(c)) = tokio::time::timeout(Duration::from_millis(500), store.pool().acquire()).await {
            held.push(c);
        }
        assert_eq!(held.len(), 16, "the pool's connections, all held");
        let beat = tokio::time::timeout(Duration::from_secs(5), async {
            (
                store.heartbeat_worker("w").await.unwrap(),
                store.heartbeat_tasks("w", &[(1, 1)]).await.unwrap(),
            )
        })
        .await
        .expect("heartbeats waited for the busy pool");
        assert_eq!(beat, (true, Vec::new()));
        drop(held);
        store.close().await;
        admin_store
            .exec_admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .unwrap();
    }
}
