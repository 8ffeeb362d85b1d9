//! SQLite's WAL checkpoints, off the writers' path.
//!
//! By default SQLite checkpoints when a commit takes the WAL past 1,000
//! pages, inside that commit: the worker that records a task's end would
//! wait for the database file to be written and synced (milliseconds)
//! every hundred tasks or so. The write connection turns that off
//! (`wal_autocheckpoint = 0`), and this task checkpoints from a reading
//! connection instead, as often as the WAL fills: `PASSIVE`, so it never
//! waits for a reader or holds up a writer. It stops when the last handle
//! on the store is dropped. (SQLite also checkpoints when the last
//! connection to the file closes.)

use std::time::Duration;

use sqlx::{AnyPool, Row};
use tokio_util::sync::{CancellationToken, DropGuard};

/// How often the WAL is checkpointed while it stays small.
const QUIET: Duration = Duration::from_millis(500);
/// While writes pour in, sooner: the WAL grew past this many frames since
/// the last checkpoint.
const BUSY_FRAMES: i64 = 1_000;
const BUSY: Duration = Duration::from_millis(50);

/// A running checkpointer: it stops when this is dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    _stop: DropGuard,
    /// How many WAL frames the checkpoints have copied so far (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) seen: tokio::sync::watch::Receiver<i64>,
}

/// Starts the checkpointer.
pub(crate) fn spawn(reads: AnyPool) -> Checkpointer {
    let stop = CancellationToken::new();
    let token = stop.clone();
    let (seen_tx, seen) = tokio::sync::watch::channel(0);
    tokio::spawn(async move {
        let mut wait = QUIET;
        loop {
            tokio::select! {
                () = token.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            let result = checkpoint(&reads).await;
            if let Ok((_, copied)) = result {
                seen_tx.send_modify(|n| *n += copied);
            }
            wait = match result {
                Ok((frames, _)) if frames > BUSY_FRAMES => BUSY,
                Ok(_) => QUIET,
                Err(e) => {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                    QUIET
                }
            };
        }
    });
    Checkpointer {
        _stop: stop.drop_guard(),
        seen,
    }
}

/// One passive checkpoint; returns how many frames the WAL held and how
/// many of them are now copied to the database.
async fn checkpoint(reads: &AnyPool) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(reads).await?;
    Ok((row.try_get(1)?, row.try_get(2)?))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::store::Store;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_is_checkpointed_off_the_write_connection() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}/c.db", dir.path().display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let autocheckpoint: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(&mut *store.writes().await.unwrap())
            .await
            .unwrap();
        assert_eq!(autocheckpoint, 0, "commits never checkpoint");
        let mut seen = store._checkpointer.as_ref().unwrap().seen.clone();
        // Each commit adds at least a frame.
        for i in 0..1_500 {
            store.set_variable(&format!("v{i}"), "x").await.unwrap();
        }
        tokio::time::timeout(Duration::from_secs(20), seen.wait_for(|copied| *copied >= 1_500))
            .await
            .expect("a checkpoint took the grown WAL")
            .unwrap();
    }
}
