//! `updraft runs list`.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use serde_json::json;
use updraft_engine::runtime::hide_sensitive_keys;

use crate::output::{Format, print_table, utc};
use crate::settings::Settings;
use crate::store::{open, runtime};

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// A DAG's runs, newest first: run id, logical date, type, state, start, end.
    List {
        dag_id: String,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long, value_enum, default_value_t)]
        output: Format,
    },
}

pub fn run(cmd: RunsCommand, settings: &Settings) -> Result<ExitCode> {
    let RunsCommand::List { dag_id, limit, output } = cmd;
    runtime()?.block_on(async {
        let store = open(settings).await?;
        let runs = store.list_runs(&dag_id, limit).await?;
        if runs.is_empty() && store.get_dag(&dag_id).await?.is_none() {
            let dags = store.list_dags().await?;
            anyhow::bail!(
                "no DAG `{dag_id}` is known to this store{}",
                updraft_engine::suggest::did_you_mean(&dag_id, dags.iter().map(|d| d.dag_id.as_str()))
            );
        }
        let opt = |t: Option<jiff::Timestamp>| t.map(utc);
        match output {
            Format::Json => {
                let items: Vec<_> = runs
                    .iter()
                    .map(|r| {
                        json!({
                            "run_id": r.run_id,
                            "logical_date": utc(r.logical_date),
                            "data_interval_start": utc(r.data_interval_start),
                            "data_interval_end": utc(r.data_interval_end),
                            "run_type": r.run_type.as_str(),
                            "state": r.state.as_str(),
                            "start_date": opt(r.start_date),
                            "end_date": opt(r.end_date),
                            "conf": hide_sensitive_keys(serde_json::Value::Object(r.conf.clone())),
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
                            r.run_id.clone(),
                            utc(r.logical_date),
                            r.run_type.to_string(),
                            r.state.to_string(),
                            opt(r.start_date).unwrap_or_else(|| "-".into()),
                            opt(r.end_date).unwrap_or_else(|| "-".into()),
                        ]
                    })
                    .collect();
                print_table(&["RUN_ID", "LOGICAL_DATE", "TYPE", "STATE", "START", "END"], &rows);
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
