//! The scheduler: creates due runs, starts queued runs within
//! `max_active_runs`, applies trigger rules when tasks end, queues ready
//! tasks within `max_active_tasks`, retries after `retry_delay`, ends runs,
//! and reaps tries whose worker went silent. Several schedulers may share a
//! Postgres store: every change is a guarded transition, so the second to
//! try a change finds it done.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio_util::sync::CancellationToken;

use super::view::RunView;
use super::{DagCache, DagProcessor, Pending, RuntimeError, Signals, Timing};
use crate::schedule::DataInterval;
use crate::store::{DagRun, NewRun, RunState, RunType, RunningCounts, Store, TaskState, run_id_for};

/// What a scheduler looks after.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Only this DAG's runs (a backfill's own scheduler); all when `None`.
    pub only_dag: Option<String>,
    /// Whether to create scheduled runs (not in a backfill's own scheduler).
    pub create_scheduled: bool,
}

impl Default for Scope {
    fn default() -> Self {
        Scope::everything()
    }
}

impl Scope {
    pub fn everything() -> Self {
        Scope {
            only_dag: None,
            create_scheduled: true,
        }
    }

    fn covers(&self, dag_id: &str) -> bool {
        self.only_dag.as_deref().is_none_or(|d| d == dag_id)
    }
}

pub struct Scheduler {
    scope: Scope,
    id: String,
    store: Store,
    processor: Arc<DagProcessor>,
    cache: Arc<DagCache>,
    signals: Signals,
    timing: Timing,
    /// Per DAG: a logical date taken by another run, to schedule past.
    skipped: std::sync::Mutex<HashMap<String, DataInterval>>,
    /// Per DAG: its next scheduled run comes due no earlier than this, as
    /// reckoned from the store for this version of the DAG. Until then a
    /// pass does not ask the store about the DAG: what could bring a run
    /// forward is a new version (another key) or nothing.
    not_before: std::sync::Mutex<HashMap<String, (i64, Timestamp)>>,
    /// Running runs, by primary key, as this scheduler last saw them.
    views: tokio::sync::Mutex<HashMap<i64, RunView>>,
    /// Log lines older than this are deleted (see [`Scheduler::prune_logs`]).
    log_retention: Option<Duration>,
}

/// Up to this many DAGs to look at are read one by one; more, all at once.
const FEW_DAGS: usize = 8;

/// How often the scheduler deletes log lines past their retention.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    pub runs_created: usize,
    pub tasks_queued: usize,
    pub runs_finished: usize,
}

impl Scheduler {
    pub fn new(
        store: Store,
        processor: Arc<DagProcessor>,
        cache: Arc<DagCache>,
        signals: Signals,
        timing: Timing,
    ) -> Self {
        Self::scoped(Scope::everything(), store, processor, cache, signals, timing)
    }

    pub fn scoped(
        scope: Scope,
        store: Store,
        processor: Arc<DagProcessor>,
        cache: Arc<DagCache>,
        signals: Signals,
        timing: Timing,
    ) -> Self {
        let id = format!(
            "{}-{}-scheduler-{}",
            super::hostname(),
            std::process::id(),
            Timestamp::now().as_millisecond()
        );
        Scheduler {
            scope,
            id,
            store,
            processor,
            cache,
            signals,
            timing,
            skipped: Default::default(),
            not_before: Default::default(),
            views: Default::default(),
            log_retention: Some(super::Limits::DEFAULT_LOG_RETENTION),
        }
    }

    /// Keeps log lines this long (`None`: forever).
    pub fn with_log_retention(mut self, retention: Option<Duration>) -> Self {
        self.log_retention = retention;
        self
    }

    /// Deletes log lines older than the retention; the count deleted.
    /// Several schedulers may do it at once: a line is deleted once.
    pub async fn prune_logs(&self, now: Timestamp) -> Result<u64, RuntimeError> {
        prune_logs(&self.store, self.log_retention, now).await
    }

