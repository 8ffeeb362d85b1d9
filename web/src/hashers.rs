//! Password checks run on a few threads of their own, as many as may hash
//! at once (`WebLimits::login_hashes`). Each keeps argon2's ~19 MiB of
//! working memory and reuses it (`auth::verify_password`): allocating and
//! freeing it per check, on whichever thread of tokio's blocking pool, left
//! ~170-250 MiB resident after 40 logins at once although only 2 hashed at
//! a time. Memory stays at `login_hashes` x 19 MiB once logins happened.

use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug)]
pub(crate) struct Hashers {
    jobs: Sender<Job>,
}

impl Hashers {
    /// `threads` threads, which end when this is dropped.
    pub(crate) fn new(threads: usize) -> Hashers {
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("updraft-hash-{i}"))
                .spawn(move || {
                    loop {
                        let job = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .expect("starting a password-hash thread");
        }
        Hashers { jobs }
    }

    /// Runs `f` on one of the threads; `None` if it panicked.
    pub(crate) async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = done.send(f());
            }))
            .ok()?;
        result.await.ok()
    }
}
