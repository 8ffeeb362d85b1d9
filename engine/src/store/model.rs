//! What the store keeps, as Rust types.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)*
                    other => Err(format!("unknown {} `{other}`", stringify!($name))),
                }
            }
        }
    };
}

string_enum! {
    /// A DAG run's state.
    RunState {
        Queued => "queued",
        Running => "running",
        Success => "success",
        Failed => "failed",
    }
}

string_enum! {
    /// A task instance's state (Airflow's names).
    TaskState {
        None => "none",
        Queued => "queued",
        Running => "running",
        Success => "success",
        Failed => "failed",
        UpForRetry => "up_for_retry",
        UpstreamFailed => "upstream_failed",
        Skipped => "skipped",
    }
}

string_enum! {
    /// Why a run exists.
    RunType {
        Scheduled => "scheduled",
        Manual => "manual",
        Backfill => "backfill",
    }
}

impl RunState {
    pub fn is_finished(self) -> bool {
        matches!(self, RunState::Success | RunState::Failed)
    }
}

impl TaskState {
    /// Nothing more will happen to the task in this run (until cleared).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            TaskState::Success | TaskState::Failed | TaskState::UpstreamFailed | TaskState::Skipped
        )
    }
}

/// A DAG run as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct DagRun {
    /// The store's key for the run.
    pub id: i64,
    pub dag_id: String,
    /// The user-facing id, e.g. `scheduled__2024-11-01T02:00:00+00:00`.
    pub run_id: String,
    pub logical_date: Timestamp,
    pub data_interval_start: Timestamp,
    pub data_interval_end: Timestamp,
    pub run_type: RunType,
    pub state: RunState,
    pub conf: serde_json::Map<String, serde_json::Value>,
    /// The DAG version the run was created from (and finishes with).
    pub version_id: i64,
    pub created_at: Timestamp,
    pub start_date: Option<Timestamp>,
    pub end_date: Option<Timestamp>,
}

/// A task instance as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskInstance {
    pub id: i64,
    pub run_pk: i64,
    pub dag_id: String,
    pub task_id: String,
    pub state: TaskState,
    pub try_number: u32,
    /// Tries allowed in all: retries + 1.
    pub max_tries: u32,
    pub queued_at: Option<Timestamp>,
    pub start_date: Option<Timestamp>,
    pub end_date: Option<Timestamp>,
    pub worker_id: Option<String>,
    pub heartbeat: Option<Timestamp>,
    pub next_retry_at: Option<Timestamp>,
    pub output: Option<serde_json::Value>,
    pub error: Option<String>,
}

/// A run to create.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub dag_id: String,
    pub run_id: String,
    pub logical_date: Timestamp,
    pub data_interval_start: Timestamp,
    pub data_interval_end: Timestamp,
    pub run_type: RunType,
    pub conf: serde_json::Map<String, serde_json::Value>,
    pub version_id: i64,
    /// Task ids and their tries allowed (retries + 1).
    pub tasks: Vec<(String, u32)>,
}

/// How a try ended, as the worker reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum TryOutcome {
    Success {
        output: serde_json::Value,
    },
    /// Failed; retried at `retry_at` if tries are left, else failed.
    Failed {
        error: String,
        retry_at: Option<Timestamp>,
    },
    /// Nothing to do (the operator said so): `skipped`, with the reason
    /// kept as the task's note.
    Skipped {
        reason: String,
    },
}

/// One stored log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Increasing; read on from the last one seen to follow a log.
    pub seq: i64,
    pub at: Timestamp,
    pub stream: String,
    pub line: String,
}

/// A live scheduler or worker process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    pub worker_id: String,
    pub kind: String,
    pub hostname: String,
    pub pid: u32,
    pub slots: u32,
    pub started_at: Timestamp,
    pub heartbeat: Timestamp,
}

/// The Airflow-style run id: `scheduled__2024-11-01T02:00:00+00:00`.
pub fn run_id_for(run_type: RunType, logical_date: Timestamp) -> String {
    let utc = logical_date.to_zoned_datetime(jiff::tz::TimeZone::UTC);
    format!("{}__{}", run_type, crate::template::isoformat(&utc))
}