    /// Registers this scheduler among the live processes (a backfill hands
    /// its runs to a live one), heartbeating with the reaper's rhythm.
    async fn announce(&self, now: Timestamp) -> Result<(), RuntimeError> {
        if self.scope.only_dag.is_some() {
            return Ok(());
        }
        self.store
            .register_worker(&crate::store::WorkerInfo {
                worker_id: self.id.clone(),
                kind: "scheduler".into(),
                hostname: super::hostname(),
                pid: std::process::id(),
                slots: 0,
                started_at: now,
                heartbeat: now,
            })
            .await?;
        Ok(())
    }

    /// Runs passes until `shutdown`: after every event, and at the latest
    /// when the next run or retry is due or the tick passes.
    pub async fn run(&self, shutdown: CancellationToken) {
        let mut last_reap = Timestamp::UNIX_EPOCH;
        let mut last_full = std::time::Instant::now();
        // The first pass, and one whose sleep ran out, look at everything.
        let mut full_due = true;
        let mut deadline = tokio::time::Instant::now();
        // Not for a backfill's or a test's own scheduler.
        let mut prune = (self.scope.only_dag.is_none() && self.log_retention.is_some()).then(|| PruneLogs {
            last: None,
            running: None,
        });
        loop {
            let now = Timestamp::now();
            if let Some(p) = &mut prune {
                p.maybe_start(self, now);
            }
            if now.duration_since(last_reap) >= SignedDuration::try_from(self.timing.heartbeat).unwrap_or_default() {
                match self.announce(now).await {
                    Ok(()) => self.store.write_succeeded(),
                    Err(RuntimeError::Store(e)) => {
                        self.store.write_failed("the scheduler's heartbeat", &e);
                    }
                    Err(e) => tracing::error!(error = %e, "scheduler heartbeat failed"),
                }
                if let Err(e) = self.reap(now).await {
                    match e {
                        RuntimeError::Store(e) => {
                            self.store.write_failed("reaping lost tasks", &e);
                        }
                        e => tracing::error!(error = %e, "reaping lost tasks failed"),
                    }
                }
                last_reap = now;
            }
            // Tasks ending in this process name their runs: advance just
            // those. Anything else (a tick, a new run, a retry coming due)
            // gets a full pass, which also reads every running run again.
            let pending = self.signals.take_pending();
            let full = full_due || pending.full || last_full.elapsed() >= self.timing.scheduler_tick;
            // A wake-up whose news an earlier pass already took does nothing.
            if full || !pending.is_empty() {
                if full {
                    last_full = std::time::Instant::now();
                }
                let wait = match self.pass(now, if full { None } else { Some(pending) }).await {
                    Ok((_, wake)) => wake,
                    Err(e) => {
                        match e {
                            RuntimeError::Store(e) => {
                                self.store.write_failed("a scheduler pass", &e);
                            }
                            e => tracing::error!(error = %e, "scheduler pass failed"),
                        }
                        // Start again from the store.
                        self.views.lock().await.clear();
                        self.timing.scheduler_tick
                    }
                };
                // A partial pass saw only some runs: it may bring the next
                // wake-up forward, never push another run's retry back.
                let next = tokio::time::Instant::now() + wait;
                deadline = if full { next } else { deadline.min(next) };
            }
            full_due = false;
            tokio::select! {
                () = shutdown.cancelled() => {
                    if self.scope.only_dag.is_none() {
                        let _ = self.store.deregister_worker(&self.id).await;
                    }
                    return;
                }
                () = self.signals.scheduler.notified() => {}
                () = tokio::time::sleep_until(deadline) => full_due = true,
            }
        }
    }

