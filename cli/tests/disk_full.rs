//! The disk of the SQLite store fills up while a task runs, a real ENOSPC
//! on a small tmpfs (mounting one needs root; elsewhere the test says it
//! was skipped, and on CI, which runs as root, it fails instead).
//!
//! The task finishes (successfully) while nothing can be written, and
//! the disk stays full for longer than a silent worker is given before
//! its tries are reaped. Then space returns. What must hold:
//! - the try that succeeded is recorded as succeeded, once: the worker
//!   keeps its report until the store takes it, and no scheduler reaps a
//!   try for a silence that was the store's, not the worker's;
//! - the task after it runs, the run succeeds;
//! - the process says the disk is full once, naming the file, instead of
//!   an error per batch of log lines, and the try's log says how many of
//!   its lines could not be stored;
//! - the database is intact.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{Daemon, Env, text, wait_until};

/// A tmpfs mounted for the test, unmounted when it ends.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` (said loudly; CI runs as root) where it cannot be mounted.
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs(at.to_path_buf())),
            other => {
                let why = match other {
                    Ok(o) => text(&o.stderr),
                    Err(e) => e.to_string(),
                };
                assert!(
                    std::env::var("CI").is_err(),
                    "CI must run the disk-full test (as root): mount -t tmpfs failed: {why}"
                );
                eprintln!("SKIPPED (disk full): cannot mount a tmpfs here (root is needed): {why}");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes `path` until the filesystem has no room left; the bytes written.
fn fill(path: &Path) -> u64 {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 64 << 10];
    let mut written = 0u64;
    loop {
        match f.write(&block) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    // Also the last partial block.
    let _ = f.write(&[0u8; 512]);
    written
}

#[test]
fn a_try_that_succeeds_while_the_store_disk_is_full_is_recorded_once_space_returns() {
    let env = Env::new();
    let Some(disk) = Tmpfs::mount(&env.path().join("disk"), "6m") else {
        return;
    };
    let db = disk.0.join("updraft.db");
    let url = format!("sqlite://{}", db.display());
    let started = env.path().join("started");
    let go = env.path().join("go");
    // `a` waits until the disk is full, then prints 20,000 lines (over
    // 1 MiB: more than any room the WAL file kept) and succeeds.
    env.write(
        "spill.yaml",
        &format!(
            "dag_id: spill\nstart_date: 2024-01-01\nschedule: null\ntasks:\n  a:\n    operator: shell\n    command: \
             'touch {started}; while [ ! -e {go} ]; do sleep 0.05; done; seq -f \"line %g of the output of a, padded to be long enough\" 20000; echo done'\n  \
             b:\n    operator: shell\n    command: echo b\n    depends_on: a\n",
            started = started.display(),
            go = go.display(),
        ),
    );
    let log_path = env.path().join("standalone.log");
    let child = env
        .cmd()
        .args(["--database-url", &url, "standalone", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let _standalone = Daemon(Some(child), log_path.clone());
    let out = env.run(&["--database-url", &url, "dags", "trigger", "spill"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let run_id = text(&out.stdout).trim().to_string();
    wait_until("task a to start", Duration::from_secs(60), || {
        started.exists().then_some(())
    });

    let filler = disk.0.join("filler");
    let filled = fill(&filler);
    eprintln!("filled the store's disk with {filled} bytes");
    std::fs::write(&go, "").unwrap();
    let full_since = Instant::now();
    wait_until("the process to say the disk is full", Duration::from_secs(60), || {
        std::fs::read_to_string(&log_path)
            .unwrap()
            .contains("is full")
            .then_some(())
    });
    // Full for longer than a worker's silence is allowed (10 s) before
    // its tries are reaped: this is the scenario, not a wait for a result.
    std::thread::sleep(Duration::from_secs(13).saturating_sub(full_since.elapsed()));
    std::fs::remove_file(&filler).unwrap();
    eprintln!("space returned after {:?}", full_since.elapsed());

    let tasks = wait_until("the run to end", Duration::from_secs(60), || {
        let runs = env.json(&["--database-url", &url, "runs", "list", "spill", "--output", "json"]);
        let state = runs[0]["state"].as_str().unwrap_or_default().to_string();
        (state == "success" || state == "failed").then(|| {
            env.json(&[
                "--database-url",
                &url,
                "tasks",
                "list",
                "spill",
                &run_id,
                "--output",
                "json",
            ])
        })
    });
    let log = std::fs::read_to_string(&log_path).unwrap();
    for t in tasks.as_array().unwrap() {
        assert_eq!(t["state"], "success", "{t}\n--- log ---\n{log}");
        assert_eq!(
            t["try_number"], 1,
            "recorded once, not reaped and run again: {t}\n{log}"
        );
    }

    // Said once, with the file, not per batch of lines.
    let full_lines: Vec<&str> = log.lines().filter(|l| l.contains("is full")).collect();
    eprintln!(
        "lines about the full disk: {}\n{}",
        full_lines.len(),
        full_lines.join("\n")
    );
    assert!(
        full_lines.iter().any(|l| l.contains(&db.display().to_string())),
        "the full disk is named: {full_lines:#?}"
    );
    // The process says it once (again only after a minute); each try
    // whose end waited for room says so once (`a`, and `b` if it ran in a
    // moment the disk let a few writes through).
    let (per_try, process): (Vec<&str>, Vec<&str>) = full_lines.iter().partition(|l| l.contains("task{"));
    assert_eq!(process.len(), 1, "said once for the process: {process:#?}");
    assert!(per_try.len() <= 2, "once per try: {per_try:#?}");

    // The try's log says what it lost, and keeps what came after.
    let out = env.run(&["--database-url", &url, "tasks", "logs", "spill", &run_id, "a"]);
    let a_log = text(&out.stdout);
    let marker = a_log
        .lines()
        .find(|l| l.contains("could not be stored"))
        .unwrap_or_else(|| panic!("no marker of the lines lost in a's log:\n{}", tail(&a_log)));
    eprintln!("a's log: {marker}");

    let check = Command::new("sqlite3").arg(&db).arg("PRAGMA integrity_check;").output();
    match check {
        Ok(o) => assert_eq!(text(&o.stdout).trim(), "ok", "{}", text(&o.stderr)),
        Err(e) => eprintln!("integrity not checked: no sqlite3 ({e})"),
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
