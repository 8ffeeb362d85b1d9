//! Connections and variables, sealed at rest when the store has a secret
//! key (see [`super::cipher`]).
//!
//! A store becomes *keyed* the first time it is opened with a key: a random
//! salt and a check value go into `store_meta`. From then on every process
//! must bring the same key: a wrong one is refused when the store is
//! opened, and a missing one when a secret is read or written (writing in
//! clear into a keyed store would defeat the key).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sqlx::Row;

use super::cipher::{Cipher, new_salt};
use super::{Result, Store, StoreError};
use crate::connection::Connection;

const SALT: &str = "secrets.salt";
const CHECK: &str = "secrets.check";
const CHECK_TEXT: &str = "updraft secret key check";

/// What `secrets encrypt` and `secrets rotate-key` rewrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    pub connections: usize,
    pub variables: usize,
}

/// How many stored secrets are not sealed in the current format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecretCounts {
    pub sealed: usize,
    /// In clear, or sealed by an older format: `secrets encrypt` fixes both.
    pub stale: usize,
}

fn aad_password(conn_id: &str) -> String {
    format!("connections/{conn_id}/password")
}
fn aad_extra(conn_id: &str) -> String {
    format!("connections/{conn_id}/extra")
}
fn aad_variable(key: &str) -> String {
    format!("variables/{key}")
}

