//! Failed logins, counted per user name: after [`MAX_FAILURES`] within
//! [`WINDOW`], that name's logins are refused (429) until the window
//! passes, without checking the password, so guessing a password costs a
//! window per handful of guesses. A successful login clears the count.
//! Unknown names count like known ones, so the answer does not tell them
//! apart. (Per name rather than per address: the UI may sit behind a proxy,
//! and a guesser spread over many addresses is still stopped.)

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MAX_FAILURES: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Names tracked at most; beyond it, expired entries are dropped first.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginLimiter {
    /// `Some(wait)` while `username` is locked out.
    pub fn locked(&self, username: &str, now: Instant) -> Option<Duration> {
        let map = self.failures.lock().expect("limiter lock");
        let (count, first) = map.get(&key(username))?;
        let elapsed = now.saturating_duration_since(*first);
        (*count >= MAX_FAILURES && elapsed < WINDOW).then(|| WINDOW - elapsed)
    }

    pub fn failed(&self, username: &str, now: Instant) {
        let mut map = self.failures.lock().expect("limiter lock");
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (_, first)| now.saturating_duration_since(*first) < WINDOW);
            if map.len() >= MAX_TRACKED {
                // Still full of live entries: forget the oldest.
                if let Some(oldest) = map.iter().min_by_key(|(_, (_, first))| *first).map(|(k, _)| k.clone()) {
                    map.remove(&oldest);
                }
            }
        }
        let entry = map.entry(key(username)).or_insert((0, now));
        if now.saturating_duration_since(entry.1) >= WINDOW {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    pub fn succeeded(&self, username: &str) {
        self.failures.lock().expect("limiter lock").remove(&key(username));
    }
}

fn key(username: &str) -> String {
    username.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_the_failures_and_opens_after_the_window() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES - 1 {
            l.failed("Ada", t0);
        }
        assert_eq!(l.locked("ada", t0), None, "not yet");
        l.failed(" ada ", t0);
        assert_eq!(
            l.locked("ADA", t0 + Duration::from_secs(60)),
            Some(WINDOW - Duration::from_secs(60))
        );
        assert_eq!(l.locked("bob", t0), None, "other names are not affected");
        assert_eq!(l.locked("ada", t0 + WINDOW), None, "the window passed");
        // A new window starts from the next failure.
        l.failed("ada", t0 + WINDOW);
        assert_eq!(l.locked("ada", t0 + WINDOW), None);
        l.succeeded("ada");
        assert!(l.failures.lock().unwrap().is_empty());
    }

    #[test]
    fn the_table_stays_bounded() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        for i in 0..MAX_TRACKED + 10 {
            l.failed(&format!("u{i}"), t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(l.failures.lock().unwrap().len(), MAX_TRACKED);
        assert!(!l.failures.lock().unwrap().contains_key("u0"), "the oldest went first");
    }
}
