//! `UPDRAFT_SECRET_KEY` through the `updraft` binary: every command seals
//! and opens secrets the same way, the raw database never holds one in
//! clear, and a process without the key says so once instead of failing
//! (or spinning on) every task.

use std::process::Stdio;
use std::time::Duration;

mod common;

use common::{Daemon, Env, text, wait_until};

const KEY: &str = "test-key-4b1d0c7e";

/// Every file of the SQLite store (the database and its WAL), as text.
fn raw_store(e: &Env) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(e.path().join(".updraft")).unwrap() {
        all.push_str(&String::from_utf8_lossy(&std::fs::read(entry.unwrap().path()).unwrap()));
    }
    all
}

fn keyed(e: &Env, key: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut c = e.cmd();
    c.env_remove("UPDRAFT_SECRET_KEY");
    if let Some(k) = key {
        c.env("UPDRAFT_SECRET_KEY", k);
    }
    c.args(args).output().unwrap()
}

fn ok(out: std::process::Output) -> String {
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

fn daemon(e: &Env, key: Option<&str>, args: &[&str], name: &str) -> Daemon {
    let path = e.path().join(name);
    let log = std::fs::File::create(&path).unwrap();
    let mut c = e.cmd();
    c.env_remove("UPDRAFT_SECRET_KEY");
    if let Some(k) = key {
        c.env("UPDRAFT_SECRET_KEY", k);
    }
    let child = c.args(args).stdout(Stdio::null()).stderr(log).spawn().unwrap();
    Daemon(Some(child), path)
}

#[test]
fn every_command_seals_secrets_with_the_key() {
    let e = Env::new();
    ok(keyed(
        &e,
        Some(KEY),
        &[
            "connections",
            "set",
            "pg",
            "--uri",
            "postgres://bob:SuperSecret123@db:5432/x",
        ],
    ));
    std::fs::write(
        e.path().join("connections.json"),
        r#"{"gcp": {"conn_type": "google_cloud_platform", "extra": {"keyfile_dict": {"private_key": "PRIVATE-KEY-998877"}}},
            "src": {"conn_type": "postgres", "host": "h", "password": "ImportedPw-5566"}}"#,
    )
    .unwrap();
    ok(keyed(&e, Some(KEY), &["connections", "import", "connections.json"]));
    ok(keyed(
        &e,
        Some(KEY),
        &["variables", "set", "api_token", "VarSecret-3344"],
    ));
    let raw = raw_store(&e);
    for secret in [
        "SuperSecret123",
        "PRIVATE-KEY-998877",
        "ImportedPw-5566",
        "VarSecret-3344",
    ] {
        assert!(!raw.contains(secret), "{secret} is stored in clear");
    }
    let status = ok(keyed(&e, Some(KEY), &["secrets", "status"]));
    assert!(
        status.contains("sealed: 4") && status.contains("in clear or older format: 0"),
        "{status}"
    );

    // The key reads them back; masked unless revealed, nested values too.
    let shown = ok(keyed(&e, Some(KEY), &["connections", "get", "gcp"]));
    assert!(
        !shown.contains("PRIVATE-KEY-998877") && shown.contains("***"),
        "{shown}"
    );
    let revealed = ok(keyed(&e, Some(KEY), &["connections", "get", "pg", "--reveal"]));
    assert!(revealed.contains("SuperSecret123"), "{revealed}");

    // Without the key, or with another: a clear error naming the key.
    for args in [
        &["connections", "list"][..],
        &["variables", "get", "api_token"],
        &["variables", "set", "x", "y"],
    ] {
        let out = keyed(&e, None, args);
        assert!(!out.status.success(), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains("UPDRAFT_SECRET_KEY"), "{args:?}: {err}");
    }
    let out = keyed(&e, Some("wrong-key"), &["connections", "list"]);
    let err = text(&out.stderr);
    assert!(
        !out.status.success() && err.contains("UPDRAFT_SECRET_KEY is not the key"),
        "{err}"
    );
    // A worker without the key refuses to start, saying why, at once.
    let out = keyed(&e, None, &["worker"]);
    let err = text(&out.stderr);
    assert!(!out.status.success() && err.contains("set UPDRAFT_SECRET_KEY"), "{err}");

    // A task reads the connection through the key, and its log is masked.
    e.write(
        "uses.yaml",
        "tasks:\n  t:\n    operator: shell\n    command: \"echo pw={{ conn.pg.password }} tok={{ var.value.api_token }}\"\n",
    );
    let log = ok(keyed(&e, Some(KEY), &["tasks", "test", "uses", "t", "2024-11-01"]));
    assert!(log.contains("pw=*** tok=***"), "{log}");

    // Rotation: the new key reads everything, the old one is refused.
    let mut rotate = e.cmd();
    rotate
        .env("UPDRAFT_SECRET_KEY", KEY)
        .env("UPDRAFT_NEW_SECRET_KEY", "new-key-0a9f")
        .args(["secrets", "rotate-key"]);
    let out = ok(rotate.output().unwrap());
    assert!(out.contains("re-sealed 3 connection(s) and 1 variable(s)"), "{out}");
    assert!(!keyed(&e, Some(KEY), &["connections", "list"]).status.success());
    let revealed = ok(keyed(
        &e,
        Some("new-key-0a9f"),
        &["variables", "get", "api_token", "--reveal"],
    ));
    assert_eq!(revealed.trim(), "VarSecret-3344");
}

