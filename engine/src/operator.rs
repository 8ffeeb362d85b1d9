//! The operator interface and the registry the engine resolves operators
//! through. The engine knows no concrete operator: the `operators` crate
//! fills a [`Registry`] and hands it in.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::yaml::{Node, Span, from_node_with_extra_fields};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a task returned, available to downstream templates as
/// `outputs.<task_id>`.
pub type Output = serde_json::Value;

/// Why a task did not succeed. The type carries the retry meaning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// Failed; retried if the task has retries left.
    #[error("{0}")]
    Failed(String),
    /// Failed in a way a retry cannot fix (a bad config after rendering).
    #[error("{0}")]
    Fatal(String),
    /// Stopped on request (timeout, shutdown, a user's action).
    #[error("cancelled")]
    Cancelled,
}

/// Which stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
    /// Lines written by Updraft itself about the task.
    System,
}

/// Where an operator writes its log, line by line, as lines are produced.
type LineFn = dyn Fn(LogStream, &str) + Send + Sync;

#[derive(Clone)]
pub struct LogSink(Arc<LineFn>);

impl LogSink {
    pub fn new(f: impl Fn(LogStream, &str) + Send + Sync + 'static) -> Self {
        LogSink(Arc::new(f))
    }

    pub fn line(&self, stream: LogStream, text: &str) {
        (self.0)(stream, text)
    }
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogSink")
    }
}

/// What an operator gets besides its rendered config.
#[derive(Debug, Clone)]
pub struct TaskContext {
    pub dag_id: String,
    pub task_id: String,
    pub run_id: String,
    pub try_number: u32,
    pub log: LogSink,
    /// Cancelled on timeout, shutdown or a user's action; operators stop
    /// their work (and any process or container) and return
    /// [`TaskError::Cancelled`].
    pub cancel: CancellationToken,
}

/// An operator: a typed config and how to execute it.
pub trait Operator: Send + Sync + 'static {
    /// The name users write after `operator:`.
    const NAME: &'static str;
    /// The operator's own task fields; deny unknown fields.
    type Config: DeserializeOwned + Send + 'static;

    /// Checks beyond types, run when the DAG loads: one message per problem.
    fn validate(_config: &Self::Config) -> Vec<String> {
        Vec::new()
    }

    fn execute(&self, config: Self::Config, ctx: TaskContext)
    -> impl Future<Output = Result<Output, TaskError>> + Send;
}

/// A problem in an operator config: place (if known) and message.
pub type ConfigProblem = (Option<Span>, String);

trait ErasedOperator: Send + Sync {
    fn check(&self, config: &Node, extra_fields: &[&str]) -> Vec<ConfigProblem>;
    fn run<'a>(&'a self, config: &Node, ctx: TaskContext) -> BoxFuture<'a, Result<Output, TaskError>>;
}

impl<O: Operator> ErasedOperator for O {
    fn check(&self, config: &Node, extra_fields: &[&str]) -> Vec<ConfigProblem> {
        match from_node_with_extra_fields::<O::Config>(config, extra_fields) {
            Ok(cfg) => O::validate(&cfg).into_iter().map(|m| (Some(config.span), m)).collect(),
            Err(e) => e.problems.into_iter().map(|p| (p.span, p.to_string())).collect(),
        }
    }

    fn run<'a>(&'a self, config: &Node, ctx: TaskContext) -> BoxFuture<'a, Result<Output, TaskError>> {
        let parsed = from_node_with_extra_fields::<O::Config>(config, &[]);
        Box::pin(async move {
            let cfg = parsed.map_err(|e| TaskError::Fatal(format!("invalid {} config: {e}", O::NAME)))?;
            self.execute(cfg, ctx).await
        })
    }
}

/// Operators by name.
#[derive(Clone, Default)]
pub struct Registry {
    ops: BTreeMap<&'static str, Arc<dyn ErasedOperator>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register<O: Operator>(&mut self, op: O) -> &mut Self {
        self.ops.insert(O::NAME, Arc::new(op));
        self
    }

    pub fn contains(&self, name: &str) -> bool {
        self.ops.contains_key(name)
    }

    /// Known operator names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.ops.keys().copied()
    }

    /// Type-checks a config for operator `name` (which must exist).
    pub fn check(&self, name: &str, config: &Node, extra_fields: &[&str]) -> Vec<ConfigProblem> {
        match self.ops.get(name) {
            Some(op) => op.check(config, extra_fields),
            None => vec![(Some(config.span), format!("unknown operator `{name}`"))],
        }
    }

    /// Runs operator `name` with an already rendered config.
    pub async fn execute(&self, name: &str, config: &Node, ctx: TaskContext) -> Result<Output, TaskError> {
        match self.ops.get(name) {
            Some(op) => op.run(config, ctx).await,
            None => Err(TaskError::Fatal(format!("unknown operator `{name}`"))),
        }
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.ops.keys()).finish()
    }
}
