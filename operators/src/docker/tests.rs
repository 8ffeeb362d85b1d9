//! Against the real Docker engine on the local socket, with the image the
//! tests build from this machine's own programs (`test_image.rs`; no
//! registry is reachable here). Without an
//! engine these tests say they were skipped and pass, except on CI (`CI=true`)
//! where they fail. They wait on events and poll with deadlines; nothing
//! sleeps and then asserts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use bollard::models::ContainerCreateBody;
use tokio::sync::mpsc;
use updraft_engine::Registry;
use updraft_engine::yaml::parse_document;
use updraft_operator_api::{LogSink, LogStream, TaskContext, TaskError};

use super::DockerOperator;
use super::container::{LABEL_DAG, LABEL_RUN, LABEL_TASK, LABEL_TRY};

use super::test_image::{TEST_IMAGE as IMAGE, ensure_test_image};

type Lines = Arc<Mutex<Vec<(LogStream, String)>>>;

/// The local engine, or `None` (test skipped) when none answers outside CI.
async fn engine(test: &str) -> Option<Docker> {
    match super::engine::connect(super::config::DEFAULT_DOCKER_URL).await {
        Ok(d) => {
            if let Err(e) = tokio::task::spawn_blocking(ensure_test_image).await.unwrap() {
                panic!("{IMAGE} is missing and could not be built: {e}");
            }
            Some(d)
        }
        Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("SKIPPED {test}: no Docker engine ({e})");
            None
        }
        Err(e) => panic!("CI must run the Docker tests: {e}"),
    }
}

/// A context whose run id is unique to this test process and call.
fn ctx(task: &str) -> (TaskContext, Lines) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let lines: Lines = Arc::default();
    let sink = lines.clone();
    let ctx = TaskContext {
        dag_id: "docker_tests".into(),
        run_id: format!(
            "test__{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst),
            jiff_free_nanos()
        ),
        log: LogSink::new(move |s, l| sink.lock().unwrap().push((s, l.to_string()))),
        ..TaskContext::detached(task)
    };
    (ctx, lines)
}

fn jiff_free_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(DockerOperator);
    r
}

/// Runs a config written in YAML, as the worker does with a rendered task.
async fn run(yaml: &str, ctx: TaskContext) -> Result<serde_json::Value, TaskError> {
    let node = parse_document(yaml).expect("valid YAML");
    let problems = registry().check("docker", &node, &[]);
    assert!(problems.is_empty(), "{problems:?}");
    registry().execute("docker", &node, ctx).await
}

/// Containers (any state) labelled as this task's in this run.
async fn containers_of(docker: &Docker, ctx: &TaskContext) -> Vec<String> {
    docker
        .list_containers(Some(super::container::task_containers(ctx)))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|c| c.id)
        .collect()
}

fn stdout_lines(lines: &Lines) -> Vec<String> {
    lines
        .lock()
        .unwrap()
        .iter()
        .filter(|(s, _)| *s == LogStream::Stdout)
        .map(|(_, l)| l.clone())
        .collect()
}

#[tokio::test]
async fn success_streams_both_streams_and_returns_the_output() {
    let Some(docker) = engine("success").await else { return };
    let (ctx, lines) = ctx("ok");
    let probe = ctx.clone();
    let out = run(
        &format!(
            "image: {IMAGE}\npull: never\nxcom_last_line: true\n\
             command: [sh, -c, 'echo one; echo oops >&2; echo \"$GREETING\"; printf last']\n\
             environment: {{GREETING: hello}}\n"
        ),
        ctx,
    )
    .await
    .unwrap();
    assert_eq!(out["exit_code"], 0);
    assert_eq!(out["last_line"], "last");
    assert_eq!(out["container_id"].as_str().unwrap().len(), 64);
    assert_eq!(stdout_lines(&lines), vec!["one", "hello", "last"]);
    assert!(lines.lock().unwrap().contains(&(LogStream::Stderr, "oops".into())));
    // auto_remove (the default) leaves nothing behind.
    assert!(containers_of(&docker, &probe).await.is_empty());
}

#[tokio::test]
async fn a_string_command_is_split_like_a_shell_and_auto_remove_false_keeps_the_container() {
    let Some(docker) = engine("command string").await else {
        return;
    };
    let (ctx, lines) = ctx("split");
    let probe = ctx.clone();
    let out = run(
        &format!(
            "image: {IMAGE}\nauto_remove: false\nworking_dir: /tmp\n\
             command: \"sh -c 'echo \\\"a  b\\\"; pwd'\"\n"
        ),
        ctx,
    )
    .await
    .unwrap();
    assert_eq!(stdout_lines(&lines), vec!["a  b", "/tmp"]);
    assert!(out.get("last_line").is_none());
    let left = containers_of(&docker, &probe).await;
    assert_eq!(left, vec![out["container_id"].as_str().unwrap().to_string()]);
    docker
        .remove_container(&left[0], None::<bollard::query_parameters::RemoveContainerOptions>)
        .await
        .unwrap();
}

