//! The state store: DAGs and their versions, runs, task instances, logs,
//! connections, variables and live workers, in SQLite (embedded, the
//! default) or Postgres (many schedulers and workers on many machines).
//!
//! One `Store` type serves both through sqlx's `Any` driver: the SQL is
//! shared, times are microseconds since the epoch and JSON is text, so both
//! backends hold the same values. Where the backends differ (claiming work
//! with `FOR UPDATE SKIP LOCKED`, write transactions, pragmas) the
//! [`Dialect`] picks the statement. The conformance suite
//! (`engine/tests/store_conformance.rs`) runs against both.

mod actions;
mod checkpoint;
mod cipher;
mod clean;
mod conn;
mod dags;
mod due;
mod health;
mod logs;
mod migrate;
pub mod model;
mod runs;
mod secrets;
mod statements;
mod tasks;
mod ui;
mod users;
mod wake;
mod workers;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use jiff::Timestamp;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, ConnectOptions};

use conn::{WriteConn, Writes};

pub use clean::Cleaned;
pub use dags::StoredDag;
pub use due::{RunningCounts, TaskStateRow};
pub use logs::{LogRow, READ_LINE_CHARS, RenderedRow};
pub use model::*;
pub use secrets::{Resealed, SecretCounts};
pub use tasks::{Claimed, DownstreamClaim, Reaped};
pub use ui::{GridCell, HotQuery, PlanSample, RunDot, RunWindow, RunsPage};
pub use users::{Role, TOKEN_ID_LEN, TokenInfo, UserInfo};
pub use wake::{Note, WakeBus, WakeListener};

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("unsupported database URL {0}: use sqlite://PATH or postgres://...")]
    BadUrl(String),
    #[error("cannot create {path}: {source}")]
    CreateDir { path: String, source: std::io::Error },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Secret(String),
    #[error("no answer from the database at {url} within {secs} s (is it running and reachable from here?)")]
    Unreachable { url: String, secs: u64 },
}

/// How long the first connection to Postgres may take before a command
/// gives up with the cause, instead of the pool's retries hiding it.
const FIRST_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A handle on the state database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// Where writes go: on SQLite one connection, on Postgres the same pool
    /// as reads (see [`conn`]).
    writes: Writes,
    dialect: Dialect,
    cipher: Option<cipher::Cipher>,
    /// Kept for Postgres LISTEN connections.
    url: std::sync::Arc<str>,
    /// SQLite: the wake-up sockets of the processes sharing the file.
    wake: Option<WakeBus>,
    /// SQLite: stops the WAL checkpointer when the last handle drops.
    _checkpointer: Option<std::sync::Arc<checkpoint::Checkpointer>>,
    /// Whether writes go through now, as this process's parts find out.
    health: std::sync::Arc<health::WriteHealth>,
    /// Where heartbeats are written: on Postgres a small pool of their own
    /// (opened on first use), so a worker whose slots keep every pooled
    /// connection busy still proves it is alive; on SQLite the one write
    /// connection, as every write.
    beats: Writes,
}

/// Notifications from other processes ([`Store::listener`]).
#[derive(Debug)]
pub enum Listener {
    Postgres(sqlx::postgres::PgListener),
    Local {
        socket: WakeListener,
        channels: Vec<String>,
    },
}

impl Listener {
    /// The next notification on one of the channels listened to.
    pub async fn recv(&mut self) -> Result<Note> {
        match self {
            Listener::Postgres(l) => {
                let n = l.recv().await?;
                Ok(Note {
                    channel: n.channel().to_string(),
                    payload: n.payload().to_string(),
                })
            }
            Listener::Local { socket, channels } => loop {
                let note = socket.recv().await.map_err(|e| StoreError::Db(sqlx::Error::Io(e)))?;
                if channels.contains(&note.channel) {
                    return Ok(note);
                }
            },
        }
    }
}

/// The file of a `sqlite://PATH?options` URL.
fn sqlite_file(url: &str) -> &str {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    path.split('?').next().unwrap_or_default()
}

