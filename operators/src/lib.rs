//! Updraft's operators, one folder each: a typed config (serde, unknown
//! fields rejected) and its execution.

#[cfg(feature = "docker")]
pub mod docker;
pub mod empty;
pub mod shell;

use updraft_operator_api::Registrar;

/// Registers every operator of this crate (with the engine's registry:
/// `Registry::with(updraft_operators::register_all)`).
pub fn register_all<R: Registrar>(r: &mut R) {
    r.register(empty::EmptyOperator).register(shell::ShellOperator);
    #[cfg(feature = "docker")]
    r.register(docker::DockerOperator);
}
