//! SQLite's WAL checkpoints, off the commits' path.
//!
//! By default SQLite checkpoints when a commit takes the WAL past 1,000
//! pages, inside that commit: the worker that records a task's end would
//! wait for the database file to be written and synced (milliseconds)
//! every hundred tasks or so. Here a task checkpoints instead, every 500 ms
//! (every 50 ms while writes pour in), on the write connection while it
//! holds it: no commit of ours runs meanwhile, so the checkpoint can copy
//! the whole WAL and the next write starts it again from the top (a
//! checkpoint racing commits would leave the WAL never fully copied, never
//! restarted, growing without end). The write connection keeps an
//! automatic checkpoint only as a backstop, at 10,000 pages, and the WAL
//! file is cut back to 64 MiB when it restarts. The task stops when the
//! last handle on the store drops, or when the store is closed. (SQLite
//! also checkpoints when the last connection to the file closes.)

use std::time::Duration;

use sqlx::Row;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::conn::Writes;

/// The write connection's own checkpoint, a backstop (pages).
pub(crate) const BACKSTOP_PAGES: i64 = 10_000;
/// How often the WAL is checkpointed while it grows slowly.
const QUIET: Duration = Duration::from_millis(500);
/// Sooner while it grows fast: by more than this many frames between two
/// checkpoints.
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
pub(crate) fn spawn(writes: Writes, health: std::sync::Arc<super::health::WriteHealth>) -> Checkpointer {
    let stop = CancellationToken::new();
    let token = stop.clone();
    let (seen_tx, seen) = tokio::sync::watch::channel(0);
    tokio::spawn(async move {
        let mut wait = QUIET;
        // The last checkpoint's answer. A checkpoint copies the whole WAL
        // (it holds the write connection), so the next write starts the WAL
        // again: a different answer means writes came since, and its size
        // is how much they wrote. The same answer means none came.
        let mut last = (0, 0);
        loop {
            tokio::select! {
                () = token.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            let result = checkpoint(&writes).await;
            wait = match result {
                Ok((frames, copied)) => {
                    health.succeeded();
                    let written = (frames, copied) != last;
                    last = (frames, copied);
                    if written {
                        seen_tx.send_modify(|n| *n += copied);
                    }
                    if written && frames > BUSY_FRAMES { BUSY } else { QUIET }
                }
                Err(super::StoreError::Db(sqlx::Error::PoolClosed)) => return,
                Err(e) => {
                    // Said once with the process's other failed writes.
                    health.failed("a WAL checkpoint", &e);
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

/// One passive checkpoint on the write connection; returns how many frames
/// the WAL held and how many of them are now copied to the database.
async fn checkpoint(writes: &Writes) -> Result<(i64, i64), super::StoreError> {
    let mut conn = writes.acquire().await?;
    let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(&mut *conn)
        .await?;
    Ok((row.try_get(1)?, row.try_get(2)?))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::store::Store;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_is_checkpointed_and_restarted_under_steady_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}/c.db", dir.path().display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let autocheckpoint: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(&mut *store.writes().await.unwrap())
            .await
            .unwrap();
        assert_eq!(
            autocheckpoint,
            super::BACKSTOP_PAGES,
            "commits checkpoint only as a backstop"
        );
        let mut seen = store._checkpointer.as_ref().unwrap().seen.clone();
        // Commits without a pause for two seconds: the checkpoints land
        // between them.
        let start = std::time::Instant::now();
        let mut commits = 0u64;
        while start.elapsed() < Duration::from_secs(2) {
            store.set_variable(&format!("v{commits}"), "x").await.unwrap();
            commits += 1;
        }
        let after_writes = *seen.borrow();
        tokio::time::timeout(Duration::from_secs(20), seen.wait_for(|copied| *copied >= 1_000))
            .await
            .expect("checkpoints copied what the commits wrote")
            .unwrap();
        // The WAL restarts at each checkpoint instead of growing with every
        // commit (or up to the backstop): once the writes pause, the
        // checkpointer copies the rest, and the next commit starts the WAL
        // again from its beginning. (Measured under the steady writes
        // instead, the WAL held 3,100-5,500 frames depending on how much
        // CPU the checkpointer got beside 60 other tests.)
        tokio::time::timeout(Duration::from_secs(20), seen.wait_for(|now| *now > after_writes))
            .await
            .expect("the checkpointer copied the last writes once they paused")
            .unwrap();
        store.set_variable("after", "x").await.unwrap();
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(store.pool())
            .await
            .unwrap();
        let frames: i64 = sqlx::Row::try_get(&row, 1).unwrap();
        assert!(
            frames < 20,
            "{frames} frames in the WAL after {commits} commits and one more: it did not restart"
        );
    }
}
