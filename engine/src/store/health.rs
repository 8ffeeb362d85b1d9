//! Whether this process can write to the store now, as its parts find out
//! (the worker's heartbeats, reports and log lines, the scheduler's passes).
//!
//! When the store stops taking writes (SQLite's disk is full, Postgres is
//! restarting or out of reach), every part fails at once and keeps failing
//! at its own rhythm. Said by each, that is thousands of identical lines;
//! here it is said once, with the cause in words ("the disk holding
//! /srv/updraft.db is full"), again once a minute while it lasts, and once
//! when writes go through again. The parts then only retry.
//!
//! The scheduler also asks it before reaping: a worker whose heartbeats
//! could not be written was not silent, the store was deaf (see
//! [`WriteHealth::quiet_for`]).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::StoreError;

/// How often a failure that goes on is said again.
const REMIND_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub(super) struct WriteHealth {
    /// The store's file (SQLite), for the disk-full message.
    file: Option<String>,
    /// Fast path: nothing is failing (checked on every success).
    failing: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Since when writes fail, how many did, and whether that was said.
    since: Option<(Instant, u64, bool)>,
    /// When an outage was last said. Kept across recoveries: a disk that
    /// is nearly full lets some writes through (SQLite reuses the room its
    /// WAL file already has), and each flicker is not news.
    said: Option<Instant>,
    /// When the last failure happened (kept after recovery).
    last_failure: Option<Instant>,
}

impl WriteHealth {
    pub(super) fn new(file: Option<String>) -> WriteHealth {
        WriteHealth {
            file,
            failing: AtomicBool::new(false),
            state: Mutex::default(),
        }
    }

    /// The cause of `e` in words: a full disk names the file (or the
    /// server); anything else is the error as it is.
    pub(super) fn describe(&self, e: &StoreError) -> String {
        if !e.is_disk_full() {
            return e.to_string();
        }
        match &self.file {
            Some(file) => format!("the disk holding {file} is full"),
            None => "the database server's disk is full".to_string(),
        }
    }

    /// Records that `what` could not be written because of `e`. Returns
    /// whether this was said (the first failure, or a reminder); otherwise
    /// the caller keeps quiet too.
    pub(super) fn failed(&self, what: &str, e: &StoreError) -> bool {
        if !e.is_unavailable() {
            // Not the store refusing writes: this request's own error.
            tracing::error!(error = %e, "{what} failed");
            return true;
        }
        let now = Instant::now();
        let mut state = self.state.lock().expect("health lock");
        state.last_failure = Some(now);
        self.failing.store(true, Ordering::Relaxed);
        let due = state.said.is_none_or(|at| now.duration_since(at) >= REMIND_EVERY);
        let (since, count, said) = state.since.get_or_insert((now, 0, false));
        *count += 1;
        if !due {
            tracing::debug!(error = %e, "{what} failed again");
            return false;
        }
        if *said {
            tracing::warn!(
                failed_writes = *count,
                "the store still cannot write after {} s: {}",
                since.elapsed().as_secs(),
                self.describe(e)
            );
        } else {
            *said = true;
            tracing::error!(
                error = %e,
                "{what} failed: {}; what must be recorded is kept and retried until the store can write again",
                self.describe(e)
            );
        }
        state.said = Some(now);
        true
    }

    /// Records that a write went through: said once after failures.
    pub(super) fn succeeded(&self) {
        if !self.failing.load(Ordering::Relaxed) {
            return;
        }
        let mut state = self.state.lock().expect("health lock");
        self.failing.store(false, Ordering::Relaxed);
        if let Some((since, count, true)) = state.since.take() {
            tracing::info!(
                failed_writes = count,
                "the store writes again, after {:.1} s",
                since.elapsed().as_secs_f64()
            );
        }
    }

    /// How long since a write last failed here (`None`: never).
    pub(super) fn quiet_for(&self) -> Option<Duration> {
        let state = self.state.lock().expect("health lock");
        state.last_failure.map(|at| at.elapsed())
    }
}

