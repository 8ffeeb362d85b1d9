//! The operator interface and the registry the engine resolves operators
//! through. The engine knows no concrete operator: the `operators` crate
//! fills a [`Registry`] and hands it in.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::yaml::{Node, Span, from_node_with_extra_fields};

pub use updraft_operator_api::{
    BoxFuture, LogSink, LogStream, Operator, Output, Registrar, Scratch, TaskContext, TaskError,
};

/// A problem in an operator config: place (if known) and message.
pub type ConfigProblem = (Option<Span>, String);

trait ErasedOperator: Send + Sync {
    fn check(&self, config: &Node, extra_fields: &[&str]) -> Vec<ConfigProblem>;
    fn run<'a>(&'a self, config: &Node, ctx: TaskContext) -> BoxFuture<'a, Result<Output, TaskError>>;
    fn host_paths(&self, config: &Node) -> Vec<(String, String)>;
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

    fn host_paths(&self, config: &Node) -> Vec<(String, String)> {
        from_node_with_extra_fields::<O::Config>(config, &[])
            .map(|cfg| O::host_paths(&cfg))
            .unwrap_or_default()
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

    /// A registry filled by `fill` (e.g. `updraft_operators::register_all`).
    pub fn with(fill: impl FnOnce(&mut Registry)) -> Self {
        let mut r = Registry::new();
        fill(&mut r);
        r
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

    /// The host paths operator `name`'s config hands out (see
    /// [`Operator::host_paths`]); none if the config does not parse.
    pub fn host_paths(&self, name: &str, config: &Node) -> Vec<(String, String)> {
        self.ops.get(name).map(|op| op.host_paths(config)).unwrap_or_default()
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

impl Registrar for Registry {
    fn register<O: Operator>(&mut self, op: O) -> &mut Self {
        Registry::register(self, op)
    }
}
