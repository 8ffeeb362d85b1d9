//! What can go wrong running a container, worded for the person reading the
//! task's error: what is missing and where, never a raw API dump, never a
//! credential.

use updraft_operator_api::TaskError;

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("invalid docker config: {0}")]
    Config(String),
    #[error("invalid `docker_url` {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot reach the Docker engine at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("image `{image}` is not on the Docker host and `pull: never` forbids pulling it")]
    ImageMissing { image: String },
    #[error("cannot pull image `{image}`: {reason}")]
    Pull { image: String, reason: String },
    #[error("bind mount source `{path}` does not exist on the Docker host")]
    BindSource { path: String },
    #[error("cannot start `{program}` in the container: {reason}")]
    Program { program: String, reason: String },
    #[error("{action}: {reason}")]
    Api { action: &'static str, reason: String },
    #[error("container exited with code {code}{tail}")]
    Exit { code: i64, tail: String },
}

impl From<DockerError> for TaskError {
    fn from(e: DockerError) -> Self {
        match e {
            // A retry cannot fix a config or an address that cannot be read.
            DockerError::Config(_) | DockerError::BadUrl { .. } => TaskError::Fatal(e.to_string()),
            _ => TaskError::Failed(e.to_string()),
        }
    }
}

/// A short reason from a bollard error: the engine's own message for an API
/// error (one line, as `docker` prints it), the root cause for a transport
/// error.
pub fn reason(e: &bollard::errors::Error) -> String {
    use bollard::errors::Error as B;
    match e {
        B::DockerResponseServerError { message, status_code } => {
            let m = message.trim();
            if m.is_empty() {
                format!("the engine answered HTTP {status_code}")
            } else {
                m.to_string()
            }
        }
        B::SocketNotFoundError(path) => format!("no socket at {path}"),
        B::RequestTimeoutError => "no answer in time".to_string(),
        other => root_cause(other),
    }
}

/// The innermost error of a chain (`connection refused`, not `client error
/// (Connect)`).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Whether the engine answered with this HTTP status.
pub fn is_status(e: &bollard::errors::Error, status: u16) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code, .. } if *status_code == status)
}
