//! A worker: claims queued tries within its slots, renders each task's
//! config, runs the operator under `execution_timeout` and a cancellation
//! token, streams log lines to the store as they come, heartbeats, and
//! reports how the try ended. On shutdown it stops claiming, lets running
//! tries finish within a grace period, then stops them and hands them back.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::active::ActiveTries;
use super::{DagCache, Masker, Signals, Timing, hostname};
use crate::duration::format_duration;
use crate::operator::{LogSink, LogStream, TaskContext, TaskError};
use crate::store::{Claimed, DownstreamClaim, Store, TryOutcome, WorkerInfo};
use crate::template::{TemplateContext, render_node};
use updraft_operator_api::{LogLimits, human_bytes};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub worker_id: String,
    /// Connections and variables from the environment.
    pub overrides: super::Overrides,
    /// Only run this DAG's tasks (a backfill's own worker).
    pub only_dag: Option<String>,
    pub slots: u32,
    /// How long running tries may go on after shutdown is asked.
    pub drain_grace: Duration,
    /// How long a cancelled operator gets to stop before it is abandoned.
    pub cancel_grace: Duration,
    /// Per try: the longest log line and the most log kept.
    pub log_limits: LogLimits,
    /// The largest output (JSON text) a try may return.
    pub max_output_bytes: usize,
    /// Host path prefixes under which a bind mount built from what a run
    /// sets may lie (see `runtime/host_paths.rs`); none by default.
    pub allowed_mounts: Vec<std::path::PathBuf>,
}

impl WorkerConfig {
    pub fn with_overrides(mut self, overrides: super::Overrides) -> Self {
        self.overrides = overrides;
        self
    }

    pub fn new(slots: u32) -> Self {
        let host = hostname();
        WorkerConfig {
            worker_id: format!("{host}-{}-{}", std::process::id(), Timestamp::now().as_millisecond()),
            overrides: super::Overrides::default(),
            only_dag: None,
            slots: slots.max(1),
            drain_grace: Duration::from_secs(30),
            cancel_grace: Duration::from_secs(15),
            log_limits: LogLimits::default(),
            max_output_bytes: super::Limits::DEFAULT_MAX_OUTPUT_BYTES,
            allowed_mounts: Vec::new(),
        }
    }

    /// With the installation's limits on logs, outputs and mounts.
    pub fn with_limits(mut self, limits: &super::Limits) -> Self {
        self.log_limits = limits.log;
        self.max_output_bytes = limits.max_output_bytes;
        self.allowed_mounts = limits.allowed_mounts.clone();
        self
    }
}

/// Waits before recording a try's end again, after the store failed to;
/// the last one repeats while the store cannot write (see
/// [`Worker::report`]). Under the reaper's 10 s, so a report waiting for
/// space on a full disk lands before the try is judged lost.
const REPORT_RETRIES: [Duration; 4] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

/// How often a worker that cannot read connections and variables (a
/// missing or wrong `UPDRAFT_SECRET_KEY`) looks again; it claims nothing
/// meanwhile.
const SECRETS_RECHECK: Duration = Duration::from_secs(10);

type Secrets = std::collections::BTreeMap<String, crate::connection::Connection>;
type Variables = std::collections::BTreeMap<String, String>;

pub struct Worker {
    /// Set when `run` starts: the batching writer of logs and reports.
    writer: std::sync::OnceLock<super::writer::Writer>,
    secrets_cache: std::sync::Mutex<Option<(std::time::Instant, Secrets, Variables)>>,
    /// Set (to when it was last found) while connections or variables
    /// cannot be decrypted: no task is claimed that could not run.
    secrets_blocked: std::sync::Mutex<Option<std::time::Instant>>,
    /// The tries this worker runs now (see [`ActiveTries`]).
    active: ActiveTries,
    /// Set once shutdown is asked: no more claims, not even of downstream
    /// tasks.
    draining: std::sync::atomic::AtomicBool,
    store: Store,
    cache: Arc<DagCache>,
    signals: Signals,
    timing: Timing,
    config: WorkerConfig,
}

/// How one execution ended, before it is reported.
enum Ending {
    Report(TryOutcome),
    /// Stopped by shutdown: hand the try back, it does not count.
    Release,
}

impl Worker {
    pub fn new(store: Store, cache: Arc<DagCache>, signals: Signals, timing: Timing, config: WorkerConfig) -> Self {
        Worker {
            writer: Default::default(),
            secrets_cache: Default::default(),
            secrets_blocked: Default::default(),
            active: Default::default(),
            draining: Default::default(),
            store,
            cache,
            signals,
            timing,
            config,
        }
    }

