//! The command line and the settings it carries: read once, here, and passed
//! down typed. No other module reads the environment.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use updraft_engine::connection_uri::parse_uri;
use updraft_engine::dag::DagLimits;
use updraft_engine::runtime::{Limits, LogLimits, Overrides};
use updraft_engine::yaml::YamlLimits;

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

    /// Encrypts connection passwords and extras, and variables, at rest.
    /// Use a long random value (e.g. `openssl rand -base64 32`) and keep it:
    /// stored secrets cannot be read without it.
    #[arg(
        long,
        global = true,
        env = "UPDRAFT_SECRET_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub secret_key: Option<String>,

    /// Whether DAGs seen for the first time start paused (as in Airflow).
    #[arg(long, global = true, env = "UPDRAFT_DAGS_PAUSED_AT_CREATION", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub dags_paused_at_creation: bool,

    #[command(flatten)]
    pub task_limits: TaskLimitArgs,

    #[command(flatten)]
    pub web_limits: WebLimitArgs,

    #[command(flatten)]
    pub dag_limits: DagLimitArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// What a task may write and keep (see README, "Limits").
#[derive(Debug, Clone, clap::Args)]
pub struct TaskLimitArgs {
    /// The longest log line kept, in bytes; a longer line is cut, with a marker.
    #[arg(long, global = true, env = "UPDRAFT_LOG_LINE_MAX", default_value_t = LogLimits::DEFAULT_LINE_BYTES as u64, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    pub log_line_max: u64,
    /// The most log one try keeps, in bytes; later lines are dropped and counted.
    #[arg(long, global = true, env = "UPDRAFT_LOG_TRY_MAX", default_value_t = LogLimits::DEFAULT_TRY_BYTES, value_name = "BYTES")]
    pub log_try_max: u64,
    /// The largest output (JSON) a task may return, in bytes; a larger one fails the try.
    #[arg(long, global = true, env = "UPDRAFT_MAX_TASK_OUTPUT", default_value_t = Limits::DEFAULT_MAX_OUTPUT_BYTES, value_name = "BYTES")]
    pub max_task_output: usize,
    /// Days task logs are kept; the scheduler deletes older lines hourly (0: keep forever).
    #[arg(
        long,
        global = true,
        env = "UPDRAFT_LOG_RETENTION_DAYS",
        default_value_t = 30,
        value_name = "DAYS"
    )]
    pub log_retention_days: u64,
    /// Host folders (separated by `:`) under which a Docker bind mount built
    /// from a run's values (params, conf, upstream outputs) may lie; none by default.
    #[arg(
        long,
        global = true,
        env = "UPDRAFT_DOCKER_ALLOWED_MOUNTS",
        value_delimiter = ':',
        value_name = "DIRS"
    )]
    pub docker_allowed_mounts: Vec<PathBuf>,
}

impl TaskLimitArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            log: LogLimits {
                line_bytes: usize::try_from(self.log_line_max).unwrap_or(usize::MAX),
                try_bytes: self.log_try_max,
            },
            max_output_bytes: self.max_task_output,
            log_retention: (self.log_retention_days > 0)
                .then(|| std::time::Duration::from_secs(self.log_retention_days.saturating_mul(86_400))),
            allowed_mounts: self
                .docker_allowed_mounts
                .iter()
                .filter(|p| !p.as_os_str().is_empty())
                .cloned()
                .collect(),
            dags: DagLimits::default(),
        }
    }
}

