//! Connections and variables.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{Result, Store, StoreError};

impl Store {
    fn seal(&self, v: Option<String>) -> Option<String> {
        match (&self.cipher, v) {
            (Some(c), Some(v)) => Some(c.seal(&v)),
            (_, v) => v,
        }
    }

    fn unseal(&self, what: &str, encrypted: bool, v: Option<String>) -> Result<Option<String>> {
        match (encrypted, v) {
            (false, v) | (true, v @ None) => Ok(v),
            (true, Some(v)) => {
                let cipher = self.cipher.as_ref().ok_or_else(|| {
                    StoreError::Secret(format!(
                        "{what} is encrypted at rest; set UPDRAFT_SECRET_KEY to read it"
                    ))
                })?;
                cipher.open(&v).map(Some).ok_or_else(|| {
                    StoreError::Secret(format!(
                        "{what} cannot be decrypted: is UPDRAFT_SECRET_KEY the key it was stored with?"
                    ))
                })
            }
        }
    }
}
use crate::connection::Connection;

impl Store {
    pub async fn set_connection(&self, conn_id: &str, c: &Connection) -> Result<()> {
        sqlx::query(
            "INSERT INTO connections (conn_id, conn_type, host, login, password, port, schema_name, extra, encrypted) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (conn_id) DO UPDATE SET conn_type = excluded.conn_type, host = excluded.host, login = excluded.login, \
             password = excluded.password, port = excluded.port, schema_name = excluded.schema_name, extra = excluded.extra, encrypted = excluded.encrypted",
        )
        .bind(conn_id)
        .bind(c.conn_type.as_deref())
        .bind(c.host.as_deref())
        .bind(c.login.as_deref())
        .bind(self.seal(c.password.clone()))
        .bind(c.port.map(i64::from))
        .bind(c.schema.as_deref())
        .bind(self.seal(c.extra.as_ref().map(|e| match e {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })))
        .bind(i64::from(self.cipher.is_some()))
        .execute(&mut *self.writes().await?)
        .await?;
        Ok(())
    }

    pub async fn connections(&self) -> Result<BTreeMap<String, Connection>> {
        let rows = sqlx::query("SELECT conn_id, conn_type, host, login, password, port, schema_name, extra, encrypted FROM connections ORDER BY conn_id")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get(0)?;
                let encrypted = r.try_get::<i64, _>(8)? != 0;
                let what = format!("connection `{id}`");
                let extra = self.unseal(&what, encrypted, r.try_get(7)?)?;
                let password = self.unseal(&what, encrypted, r.try_get(4)?)?;
                Ok((
                    id,
                    Connection {
                        conn_type: r.try_get(1)?,
                        host: r.try_get(2)?,
                        login: r.try_get(3)?,
                        password,
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
            .execute(&mut *self.writes().await?)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn set_variable(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO variables (key, value, encrypted) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, encrypted = excluded.encrypted",
        )
        .bind(key)
        .bind(self.seal(Some(value.to_string())))
        .bind(i64::from(self.cipher.is_some()))
        .execute(&mut *self.writes().await?)
        .await?;
        Ok(())
    }

    pub async fn variables(&self) -> Result<BTreeMap<String, String>> {
        let rows = sqlx::query("SELECT key, value, encrypted FROM variables ORDER BY key")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let key: String = r.try_get(0)?;
                let encrypted = r.try_get::<i64, _>(2)? != 0;
                let value = self
                    .unseal(&format!("variable `{key}`"), encrypted, r.try_get(1)?)?
                    .unwrap_or_default();
                Ok((key, value))
            })
            .collect()
    }

    pub async fn delete_variable(&self, key: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM variables WHERE key = $1")
            .bind(key)
            .execute(&mut *self.writes().await?)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
