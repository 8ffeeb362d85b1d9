//! Embedded migrations, one folder per backend (`migrations/`), applied in
//! order and recorded in `_updraft_migrations`. On Postgres an advisory lock
//! keeps two processes from migrating at once.

use sqlx::Row;

use super::{Dialect, Result, Store, StoreError, now_us};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sqlite: include_str!("../../../migrations/sqlite/0001_init.sql"),
        postgres: include_str!("../../../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "queue_index",
        sqlite: include_str!("../../../migrations/sqlite/0002_queue_index.sql"),
        postgres: include_str!("../../../migrations/postgres/0002_queue_index.sql"),
    },
    Migration {
        version: 3,
        name: "users",
        sqlite: include_str!("../../../migrations/sqlite/0003_users.sql"),
        postgres: include_str!("../../../migrations/postgres/0003_users.sql"),
    },
    Migration {
        version: 4,
        name: "store_meta",
        sqlite: include_str!("../../../migrations/sqlite/0004_store_meta.sql"),
        postgres: include_str!("../../../migrations/postgres/0004_store_meta.sql"),
    },
    Migration {
        version: 5,
        name: "rendered_fields",
        sqlite: include_str!("../../../migrations/sqlite/0005_rendered_fields.sql"),
        postgres: include_str!("../../../migrations/postgres/0005_rendered_fields.sql"),
    },
    Migration {
        version: 6,
        name: "token_expiry",
        sqlite: include_str!("../../../migrations/sqlite/0006_token_expiry.sql"),
        postgres: include_str!("../../../migrations/postgres/0006_token_expiry.sql"),
    },
    Migration {
        version: 7,
        name: "user_roles",
        sqlite: include_str!("../../../migrations/sqlite/0007_user_roles.sql"),
        postgres: include_str!("../../../migrations/postgres/0007_user_roles.sql"),
    },
    Migration {
        version: 8,
        name: "scheduled_runs_index",
        sqlite: include_str!("../../../migrations/sqlite/0008_scheduled_runs_index.sql"),
        postgres: include_str!("../../../migrations/postgres/0008_scheduled_runs_index.sql"),
    },
];

const LOCK_ID: i64 = 0x0055_7064_7261_6674; // "Updraft"

pub async fn run(store: &Store) -> Result<usize> {
    match store.dialect {
        // One transaction holding SQLite's write lock from the start: a
        // second process migrating at the same moment waits, then finds the
        // work done.
        Dialect::Sqlite => {
            let mut conn = store.writes().await?;
            let mut tx = conn.begin().await?;
            let n = apply(store, &mut tx).await?;
            tx.commit().await?;
            Ok(n)
        }
        Dialect::Postgres => {
            let mut conn = store.pool().acquire().await?;
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(LOCK_ID)
                .execute(&mut *conn)
                .await?;
            let result = async {
                let mut tx = sqlx::Acquire::begin(&mut *conn).await?;
                let n = apply(store, &mut tx).await?;
                tx.commit().await?;
                Ok(n)
            }
            .await;
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(LOCK_ID)
                .execute(&mut *conn)
                .await?;
            result
        }
    }
}

async fn apply(store: &Store, conn: &mut sqlx::AnyConnection) -> Result<usize> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS _updraft_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    let applied: Vec<i64> = sqlx::query("SELECT version FROM _updraft_migrations ORDER BY version")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()?;
    if let Some(newest) = applied.last()
        && *newest > MIGRATIONS.last().map_or(0, |m| m.version)
    {
        return Err(StoreError::Conflict(format!(
            "the database is at schema version {newest}, newer than this updraft knows; upgrade updraft"
        )));
    }
    let mut count = 0;
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let sql = match store.dialect {
            Dialect::Sqlite => m.sqlite,
            Dialect::Postgres => m.postgres,
        };
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await?;
        sqlx::query("INSERT INTO _updraft_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
            .bind(m.version)
            .bind(m.name)
            .bind(now_us())
            .execute(&mut *conn)
            .await?;
        count += 1;
    }
    Ok(count)
}

/// How many embedded migrations the database has not applied (all of them
/// when it was never migrated); reads only.
pub async fn pending(store: &Store) -> Result<usize> {
    let applied: Vec<i64> = match sqlx::query("SELECT version FROM _updraft_migrations")
        .fetch_all(store.pool())
        .await
    {
        Ok(rows) => rows.iter().map(|r| r.try_get::<i64, _>(0)).collect::<Result<_, _>>()?,
        // No table: never migrated. Any other error is the store's.
        Err(sqlx::Error::Database(e)) if e.message().contains("_updraft_migrations") => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    Ok(MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)).count())
}
