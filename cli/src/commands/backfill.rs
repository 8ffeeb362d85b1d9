//! `updraft backfill`: create the runs `dags plan` lists for a range and see
//! them through, with a progress line. Runs are handed to a live scheduler
//! when one is using the store; otherwise this process runs them itself.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::ValueEnum;
use jiff::{SignedDuration, Timestamp};
use updraft_engine::runtime::{
    Local, LocalOptions, Reprocess, Scope, Step, Timing, apply_step, died_here, plan_backfill,
};
use updraft_engine::store::{RunState, Store};
use updraft_engine::time::parse_instant;

use super::dags::find;
use crate::output::utc;
use crate::settings::Settings;
use crate::store::open;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ReprocessArg {
    /// Leave dates that already have a run alone.
    #[default]
    None,
    /// Rerun failed runs in place.
    Failed,
    /// Rerun every finished run in place.
    All,
}

pub struct BackfillArgs {
    pub dag_id: String,
    pub start: String,
    pub end: String,
    pub reprocess: ReprocessArg,
    pub max_active_runs: Option<u32>,
    pub dry_run: bool,
}

pub async fn backfill(settings: &Settings, a: BackfillArgs) -> Result<ExitCode> {
    let registry = updraft_engine::Registry::with(updraft_operators::register_all);
    let dag = find(settings, &registry, &a.dag_id)?;
    let start = parse_instant(&a.start, dag.tz())
        .map_err(anyhow::Error::msg)
        .context("--start")?;
    let end = parse_instant(&a.end, dag.tz())
        .map_err(anyhow::Error::msg)
        .context("--end")?;
    anyhow::ensure!(end >= start, "--end ({}) is before --start ({})", a.end, a.start);
    let store = open(settings).await?;
    let version = store
        .sync_dag(
            &dag.dag_id,
            &dag.file.display().to_string(),
            &dag.source,
            settings.dags_paused_at_creation,
        )
        .await?;
    let reprocess = match a.reprocess {
        ReprocessArg::None => Reprocess::None,
        ReprocessArg::Failed => Reprocess::Failed,
        ReprocessArg::All => Reprocess::All,
    };
    let steps = plan_backfill(&store, &dag, start, end, reprocess).await?;
    if a.dry_run {
        for s in &steps {
            let what = match s {
                Step::Create(_) => "create".to_string(),
                Step::Rerun(r) => format!("rerun ({})", r.state),
                Step::Keep(r) => format!("keep ({})", r.state),
            };
            crate::outln!("{}  {what}", utc(s.logical_date()));
        }
        eprintln!("{} date(s); nothing done (--dry-run)", steps.len());
        return Ok(ExitCode::SUCCESS);
    }
    let kept = steps.iter().filter(|s| matches!(s, Step::Keep(_))).count();
    let todo: Vec<&Step> = steps.iter().filter(|s| !matches!(s, Step::Keep(_))).collect();
    let max_active = a.max_active_runs.unwrap_or(dag.max_active_runs).max(1) as usize;

    let live_scheduler = scheduler_alive(&store).await?;
    let local = if live_scheduler {
        eprintln!("a scheduler is running on this store: handing it {} run(s)", todo.len());
        None
    } else {
        crate::store::check_secrets(&store, settings).await?;
        let opts = LocalOptions {
            dags_folder: settings.dags_folder.clone(),
            slots: 16,
            paused_at_creation: settings.dags_paused_at_creation,
            run_scheduler: true,
            run_worker: true,
            timing: Timing::default(),
            reload_every: Duration::from_secs(3600),
            overrides: settings.overrides.clone(),
            scope: Scope {
                only_dag: Some(dag.dag_id.clone()),
                create_scheduled: false,
            },
        };
        Some(Local::start_with(store.clone(), registry, opts, &settings.limits).await?)
    };

    // In this process, the scheduler says when a run ends; a scheduler
    // elsewhere is watched every 100 ms.
    let mut ended = local.as_ref().map(|l| l.signals.runs_ended());
    let mut progress = Progress::new(todo.len(), kept);
    let mut next = 0;
    let mut active: BTreeSet<i64> = BTreeSet::new();
    let mut interrupted = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        while active.len() < max_active && next < todo.len() {
            match apply_step(&store, &dag, version, todo[next]).await? {
                Some(pk) => {
                    // Started here: this command paces its runs
                    // (`--max-active-runs`), not the scheduler's budget.
                    store.start_run(pk).await?;
                    active.insert(pk);
                }
                None => progress.skipped += 1,
            }
            next += 1;
            if let Some(l) = &local {
                l.signals.wake_all();
            }
        }
        for pk in active.clone() {
            let run = store.get_run_by_pk(pk).await?.context("a backfill run vanished")?;
            if run.state.is_finished() {
                active.remove(&pk);
                if run.state == RunState::Failed {
                    progress.failed.push(utc(run.logical_date));
                } else {
                    progress.succeeded += 1;
                }
            }
        }
        progress.running = active.len();
        progress.draw(false);
        if active.is_empty() && next >= todo.len() {
            break;
        }
        tokio::select! {
            _ = &mut ctrl_c => { interrupted = true; break; }
            Some(Ok(())) = async { Some(ended.as_mut()?.changed().await) } => {}
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    progress.draw(true);
    if let Some(l) = local {
        if interrupted {
            eprintln!("interrupted: letting running tasks finish (up to 30 s); unfinished runs stay for a scheduler");
        }
        l.shutdown().await;
    }
    if !progress.failed.is_empty() {
        eprintln!("failed runs: {}", progress.failed.join(", "));
    }
    Ok(if interrupted {
        ExitCode::from(130)
    } else if progress.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn scheduler_alive(store: &Store) -> Result<bool> {
    let since = Timestamp::now() - SignedDuration::from_secs(10);
    let live = store.live_workers(since).await?;
    Ok(live.iter().any(|w| w.kind == "scheduler" && !died_here(w)))
}

/// One line of progress: a bar on a terminal, a line every few seconds
/// otherwise.
struct Progress {
    total: usize,
    kept: usize,
    succeeded: usize,
    skipped: usize,
    running: usize,
    failed: Vec<String>,
    started: Instant,
    last_line: Instant,
    tty: bool,
}

impl Progress {
    fn new(total: usize, kept: usize) -> Self {
        Progress {
            total,
            kept,
            succeeded: 0,
            skipped: 0,
            running: 0,
            failed: Vec::new(),
            started: Instant::now(),
            last_line: Instant::now(),
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn draw(&mut self, last: bool) {
        let done = self.succeeded + self.failed.len() + self.skipped;
        let elapsed = self.started.elapsed().as_secs_f64();
        let eta = if done > 0 && done < self.total {
            format!("{:.0}s", elapsed / done as f64 * (self.total - done) as f64)
        } else {
            "-".into()
        };
        let width = 30;
        let filled = (done * width).checked_div(self.total).unwrap_or(width);
        let line = format!(
            "[{}{}] {done}/{} runs done, {} running, {} failed, {} kept; elapsed {elapsed:.1}s, ETA {eta}",
            "#".repeat(filled),
            ".".repeat(width - filled),
            self.total,
            self.running,
            self.failed.len(),
            self.kept,
        );
        let mut err = std::io::stderr();
        if self.tty {
            let _ = write!(err, "\r{line}\x1b[K");
            if last {
                let _ = writeln!(err);
            }
        } else if last || self.last_line.elapsed() >= Duration::from_secs(5) {
            let _ = writeln!(err, "{line}");
            self.last_line = Instant::now();
        }
        let _ = err.flush();
    }
}