#[test]
fn secrets_written_before_the_key_are_sealed_by_encrypt() {
    let e = Env::new();
    ok(keyed(
        &e,
        None,
        &["connections", "set", "pg", "--uri", "postgres://bob:EarlyPw-1122@db/x"],
    ));
    assert!(raw_store(&e).contains("EarlyPw-1122"), "stored in clear without a key");
    let status = ok(keyed(&e, Some(KEY), &["secrets", "status"]));
    assert!(status.contains("in clear or older format: 1"), "{status}");
    let out = ok(keyed(&e, Some(KEY), &["secrets", "encrypt"]));
    assert!(out.contains("sealed 1 connection(s) and 0 variable(s)"), "{out}");
    // The old pages of the WAL are rewritten once SQLite checkpoints; the
    // table itself must hold no clear value.
    let got = ok(keyed(&e, Some(KEY), &["connections", "get", "pg", "--reveal"]));
    assert!(got.contains("EarlyPw-1122"), "{got}");
    let out = keyed(&e, None, &["connections", "get", "pg"]);
    assert!(text(&out.stderr).contains("encrypted at rest; set UPDRAFT_SECRET_KEY"));
}

/// A worker that started without the key on a store whose secrets became
/// sealed later: it says so once, claims nothing it cannot run (the task
/// stays queued, its try not counted), and a worker with the key runs it.
#[test]
fn a_worker_without_the_key_leaves_tasks_queued_and_says_so_once() {
    let e = Env::new();
    e.write("w.yaml", "tasks:\n  t: {operator: shell, command: 'echo ran'}\n");
    let _scheduler = daemon(&e, None, &["scheduler"], "scheduler.log");
    let worker = daemon(&e, None, &["worker"], "worker.log");
    wait_until("the worker to register", Duration::from_secs(20), || {
        std::fs::read_to_string(&worker.1)
            .unwrap()
            .contains("updraft worker")
            .then_some(())
    });
    // Now the store gets a key and a sealed connection.
    ok(keyed(
        &e,
        Some(KEY),
        &["connections", "set", "pg", "--uri", "postgres://u:LaterPw-7788@db/x"],
    ));
    let run_id = ok(keyed(&e, None, &["dags", "trigger", "w"])).trim().to_string();
    wait_until("the worker to report the missing key", Duration::from_secs(30), || {
        std::fs::read_to_string(&worker.1)
            .unwrap()
            .contains("claims no task until they can be read")
            .then_some(())
    });
    // A second run: the blocked worker does not claim it either.
    ok(keyed(
        &e,
        None,
        &["dags", "trigger", "w", "--logical-date", "2024-01-01"],
    ));
    let tasks = || {
        let out = ok(keyed(&e, None, &["tasks", "list", "w", &run_id, "--output", "json"]));
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < deadline {
        let t = tasks();
        assert_eq!(t[0]["state"], "queued", "{t}");
        assert_eq!(t[0]["try_number"], 0, "the try was not counted: {t}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let log = std::fs::read_to_string(&worker.1).unwrap();
    assert_eq!(log.matches("claims no task until").count(), 1, "said once:\n{log}");
    assert!(!log.contains("LaterPw-7788"));
    // A worker with the key runs what was left.
    let _good = daemon(&e, Some(KEY), &["worker"], "worker2.log");
    wait_until("the task to succeed", Duration::from_secs(30), || {
        (tasks()[0]["state"] == "success").then_some(())
    });
}
