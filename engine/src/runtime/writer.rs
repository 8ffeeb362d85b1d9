//! One writer per worker: log lines and try reports of all its running
//! tasks go through one ordered queue and reach the store in batches (one
//! insert for many lines, one transaction for many reports). A task's lines
//! are queued before its report, so every line is stored before the try's
//! end is recorded.

use jiff::Timestamp;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::store::{DownstreamClaim, LogRow, RenderedRow, Store, StoreError, TaskInstance, TaskState, TryOutcome};

/// How a report ended: the try's new state (`None`: no longer this
/// worker's) and the downstream task claimed on the way, if any.
type Reported = Result<(Option<TaskState>, Option<TaskInstance>), StoreError>;
type Done = oneshot::Sender<Reported>;

enum Write {
    Log {
        ti_id: i64,
        try_number: u32,
        at: Timestamp,
        stream: &'static str,
        line: String,
    },
    /// What a try's config rendered to, masked (JSON text).
    Rendered {
        ti_id: i64,
        try_number: u32,
        fields: String,
    },
    Finish(Report),
    Close,
}

/// Log bytes queued and not yet stored above which streaming operators
/// wait ([`Writer::room_for_logs`]): a task printing faster than the store
/// takes lines is slowed down instead of growing the worker's memory.
const LOG_QUEUE_LIMIT: usize = 8 << 20;
/// Counted per line besides its text (the row's other fields).
const LINE_OVERHEAD: usize = 64;

#[derive(Debug, Clone)]
pub(crate) struct Writer {
    tx: mpsc::UnboundedSender<Write>,
    queued: Arc<Queued>,
}

/// Log bytes waiting in the queue, and a wake-up when they are stored.
#[derive(Debug, Default)]
struct Queued {
    bytes: AtomicUsize,
    drained: Notify,
}

impl std::fmt::Debug for Write {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Write")
    }
}

impl Writer {
    /// Starts the writer; it ends after [`Writer::close`] once the queue is
    /// written.
    /// `sender` names this process's signals in the NOTIFY that tells
    /// schedulers elsewhere which runs changed.
    pub fn spawn(store: Store, worker_id: String, sender: String) -> (Writer, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(Queued::default());
        (
            Writer {
                tx,
                queued: queued.clone(),
            },
            tokio::spawn(run(store, worker_id, sender, rx, queued)),
        )
    }

    /// Queues a (masked) log line.
    pub fn log(&self, ti_id: i64, try_number: u32, stream: &'static str, line: String) {
        self.queued
            .bytes
            .fetch_add(line.len() + LINE_OVERHEAD, Ordering::Relaxed);
        let _ = self.tx.send(Write::Log {
            ti_id,
            try_number,
            at: Timestamp::now(),
            stream,
            line,
        });
    }

    /// Queues a try's rendered fields (stored with its first lines).
    pub fn rendered(&self, ti_id: i64, try_number: u32, fields: String) {
        let _ = self.tx.send(Write::Rendered {
            ti_id,
            try_number,
            fields,
        });
    }

    /// Resolves once the queued log lines are under [`LOG_QUEUE_LIMIT`].
    pub async fn room_for_logs(&self) {
        loop {
            let drained = self.queued.drained.notified();
            if self.queued.bytes.load(Ordering::Relaxed) <= LOG_QUEUE_LIMIT || self.tx.is_closed() {
                return;
            }
            drained.await;
        }
    }

    /// Records how a try ended, after its queued lines, and if it
    /// succeeded claims the first of `claims` that can be claimed (see
    /// [`Store::finish_and_claim`]).
    pub async fn finish(
        &self,
        run_pk: i64,
        ti_id: i64,
        try_number: u32,
        outcome: TryOutcome,
        claims: Vec<DownstreamClaim>,
    ) -> Reported {
        let (done, rx) = oneshot::channel();
        let report = Report {
            run_pk,
            ti_id,
            try_number,
            outcome,
            claims,
            done,
        };
        if self.tx.send(Write::Finish(report)).is_err() {
            return Err(StoreError::Conflict("the worker's writer has stopped".into()));
        }
        rx.await
            .unwrap_or_else(|_| Err(StoreError::Conflict("the worker's writer has stopped".into())))
    }

    pub fn close(&self) {
        let _ = self.tx.send(Write::Close);
    }
}

