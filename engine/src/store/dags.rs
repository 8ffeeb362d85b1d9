//! DAGs, their versions (the source each run pins), pause flags and the
//! files that failed to load.

use sqlx::Row;

use super::{Result, Store, StoreError, now_us};

/// A DAG as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDag {
    pub dag_id: String,
    pub file: String,
    pub is_paused: bool,
    pub version_id: Option<i64>,
}

/// FNV-1a, 64 bits: a stable fingerprint of a DAG's source text.
fn fingerprint(source: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in source.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}-{}", source.len())
}

impl Store {
    /// Records a DAG's current source: returns the id of its version (an
    /// existing one when the text is unchanged). New DAGs start paused unless
    /// `paused_at_creation` is false.
    pub async fn sync_dag(&self, dag_id: &str, file: &str, source: &str, paused_at_creation: bool) -> Result<i64> {
        let hash = fingerprint(source);
        let now = now_us();
        let mut conn = self.writes().await?;
        let mut tx = conn.begin().await?;
        sqlx::query(
            "INSERT INTO dag_versions (dag_id, hash, file, source, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dag_id, hash) DO NOTHING",
        )
        .bind(dag_id)
        .bind(&hash)
        .bind(file)
        .bind(source)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let version_id: i64 = sqlx::query("SELECT id FROM dag_versions WHERE dag_id = $1 AND hash = $2")
            .bind(dag_id)
            .bind(&hash)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        sqlx::query(
            "INSERT INTO dags (dag_id, file, is_paused, version_id, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (dag_id) DO UPDATE SET file = excluded.file, version_id = excluded.version_id, updated_at = excluded.updated_at",
        )
        .bind(dag_id)
        .bind(file)
        .bind(i64::from(paused_at_creation))
        .bind(version_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(version_id)
    }

    /// The source text of a DAG version, with its DAG id and file.
    pub async fn dag_version(&self, version_id: i64) -> Result<(String, String, String)> {
        let row = sqlx::query("SELECT dag_id, file, source FROM dag_versions WHERE id = $1")
            .bind(version_id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("DAG version {version_id} is missing")))?;
        Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
    }

    pub async fn list_dags(&self) -> Result<Vec<StoredDag>> {
        let rows = sqlx::query("SELECT dag_id, file, is_paused, version_id FROM dags ORDER BY dag_id")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredDag {
                    dag_id: r.try_get(0)?,
                    file: r.try_get(1)?,
                    is_paused: r.try_get::<i64, _>(2)? != 0,
                    version_id: r.try_get(3)?,
                })
            })
            .collect()
    }

    pub async fn get_dag(&self, dag_id: &str) -> Result<Option<StoredDag>> {
        Ok(self.list_dags().await?.into_iter().find(|d| d.dag_id == dag_id))
    }

    /// Pauses or unpauses; false when the store does not know the DAG.
    pub async fn set_paused(&self, dag_id: &str, paused: bool) -> Result<bool> {
        let done = sqlx::query("UPDATE dags SET is_paused = $1 WHERE dag_id = $2")
            .bind(i64::from(paused))
            .bind(dag_id)
            .execute(&mut *self.writes().await?)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Replaces the recorded load errors with these (file -> diagnostics).
    pub async fn set_import_errors(&self, errors: &[(String, Vec<String>)]) -> Result<()> {
        let mut conn = self.writes().await?;
        let mut tx = conn.begin().await?;
        sqlx::query("DELETE FROM import_errors").execute(&mut *tx).await?;
        let now = now_us();
        for (file, lines) in errors {
            sqlx::query("INSERT INTO import_errors (file, errors, updated_at) VALUES ($1, $2, $3)")
                .bind(file)
                .bind(lines.join("\n"))
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Files that failed to load, with their diagnostics.
    pub async fn import_errors(&self) -> Result<Vec<(String, Vec<String>)>> {
        let rows = sqlx::query("SELECT file, errors FROM import_errors ORDER BY file")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let text: String = r.try_get(1)?;
                Ok((r.try_get(0)?, text.lines().map(str::to_string).collect()))
            })
            .collect()
    }
}
