//! The `updraft` binary end to end: exit codes, what goes to stdout and what
//! to stderr, and the JSON forms.

use std::path::Path;
use std::process::{Command, Output};

fn updraft(dags: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_updraft"))
        .arg("--dags-folder")
        .arg(dags)
        .args(args)
        .env_remove("UPDRAFT_DAGS_FOLDER")
        .output()
        .expect("updraft runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(dir: &Path, name: &str, body: &str) {
    std::fs::create_dir_all(dir.join(name).parent().unwrap()).unwrap();
    std::fs::write(dir.join(name), body).unwrap();
}

const GOOD: &str = "schedule: '0 2 * * *'\nstart_date: 2024-11-01\ntimezone: Asia/Bangkok\ntags: [etl]\ntasks:\n  a: {operator: empty}\n  b: {operator: shell, command: 'echo {{ ds }}', depends_on: a}\n";

#[test]
fn validate_reports_every_broken_file_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "good.yaml", GOOD);
    write(dir.path(), "sub/bad_one.yaml", "tasks:\n  a: {operator: nope}\n");
    write(
        dir.path(),
        "bad_two.yml",
        "tasks:\n  a: {operator: empty, depends_on: zz}\n",
    );
    write(dir.path(), ".hidden.yaml", "not: [valid\n");
    write(dir.path(), "notes.txt", "ignored");
    let out = updraft(dir.path(), &["dags", "validate"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].ends_with("bad_two.yml:2:36: task `a`: `depends_on`: unknown task `zz`"),
        "{err}"
    );
    assert!(
        lines[1].contains("sub/bad_one.yaml:2:17: task `a`: `operator`: unknown operator `nope`"),
        "{err}"
    );
    assert_eq!(text(&out.stdout).trim(), "2 of 3 file(s) invalid, 2 problem(s)");
}

#[test]
fn validate_ok_and_explicit_paths() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "good.yaml", GOOD);
    write(dir.path(), "bad.yaml", "tasks: {}\n");
    let good = dir.path().join("good.yaml");
    let out = updraft(Path::new("/nonexistent"), &["dags", "validate", good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "ok: 1 DAG(s) in 1 file(s)");
    assert!(out.stderr.is_empty());
}

#[test]
fn validate_an_empty_folder_fails() {
    let dir = tempfile::tempdir().unwrap();
    let out = updraft(dir.path(), &["dags", "validate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no DAG files"));
}

#[test]
fn duplicate_dag_ids_across_files_are_reported_on_the_second() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yaml", "dag_id: same\ntasks:\n  t: {operator: empty}\n");
    write(dir.path(), "b.yaml", "dag_id: same\ntasks:\n  t: {operator: empty}\n");
    let out = updraft(dir.path(), &["dags", "validate"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("b.yaml:1:1: duplicate dag_id `same`: already defined in"),
        "{err}"
    );
    assert!(err.contains("a.yaml:1"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn list_json_has_ids_schedules_next_runs_tags_and_files() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "etl.yaml", GOOD);
    write(dir.path(), "manual.yaml", "tasks:\n  a: {operator: empty}\n");
    write(dir.path(), "broken.yaml", "tasks: [\n");
    let out = updraft(dir.path(), &["dags", "list", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("1 DAG file(s) failed to load"));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["dag_id"], "etl");
    assert_eq!(items[0]["schedule"], "0 2 * * *");
    assert_eq!(items[0]["tags"], serde_json::json!(["etl"]));
    assert!(items[0]["file"].as_str().unwrap().ends_with("etl.yaml"));
    // 02:00 in Bangkok is 19:00 UTC the day before.
    assert!(
        items[0]["next_run"]["logical_date"]
            .as_str()
            .unwrap()
            .ends_with("T19:00:00Z")
    );
    assert_eq!(items[1]["dag_id"], "manual");
    assert!(items[1]["next_run"].is_null());
}

#[test]
fn plan_json_in_utc_and_bare_dates_in_the_dag_zone() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "etl.yaml", GOOD);
    let out = updraft(
        dir.path(),
        &[
            "dags",
            "plan",
            "etl",
            "--start",
            "2024-11-01",
            "--end",
            "2024-11-03",
            "--output",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!([
            {"logical_date": "2024-10-31T19:00:00Z", "data_interval_start": "2024-10-31T19:00:00Z", "data_interval_end": "2024-11-01T19:00:00Z"},
            {"logical_date": "2024-11-01T19:00:00Z", "data_interval_start": "2024-11-01T19:00:00Z", "data_interval_end": "2024-11-02T19:00:00Z"},
        ])
    );
    // RFC 3339 instants are taken as given; end is inclusive.
    let out = updraft(
        dir.path(),
        &[
            "dags",
            "plan",
            "etl",
            "--start",
            "2024-11-01T00:00:00Z",
            "--end",
            "2024-11-01T19:00:00Z",
            "--output",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["logical_date"], "2024-11-01T19:00:00Z");
}

#[test]
fn plan_and_show_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "etl.yaml", GOOD);
    let out = updraft(
        dir.path(),
        &["dags", "plan", "etl", "--start", "tomorrow", "--end", "2024-11-03"],
    );
    assert_eq!(out.status.code(), Some(2), "a malformed date is a usage error");
    assert!(text(&out.stderr).contains("--start"), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let out = updraft(dir.path(), &["dags", "show", "etll"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no DAG `etll`") && text(&out.stderr).contains("did you mean `etl`"));
    let out = updraft(
        dir.path(),
        &["dags", "plan", "etl", "--start", "2024-11-05", "--end", "2024-11-01"],
    );
    assert!(text(&out.stderr).contains("before --start"));
}

#[test]
fn show_text_json_and_dot() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "etl.yaml", GOOD);
    let out = updraft(dir.path(), &["dags", "show", "etl"]);
    assert_eq!(out.status.code(), Some(0));
    let s = text(&out.stdout);
    assert!(s.contains("schedule:    0 2 * * * (Asia/Bangkok)"), "{s}");
    assert!(s.contains("  a -> b"), "{s}");
    assert!(s.contains("  a\n  └─▶ b\n"), "{s}");
    let out = updraft(dir.path(), &["dags", "show", "etl", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["edges"], serde_json::json!([["a", "b"]]));
    assert_eq!(v["tasks"][1]["config"]["command"], "echo {{ ds }}");
    let out = updraft(dir.path(), &["dags", "show", "etl", "--output", "dot"]);
    assert!(text(&out.stdout).contains("\"a\" -> \"b\";"));
}

#[test]
fn help_is_available_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["--help"][..],
        &["dags", "--help"],
        &["dags", "plan", "--help"],
        &["dags", "validate", "--help"],
    ] {
        let out = updraft(dir.path(), args);
        assert_eq!(out.status.code(), Some(0));
        assert!(text(&out.stdout).contains("Usage:"));
    }
    let out = updraft(dir.path(), &["dags", "nope"]);
    assert_eq!(out.status.code(), Some(2));
}
