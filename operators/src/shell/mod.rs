//! `operator: shell`: runs `command` with bash. Each line it writes to
//! stdout or stderr is a line of the task's log; a non-zero exit fails the
//! task. The output is `{exit_code, last_line}` (the last non-empty stdout
//! line, as Airflow's BashOperator pushes it).

mod process;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use updraft_operator_api::{Operator, Output, TaskContext, TaskError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellConfig {
    /// A bash script: one command or many lines.
    pub command: String,
    /// Added to (and overriding) the worker's environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The working directory; the worker's own if unset.
    #[serde(default)]
    pub cwd: Option<PathBuf>,
}

pub struct ShellOperator;

impl Operator for ShellOperator {
    const NAME: &'static str = "shell";
    type Config = ShellConfig;

    fn validate(config: &ShellConfig) -> Vec<String> {
        let mut problems = Vec::new();
        if config.command.trim().is_empty() {
            problems.push("`command` is empty".to_string());
        }
        for key in config.env.keys() {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                problems.push(format!("`env`: {key:?} is not a valid environment variable name"));
            }
        }
        problems
    }

    async fn execute(&self, config: ShellConfig, ctx: TaskContext) -> Result<Output, TaskError> {
        process::run(&config, &ctx).await
    }
}

#[cfg(test)]
mod tests;
