//! Login throttling, per client address and per user name. Each failure
//! past [`LoginPolicy::free_failures`] doubles the wait before the next
//! attempt from that address, or for that name, up to a cap: a guesser on
//! one address is slowed to one try per `address_cap` (15 min by default)
//! whatever names it tries; guessers spread over many addresses are slowed
//! per name, but only to one try per `user_cap` (1 min by default), so a
//! stranger cannot lock a user out for long. A browser that logged in as a
//! user before (it holds a device cookie signed by the server) skips that
//! user's wait, only its address's.
//!
//! The check and the count are one step under one lock: an attempt counts
//! as a failure when it starts, and a success takes it back, so concurrent
//! attempts cannot slip past the limit together.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries tracked at most per table; beyond it, stale ones go first, then
/// the oldest.
const MAX_TRACKED: usize = 10_000;

/// How hard logins are throttled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginPolicy {
    /// Failures allowed before any wait.
    pub free_failures: u32,
    /// The wait after the first failure past the free ones; it doubles.
    pub first_delay: Duration,
    /// The longest wait for a user name.
    pub user_cap: Duration,
    /// The longest wait for a client address.
    pub address_cap: Duration,
}

impl Default for LoginPolicy {
    fn default() -> Self {
        LoginPolicy {
            free_failures: 5,
            first_delay: Duration::from_secs(1),
            user_cap: Duration::from_secs(60),
            address_cap: Duration::from_secs(15 * 60),
        }
    }
}

/// Failures since the last success, and when the last one happened.
#[derive(Debug, Clone, Copy)]
struct Count {
    failures: u32,
    last: Instant,
}

impl Count {
    fn wait(&self, policy: &LoginPolicy, cap: Duration, now: Instant) -> Option<Duration> {
        let over = self.failures.checked_sub(policy.free_failures)?;
        let delay = policy
            .first_delay
            .checked_mul(1u32.checked_shl(over).unwrap_or(u32::MAX))
            .unwrap_or(cap)
            .min(cap);
        let until = self.last + delay;
        (now < until).then(|| until - now)
    }
}

#[derive(Debug)]
struct Table<K> {
    counts: HashMap<K, Count>,
    cap: Duration,
}

impl<K: std::hash::Hash + Eq + Clone> Table<K> {
    fn new(cap: Duration) -> Self {
        Table {
            counts: HashMap::new(),
            cap,
        }
    }

    fn wait(&self, key: &K, policy: &LoginPolicy, now: Instant) -> Option<Duration> {
        self.counts.get(key)?.wait(policy, self.cap, now)
    }

    fn fail(&mut self, key: &K, now: Instant) {
        // Quiet for two caps: forgotten, as if it never failed.
        let stale = self.cap * 2;
        if self.counts.len() >= MAX_TRACKED && !self.counts.contains_key(key) {
            self.counts.retain(|_, c| now.saturating_duration_since(c.last) < stale);
            if self.counts.len() >= MAX_TRACKED
                && let Some(oldest) = self.counts.iter().min_by_key(|(_, c)| c.last).map(|(k, _)| k.clone())
            {
                self.counts.remove(&oldest);
            }
        }
        let c = self
            .counts
            .entry(key.clone())
            .or_insert(Count { failures: 0, last: now });
        if now.saturating_duration_since(c.last) >= stale {
            c.failures = 0;
        }
        c.failures = c.failures.saturating_add(1);
        c.last = now;
    }

    fn undo(&mut self, key: &K) {
        if let Some(c) = self.counts.get_mut(key) {
            c.failures = c.failures.saturating_sub(1);
        }
    }

    fn clear(&mut self, key: &K) {
        self.counts.remove(key);
    }
}

#[derive(Debug)]
struct Tables {
    users: Table<String>,
    addresses: Table<Option<IpAddr>>,
}

/// Who may try a password now.
#[derive(Debug)]
pub struct LoginLimiter {
    policy: LoginPolicy,
    tables: Mutex<Tables>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new(LoginPolicy::default())
    }
}

/// An attempt under way, already counted as a failure.
#[derive(Debug)]
pub struct Attempt {
    user: String,
    address: Option<IpAddr>,
    trusted: bool,
}

