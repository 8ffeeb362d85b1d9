//! Chaos: two schedulers and two workers, separate `updraft` processes on
//! one Postgres store, killed with SIGKILL at random moments (a seeded
//! RNG; the seed is printed, `UPDRAFT_CHAOS_SEED` replays it) and started
//! again, while runs of `shell` tasks append one line each to a side-effect
//! file. Then: every task instance succeeded, every run succeeded (none
//! stuck), and each task's side effect happened at least once and at most
//! twice (a try killed with its worker after its command ran is run again).
//!
//! Also: a Postgres of the test's own (initdb on a free port) stopped for
//! a few seconds in the middle of a run, then started again: the run
//! finishes, and neither process dies of it.
//!
//! The CI version is short (`UPDRAFT_CHAOS_RUNS`, `UPDRAFT_CHAOS_KILLS`
//! make it longer: `bench/chaos.sh` runs 100 kills over 2,000 tasks).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::services::PrivatePostgres;
use common::{Daemon, Env, text};
use sqlx::{Connection, Row};

/// Tasks per run: five layers of five, each task after its twin in the
/// layer before (so runs have both fan-out and chains).
const TASKS: usize = 25;

/// xorshift64*: enough randomness for when to kill what, and replayable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}={v} is not a number")))
        .unwrap_or(default)
}

/// A fresh database on the test Postgres, or `None` (skipped loudly;
/// CI must set `UPDRAFT_TEST_POSTGRES_URL`).
async fn fresh_database(prefix: &str) -> Option<String> {
    let Some(admin) = std::env::var("UPDRAFT_TEST_POSTGRES_URL")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must run the chaos test: set UPDRAFT_TEST_POSTGRES_URL"
        );
        eprintln!("SKIPPED (chaos): UPDRAFT_TEST_POSTGRES_URL is not set");
        return None;
    };
    let name = format!(
        "{prefix}_{}_{}",
        std::process::id(),
        jiff::Timestamp::now().as_millisecond() % 100_000
    );
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    Some(format!("{}/{name}", admin.rsplit_once('/').unwrap().0))
}

fn dag_yaml(effects: &Path) -> String {
    let mut yaml = "max_active_runs: 64\nmax_active_tasks: 32\ntasks:\n".to_string();
    for i in 0..TASKS {
        let after = if i >= 5 {
            format!(", depends_on: t{:02}", i - 5)
        } else {
            String::new()
        };
        // Work first, then the side effect: a kill may land on either side.
        yaml.push_str(&format!(
            "  t{i:02}: {{operator: shell, retries: 6, retry_delay: 0s{after}, \
             command: 'sleep 0.5; echo \"{{{{ run_id }}}} t{i:02}\" >> {}'}}\n",
            effects.display()
        ));
    }
    yaml
}

/// One of the chaos processes, started again after each kill.
struct Proc {
    name: String,
    args: Vec<String>,
    daemon: Option<Daemon>,
    starts: usize,
}

impl Proc {
    fn start(&mut self, e: &Env, db: &str) {
        let log = e.path().join(format!("{}-{}.log", self.name, self.starts));
        self.starts += 1;
        let child = e
            .cmd()
            .args(&self.args)
            .env("UPDRAFT_DATABASE_URL", db)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        self.daemon = Some(Daemon(Some(child), log));
    }

    fn kill(&mut self) {
        let mut d = self.daemon.take().expect("running");
        d.signal("-KILL");
        d.wait(Duration::from_secs(10));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_schedulers_and_workers_loses_no_task() {
    let Some(db) = fresh_database("chaos").await else {
        return;
    };
    let runs = env_number("UPDRAFT_CHAOS_RUNS", 20) as usize;
    let kills = env_number("UPDRAFT_CHAOS_KILLS", 12) as usize;
    let seed = env_number("UPDRAFT_CHAOS_SEED", jiff::Timestamp::now().as_nanosecond() as u64 | 1);
    eprintln!("chaos: seed {seed} (UPDRAFT_CHAOS_SEED={seed} replays it), {runs} runs of {TASKS} tasks, {kills} kills");
    let mut rng = Rng(seed);

    let e = Env::new();
    let effects = e.path().join("effects.log");
    e.write("chaos.yaml", &dag_yaml(&effects));
    let migrated = e
        .cmd()
        .args(["db", "migrate"])
        .env("UPDRAFT_DATABASE_URL", &db)
        .output()
        .unwrap();
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));

