//! One writer per worker: log lines and try reports of all its running
//! tasks go through one ordered queue and reach the store in batches (one
//! insert for many lines, one transaction for many reports). A task's lines
//! are queued before its report, so every line is stored before the try's
//! end is recorded.

use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::store::{Store, StoreError, TaskState, TryOutcome};

type Done = oneshot::Sender<Result<Option<TaskState>, StoreError>>;

enum Write {
    Log {
        ti_id: i64,
        try_number: u32,
        at: Timestamp,
        stream: &'static str,
        line: String,
    },
    Finish {
        run_pk: i64,
        ti_id: i64,
        try_number: u32,
        outcome: TryOutcome,
        done: Done,
    },
    Close,
}

#[derive(Debug, Clone)]
pub(crate) struct Writer(mpsc::UnboundedSender<Write>);

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
        (Writer(tx), tokio::spawn(run(store, worker_id, sender, rx)))
    }

    /// Queues a (masked) log line.
    pub fn log(&self, ti_id: i64, try_number: u32, stream: &'static str, line: String) {
        let _ = self.0.send(Write::Log {
            ti_id,
            try_number,
            at: Timestamp::now(),
            stream,
            line,
        });
    }

    /// Records how a try ended, after its queued lines.
    pub async fn finish(
        &self,
        run_pk: i64,
        ti_id: i64,
        try_number: u32,
        outcome: TryOutcome,
    ) -> Result<Option<TaskState>, StoreError> {
        let (done, rx) = oneshot::channel();
        if self
            .0
            .send(Write::Finish {
                run_pk,
                ti_id,
                try_number,
                outcome,
                done,
            })
            .is_err()
        {
            return Err(StoreError::Conflict("the worker's writer has stopped".into()));
        }
        rx.await
            .unwrap_or_else(|_| Err(StoreError::Conflict("the worker's writer has stopped".into())))
    }

    pub fn close(&self) {
        let _ = self.0.send(Write::Close);
    }
}

async fn run(store: Store, worker_id: String, sender: String, mut rx: mpsc::UnboundedReceiver<Write>) {
    let mut batch = Vec::new();
    loop {
        if rx.recv_many(&mut batch, 2048).await == 0 {
            return;
        }
        let mut lines = Vec::new();
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
                Write::Finish {
                    run_pk,
                    ti_id,
                    try_number,
                    outcome,
                    done,
                } => {
                    runs.insert(run_pk);
                    reports.push((ti_id, try_number, outcome, done))
                }
                Write::Close => close = true,
            }
        }
        if !lines.is_empty() {
            let rows: Vec<(i64, u32, Timestamp, &str, &str)> = lines
                .iter()
                .map(|(t, n, at, s, l)| (*t, *n, *at, *s, l.as_str()))
                .collect();
            if let Err(e) = store.append_log_rows(&rows).await {
                tracing::error!(error = %e, lines = rows.len(), "storing log lines failed");
            }
        }
        if !reports.is_empty() {
            let tries: Vec<(i64, u32, &TryOutcome)> = reports.iter().map(|(t, n, o, _)| (*t, *n, o)).collect();
            match store.finish_tries(&worker_id, &tries).await {
                Ok(states) => {
                    for ((_, _, _, done), state) in reports.into_iter().zip(states) {
                        let _ = done.send(Ok(state));
                    }
                }
                Err(e) => {
                    // The batch failed as a whole; report each on its own so
                    // one bad report does not take the others down.
                    tracing::warn!(error = %e, "batched reports failed; retrying one by one");
                    for (ti_id, try_number, outcome, done) in reports {
                        let _ = done.send(store.finish_try(ti_id, try_number, &worker_id, &outcome).await);
                    }
                }
            }
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
