//! The tries a worker runs now, and the rule for judging a heartbeat's
//! answer about them: a try is stopped as taken away only if the answer is
//! about that very try and its ending was not already being written.

use std::collections::HashMap;

use tokio_util::sync::CancellationToken;

/// The tries a worker runs now, by task instance: each with its try
/// number, the token that stops it if the store says it is no longer ours
/// (a user cleared or marked the task, or it was reaped), and whether its
/// ending (report or hand-back) is on its way to the store.
#[derive(Default)]
pub(super) struct ActiveTries(std::sync::Mutex<HashMap<i64, ActiveEntry>>);

struct ActiveEntry {
    try_number: u32,
    cancel: CancellationToken,
    /// Set before the try's ending is written: from then on a heartbeat
    /// answer that no longer lists the try as running says nothing new.
    ending: bool,
}

impl ActiveTries {
    pub(super) fn register(&self, ti_id: i64, try_number: u32, cancel: CancellationToken) -> ActiveTry<'_> {
        let entry = ActiveEntry {
            try_number,
            cancel,
            ending: false,
        };
        self.0.lock().expect("active lock").insert(ti_id, entry);
        ActiveTry {
            active: self,
            ti_id,
            try_number,
        }
    }

    /// The tries to heartbeat, `(ti_id, try_number)`: all of them, ending
    /// ones too (a report being retried keeps its try alive).
    pub(super) fn snapshot(&self) -> Vec<(i64, u32)> {
        let active = self.0.lock().expect("active lock");
        active.iter().map(|(id, e)| (*id, e.try_number)).collect()
    }

    /// Cancels the tries of `asked` that the store's answer `owned` no
    /// longer lists as ours. Their late reports are refused by the store
    /// anyway; this stops the work (the process, the container) instead of
    /// letting it run on. A try is judged only if, now that the answer is
    /// here, it is still the same try and still running: one whose ending
    /// was being written when the heartbeat asked (or a later try of the
    /// same task) is newer than the answer, and is left alone.
    /// Returns the tries stopped.
    pub(super) fn stop_taken_away(&self, asked: &[(i64, u32)], owned: &[(i64, u32)]) -> Vec<(i64, u32)> {
        let active = self.0.lock().expect("active lock");
        let mut stopped = Vec::new();
        for &(ti_id, try_number) in asked {
            if owned.contains(&(ti_id, try_number)) {
                continue;
            }
            let Some(entry) = active.get(&ti_id) else { continue };
            if entry.try_number != try_number || entry.ending || entry.cancel.is_cancelled() {
                continue;
            }
            tracing::warn!(
                ti_id,
                try_number,
                "the try was taken away (cleared, marked or reaped): stopping it"
            );
            entry.cancel.cancel();
            stopped.push((ti_id, try_number));
        }
        stopped
    }
}

/// A try's entry in the worker's active set, removed when it drops.
pub(super) struct ActiveTry<'a> {
    active: &'a ActiveTries,
    ti_id: i64,
    try_number: u32,
}

impl ActiveTry<'_> {
    /// Says the try's ending is about to be written (must come before the
    /// write, so no heartbeat answer sent after it can judge the try).
    pub(super) fn ending(&self) {
        let mut active = self.active.0.lock().expect("active lock");
        if let Some(entry) = active.get_mut(&self.ti_id)
            && entry.try_number == self.try_number
        {
            entry.ending = true;
        }
    }
}

impl Drop for ActiveTry<'_> {
    fn drop(&mut self) {
        let mut active = self.active.0.lock().expect("active lock");
        // The task's next try may have started here meanwhile (this one
        // lingered retrying its report): leave that one registered.
        if active.get(&self.ti_id).is_some_and(|e| e.try_number == self.try_number) {
            active.remove(&self.ti_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 15: a try that had just finished was reported taken away.
    /// The heartbeat asked about it, its report was written, then the
    /// store's answer (no longer running) was judged as if it were news.
    #[test]
    fn a_try_whose_ending_is_written_after_the_heartbeat_asked_is_not_taken_away() {
        let active = ActiveTries::default();
        let cancel = CancellationToken::new();
        let guard = active.register(7, 1, cancel.clone());
        let asked = active.snapshot();
        assert_eq!(asked, vec![(7, 1)]);
        // The heartbeat's query is on its way; the try ends and its report
        // is written before the query runs: the answer lists nothing.
        guard.ending();
        assert_eq!(active.stop_taken_away(&asked, &[]), vec![]);
        assert!(!cancel.is_cancelled(), "a finished try was stopped");
    }

    #[test]
    fn an_answer_about_an_earlier_try_does_not_judge_the_next_one() {
        let active = ActiveTries::default();
        let first = CancellationToken::new();
        let guard = active.register(7, 1, first.clone());
        let asked = active.snapshot();
        guard.ending();
        drop(guard);
        // Retried on this worker before the answer came back.
        let second = CancellationToken::new();
        let _next = active.register(7, 2, second.clone());
        assert_eq!(active.stop_taken_away(&asked, &[(7, 2)]), vec![]);
        assert_eq!(active.stop_taken_away(&asked, &[]), vec![]);
        assert!(!first.is_cancelled() && !second.is_cancelled());
    }

    #[test]
    fn a_running_try_missing_from_the_answer_is_stopped() {
        let active = ActiveTries::default();
        let (a, b) = (CancellationToken::new(), CancellationToken::new());
        let _a = active.register(1, 1, a.clone());
        let _b = active.register(2, 3, b.clone());
        let asked = active.snapshot();
        // Try 2 was cleared by a user: the store no longer lists it.
        assert_eq!(active.stop_taken_away(&asked, &[(1, 1)]), vec![(2, 3)]);
        assert!(!a.is_cancelled());
        assert!(b.is_cancelled());
        // Said once.
        assert_eq!(active.stop_taken_away(&asked, &[(1, 1)]), vec![]);
    }
}
