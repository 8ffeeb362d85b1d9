//! A connection for one try, from the task's `postgres` connection, and a
//! way to stop what runs on it: on cancel, a second connection asks the
//! server to cancel the backend's statement (`pg_cancel_backend`), so a
//! long query stops on the server too, not only on our side.

use std::future::Future;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{Connection, Row};
use tokio_util::sync::CancellationToken;
use updraft_operator_api::connection::PostgresConnection;
use updraft_operator_api::{TaskContext, TaskError};

use super::error::sql_error;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Session {
    pub conn: PgConnection,
    pub canceller: Canceller,
}

/// Cancels the session's running statement from another connection.
#[derive(Clone)]
pub struct Canceller {
    opts: PgConnectOptions,
    pid: i32,
}

/// Connection options from the typed view; `application_name` names the
/// task, as `pg_stat_activity` then shows who runs what.
pub fn options(p: &PostgresConnection, ctx: &TaskContext) -> Result<PgConnectOptions, TaskError> {
    let mut o = PgConnectOptions::new_without_pgpass()
        .host(&p.host)
        .port(p.port)
        .application_name(&format!("updraft {}.{}", ctx.dag_id, ctx.task_id));
    if let Some(u) = &p.user {
        o = o.username(u);
    }
    if let Some(pw) = &p.password {
        o = o.password(pw);
    }
    if let Some(db) = &p.database {
        o = o.database(db);
    }
    if let Some(m) = &p.sslmode {
        let mode: PgSslMode = m
            .parse()
            .map_err(|_| TaskError::Fatal(format!("sslmode {m:?} is not a Postgres ssl mode")))?;
        o = o.ssl_mode(mode);
    }
    if let Some(c) = &p.sslrootcert {
        o = o.ssl_root_cert(c);
    }
    if let Some(c) = &p.sslcert {
        o = o.ssl_client_cert(c);
    }
    if let Some(k) = &p.sslkey {
        o = o.ssl_client_key(k);
    }
    Ok(o)
}

impl Session {
    /// Connects with the connection `conn_id` names (read from `field`).
    pub async fn connect(ctx: &TaskContext, field: &str, conn_id: &str) -> Result<Session, TaskError> {
        let p = ctx.postgres(field, conn_id)?;
        let opts = options(&p, ctx)?;
        let place = format!("connecting to Postgres `{conn_id}` ({}:{})", p.host, p.port);
        let mut conn = tokio::select! {
            r = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&opts)) => match r {
                Ok(r) => r.map_err(|e| sql_error(&place, e, None))?,
                Err(_) => return Err(TaskError::Failed(format!("{place}: no answer in {}s", CONNECT_TIMEOUT.as_secs()))),
            },
            () = ctx.cancel.cancelled() => return Err(TaskError::Cancelled),
        };
        let pid: i32 = sqlx::query("SELECT pg_backend_pid()")
            .fetch_one(&mut conn)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(|e| sql_error(&place, e, None))?;
        Ok(Session {
            conn,
            canceller: Canceller { opts, pid },
        })
    }
}

impl Canceller {
    /// Runs `work`; if `cancel` fires first, cancels the server's statement
    /// (best effort, in the background) and returns `Cancelled`.
    pub async fn until<T>(
        &self,
        cancel: &CancellationToken,
        work: impl Future<Output = Result<T, TaskError>>,
    ) -> Result<T, TaskError> {
        tokio::select! {
            r = work => r,
            () = cancel.cancelled() => {
                let me = self.clone();
                tokio::spawn(async move { me.cancel_backend().await });
                Err(TaskError::Cancelled)
            }
        }
    }

    async fn cancel_backend(&self) {
        let done = async {
            let mut c = PgConnection::connect_with(&self.opts).await?;
            sqlx::query("SELECT pg_cancel_backend($1)")
                .bind(self.pid)
                .execute(&mut c)
                .await?;
            c.close().await
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, done).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(pid = self.pid, error = %e, "could not cancel the Postgres statement"),
            Err(_) => tracing::warn!(pid = self.pid, "could not cancel the Postgres statement: timed out"),
        }
    }
}