    pub fn id(&self) -> &str {
        &self.config.worker_id
    }

    /// This worker as the store's list of live processes holds it.
    fn info(&self, now: Timestamp) -> WorkerInfo {
        WorkerInfo {
            worker_id: self.config.worker_id.clone(),
            kind: "worker".into(),
            hostname: hostname(),
            pid: std::process::id(),
            slots: self.config.slots,
            started_at: now,
            heartbeat: now,
        }
    }

    /// Works until `shutdown`, then drains.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> Result<(), crate::store::StoreError> {
        let now = Timestamp::now();
        self.store.register_worker(&self.info(now)).await?;
        // Scratch folders of workers that died mid-try (kill -9, a crash).
        let swept = updraft_operator_api::sweep_orphans(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if swept > 0 {
            tracing::info!(swept, "removed scratch folders left by workers that are gone");
        }
        let (writer, writer_task) = super::writer::Writer::spawn(
            self.store.clone(),
            self.config.worker_id.clone(),
            self.signals.id.clone(),
        );
        let _ = self.writer.set(writer.clone());
        let beat_stop = CancellationToken::new();
        let beat = tokio::spawn(self.clone().heartbeat(beat_stop.clone()));
        // Cancelled only when draining runs out of time.
        let hard_stop = CancellationToken::new();
        let mut running: JoinSet<()> = JoinSet::new();
        // Claiming one slot at a time as tasks end costs a claim per task;
        // after an ending, claim once a quarter of the slots is free (new
        // work announced by the scheduler is claimed at once).
        let batch = (self.config.slots as usize / 4).max(1);
        let mut eager = true;
        while !shutdown.is_cancelled() {
            let free = self.config.slots as usize - running.len();
            let blocked = self.secrets_still_blocked().await;
            if free > 0 && !blocked && (eager || free >= batch || running.is_empty()) {
                match self
                    .store
                    .claim_for(&self.config.worker_id, free as u32, self.config.only_dag.as_deref())
                    .await
                {
                    Ok(claimed) => {
                        let got = claimed.len();
                        tracing::debug!(got, "claimed");
                        for c in claimed {
                            let me = self.clone();
                            let stop = hard_stop.clone();
                            running.spawn(async move { me.execute(c, stop).await });
                        }
                        if got == free {
                            continue; // maybe more queued
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "claiming tasks failed"),
                }
            }
            eager = tokio::select! {
                () = shutdown.cancelled() => false,
                Some(_) = running.join_next(), if !running.is_empty() => {
                    // Endings come in batches (one store write for many):
                    // take every one that is ready.
                    while running.try_join_next().is_some() {}
                    false
                }
                () = self.signals.workers.notified() => true,
                () = tokio::time::sleep(if blocked { SECRETS_RECHECK } else { self.timing.worker_poll }) => true,
            };
        }
        self.draining.store(true, std::sync::atomic::Ordering::SeqCst);
        // Drain: let running tries finish within the grace period.
        let drained = tokio::time::timeout(self.config.drain_grace, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                left = running.len(),
                "grace period over: stopping running tasks and handing them back"
            );
            hard_stop.cancel();
            while running.join_next().await.is_some() {}
        }
        writer.close();
        let _ = writer_task.await;
        beat_stop.cancel();
        let _ = beat.await;
        self.store.deregister_worker(&self.config.worker_id).await?;
        Ok(())
    }

    /// Connections and variables, read at most once a second: a burst of
    /// short tasks does not read them thousands of times.
    async fn secrets(&self) -> Result<(Secrets, Variables), crate::store::StoreError> {
        {
            let cached = self.secrets_cache.lock().expect("cache lock");
            if let Some((at, c, v)) = &*cached
                && at.elapsed() < Duration::from_secs(1)
            {
                return Ok((c.clone(), v.clone()));
            }
        }
        let (c, v) = tokio::try_join!(self.store.connections(), self.store.variables())?;
        *self.secrets_cache.lock().expect("cache lock") = Some((std::time::Instant::now(), c.clone(), v.clone()));
        Ok((c, v))
    }

