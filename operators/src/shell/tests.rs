use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use updraft_operator_api::{LogSink, LogStream, Operator, TaskContext, TaskError};

use super::{ShellConfig, ShellOperator};

type Lines = Arc<Mutex<Vec<(LogStream, String)>>>;

fn ctx() -> (TaskContext, Lines) {
    let lines: Lines = Arc::default();
    let sink = lines.clone();
    let ctx = TaskContext {
        log: LogSink::new(move |s, l| sink.lock().unwrap().push((s, l.to_string()))),
        ..TaskContext::detached("t")
    };
    (ctx, lines)
}

fn cfg(command: &str) -> ShellConfig {
    ShellConfig {
        command: command.into(),
        env: Default::default(),
        cwd: None,
    }
}

#[tokio::test]
async fn success_streams_both_streams_and_returns_last_line() {
    let (ctx, lines) = ctx();
    let out = ShellOperator
        .execute(cfg("echo one; echo oops >&2; echo two; echo"), ctx)
        .await
        .unwrap();
    assert_eq!(out["exit_code"], 0);
    assert_eq!(out["last_line"], "two");
    let lines = lines.lock().unwrap();
    assert!(lines.contains(&(LogStream::Stdout, "one".into())));
    assert!(lines.contains(&(LogStream::Stderr, "oops".into())));
}

#[tokio::test]
async fn non_zero_exit_fails_with_the_code() {
    let (ctx, _) = ctx();
    let err = ShellOperator
        .execute(cfg("echo partial; exit 3"), ctx)
        .await
        .unwrap_err();
    assert_eq!(err, TaskError::Failed("command exited with code 3".into()));
}

#[tokio::test]
async fn env_and_cwd_apply() {
    let dir = std::env::temp_dir();
    let (ctx, _) = ctx();
    let mut c = cfg("echo \"$GREETING from $(pwd)\"");
    c.env.insert("GREETING".into(), "hello".into());
    c.cwd = Some(dir.clone());
    let out = ShellOperator.execute(c, ctx).await.unwrap();
    let canonical = dir.canonicalize().unwrap();
    assert_eq!(out["last_line"], format!("hello from {}", canonical.display()));
}

#[tokio::test]
async fn missing_cwd_is_named() {
    let (ctx, _) = ctx();
    let mut c = cfg("true");
    c.cwd = Some("/no/such/dir".into());
    let err = ShellOperator.execute(c, ctx).await.unwrap_err().to_string();
    assert!(err.contains("/no/such/dir"), "{err}");
}

/// Live (not zombie) processes in process group `pgid`, from /proc.
/// Waits (5 s at most) for every process of the group to be gone.
async fn all_gone(pgid: i32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !live_in_group(pgid).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "left running: {:?}",
            live_in_group(pgid)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn live_in_group(pgid: i32) -> Vec<i32> {
    let mut live = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the command name: state ppid pgrp ...
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(2) == Some(&pgid.to_string().as_str()) && fields[0] != "Z" {
            live.push(pid);
        }
    }
    live
}

#[tokio::test]
async fn lines_arrive_while_the_command_runs_and_cancel_stops_the_group() {
    let (mut ctx, _) = ctx();
    let (tx, mut rx) = mpsc::unbounded_channel();
    ctx.log = LogSink::new(move |_, l| {
        let _ = tx.send(l.to_string());
    });
    let cancel = ctx.cancel.clone();
    // bash prints its pid (the group id), leaves a child in the background
    // and blocks.
    let run = tokio::spawn(async move { ShellOperator.execute(cfg("echo $$; sleep 300 & sleep 300"), ctx).await });
    // The first line is seen before the command ends.
    let pgid: i32 = rx.recv().await.unwrap().parse().unwrap();
    assert!(!live_in_group(pgid).is_empty());
    cancel.cancel();
    let res = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("stops promptly")
        .unwrap();
    assert_eq!(res.unwrap_err(), TaskError::Cancelled);
    // Every process of the group, the background child included, is gone.
    all_gone(pgid).await;
}

