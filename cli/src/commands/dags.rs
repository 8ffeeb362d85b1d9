//! `updraft dags ...`: validate, list, show, plan.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};
use jiff::Timestamp;
use serde_json::json;
use updraft_engine::duration::format_duration;
use updraft_engine::time::parse_instant;
use updraft_engine::{Dag, DagBag, load_paths};

use updraft_engine::runtime::create_run;
use updraft_engine::store::{RunState, RunType, Store};

use crate::graph_text;
use crate::output::{Format, local, print_table, utc};
use crate::settings::Settings;
use crate::store::{open, runtime};

#[derive(Debug, Subcommand)]
pub enum DagsCommand {
    /// Check DAG files and report every problem, one per line
    /// (`path:line:column: message`). Exits 1 if any file is invalid.
    Validate {
        /// Files or folders to check [default: the DAGs folder]
        paths: Vec<PathBuf>,
    },
    /// List the DAGs: id, schedule, next run, tags, file.
    List {
        #[arg(long, value_enum, default_value_t)]
        output: Format,
    },
    /// Show a DAG: its settings, tasks, edges and a drawing of the graph.
    Show {
        dag_id: String,
        #[arg(long, value_enum, default_value_t)]
        output: ShowFormat,
    },
    /// Print the runs whose logical date lies in [START, END], as a backfill
    /// of that range would create them.
    Plan {
        dag_id: String,
        /// First logical date: an RFC 3339 instant, or a date (00:00 in the
        /// DAG's time zone).
        #[arg(long, value_parser = crate::args::date)]
        start: String,
        /// Last logical date (inclusive), same forms as --start.
        #[arg(long, value_parser = crate::args::date)]
        end: String,
        #[arg(long, value_enum, default_value_t)]
        output: Format,
    },
    /// Create a run now. It runs even if the DAG is paused (pausing stops
    /// only scheduled runs).
    Trigger {
        dag_id: String,
        /// The run's logical date (RFC 3339 or a date); now by default.
        #[arg(long, value_parser = crate::args::date)]
        logical_date: Option<String>,
        /// The run's conf, a JSON object (overrides `params` in templates).
        #[arg(long, value_parser = crate::args::conf)]
        conf: Option<String>,
        /// Wait until the run ends; exit 1 if it failed.
        #[arg(long)]
        wait: bool,
    },
    /// Stop creating scheduled runs.
    Pause { dag_id: String },
    /// Start creating scheduled runs.
    Unpause { dag_id: String },
    /// Run the whole DAG now, in this process, printing each task's result
    /// (like `airflow dags test`); exit 0 only if every task succeeded.
    /// Uses a private store: nothing is written to the real one.
    Test {
        dag_id: String,
        /// The logical date (RFC 3339 or a date); now by default.
        #[arg(value_parser = crate::args::date)]
        logical_date: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ShowFormat {
    #[default]
    Text,
    Json,
    /// Graphviz DOT.
    Dot,
}

pub fn run(cmd: DagsCommand, settings: &Settings) -> Result<ExitCode> {
    let registry = updraft_engine::Registry::with(updraft_operators::register_all);
    match cmd {
        DagsCommand::Validate { paths } => {
            let paths = if paths.is_empty() {
                vec![settings.dags_folder.clone()]
            } else {
                paths
            };
            validate(&load_paths(&paths, &registry, &settings.limits.dags), &paths)
        }
        DagsCommand::List { output } => {
            let bag = load_paths(
                std::slice::from_ref(&settings.dags_folder),
                &registry,
                &settings.limits.dags,
            );
            warn_broken(&bag);
            list(&bag, output);
            Ok(ExitCode::SUCCESS)
        }
        DagsCommand::Show { dag_id, output } => {
            let dag = find(settings, &registry, &dag_id)?;
            show(&dag, output)?;
            Ok(ExitCode::SUCCESS)
        }
        DagsCommand::Plan {
            dag_id,
            start,
            end,
            output,
        } => {
            let dag = find(settings, &registry, &dag_id)?;
            plan(&dag, &start, &end, output)?;
            Ok(ExitCode::SUCCESS)
        }
        DagsCommand::Trigger {
            dag_id,
            logical_date,
            conf,
            wait,
        } => runtime()?.block_on(trigger(
            settings,
            &dag_id,
            logical_date.as_deref(),
            conf.as_deref(),
            wait,
        )),
        DagsCommand::Pause { dag_id } => runtime()?.block_on(set_paused(settings, &dag_id, true)),
        DagsCommand::Unpause { dag_id } => runtime()?.block_on(set_paused(settings, &dag_id, false)),
        DagsCommand::Test { dag_id, logical_date } => {
            runtime()?.block_on(super::testing::test_dag(settings, &dag_id, logical_date.as_deref()))
        }
    }
}

/// Loads a DAG from the folder and records its current version.
async fn sync(settings: &Settings, store: &Store, dag_id: &str) -> Result<(Arc<Dag>, i64)> {
    let dag = find(
        settings,
        &updraft_engine::Registry::with(updraft_operators::register_all),
        dag_id,
    )?;
    let version = store
        .sync_dag(
            dag_id,
            &dag.file.display().to_string(),
            &dag.source,
            settings.dags_paused_at_creation,
        )
        .await?;
    Ok((dag, version))
}

async fn trigger(
    settings: &Settings,
    dag_id: &str,
    logical_date: Option<&str>,
    conf: Option<&str>,
    wait: bool,
) -> Result<ExitCode> {
    let store = open(settings).await?;
    let (dag, version) = sync(settings, &store, dag_id).await?;
    let at = logical_date
        .map(|t| {
            parse_instant(t, dag.tz())
                .map_err(anyhow::Error::msg)
                .context("--logical-date")
        })
        .transpose()?;
    let conf = match conf {
        None => serde_json::Map::new(),
        Some(text) => match serde_json::from_str(text) {
            Ok(serde_json::Value::Object(m)) => m,
            Ok(_) => bail!("--conf must be a JSON object, like '{{\"key\": \"value\"}}'"),
            Err(e) => bail!("--conf is not valid JSON: {e}"),
        },
    };
    let Some(run) = create_run(&store, &dag, version, RunType::Manual, at, conf).await? else {
        bail!("DAG `{dag_id}` already has a run at that logical date (see `updraft runs list {dag_id}`)");
    };
    crate::outln!("{}", run.run_id);
    if !wait {
        return Ok(ExitCode::SUCCESS);
    }
    let end = loop {
        let r = store.get_run_by_pk(run.id).await?.context("the run vanished")?;
        if r.state.is_finished() {
            break r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    eprintln!("run {}: {}", end.run_id, end.state);
    Ok(if end.state == RunState::Success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn set_paused(settings: &Settings, dag_id: &str, paused: bool) -> Result<ExitCode> {
    let store = open(settings).await?;
    if store.get_dag(dag_id).await?.is_none() {
        sync(settings, &store, dag_id).await?;
    }
    store.set_paused(dag_id, paused).await?;
    crate::outln!("{dag_id}: {}", if paused { "paused" } else { "unpaused" });
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn find(settings: &Settings, registry: &updraft_engine::Registry, dag_id: &str) -> Result<Arc<Dag>> {
    let bag = load_paths(
        std::slice::from_ref(&settings.dags_folder),
        registry,
        &settings.limits.dags,
    );
    if let Some(dag) = bag.dags.get(dag_id) {
        return Ok(dag.clone());
    }
    // A broken file may be the one defining it: say so rather than "not found".
    for diags in bag.errors.values() {
        for d in diags {
            let stem = d.file.file_stem().map(|s| s.to_string_lossy().into_owned());
            // Only files within the size limit are read again (not a FIFO, not 10 GB).
            let small = std::fs::metadata(&d.file)
                .is_ok_and(|m| m.is_file() && m.len() <= settings.limits.dags.yaml.max_bytes as u64);
            if stem.as_deref() == Some(dag_id)
                || (small && std::fs::read_to_string(&d.file).is_ok_and(|t| t.contains(dag_id)))
            {
                bail!("DAG `{dag_id}` could not be loaded: {d}");
            }
        }
    }
    let known: Vec<&str> = bag.dags.keys().map(String::as_str).collect();
    bail!(
        "no DAG `{dag_id}` in {}{}",
        settings.dags_folder.display(),
        updraft_engine::suggest::did_you_mean(dag_id, known.iter().copied())
    )
}

fn warn_broken(bag: &DagBag) {
    if !bag.errors.is_empty() {
        eprintln!(
            "warning: {} DAG file(s) failed to load; `updraft dags validate` shows why",
            bag.errors.len()
        );
    }
}

fn validate(bag: &DagBag, paths: &[PathBuf]) -> Result<ExitCode> {
    for d in bag.diagnostics() {
        eprintln!("{d}");
    }
    let files = bag.files.len();
    let bad = bag.errors.len();
    // Errors may also name folders and symlinks (a loop, the walk limit).
    let bad_files = bag.errors.keys().filter(|f| bag.files.contains(f)).count();
    if files == 0 && bad == 0 {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        eprintln!("error: no DAG files (*.yaml, *.yml) in {}", shown.join(", "));
        return Ok(ExitCode::FAILURE);
    }
    let problems = bag.diagnostics().count();
    if bad == 0 {
        crate::outln!("ok: {} DAG(s) in {files} file(s)", bag.dags.len());
        Ok(ExitCode::SUCCESS)
    } else {
        crate::outln!("{bad_files} of {files} file(s) invalid, {problems} problem(s)");
        Ok(ExitCode::FAILURE)
    }
}

fn list(bag: &DagBag, output: Format) {
    let now = Timestamp::now();
    match output {
        Format::Json => {
            let items: Vec<_> = bag
                .dags
                .values()
                .map(|d| {
                    json!({
                        "dag_id": d.dag_id,
                        "description": d.description,
                        "schedule": d.schedule().to_string(),
                        "timezone": d.timezone_name,
                        "next_run": d.next_run(now).map(|r| json!({
                            "logical_date": utc(r.logical_date),
                            "data_interval_start": utc(r.data_interval.start),
                            "data_interval_end": utc(r.data_interval.end),
                            "run_after": utc(r.run_after),
                        })),
                        "tags": d.tags,
                        "file": d.file.display().to_string(),
                    })
                })
                .collect();
            crate::outln!("{}", serde_json::Value::Array(items));
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = bag
                .dags
                .values()
                .map(|d| {
                    vec![
                        d.dag_id.clone(),
                        d.schedule().to_string(),
                        d.next_run(now)
                            .map(|r| local(r.logical_date, d.tz()))
                            .unwrap_or_else(|| "-".into()),
                        d.tags.join(","),
                        d.file.display().to_string(),
                    ]
                })
                .collect();
            print_table(&["DAG_ID", "SCHEDULE", "NEXT RUN", "TAGS", "FILE"], &rows);
        }
    }
}

fn show(dag: &Dag, output: ShowFormat) -> Result<()> {
    match output {
        ShowFormat::Dot => {
            crate::outln!("digraph \"{}\" {{\n  rankdir=LR;", dag.dag_id);
            for t in &dag.tasks {
                crate::outln!("  \"{}\" [label=\"{}\\n({})\"];", t.task_id, t.task_id, t.operator);
            }
            for (a, b) in dag.graph.edges() {
                crate::outln!("  \"{}\" -> \"{}\";", dag.tasks[a].task_id, dag.tasks[b].task_id);
            }
            crate::outln!("}}");
        }
        ShowFormat::Json => {
            let tasks: Vec<_> = dag
                .tasks
                .iter()
                .map(|t| {
                    json!({
                        "task_id": t.task_id,
                        "operator": t.operator,
                        "depends_on": t.upstream.iter().map(|&i| &dag.tasks[i].task_id).collect::<Vec<_>>(),
                        "trigger_rule": t.trigger_rule.as_str(),
                        "retries": t.retry.retries,
                        "retry_delay_seconds": t.retry.retry_delay.as_secs_f64(),
                        "execution_timeout_seconds": t.execution_timeout.map(|d| d.as_secs_f64()),
                        "config": t.config.to_json(),
                    })
                })
                .collect();
            let edges: Vec<_> = dag
                .graph
                .edges()
                .map(|(a, b)| json!([dag.tasks[a].task_id, dag.tasks[b].task_id]))
                .collect();
            let v = json!({
                "dag_id": dag.dag_id,
                "description": dag.description,
                "file": dag.file.display().to_string(),
                "schedule": dag.schedule().to_string(),
                "timezone": dag.timezone_name,
                "start_date": dag.start_date.map(utc),
                "end_date": dag.end_date.map(utc),
                "catchup": dag.catchup,
                "max_active_runs": dag.max_active_runs,
                "max_active_tasks": dag.max_active_tasks,
                "tags": dag.tags,
                "params": dag.params,
                "tasks": tasks,
                "edges": edges,
            });
            crate::outln!("{v}");
        }
        ShowFormat::Text => {
            crate::outln!("DAG {}  ({})", dag.dag_id, dag.file.display());
            if let Some(d) = &dag.description {
                crate::outln!("  {d}");
            }
            let tz = dag.tz();
            crate::outln!("  schedule:    {} ({})", dag.schedule(), dag.timezone_name);
            crate::outln!(
                "  start_date:  {}",
                dag.start_date.map(|t| local(t, tz)).unwrap_or_else(|| "-".into())
            );
            crate::outln!(
                "  end_date:    {}",
                dag.end_date.map(|t| local(t, tz)).unwrap_or_else(|| "-".into())
            );
            crate::outln!("  catchup:     {}", if dag.catchup { "on" } else { "off" });
            crate::outln!(
                "  max active:  {} run(s), {} task(s) per run",
                dag.max_active_runs,
                dag.max_active_tasks
            );
            if !dag.tags.is_empty() {
                crate::outln!("  tags:        {}", dag.tags.join(", "));
            }
            crate::outln!();
            let rows: Vec<Vec<String>> = dag
                .tasks
                .iter()
                .map(|t| {
                    vec![
                        t.task_id.clone(),
                        t.operator.clone(),
                        t.trigger_rule.to_string(),
                        format!(
                            "{} every {}{}",
                            t.retry.retries,
                            format_duration(t.retry.retry_delay),
                            if t.retry.exponential_backoff { " (exp)" } else { "" }
                        ),
                        t.execution_timeout.map(format_duration).unwrap_or_else(|| "-".into()),
                        t.upstream
                            .iter()
                            .map(|&i| dag.tasks[i].task_id.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    ]
                })
                .collect();
            print_table(
                &["TASK", "OPERATOR", "TRIGGER_RULE", "RETRIES", "TIMEOUT", "DEPENDS_ON"],
                &rows,
            );
            crate::outln!();
            crate::outln!("Edges ({}):", dag.graph.edges().count());
            for (a, b) in dag.graph.edges() {
                crate::outln!("  {} -> {}", dag.tasks[a].task_id, dag.tasks[b].task_id);
            }
            crate::outln!();
            crate::outln!("Graph:");
            for line in graph_text::render(dag).lines() {
                crate::outln!("  {line}");
            }
        }
    }
    Ok(())
}

fn plan(dag: &Dag, start: &str, end: &str, output: Format) -> Result<()> {
    let tz = dag.tz();
    let start_ts = parse_instant(start, tz)
        .map_err(anyhow::Error::msg)
        .context("--start")?;
    let end_ts = parse_instant(end, tz).map_err(anyhow::Error::msg).context("--end")?;
    if end_ts < start_ts {
        bail!("--end ({end}) is before --start ({start})");
    }
    if dag.schedule().is_manual() {
        eprintln!("note: DAG `{}` has no schedule, so no runs are planned", dag.dag_id);
    }
    let runs = dag.plan(start_ts, end_ts);
    match output {
        Format::Json => {
            let items: Vec<_> = runs
                .iter()
                .map(|r| {
                    json!({
                        "logical_date": utc(r.logical_date),
                        "data_interval_start": utc(r.data_interval.start),
                        "data_interval_end": utc(r.data_interval.end),
                    })
                })
                .collect();
            crate::outln!("{}", serde_json::Value::Array(items));
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = runs
                .iter()
                .map(|r| {
                    vec![
                        utc(r.logical_date),
                        utc(r.data_interval.start),
                        utc(r.data_interval.end),
                        local(r.logical_date, tz),
                    ]
                })
                .collect();
            print_table(
                &[
                    "LOGICAL_DATE",
                    "DATA_INTERVAL_START",
                    "DATA_INTERVAL_END",
                    &format!("LOCAL ({})", dag.timezone_name),
                ],
                &rows,
            );
            eprintln!("{} run(s)", runs.len());
        }
    }
    Ok(())
}
