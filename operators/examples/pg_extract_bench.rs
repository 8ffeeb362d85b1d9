//! `postgres_extract` as a process of its own, for timing beside
//! `psql -c "\copy (...) to FILE csv header"` (bench/postgres_extract.sh):
//!
//! ```sh
//! cargo build --release -p updraft-operators --example pg_extract_bench
//! target/release/examples/pg_extract_bench postgres://u@host/db "SELECT * FROM invoices" /tmp/out.csv
//! ```
//!
//! The format follows the destination's extension (`.parquet`: Parquet).

use std::collections::BTreeMap;
use std::sync::Arc;

use updraft_operator_api::{LogSink, Operator, TaskContext};
use updraft_operators::postgres::extract::{ExtractConfig, PostgresExtract};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, sql, to] = args.as_slice() else {
        eprintln!("usage: pg_extract_bench POSTGRES_URL SQL OUT.csv|OUT.parquet");
        std::process::exit(2);
    };
    let cfg: ExtractConfig =
        serde_json::from_value(serde_json::json!({"conn_id": "pg", "sql": sql, "to": to})).expect("config");
    let mut conns = BTreeMap::new();
    conns.insert(
        "pg".to_string(),
        updraft_engine::connection_uri::parse_uri(url).expect("a postgres:// URL"),
    );
    let ctx = TaskContext {
        log: LogSink::new(|_, l| eprintln!("{l}")),
        connections: Arc::new(conns),
        ..TaskContext::detached("pg_extract_bench")
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let out = rt.block_on(PostgresExtract.execute(cfg, ctx)).expect("extract");
    println!("{out}");
}
