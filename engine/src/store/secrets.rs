//! Connections and variables.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{Result, Store};
use crate::connection::Connection;

impl Store {
    pub async fn set_connection(&self, conn_id: &str, c: &Connection) -> Result<()> {
        sqlx::query(
            "INSERT INTO connections (conn_id, conn_type, host, login, password, port, schema_name, extra) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (conn_id) DO UPDATE SET conn_type = excluded.conn_type, host = excluded.host, login = excluded.login, \
             password = excluded.password, port = excluded.port, schema_name = excluded.schema_name, extra = excluded.extra",
        )
        .bind(conn_id)
        .bind(c.conn_type.as_deref())
        .bind(c.host.as_deref())
        .bind(c.login.as_deref())
        .bind(c.password.as_deref())
        .bind(c.port.map(i64::from))
        .bind(c.schema.as_deref())
        .bind(c.extra.as_ref().map(|e| match e {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn connections(&self) -> Result<BTreeMap<String, Connection>> {
        let rows = sqlx::query("SELECT conn_id, conn_type, host, login, password, port, schema_name, extra FROM connections ORDER BY conn_id")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let extra: Option<String> = r.try_get(7)?;
                Ok((
                    r.try_get(0)?,
                    Connection {
                        conn_type: r.try_get(1)?,
                        host: r.try_get(2)?,
                        login: r.try_get(3)?,
                        password: r.try_get(4)?,
                        port: r.try_get::<Option<i64>, _>(5)?.and_then(|p| u16::try_from(p).ok()),
                        schema: r.try_get(6)?,
                        extra: extra.map(serde_json::Value::String),
                    },
                ))
            })
            .collect()
    }

    pub async fn delete_connection(&self, conn_id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM connections WHERE conn_id = $1")
            .bind(conn_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn set_variable(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO variables (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn variables(&self) -> Result<BTreeMap<String, String>> {
        let rows = sqlx::query("SELECT key, value FROM variables ORDER BY key")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }

    pub async fn delete_variable(&self, key: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM variables WHERE key = $1")
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
