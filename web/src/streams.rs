//! Live log streams (server-sent events) counted per client address: each
//! holds a connection and polls the store, so one client may hold only
//! [`crate::WebLimits::sse_per_client`] at once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
pub struct StreamCounts(Mutex<HashMap<Option<IpAddr>, usize>>);

/// One open stream; dropping it (the stream ended or the client left)
/// frees the place.
#[derive(Debug)]
pub struct StreamSlot {
    counts: Arc<StreamCounts>,
    client: Option<IpAddr>,
}

impl StreamCounts {
    /// A place for one more stream of `client`, unless it has `max`.
    pub fn take(self: &Arc<Self>, client: Option<IpAddr>, max: usize) -> Option<StreamSlot> {
        let mut m = self.0.lock().expect("stream counts lock");
        let n = m.entry(client).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(StreamSlot {
            counts: self.clone(),
            client,
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut m = self.counts.0.lock().expect("stream counts lock");
        if let Some(n) = m.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_counted_per_client_and_freed_on_drop() {
        let c = Arc::new(StreamCounts::default());
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        let first = c.take(a, 2).unwrap();
        let _second = c.take(a, 2).unwrap();
        assert!(c.take(a, 2).is_none(), "full");
        assert!(c.take(None, 2).is_some(), "another client");
        drop(first);
        assert!(c.take(a, 2).is_some(), "freed");
    }
}
