//! `updraft`: the command line. Glue only: it wires the engine and the
//! operators together and prints what they return.

mod commands;
mod graph_text;
mod output;
mod settings;

use std::process::ExitCode;

use clap::Parser;

use crate::settings::{Cli, Command};

// Loading many DAG files in parallel allocates a lot; mimalloc halves the
// time glibc's allocator spends there (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let settings = cli.settings();
    let result = match cli.command {
        Command::Dags(cmd) => commands::dags::run(cmd, &settings),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("UPDRAFT_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
