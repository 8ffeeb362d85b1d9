//! Task log lines, stored as they are produced so they can be followed live.

use jiff::Timestamp;
use sqlx::Row;

use super::statements::{Arg, Statements};
use super::{LogLine, Result, Store, StoreError, ts, us};

/// A line to store: task instance, try, time, stream, text.
pub type LogRow<'a> = (i64, u32, Timestamp, &'a str, &'a str);

/// Lines per INSERT: 5 parameters each, within SQLite's limit.
pub(crate) const LOG_ROWS_PER_INSERT: usize = 150;

/// One INSERT of at most [`LOG_ROWS_PER_INSERT`] lines.
/// A try's rendered config (JSON text, masked): ti_id, try_number, fields.
pub type RenderedRow<'a> = (i64, u32, &'a str);

/// Stores rendered fields (again for a try handed back and run again).
pub(crate) fn push_rendered_insert(stmts: &mut Statements, rows: &[RenderedRow<'_>]) {
    let mut sql = String::from("INSERT INTO rendered_fields (ti_id, try_number, fields) VALUES ");
    let mut args = Vec::with_capacity(rows.len() * 3);
    for (i, (ti, try_number, fields)) in rows.iter().enumerate() {
        let b = 1 + i * 3;
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&format!("(${b}, ${}, ${})", b + 1, b + 2));
        args.extend([Arg::Int(*ti), Arg::Int(i64::from(*try_number)), Arg::from(*fields)]);
    }
    sql.push_str(" ON CONFLICT (ti_id, try_number) DO UPDATE SET fields = excluded.fields");
    stmts.push(&sql, args);
}

pub(crate) fn push_log_insert(stmts: &mut Statements, rows: &[LogRow<'_>]) {
    debug_assert!(rows.len() <= LOG_ROWS_PER_INSERT);
    let mut sql = String::from("INSERT INTO task_logs (ti_id, try_number, at, stream, line) VALUES ");
    let mut args = Vec::with_capacity(rows.len() * 5);
    for (i, (ti, try_number, at, stream, line)) in rows.iter().enumerate() {
        let b = 1 + i * 5;
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&format!("(${b}, ${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4));
        args.extend([
            Arg::Int(*ti),
            Arg::Int(i64::from(*try_number)),
            Arg::Int(us(*at)),
            Arg::from(*stream),
            Arg::from(*line),
        ]);
    }
    stmts.push(&sql, args);
}

impl Store {
    /// Appends lines (time, stream, text) to a try's log.
    pub async fn append_logs(&self, ti_id: i64, try_number: u32, lines: &[(Timestamp, &str, &str)]) -> Result<()> {
        let rows: Vec<LogRow<'_>> = lines
            .iter()
            .map(|(at, stream, line)| (ti_id, try_number, *at, *stream, *line))
            .collect();
        self.append_log_rows(&rows).await
    }

    /// Appends lines of many tries at once.
    pub async fn append_log_rows(&self, rows: &[LogRow<'_>]) -> Result<()> {
        for chunk in rows.chunks(LOG_ROWS_PER_INSERT) {
            let mut stmts = Statements::new();
            push_log_insert(&mut stmts, chunk);
            stmts.execute(&mut *self.writes().await?).await?;
        }
        Ok(())
    }

    /// Stores tries' rendered fields.
    pub async fn save_rendered(&self, rows: &[RenderedRow<'_>]) -> Result<()> {
        for chunk in rows.chunks(100) {
            let mut stmts = Statements::new();
            push_rendered_insert(&mut stmts, chunk);
            stmts.execute(&mut *self.writes().await?).await?;
        }
        Ok(())
    }

    /// What a try's config rendered to (masked), if it started.
    pub async fn rendered_fields(&self, ti_id: i64, try_number: u32) -> Result<Option<serde_json::Value>> {
        let row = sqlx::query("SELECT fields FROM rendered_fields WHERE ti_id = $1 AND try_number = $2")
            .bind(ti_id)
            .bind(i64::from(try_number))
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            let text: String = r.try_get(0)?;
            serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("rendered fields of {ti_id}/{try_number}: {e}")))
        })
        .transpose()
    }

    /// A try's log lines after `after_seq` (0 for the start), at most `limit`.
    pub async fn read_logs(&self, ti_id: i64, try_number: u32, after_seq: i64, limit: i64) -> Result<Vec<LogLine>> {
        let rows = sqlx::query(
            "SELECT id, at, stream, line FROM task_logs WHERE ti_id = $1 AND try_number = $2 AND id > $3 ORDER BY id LIMIT $4",
        )
        .bind(ti_id)
        .bind(i64::from(try_number))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LogLine {
                    seq: r.try_get(0)?,
                    at: ts(r.try_get(1)?)?,
                    stream: r.try_get(2)?,
                    line: r.try_get(3)?,
                })
            })
            .collect()
    }
}
