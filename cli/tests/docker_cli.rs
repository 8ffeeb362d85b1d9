//! The `docker` operator through the `updraft` binary: the repository's DAGs
//! (ml_dynamic_segment among them) validate; `tasks test` renders `{{ ds }}`
//! and variables into a container's command and environment; an
//! `execution_timeout` stops the container and leaves none behind. The
//! container tests need a Docker engine (they build their image from this
//! machine's programs, `test_image.rs`); without an engine they say they were skipped, except on CI (`CI=true`).

use std::path::Path;
use std::process::{Command, Output};

#[path = "../../operators/src/docker/test_image.rs"]
mod test_image;
use test_image::{TEST_IMAGE as IMAGE, engine_answers, ensure_test_image};

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

/// Whether a Docker engine answers (then the test image is built if
/// missing); on CI it must.
fn docker_available(test: &str) -> bool {
    if !engine_answers() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must run the Docker tests: no Docker engine answers"
        );
        eprintln!("SKIPPED {test}: no Docker engine answers");
        return false;
    }
    if let Err(e) = ensure_test_image() {
        panic!("{IMAGE} is missing and could not be built: {e}");
    }
    true
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

#[test]
fn ml_dynamic_segment_runs_end_to_end_with_a_stand_in_image() {
    if !docker_available("ml_dynamic_segment") {
        return;
    }
    // The DAG's image name, built from variables, tagged locally: the test
    // image with an entrypoint that shows its arguments, its environment and
    // the mounted gcloud folder.
    let project = format!("updraft-test-{}", std::process::id());
    let image = format!("europe-west1-docker.pkg.dev/{project}/repo/ecomm/interpretable-dynamic-rfm-service:v5");
    let entrypoint = r#"ENTRYPOINT ["/bin/sh", "-c", "echo args: $*; echo project=$GOOGLE_CLOUD_PROJECT; cat /root/.config/gcloud/adc.json; touch /root/.config/gcloud/x 2>/dev/null || echo read-only", "job"]"#;
    let made = Command::new("sh")
        .args([
            "-c",
            &format!(
                "id=$(docker create {IMAGE}) && docker export \"$id\" | docker import -c '{entrypoint}' - {image} >/dev/null; s=$?; docker rm \"$id\" >/dev/null; exit $s"
            ),
        ])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made.stderr));

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dir = dags_dir(&std::fs::read_to_string(root.join("dags/ml_dynamic_segment.yaml")).unwrap());
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join(".config/gcloud")).unwrap();
    std::fs::write(
        home.join(".config/gcloud/adc.json"),
        "{\"type\": \"authorized_user\"}\n",
    )
    .unwrap();
    let out = updraft(
        dir.path(),
        &[
            "tasks",
            "test",
            "ml_dynamic_segment",
            "ml_segment_service",
            "2024-11-05",
        ],
    )
    .env("HOME", &home)
    .env("UPDRAFT_VAR_REGION", "europe-west1")
    .env("UPDRAFT_VAR_PROJECT_ID", &project)
    .env("UPDRAFT_VAR_GAR_REPO", "repo")
    .env("UPDRAFT_VAR_GCS", r#"{"landing": "land-bkt", "staging": "stage-bkt"}"#)
    .output()
    .unwrap();
    let _ = Command::new("docker").args(["rmi", &image]).output();
    let log = text(&out.stdout);
    assert!(out.status.success(), "{log}{}", text(&out.stderr));
    let want = format!(
        "args: --env gcp --project_id {project} --method filesystem \
         --input_path gs://land-bkt/input/data/2024-11-05/ecomm_invoice_transaction.parquet \
         --output_path gs://stage-bkt/output --exec_date 2024-11-05"
    );
    for line in [
        want.as_str(),
        &format!("project={project}"),
        "{\"type\": \"authorized_user\"}",
        "read-only",
    ] {
        assert!(log.contains(line), "{line:?} not in:\n{log}");
    }
    assert!(containers_of("ml_dynamic_segment").is_empty());
}