#[test]
fn validate_rejects_empty_command() {
    assert_eq!(
        ShellOperator::validate(&cfg("  ")),
        vec!["`command` is empty".to_string()]
    );
}

#[tokio::test]
async fn a_cancel_after_the_shell_exited_stops_what_it_left_holding_the_pipes() {
    let (mut ctx, _) = ctx();
    let (tx, mut rx) = mpsc::unbounded_channel();
    ctx.log = LogSink::new(move |_, l| {
        let _ = tx.send(l.to_string());
    });
    let cancel = ctx.cancel.clone();
    // The shell exits at once; the background sleep keeps stdout open, so
    // the try goes on (as Airflow's BashOperator does, reading to EOF).
    let run = tokio::spawn(async move { ShellOperator.execute(cfg("echo $$; sleep 300 &"), ctx).await });
    let pgid: i32 = rx.recv().await.unwrap().parse().unwrap();
    // Wait for the shell itself to be gone, leaving only the sleep.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while live_in_group(pgid).contains(&pgid) {
        assert!(std::time::Instant::now() < deadline, "the shell did not exit");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!live_in_group(pgid).is_empty(), "the background sleep runs on");
    assert!(!run.is_finished(), "the pipes are still open");
    cancel.cancel();
    let res = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("stops promptly")
        .unwrap();
    assert_eq!(res.unwrap_err(), TaskError::Cancelled);
    all_gone(pgid).await;
}

/// A command printing faster than the log takes lines waits for room: a
/// log that has none stops the reading (the pipe fills, the writer blocks).
#[tokio::test]
async fn a_full_log_holds_the_command_back() {
    let (ctx, lines) = ctx();
    let (open_tx, open_rx) = tokio::sync::watch::channel(false);
    let ctx = TaskContext {
        log: ctx.log.clone().with_backpressure(move || {
            let mut rx = open_rx.clone();
            Box::pin(async move {
                let _ = rx.wait_for(|open| *open).await;
            })
        }),
        ..ctx
    };
    let run = tokio::spawn(ShellOperator.execute(cfg("for i in $(seq 1 5000); do echo line $i; done"), ctx));
    // Wait for the first line, then give the command time it would need to
    // print everything if nothing held it back.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while lines.lock().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no line arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The output is read a chunk at a time: the lines of the first chunk,
    // then nothing more.
    let first = lines.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(lines.lock().unwrap().len(), first, "one chunk taken, then held");
    assert!(first < 5000);
    assert!(!run.is_finished());
    open_tx.send(true).unwrap();
    run.await.unwrap().unwrap();
    assert_eq!(lines.lock().unwrap().len(), 5000);
}

/// The finding: a 1.2 GB line without a newline aborted the worker, read
/// whole into memory. Now its head reaches the log, cut, while the command
/// still writes, and the rest is skipped without being kept.
#[tokio::test]
async fn a_line_without_end_is_cut_as_it_streams_and_never_held_whole() {
    let (ctx, lines) = ctx();
    let ctx = TaskContext {
        log: ctx.log.clone().with_limits(updraft_operator_api::LogLimits {
            line_bytes: 1000,
            try_bytes: 1 << 30,
        }),
        ..ctx
    };
    let cancel = ctx.cancel.clone();
    // 200 MB of `y` with no newline, then a wait that only the cancel ends.
    let run = tokio::spawn(ShellOperator.execute(
        cfg("head -c 200000000 /dev/zero | tr '\\0' y; sleep 30; echo never"),
        ctx,
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while lines.lock().unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the line was held back, waiting for its end"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let first = lines.lock().unwrap()[0].clone();
    assert_eq!(first.0, LogStream::Stdout);
    assert_eq!(
        first.1,
        format!(
            "{} [... line cut at 1000 bytes: the rest is not kept]",
            "y".repeat(1000)
        )
    );
    cancel.cancel();
    let res = tokio::time::timeout(Duration::from_secs(15), run)
        .await
        .expect("stops promptly")
        .unwrap();
    assert_eq!(res.unwrap_err(), TaskError::Cancelled);
    assert_eq!(lines.lock().unwrap().len(), 1);
}