/// What the web UI allows one client (see README, "Limits").
#[derive(Debug, Clone, clap::Args)]
pub struct WebLimitArgs {
    /// Web UI: open connections at most; more are closed at once.
    #[arg(long, global = true, env = "UPDRAFT_WEB_MAX_CONNECTIONS", default_value_t = 256, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub web_max_connections: u32,
    /// Web UI: seconds a client has to send a request's headers (and to
    /// keep an idle connection open).
    #[arg(long, global = true, env = "UPDRAFT_WEB_HEADER_TIMEOUT", default_value_t = 10, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub web_header_timeout: u64,
    /// Web UI: the largest request body in bytes (larger: 413).
    #[arg(long, global = true, env = "UPDRAFT_WEB_MAX_BODY", default_value_t = 1 << 20, value_name = "BYTES")]
    pub web_max_body: usize,
    /// Web UI: live log streams per client address.
    #[arg(long, global = true, env = "UPDRAFT_WEB_SSE_PER_CLIENT", default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub web_sse_per_client: u32,
    /// Web UI: password checks at once (argon2, ~19 MiB each); more logins
    /// wait up to 2 s, then get 503.
    #[arg(long, global = true, env = "UPDRAFT_WEB_LOGIN_HASHES", default_value_t = 2, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub web_login_hashes: u32,
}

impl WebLimitArgs {
    pub fn limits(&self) -> updraft_web::WebLimits {
        updraft_web::WebLimits {
            max_connections: self.web_max_connections as usize,
            header_timeout: std::time::Duration::from_secs(self.web_header_timeout),
            max_body_bytes: self.web_max_body,
            sse_per_client: self.web_sse_per_client as usize,
            login_hashes: self.web_login_hashes as usize,
            ..Default::default()
        }
    }
}

/// What reading the DAGs folder may cost (see README, "Limits").
#[derive(Debug, Clone, clap::Args)]
pub struct DagLimitArgs {
    /// The largest DAG file, in bytes; a larger one is reported broken unread.
    #[arg(long, global = true, env = "UPDRAFT_DAG_MAX_FILE_BYTES", default_value_t = YamlLimits::default().max_bytes, value_name = "BYTES")]
    pub dag_max_file_bytes: usize,
    /// Deepest nesting of lists and mappings in a DAG file, aliases expanded.
    #[arg(long, global = true, env = "UPDRAFT_DAG_MAX_DEPTH", default_value_t = YamlLimits::default().max_depth, value_name = "LEVELS", value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u32).range(1..), |n| n as usize))]
    pub dag_max_depth: usize,
    /// Alias uses (`*name`) in one DAG file.
    #[arg(long, global = true, env = "UPDRAFT_DAG_MAX_ALIASES", default_value_t = YamlLimits::default().max_aliases, value_name = "N")]
    pub dag_max_aliases: usize,
    /// Nodes in one DAG file once its aliases are expanded ("billion laughs" guard).
    #[arg(long, global = true, env = "UPDRAFT_DAG_MAX_NODES", default_value_t = YamlLimits::default().max_nodes, value_name = "N")]
    pub dag_max_nodes: usize,
    /// Bytes of text in one DAG file once its aliases are expanded.
    #[arg(long, global = true, env = "UPDRAFT_DAG_MAX_TEXT_BYTES", default_value_t = YamlLimits::default().max_text_bytes, value_name = "BYTES")]
    pub dag_max_text_bytes: usize,
    /// DAG files and sub-folders one walk of the DAGs folder reads.
    #[arg(long, global = true, env = "UPDRAFT_DAGS_MAX_FILES", default_value_t = DagLimits::default().max_files, value_name = "N")]
    pub dags_max_files: usize,
}