impl Store {
    /// Connects to `sqlite://PATH` (created, with its folder, if missing) or
    /// `postgres://...`. Does not migrate: see [`Store::migrate`].
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Dialect::Postgres
        } else {
            return Err(StoreError::BadUrl(redact(url)));
        };
        let mut checkpointer = None;
        let mut wake = None;
        let health = std::sync::Arc::new(health::WriteHealth::new(match dialect {
            Dialect::Sqlite => Some(sqlite_file(url).to_string()),
            Dialect::Postgres => None,
        }));
        let (pool, writes) = match dialect {
            Dialect::Sqlite => {
                let path = sqlite_file(url);
                if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                        path: dir.display().to_string(),
                        source,
                    })?;
                }
                let url = if url.contains('?') {
                    url.to_string()
                } else {
                    format!("{url}?mode=rwc")
                };
                let opts = AnyConnectOptions::from_str(&url)?;
                // Writers queue for one connection (see [`conn`]); readers
                // (the CLI, the UI, the scheduler's reads) use the pool.
                let reads = sqlite_pool(8).connect_with(opts.clone()).await?;
                let mut write = opts.connect().await?;
                sqlite_pragmas(&mut write).await?;
                // Checkpoints happen off the commits' path (see checkpoint).
                for pragma in [
                    format!("PRAGMA wal_autocheckpoint = {}", checkpoint::BACKSTOP_PAGES),
                    format!("PRAGMA journal_size_limit = {}", 64 << 20),
                ] {
                    sqlx::query(sqlx::AssertSqlSafe(pragma)).execute(&mut write).await?;
                }
                // The file exists now (mode=rwc); an in-memory database
                // has no path and no other process to wake.
                wake = WakeBus::for_database(Path::new(path)).ok();
                let writes = Writes::single(write);
                checkpointer = Some(std::sync::Arc::new(checkpoint::spawn(writes.clone(), health.clone())));
                (reads, writes)
            }
            Dialect::Postgres => {
                let opts = AnyConnectOptions::from_str(url)?;
                // One direct attempt first: a refused connection, a wrong
                // password or a host that does not answer is reported at
                // once with its cause (the pool would retry for its whole
                // acquire timeout and then say only "pool timed out").
                let first = tokio::time::timeout(FIRST_CONNECT_TIMEOUT, opts.connect())
                    .await
                    .map_err(|_| StoreError::Unreachable {
                        url: redact(url),
                        secs: FIRST_CONNECT_TIMEOUT.as_secs(),
                    })??;
                let _ = sqlx::Connection::close(first).await;
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    // sqlx pings a connection when it goes back to the pool
                    // already; a second ping when it comes out would add a
                    // round trip to every statement. Only one that sat idle
                    // a while is checked (the server may have restarted, or
                    // a proxy dropped it): that costs nothing when busy.
                    .test_before_acquire(false)
                    .before_acquire(|conn, meta| {
                        Box::pin(async move {
                            if meta.idle_for > Duration::from_secs(30) {
                                sqlx::Connection::ping(conn).await?;
                            }
                            Ok(true)
                        })
                    })
                    .connect_with(opts)
                    .await?;
                (pool.clone(), Writes::Pool(pool))
            }
        };
        let beats = match dialect {
            Dialect::Sqlite => writes.clone(),
            Dialect::Postgres => Writes::Pool(
                AnyPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(Duration::from_secs(10))
                    .idle_timeout(Duration::from_secs(60))
                    .connect_lazy_with(AnyConnectOptions::from_str(url)?),
            ),
        };
        Ok(Store {
            pool,
            writes,
            dialect,
            cipher: None,
            url: std::sync::Arc::from(url),
            wake,
            _checkpointer: checkpointer,
            health,
            beats,
        })
    }

    /// Records that `what` could not be written because of `e`: a store
    /// that stopped taking writes is said once (and once a minute while it
    /// lasts) for the whole process, naming a full disk. Returns whether
    /// it was said; a caller that retries then keeps quiet.
    pub fn write_failed(&self, what: &str, e: &StoreError) -> bool {
        self.health.failed(what, e)
    }

    /// Records that a write went through (said once after failures).
    pub fn write_succeeded(&self) {
        self.health.succeeded();
    }

    /// `e` in words: a full disk names the store's file.
    pub fn describe(&self, e: &StoreError) -> String {
        self.health.describe(e)
    }

    /// How long since a write last failed in this process (`None`: never).
    pub fn writes_quiet_for(&self) -> Option<Duration> {
        self.health.quiet_for()
    }

    /// Wakes other processes at once: Postgres `NOTIFY channel, payload`;
    /// SQLite a datagram to each process listening beside the file
    /// ([`WakeBus`]). Only latency depends on it: everyone also polls.
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<()> {
        match (&self.dialect, &self.wake) {
            (Dialect::Postgres, _) => {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(channel)
                    .bind(payload)
                    .execute(&self.pool)
                    .await?;
            }
            (Dialect::Sqlite, Some(bus)) => bus.send(channel, payload),
            (Dialect::Sqlite, None) => {}
        }
        Ok(())
    }

    /// Where [`Store::notify`] from other processes arrives: a LISTEN
    /// connection on Postgres, a wake-up socket on SQLite (none for an
    /// in-memory database).
    pub async fn listener(&self, channels: &[&str]) -> Result<Option<Listener>> {
        match (&self.dialect, &self.wake) {
            (Dialect::Postgres, _) => {
                let mut l = sqlx::postgres::PgListener::connect(&self.url).await?;
                l.listen_all(channels.iter().copied()).await?;
                Ok(Some(Listener::Postgres(l)))
            }
            (Dialect::Sqlite, Some(bus)) => {
                let channels = channels.iter().map(|c| c.to_string()).collect();
                let socket = bus.listen().map_err(|source| StoreError::CreateDir {
                    path: bus.dir().display().to_string(),
                    source,
                })?;
                Ok(Some(Listener::Local { socket, channels }))
            }
            (Dialect::Sqlite, None) => Ok(None),
        }
    }

    /// Whether [`Store::listener`] has anything to listen on.
    pub fn can_listen(&self) -> bool {
        self.dialect == Dialect::Postgres || self.wake.is_some()
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Applies the embedded migrations not yet applied; returns how many.
    pub async fn migrate(&self) -> Result<usize> {
        migrate::run(self).await
    }

    /// How many migrations [`Store::migrate`] would apply.
    pub async fn pending_migrations(&self) -> Result<usize> {
        migrate::pending(self).await
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A connection for statements that write (see [`conn`]); for a
    /// transaction, [`WriteConn::begin`] on it.
    pub(crate) async fn writes(&self) -> Result<WriteConn> {
        self.writes.acquire().await
    }

    /// A connection for heartbeats (see `beats`).
    pub(crate) async fn beats(&self) -> Result<WriteConn> {
        self.beats.acquire().await
    }

    /// Runs one administrative statement (e.g. `CREATE DATABASE` in tests).
    pub async fn exec_admin(&self, sql: &str) -> Result<()> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.writes.close().await;
        // On SQLite the same connection as `writes`: closing it again is a no-op.
        self.beats.close().await;
    }
}

