//! `updraft db migrate` and `updraft db check`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Subcommand, ValueEnum};
use jiff::{SignedDuration, Timestamp};
use updraft_engine::runtime::{died_here, hostname};
use updraft_engine::store::{Store, redact};

use crate::settings::Settings;
use crate::store::runtime;

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create or upgrade the schema (standalone does this on start).
    Migrate,
    /// Exit 0 when the store answers and its schema is current; with
    /// `--process`, also when a scheduler or worker of this machine has
    /// heartbeat recently. For container health checks (Airflow's `airflow
    /// db check` and `airflow jobs check --local`).
    Check {
        /// Also require a live process of this kind on this machine.
        #[arg(long, value_enum)]
        process: Option<ProcessKind>,
        /// Also require the web UI at this address (`host:port`) to answer
        /// a request for `/` (any status below 500).
        #[arg(long, value_name = "HOST:PORT")]
        web: Option<String>,
        /// How old its last heartbeat may be.
        #[arg(long, default_value = "60s", value_parser = updraft_engine::duration::parse_duration)]
        max_age: Duration,
        /// Give up on the store after this long.
        #[arg(long, default_value = "10s", value_parser = updraft_engine::duration::parse_duration)]
        timeout: Duration,
    },
    /// Delete finished runs (with their task instances and logs) that ended
    /// longer ago than --older-than, a batch at a time, safe beside a
    /// running scheduler. Each DAG keeps its newest scheduled run. On
    /// SQLite the file then shrinks.
    Clean {
        /// How old a run must be, like 90d or 12w.
        #[arg(long, value_parser = updraft_engine::duration::parse_duration)]
        older_than: Duration,
        /// Count what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Runs per transaction.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
        batch: u32,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProcessKind {
    Scheduler,
    Worker,
}

impl ProcessKind {
    fn as_str(self) -> &'static str {
        match self {
            ProcessKind::Scheduler => "scheduler",
            ProcessKind::Worker => "worker",
        }
    }
}

pub fn run(cmd: DbCommand, settings: &Settings) -> Result<ExitCode> {
    match cmd {
        DbCommand::Migrate => runtime()?.block_on(async {
            let store = Store::connect(&settings.database_url).await?;
            let n = store.migrate().await?;
            crate::outln!("{}: {n} migration(s) applied", redact(&settings.database_url));
            Ok(ExitCode::SUCCESS)
        }),
        DbCommand::Clean {
            older_than,
            dry_run,
            batch,
        } => runtime()?.block_on(clean(settings, older_than, dry_run, batch)),
        DbCommand::Check {
            process,
            web,
            max_age,
            timeout,
        } => runtime()?.block_on(async {
            let where_ = redact(&settings.database_url);
            let checked = tokio::time::timeout(timeout, async {
                let mut line = check(settings, process, max_age).await?;
                if let Some(addr) = &web {
                    let status = web_status(addr).await?;
                    line.push_str(&format!("; web UI at {addr} answered {status}"));
                }
                anyhow::Ok(line)
            })
            .await;
            match checked {
                Ok(Ok(line)) => {
                    crate::outln!("{where_}: {line}");
                    Ok(ExitCode::SUCCESS)
                }
                Ok(Err(e)) => bail!("{where_}: {e:#}"),
                Err(_) => bail!("{where_}: no answer in {}s", timeout.as_secs_f64()),
            }
        }),
    }
}

async fn clean(settings: &Settings, older_than: Duration, dry_run: bool, batch: u32) -> Result<ExitCode> {
    let store = crate::store::open(settings).await?;
    let before = Timestamp::now() - SignedDuration::try_from(older_than)?;
    let shown = jiff::tz::TimeZone::UTC
        .to_datetime(before)
        .strftime("%Y-%m-%d %H:%M UTC");
    let mut last_shown = std::time::Instant::now();
    let done = store
        .clean_history(before, batch, dry_run, |so_far| {
            // Long cleans show progress, at most once a second.
            if last_shown.elapsed() >= Duration::from_secs(1) {
                eprintln!(
                    "... {} runs, {} log lines deleted so far",
                    so_far.runs, so_far.log_lines
                );
                last_shown = std::time::Instant::now();
            }
        })
        .await?;
    let verb = if dry_run { "would delete" } else { "deleted" };
    crate::outln!(
        "{verb} {} runs, {} task instances and {} log lines that ended before {shown}{}",
        done.runs,
        done.task_instances,
        done.log_lines,
        if done.bytes_freed > 0 {
            format!(
                "; the database file shrank by {:.1} MiB",
                done.bytes_freed as f64 / 1048576.0
            )
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}

async fn check(settings: &Settings, process: Option<ProcessKind>, max_age: Duration) -> Result<String> {
    let store = Store::connect(&settings.database_url).await?;
    let pending = store.pending_migrations().await?;
    if pending > 0 {
        bail!("the schema is {pending} migration(s) behind: run `updraft db migrate`");
    }
    let Some(kind) = process else {
        return Ok("reachable, schema current".into());
    };
    let max_age = SignedDuration::try_from(max_age)?;
    let since = Timestamp::now() - max_age;
    let here = hostname();
    let live = store
        .live_workers(Timestamp::now() - SignedDuration::from_hours(1))
        .await?;
    let mine: Vec<_> = live
        .iter()
        .filter(|w| w.kind == kind.as_str() && w.hostname == here && !died_here(w))
        .collect();
    match mine.iter().max_by_key(|w| w.heartbeat) {
        Some(w) if w.heartbeat >= since => Ok(format!(
            "reachable; {} {} (pid {}) heartbeat {:.1}s ago",
            kind.as_str(),
            w.worker_id,
            w.pid,
            (Timestamp::now() - w.heartbeat).as_secs_f64()
        )),
        Some(w) => bail!(
            "the {} on {here} last heartbeat {:.0}s ago (more than {}s)",
            kind.as_str(),
            (Timestamp::now() - w.heartbeat).as_secs_f64(),
            max_age.as_secs()
        ),
        None => bail!("no {} is registered on {here}", kind.as_str()),
    }
}

/// The status code of `GET /` on a plain HTTP address: the health check
/// needs no HTTP client for one request.
async fn web_status(addr: &str) -> Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| anyhow::anyhow!("web UI at {addr}: {e}"))?;
    conn.write_all(format!("GET / HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .await?;
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        let got = conn.read(&mut head[n..]).await?;
        if got == 0 {
            break;
        }
        n += got;
    }
    let line = String::from_utf8_lossy(&head[..n]);
    let status: u16 = line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("web UI at {addr}: not an HTTP answer ({line:?})"))?;
    if status >= 500 {
        bail!("web UI at {addr} answered {status}");
    }
    Ok(status)
}
