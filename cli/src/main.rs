//! `updraft`: the command line. Glue only: it wires the engine and the
//! operators together and prints what they return.

mod args;
mod commands;
mod graph_text;
mod output;
mod settings;
mod store;

use std::process::ExitCode;

use clap::Parser;

use crate::settings::{Cli, Command};

// The system allocator, on purpose: mimalloc loaded 1,000 DAG files ~10 %
// faster but kept up to twice the memory of a task (a 1 GiB upload peaked
// at 112 MB against 61 MB, the cleaning at 194 MB against 120 MB) and was
// no faster at moving data (BENCHMARKS.md, "Allocator").

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Long-running processes say what they do; one-shot commands only warn.
    let serving = matches!(
        cli.command,
        Command::Standalone { .. } | Command::Scheduler | Command::Worker { .. } | Command::Web { .. }
    );
    init_tracing(if serving {
        "warn,updraft_engine=info,updraft_cli=info,updraft_web=info"
    } else {
        "warn"
    });
    let settings = cli.settings();
    let result = match cli.command {
        Command::Dags(cmd) => commands::dags::run(cmd, &settings),
        Command::Runs(cmd) => commands::runs::run(cmd, &settings),
        Command::Tasks(cmd) => commands::tasks::run(cmd, &settings),
        Command::Db(cmd) => commands::db::run(cmd, &settings),
        Command::Connections(cmd) => commands::secrets::connections(cmd, &settings),
        Command::Variables(cmd) => commands::secrets::variables(cmd, &settings),
        Command::Secrets(cmd) => commands::secret_key::run(cmd, &settings),
        Command::Standalone { bind, slots } => commands::serve::standalone(&settings, &bind, slots),
        Command::Scheduler => commands::serve::scheduler(&settings),
        Command::Web { bind } => commands::serve::web(&settings, &bind),
        Command::Users(cmd) => commands::users::run(cmd, &settings),
        Command::Backfill {
            dag_id,
            start,
            end,
            reprocess,
            max_active_runs,
            dry_run,
        } => {
            let args = commands::backfill::BackfillArgs {
                dag_id,
                start,
                end,
                reprocess,
                max_active_runs,
                dry_run,
            };
            store::runtime().and_then(|rt| rt.block_on(commands::backfill::backfill(&settings, args)))
        }
        Command::Worker { slots } => commands::serve::worker(&settings, slots),
        Command::Dev(cmd) => commands::dev::run(cmd),
    };
    finish(result)
}

fn finish(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each once: database errors repeat their
/// cause in their own text ("error communicating with database: Connection
/// refused: Connection refused"), so a cause already said is not said again.
fn chain(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

fn init_tracing(default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("UPDRAFT_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only on a terminal: a log file or journald gets plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
}