fn extra_text(e: &serde_json::Value) -> String {
    match e {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn no_key(what: &str) -> StoreError {
    StoreError::Secret(format!(
        "{what} is encrypted at rest; set UPDRAFT_SECRET_KEY to read it"
    ))
}

/// One stored connection or variable, as its row holds it.
struct RawSecret {
    table: &'static str,
    id: String,
    encrypted: bool,
    /// (column, aad, value) of each secret field.
    fields: Vec<(&'static str, String, Option<String>)>,
}

impl RawSecret {
    /// Sealed, every field in the current format (else `secrets encrypt`
    /// rewrites it).
    fn is_current(&self) -> bool {
        self.encrypted
            && self
                .fields
                .iter()
                .all(|(_, _, v)| v.as_deref().is_none_or(Cipher::is_current))
    }
}

impl Store {
    /// Applies `UPDRAFT_SECRET_KEY`: the first keyed open of a store gives it
    /// a salt; later opens must bring the same key, or are refused here.
    pub async fn with_secret_key(mut self, key: &str) -> Result<Self> {
        let salt = match self.meta(SALT).await? {
            Some(s) => s,
            None => {
                let salt = STANDARD.encode(new_salt());
                let cipher = derive(key, &salt)?;
                // Two processes keying a new store at once: the first salt wins.
                let mut w = self.writes().await?;
                let mut tx = w.begin().await?;
                for (name, value) in [(SALT, salt), (CHECK, cipher.seal(CHECK_TEXT, CHECK))] {
                    sqlx::query("INSERT INTO store_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                        .bind(name)
                        .bind(value)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                drop(w);
                self.meta(SALT)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("store_meta lost its salt".into()))?
            }
        };
        let cipher = derive(key, &salt)?;
        let check = self
            .meta(CHECK)
            .await?
            .ok_or_else(|| StoreError::Corrupt("store_meta has a salt but no key check".into()))?;
        if cipher.open(&check, CHECK).as_deref() != Some(CHECK_TEXT) {
            return Err(StoreError::Secret(
                "UPDRAFT_SECRET_KEY is not the key this store's secrets are encrypted with \
                 (to change keys, use `updraft secrets rotate-key` with the current key set)"
                    .into(),
            ));
        }
        self.cipher = Some(cipher);
        Ok(self)
    }

    async fn meta(&self, name: &str) -> Result<Option<String>> {
        Ok(sqlx::query("SELECT value FROM store_meta WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?
            .map(|r| r.try_get(0))
            .transpose()?)
    }

    /// The sealed form of a value for row `aad`, or the value itself in a
    /// store that has never been keyed. A keyed store refuses clear writes.
    async fn seal_for(&self, values: &[(&str, Option<&str>)]) -> Result<(Vec<Option<String>>, bool)> {
        match &self.cipher {
            Some(c) => Ok((values.iter().map(|(aad, v)| v.map(|v| c.seal(v, aad))).collect(), true)),
            None if self.meta(SALT).await?.is_some() => Err(StoreError::Secret(
                "this store's secrets are encrypted at rest; set UPDRAFT_SECRET_KEY to write them".into(),
            )),
            None => Ok((values.iter().map(|(_, v)| v.map(str::to_string)).collect(), false)),
        }
    }

    fn unseal(&self, what: &str, aad: &str, encrypted: bool, v: Option<String>) -> Result<Option<String>> {
        match (encrypted, v) {
            (false, v) | (true, v @ None) => Ok(v),
            (true, Some(v)) => {
                let cipher = self.cipher.as_ref().ok_or_else(|| no_key(what))?;
                cipher.open(&v, aad).map(Some).ok_or_else(|| {
                    StoreError::Secret(format!(
                        "{what} cannot be decrypted: is UPDRAFT_SECRET_KEY the key it was stored with?"
                    ))
                })
            }
        }
    }

    pub async fn set_connection(&self, conn_id: &str, c: &Connection) -> Result<()> {
        let extra = c.extra.as_ref().map(extra_text);
        let (sealed, encrypted) = self
            .seal_for(&[
                (&aad_password(conn_id), c.password.as_deref()),
                (&aad_extra(conn_id), extra.as_deref()),
            ])
            .await?;
        sqlx::query(
            "INSERT INTO connections (conn_id, conn_type, host, login, password, port, schema_name, extra, encrypted) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (conn_id) DO UPDATE SET conn_type = excluded.conn_type, host = excluded.host, login = excluded.login, \
             password = excluded.password, port = excluded.port, schema_name = excluded.schema_name, extra = excluded.extra, encrypted = excluded.encrypted",
        )
        .bind(conn_id)
        .bind(c.conn_type.as_deref())
        .bind(c.host.as_deref())
        .bind(c.login.as_deref())
        .bind(sealed[0].as_deref())
        .bind(c.port.map(i64::from))
        .bind(c.schema.as_deref())
        .bind(sealed[1].as_deref())
        .bind(i64::from(encrypted))
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
                let extra = self.unseal(&what, &aad_extra(&id), encrypted, r.try_get(7)?)?;
                let password = self.unseal(&what, &aad_password(&id), encrypted, r.try_get(4)?)?;
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
        let (sealed, encrypted) = self.seal_for(&[(&aad_variable(key), Some(value))]).await?;
        sqlx::query(
            "INSERT INTO variables (key, value, encrypted) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, encrypted = excluded.encrypted",
        )
        .bind(key)
        .bind(sealed[0].as_deref())
        .bind(i64::from(encrypted))
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
                    .unseal(
                        &format!("variable `{key}`"),
                        &aad_variable(&key),
                        encrypted,
                        r.try_get(1)?,
                    )?
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

    /// Stored secrets by state: sealed in the current format, or stale (in
    /// clear, or sealed by an older format).
    pub async fn secret_counts(&self) -> Result<SecretCounts> {
        let mut counts = SecretCounts::default();
        let mut conn = self.pool().acquire().await?;
        for raw in read_raw(&mut conn).await? {
            if raw.is_current() {
                counts.sealed += 1;
            } else {
                counts.stale += 1;
            }
        }
        Ok(counts)
    }

    /// `updraft secrets encrypt`: seals, under this store's key, every
    /// connection and variable stored in clear or in an older format, in
    /// one transaction.
    pub async fn encrypt_secrets(&self) -> Result<Resealed> {
        let cipher = self
            .cipher
            .clone()
            .ok_or_else(|| StoreError::Secret("set UPDRAFT_SECRET_KEY to the key to encrypt with".into()))?;
        self.reseal(&cipher, None).await
    }

    /// `updraft secrets rotate-key`: every secret re-sealed under `new_key`
    /// (with a new salt) in one transaction; on any error nothing changes.
    /// The store must have been opened with its current key (or never have
    /// had one).
    pub async fn rotate_secret_key(&self, new_key: &str) -> Result<Resealed> {
        if self.cipher.is_none() && self.meta(SALT).await?.is_some() {
            return Err(StoreError::Secret(
                "set UPDRAFT_SECRET_KEY to the current key to rotate it".into(),
            ));
        }
        let salt = STANDARD.encode(new_salt());
        let cipher = derive(new_key, &salt)?;
        let check = cipher.seal(CHECK_TEXT, CHECK);
        self.reseal(&cipher, Some((salt, check))).await
    }

    /// Rewrites secrets sealed with `to`: all of them and the store's salt
    /// and check when `new_meta` is given (a new key), else only those not
    /// sealed in the current format.
    async fn reseal(&self, to: &Cipher, new_meta: Option<(String, String)>) -> Result<Resealed> {
        let all = new_meta.is_some();
        let mut w = self.writes().await?;
        let mut tx = w.begin().await?;
        let mut done = Resealed::default();
        for raw in read_raw(&mut tx).await? {
            if !all && raw.is_current() {
                continue;
            }
            let what = match raw.table {
                "connections" => format!("connection `{}`", raw.id),
                _ => format!("variable `{}`", raw.id),
            };
            let mut sets = Vec::new();
            let mut values = Vec::new();
            for (column, aad, v) in raw.fields {
                let plain = self.unseal(&what, &aad, raw.encrypted, v)?;
                sets.push(format!("{column} = ${}", sets.len() + 1));
                values.push(plain.map(|p| to.seal(&p, &aad)));
            }
            let (key_column, counter) = match raw.table {
                "connections" => ("conn_id", &mut done.connections),
                _ => ("key", &mut done.variables),
            };
            let sql = format!(
                "UPDATE {} SET {}, encrypted = 1 WHERE {key_column} = ${}",
                raw.table,
                sets.join(", "),
                values.len() + 1
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for v in values {
                q = q.bind(v);
            }
            q.bind(raw.id).execute(&mut *tx).await?;
            *counter += 1;
        }
        if let Some((salt, check)) = new_meta {
            for (name, value) in [(SALT, salt), (CHECK, check)] {
                sqlx::query(
                    "INSERT INTO store_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                )
                .bind(name)
                .bind(value)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(done)
    }
}

fn derive(key: &str, salt: &str) -> Result<Cipher> {
    let salt = STANDARD
        .decode(salt)
        .map_err(|_| StoreError::Corrupt("store_meta's secrets salt is not base64".into()))?;
    Ok(Cipher::derive(key, &salt))
}

/// Every connection's and variable's secret fields, as stored.
async fn read_raw(conn: &mut sqlx::AnyConnection) -> Result<Vec<RawSecret>> {
    let mut out = Vec::new();
    for r in sqlx::query("SELECT conn_id, password, extra, encrypted FROM connections ORDER BY conn_id")
        .fetch_all(&mut *conn)
        .await?
    {
        let id: String = r.try_get(0)?;
        out.push(RawSecret {
            table: "connections",
            encrypted: r.try_get::<i64, _>(3)? != 0,
            fields: vec![
                ("password", aad_password(&id), r.try_get(1)?),
                ("extra", aad_extra(&id), r.try_get(2)?),
            ],
            id,
        });
    }
    for r in sqlx::query("SELECT key, value, encrypted FROM variables ORDER BY key")
        .fetch_all(&mut *conn)
        .await?
    {
        let id: String = r.try_get(0)?;
        out.push(RawSecret {
            table: "variables",
            encrypted: r.try_get::<i64, _>(2)? != 0,
            fields: vec![("value", aad_variable(&id), r.try_get(1)?)],
            id,
        });
    }
    Ok(out)
}
