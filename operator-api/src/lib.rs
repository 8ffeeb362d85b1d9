//! What an Updraft operator compiles against, and nothing more: the
//! [`Operator`] trait, the [`TaskContext`] a try runs with (ids, a log, a
//! cancellation token, connections as typed views, a scratch folder), the
//! errors that carry retry meaning, and [`Tpl`] for config fields that may
//! be templates. The engine implements [`Registrar`] and runs operators;
//! operators never see the engine, so they build beside it.

pub mod connection;
mod context;
pub mod duration;
mod error;
mod log;
mod scratch;
mod template;

use std::future::Future;
use std::pin::Pin;

use serde::de::DeserializeOwned;

pub use connection::Connection;
pub use context::TaskContext;
pub use error::{TaskError, chain};
pub use log::{Lines, LogLimits, LogSink, LogStream, ROW_BYTES, human_bytes};
pub use scratch::{Scratch, scratch_root, sweep_orphans};
pub use template::{ConfigDuration, Tpl, is_template};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a task returned, available to downstream templates as
/// `outputs.<task_id>`.
pub type Output = serde_json::Value;

/// An operator: a typed config and how to execute it.
pub trait Operator: Send + Sync + 'static {
    /// The name users write after `operator:`.
    const NAME: &'static str;
    /// The operator's own task fields; deny unknown fields. Fields that may
    /// be templates but are not text (numbers, booleans, durations) are
    /// [`Tpl`]s.
    type Config: DeserializeOwned + Send + 'static;

    /// Checks beyond types, run when the DAG loads: one message per problem.
    fn validate(_config: &Self::Config) -> Vec<String> {
        Vec::new()
    }

    /// Host paths the config hands to something outside the worker (a
    /// container's bind mounts), as (field, path). Before a try runs, the
    /// worker checks those that templates build from what a run can set
    /// against the installation's allow-list.
    fn host_paths(_config: &Self::Config) -> Vec<(String, String)> {
        Vec::new()
    }

    fn execute(&self, config: Self::Config, ctx: TaskContext)
    -> impl Future<Output = Result<Output, TaskError>> + Send;
}

/// Where operators are registered by name (the engine's registry).
pub trait Registrar {
    fn register<O: Operator>(&mut self, op: O) -> &mut Self;
}
