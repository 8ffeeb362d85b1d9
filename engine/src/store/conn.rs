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

use super::Result;

#[derive(Clone)]
pub(crate) enum Writes {
    /// SQLite: the one write connection; `None` once the store is closed.
    Single(Arc<Mutex<Option<AnyConnection>>>),
    Pool(AnyPool),
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
        Writes::Single(Arc::new(Mutex::new(Some(conn))))
    }

    /// Waits for the write connection (SQLite) or takes one from the pool.
    pub(crate) async fn acquire(&self) -> Result<WriteConn> {
        match self {
            Writes::Single(m) => {
                let guard = m.clone().lock_owned().await;
                if guard.is_none() {
                    return Err(sqlx::Error::PoolClosed.into());
                }
                Ok(WriteConn::Single(guard))
            }
            Writes::Pool(p) => Ok(WriteConn::Pooled(p.acquire().await?)),
        }
    }

    pub(crate) async fn close(&self) {
        match self {
            Writes::Single(m) => {
                if let Some(conn) = m.lock().await.take() {
                    let _ = conn.close().await;
                }
            }
            Writes::Pool(p) => p.close().await,
        }
    }
}

/// A connection to write on, held until dropped.
pub(crate) enum WriteConn {
    Single(OwnedMutexGuard<Option<AnyConnection>>),
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

impl Deref for WriteConn {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self {
            WriteConn::Single(g) => g.as_ref().expect("checked open when acquired"),
            WriteConn::Pooled(c) => c,
        }
    }
}

impl DerefMut for WriteConn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            WriteConn::Single(g) => g.as_mut().expect("checked open when acquired"),
            WriteConn::Pooled(c) => c,
        }
    }
}