impl StoreError {
    /// The database's disk is full: SQLite's `SQLITE_FULL` (13), Postgres's
    /// `disk_full` (53100).
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(d)) => {
                matches!(d.code().as_deref(), Some("13") | Some("53100")) || d.message().contains("disk is full")
            }
            _ => false,
        }
    }

    /// The store could not be reached or could not write (as opposed to a
    /// refused or malformed request): worth retrying the same write.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unreachable { .. } => true,
            StoreError::Db(e) => {
                matches!(
                    e,
                    sqlx::Error::Io(_)
                        | sqlx::Error::Tls(_)
                        | sqlx::Error::Protocol(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::WorkerCrashed
                ) || self.is_disk_full()
                    || matches!(e, sqlx::Error::Database(d) if d.code().is_some_and(|c| unavailable_code(&c)))
            }
            _ => false,
        }
    }
}

/// A database error code that says the server or file cannot take
/// writes now, as opposed to a refused statement (a constraint, a syntax
/// error): SQLite's BUSY, LOCKED, IOERR, FULL and CANTOPEN (primary codes
/// of its extended ones); Postgres's classes 08 (connection), 53
/// (insufficient resources), 57P (shutting down, starting) and 58 (system).
/// A SQLSTATE has five characters; SQLite's extended codes have at most
/// four digits.
fn unavailable_code(code: &str) -> bool {
    if code.len() == 5 {
        return ["08", "53", "57P", "58"].iter().any(|p| code.starts_with(p));
    }
    code.parse::<u32>()
        .is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 10 | 13 | 14))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_said_once_then_quietly_counted_and_its_end_said_once() {
        let h = WriteHealth::new(Some("/srv/updraft.db".into()));
        let e = StoreError::Db(sqlx::Error::PoolTimedOut);
        assert!(h.failed("a heartbeat", &e));
        assert!(!h.failed("storing log lines", &e));
        assert!(!h.failed("a heartbeat", &e));
        assert!(h.quiet_for().unwrap() < Duration::from_secs(5));
        h.succeeded();
        // A flicker (a write through, then failures again) is not news
        // within the minute.
        assert!(!h.failed("a heartbeat", &e));
        h.state.lock().unwrap().said = Some(Instant::now() - REMIND_EVERY);
        assert!(h.failed("a heartbeat", &e), "an outage is said again after a minute");
    }

    #[test]
    fn a_refused_request_is_not_an_outage() {
        let h = WriteHealth::new(None);
        let e = StoreError::Conflict("no such run".into());
        assert!(h.failed("x", &e));
        assert!(h.failed("x", &e));
        assert_eq!(h.quiet_for(), None);
    }

    /// A real `SQLITE_FULL`: a database capped at a few pages.
    #[tokio::test]
    async fn a_full_disk_names_the_file() {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut c = sqlx::AnyConnection::connect("sqlite::memory:").await.unwrap();
        for sql in ["PRAGMA max_page_count = 4", "CREATE TABLE t (b BLOB)"] {
            sqlx::query(sql).execute(&mut c).await.unwrap();
        }
        let e = sqlx::query("INSERT INTO t VALUES (zeroblob(100000))")
            .execute(&mut c)
            .await
            .map(|_| ())
            .map_err(StoreError::Db)
            .unwrap_err();
        assert!(e.is_disk_full(), "{e}");
        assert!(e.is_unavailable());
        let h = WriteHealth::new(Some("/srv/updraft.db".into()));
        assert_eq!(h.describe(&e), "the disk holding /srv/updraft.db is full");
        assert_eq!(
            WriteHealth::new(None).describe(&e),
            "the database server's disk is full"
        );
        let other = StoreError::Db(sqlx::Error::PoolTimedOut);
        assert!(!other.is_disk_full());
        assert_eq!(h.describe(&other), other.to_string());
    }

    #[test]
    fn codes_of_a_store_that_cannot_write_now() {
        // SQLite: BUSY, IOERR_WRITE (778), FULL; not CONSTRAINT_UNIQUE (2067).
        for c in ["5", "778", "13", "14"] {
            assert!(unavailable_code(c), "{c}");
        }
        for c in ["2067", "1", "19"] {
            assert!(!unavailable_code(c), "{c}");
        }
        // Postgres: connection failure, disk full, admin shutdown; not a
        // unique violation or a serialization failure.
        for c in ["08006", "53100", "57P01", "58030"] {
            assert!(unavailable_code(c), "{c}");
        }
        for c in ["23505", "40001", "42P01"] {
            assert!(!unavailable_code(c), "{c}");
        }
    }
}