impl LoginLimiter {
    pub fn new(policy: LoginPolicy) -> Self {
        LoginLimiter {
            tables: Mutex::new(Tables {
                users: Table::new(policy.user_cap),
                addresses: Table::new(policy.address_cap),
            }),
            policy,
        }
    }

    /// Starts an attempt to log in as `username` from `address` (unknown
    /// when the server was not told), or says how long to wait. `trusted`:
    /// the browser logged in as this user before, so the user's own wait
    /// does not apply to it.
    pub fn begin(
        &self,
        username: &str,
        address: Option<IpAddr>,
        trusted: bool,
        now: Instant,
    ) -> Result<Attempt, Duration> {
        let user = key(username);
        let mut t = self.tables.lock().expect("limiter lock");
        let by_address = t.addresses.wait(&address, &self.policy, now);
        let by_user = if trusted {
            None
        } else {
            t.users.wait(&user, &self.policy, now)
        };
        if let Some(wait) = by_address.max(by_user) {
            return Err(wait);
        }
        t.addresses.fail(&address, now);
        if !trusted {
            t.users.fail(&user, now);
        }
        Ok(Attempt { user, address, trusted })
    }

    /// The password was right: the user's and the address's failures are
    /// forgotten.
    pub fn succeeded(&self, a: Attempt) {
        let mut t = self.tables.lock().expect("limiter lock");
        t.users.clear(&a.user);
        t.addresses.clear(&a.address);
    }

    /// The password was not checked (the server was busy): the attempt
    /// does not count.
    pub fn cancelled(&self, a: Attempt) {
        let mut t = self.tables.lock().expect("limiter lock");
        t.addresses.undo(&a.address);
        if !a.trusted {
            t.users.undo(&a.user);
        }
    }
}

pub(crate) fn key(username: &str) -> String {
    username.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, last]))
    }

    #[test]
    fn waits_double_past_the_free_failures_up_to_the_caps() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(l.begin("ada", ip(i), false, t0).is_ok(), "free failure {i}");
        }
        // The user now waits 1 s, from any address.
        assert_eq!(l.begin("ADA ", ip(9), false, t0).unwrap_err(), Duration::from_secs(1));
        assert!(l.begin("bob", ip(9), false, t0).is_ok(), "other names are not affected");
        // Failures from ever new addresses, each as soon as it may.
        let mut at = t0;
        for i in 0..30 {
            if let Err(wait) = l.begin("ada", ip(10 + i), false, at) {
                at += wait;
                l.begin("ada", ip(10 + i), false, at).unwrap();
            }
        }
        assert_eq!(
            l.begin("ada", ip(99), false, at).unwrap_err(),
            Duration::from_secs(60),
            "a user's wait is capped"
        );
        // A browser that logged in as ada before skips her wait.
        assert!(l.begin("ada", ip(98), true, at).is_ok());
    }

    #[test]
    fn one_address_is_slowed_whatever_names_it_tries() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(l.begin(&format!("u{i}"), ip(1), false, t0).is_ok());
        }
        assert!(l.begin("u99", ip(1), false, t0).is_err());
        assert!(l.begin("u99", ip(2), false, t0).is_ok(), "another address");
    }

    #[test]
    fn success_and_cancel_take_the_attempt_back() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        for _ in 0..4 {
            l.begin("ada", ip(1), false, t0).unwrap();
        }
        let a = l.begin("ada", ip(1), false, t0).unwrap();
        l.cancelled(a);
        let a = l.begin("ada", ip(1), false, t0).unwrap();
        l.succeeded(a);
        for _ in 0..5 {
            l.begin("ada", ip(1), false, t0).unwrap();
        }
    }

    #[test]
    fn the_tables_stay_bounded() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        for i in 0..MAX_TRACKED + 10 {
            let at = t0 + Duration::from_millis(i as u64);
            let _ = l.begin(
                &format!("u{i}"),
                Some(IpAddr::from((i as u32).to_be_bytes())),
                false,
                at,
            );
        }
        let t = l.tables.lock().unwrap();
        assert_eq!(t.users.counts.len(), MAX_TRACKED);
        assert_eq!(t.addresses.counts.len(), MAX_TRACKED);
        assert!(!t.users.counts.contains_key("u0"), "the oldest went first");
    }
}