#[tokio::test]
async fn non_zero_exit_fails_with_the_code_and_the_last_lines() {
    let Some(docker) = engine("failure").await else { return };
    let (ctx, _) = ctx("fails");
    let probe = ctx.clone();
    let err = run(
        &format!("image: {IMAGE}\ncommand: [sh, -c, 'echo reading input; echo no such file >&2; exit 3']\n"),
        ctx,
    )
    .await
    .unwrap_err();
    let TaskError::Failed(msg) = err else { panic!("{err:?}") };
    assert!(msg.starts_with("container exited with code 3"), "{msg}");
    // Both streams are in the tail (their relative order is the engine's).
    assert!(
        msg.contains("\nreading input") && msg.contains("\nno such file"),
        "{msg}"
    );
    assert!(containers_of(&docker, &probe).await.is_empty());
}

#[tokio::test]
async fn lines_arrive_while_the_container_runs_and_cancel_removes_it() {
    let Some(docker) = engine("live + cancel").await else {
        return;
    };
    let (mut ctx, _) = ctx("live");
    let (tx, mut rx) = mpsc::unbounded_channel();
    ctx.log = LogSink::new(move |s, l| {
        if s == LogStream::Stdout {
            let _ = tx.send(l.to_string());
        }
    });
    let probe = ctx.clone();
    let cancel = ctx.cancel.clone();
    let yaml = format!(
        "image: {IMAGE}\nauto_remove: false\n\
         command: [sh, -c, 'trap \"echo got TERM; exit 143\" TERM; echo started; sleep 300 & wait']\n"
    );
    let task = tokio::spawn(async move { run(&yaml, ctx).await });
    // Seen while the container still runs: it only ends when cancelled.
    let first = tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .expect("a line within a minute")
        .unwrap();
    assert_eq!(first, "started");
    assert_eq!(containers_of(&docker, &probe).await.len(), 1);
    cancel.cancel();
    let res = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("stops within the grace period")
        .unwrap();
    assert_eq!(res.unwrap_err(), TaskError::Cancelled);
    // It got SIGTERM, and what it wrote while stopping is in the log.
    let mut rest = Vec::new();
    while let Ok(l) = rx.try_recv() {
        rest.push(l);
    }
    assert_eq!(rest, vec!["got TERM"]);
    // Removed even with auto_remove: false.
    assert!(containers_of(&docker, &probe).await.is_empty());
}

#[tokio::test]
async fn a_bind_mount_receives_what_the_container_writes() {
    let Some(_docker) = engine("bind mount").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _) = ctx("mount");
    run(
        &format!(
            "image: {IMAGE}\ncommand: [sh, -c, 'echo written > /out/result.txt; ls /config']\n\
             mounts:\n  - {{source: '{}', target: /out}}\n  - {{source: '{}', target: /config, read_only: true}}\n  - {{type: tmpfs, target: /scratch, size: 1m}}\n",
            dir.path().display(),
            dir.path().display()
        ),
        ctx,
    )
    .await
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("result.txt")).unwrap(),
        "written\n"
    );
}

#[tokio::test]
async fn a_read_only_mount_cannot_be_written() {
    let Some(_docker) = engine("read-only mount").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _) = ctx("ro");
    let err = run(
        &format!(
            "image: {IMAGE}\ncommand: [sh, -c, 'echo x > /in/f']\nmounts: [{{source: '{}', target: /in, read_only: true}}]\n",
            dir.path().display()
        ),
        ctx,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("Read-only file system"), "{err}");
}

#[tokio::test]
async fn a_missing_bind_source_is_named() {
    let Some(_docker) = engine("bad bind source").await else {
        return;
    };
    let (ctx, _) = ctx("badmount");
    let err = run(
        &format!("image: {IMAGE}\ncommand: [true]\nmounts: [{{source: /no/such/updraft-dir, target: /x}}]\n"),
        ctx,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "bind mount source `/no/such/updraft-dir` does not exist on the Docker host"
    );
}

#[tokio::test]
async fn pull_never_with_a_missing_image_says_so() {
    let Some(_docker) = engine("pull never").await else {
        return;
    };
    let (ctx, _) = ctx("nopull");
    let err = run("image: updraft-test-no-such-image:v1\npull: never\n", ctx)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "image `updraft-test-no-such-image:v1` is not on the Docker host and `pull: never` forbids pulling it"
    );
}