/// A SQLite pool of readers with the pragmas every connection needs.
fn sqlite_pool(max: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(60))
        // A local file does not drop connections; sqlx still pings each one
        // when it goes back to the pool.
        .test_before_acquire(false)
        .after_connect(|conn, _| Box::pin(async move { sqlite_pragmas(conn).await }))
}

async fn sqlite_pragmas(conn: &mut AnyConnection) -> std::result::Result<(), sqlx::Error> {
    // WAL lets readers (the CLI, the UI) work while the scheduler writes;
    // busy_timeout makes writers of other processes wait their turn instead
    // of failing.
    // Takes effect only on a new, empty file: `db clean` can then give
    // freed pages back without rewriting it (older files are switched by
    // one VACUUM, on their first clean). Only asked then: on a file with
    // tables it still takes a write lock, and fails on a full disk, which
    // must not keep readers from opening connections.
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_master")
        .fetch_one(&mut *conn)
        .await?;
    if tables == 0 {
        sqlx::query("PRAGMA auto_vacuum = INCREMENTAL")
            .execute(&mut *conn)
            .await?;
    }
    for pragma in [
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = NORMAL",
        "PRAGMA busy_timeout = 15000",
        "PRAGMA foreign_keys = ON",
        "PRAGMA cache_size = -32768",
    ] {
        sqlx::query(pragma).execute(&mut *conn).await?;
    }
    Ok(())
}

/// A database URL with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

pub(crate) fn us(ts: Timestamp) -> i64 {
    ts.as_microsecond()
}

pub(crate) fn ts(us: i64) -> Result<Timestamp> {
    Timestamp::from_microsecond(us).map_err(|e| StoreError::Corrupt(format!("time {us}: {e}")))
}

pub(crate) fn opt_ts(us: Option<i64>) -> Result<Option<Timestamp>> {
    us.map(ts).transpose()
}

pub(crate) fn now_us() -> i64 {
    us(Timestamp::now())
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(super::redact("postgres://h/db"), "postgres://h/db");
        assert_eq!(super::redact("sqlite://./x.db"), "sqlite://./x.db");
    }
}
