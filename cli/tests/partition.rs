//! Network partition: worker A runs in a container on a Docker network of
//! the test's own and is cut off from Postgres (`docker network
//! disconnect`) while its tries run. The scheduler, on this host, reaps
//! them once A's heartbeat is older than the reaper's 10 s; worker B, on
//! this host and started only then, runs them again and they succeed. A's
//! tries then finish while it is still cut off (their side effects
//! happen: a partition cannot stop a command that runs on), and when A is
//! connected again its reports of them reach the store and are refused:
//! a report is fenced by worker and try number. The task instances keep
//! B's results.
//!
//! Printed: time to reap, rerun time, late reports refused, side effects
//! per task (at most 2: A's and B's), tasks lost (0).
//!
//! Needs a Docker engine and Postgres's binaries (initdb); without them
//! the test is skipped loudly, on CI it fails. The image is built here
//! from this machine's bash and the libraries of the `updraft` binary
//! (no registry is reachable); the binary itself is mounted.

mod common;
#[path = "../../operators/src/docker/test_image.rs"]
mod test_image;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::services::{DockerObjects, PrivatePostgres, docker, skipped};
use common::{Daemon, Env, text};
use sqlx::{Connection, Row};

const TEST: &str = "the network partition test";

/// The tasks cut off with worker A; `after` runs once they all succeeded.
const TASKS: [&str; 3] = ["p1", "p2", "p3"];

/// What worker A says when the store refuses a report of a try that is
/// no longer its own (`Worker::report`).
const REFUSED: &str = "the try was taken away meanwhile; its result is dropped";

/// A task instance as the store has it.
#[derive(Debug, Clone, PartialEq)]
struct Ti {
    state: String,
    try_number: i64,
    worker: String,
    end: Option<i64>,
    error: Option<String>,
}

/// Each try writes a start marker, waits for its go file (`go-1` for the
/// first tries, `go-2` for the reruns; at most 60 s), then appends its
/// side effect: task, try and the host it ran on.
fn dag_yaml(dir: &Path) -> String {
    let d = dir.display();
    let mut yaml = "dag_id: partition\nmax_active_tasks: 8\ntasks:\n".to_string();
    for task in TASKS {
        yaml.push_str(&format!(
            "  {task}:\n    operator: shell\n    retries: 2\n    retry_delay: 0s\n    command: |\n      \
             for ((i = 0; i < 600; i++)); do [ -e {d}/go-{{{{ try_number }}}} ] && break; sleep 0.1; done\n      \
             [ -e {d}/go-{{{{ try_number }}}} ] || exit 1\n      \
             echo \"{{{{ task_id }}}} {{{{ try_number }}}} $HOSTNAME\" >> {d}/effects\n      \
             echo \"finished try {{{{ try_number }}}}\"\n"
        ));
    }
    yaml.push_str(&format!(
        "  after:\n    operator: shell\n    depends_on: [{}]\n    command: echo \"after {{{{ try_number }}}} $HOSTNAME\" >> {d}/effects\n",
        TASKS.join(", ")
    ));
    yaml
}

/// Whether a side-effect line is of a first try of [`TASKS`] (A's).
fn first_try_of_tasks(line: &str) -> bool {
    let mut words = line.split(' ');
    words.next().is_some_and(|t| TASKS.contains(&t)) && words.next() == Some("1")
}

async fn task_instances(conn: &mut sqlx::PgConnection) -> BTreeMap<String, Ti> {
    sqlx::query("SELECT task_id, state, try_number, COALESCE(worker_id, ''), end_date, error FROM task_instances")
        .fetch_all(conn)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let ti = Ti {
                state: r.get(1),
                try_number: r.get(2),
                worker: r.get(3),
                end: r.get(4),
                error: r.get(5),
            };
            (r.get(0), ti)
        })
        .collect()
}

