//! Where the store's writes go.
//!
//! SQLite has one writer at a time. The writers of one process queue for a
//! single connection (tokio's mutex is fair: first come, first served)
//! instead of meeting on the file lock, whose busy handler sleeps a
//! millisecond or more per collision. It is a connection behind a mutex, not
//! a sqlx pool of one: sqlx's pool pings a connection when it is acquired
//! and again when it is released, so each statement would cost three
//! round trips to SQLite's thread (measured: ~150 µs a statement through the
//! pool, ~7 µs on a held connection), and the worker's hot path is a few
//! statements per task.
//!
//! Postgres takes many writers at once: writes use the pool.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

use sqlx::any::AnyRow;

use super::Result;
use super::statements::Statements;

#[derive(Clone)]
pub(crate) enum Writes {
    Single(Arc<Mutex<Single>>),
    Pool(AnyPool),
}

/// SQLite's one write connection.
pub(crate) struct Single {
    /// `None` once the store is closed.
    conn: Option<AnyConnection>,
    /// A transaction sent as one query ([`WriteConn::fetch_all_atomic`])
    /// was abandoned before it answered (its future was dropped): it may
    /// still be open, holding the database's write lock. Rolled back before
    /// the connection is used again.
    in_doubt: bool,
}

impl std::fmt::Debug for Writes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Writes::Single(_) => f.write_str("Writes::Single"),
            Writes::Pool(_) => f.write_str("Writes::Pool"),
        }
    }
}

impl Writes {
    pub(crate) fn single(conn: AnyConnection) -> Self {
        Writes::Single(Arc::new(Mutex::new(Single {
            conn: Some(conn),
            in_doubt: false,
        })))
    }

    /// Waits for the write connection (SQLite) or takes one from the pool.
    pub(crate) async fn acquire(&self) -> Result<WriteConn> {
        match self {
            Writes::Single(m) => {
                let mut guard = m.clone().lock_owned().await;
                let Single { conn, in_doubt } = &mut *guard;
                let Some(conn) = conn else {
                    return Err(sqlx::Error::PoolClosed.into());
                };
                if *in_doubt {
                    // "No transaction is active" is the good answer here.
                    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                    *in_doubt = false;
                }
                Ok(WriteConn::Single(guard))
            }
            Writes::Pool(p) => Ok(WriteConn::Pooled(p.acquire().await?)),
        }
    }

    pub(crate) async fn close(&self) {
        match self {
            Writes::Single(m) => {
                if let Some(conn) = m.lock().await.conn.take() {
                    let _ = conn.close().await;
                }
            }
            Writes::Pool(p) => p.close().await,
        }
    }
}

/// A connection to write on, held until dropped.
pub(crate) enum WriteConn {
    Single(OwnedMutexGuard<Single>),
    Pooled(PoolConnection<Any>),
}

impl WriteConn {
    /// A transaction on this connection. On SQLite it takes the write lock
    /// up front (`BEGIN IMMEDIATE`), so it waits for writers of other
    /// processes instead of failing when it upgrades from reading.
    pub(crate) async fn begin(&mut self) -> Result<Transaction<'_, Any>> {
        Ok(match self {
            WriteConn::Single(_) => self.deref_mut().begin_with("BEGIN IMMEDIATE").await?,
            WriteConn::Pooled(_) => self.deref_mut().begin().await?,
        })
    }
}

impl WriteConn {
    /// SQLite: runs `stmts` in one write transaction sent as one query
    /// (`BEGIN IMMEDIATE; ...; COMMIT`): one round trip to SQLite's thread,
    /// one commit, all or nothing. If a statement fails, the transaction is
    /// rolled back before the error is returned; if this future is dropped
    /// before the answer, the next user of the connection rolls it back.
    /// Postgres prepares one statement per query: there, the statements run
    /// in a transaction one by one.
    pub(crate) async fn fetch_all_atomic(&mut self, stmts: &Statements) -> Result<Vec<AnyRow>> {
        let WriteConn::Single(guard) = self else {
            let mut tx = self.begin().await?;
            let rows = stmts.fetch_each(&mut tx).await?;
            tx.commit().await?;
            return Ok(rows);
        };
        guard.in_doubt = true;
        let conn = guard.conn.as_mut().expect("checked open when acquired");
        let result = stmts
            .fetch_all_wrapped(&mut *conn, Some("BEGIN IMMEDIATE"), Some("COMMIT"))
            .await;
        if result.is_err() {
            // Nothing to roll back if BEGIN itself failed; that error is not
            // the one to report.
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        }
        guard.in_doubt = false;
        result
    }
}

impl Deref for WriteConn {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self {
            WriteConn::Single(g) => g.conn.as_ref().expect("checked open when acquired"),
            WriteConn::Pooled(c) => c,
        }
    }
}

impl DerefMut for WriteConn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            WriteConn::Single(g) => g.conn.as_mut().expect("checked open when acquired"),
            WriteConn::Pooled(c) => c,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::store::Store;
    use crate::store::statements::Arg;

    /// A one-query transaction dropped while SQLite's thread still streams
    /// its rows stops between BEGIN and COMMIT, holding the database's
    /// write lock; the next user of the write connection rolls it back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_abandoned_transaction_is_rolled_back_before_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/u.db", dir.path().display());
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        store.set_variable("k", "before").await.unwrap();

        let mut stmts = Statements::new();
        stmts.push(
            "UPDATE variables SET value = $1 WHERE key = $2",
            vec![Arg::from("abandoned"), Arg::from("k")],
        );
        // Rows enough to keep SQLite's thread busy long after we stop
        // listening.
        stmts.push(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $1) SELECT x FROM c",
            vec![Arg::Int(50_000_000)],
        );
        let mut conn = store.writes().await.unwrap();
        let abandoned = tokio::time::timeout(Duration::from_millis(50), conn.fetch_all_atomic(&stmts)).await;
        assert!(abandoned.is_err(), "the query was still streaming");
        drop(conn);

        // The next write through this store goes first; then another
        // process (another store) can write at once.
        store.set_variable("k2", "after").await.unwrap();
        let other = Store::connect(&url).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), other.set_variable("k3", "other"))
            .await
            .expect("the write lock was released")
            .unwrap();
        assert_eq!(other.variables().await.unwrap()["k"], "before");
    }
}
