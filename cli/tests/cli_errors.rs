//! How the CLI fails: a database that does not answer is given up on fast
//! with its cause; a DAG no one knows is an error in every command that
//! names one; a malformed argument is a usage error (exit 2).

use std::net::TcpListener;
use std::time::{Duration, Instant};

mod common;
use common::Env;

const HELLO: &str = "dag_id: hello\nstart_date: 2024-01-01\nschedule: \"@daily\"\ntasks:\n  a:\n    operator: shell\n    command: echo a\n";

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A "Postgres" that accepts connections and never says a word (a host
/// behind a firewall that drops packets behaves the same): the command
/// gives up after 5 s and says so, where it used to wait 30 s for "pool
/// timed out".
#[test]
fn a_database_that_never_answers_fails_within_seconds_naming_it() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let env = Env::new();
    let url = format!("postgres://updraft:hunter2@127.0.0.1:{port}/updraft");
    let started = Instant::now();
    let out = env.run(&["--database-url", &url, "runs", "list", "hello"]);
    let took = started.elapsed();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(took < Duration::from_secs(15), "took {took:?}: {err}");
    assert!(
        err.contains("no answer from the database") && err.contains("within 5 s"),
        "{err}"
    );
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(!err.contains("hunter2"), "the password leaked: {err}");
    drop(silent);
}

/// A refused connection is reported at once with its cause, said once.
#[test]
fn a_refused_connection_names_its_cause_once() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let env = Env::new();
    let url = format!("postgres://updraft@127.0.0.1:{port}/updraft");
    let out = env.run(&["--database-url", &url, "runs", "list", "hello"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("Connection refused").count(), 1, "{err}");
}

#[test]
fn every_command_naming_an_unknown_dag_fails() {
    let env = Env::new();
    env.write("hello.yaml", HELLO);
    // The store knows `hello` once a command has loaded it.
    let out = env.run(&["dags", "pause", "hello"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let commands: &[&[&str]] = &[
        &["runs", "list", "nosuchdag"],
        &["dags", "show", "nosuchdag"],
        &["dags", "trigger", "nosuchdag"],
        &["dags", "pause", "nosuchdag"],
        &["dags", "unpause", "nosuchdag"],
        &["dags", "test", "nosuchdag"],
        &[
            "dags",
            "plan",
            "nosuchdag",
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-02",
        ],
        &["tasks", "test", "nosuchdag", "a", "2024-01-01"],
        &["tasks", "list", "nosuchdag", "manual__x"],
        &["backfill", "nosuchdag", "--start", "2024-01-01", "--end", "2024-01-02"],
    ];
    for args in commands {
        let out = env.run(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?} exited {:?}: {err}", out.status);
        assert!(err.contains("nosuchdag"), "{args:?}: {err}");
    }
    // A near miss is suggested.
    let err = stderr(&env.run(&["runs", "list", "helo"]));
    assert!(err.contains("did you mean `hello`"), "{err}");
    // A known DAG without runs is an empty list, not an error.
    let out = env.run(&["runs", "list", "hello"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn malformed_arguments_are_usage_errors() {
    let env = Env::new();
    env.write("hello.yaml", HELLO);
    let commands: &[(&[&str], &str)] = &[
        (&["no-such-command"], "unrecognized subcommand"),
        (&["dags", "trigger"], "required"),
        (&["dags", "trigger", "hello", "--conf", "[1]"], "JSON object"),
        (&["dags", "trigger", "hello", "--conf", "{"], "not valid JSON"),
        (&["dags", "trigger", "hello", "--logical-date", "soon"], "invalid date"),
        (
            &["backfill", "hello", "--start", "garbage", "--end", "2024-01-02"],
            "invalid date",
        ),
        (&["tasks", "test", "hello", "a", "2024-02-30"], "invalid date"),
        (
            &["dags", "plan", "hello", "--start", "2024-01-01", "--end", "x"],
            "invalid date",
        ),
    ];
    for (args, says) in commands {
        let out = env.run(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