    /// Gives up on tries whose worker stopped heartbeating. Not while
    /// this process's writes to the store fail, nor for `lost_after` after
    /// the last failure: then the silence was the store's (a full disk, a
    /// restart), and the workers' heartbeats get a fair chance to land.
    pub async fn reap(&self, now: Timestamp) -> Result<usize, RuntimeError> {
        if self
            .store
            .writes_quiet_for()
            .is_some_and(|q| q < self.timing.lost_after)
        {
            return Ok(0);
        }
        let cutoff = now - SignedDuration::try_from(self.timing.lost_after).unwrap_or_default();
        let live: Vec<String> = self
            .store
            .live_workers(cutoff)
            .await?
            .into_iter()
            .filter(|w| !super::died_here(w))
            .map(|w| w.worker_id)
            .collect();
        let reaped = self.store.reap_lost_tasks(cutoff, &live).await?;
        for r in &reaped {
            tracing::warn!(task = %r.task_id, retried = r.retried, "a worker stopped; its try was given up");
        }
        if !reaped.is_empty() {
            self.signals.wake_all();
        }
        Ok(reaped.len())
    }

    /// One pass; returns what it did and how long it may sleep. With
    /// `changes`, it advances just the runs they name; without, every
    /// running run, read again from the store.
    pub(crate) async fn pass(
        &self,
        now: Timestamp,
        changes: Option<Pending>,
    ) -> Result<(PassReport, Duration), RuntimeError> {
        let mut report = PassReport::default();
        let mut wake = now + SignedDuration::try_from(self.timing.scheduler_tick).unwrap_or_default();
        let mut views = self.views.lock().await;
        let touched: Vec<i64> = match changes {
            None => {
                if self.scope.create_scheduled {
                    self.create_due_runs(now, None, &mut report, &mut wake).await?;
                }
                self.start_queued_runs(None).await?;
                let running = self.store.runs_in_states(&[RunState::Running]).await?;
                let mut seen = std::collections::HashSet::new();
                let (mut known, mut fresh) = (Vec::new(), Vec::new());
                for run in running {
                    if !self.scope.covers(&run.dag_id) {
                        continue;
                    }
                    seen.insert(run.id);
                    if views.contains_key(&run.id) {
                        known.push(run.id);
                    } else {
                        fresh.push(run);
                    }
                }
                views.retain(|pk, _| seen.contains(pk));
                self.reload_views(&mut views, &known).await?;
                self.load_views(&mut views, fresh).await?;
                views.keys().copied().collect()
            }
            Some(changes) => {
                let mut reread = changes.runs;
                let mut touched = std::collections::BTreeSet::new();
                if !changes.dags.is_empty() {
                    if self.scope.create_scheduled {
                        self.create_due_runs(now, Some(&changes.dags), &mut report, &mut wake)
                            .await?;
                    }
                    let started = self.start_queued_runs(Some(&changes.dags)).await?;
                    touched.extend(started.iter().map(|r| r.id));
                    self.load_views(&mut views, started).await?;
                }
                for e in &changes.events {
                    match views.get_mut(&e.run_pk) {
                        Some(v) => v.apply(e.ti_id, e.state),
                        None => {
                            reread.insert(e.run_pk);
                        }
                    }
                    touched.insert(e.run_pk);
                }
                touched.extend(reread.iter().copied());
                for pk in &touched {
                    match views.get_mut(pk) {
                        Some(v) if !v.stale && !reread.contains(pk) => {}
                        Some(v) => v.reload(&self.store).await?,
                        None => {
                            let Some(run) = self.store.get_run_by_pk(*pk).await? else {
                                continue;
                            };
                            if run.state != RunState::Running || !self.scope.covers(&run.dag_id) {
                                continue;
                            }
                            let dag = self.cache.get(run.version_id).await?;
                            views.insert(*pk, RunView::load(&self.store, dag, run).await?);
                        }
                    }
                }
                touched.into_iter().collect()
            }
        };
        for pk in touched {
            let Some(view) = views.get_mut(&pk) else { continue };
            if self.advance(view, now, &mut report, &mut wake).await? {
                views.remove(&pk);
            }
        }
        drop(views);
        tracing::debug!(queued = report.tasks_queued, "scheduler pass done");
        if report.tasks_queued > 0 {
            self.signals.workers.notify_one();
            if let Err(e) = self
                .store
                .notify(super::WORKERS_CHANNEL, &super::payload(&self.signals.id, None))
                .await
            {
                tracing::warn!(error = %e, "NOTIFY failed; workers will poll");
            }
        }
        let sleep = wake.duration_since(Timestamp::now()).max(SignedDuration::ZERO);
        Ok((report, Duration::try_from(sleep).unwrap_or(self.timing.scheduler_tick)))
    }

