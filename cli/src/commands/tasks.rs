//! `updraft tasks list | logs | test`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use serde_json::json;
use updraft_engine::store::{LogLine, Store, TaskInstance};

use crate::output::{Format, print_table, utc};
use crate::settings::Settings;
use crate::store::{open, runtime};

#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// The task instances of a run: task id, state, try, start, end.
    List {
        dag_id: String,
        run_id: String,
        #[arg(long, value_enum, default_value_t)]
        output: Format,
    },
    /// A task's log (the latest try unless --try), optionally following it
    /// until the try ends.
    Logs {
        dag_id: String,
        run_id: String,
        task_id: String,
        #[arg(long = "try")]
        try_number: Option<u32>,
        #[arg(long, short)]
        follow: bool,
    },
    /// Run one task now, in this process, without its dependencies, and
    /// print its log. Nothing is written to the state store.
    Test {
        dag_id: String,
        task_id: String,
        /// The logical date to run it for (RFC 3339, or a date).
        #[arg(value_parser = crate::args::date)]
        logical_date: String,
    },
}

pub fn run(cmd: TasksCommand, settings: &Settings) -> Result<ExitCode> {
    runtime()?.block_on(async {
        match cmd {
            TasksCommand::List { dag_id, run_id, output } => list(settings, &dag_id, &run_id, output).await,
            TasksCommand::Logs {
                dag_id,
                run_id,
                task_id,
                try_number,
                follow,
            } => logs(settings, &dag_id, &run_id, &task_id, try_number, follow).await,
            TasksCommand::Test {
                dag_id,
                task_id,
                logical_date,
            } => super::testing::test_task(settings, &dag_id, &task_id, &logical_date).await,
        }
    })
}

async fn task_instances(store: &Store, dag_id: &str, run_id: &str) -> Result<Vec<TaskInstance>> {
    let run = store
        .get_run(dag_id, run_id)
        .await?
        .with_context(|| format!("no run `{run_id}` of DAG `{dag_id}` (see `updraft runs list {dag_id}`)"))?;
    Ok(store.task_instances(run.id).await?)
}

async fn list(settings: &Settings, dag_id: &str, run_id: &str, output: Format) -> Result<ExitCode> {
    let store = open(settings).await?;
    let tis = task_instances(&store, dag_id, run_id).await?;
    let opt = |t: Option<jiff::Timestamp>| t.map(utc);
    match output {
        Format::Json => {
            let opt = |t: Option<jiff::Timestamp>| t.map(crate::output::utc_ms);
            let items: Vec<_> = tis
                .iter()
                .map(|t| {
                    json!({
                        "task_id": t.task_id,
                        "state": t.state.as_str(),
                        "try_number": t.try_number,
                        "max_tries": t.max_tries,
                        "start_date": opt(t.start_date),
                        "end_date": opt(t.end_date),
                        "worker": t.worker_id,
                        "error": t.error,
                    })
                })
                .collect();
            crate::outln!("{}", serde_json::Value::Array(items));
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = tis
                .iter()
                .map(|t| {
                    let duration = match (t.start_date, t.end_date) {
                        (Some(s), Some(e)) => format!("{:.2}s", e.duration_since(s).as_secs_f64()),
                        _ => "-".into(),
                    };
                    vec![
                        t.task_id.clone(),
                        t.state.to_string(),
                        t.try_number.to_string(),
                        opt(t.start_date).unwrap_or_else(|| "-".into()),
                        opt(t.end_date).unwrap_or_else(|| "-".into()),
                        duration,
                    ]
                })
                .collect();
            print_table(&["TASK_ID", "STATE", "TRY", "START", "END", "DURATION"], &rows);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn print_line(l: &LogLine) {
    crate::outln!("{} {:<6} {}", l.at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"), l.stream, l.line);
}

async fn logs(
    settings: &Settings,
    dag_id: &str,
    run_id: &str,
    task_id: &str,
    try_number: Option<u32>,
    follow: bool,
) -> Result<ExitCode> {
    let store = open(settings).await?;
    let find = async || -> Result<TaskInstance> {
        let tis = task_instances(&store, dag_id, run_id).await?;
        let names: Vec<&str> = tis.iter().map(|t| t.task_id.as_str()).collect();
        match tis.iter().find(|t| t.task_id == task_id) {
            Some(t) => Ok(t.clone()),
            None => bail!(
                "no task `{task_id}` in run `{run_id}`{}",
                updraft_engine::suggest::did_you_mean(task_id, names.iter().copied())
            ),
        }
    };
    let ti = find().await?;
    let try_number = try_number.unwrap_or(ti.try_number.max(1));
    if try_number > ti.try_number.max(1) {
        bail!("task `{task_id}` has had {} tries so far", ti.try_number);
    }
    let mut seen = 0;
    loop {
        let lines = store.read_logs(ti.id, try_number, seen, 1000).await?;
        for l in &lines {
            print_line(l);
        }
        if let Some(last) = lines.last() {
            seen = last.seq;
            continue;
        }
        if !follow {
            break;
        }
        let now = find().await?;
        let finished = now.try_number > try_number
            || (now.try_number == try_number
                && !matches!(
                    now.state,
                    updraft_engine::store::TaskState::Running | updraft_engine::store::TaskState::Queued
                ));
        if finished && store.read_logs(ti.id, try_number, seen, 1).await?.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(ExitCode::SUCCESS)
}
