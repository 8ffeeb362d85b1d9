//! The runtime through the `updraft` binary: real processes, a real SQLite
//! store, real shell tasks. Covers `dags test`, `dags trigger --wait` against
//! a running `standalone`, listings and logs, SIGTERM draining, and recovery
//! after `kill -9`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;

use common::{Env, text, wait_until};

#[test]
fn dags_test_reports_each_task_and_exits_by_the_result() {
    let e = Env::new();
    e.write(
        "good.yaml",
        "tasks:\n  a: {operator: shell, command: 'echo hi {{ ds }}'}\n  b: {operator: empty, depends_on: a}\n",
    );
    e.write("bad.yaml", "tasks:\n  a: {operator: shell, command: 'echo before; echo oops >&2; exit 3'}\n  b: {operator: empty, depends_on: a}\n");
    let out = e.run(&["dags", "test", "good", "2024-11-01"]);
    let s = text(&out.stdout);
    assert!(out.status.success(), "{s}{}", text(&out.stderr));
    assert!(s.contains("manual__2024-11-01T00:00:00+00:00"), "{s}");
    assert!(
        s.lines()
            .any(|l| l.trim_start().starts_with('a') && l.contains("success")),
        "{s}"
    );
    assert!(s.contains(": success in"), "{s}");
    let out = e.run(&["dags", "test", "bad"]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{s}");
    assert!(s.contains("failed"), "{s}");
    assert!(s.contains("upstream_failed"), "{s}");
    assert!(
        s.contains("oops") && s.contains("command exited with code 3"),
        "the log tail is shown: {s}"
    );
    // Nothing was written to the real store: it does not even know the DAG.
    let out = e.run(&["runs", "list", "good"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no DAG `good` is known to this store"));
}

#[test]
fn trigger_wait_with_a_running_standalone_then_inspect() {
    let e = Env::new();
    e.write(
        "etl.yaml",
        "params: {bucket: landing}\ntasks:\n  extract: {operator: shell, command: 'echo to gs://{{ params.bucket }}/{{ ds }}'}\n  load: {operator: shell, depends_on: extract, command: 'echo loaded {{ outputs.extract.last_line }}'}\n",
    );
    let _sa = e.standalone();
    let out = e.run(&[
        "dags",
        "trigger",
        "etl",
        "--logical-date",
        "2024-11-01",
        "--conf",
        r#"{"bucket": "other"}"#,
        "--wait",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let run_id = text(&out.stdout).trim().to_string();
    assert_eq!(run_id, "manual__2024-11-01T00:00:00+00:00");
    let runs = e.json(&["runs", "list", "etl", "--output", "json"]);
    assert_eq!(runs[0]["state"], "success");
    assert_eq!(runs[0]["run_type"], "manual");
    assert_eq!(runs[0]["conf"]["bucket"], "other");
    let tasks = e.json(&["tasks", "list", "etl", &run_id, "--output", "json"]);
    assert_eq!(tasks.as_array().unwrap().len(), 2);
    assert!(
        tasks
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"] == "success" && t["try_number"] == 1)
    );
    let out = e.run(&["tasks", "logs", "etl", &run_id, "load"]);
    assert!(
        text(&out.stdout).contains("loaded to gs://other/2024-11-01"),
        "{}",
        text(&out.stdout)
    );
    // The same logical date twice is refused.
    let out = e.run(&["dags", "trigger", "etl", "--logical-date", "2024-11-01"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("already has a run"));
    let out = e.run(&["dags", "trigger", "etl", "--conf", "[1]"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(text(&out.stderr).contains("'--conf <CONF>': must be a JSON object"));
}

#[test]
fn sigterm_lets_running_tasks_finish() {
    let e = Env::new();
    e.write(
        "slow.yaml",
        "tasks:\n  s: {operator: shell, command: 'sleep 1; echo done'}\n",
    );
    let mut sa = e.standalone();
    let run_id = text(&e.run(&["dags", "trigger", "slow"]).stdout).trim().to_string();
    wait_until("the task to run", Duration::from_secs(20), || {
        let t = e.json(&["tasks", "list", "slow", &run_id, "--output", "json"]);
        (t[0]["state"] == "running").then_some(())
    });
    sa.signal("-TERM");
    assert!(sa.wait(Duration::from_secs(20)).success());
    let t = e.json(&["tasks", "list", "slow", &run_id, "--output", "json"]);
    assert_eq!(t[0]["state"], "success", "drained, not killed: {t}");
}

#[test]
fn a_killed_standalone_loses_nothing() {
    let e = Env::new();
    let marker: PathBuf = e.path().join("first-try-ran");
    e.write(
        "long.yaml",
        &format!(
            "tasks:\n  t:\n    operator: shell\n    retries: 1\n    retry_delay: 0s\n    command: 'if [ -f {m} ]; then echo second try; else touch {m}; sleep 600; fi'\n  after: {{operator: empty, depends_on: t}}\n",
            m = marker.display()
        ),
    );
    let mut first = e.standalone();
    let run_id = text(&e.run(&["dags", "trigger", "long"]).stdout).trim().to_string();
    wait_until("the first try to start", Duration::from_secs(20), || {
        marker.exists().then_some(())
    });
    first.signal("-KILL");
    first.wait(Duration::from_secs(10));
    let restarted = Instant::now();
    let _second = e.standalone();
    let tasks = wait_until("the run to finish after the restart", Duration::from_secs(30), || {
        let runs = e.json(&["runs", "list", "long", "--output", "json"]);
        (runs[0]["state"] == "success").then(|| e.json(&["tasks", "list", "long", &run_id, "--output", "json"]))
    });
    assert!(
        restarted.elapsed() < Duration::from_secs(10),
        "recovered within seconds: {:?}",
        restarted.elapsed()
    );
    assert_eq!(tasks[0]["try_number"], 2, "{tasks}");
    assert_eq!(tasks[1]["state"], "success");
    let out = e.run(&["tasks", "logs", "long", &run_id, "t"]);
    assert!(text(&out.stdout).contains("second try"));
    let first_try = e.run(&["tasks", "logs", "long", &run_id, "t", "--try", "1"]);
    assert!(
        text(&first_try.stdout).contains("try 1 of 2"),
        "{}",
        text(&first_try.stdout)
    );
    assert_eq!(
        e.json(&["runs", "list", "long", "--output", "json"])
            .as_array()
            .unwrap()
            .len(),
        1,
        "no run created twice"
    );
}

#[test]
fn unpausing_lets_the_scheduler_create_runs() {
    let e = Env::new();
    e.write(
        "daily.yaml",
        "schedule: '@daily'\nstart_date: 2024-01-01\ntasks:\n  t: {operator: empty}\n",
    );
    let _sa = e.standalone();
    assert!(e.run(&["dags", "pause", "daily"]).status.success());
    let out = e.run(&["dags", "unpause", "daily"]);
    assert_eq!(text(&out.stdout).trim(), "daily: unpaused");
    let runs = wait_until("a scheduled run", Duration::from_secs(45), || {
        let runs = e.json(&["runs", "list", "daily", "--output", "json"]);
        (runs
            .as_array()
            .unwrap()
            .first()
            .is_some_and(|r| r["state"] == "success"))
        .then_some(runs)
    });
    assert_eq!(
        runs.as_array().unwrap().len(),
        1,
        "catchup off: only the latest interval"
    );
    assert_eq!(runs[0]["run_type"], "scheduled");
}

#[test]
fn airflow_connections_and_variables_import_and_secrets_stay_masked() {
    let e = Env::new();
    std::fs::write(
        e.path().join("connections.json"),
        r#"{"postgres-source": {"conn_type": "postgres", "description": "", "host": "db.internal", "login": "etl", "password": "s3cr3t-pw", "port": 5432, "schema": "sales", "extra": ""},
            "google-cloud-default": {"conn_type": "google_cloud_platform", "extra": ""}}"#,
    )
    .unwrap();
    std::fs::write(
        e.path().join("variables.json"),
        r#"{"project_id": "my-project", "gcs": {"landing": "land-bkt", "staging": "stage-bkt"}, "api_token": "tok-123456"}"#,
    )
    .unwrap();
    assert_eq!(
        text(&e.run(&["connections", "import", "connections.json"]).stdout).trim(),
        "imported 2 connection(s)"
    );
    assert_eq!(
        text(&e.run(&["variables", "import", "variables.json"]).stdout).trim(),
        "imported 3 variable(s)"
    );
    let listing = text(&e.run(&["connections", "list"]).stdout);
    assert!(
        listing.contains("postgres-source") && listing.contains("***") && !listing.contains("s3cr3t-pw"),
        "{listing}"
    );
    let vars = text(&e.run(&["variables", "list"]).stdout);
    assert!(
        vars.lines().any(|l| l.starts_with("api_token") && l.ends_with("***")) && !vars.contains("tok-123456"),
        "{vars}"
    );
    assert_eq!(
        text(&e.run(&["variables", "get", "api_token", "--reveal"]).stdout).trim(),
        "tok-123456"
    );
    let got = e.json(&["connections", "get", "postgres-source"]);
    assert_eq!(
        (got["password"].as_str(), got["port"].as_u64()),
        (Some("***"), Some(5432))
    );
    e.write(
        "uses.yaml",
        "tasks:\n  t:\n    operator: shell\n    env: {PGPASSWORD: \"{{ conn['postgres-source'].password }}\"}\n    command: |\n      echo \"host={{ conn['postgres-source'].host }} pw=$PGPASSWORD tok={{ var.value.api_token }}\"\n      echo \"bucket=gs://{{ var.json.gcs.landing }} region={{ var.value.get('region', 'none') }}\"\n      echo \"warehouse={{ conn.warehouse.host if conn.warehouse is defined else 'none' }} {{ conn.warehouse.password if conn.warehouse is defined else '' }}\"\n",
    );
    // Environment connections and variables (tasks test prints the log).
    let out = e
        .cmd()
        .env("UPDRAFT_VAR_REGION", "asia-southeast1")
        .env(
            "UPDRAFT_CONN_WAREHOUSE",
            "postgres://w:pw-from-env-1@wh.internal:5433/dw",
        )
        .args(["tasks", "test", "uses", "t", "2024-11-01"])
        .output()
        .unwrap();
    let log = text(&out.stdout);
    assert!(out.status.success(), "{log}{}", text(&out.stderr));
    assert!(log.contains("region=asia-southeast1"), "{log}");
    assert!(log.contains("warehouse=wh.internal ***"), "{log}");
    assert!(!log.contains("pw-from-env-1"), "{log}");
    // A real run through a standalone: the stored log is masked too.
    let _sa = e.standalone();
    let run_id = text(&e.run(&["dags", "trigger", "uses", "--wait"]).stdout)
        .trim()
        .to_string();
    let log = text(&e.run(&["tasks", "logs", "uses", &run_id, "t"]).stdout);
    assert!(log.contains("host=db.internal pw=*** tok=***"), "{log}");
    assert!(log.contains("bucket=gs://land-bkt region=none"), "{log}");
    assert!(!log.contains("s3cr3t-pw") && !log.contains("tok-123456"), "{log}");
}

#[test]
fn backfill_is_idempotent_reprocesses_in_place_and_reports_failures() {
    let e = Env::new();
    let flag = e.path().join("fixed");
    e.write(
        "d.yaml",
        &format!(
            "schedule: '@daily'\nstart_date: 2024-01-01\ntasks:\n  a: {{operator: shell, command: 'echo {{{{ ds }}}}'}}\n  b: {{operator: shell, depends_on: a, command: 'test {{{{ ds }}}} != 2024-01-03 || test -f {}'}}\n",
            flag.display()
        ),
    );
    let runs = || {
        e.json(&["runs", "list", "d", "--output", "json"])
            .as_array()
            .unwrap()
            .clone()
    };
    let out = e.run(&[
        "backfill",
        "d",
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-05",
        "--max-active-runs",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(1), "a run failed: {}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("5/5 runs done") && err.contains("1 failed"), "{err}");
    assert!(err.contains("failed runs: 2024-01-03T00:00:00Z"), "{err}");
    let first = runs();
    assert_eq!(first.len(), 5);
    assert!(first.iter().all(|r| r["run_type"] == "backfill"));
    // Again with the default: nothing new, nothing rerun.
    let out = e.run(&["backfill", "d", "--start", "2024-01-01", "--end", "2024-01-05"]);
    assert!(
        text(&out.stderr).contains("0/0 runs done") && text(&out.stderr).contains("5 kept"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(runs(), first, "untouched");
    // Dry run says what --reprocess failed would do.
    let out = e.run(&[
        "backfill",
        "d",
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-05",
        "--reprocess",
        "failed",
        "--dry-run",
    ]);
    let plan = text(&out.stdout);
    assert!(
        plan.contains("2024-01-03T00:00:00Z  rerun (failed)") && plan.contains("2024-01-01T00:00:00Z  keep (success)"),
        "{plan}"
    );
    std::fs::write(&flag, "").unwrap();
    let out = e.run(&[
        "backfill",
        "d",
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-05",
        "--reprocess",
        "failed",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after = runs();
    assert_eq!(after.len(), 5, "never two runs for one date");
    assert!(after.iter().all(|r| r["state"] == "success"));
    let rerun = after
        .iter()
        .find(|r| r["logical_date"] == "2024-01-03T00:00:00Z")
        .unwrap();
    let tasks = e.json(&[
        "tasks",
        "list",
        "d",
        rerun["run_id"].as_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(
        tasks[1]["try_number"], 2,
        "rerun in place keeps counting tries: {tasks}"
    );
}

#[test]
fn backfill_hands_runs_to_a_live_scheduler() {
    let e = Env::new();
    e.write(
        "d.yaml",
        "schedule: '@daily'\nstart_date: 2024-01-01\ntasks:\n  a: {operator: empty}\n",
    );
    let _sa = e.standalone();
    // Wait for the standalone's scheduler to announce itself in the store.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = format!("sqlite://{}/.updraft/updraft.db", e.path().display());
    wait_until("the scheduler to register", Duration::from_secs(20), || {
        rt.block_on(async {
            let store = updraft_engine::store::Store::connect(&url).await.ok()?;
            let live = store
                .live_workers(jiff::Timestamp::now() - jiff::SignedDuration::from_secs(10))
                .await
                .ok()?;
            live.iter().any(|w| w.kind == "scheduler").then_some(())
        })
    });
    let out = e.run(&["backfill", "d", "--start", "2024-01-01", "--end", "2024-01-03"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("handing it 3 run(s)"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        e.json(&["runs", "list", "d", "--output", "json"])
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn tasks_logs_follow_shows_lines_while_the_task_runs() {
    use std::io::{BufRead, BufReader};
    let e = Env::new();
    let gate = e.path().join("gate");
    e.write(
        "live.yaml",
        &format!("tasks:\n  t: {{operator: shell, command: 'echo first; while [ ! -f {} ]; do sleep 0.05; done; echo second'}}\n", gate.display()),
    );
    let _sa = e.standalone();
    let run_id = text(&e.run(&["dags", "trigger", "live"]).stdout).trim().to_string();
    wait_until("t to run", Duration::from_secs(20), || {
        let t = e.json(&["tasks", "list", "live", &run_id, "--output", "json"]);
        (t[0]["state"] == "running").then_some(())
    });
    let mut follow = e
        .cmd()
        .args(["tasks", "logs", "live", &run_id, "t", "--follow"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    // "first" arrives while the task is still running (it waits for the gate).
    let first = lines
        .by_ref()
        .map(|l| l.unwrap())
        .find(|l| l.ends_with("first"))
        .expect("the first line");
    assert!(first.contains("stdout"), "{first}");
    let t = e.json(&["tasks", "list", "live", &run_id, "--output", "json"]);
    assert_eq!(t[0]["state"], "running", "seen live, before the task ended");
    std::fs::write(&gate, "").unwrap();
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    assert!(rest.iter().any(|l| l.ends_with("second")), "{rest:?}");
    assert!(rest.iter().any(|l| l.ends_with("succeeded")), "{rest:?}");
    assert!(follow.wait().unwrap().success(), "--follow ends when the try ends");
}

#[test]
fn users_and_tokens_and_the_web_ui_refuses_an_open_public_bind() {
    use std::io::Write;
    let e = Env::new();
    e.write("hello.yaml", "tasks:\n  a: {operator: shell, command: 'echo hi'}\n");
    // No user: a non-loopback bind is refused, saying what to do.
    let out = e.run(&["web", "--bind", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("updraft users create"),
        "{}",
        text(&out.stderr)
    );
    let mut create = e
        .cmd()
        .args(["users", "create", "ada"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    create.stdin.take().unwrap().write_all(b"a long password\n").unwrap();
    let out = create.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = e.run(&["users", "token", "ada", "--name", "ci"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_string();
    assert!(token.len() >= 40, "{token}");
    let list = text(&e.run(&["users", "list"]).stdout);
    assert!(list.contains("ada") && !list.contains(&token), "{list}");
    assert_eq!(e.run(&["users", "token", "nobody"]).status.code(), Some(1));
    // The token is not stored in the clear.
    let db = std::fs::read(e.path().join(".updraft/updraft.db")).unwrap();
    assert!(!text(&db).contains(&token));
    // Tokens are listed (id, name, expiry; never the token) and revoked one by one.
    let out = e.run(&[
        "users",
        "tokens",
        "create",
        "ada",
        "--name",
        "deploy",
        "--expires-in-days",
        "7",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list = text(&e.run(&["users", "tokens", "list", "ada"]).stdout);
    let rows: Vec<&str> = list.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{list}");
    assert!(
        rows[0].contains(" ci ") && rows[1].contains(" deploy ") && !list.contains(&token),
        "{list}"
    );
    let in_a_week = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(7 * 24))
        .strftime("%Y-%m-%d")
        .to_string();
    assert!(rows[1].contains(&in_a_week), "expires in 7 days: {list}");
    let ci_id = rows[0].split_whitespace().next().unwrap();
    let out = e.run(&["users", "tokens", "revoke", "ada", ci_id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        e.run(&["users", "tokens", "revoke", "ada", ci_id]).status.code(),
        Some(1)
    );
    let list = text(&e.run(&["users", "tokens", "list", "ada"]).stdout);
    assert!(!list.contains(" ci ") && list.contains(" deploy "), "{list}");
    assert!(
        !e.run(&["users", "tokens", "create", "ada", "--expires-in-days", "0"])
            .status
            .success(),
        "a token that never works is refused"
    );
    // A new password revokes every token.
    let mut reset = e
        .cmd()
        .args(["users", "create", "ada"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    reset
        .stdin
        .take()
        .unwrap()
        .write_all(b"another long password\n")
        .unwrap();
    let out = reset.wait_with_output().unwrap();
    assert!(text(&out.stdout).contains("revoked"), "{}", text(&out.stdout));
    let list = text(&e.run(&["users", "tokens", "list", "ada"]).stdout);
    assert_eq!(list.lines().count(), 1, "only the header is left: {list}");
    assert!(e.run(&["users", "delete", "ada"]).status.success());
    assert_eq!(e.run(&["users", "delete", "ada"]).status.code(), Some(1));
}

#[test]
fn users_have_roles() {
    use std::io::Write;
    let e = Env::new();
    let create = |args: &[&str]| {
        let mut c = e
            .cmd()
            .args(["users", "create"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(b"a long password\n").unwrap();
        c.wait_with_output().unwrap()
    };
    let role_of = |user: &str| {
        let list = text(&e.run(&["users", "list"]).stdout);
        let row = list.lines().find(|l| l.split_whitespace().next() == Some(user));
        row.and_then(|r| r.split_whitespace().nth(1))
            .unwrap_or_default()
            .to_string()
    };
    // The first user is an admin, as every user was before roles.
    let out = create(&["ada"]);
    assert!(text(&out.stdout).contains("admin role"), "{}", text(&out.stderr));
    assert_eq!(role_of("ada"), "admin");
    // Later ones need a role said.
    let out = create(&["vic"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--role viewer, op or admin"),
        "{}",
        text(&out.stderr)
    );
    assert!(create(&["vic", "--role", "viewer"]).status.success());
    assert_eq!(role_of("vic"), "viewer");
    assert_eq!(create(&["eve", "--role", "root"]).status.code(), Some(2), "not a role");
    assert!(e.run(&["users", "set-role", "vic", "op"]).status.success());
    assert_eq!(role_of("vic"), "op");
    // A new password keeps the role.
    assert!(create(&["vic"]).status.success());
    assert_eq!(role_of("vic"), "op");
    assert_eq!(e.run(&["users", "set-role", "nobody", "op"]).status.code(), Some(1));
    assert_eq!(e.run(&["users", "set-role", "vic", "root"]).status.code(), Some(2));
    assert!(text(&e.run(&["users", "list"]).stdout).starts_with("USER"));
}

#[test]
fn db_check_answers_for_the_store_the_processes_and_the_web_ui() {
    let e = Env::new();
    // Never migrated: not healthy, and it says what to do.
    let out = e.run(&["db", "check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("run `updraft db migrate`"),
        "{}",
        text(&out.stderr)
    );
    assert!(e.run(&["db", "migrate"]).status.success());
    let out = e.run(&["db", "check"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("reachable, schema current"));
    // No worker yet on this machine.
    let out = e.run(&["db", "check", "--process", "worker"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no worker is registered on"),
        "{}",
        text(&out.stderr)
    );

    let sa = e.standalone();
    let addr = common::wait_until("the web UI's address", Duration::from_secs(30), || {
        let log = std::fs::read_to_string(&sa.1).ok()?;
        let at = log.find("updraft web UI: http://")?;
        Some(log[at + 23..].lines().next()?.trim().to_string())
    });
    for kind in ["scheduler", "worker"] {
        let out = common::wait_until(&format!("a live {kind}"), Duration::from_secs(30), || {
            let out = e.run(&["db", "check", "--process", kind]);
            out.status.success().then_some(out)
        });
        assert!(text(&out.stdout).contains(&format!("{kind} ")), "{}", text(&out.stdout));
    }
    let out = e.run(&["db", "check", "--web", &addr]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&format!("web UI at {addr} answered")));
    // Nothing listens on port 1.
    let out = e.run(&["db", "check", "--web", "127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("web UI at 127.0.0.1:1"),
        "{}",
        text(&out.stderr)
    );
}
