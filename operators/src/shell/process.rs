//! Running the bash process: streaming its lines, and stopping it (and
//! everything it started) on cancellation.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use updraft_operator_api::{Lines, LogSink, LogStream, Output, TaskContext, TaskError};

use super::ShellConfig;

/// How long a cancelled command gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(5);
/// Bytes read from a pipe at a time.
const CHUNK: usize = 64 << 10;

pub async fn run(config: &ShellConfig, ctx: &TaskContext) -> Result<Output, TaskError> {
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(&config.command)
        .envs(&config.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a stop reaches what it started too.
        .process_group(0)
        .kill_on_drop(true);
    // In the worker's folder unless told otherwise. (Airflow's BashOperator
    // uses a temporary folder; making and removing one per try cost 0.4 ms a
    // task here, 15% of a chain of short commands: operators that need one
    // ask for `ctx.scratch`.)
    if let Some(dir) = &config.cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().map_err(|e| {
        let place = config
            .cwd
            .as_ref()
            .map(|d| format!(" in {}", d.display()))
            .unwrap_or_default();
        TaskError::Failed(format!("cannot start bash{place}: {e}"))
    })?;
    // Kept from the start: once the shell is reaped its pid is gone from
    // `child`, but what it started in the background may still hold the
    // pipes open (the try goes on until they close) and must be stopped too.
    let group = child.id().map(|pid| Pid::from_raw(pid as i32));
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    // The pumps and the wait are polled together in this task: no tasks of
    // their own, whose hand-offs would cost wake-ups per process.
    let ended = {
        let work = async {
            let (status, last_line, ()) =
                tokio::join!(child.wait(), pump(stdout, ctx.log.clone(), LogStream::Stdout), async {
                    pump(stderr, ctx.log.clone(), LogStream::Stderr).await;
                });
            // The pumps end at EOF: output still buffered in the pipes is
            // part of the log.
            (status, last_line)
        };
        tokio::pin!(work);
        tokio::select! {
            ended = &mut work => Some(ended),
            () = ctx.cancel.cancelled() => None,
        }
    };
    let Some((status, last_line)) = ended else {
        // Reading stopped (what is left in the pipes is dropped); stop the
        // process group.
        stop(&mut child, group).await;
        return Err(TaskError::Cancelled);
    };
    let status = status.map_err(|e| TaskError::Failed(format!("waiting for bash: {e}")))?;
    match status.code() {
        Some(0) => Ok(serde_json::json!({ "exit_code": 0, "last_line": last_line })),
        _ => Err(TaskError::Failed(describe_failure(status))),
    }
}

fn describe_failure(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("command exited with code {code}"),
        (None, Some(sig)) => {
            let name = Signal::try_from(sig).map(|s| s.as_str()).unwrap_or("unknown signal");
            format!("command was killed by signal {sig} ({name})")
        }
        _ => "command ended without an exit code".to_string(),
    }
}

/// SIGTERM to the whole group, SIGKILL after the grace period.
async fn stop(child: &mut Child, group: Option<Pid>) {
    let Some(group) = group else { return };
    let _ = killpg(group, Signal::SIGTERM);
    if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
        let _ = killpg(group, Signal::SIGKILL);
        let _ = child.wait().await;
    } else {
        // The shell is gone; make sure nothing it started outlives it.
        let _ = killpg(group, Signal::SIGKILL);
    }
}

/// Forwards each line to the log; returns the last non-empty one. Reads
/// in chunks: a line longer than the log's line limit is never held whole
/// (a 1 GB line without a newline costs one chunk and one line limit).
async fn pump(mut reader: impl AsyncRead + Unpin, log: LogSink, stream: LogStream) -> String {
    let mut chunk = vec![0u8; CHUNK];
    let mut lines = Lines::new();
    let mut last = String::new();
    let mut keep = |line: &str| {
        if !line.trim().is_empty() {
            last.clear();
            last.push_str(line);
        }
    };
    loop {
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                lines.push(&log, stream, &chunk[..n], &mut keep);
                // A command printing faster than the log is stored waits.
                log.ready().await;
            }
        }
    }
    lines.finish(&log, stream, &mut keep);
    last
}
