//! Wake-ups across processes: workers notify the schedulers when a task
//! ends, schedulers notify the workers when tasks are queued, a trigger
//! notifies the schedulers, and a listener in each process turns those
//! into in-process [`Signals`]. On Postgres that is LISTEN/NOTIFY; on
//! SQLite a datagram socket per process beside the database file
//! (`store::WakeBus`). Either way the store is the truth and a lost
//! wake-up costs only the polling tick.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Signals;
use crate::store::Store;

pub const SCHEDULER_CHANNEL: &str = "updraft_scheduler";
pub const WORKERS_CHANNEL: &str = "updraft_workers";

/// Payloads start with the sender's [`Signals::id`], so a listener skips
/// what its own process sent (in-process signals already carried it):
/// `id` or `id:run_pk`.
pub fn payload(sender: &str, run_pk: Option<i64>) -> String {
    match run_pk {
        Some(pk) => format!("{sender}:{pk}"),
        None => sender.to_string(),
    }
}

/// Tells schedulers in other processes that run `run_pk` changed. A
/// failure only costs latency: they poll.
pub(crate) async fn notify_run_changed(store: &Store, sender: &str, run_pk: i64) {
    if let Err(e) = store.notify(SCHEDULER_CHANNEL, &payload(sender, Some(run_pk))).await {
        tracing::warn!(error = %e, "NOTIFY failed; the scheduler will poll");
    }
}

/// Starts the listening loop; `None` for an in-memory SQLite database,
/// which no other process can share.
pub fn spawn_listener(store: Store, signals: Signals, stop: CancellationToken) -> Option<JoinHandle<()>> {
    if !store.can_listen() {
        return None;
    }
    Some(tokio::spawn(async move {
        loop {
            let mut listener = match store.listener(&[SCHEDULER_CHANNEL, WORKERS_CHANNEL]).await {
                Ok(Some(l)) => l,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN failed; retrying in 1 s (polling meanwhile)");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            };
            loop {
                let note = tokio::select! {
                    () = stop.cancelled() => return,
                    n = listener.recv() => n,
                };
                match note {
                    Ok(n) if n.payload.split(':').next() == Some(signals.id.as_str()) => {}
                    Ok(n) if n.channel == SCHEDULER_CHANNEL => {
                        match n.payload.split_once(':').and_then(|(_, pk)| pk.parse::<i64>().ok()) {
                            Some(run_pk) => signals.task_ended(run_pk),
                            None => signals.wake_all(),
                        }
                    }
                    Ok(_) => signals.workers.notify_one(),
                    Err(e) => {
                        tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
                        break;
                    }
                }
            }
        }
    }))
}
