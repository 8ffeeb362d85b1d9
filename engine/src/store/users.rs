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
    pub role: Role,
    pub created_at: Timestamp,
    pub tokens: i64,
}

/// What a web UI user (and their API tokens) may do, each role all that
/// the one before it may: a viewer reads; an op also triggers, pauses,
/// backfills, clears and marks; an admin also sees connections and
/// variables. Users made before roles existed are admins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Viewer,
    Op,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Op, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Op => "op",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("no role `{s}`: the roles are admin, op and viewer"))
    }
}

fn role(text: String) -> Result<Role> {
    text.parse()
        .map_err(|e| super::StoreError::Conflict(format!("users.role holds an unknown value: {e}")))
}

impl Store {
    /// Creates a user, or replaces the password hash of an existing one.
    /// A new password ends every session and API token of the user (in the
    /// same transaction): whoever knew the old one keeps no access.
    /// A new user is an admin; an existing one keeps their role.
    pub async fn set_user(&self, username: &str, password_hash: &str) -> Result<()> {
        self.save_user(username, password_hash, None).await
    }

    /// [`Store::set_user`] that also sets the role when one is given
    /// (without one: admin for a new user, unchanged for an existing one).
    pub async fn save_user(&self, username: &str, password_hash: &str, role: Option<Role>) -> Result<()> {
        let role = role.map(Role::as_str);
        let mut conn = self.writes().await?;
        let mut tx = conn.begin().await?;
        for sql in [
            "DELETE FROM api_tokens WHERE username = $1",
            "DELETE FROM web_sessions WHERE username = $1",
        ] {
            sqlx::query(sql).bind(username).execute(&mut *tx).await?;
        }
        sqlx::query(
            "INSERT INTO users (username, password_hash, created_at, role) VALUES ($1, $2, $3, COALESCE($4, 'admin')) \
             ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, \
             role = COALESCE($4, users.role)",
        )
        .bind(username)
        .bind(password_hash)
        .bind(now_us())
        .bind(role)
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

    /// Sets a user's role; false when there is no such user. Their
    /// sessions and tokens act with the new role from their next request.
    pub async fn set_role(&self, username: &str, role: Role) -> Result<bool> {
        let done = sqlx::query("UPDATE users SET role = $2 WHERE username = $1")
            .bind(username)
            .bind(role.as_str())
            .execute(&mut *self.writes().await?)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn user_role(&self, username: &str) -> Result<Option<Role>> {
        let row = sqlx::query("SELECT role FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| role(r.try_get(0)?)).transpose()
    }

    pub async fn count_users(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM users")
            .fetch_one(self.pool())
            .await?
            .try_get(0)?)
    }

    pub async fn list_users(&self) -> Result<Vec<UserInfo>> {
        let rows = sqlx::query(
            "SELECT u.username, u.created_at, (SELECT COUNT(*) FROM api_tokens t WHERE t.username = u.username), \
             u.role FROM users u ORDER BY u.username",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(UserInfo {
                    username: r.try_get(0)?,
                    created_at: ts(r.try_get(1)?)?,
                    tokens: r.try_get(2)?,
                    role: role(r.try_get(3)?)?,
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
        Ok(self.token_user_role(token_hash).await?.map(|(user, _)| user))
    }

    /// [`Store::token_user`] with the user's role: a token acts with it.
    pub async fn token_user_role(&self, token_hash: &str) -> Result<Option<(String, Role)>> {
        self.user_role_of(
            "SELECT u.username, u.role FROM api_tokens t JOIN users u ON u.username = t.username \
             WHERE t.token_hash = $1 AND t.expires_at > $2",
            token_hash,
        )
        .await
    }

    /// The user and role a query over a credential's hash (bound to `$1`,
    /// the time now to `$2`) finds.
    async fn user_role_of(&self, sql: &'static str, hash: &str) -> Result<Option<(String, Role)>> {
        let row = sqlx::query(sql)
            .bind(hash)
            .bind(now_us())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| Ok((r.try_get(0)?, role(r.try_get(1)?)?))).transpose()
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
        Ok(self.session_user_role(session_hash).await?.map(|(user, _)| user))
    }

    /// [`Store::session_user`] with the user's role, read on each request
    /// so that a new role applies at once.
    pub async fn session_user_role(&self, session_hash: &str) -> Result<Option<(String, Role)>> {
        self.user_role_of(
            "SELECT u.username, u.role FROM web_sessions s JOIN users u ON u.username = s.username \
             WHERE s.session_hash = $1 AND s.expires_at > $2",
            session_hash,
        )
        .await
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Users saved before migration 0007 could do everything: they become
    /// admins.
    #[tokio::test]
    async fn users_from_before_roles_become_admins() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}/u.db", dir.path().display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        sqlx::raw_sql(
            "DELETE FROM _updraft_migrations WHERE version = 7; ALTER TABLE users DROP COLUMN role; \
             INSERT INTO users (username, password_hash, created_at) VALUES ('old', 'h', 0)",
        )
        .execute(store.pool())
        .await
        .unwrap();
        assert_eq!(store.migrate().await.unwrap(), 1);
        assert_eq!(store.user_role("old").await.unwrap(), Some(Role::Admin));
        assert_eq!("op".parse::<Role>(), Ok(Role::Op));
        assert!("root".parse::<Role>().unwrap_err().contains("admin, op and viewer"));
    }
}