    /// Whether secrets are still unreadable; looks again (and says so when
    /// they can be read) at most every [`SECRETS_RECHECK`].
    async fn secrets_still_blocked(&self) -> bool {
        let since = *self.secrets_blocked.lock().expect("blocked lock");
        let Some(since) = since else { return false };
        if since.elapsed() < SECRETS_RECHECK {
            return true;
        }
        match self.secrets().await {
            Ok(_) => {
                *self.secrets_blocked.lock().expect("blocked lock") = None;
                tracing::info!("connections and variables can be read again: claiming tasks");
                false
            }
            Err(_) => {
                *self.secrets_blocked.lock().expect("blocked lock") = Some(std::time::Instant::now());
                true
            }
        }
    }

    async fn heartbeat(self: Arc<Self>, stop: CancellationToken) {
        loop {
            match self.store.heartbeat_worker(&self.config.worker_id).await {
                Ok(registered) => {
                    self.store.write_succeeded();
                    if !registered {
                        // A scheduler found this worker silent and removed
                        // it (its running tries were given up then).
                        tracing::warn!("this worker was removed as silent; registering again");
                        if let Err(e) = self.store.register_worker(&self.info(Timestamp::now())).await {
                            self.store.write_failed("registering the worker again", &e);
                        }
                    }
                }
                Err(e) => {
                    self.store.write_failed("the worker's heartbeat", &e);
                }
            }
            // Only tries registered before the heartbeat's query can be
            // judged by its answer (one claimed meanwhile is not in it yet),
            // and only if they are still running once it comes back.
            let tries = self.active.snapshot();
            match self.store.heartbeat_tasks(&self.config.worker_id, &tries).await {
                Ok(owned) => {
                    self.active.stop_taken_away(&tries, &owned);
                }
                Err(e) => {
                    self.store.write_failed("the heartbeat of running tries", &e);
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(self.timing.heartbeat) => {}
            }
        }
    }

    /// Runs one claimed try inside a tracing span carrying its ids. (The
    /// span is attached with `instrument`: a guard held across `.await`
    /// corrupts the span stack when the task moves between threads.)
    /// Then runs, in the same slot, the downstream task it may have claimed
    /// on the way out.
    async fn execute(&self, claimed: Claimed, hard_stop: CancellationToken) {
        use tracing::Instrument;
        let mut next = Some(claimed);
        while let Some(claimed) = next.take() {
            let ti = &claimed.ti;
            let span = tracing::info_span!("task", dag = %ti.dag_id, task = %ti.task_id, run = %claimed.run.run_id, attempt = ti.try_number);
            next = self
                .execute_in_span(claimed.clone(), hard_stop.clone())
                .instrument(span)
                .await;
        }
    }

    /// After a success, the downstream `all_success` tasks this worker
    /// may claim on its way out (see [`Store::claim_downstream`]), so a
    /// chain does not wait for a scheduler pass and a claim between its
    /// links.
    async fn downstream_claims(&self, c: &Claimed) -> Vec<DownstreamClaim> {
        if self.draining.load(std::sync::atomic::Ordering::SeqCst) {
            return Vec::new();
        }
        let Ok(dag) = self.cache.get(c.run.version_id).await else {
            return Vec::new();
        };
        let Some(i) = dag.task_index(&c.ti.task_id) else {
            return Vec::new();
        };
        dag.graph
            .downstream(i)
            .filter(|&d| dag.tasks[d].trigger_rule == crate::dag::TriggerRule::AllSuccess)
            // A couple of attempts at most: a wide fan-out is the scheduler's.
            .take(2)
            .map(|d| DownstreamClaim {
                task_id: dag.tasks[d].task_id.clone(),
                upstream: dag.tasks[d]
                    .upstream
                    .iter()
                    .map(|&u| dag.tasks[u].task_id.clone())
                    .collect(),
                max_active: dag.max_active_tasks,
            })
            .collect()
    }

    async fn execute_in_span(&self, claimed: Claimed, hard_stop: CancellationToken) -> Option<Claimed> {
        let ti = claimed.ti.clone();
        // Heartbeated from here until its report is stored (or given up on).
        let cancel = hard_stop.child_token();
        let active = self.active.register(ti.id, ti.try_number, cancel.clone());
        let secrets = self.secrets().await;
        let ((connections, variables), masker) = match secrets {
            Ok((mut c, mut v)) => {
                c.extend(self.config.overrides.connections.clone());
                v.extend(self.config.overrides.variables.clone());
                let m = Masker::new(&c, &v);
                ((c, v), m)
            }
            Err(e) => {
                if let crate::store::StoreError::Secret(_) = e {
                    // A missing or wrong key: no task can run here until it
                    // is fixed. Said once; nothing is claimed meanwhile.
                    let first = self
                        .secrets_blocked
                        .lock()
                        .expect("blocked lock")
                        .replace(std::time::Instant::now())
                        .is_none();
                    if first {
                        tracing::error!(
                            error = %e,
                            "cannot read connections and variables: this worker claims no task until they can be \
                             read (restart it with the store's UPDRAFT_SECRET_KEY)"
                        );
                    }
                } else {
                    // The store is unreachable: give the try back for later.
                    tracing::error!(error = %e, "reading connections and variables failed");
                }
                active.ending();
                let _ = self.store.release_tasks(&self.config.worker_id, &[ti.id]).await;
                self.signals.task_ended(claimed.run.id);
                return None;
            }
        };
        let writer = self.writer.get().expect("execute runs under run()").clone();
        let log = LineLog {
            writer: writer.clone(),
            ti_id: ti.id,
            try_number: ti.try_number,
            masker: Arc::new(masker.clone()),
        };
        let ending = self
            .attempt(&claimed, log, (&hard_stop, cancel), connections, variables, &masker)
            .await;
        // From here the store's state of the try is this worker's to
        // change: a heartbeat no longer finding it running is not news.
        active.ending();
        match ending {
            Ending::Release => {
                if let Err(e) = self.store.release_tasks(&self.config.worker_id, &[ti.id]).await {
                    tracing::error!(error = %e, "handing a task back failed");
                }
                self.signals.task_ended(claimed.run.id);
                super::bridge::notify_run_changed(&self.store, &self.signals.id, claimed.run.id).await;
                None
            }
            Ending::Report(outcome) => {
                let claims = match outcome {
                    TryOutcome::Success { .. } => self.downstream_claims(&claimed).await,
                    TryOutcome::Failed { .. } | TryOutcome::Skipped { .. } => Vec::new(),
                };
                self.report(&claimed, &writer, outcome, claims, &hard_stop).await
            }
        }
    }

    /// Records how the try ended and runs, in this slot, the downstream
    /// task claimed on the way.
    async fn report(
        &self,
        claimed: &Claimed,
        writer: &super::writer::Writer,
        outcome: TryOutcome,
        claims: Vec<DownstreamClaim>,
        hard_stop: &CancellationToken,
    ) -> Option<Claimed> {
        let ti = &claimed.ti;
        let mut result = writer
            .finish(claimed.run.id, ti.id, ti.try_number, outcome.clone(), claims)
            .await;
        // The store did not take it (it is down, its disk is full, another
        // process held SQLite's write lock past the busy timeout): a
        // finished try is not given up while this worker lives, or it would
        // be reaped and run again. The try is heartbeated meanwhile, and no
        // scheduler reaps it while the store fails (see `Scheduler::reap`).
        // Another error (the report itself refused) is retried a few times.
        let mut waits = REPORT_RETRIES.iter().copied();
        let mut said = false;
        while let Err(e) = &result {
            let unavailable = e.is_unavailable();
            let wait = match waits.next() {
                Some(w) => w,
                None if unavailable => REPORT_RETRIES[REPORT_RETRIES.len() - 1],
                None => break,
            };
            if !said {
                said = true;
                tracing::warn!(error = %self.store.describe(e), "recording the try's end failed; retrying");
            }
            tokio::select! {
                () = hard_stop.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
            result = writer
                .finish(claimed.run.id, ti.id, ti.try_number, outcome.clone(), Vec::new())
                .await;
        }
        let (state, claimed_next) = match result {
            Ok(reported) => reported,
            Err(e) => {
                tracing::error!(
                    error = %self.store.describe(&e),
                    "recording the try's end failed; it will be reaped and retried by its policy"
                );
                self.signals.task_ended(claimed.run.id);
                return None;
            }
        };
        if said {
            tracing::info!("the try's end is recorded");
        }
        // Run here next. Even when this try was taken away (a user marked it
        // success while it ran), the task after it may have been claimed
        // for this worker all the same.
        let next = claimed_next.map(|ti| Claimed {
            ti,
            run: claimed.run.clone(),
        });
        match state {
            Some(state) => {
                tracing::info!(%state, "try ended");
                // Together, so the scheduler never sees a slot free that the
                // downstream task already took.
                let ended = super::TaskEvent {
                    run_pk: claimed.run.id,
                    ti_id: ti.id,
                    state,
                };
                let started = next.as_ref().map(|n| super::TaskEvent {
                    run_pk: n.run.id,
                    ti_id: n.ti.id,
                    state: crate::store::TaskState::Running,
                });
                self.signals.task_states(std::iter::once(ended).chain(started));
            }
            None => {
                tracing::warn!("the try was taken away meanwhile; its result is dropped");
                // The scheduler reads the run again (and sees `next`).
                self.signals.task_ended(claimed.run.id);
            }
        }
        next
    }

    /// Renders and runs one try; the log lines go to `log`.
    async fn attempt(
        &self,
        c: &Claimed,
        log: LineLog,
        // The worker's hard stop, and this try's token (a child of it).
        (hard_stop, cancel): (&CancellationToken, CancellationToken),
        connections: std::collections::BTreeMap<String, crate::connection::Connection>,
        variables: std::collections::BTreeMap<String, String>,
        masker: &Masker,
    ) -> Ending {
        let system = |msg: String| log.line(LogStream::System, &msg);
        let fatal = |msg: String| {
            Ending::Report(TryOutcome::Failed {
                error: msg,
                retry_at: None,
            })
        };
        let dag = match self.cache.get(c.run.version_id).await {
            Ok(d) => d,
            Err(e) => return fatal(e.to_string()),
        };
        let Some(task) = dag.task(&c.ti.task_id) else {
            return fatal(format!(
                "task `{}` is not in the DAG version this run uses",
                c.ti.task_id
            ));
        };
        let retry_at = || Some(Timestamp::now() + delay(task.retry.delay_after(c.ti.try_number)));
        // Only the upstream outputs its templates read.
        let upstream: Vec<&str> = match &task.reads_outputs {
            crate::dag::OutputReads::None => Vec::new(),
            crate::dag::OutputReads::Tasks(ids) => ids.iter().map(String::as_str).collect(),
            crate::dag::OutputReads::All => {
                let ancestors = dag.graph.ancestors(dag.task_index(&task.task_id).unwrap_or_default());
                dag.tasks
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| ancestors[*i])
                    .map(|(_, t)| t.task_id.as_str())
                    .collect()
            }
        };
        let outputs = match self.store.task_outputs(c.run.id, &upstream).await {
            Ok(o) => o,
            Err(e) => {
                return Ending::Report(TryOutcome::Failed {
                    error: format!("reading upstream outputs: {e}"),
                    retry_at: retry_at(),
                });
            }
        };
        let connections = Arc::new(connections);
        system(format!(
            "try {} of {} on {} (operator {})",
            c.ti.try_number, c.ti.max_tries, self.config.worker_id, task.operator
        ));
        let ctx = TemplateContext {
            dag_id: c.run.dag_id.clone(),
            task_id: task.task_id.clone(),
            run_id: c.run.run_id.clone(),
            logical_date: c.run.logical_date,
            data_interval: crate::schedule::DataInterval {
                start: c.run.data_interval_start,
                end: c.run.data_interval_end,
            },
            try_number: c.ti.try_number,
            params: dag.params.clone(),
            conf: c.run.conf.clone(),
            outputs: outputs.into_iter().collect(),
            variables: Arc::new(variables),
            connections: connections.clone(),
        };
        let rendered = match render_node(&task.config, &ctx.to_value()) {
            Ok(r) => r,
            Err(e) => {
                let error = masker.mask(&e.message);
                system(error.clone());
                return Ending::Report(TryOutcome::Failed {
                    error,
                    retry_at: retry_at(),
                });
            }
        };
        // What ran, for the UI: stored with the try's first lines.
        log.writer.rendered(
            c.ti.id,
            c.ti.try_number,
            masker.redact_json(rendered.to_json()).to_string(),
        );
        if let Err(e) =
            super::host_paths::check_host_paths(self.cache.registry(), task, &rendered, &self.config.allowed_mounts)
        {
            let error = masker.mask(&e);
            system(format!("failed (not retried): {error}"));
            return fatal(error);
        }
        let sink_log = log.clone();
        let room = log.writer.clone();
        let sink = LogSink::new(move |stream, line| {
            sink_log.line(stream, line);
        })
        .with_backpressure(move || {
            let room = room.clone();
            Box::pin(async move { room.room_for_logs().await })
        })
        .with_limits(self.config.log_limits);
        let task_ctx = TaskContext {
            dag_id: c.run.dag_id.clone(),
            task_id: task.task_id.clone(),
            run_id: c.run.run_id.clone(),
            try_number: c.ti.try_number,
            // A new or cleared instance gets retries + 1 tries from its
            // first one (`max_tries = try_number + retries + 1` on clear).
            first_try: c
                .ti
                .max_tries
                .saturating_sub(task.retry.retries)
                .clamp(1, c.ti.try_number.max(1)),
            log: sink.clone(),
            cancel: cancel.clone(),
            connections,
            // Removed when the operator's future (and every copy of the
            // context it made) is gone.
            scratch: crate::operator::Scratch::new(&format!("ti{}-try{}", c.ti.id, c.ti.try_number)),
        };
        let registry = self.cache.registry();
        let run = registry.execute(&task.operator, &rendered, task_ctx);
        tokio::pin!(run);
        tracing::debug!("operator starts");
        let result = match task.execution_timeout {
            None => run.await,
            Some(limit) => tokio::select! {
                r = &mut run => r,
                () = tokio::time::sleep(limit) => {
                    cancel.cancel();
                    let _ = tokio::time::timeout(self.config.cancel_grace, &mut run).await;
                    Err(TaskError::Failed(format!("execution_timeout of {} exceeded", format_duration(limit))))
                }
            },
        };
        tracing::debug!("operator ended");
        if let Some(summary) = sink.summary() {
            system(summary);
        }
        let result = result.and_then(|output| self.bounded_output(output));
        match result {
            Ok(output) => {
                system("succeeded".into());
                Ending::Report(TryOutcome::Success {
                    output: masker.mask_json(output),
                })
            }
            Err(TaskError::Cancelled) if hard_stop.is_cancelled() => {
                system("stopped by worker shutdown; handed back".into());
                Ending::Release
            }
            Err(TaskError::Cancelled) => {
                system("cancelled: the try was cleared, marked or reaped while it ran".into());
                Ending::Report(TryOutcome::Failed {
                    error: "cancelled".into(),
                    retry_at: None,
                })
            }
            Err(TaskError::Failed(msg)) => {
                let error = masker.mask(&msg);
                system(format!("failed: {error}"));
                Ending::Report(TryOutcome::Failed {
                    error,
                    retry_at: retry_at(),
                })
            }
            Err(TaskError::RetryAfter { message, after }) => {
                let error = masker.mask(&message);
                // The service's wait, if longer than the task's own delay.
                let at = retry_at().map(|t| t.max(Timestamp::now() + delay(after)));
                system(format!(
                    "failed: {error} (the service asks to wait {})",
                    format_duration(after)
                ));
                Ending::Report(TryOutcome::Failed { error, retry_at: at })
            }
            Err(TaskError::Skipped(reason)) => {
                let reason = masker.mask(&reason);
                system(format!("skipped: {reason}"));
                Ending::Report(TryOutcome::Skipped { reason })
            }
            Err(TaskError::Fatal(msg)) => {
                let error = masker.mask(&msg);
                system(format!("failed (not retried): {error}"));
                Ending::Report(TryOutcome::Failed { error, retry_at: None })
            }
        }
    }
}

impl Worker {
    /// An output over [`WorkerConfig::max_output_bytes`] fails the try
    /// (not retried: the same work returns the same output).
    fn bounded_output(&self, output: crate::operator::Output) -> Result<crate::operator::Output, TaskError> {
        let max = self.config.max_output_bytes;
        let mut size = ByteCount(0);
        serde_json::to_writer(&mut size, &output).expect("counting never fails");
        let size = size.0;
        if size <= max {
            return Ok(output);
        }
        Err(TaskError::Fatal(format!(
            "the task's output is {} of JSON, over the limit of {} (UPDRAFT_MAX_TASK_OUTPUT): \
             write large results to a file or a bucket and return its location",
            human_bytes(size as u64),
            human_bytes(max as u64)
        )))
    }
}

/// How many bytes are written to it.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where one try's lines go: masked, then queued on the worker's writer.
#[derive(Clone)]
struct LineLog {
    writer: super::writer::Writer,
    ti_id: i64,
    try_number: u32,
    masker: Arc<Masker>,
}

impl LineLog {
    fn line(&self, stream: LogStream, text: &str) {
        self.writer
            .log(self.ti_id, self.try_number, stream_name(stream), self.masker.mask(text));
    }
}

fn stream_name(s: LogStream) -> &'static str {
    match s {
        LogStream::Stdout => "stdout",
        LogStream::Stderr => "stderr",
        LogStream::System => "system",
    }
}

fn delay(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}