    let mut procs: Vec<Proc> = ["scheduler-a", "scheduler-b", "worker-a", "worker-b"]
        .into_iter()
        .map(|name| Proc {
            name: name.to_string(),
            args: if name.starts_with("worker") {
                vec!["worker".into(), "--slots".into(), "8".into()]
            } else {
                vec!["scheduler".into()]
            },
            daemon: None,
            starts: 0,
        })
        .collect();
    for p in &mut procs {
        p.start(&e, &db);
    }
    let started = Instant::now();
    for i in 0..runs {
        let date = format!("2024-01-01T00:{:02}:{:02}Z", i / 60, i % 60);
        let out = e
            .cmd()
            .args(["dags", "trigger", "chaos", "--logical-date", &date])
            .env("UPDRAFT_DATABASE_URL", &db)
            .output()
            .unwrap();
        assert!(out.status.success(), "trigger {i}: {}", text(&out.stderr));
    }

    // Kill one process at a random moment, start it again after a random
    // pause, until the kills are spent; at least one scheduler and one
    // worker are killed whatever the seed.
    let mut conn = sqlx::PgConnection::connect(&db).await.unwrap();
    let mut killed: BTreeMap<String, usize> = BTreeMap::new();
    let mut mid_work = 0;
    for k in 0..kills {
        std::thread::sleep(Duration::from_millis(300 + rng.below(1500)));
        let which = match k {
            0 => 0,
            1 => 2,
            _ => rng.below(procs.len() as u64) as usize,
        };
        let p = &mut procs[which];
        if unfinished_runs(&mut conn).await > 0 {
            mid_work += 1;
        }
        p.kill();
        *killed.entry(p.name.clone()).or_default() += 1;
        std::thread::sleep(Duration::from_millis(rng.below(800)));
        p.start(&e, &db);
    }
    let kills_done = started.elapsed();