async fn run(
    store: Store,
    worker_id: String,
    sender: String,
    mut rx: mpsc::UnboundedReceiver<Write>,
    queued: Arc<Queued>,
) {
    let mut batch = Vec::new();
    let mut lost = Lost::default();
    loop {
        if rx.recv_many(&mut batch, 2048).await == 0 {
            return;
        }
        let mut lines = Vec::new();
        let mut rendered = Vec::new();
        let mut reports = Vec::new();
        let mut runs = std::collections::BTreeSet::new();
        let mut close = false;
        for w in batch.drain(..) {
            match w {
                Write::Log {
                    ti_id,
                    try_number,
                    at,
                    stream,
                    line,
                } => lines.push((ti_id, try_number, at, stream, line)),
                Write::Rendered {
                    ti_id,
                    try_number,
                    fields,
                } => rendered.push((ti_id, try_number, fields)),
                Write::Finish(report) => {
                    runs.insert(report.run_pk);
                    reports.push(report);
                }
                Write::Close => close = true,
            }
        }
        let line_bytes: usize = lines.iter().map(|l| l.4.len() + LINE_OVERHEAD).sum();
        let rows: Vec<LogRow<'_>> = lines
            .iter()
            .map(|(t, n, at, s, l)| (*t, *n, *at, *s, l.as_str()))
            .collect();
        let rendered: Vec<RenderedRow<'_>> = rendered.iter().map(|(t, n, f)| (*t, *n, f.as_str())).collect();
        if let [_] = reports.as_slice() {
            // A lone report (a chain, a quiet worker): its lines, the report
            // and the next task's claim in one round trip.
            let r = reports.pop().expect("one report");
            let report = (r.ti_id, r.try_number, &r.outcome);
            let mut result = store
                .finish_and_claim(&worker_id, (&rows, &rendered), report, r.run_pk, &r.claims)
                .await;
            if let Err(e) = &result {
                // The lines (of every try in the batch) and the report on
                // their own, without the claim: on SQLite nothing of the
                // failed query was kept.
                store.write_failed("storing a try's lines and its end", e);
                store_lines(&store, &rows, &mut lost).await;
                store_rendered(&store, &rendered).await;
                result = store
                    .finish_and_claim(&worker_id, (&[], &[]), report, r.run_pk, &[])
                    .await;
            }
            if result.is_ok() {
                store.write_succeeded();
            }
            // The worker retries a report the store did not take.
            let _ = r.done.send(result);
        } else {
            if !rendered.is_empty() {
                store_rendered(&store, &rendered).await;
            }
            if !rows.is_empty() {
                store_lines(&store, &rows, &mut lost).await;
            }
            if !reports.is_empty() {
                finish_many(&store, &worker_id, reports).await;
            }
        }
        // Once the store writes again, each try that lost lines says so
        // in its log.
        lost.mark(&store).await;
        if line_bytes > 0 {
            // Stored (or given up on): room for the operators waiting.
            queued.bytes.fetch_sub(line_bytes, Ordering::Relaxed);
            queued.drained.notify_waiters();
        }
        // One NOTIFY per run changed, not per try: schedulers in other
        // processes read the run again (Postgres; nothing on SQLite).
        for run_pk in runs {
            super::bridge::notify_run_changed(&store, &sender, run_pk).await;
        }
        if close {
            return;
        }
    }
}

/// Stores a batch of log lines; lines the store does not take are dropped
/// (and counted per try: the operators must not wait on a store that
/// cannot write, nor the worker hold its output in memory).
async fn store_lines(store: &Store, rows: &[LogRow<'_>], lost: &mut Lost) {
    match store.append_log_rows(rows).await {
        Ok(_) => store.write_succeeded(),
        Err(e) => {
            store.write_failed("storing log lines", &e);
            lost.add(store, rows, &e);
        }
    }
}

async fn store_rendered(store: &Store, rendered: &[RenderedRow<'_>]) {
    match store.save_rendered(rendered).await {
        Ok(_) => store.write_succeeded(),
        Err(e) => {
            store.write_failed("storing a try's rendered fields", &e);
        }
    }
}

/// Log lines dropped because the store did not take them, per try, until
/// a marker line in each try's log says so.
#[derive(Default)]
struct Lost {
    lines: std::collections::BTreeMap<(i64, u32), u64>,
    /// The cause, in words (see [`Store::describe`]).
    why: String,
}

impl Lost {
    fn add(&mut self, store: &Store, rows: &[LogRow<'_>], e: &StoreError) {
        for r in rows {
            *self.lines.entry((r.0, r.1)).or_default() += 1;
        }
        self.why = store.describe(e);
    }

    /// Writes one marker line per try that lost lines; kept for later if
    /// the store still cannot write.
    async fn mark(&mut self, store: &Store) {
        if self.lines.is_empty() {
            return;
        }
        let texts: Vec<((i64, u32), String)> = self
            .lines
            .iter()
            .map(|(&k, n)| {
                (
                    k,
                    format!(
                        "[updraft] {n} line{} of this try's log could not be stored ({}) and were dropped",
                        if *n == 1 { "" } else { "s" },
                        self.why
                    ),
                )
            })
            .collect();
        let at = Timestamp::now();
        let rows: Vec<LogRow<'_>> = texts
            .iter()
            .map(|((ti, n), text)| (*ti, *n, at, "system", text.as_str()))
            .collect();
        if store.append_log_rows(&rows).await.is_ok() {
            store.write_succeeded();
            self.lines.clear();
        }
    }
}

struct Report {
    run_pk: i64,
    ti_id: i64,
    try_number: u32,
    outcome: TryOutcome,
    claims: Vec<DownstreamClaim>,
    done: Done,
}

/// Many reports in one transaction; then the claims of those that
/// succeeded.
async fn finish_many(store: &Store, worker_id: &str, reports: Vec<Report>) {
    let tries: Vec<(i64, u32, &TryOutcome)> = reports.iter().map(|r| (r.ti_id, r.try_number, &r.outcome)).collect();
    match store.finish_tries(worker_id, &tries).await {
        Ok(states) => {
            store.write_succeeded();
            for (r, state) in reports.into_iter().zip(states) {
                // The report stands whatever becomes of the claim.
                let next = match state {
                    Some(TaskState::Success) => store
                        .claim_first_downstream(worker_id, r.run_pk, &r.claims)
                        .await
                        .unwrap_or_else(|e| {
                            tracing::warn!(error = %e, "claiming a downstream task failed; the scheduler will queue it");
                            None
                        }),
                    _ => None,
                };
                let _ = r.done.send(Ok((state, next)));
            }
        }
        Err(e) => {
            // The batch failed as a whole; report each on its own so one bad
            // report does not take the others down.
            store.write_failed("recording the ends of tries", &e);
            for r in reports {
                let result = store
                    .finish_and_claim(
                        worker_id,
                        (&[], &[]),
                        (r.ti_id, r.try_number, &r.outcome),
                        r.run_pk,
                        &r.claims,
                    )
                    .await;
                let _ = r.done.send(result);
            }
        }
    }
}
