//! The `docker` operator through the `updraft` binary: the repository's DAGs
//! (ml_dynamic_segment among them) validate; `tasks test` renders `{{ ds }}`
//! and variables into a container's command and environment; an
//! `execution_timeout` stops the container and leaves none behind. The
//! container tests need a Docker engine and `.ci/docker-images.sh`'s image;
//! without an engine they say they were skipped, except on CI (`CI=true`).

use std::path::Path;
use std::process::{Command, Output};

const IMAGE: &str = "updraft-test-busybox:latest";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn updraft(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_updraft"));
    c.current_dir(dir)
        .env_remove("UPDRAFT_DAGS_FOLDER")
        .env_remove("UPDRAFT_DATABASE_URL")
        .args(args);
    c
}

/// Whether a Docker engine answers; on CI it must.
fn docker_available(test: &str) -> bool {
    let ok = Command::new("docker")
        .args(["image", "inspect", IMAGE])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must run the Docker tests: no engine or no {IMAGE} (bash .ci/docker-images.sh)"
        );
        eprintln!("SKIPPED {test}: no Docker engine or no {IMAGE}");
    }
    ok
}

/// Container ids (any state) labelled with this DAG id.
fn containers_of(dag_id: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label=updraft.dag_id={dag_id}")])
        .output()
        .unwrap();
    text(&out.stdout).split_whitespace().map(str::to_string).collect()
}

fn dags_dir(yaml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("dags")).unwrap();
    std::fs::write(dir.path().join("dags/d.yaml"), yaml).unwrap();
    dir
}

#[test]
fn the_repository_dags_validate_including_ml_dynamic_segment() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out: Output = updraft(root, &["dags", "validate"]).output().unwrap();
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let out = updraft(root, &["dags", "show", "ml_dynamic_segment", "--output", "json"])
        .output()
        .unwrap();
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{shown}{}", text(&out.stderr));
    for want in ["ml_segment_service", "0 14 * * *", "docker"] {
        assert!(shown.contains(want), "{want} not in {shown}");
    }
}

#[test]
fn tasks_test_renders_ds_and_variables_into_command_and_environment() {
    if !docker_available("templating") {
        return;
    }
    let dag_id = format!("docker_tpl_{}", std::process::id());
    let dir = dags_dir(&format!(
        "dag_id: {dag_id}\nstart_date: 2024-11-01\ntasks:\n  run:\n    operator: docker\n    image: {IMAGE}\n    pull: never\n    xcom_last_line: true\n    \
         command: \"sh -c 'echo input=/data/{{{{ ds }}}}/x.parquet day=$EXEC_DATE region=$REGION'\"\n    \
         environment: {{EXEC_DATE: \"{{{{ ds_nodash }}}}\", REGION: \"{{{{ var.value.region }}}}\"}}\n"
    ));
    let out = updraft(dir.path(), &["tasks", "test", &dag_id, "run", "2024-11-05"])
        .env("UPDRAFT_VAR_REGION", "asia-southeast1")
        .output()
        .unwrap();
    let log = text(&out.stdout);
    assert!(out.status.success(), "{log}{}", text(&out.stderr));
    assert!(
        log.contains("input=/data/2024-11-05/x.parquet day=20241105 region=asia-southeast1"),
        "{log}"
    );
    assert!(containers_of(&dag_id).is_empty());
}

#[test]
fn execution_timeout_stops_the_container_and_leaves_none() {
    if !docker_available("timeout") {
        return;
    }
    let dag_id = format!("docker_timeout_{}", std::process::id());
    let dir = dags_dir(&format!(
        "dag_id: {dag_id}\nstart_date: 2024-11-01\ntasks:\n  slow:\n    operator: docker\n    image: {IMAGE}\n    pull: never\n    \
         execution_timeout: 2s\n    retries: 0\n    auto_remove: false\n    \
         command: [sh, -c, 'trap \"echo got TERM; exit 143\" TERM; echo waiting; sleep 300 & wait']\n"
    ));
    let out = updraft(dir.path(), &["tasks", "test", &dag_id, "slow", "2024-11-05"])
        .output()
        .unwrap();
    let log = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "{log}");
    assert!(log.contains("waiting"), "{log}");
    assert!(log.contains("execution_timeout of 2s exceeded"), "{log}");
    // The container got SIGTERM and was removed, auto_remove: false or not.
    assert!(log.contains("got TERM"), "{log}");
    assert!(containers_of(&dag_id).is_empty(), "{log}");
}
