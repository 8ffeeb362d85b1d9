//! Wake-ups between processes sharing one SQLite file, SQLite's stand-in
//! for Postgres' LISTEN/NOTIFY: every listening process binds a Unix
//! datagram socket in a folder beside the database (`updraft.db.wake/`),
//! and a notification is one datagram (`channel\npayload`) sent to each
//! socket there. The store stays the source of truth: a datagram lost (a
//! full receive buffer, a process starting up) only costs the fallback
//! tick. Sockets left by a killed process refuse the datagram and are
//! removed by the sender.

use std::io::ErrorKind;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Longest socket path we bind: `sun_path` holds 108 bytes on Linux.
const MAX_SOCKET_PATH: usize = 100;
/// One datagram: channel and payload are short ids.
const MAX_DATAGRAM: usize = 1024;

/// The folder of one database's listeners.
#[derive(Debug, Clone)]
pub struct WakeBus {
    dir: PathBuf,
}

/// A notification from another process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub channel: String,
    pub payload: String,
}

impl WakeBus {
    /// The bus of the SQLite file at `db` (which exists): a folder beside
    /// it, or, when that path is too long for a socket, one in the
    /// temporary folder named by a hash of the file's canonical path (every
    /// process makes the same choice, since it depends only on the path).
    pub fn for_database(db: &Path) -> std::io::Result<WakeBus> {
        let db = db.canonicalize()?;
        let mut beside = db.clone().into_os_string();
        beside.push(".wake");
        let beside = PathBuf::from(beside);
        // "<pid>-<n>.sock" needs ~30 bytes more.
        let dir = if beside.as_os_str().len() + 30 <= MAX_SOCKET_PATH {
            beside
        } else {
            std::env::temp_dir().join(format!(
                "updraft-wake-{:016x}",
                fnv1a(db.as_os_str().as_encoded_bytes())
            ))
        };
        Ok(WakeBus { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sends `channel`/`payload` to every listener, without waiting: a
    /// listener whose buffer is full already has wake-ups queued.
    pub fn send(&self, channel: &str, payload: &str) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return; // no listener has ever started
        };
        let Ok(sock) = UnixDatagram::unbound() else {
            return;
        };
        let _ = sock.set_nonblocking(true);
        let msg = format!("{channel}\n{payload}");
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "sock") {
                continue;
            }
            match sock.send_to(msg.as_bytes(), &path) {
                Ok(_) => {}
                // Nobody bound to it: left by a process that was killed.
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => tracing::trace!(path = %path.display(), error = %e, "wake-up not delivered"),
            }
        }
    }

    /// Starts listening; the socket goes away with the listener.
    pub fn listen(&self) -> std::io::Result<WakeListener> {
        static N: AtomicU64 = AtomicU64::new(0);
        std::fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(format!(
            "{}-{}.sock",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&path); // a pid reused after a kill
        let sock = tokio::net::UnixDatagram::bind(&path)?;
        Ok(WakeListener { sock, path })
    }
}

/// One process's socket on a [`WakeBus`].
#[derive(Debug)]
pub struct WakeListener {
    sock: tokio::net::UnixDatagram,
    path: PathBuf,
}

impl WakeListener {
    /// The next notification (malformed datagrams are skipped).
    pub async fn recv(&mut self) -> std::io::Result<Note> {
        let mut buf = [0u8; MAX_DATAGRAM];
        loop {
            let n = self.sock.recv(&mut buf).await?;
            let text = String::from_utf8_lossy(&buf[..n]);
            if let Some((channel, payload)) = text.split_once('\n') {
                return Ok(Note {
                    channel: channel.to_string(),
                    payload: payload.to_string(),
                });
            }
        }
    }
}

impl Drop for WakeListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// FNV-1a: a stable hash (the std hasher is not stable across builds).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn every_listener_hears_a_note_and_dead_sockets_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("u.db");
        std::fs::write(&db, b"").unwrap();
        let bus = WakeBus::for_database(&db).unwrap();
        assert_eq!(bus.dir(), dir.path().canonicalize().unwrap().join("u.db.wake"));
        // Sending before anyone listens is a no-op, not an error.
        bus.send("ch", "early");
        let (mut a, mut b) = (bus.listen().unwrap(), bus.listen().unwrap());
        // A socket file nobody is bound to, as a kill -9 leaves behind.
        let stale = bus.dir().join("999999-0.sock");
        drop(std::os::unix::net::UnixDatagram::bind(&stale).unwrap());
        assert!(stale.exists());
        bus.send("updraft_scheduler", "p1:42");
        let within = Duration::from_secs(5);
        for l in [&mut a, &mut b] {
            let note = tokio::time::timeout(within, l.recv()).await.unwrap().unwrap();
            assert_eq!(
                note,
                Note {
                    channel: "updraft_scheduler".into(),
                    payload: "p1:42".into()
                }
            );
        }
        assert!(!stale.exists(), "the stale socket was removed");
        let path = a.path.clone();
        drop(a);
        assert!(!path.exists(), "a listener removes its socket");
    }

    #[tokio::test]
    async fn a_path_too_long_for_a_socket_uses_a_hashed_folder() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a".repeat(60)).join("b".repeat(60));
        std::fs::create_dir_all(&deep).unwrap();
        let db = deep.join("updraft.db");
        std::fs::write(&db, b"").unwrap();
        let bus = WakeBus::for_database(&db).unwrap();
        assert!(bus.dir().starts_with(std::env::temp_dir()), "{}", bus.dir().display());
        assert_eq!(bus.dir(), WakeBus::for_database(&db).unwrap().dir());
        let _l = bus.listen().unwrap();
    }
}
