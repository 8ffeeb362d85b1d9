//! Updraft's engine: the DAG model and its loading and validation, schedules
//! and data intervals, templating, and the operator interface. It knows no
//! concrete operator, no HTTP and no HTML.

pub mod connection_uri;
pub mod dag;
pub mod diagnostic;
pub mod operator;
pub mod runtime;
pub mod schedule;
pub mod store;
pub mod suggest;
pub mod template;
pub mod time;
pub mod yaml;

pub use updraft_operator_api::{connection, duration};

pub use dag::{Dag, DagBag, Task, TriggerRule, load_dag, load_paths};
pub use diagnostic::Diagnostic;
pub use operator::{LogSink, LogStream, Operator, Registry, TaskContext, TaskError};
