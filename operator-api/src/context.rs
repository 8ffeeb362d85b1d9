//! What an operator gets besides its rendered config.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::connection::{
    AwsConnection, Connection, ConnectionError, GcpConnection, HttpConnection, PostgresConnection,
};
use crate::{LogSink, Scratch, TaskError};

#[derive(Debug, Clone)]
pub struct TaskContext {
    pub dag_id: String,
    pub task_id: String,
    pub run_id: String,
    pub try_number: u32,
    /// The first try since the task instance was created or last cleared:
    /// tries `first_try..try_number` are this attempt's earlier retries
    /// (an operator may find their work, such as a BigQuery job, and not
    /// do it twice); a clear starts a new attempt.
    pub first_try: u32,
    pub log: LogSink,
    /// Cancelled on timeout, shutdown or a user's action; operators stop
    /// their work (and any process, container or upload) and return
    /// [`TaskError::Cancelled`].
    pub cancel: CancellationToken,
    /// Every connection the try may use, decrypted (stored ones, then
    /// `UPDRAFT_CONN_*` from the environment). Read them through the typed
    /// views below.
    pub connections: Arc<BTreeMap<String, Connection>>,
    /// This try's scratch folder, removed when the try ends.
    pub scratch: Scratch,
}

impl TaskContext {
    /// A context for running an operator outside a worker (tests, tools):
    /// no connections, a log that goes nowhere, a scratch folder of its own.
    pub fn detached(task_id: &str) -> Self {
        TaskContext {
            dag_id: "detached".into(),
            task_id: task_id.into(),
            run_id: "detached".into(),
            try_number: 1,
            first_try: 1,
            log: LogSink::new(|_, _| {}),
            cancel: CancellationToken::new(),
            connections: Arc::default(),
            scratch: Scratch::new(&format!("detached-{task_id}-{}", unique())),
        }
    }

    /// The connection a config field names. Missing: a `Fatal` error
    /// naming the task, the field and the connection.
    pub fn connection(&self, field: &str, conn_id: &str) -> Result<&Connection, TaskError> {
        self.connections
            .get(conn_id)
            .ok_or_else(|| self.conn_error(field, ConnectionError::Missing(conn_id.into())))
    }

    pub fn postgres(&self, field: &str, conn_id: &str) -> Result<PostgresConnection, TaskError> {
        PostgresConnection::from_connection(conn_id, self.connection(field, conn_id)?)
            .map_err(|e| self.conn_error(field, e))
    }

    /// The AWS connection named, or the standard credential chain when the
    /// field is not set.
    pub fn aws(&self, field: &str, conn_id: Option<&str>) -> Result<AwsConnection, TaskError> {
        match conn_id {
            None => Ok(AwsConnection::default_chain()),
            Some(id) => {
                AwsConnection::from_connection(id, self.connection(field, id)?).map_err(|e| self.conn_error(field, e))
            }
        }
    }

    /// The GCP connection named, or Application Default Credentials when
    /// the field is not set.
    pub fn gcp(&self, field: &str, conn_id: Option<&str>) -> Result<GcpConnection, TaskError> {
        match conn_id {
            None => Ok(GcpConnection::application_default()),
            Some(id) => {
                GcpConnection::from_connection(id, self.connection(field, id)?).map_err(|e| self.conn_error(field, e))
            }
        }
    }

    pub fn http(&self, field: &str, conn_id: &str) -> Result<HttpConnection, TaskError> {
        HttpConnection::from_connection(conn_id, self.connection(field, conn_id)?)
            .map_err(|e| self.conn_error(field, e))
    }

    fn conn_error(&self, field: &str, e: ConnectionError) -> TaskError {
        TaskError::Fatal(format!("task `{}`: `{field}`: {e}", self.task_id))
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_wrong_connections_name_task_field_and_connection() {
        let mut ctx = TaskContext::detached("load");
        let mut conns = BTreeMap::new();
        conns.insert(
            "web".to_string(),
            Connection {
                conn_type: Some("http".into()),
                ..Default::default()
            },
        );
        ctx.connections = Arc::new(conns);
        let e = ctx.postgres("conn_id", "pg").unwrap_err();
        assert!(matches!(e, TaskError::Fatal(_)));
        assert_eq!(
            e.to_string(),
            "task `load`: `conn_id`: connection `pg` does not exist (add it with `updraft connections set` or `import`)"
        );
        let e = ctx.postgres("conn_id", "web").unwrap_err().to_string();
        assert_eq!(
            e,
            "task `load`: `conn_id`: connection `web` is of type `http`, not `postgres` or `postgresql`"
        );
        assert_eq!(ctx.aws("aws_conn_id", None).unwrap(), AwsConnection::default_chain());
    }
}