impl DagLimitArgs {
    pub fn limits(&self) -> DagLimits {
        DagLimits {
            yaml: YamlLimits {
                max_bytes: self.dag_max_file_bytes,
                max_depth: self.dag_max_depth,
                max_aliases: self.dag_max_aliases,
                max_nodes: self.dag_max_nodes,
                max_text_bytes: self.dag_max_text_bytes,
            },
            max_files: self.dags_max_files,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// DAGs: validate, list, show, plan, trigger, test, pause, unpause.
    #[command(subcommand)]
    Dags(DagsCommand),
    /// Runs of a DAG.
    #[command(subcommand)]
    Runs(crate::commands::runs::RunsCommand),
    /// Task instances: list, logs, test.
    #[command(subcommand)]
    Tasks(crate::commands::tasks::TasksCommand),
    /// The state database.
    #[command(subcommand)]
    Db(crate::commands::db::DbCommand),
    /// Connections to external systems (Airflow's JSON imports unchanged).
    #[command(subcommand)]
    Connections(crate::commands::secrets::ConnectionsCommand),
    /// Variables (Airflow's JSON imports unchanged).
    #[command(subcommand)]
    Variables(crate::commands::secrets::VariablesCommand),
    /// The key sealing connections and variables at rest: status, encrypt,
    /// rotate-key.
    #[command(subcommand)]
    Secrets(crate::commands::secret_key::SecretsCommand),
    /// Scheduler, a worker and the DAG processor in one process, on the
    /// embedded store by default: the quickest way to run Updraft.
    Standalone {
        /// Where the web UI listens (port 0: any free port; the address is printed).
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: String,
        /// Tasks this process runs at once.
        #[arg(long, default_value_t = 8)]
        slots: u32,
    },
    /// Create the runs `dags plan` lists for a range and see them through,
    /// with progress. Hands them to a live scheduler if one uses the store,
    /// else runs them in this process. Exits 1 if any run failed.
    Backfill {
        dag_id: String,
        /// First logical date: RFC 3339, or a date (00:00 in the DAG's zone).
        #[arg(long, value_parser = crate::args::date)]
        start: String,
        /// Last logical date (inclusive).
        #[arg(long, value_parser = crate::args::date)]
        end: String,
        /// Which existing runs to run again, in place.
        #[arg(long, value_enum, default_value_t)]
        reprocess: crate::commands::backfill::ReprocessArg,
        /// Backfill runs at once [default: the DAG's max_active_runs].
        #[arg(long)]
        max_active_runs: Option<u32>,
        /// Show what would be created or rerun, and stop.
        #[arg(long)]
        dry_run: bool,
    },
    /// Only the scheduler (and DAG processor), for scale-out.
    Scheduler,
    /// Only the web UI and its JSON API (`/api/v1`), on the same store as
    /// a scheduler running elsewhere.
    Web {
        /// Where to listen; without users, only a loopback address is allowed.
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: String,
    },
    /// Web UI users and their API tokens.
    #[command(subcommand)]
    Users(crate::commands::users::UsersCommand),
    /// Tools for developing Updraft: test data.
    #[command(subcommand)]
    Dev(crate::commands::dev::DevCommand),
    /// Only a worker, for scale-out.
    Worker {
        /// Tasks this worker runs at once.
        #[arg(long, default_value_t = 8)]
        slots: u32,
    },
}

/// What every command may need, resolved from flags and environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub dags_folder: PathBuf,
    pub database_url: String,
    pub dags_paused_at_creation: bool,
    pub secret_key: Option<String>,
    /// `UPDRAFT_CONN_<ID>` (URIs) and `UPDRAFT_VAR_<NAME>`, read once here.
    pub overrides: Overrides,
    /// What tasks may write and keep.
    pub limits: Limits,
    /// What the web UI allows one client.
    pub web_limits: updraft_web::WebLimits,
}

/// Connections and variables from the environment; a malformed connection
/// URI is reported (without its value, which may hold a password) and
/// skipped.
fn env_overrides() -> Overrides {
    let mut o = Overrides::default();
    for (key, value) in std::env::vars() {
        if let Some(id) = key.strip_prefix("UPDRAFT_CONN_") {
            match parse_uri(&value) {
                Ok(c) => {
                    o.connections.insert(id.to_ascii_lowercase(), c);
                }
                Err(e) => eprintln!(
                    "warning: ignoring {key}: not a connection URI ({})",
                    e.split(':').next().unwrap_or("")
                ),
            }
        } else if let Some(name) = key.strip_prefix("UPDRAFT_VAR_") {
            o.variables.insert(name.to_ascii_lowercase(), value);
        }
    }
    o
}

impl Cli {
    pub fn settings(&self) -> Settings {
        Settings {
            dags_folder: self.dags_folder.clone(),
            database_url: self.database_url.clone(),
            dags_paused_at_creation: self.dags_paused_at_creation,
            overrides: env_overrides(),
            secret_key: self.secret_key.clone(),
            limits: Limits {
                dags: self.dag_limits.limits(),
                ..self.task_limits.limits()
            },
            web_limits: self.web_limits.limits(),
        }
    }
}
