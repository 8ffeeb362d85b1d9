//! What an installation allows a task to write and keep: log lines and
//! volume per try, output size, how long logs are kept, and where bind
//! mounts built from a run's values may point. Set once from the CLI's
//! settings and handed to the worker and the scheduler.

use std::path::PathBuf;
use std::time::Duration;

pub use updraft_operator_api::LogLimits;

/// The installation's limits; [`Limits::default`] is what `updraft` uses
/// unless told otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Per try: the longest log line, the most log.
    pub log: LogLimits,
    /// The largest output (JSON text) a try may return.
    pub max_output_bytes: usize,
    /// Log lines older than this are deleted by the scheduler's cleanup
    /// pass; `None` keeps them forever.
    pub log_retention: Option<Duration>,
    /// Host path prefixes under which a bind mount built from a run's
    /// values may lie (see `host_paths.rs`).
    pub allowed_mounts: Vec<PathBuf>,
    /// What reading a DAG file and walking the DAGs folder may cost.
    pub dags: crate::dag::DagLimits,
}

impl Limits {
    pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 1 << 20;
    pub const DEFAULT_LOG_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            log: LogLimits::default(),
            max_output_bytes: Self::DEFAULT_MAX_OUTPUT_BYTES,
            log_retention: Some(Self::DEFAULT_LOG_RETENTION),
            allowed_mounts: Vec::new(),
            dags: crate::dag::DagLimits::default(),
        }
    }
}
