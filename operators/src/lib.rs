//! Updraft's operators, one folder each: a typed config (serde, unknown
//! fields rejected) and its execution.

pub mod docker;
pub mod empty;
pub mod shell;

use updraft_engine::Registry;

/// A registry holding every operator of this crate.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(empty::EmptyOperator)
        .register(shell::ShellOperator)
        .register(docker::DockerOperator);
    r
}