/// Polls the task instances until `done` holds for every task of
/// [`TASKS`], within `within`; returns them.
async fn wait_tasks(
    conn: &mut sqlx::PgConnection,
    what: &str,
    within: Duration,
    done: impl Fn(&Ti) -> bool,
) -> BTreeMap<String, Ti> {
    let deadline = Instant::now() + within;
    loop {
        let tis = task_instances(conn).await;
        if TASKS.iter().all(|t| tis.get(*t).is_some_and(&done)) {
            return tis;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {tis:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Makes the test's network on a /24 of 10.213.0.0/16 that no other
/// network holds; returns its name and the subnet's first three octets.
fn make_network(objects: &mut DockerObjects) -> (String, String) {
    let name = format!("updraft-partition-{}", std::process::id());
    let mut said = Vec::new();
    for k in 0..32u32 {
        let prefix = format!("10.213.{}", (std::process::id() + k * 7) % 250 + 1);
        let subnet = format!("{prefix}.0/24");
        match docker(&[
            "network",
            "create",
            "--subnet",
            &subnet,
            "--label",
            "updraft.test=partition",
            &name,
        ]) {
            Ok(_) => {
                objects.networks.push(name.clone());
                return (name, prefix);
            }
            Err(e) => said.push(e),
        }
    }
    panic!("no free subnet for the test's network: {said:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_worker_is_reaped_rerun_elsewhere_and_its_late_reports_refused() {
    let started = Instant::now();
    if !test_image::engine_answers() {
        skipped(TEST, "no Docker engine answers");
        return;
    }
    let mut objects = DockerObjects::default();
    let (network, prefix) = make_network(&mut objects);
    let gateway = format!("{prefix}.1");
    let a_ip = format!("{prefix}.10");
    let Some(pg) = PrivatePostgres::start_reachable(TEST, &[&gateway], Some(&format!("{prefix}.0/24"))) else {
        return;
    };
    let db = pg.url();
    let bin = Path::new(env!("CARGO_BIN_EXE_updraft"));
    let image = format!("updraft-partition-test:{}", std::process::id());
    test_image::build_image(&image, &["bash", "sh", "sleep", "cat"], &[bin])
        .unwrap_or_else(|e| panic!("building {image}: {e}"));
    objects.images.push(image.clone());

    let e = Env::new();
    let dir = e.path().to_path_buf();
    e.write("partition.yaml", &dag_yaml(&dir));
    let with_db = |args: &[&str]| e.cmd().args(args).env("UPDRAFT_DATABASE_URL", &db).output().unwrap();
    let migrated = with_db(&["db", "migrate"]);
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    let daemon = |name: &str, args: &[&str]| {
        let log = dir.join(format!("{name}.log"));
        let child = e
            .cmd()
            .args(args)
            .env("UPDRAFT_DATABASE_URL", &db)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon(Some(child), log)
    };
    let _scheduler = daemon("scheduler", &["scheduler"]);

    // Worker A: the test's folder at the same path (the side effects and
    // go files), the binary mounted, Postgres through the gateway.
    let a_log = dir.join("worker-a.log");
    let container = format!("updraft-partition-a-{}", std::process::id());
    let mount = format!("{}:{}", dir.display(), dir.display());
    let mount_bin = format!("{}:/bin/updraft:ro", bin.display());
    let url_env = format!("UPDRAFT_DATABASE_URL={}", pg.url_at(&gateway));
    let run = format!("exec /bin/updraft worker --slots 4 2>>{}", a_log.display());
    objects.containers.push(container.clone());
    docker(&[
        "run",
        "-d",
        "--name",
        &container,
        "--label",
        "updraft.test=partition",
        "--network",
        &network,
        "--ip",
        &a_ip,
        "-v",
        &mount,
        "-v",
        &mount_bin,
        "-w",
        &dir.display().to_string(),
        "-e",
        &url_env,
        "-e",
        "RUST_LOG=info",
        &image,
        "/bin/sh",
        "-c",
        &run,
    ])
    .unwrap();
    let a_host = docker(&["inspect", "-f", "{{.Config.Hostname}}", &container]).unwrap();
    let a_said = || std::fs::read_to_string(&a_log).unwrap_or_default();

    let out = with_db(&["dags", "trigger", "partition", "--logical-date", "2024-01-01"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut conn = sqlx::PgConnection::connect(&db).await.unwrap();

    // A runs the three tries (each waits for go-1).
    let tis = wait_tasks(&mut conn, "worker A to run the tasks", Duration::from_secs(30), |t| {
        t.state == "running" && t.try_number == 1
    })
    .await;
    let a_id = tis[TASKS[0]].worker.clone();
    assert!(
        a_id.starts_with(&a_host),
        "A's id {a_id} is not of its container {a_host}: {tis:#?}"
    );
    assert!(
        tis.values().filter(|t| t.try_number == 1).all(|t| t.worker == a_id),
        "{tis:#?}"
    );

    // The partition.
    docker(&["network", "disconnect", &network, &container]).unwrap();
    let cut = Instant::now();

    // Reaped: no heartbeat from A for 10 s.
    let reaped = wait_tasks(
        &mut conn,
        "the scheduler to reap A's tries",
        Duration::from_secs(30),
        |t| t.try_number > 1 || matches!(t.state.as_str(), "up_for_retry" | "queued"),
    )
    .await;
    let to_reap = cut.elapsed();
    for (task, ti) in reaped.iter().filter(|(t, _)| TASKS.contains(&t.as_str())) {
        assert!(
            ti.try_number > 1 || ti.error.as_deref().is_some_and(|e| e.contains("no heartbeat")),
            "{task}: {ti:?}"
        );
    }

    // Worker B, on this host, started only now: the reruns are its.
    let b = daemon("worker-b", &["worker", "--slots", "4"]);
    let b_start = Instant::now();
    let rerun = wait_tasks(&mut conn, "worker B to rerun the tasks", Duration::from_secs(30), |t| {
        t.state == "running" && t.try_number == 2 && t.worker != a_id
    })
    .await;
    let b_id = rerun[TASKS[0]].worker.clone();
    std::fs::write(dir.join("go-2"), "").unwrap();
    let succeeded = wait_tasks(&mut conn, "B's reruns to succeed", Duration::from_secs(30), |t| {
        t.state == "success" && t.try_number == 2 && t.worker == b_id
    })
    .await;
    let rerun_time = b_start.elapsed();

    // A's tries finish while A is still cut off: their side effects happen.
    std::fs::write(dir.join("go-1"), "").unwrap();
    let effects = || std::fs::read_to_string(dir.join("effects")).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(30);
    while effects().lines().filter(|l| first_try_of_tasks(l)).count() < TASKS.len() {
        assert!(
            Instant::now() < deadline,
            "A's tries did not finish: {}\n{}",
            effects(),
            a_said()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let partitioned_for = cut.elapsed();
    let networks = docker(&["inspect", "-f", "{{json .NetworkSettings.Networks}}", &container]).unwrap();
    assert!(
        !networks.contains(&network),
        "A was connected again too early: {networks}"
    );

    // Connected again, at the same address: A's reports now reach the
    // store, which refuses them.
    docker(&["network", "connect", "--ip", &a_ip, &network, &container]).unwrap();
    let healed = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    while a_said().matches(REFUSED).count() < TASKS.len() {
        assert!(
            Instant::now() < deadline,
            "A's late reports were not refused within 60 s of reconnecting:\n{}",
            a_said()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused_after = healed.elapsed();

    // The run ends with `after`, which B (or A, now back) runs.
    let deadline = Instant::now() + Duration::from_secs(30);
    let run_state = loop {
        let state: String = sqlx::query_scalar("SELECT state FROM dag_runs")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        if state == "success" || state == "failed" {
            break state;
        }
        assert!(Instant::now() < deadline, "the run did not end: {state}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let end = task_instances(&mut conn).await;
    // A's last log lines, written while it was cut off: stored once it is
    // back (said, not required: a store that cannot be written drops lines
    // rather than hold them without bound).
    let late_lines: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM task_logs WHERE try_number = 1 AND line = 'finished try 1'")
            .fetch_one(&mut conn)
            .await
            .unwrap();

    // Side effects per task, and where they ran.
    let effects = effects();
    let mut per_task: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in effects.lines() {
        let mut words = line.split(' ');
        let (task, try_, host) = (words.next().unwrap(), words.next().unwrap(), words.next().unwrap_or(""));
        let on = if host == a_host { "A" } else { "B" };
        per_task
            .entry(task.to_string())
            .or_default()
            .push(format!("try {try_} on {on}"));
    }
    let lost: Vec<&str> = TASKS
        .iter()
        .chain(std::iter::once(&"after"))
        .copied()
        .filter(|t| !per_task.contains_key(*t) || end.get(*t).is_none_or(|ti| ti.state != "success"))
        .collect();
    let refused = a_said().matches(REFUSED).count();
    let gave_up = a_said().matches("it will be reaped and retried").count();
    let most = per_task.values().map(Vec::len).max().unwrap_or(0);
    eprintln!(
        "partition: reaped {:.1}s after the cut (reaper: 10 s without a heartbeat); reran on B in {:.1}s; \
         A cut off for {:.1}s; {refused} late reports refused {:.1}s after reconnecting ({gave_up} given up), \
         {late_lines} of A's late log lines stored; side effects per task {per_task:?} (at most {most}); \
         {} tasks lost; run {run_state}; {:.1}s in all",
        to_reap.as_secs_f64(),
        rerun_time.as_secs_f64(),
        partitioned_for.as_secs_f64(),
        refused_after.as_secs_f64(),
        lost.len(),
        started.elapsed().as_secs_f64(),
    );

    assert_eq!(run_state, "success", "{end:#?}");
    assert!(lost.is_empty(), "tasks lost: {lost:?}\n{effects}\n{end:#?}");
    assert_eq!(refused, TASKS.len(), "{}", a_said());
    assert_eq!(
        gave_up,
        0,
        "A gave a report up instead of having it refused:\n{}",
        a_said()
    );
    for task in TASKS {
        // The rerun's result stands: A's late report changed nothing.
        assert_eq!(end[task], succeeded[task], "{task}: A's late report overwrote B's");
        let effects = &per_task[task];
        assert_eq!(
            effects.iter().filter(|e| *e == "try 1 on A").count(),
            1,
            "{task}: {effects:?}"
        );
        assert_eq!(
            effects.iter().filter(|e| *e == "try 2 on B").count(),
            1,
            "{task}: {effects:?}"
        );
        assert!(effects.len() <= 2, "{task}: {effects:?}");
    }
    assert_eq!(per_task["after"].len(), 1, "{effects}");
    assert!(end["after"].try_number == 1, "{end:#?}");
    drop(b);
}