#[tokio::test]
async fn an_unreachable_engine_is_named_by_its_url() {
    // No engine needed: nothing answers at these addresses.
    let (ctx, _) = ctx("unreachable");
    let err = run(
        "image: x\ndocker_url: unix:///nonexistent/updraft/docker.sock\n",
        ctx.clone(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot reach the Docker engine at unix:///nonexistent/updraft/docker.sock: no socket at /nonexistent/updraft/docker.sock"
    );
    let err = run("image: x\ndocker_url: tcp://127.0.0.1:1\n", ctx).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("cannot reach the Docker engine at tcp://127.0.0.1:1: "),
        "{msg}"
    );
    assert!(msg.to_lowercase().contains("refused"), "{msg}");
}

#[tokio::test]
async fn a_container_left_by_an_earlier_try_is_removed() {
    let Some(docker) = engine("leftover").await else { return };
    let (mut ctx, lines) = ctx("retried");
    // What a worker killed with -9 leaves: try 1's container, still running.
    let labels = HashMap::from([
        (LABEL_DAG.to_string(), ctx.dag_id.clone()),
        (LABEL_RUN.to_string(), ctx.run_id.clone()),
        (LABEL_TASK.to_string(), ctx.task_id.clone()),
        (LABEL_TRY.to_string(), "1".to_string()),
    ]);
    let old = docker
        .create_container(
            None::<bollard::query_parameters::CreateContainerOptions>,
            ContainerCreateBody {
                image: Some(IMAGE.into()),
                cmd: Some(vec!["sleep".into(), "300".into()]),
                labels: Some(labels),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    docker
        .start_container(&old, None::<bollard::query_parameters::StartContainerOptions>)
        .await
        .unwrap();
    ctx.try_number = 2;
    let probe = ctx.clone();
    run(&format!("image: {IMAGE}\ncommand: [echo, second try]\n"), ctx)
        .await
        .unwrap();
    assert!(containers_of(&docker, &probe).await.is_empty());
    let lines = lines.lock().unwrap();
    assert!(
        lines
            .iter()
            .any(|(s, l)| *s == LogStream::System && l.contains(&old[..12]) && l.contains("of try 1")),
        "{lines:?}"
    );
}

#[test]
fn validation_reports_each_mount_problem() {
    let node = parse_document(
        "image: ''\nmounts:\n  - {target: relative}\n  - {type: tmpfs, source: x, target: /t}\n  - {type: volume, target: /v, size: 1g}\ndocker_url: ftp://x\n",
    )
    .unwrap();
    let problems: Vec<String> = registry()
        .check("docker", &node, &[])
        .into_iter()
        .map(|p| p.1)
        .collect();
    assert_eq!(
        problems,
        vec![
            "`image` is empty",
            "`mounts[0]`: a bind mount needs `source`",
            "`mounts[0]`: `target` \"relative\" must be an absolute path",
            "`mounts[1]`: a tmpfs mount takes no `source`",
            "`mounts[2]`: a volume mount needs `source`",
            "`mounts[2]`: `size` applies to tmpfs mounts only",
            "invalid `docker_url` \"ftp://x\": expected unix:///path/to/docker.sock or tcp://host:port (TLS is not supported)",
        ]
    );
}

#[test]
fn templated_sizes_and_counts_pass_the_load_check() {
    let node = parse_document(
        "image: \"{{ var.value.image }}\"\nmemory: \"{{ params.mem }}\"\ncpus: 1.5\ngpus: all\nshm_size: 2g\n",
    )
    .unwrap();
    assert!(registry().check("docker", &node, &[]).is_empty());
    for (bad, says) in [
        ("memory: lots", "\"lots\" is not a size (e.g. 512m, 4g)"),
        ("gpus: 0", "gpus: 0 must be positive"),
        ("gpus: some", "\"some\" is not `all` or a positive number of GPUs"),
        ("cpus: -1", "-1 must be positive"),
    ] {
        let node = parse_document(&format!("image: x\n{bad}\n")).unwrap();
        let problems: Vec<String> = registry()
            .check("docker", &node, &[])
            .into_iter()
            .map(|p| p.1)
            .collect();
        assert!(problems.len() == 1 && problems[0].contains(says), "{bad}: {problems:?}");
    }
}

#[test]
fn registry_passwords_stay_out_of_debug_output() {
    let node = parse_document("image: x\nregistry: {username: u, password: hunter2}\n").unwrap();
    let cfg: super::DockerConfig = updraft_engine::yaml::from_node(&node).unwrap();
    assert!(!format!("{cfg:?}").contains("hunter2"));
}

#[tokio::test]
async fn a_program_missing_from_the_image_is_named_and_nothing_is_left() {
    let Some(docker) = engine("missing program").await else {
        return;
    };
    let (ctx, _) = ctx("noprog");
    let probe = ctx.clone();
    let err = run(&format!("image: {IMAGE}\ncommand: [/no/such/program, x]\n"), ctx)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot start `/no/such/program` in the container: no such file or directory"
    );
    assert!(containers_of(&docker, &probe).await.is_empty());
}