    /// Creates the scheduled runs that came due: of every DAG, or of
    /// `only`. A DAG whose next run is not due yet, as last reckoned for
    /// its version, costs no read; the others are read all at once (their
    /// active runs, their last scheduled interval) and their runs created
    /// in batches, so a thousand DAGs due in the same minute take a few
    /// statements, not thousands.
    async fn create_due_runs(
        &self,
        now: Timestamp,
        only: Option<&BTreeSet<String>>,
        report: &mut PassReport,
        wake: &mut Timestamp,
    ) -> Result<(), RuntimeError> {
        let current = self.processor.current();
        let mut asked = Vec::new();
        {
            let mut not_before = self.not_before.lock().expect("lock");
            if only.is_none() {
                not_before.retain(|dag_id, _| current.contains_key(dag_id));
            }
            for (dag_id, cur) in &current {
                if only.is_some_and(|o| !o.contains(dag_id)) || cur.dag.schedule().is_manual() {
                    continue;
                }
                match not_before.get(dag_id) {
                    Some(&(version, at)) if version == cur.version_id && at > now => {
                        *wake = (*wake).min(at);
                    }
                    _ => asked.push((dag_id, cur)),
                }
            }
        }
        if asked.is_empty() {
            return Ok(());
        }
        let paused: HashMap<String, bool> = self
            .store
            .list_dags()
            .await?
            .into_iter()
            .map(|d| (d.dag_id, d.is_paused))
            .collect();
        asked.retain(|(dag_id, _)| !paused.get(*dag_id).copied().unwrap_or(true));
        let (active, stored) = self.due_facts(&asked).await?;
        let mut new_runs = Vec::new();
        // Remembered only once the runs before them are stored: a pass
        // that fails to create them must not leave their DAGs skipped.
        let mut due_later = Vec::new();
        for (dag_id, cur) in asked {
            let dag = &cur.dag;
            let mut active = active.get(dag_id).copied().unwrap_or(0);
            let skipped = self.skipped.lock().expect("lock").get(dag_id).copied();
            let mut last = match (stored.get(dag_id).copied(), skipped) {
                (Some(a), Some(b)) => Some(if a.start >= b.start { a } else { b }),
                (a, b) => a.or(b),
            };
            while active < i64::from(dag.max_active_runs) {
                let Some(info) = dag.timetable.next_dagrun_info(last, &dag.restriction(), now) else {
                    break;
                };
                if info.run_after > now {
                    *wake = (*wake).min(info.run_after);
                    due_later.push((dag_id.clone(), (cur.version_id, info.run_after)));
                    break;
                }
                new_runs.push(NewRun {
                    dag_id: dag_id.clone(),
                    run_id: run_id_for(RunType::Scheduled, info.logical_date),
                    logical_date: info.logical_date,
                    data_interval_start: info.data_interval.start,
                    data_interval_end: info.data_interval.end,
                    run_type: RunType::Scheduled,
                    conf: serde_json::Map::new(),
                    version_id: cur.version_id,
                    tasks: dag
                        .tasks
                        .iter()
                        .map(|t| (t.task_id.clone(), t.retry.retries + 1))
                        .collect(),
                });
                last = Some(info.data_interval);
                active += 1;
            }
        }
        let created = self.store.create_runs(&new_runs).await?;
        self.not_before.lock().expect("lock").extend(due_later);
        for (new, run) in new_runs.iter().zip(created) {
            match run {
                Some(run) => {
                    tracing::info!(dag = %new.dag_id, run = %run.run_id, "created run");
                    report.runs_created += 1;
                }
                None => {
                    // Taken by another run (a manual one, or another
                    // scheduler's): the next pass, at once, moves past it.
                    self.skipped.lock().expect("lock").insert(
                        new.dag_id.clone(),
                        DataInterval {
                            start: new.data_interval_start,
                            end: new.data_interval_end,
                        },
                    );
                    *wake = now;
                }
            }
        }
        Ok(())
    }

