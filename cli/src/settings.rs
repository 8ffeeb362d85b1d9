//! The command line and the settings it carries: read once, here, and passed
//! down typed. No other module reads the environment.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands::dags::DagsCommand;

/// Updraft: a fast, simple workflow orchestrator for DAGs written in YAML.
#[derive(Debug, Parser)]
#[command(name = "updraft", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Folder holding the DAG files (*.yaml, *.yml; searched recursively).
    #[arg(
        long,
        global = true,
        env = "UPDRAFT_DAGS_FOLDER",
        default_value = "./dags",
        value_name = "DIR"
    )]
    pub dags_folder: PathBuf,

    /// Where state lives: sqlite://PATH (the default, embedded) or postgres://...
    #[arg(
        long,
        global = true,
        env = "UPDRAFT_DATABASE_URL",
        default_value = "sqlite://./.updraft/updraft.db",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect and check DAG definitions: validate, list, show, plan.
    #[command(subcommand)]
    Dags(DagsCommand),
}

/// What every command may need, resolved from flags and environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub dags_folder: PathBuf,
    #[allow(dead_code)] // Given meaning by the state store.
    pub database_url: String,
}

impl Cli {
    pub fn settings(&self) -> Settings {
        Settings {
            dags_folder: self.dags_folder.clone(),
            database_url: self.database_url.clone(),
        }
    }
}