    let deadline = Duration::from_secs(env_number("UPDRAFT_CHAOS_SETTLE_SECS", 120));
    let settle = Instant::now();
    loop {
        let unfinished = unfinished_runs(&mut conn).await;
        if unfinished == 0 {
            break;
        }
        assert!(
            settle.elapsed() < deadline,
            "{unfinished} run(s) stuck {deadline:?} after the last kill (seed {seed})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let total = started.elapsed();

    let states: Vec<(String, i64)> = sqlx::query("SELECT state, COUNT(*) FROM task_instances GROUP BY state")
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let run_states: Vec<(String, i64)> = sqlx::query("SELECT state, COUNT(*) FROM dag_runs GROUP BY state")
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let retried: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM task_instances WHERE try_number > 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let run_ids: Vec<String> = sqlx::query_scalar("SELECT run_id FROM dag_runs")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let tries: BTreeMap<(String, String), usize> = sqlx::query(
        "SELECT r.run_id, t.task_id, t.try_number FROM task_instances t JOIN dag_runs r ON r.id = t.run_pk",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .iter()
    .map(|r| ((r.get(0), r.get(1)), r.get::<i64, _>(2) as usize))
    .collect();

    // Side effects, per (run, task).
    let log = std::fs::read_to_string(&effects).unwrap_or_default();
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for line in log.lines() {
        let (run, task) = line.rsplit_once(' ').unwrap_or_else(|| panic!("odd line {line:?}"));
        *counts.entry((run.to_string(), task.to_string())).or_default() += 1;
    }
    let expected = runs * TASKS;
    let mut lost = 0;
    let mut twice = 0;
    let mut more = Vec::new();
    let mut beyond_tries = Vec::new();
    for run in &run_ids {
        for i in 0..TASKS {
            let key = (run.clone(), format!("t{i:02}"));
            let n = counts.get(&key).copied().unwrap_or(0);
            let tried = tries.get(&key).copied().unwrap_or(0);
            match n {
                0 => lost += 1,
                1 => {}
                2 => twice += 1,
                _ => more.push(format!("{run} t{i:02}: {n} side effects in {tried} tries")),
            }
            if n > tried {
                beyond_tries.push(format!("{run} t{i:02}: {n} side effects in {tried} tries"));
            }
        }
    }
    let kills_total: usize = killed.values().sum();
    // A live worker never has a try taken away here (no user clears, and a
    // live worker is not reaped): such a warning is a false alarm.
    let mut alarms = Vec::new();
    for entry in std::fs::read_dir(e.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("worker") {
            let log = std::fs::read_to_string(&path).unwrap();
            alarms.extend(
                log.lines()
                    .filter(|l| l.contains("taken away"))
                    .map(|l| format!("{name}: {l}")),
            );
        }
    }
    eprintln!(
        "chaos: seed {seed}: {kills_total} kills survived {killed:?} ({mid_work} with runs unfinished) in {:.1}s, all done {:.1}s after the start; \
         task instances {states:?}, runs {run_states:?}; {retried} tasks ran more than one try; \
         side effects: {} lines for {expected} tasks, {lost} lost, {twice} twice, {} more than twice; \
         {} 'taken away' warnings",
        kills_done.as_secs_f64(),
        total.as_secs_f64(),
        log.lines().count(),
        more.len(),
        alarms.len()
    );
    assert_eq!(run_ids.len(), runs, "runs created");
    assert_eq!(states, vec![("success".to_string(), expected as i64)], "seed {seed}");
    assert_eq!(run_states, vec![("success".to_string(), runs as i64)], "seed {seed}");
    assert_eq!(lost, 0, "tasks lost (seed {seed})");
    // Each try runs its command at most once: a side effect more than its
    // tries would be a try given to two workers.
    assert!(
        beyond_tries.is_empty(),
        "a try ran twice (seed {seed}): {beyond_tries:#?}"
    );
    // More than twice only for a task whose try was lost with its worker
    // twice (a task's third try after two kills); said, not failed.
    if !more.is_empty() {
        eprintln!("chaos: tasks whose tries were lost with their worker more than once: {more:#?}");
    }
    assert!(alarms.is_empty(), "false alarms: {alarms:#?}");
    assert_eq!(
        counts.len(),
        expected,
        "side effects of tasks that are not in a run: {counts:?}"
    );
    // Every process is alive at the end: none died of the chaos by itself.
    for p in &mut procs {
        let d = p.daemon.as_mut().unwrap();
        assert!(
            d.0.as_mut().unwrap().try_wait().unwrap().is_none(),
            "{} exited by itself; see {}",
            p.name,
            d.1.display()
        );
    }
}

async fn unfinished_runs(conn: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM dag_runs WHERE state NOT IN ('success', 'failed')")
        .fetch_one(conn)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_finishes_when_postgres_restarts_in_its_middle() {
    let Some(pg) = PrivatePostgres::start("the Postgres restart test") else {
        return;
    };
    let db = pg.url();
    let e = Env::new();
    // A chain: the restart lands between two links, or in one.
    let mut yaml = "tasks:\n".to_string();
    for i in 0..8 {
        let after = if i > 0 {
            format!(", depends_on: t{}", i - 1)
        } else {
            String::new()
        };
        yaml.push_str(&format!(
            "  t{i}: {{operator: shell, retries: 2, retry_delay: 1s{after}, command: 'sleep 1; echo t{i}'}}\n"
        ));
    }
    e.write("chain.yaml", &yaml);
    let with_db = |args: &[&str]| e.cmd().args(args).env("UPDRAFT_DATABASE_URL", &db).output().unwrap();
    let migrated = with_db(&["db", "migrate"]);
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    let mut procs: Vec<Proc> = [
        ("scheduler", vec!["scheduler"]),
        ("worker", vec!["worker", "--slots", "4"]),
    ]
    .into_iter()
    .map(|(name, args)| Proc {
        name: name.into(),
        args: args.into_iter().map(String::from).collect(),
        daemon: None,
        starts: 0,
    })
    .collect();
    for p in &mut procs {
        p.start(&e, &db);
    }
    let out = with_db(&["dags", "trigger", "chain", "--logical-date", "2024-01-01"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut conn = sqlx::PgConnection::connect(&db).await.unwrap();
    let done = |n: i64| format!("SELECT COUNT(*) >= {n} FROM task_instances WHERE state = 'success'");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !sqlx::query_scalar::<_, bool>(sqlx::AssertSqlSafe(done(2)))
        .fetch_one(&mut conn)
        .await
        .unwrap()
    {
        assert!(Instant::now() < deadline, "the run did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(conn);
    // Down for a few seconds: longer than a heartbeat, so writes fail.
    pg.ctl("stop");
    let down = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    pg.ctl("start");
    eprintln!("postgres restart: down {:.1}s", down.elapsed().as_secs_f64());
    let mut conn = sqlx::PgConnection::connect(&db).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let state = loop {
        let state: String = sqlx::query_scalar("SELECT state FROM dag_runs")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        if state == "success" || state == "failed" || Instant::now() > deadline {
            break state;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let tasks: Vec<(String, String, i64)> =
        sqlx::query("SELECT task_id, state, try_number FROM task_instances ORDER BY task_id")
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
    eprintln!(
        "postgres restart: run {state} {:.1}s after Postgres stopped; tasks {tasks:?}",
        down.elapsed().as_secs_f64()
    );
    assert_eq!(state, "success", "{tasks:?}");
    for p in &mut procs {
        let d = p.daemon.as_mut().unwrap();
        assert!(
            d.0.as_mut().unwrap().try_wait().unwrap().is_none(),
            "{} exited when Postgres went away; see {}",
            p.name,
            d.1.display()
        );
    }
}