    /// For the DAGs asked about: their queued and running runs, and their
    /// last scheduled data interval. A few DAGs are read one by one (a
    /// slot freed in one); more, all at once.
    async fn due_facts(
        &self,
        asked: &[(&String, &super::processor::Current)],
    ) -> Result<(HashMap<String, i64>, HashMap<String, DataInterval>), RuntimeError> {
        let interval = |(start, end)| DataInterval { start, end };
        if asked.len() > FEW_DAGS {
            let active = self.store.active_runs_by_dag().await?;
            let stored = self.store.last_scheduled_intervals().await?;
            return Ok((active, stored.into_iter().map(|(d, i)| (d, interval(i))).collect()));
        }
        let (mut active, mut stored) = (HashMap::new(), HashMap::new());
        for (dag_id, _) in asked {
            let n = self
                .store
                .count_runs(dag_id, &[RunState::Queued, RunState::Running])
                .await?;
            active.insert((*dag_id).clone(), n);
            if let Some(i) = self.store.last_scheduled_interval(dag_id).await? {
                stored.insert((*dag_id).clone(), interval(i));
            }
        }
        Ok((active, stored))
    }

    /// Starts queued runs (of every DAG, or of `only`) within
    /// `max_active_runs`, all in one write; returns the runs started.
    async fn start_queued_runs(&self, only: Option<&BTreeSet<String>>) -> Result<Vec<DagRun>, RuntimeError> {
        let queued: Vec<DagRun> = self
            .store
            .runs_in_states(&[RunState::Queued])
            .await?
            .into_iter()
            .filter(|r| self.scope.covers(&r.dag_id) && only.is_none_or(|o| o.contains(&r.dag_id)))
            .collect();
        if queued.is_empty() {
            return Ok(Vec::new());
        }
        let RunningCounts { mut all, mut backfill } = self.store.running_counts().await?;
        let mut start = Vec::new();
        for run in queued {
            // Backfill runs have their own budget of `max_active_runs`,
            // apart from scheduled and manual ones (as in Airflow 3), while
            // a running backfill run counts against theirs. The CLI's
            // backfill starts its runs itself (`--max-active-runs`); those
            // left queued (a backfill asked from the UI) start here.
            let is_backfill = run.run_type == RunType::Backfill;
            let counts = if is_backfill { &backfill } else { &all };
            let dag = self.cache.get(run.version_id).await?;
            if counts.get(&run.dag_id).copied().unwrap_or(0) < i64::from(dag.max_active_runs) {
                *all.entry(run.dag_id.clone()).or_default() += 1;
                if is_backfill {
                    *backfill.entry(run.dag_id.clone()).or_default() += 1;
                }
                start.push(run);
            }
        }
        Ok(self.store.start_runs(start).await?)
    }

    /// Reads again the views of these runs: all at once, but for a big
    /// run in which nothing waits, which is asked first.
    async fn reload_views(&self, views: &mut HashMap<i64, RunView>, pks: &[i64]) -> Result<(), RuntimeError> {
        let mut batch = Vec::new();
        for pk in pks {
            let Some(v) = views.get_mut(pk) else { continue };
            if v.asks_first() {
                v.reload(&self.store).await?;
            } else {
                batch.push(*pk);
            }
        }
        let mut states = self.store.task_states_of_runs(&batch).await?;
        for pk in batch {
            if let Some(v) = views.get_mut(&pk) {
                v.fill(states.remove(&pk).unwrap_or_default());
            }
        }
        Ok(())
    }

