//! Shared by the CLI's test crates: a folder with a `dags/` subfolder
//! where `updraft` runs, and background processes that are killed (and
//! whose log is printed if the test failed) when the test ends.
#![allow(dead_code)]

pub mod services;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("dags")).unwrap();
        Env { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, yaml: &str) {
        std::fs::write(self.path().join("dags").join(name), yaml).unwrap();
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_updraft"));
        c.current_dir(self.path())
            .env_remove("UPDRAFT_DAGS_FOLDER")
            .env_remove("UPDRAFT_DATABASE_URL")
            .env("UPDRAFT_DAGS_PAUSED_AT_CREATION", "true");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn standalone(&self) -> Daemon {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let path = self.path().join(format!(
            "standalone-{}.log",
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        let log = std::fs::File::create(&path).unwrap();
        let child = self
            .cmd()
            .args(["standalone", "--bind", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Daemon(Some(child), path)
    }
}

/// A background process killed when the test ends, however it ends; if
/// the test failed, its log is printed.
pub struct Daemon(pub Option<Child>, pub PathBuf);

impl Daemon {
    pub fn signal(&self, sig: &str) {
        let pid = self.0.as_ref().unwrap().id().to_string();
        assert!(Command::new("kill").args([sig, &pid]).status().unwrap().success());
    }

    pub fn wait(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.0.as_mut().unwrap().try_wait().unwrap() {
                self.0 = None;
                return status;
            }
            assert!(Instant::now() < deadline, "the process did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- {} ---\n{}",
                self.1.display(),
                std::fs::read_to_string(&self.1).unwrap_or_default()
            );
        }
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn wait_until<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
