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
                tracing::warn!(error = %e, lines = rows.len(), "storing a try's lines and report failed; retrying them apart");
                if let Err(e) = store.append_log_rows(&rows).await {
                    tracing::error!(error = %e, lines = rows.len(), "storing log lines failed");
                }
                if let Err(e) = store.save_rendered(&rendered).await {
                    tracing::error!(error = %e, "storing rendered fields failed");
                }
                result = store
                    .finish_and_claim(&worker_id, (&[], &[]), report, r.run_pk, &[])
                    .await;
            }
            let _ = r.done.send(result);
        } else {
            if !rendered.is_empty()
                && let Err(e) = store.save_rendered(&rendered).await
            {
                tracing::error!(error = %e, "storing rendered fields failed");
            }
            if !rows.is_empty()
                && let Err(e) = store.append_log_rows(&rows).await
            {
                tracing::error!(error = %e, lines = rows.len(), "storing log lines failed");
            }
            if !reports.is_empty() {
                finish_many(&store, &worker_id, reports).await;
            }
        }
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
            tracing::warn!(error = %e, "batched reports failed; retrying one by one");
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
