//! Loading and validating a folder of 1,000 DAG files of 20 tasks each
//! (parse, validate fields, operator configs, graph, cron, templates).
//!
//!     cargo bench -p updraft-cli --bench dag_loading
//!
//! Prints min / median / max over several runs after a warm-up. With
//! `UPDRAFT_BENCH_WRITE=DIR` it only writes the files (for the whole-process
//! comparison in bench/dag_loading.sh).

use std::path::Path;
use std::time::{Duration, Instant};

const FILES: usize = 1000;
const TASKS: usize = 20;
const RUNS: usize = 15;

/// One DAG: three extracts, a chain of transforms, fan-out loads, a join;
/// templated shell commands, env maps, default_args, params, a cron in a
/// time zone: the shape of a real ETL file.
fn dag_yaml(i: usize) -> String {
    let mut s = format!(
        "dag_id: bench_dag_{i:04}\ndescription: generated DAG {i}\nschedule: \"{} {} * * *\"\nstart_date: 2024-11-01\ntimezone: Asia/Bangkok\ncatchup: false\nmax_active_runs: 1\ntags: [bench, etl]\nparams:\n  bucket: landing_{i}\n  table: invoices\ndefault_args:\n  retries: 2\n  retry_delay: 5m\n  execution_timeout: 30m\ntasks:\n",
        i % 60,
        i % 24
    );
    for t in 0..TASKS {
        s.push_str(&format!("  task_{t:02}:\n"));
        match t {
            0..=2 => {
                s.push_str("    operator: shell\n");
                s.push_str(&format!(
                    "    command: \"echo extract {t} for {{{{ ds }}}} into gs://{{{{ params.bucket }}}}/{{{{ ds_nodash }}}}/part_{t}.csv\"\n"
                ));
                s.push_str("    env: {SOURCE: \"{{ params.table }}\", RUN: \"{{ run_id }}\"}\n");
            }
            3 => {
                s.push_str("    operator: shell\n    depends_on: [task_00, task_01, task_02]\n");
                s.push_str("    command: |\n      echo \"transform {{ ds }}\"\n      echo \"window {{ ds_add(ds, -7) }}..{{ ds }}\"\n");
            }
            19 => {
                s.push_str("    operator: empty\n    trigger_rule: all_done\n    depends_on: [");
                let ups: Vec<String> = (10..19).map(|u| format!("task_{u:02}")).collect();
                s.push_str(&ups.join(", "));
                s.push_str("]\n");
            }
            4..=9 => {
                s.push_str(&format!("    operator: shell\n    depends_on: task_{:02}\n", t - 1));
                s.push_str(&format!("    retries: {}\n", t % 3));
                s.push_str(&format!(
                    "    command: \"echo step {t} {{{{ data_interval_start }}}} {{{{ outputs.task_03.last_line }}}}\"\n"
                ));
            }
            _ => {
                s.push_str("    operator: shell\n    depends_on: task_09\n");
                s.push_str(&format!(
                    "    command: \"echo load {t} {{{{ ts_nodash }}}} > /dev/null\"\n"
                ));
            }
        }
    }
    s
}

fn write_dags(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let files = std::env::var("UPDRAFT_BENCH_FILES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(FILES);
    for i in 0..files {
        std::fs::write(dir.join(format!("bench_dag_{i:04}.yaml")), dag_yaml(i)).unwrap();
    }
}

fn main() {
    if let Ok(dir) = std::env::var("UPDRAFT_BENCH_WRITE") {
        write_dags(Path::new(&dir));
        eprintln!("wrote {FILES} DAG files of {TASKS} tasks to {dir}");
        return;
    }
    // `cargo bench` passes `--bench`; any other argument filters by name.
    if std::env::args()
        .skip(1)
        .any(|a| a != "--bench" && !"dag_loading".contains(a.as_str()))
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_dags(dir.path());
    let registry = updraft_engine::Registry::with(updraft_operators::register_all);
    let paths = [dir.path().to_path_buf()];
    let bytes: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    let mut times: Vec<Duration> = Vec::new();
    for run in 0..RUNS + 2 {
        let start = Instant::now();
        let bag = updraft_engine::load_paths(&paths, &registry, &updraft_engine::dag::DagLimits::default());
        let took = start.elapsed();
        assert_eq!(bag.dags.len(), FILES, "{:?}", bag.diagnostics().next());
        assert!(bag.errors.is_empty());
        assert_eq!(bag.dags.values().map(|d| d.tasks.len()).sum::<usize>(), FILES * TASKS);
        if run >= 2 {
            times.push(took);
        }
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "dag_loading: {FILES} files x {TASKS} tasks ({:.1} MiB), {RUNS} runs: min {:.1} ms, median {:.1} ms, max {:.1} ms ({} threads)",
        bytes as f64 / 1048576.0,
        ms(times[0]),
        ms(times[RUNS / 2]),
        ms(times[RUNS - 1]),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
}
