//! Services a test starts for itself: a private Postgres cluster (initdb
//! on a free port, from the binaries `.ci/postgres.sh` installs), and the
//! Docker objects a test makes (removed when it ends, however it ends).
//! Without them a test says loudly that it was skipped, except on CI,
//! where it fails.

use std::process::{Command, Stdio};

use super::text;

/// Whether the tests run on CI (`CI` set, and not to `false` or `0`):
/// there a missing service fails the test instead of skipping it.
pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Says loudly that `test` is skipped because `why`; on CI, fails instead.
pub fn skipped(test: &str, why: &str) {
    assert!(!on_ci(), "CI must run {test}: {why}");
    eprintln!("SKIPPED {test}: {why}");
}

/// A private Postgres cluster (initdb, pg_ctl from the binaries
/// `.ci/postgres.sh` uses) on a port of its own, so a test can stop and
/// start it, or cut a client off from it, without disturbing other tests.
/// It listens on 127.0.0.1 and on the addresses it was asked to, and
/// trusts clients from 127.0.0.1 and from the subnet it was given. Stopped
/// when dropped.
pub struct PrivatePostgres {
    bin: std::path::PathBuf,
    data: std::path::PathBuf,
    pub port: u16,
    listen: String,
    dir: tempfile::TempDir,
}

impl PrivatePostgres {
    /// A cluster on 127.0.0.1; `None` (skipped loudly, a failure on CI)
    /// without initdb.
    pub fn start(test: &str) -> Option<PrivatePostgres> {
        PrivatePostgres::start_reachable(test, &[], None)
    }

    /// A cluster also listening on `addresses` (which must be this
    /// machine's) and trusting clients from `subnet` (CIDR): reachable
    /// from containers on a Docker network whose gateway is one of them.
    pub fn start_reachable(test: &str, addresses: &[&str], subnet: Option<&str>) -> Option<PrivatePostgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|d| d.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).max())
            .filter(|b| b.join("initdb").exists());
        let Some(bin) = bin else {
            skipped(
                test,
                "no /usr/lib/postgresql/*/bin/initdb (.ci/postgres.sh installs it)",
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = std::iter::once("127.0.0.1")
            .chain(addresses.iter().copied())
            .collect::<Vec<_>>()
            .join(",");
        let pg = PrivatePostgres {
            bin,
            data,
            port,
            listen,
            dir,
        };
        if is_root() {
            // initdb refuses root: the cluster belongs to `postgres`.
            for p in [pg.dir.path(), pg.data.as_path()] {
                let ok = Command::new("chown").arg("postgres").arg(p).status().unwrap();
                assert!(ok.success());
            }
        }
        pg.run(&format!(
            "{}/initdb -D {} -U postgres --auth=trust -E UTF8 >/dev/null",
            pg.bin.display(),
            pg.data.display()
        ));
        if let Some(subnet) = subnet {
            let hba = pg.data.join("pg_hba.conf");
            let mut rules = std::fs::read_to_string(&hba).unwrap();
            rules.push_str(&format!("host all all {subnet} trust\n"));
            std::fs::write(&hba, rules).unwrap();
        }
        pg.ctl("start");
        Some(pg)
    }

    /// The URL of the `postgres` database through 127.0.0.1.
    pub fn url(&self) -> String {
        self.url_at("127.0.0.1")
    }

    /// The URL through another of the addresses it listens on.
    pub fn url_at(&self, address: &str) -> String {
        format!("postgres://postgres@{address}:{}/postgres", self.port)
    }

    /// `pg_ctl start` or `stop` (fast), waiting until it is done.
    pub fn ctl(&self, what: &str) {
        let opts = format!(
            "-o '-p {} -k {} -c listen_addresses={} -c fsync=off'",
            self.port,
            self.dir.path().display(),
            self.listen
        );
        let mode = if what == "start" { opts } else { "-m fast".to_string() };
        self.run(&format!(
            "{}/pg_ctl -D {} -l {}/log -w {mode} {what} >/dev/null",
            self.bin.display(),
            self.data.display(),
            self.dir.path().display()
        ));
    }

    fn run(&self, sh: &str) {
        assert!(shell(sh).unwrap().success(), "{sh}");
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let sh = format!(
            "{}/pg_ctl -D {} -m immediate stop >/dev/null 2>&1",
            self.bin.display(),
            self.data.display()
        );
        let _ = shell(&sh);
    }
}

/// Runs `sh` as `postgres` when root (Postgres refuses root), else as is.
fn shell(sh: &str) -> std::io::Result<std::process::ExitStatus> {
    if is_root() {
        Command::new("su")
            .args(["postgres", "-s", "/bin/sh", "-c", sh])
            .status()
    } else {
        Command::new("sh").args(["-c", sh]).status()
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| text(&o.stdout).trim() == "0")
}

/// Runs the docker CLI: its stdout (trimmed), or what it said on failure.
pub fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running docker {args:?}: {e}"))?;
    if out.status.success() {
        Ok(text(&out.stdout).trim().to_string())
    } else {
        Err(format!("docker {args:?}: {}", text(&out.stderr).trim()))
    }
}

/// Docker containers, networks and images a test made, removed when it
/// ends (containers first: a network or an image in use stays).
#[derive(Default)]
pub struct DockerObjects {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    pub images: Vec<String>,
}

impl Drop for DockerObjects {
    fn drop(&mut self) {
        for c in &self.containers {
            if std::thread::panicking() {
                let logs = docker(&["logs", "--tail", "200", c]).unwrap_or_else(|e| e);
                eprintln!("--- container {c} ---\n{logs}");
            }
            let _ = docker(&["rm", "-f", "-v", c]);
        }
        for n in &self.networks {
            let _ = docker(&["network", "rm", n]);
        }
        for i in &self.images {
            let _ = docker(&["image", "rm", "-f", i]);
        }
    }
}
