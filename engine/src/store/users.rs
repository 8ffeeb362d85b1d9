//! Web UI users, API tokens and browser sessions. The store keeps only
//! hashes: the password hash is made by the caller (argon2id in `web/`),
//! tokens and session ids are SHA-256 hashed there too.

use jiff::Timestamp;
use sqlx::Row;

use super::{Result, Store, now_us, ts, us};

/// How many hex digits of a token's hash name it in listings.
pub const TOKEN_ID_LEN: usize = 12;
const WEB_SECRET: &str = "web_secret";

/// An API token as listed: never the token, only its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The first [`TOKEN_ID_LEN`] hex digits of the token's hash.
    pub id: String,
    pub name: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A user as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub username: String,
    pub created_at: Timestamp,
    pub tokens: i64,
}

impl Store {
    /// Creates a user, or replaces the password hash of an existing one.
    /// A new password ends every session and API token of the user (in the
    /// same transaction): whoever knew the old one keeps no access.
    pub async fn set_user(&self, username: &str, password_hash: &str) -> Result<()> {
        let mut conn = self.writes().await?;
        let mut tx = conn.begin().await?;
        for sql in [
            "DELETE FROM api_tokens WHERE username = $1",
            "DELETE FROM web_sessions WHERE username = $1",
        ] {
            sqlx::query(sql).bind(username).execute(&mut *tx).await?;
        }
        sqlx::query(
            "INSERT INTO users (username, password_hash, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash",
        )
        .bind(username)
        .bind(password_hash)
        .bind(now_us())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn user_password_hash(&self, username: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT password_hash FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| r.try_get(0)).transpose().map_err(Into::into)
    }

    pub async fn count_users(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM users")
            .fetch_one(self.pool())
            .await?
            .try_get(0)?)
    }

    pub async fn list_users(&self) -> Result<Vec<UserInfo>> {
        let rows = sqlx::query(
            "SELECT u.username, u.created_at, (SELECT COUNT(*) FROM api_tokens t WHERE t.username = u.username) \
             FROM users u ORDER BY u.username",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(UserInfo {
                    username: r.try_get(0)?,
                    created_at: ts(r.try_get(1)?)?,
                    tokens: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// Deletes a user with their tokens and sessions.
    pub async fn delete_user(&self, username: &str) -> Result<bool> {
        let mut conn = self.writes().await?;
        let mut tx = conn.begin().await?;
        for sql in [
            "DELETE FROM api_tokens WHERE username = $1",
            "DELETE FROM web_sessions WHERE username = $1",
        ] {
            sqlx::query(sql).bind(username).execute(&mut *tx).await?;
        }
        let done = sqlx::query("DELETE FROM users WHERE username = $1")
            .bind(username)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Stores an API token (by hash) valid until `expires_at`.
    pub async fn add_api_token(
        &self,
        username: &str,
        name: &str,
        token_hash: &str,
        expires_at: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_tokens (token_hash, username, name, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(username)
        .bind(name)
        .bind(now_us())
        .bind(us(expires_at))
        .execute(&mut *self.writes().await?)
        .await?;
        Ok(())
    }

    /// The user a live API token (by hash) belongs to; expired tokens are
    /// not found.
    pub async fn token_user(&self, token_hash: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT username FROM api_tokens WHERE token_hash = $1 AND expires_at > $2")
            .bind(token_hash)
            .bind(now_us())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| r.try_get(0)).transpose().map_err(Into::into)
    }

    /// A user's API tokens, expired ones included, oldest first.
    pub async fn list_tokens(&self, username: &str) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query(
            "SELECT token_hash, name, created_at, expires_at FROM api_tokens WHERE username = $1 \
             ORDER BY created_at, token_hash",
        )
        .bind(username)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let hash: String = r.try_get(0)?;
                Ok(TokenInfo {
                    id: hash.chars().take(TOKEN_ID_LEN).collect(),
                    name: r.try_get(1)?,
                    created_at: ts(r.try_get(2)?)?,
                    expires_at: ts(r.try_get::<Option<i64>, _>(3)?.unwrap_or(0))?,
                })
            })
            .collect()
    }

    /// Deletes a user's tokens whose id (as listed) or name is `token`;
    /// returns how many.
    pub async fn revoke_token(&self, username: &str, token: &str) -> Result<u64> {
        let sql = format!(
            "DELETE FROM api_tokens WHERE username = $1 AND (name = $2 OR substr(token_hash, 1, {TOKEN_ID_LEN}) = $2)"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(username)
            .bind(token)
            .execute(&mut *self.writes().await?)
            .await?;
        Ok(done.rows_affected())
    }

    /// The web UI's random secret for this store (it signs CSRF tokens),
    /// made by the first process that asks. `make` supplies a new one.
    pub async fn web_secret(&self, make: impl FnOnce() -> String) -> Result<String> {
        sqlx::query("INSERT INTO store_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(WEB_SECRET)
            .bind(make())
            .execute(&mut *self.writes().await?)
            .await?;
        Ok(sqlx::query("SELECT value FROM store_meta WHERE name = $1")
            .bind(WEB_SECRET)
            .fetch_one(self.pool())
            .await?
            .try_get(0)?)
    }

    pub async fn create_session(&self, session_hash: &str, username: &str, expires_at: Timestamp) -> Result<()> {
        sqlx::query("INSERT INTO web_sessions (session_hash, username, expires_at) VALUES ($1, $2, $3)")
            .bind(session_hash)
            .bind(username)
            .bind(us(expires_at))
            .execute(&mut *self.writes().await?)
            .await?;
        Ok(())
    }

    /// The user of a live session (by hash); expired ones are not found.
    pub async fn session_user(&self, session_hash: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT username FROM web_sessions WHERE session_hash = $1 AND expires_at > $2")
            .bind(session_hash)
            .bind(now_us())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| r.try_get(0)).transpose().map_err(Into::into)
    }

    /// Ends a session, and drops every expired one.
    pub async fn delete_session(&self, session_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM web_sessions WHERE session_hash = $1 OR expires_at <= $2")
            .bind(session_hash)
            .bind(now_us())
            .execute(&mut *self.writes().await?)
            .await?;
        Ok(())
    }
}
