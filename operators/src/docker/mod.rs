//! `operator: docker`: runs a container with bollard. Its stdout and stderr
//! are the task's log, line by line, as they come; a non-zero exit fails the
//! task with the code and the last lines; cancellation and timeouts stop and
//! remove the container; containers left by earlier tries (a worker killed
//! with -9) are removed when the task is tried again. The output is
//! `{exit_code, container_id}` and, with `xcom_last_line`, `last_line`.

mod auth;
mod config;
mod container;
mod engine;
mod error;
mod logs;

pub use config::{Args, DockerConfig, MountConfig, MountKind, PullPolicy, RegistryCredentials};
pub use container::{LABEL_DAG, LABEL_RUN, LABEL_TASK, LABEL_TRY};
pub use error::DockerError;

use updraft_operator_api::{Operator, Output, TaskContext, TaskError};

pub struct DockerOperator;

impl Operator for DockerOperator {
    const NAME: &'static str = "docker";
    type Config = DockerConfig;

    fn validate(config: &DockerConfig) -> Vec<String> {
        config.problems()
    }

    /// Bind mount sources: the worker refuses one that a run's values
    /// steer outside the installation's allowed prefixes.
    fn host_paths(config: &DockerConfig) -> Vec<(String, String)> {
        config
            .mounts
            .iter()
            .enumerate()
            .filter(|(_, m)| m.kind == MountKind::Bind)
            .filter_map(|(i, m)| Some((format!("mounts[{i}].source"), m.source.clone()?)))
            .collect()
    }

    async fn execute(&self, config: DockerConfig, ctx: TaskContext) -> Result<Output, TaskError> {
        container::run(config, &ctx).await
    }
}

#[cfg(test)]
pub(crate) mod test_image;
#[cfg(test)]
mod tests;