    /// Makes views of running runs this scheduler has none of yet, their
    /// task states read all at once.
    async fn load_views(&self, views: &mut HashMap<i64, RunView>, runs: Vec<DagRun>) -> Result<(), RuntimeError> {
        if runs.is_empty() {
            return Ok(());
        }
        let pks: Vec<i64> = runs.iter().map(|r| r.id).collect();
        let mut states = self.store.task_states_of_runs(&pks).await?;
        for run in runs {
            let dag = self.cache.get(run.version_id).await?;
            let tis = states.remove(&run.id).unwrap_or_default();
            views.insert(run.id, RunView::with_states(dag, run, tis));
        }
        Ok(())
    }

    /// Applies trigger rules to a running run's tasks and writes what they
    /// decided; ends the run when every task has ended. Returns whether the
    /// run ended (its view is dropped).
    async fn advance(
        &self,
        view: &mut RunView,
        now: Timestamp,
        report: &mut PassReport,
        wake: &mut Timestamp,
    ) -> Result<bool, RuntimeError> {
        let d = view.decide(now);
        if let Some(at) = d.next_retry {
            *wake = (*wake).min(at);
        }
        if !d.is_empty() {
            let moves = [
                (&d.skip, TaskState::None, TaskState::Skipped),
                (&d.upstream_failed, TaskState::None, TaskState::UpstreamFailed),
                (&d.queue, TaskState::None, TaskState::Queued),
                (&d.retry, TaskState::UpForRetry, TaskState::Queued),
            ];
            for (ids, from, to) in moves {
                let moved = self.store.transition_tasks(ids, &[from], to).await?;
                if moved < ids.len() as u64 {
                    // Someone else changed some of them meanwhile.
                    view.stale = true;
                }
                if to == TaskState::Queued {
                    report.tasks_queued += moved as usize;
                }
            }
            if view.stale {
                view.reload(&self.store).await?;
                self.signals.wake_all();
                return Ok(false);
            }
        }
        if !view.all_finished() {
            return Ok(false);
        }
        // The decision to end a run is taken on states read again from
        // the store, not on the picture events built.
        view.reload(&self.store).await?;
        if !view.all_finished() {
            self.signals.wake_all();
            return Ok(false);
        }
        let state = if view.leaf_failed() {
            RunState::Failed
        } else {
            RunState::Success
        };
        let run = &view.run;
        if self.store.finish_run(run.id, state).await? {
            tracing::info!(dag = %run.dag_id, run = %run.run_id, %state, "run ended");
            report.runs_finished += 1;
            self.signals.run_ended();
            // A slot under max_active_runs is free: that DAG's queued and
            // due runs are looked at, not everything.
            self.signals.slot_freed(&run.dag_id);
        }
        Ok(true)
    }
}

/// The cleanup of old log lines: at most one at a time, every
/// [`PRUNE_EVERY`], beside the scheduling loop (never in its way).
struct PruneLogs {
    last: Option<std::time::Instant>,
    running: Option<tokio::task::JoinHandle<()>>,
}

impl PruneLogs {
    fn maybe_start(&mut self, scheduler: &Scheduler, now: Timestamp) {
        if self.running.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        if self.last.is_some_and(|t| t.elapsed() < PRUNE_EVERY) {
            return;
        }
        self.last = Some(std::time::Instant::now());
        let (store, retention) = (scheduler.store.clone(), scheduler.log_retention);
        self.running = Some(tokio::spawn(async move {
            match prune_logs(&store, retention, now).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(lines = n, "deleted log lines past their retention"),
                Err(e) => tracing::error!(error = %e, "deleting old log lines failed"),
            }
        }));
    }
}

async fn prune_logs(store: &Store, retention: Option<Duration>, now: Timestamp) -> Result<u64, RuntimeError> {
    let before = retention
        .and_then(|keep| SignedDuration::try_from(keep).ok())
        .and_then(|keep| now.checked_sub(keep).ok());
    match before {
        Some(before) => Ok(store.prune_logs(before).await?),
        // Forever, or longer than time goes back.
        None => Ok(0),
    }
}
