//! The first user's cleaning (the example of docs/operators/transform.md)
//! as a process of its own, for timing against pandas, polars and DuckDB
//! (bench/transform/run.sh runs those):
//!
//! ```sh
//! cargo build --release -p updraft-operators --example transform_bench
//! target/release/examples/transform_bench gen /tmp/invoices.csv      # 541,909 rows, cp1252
//! /usr/bin/time -f '%e s %M KB' target/release/examples/transform_bench run /tmp/invoices.csv /tmp/out.parquet
//! ```

use std::time::Instant;

use updraft_operator_api::{LogSink, Operator, TaskContext};
use updraft_operators::transform::{TransformConfig, TransformOperator};

/// The documented example DAG (its first YAML block).
const DOC: &str = include_str!("../../docs/operators/transform.md");

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("gen") if args.len() == 3 => {
            let rows = std::env::var("ROWS").ok().and_then(|r| r.parse().ok());
            let opts = updraft_invoices::Options {
                rows: rows.unwrap_or(updraft_invoices::DEFAULT_ROWS),
                ..Default::default()
            };
            let f = std::io::BufWriter::new(std::fs::File::create(&args[2]).expect("create"));
            let s = updraft_invoices::write_csv(&opts, f).expect("write");
            eprintln!("{} rows", s.rows);
        }
        Some("run") if args.len() == 4 => run(&args[2], &args[3]),
        _ => {
            eprintln!("usage: transform_bench gen OUT.csv | run IN.csv OUT.parquet");
            std::process::exit(2);
        }
    }
}

fn run(from: &str, to: &str) {
    // The `transform_data` task of the documented DAG, reading and writing
    // local files.
    let start = DOC.find("```yaml\n").expect("a YAML example") + 8;
    let yaml = &DOC[start..start + DOC[start..].find("```").expect("a closed block")];
    let dag = updraft_engine::yaml::parse_document(yaml).expect("yaml");
    let mut task = dag
        .get("tasks")
        .and_then(|t| t.get("transform_data"))
        .expect("the task")
        .to_json();
    let fields = task.as_object_mut().expect("a mapping");
    for engine_field in ["operator", "gcp_conn_id"] {
        fields.remove(engine_field);
    }
    fields.insert("from".into(), from.into());
    fields.insert("to".into(), to.into());
    let cfg: TransformConfig = serde_json::from_value(task).expect("config");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let ctx = TaskContext {
        log: LogSink::new(|_, l| eprintln!("{l}")),
        ..TaskContext::detached("transform_bench")
    };
    let started = Instant::now();
    let out = rt.block_on(TransformOperator.execute(cfg, ctx)).expect("transform");
    println!("work_seconds={:.3}", started.elapsed().as_secs_f64());
    println!("{out}");
}
