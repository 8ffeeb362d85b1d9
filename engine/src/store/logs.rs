//! Task log lines, stored as they are produced so they can be followed live.

use jiff::Timestamp;
use sqlx::Row;

use super::statements::{Arg, Statements};
use super::{LogLine, Result, Store, StoreError, ts, us};

/// A line to store: task instance, try, time, stream, text.
pub type LogRow<'a> = (i64, u32, Timestamp, &'a str, &'a str);

/// Lines per INSERT: 5 parameters each, within SQLite's limit.
pub(crate) const LOG_ROWS_PER_INSERT: usize = 150;

/// Lines looked at per DELETE of [`Store::prune_logs`]: each statement is
/// short, so workers' inserts are not held up.
const PRUNE_BATCH: i64 = 5000;

/// The most characters of one line [`Store::read_logs`] returns: lines are
/// cut when written (64 KiB by default), this bounds what older versions
/// stored whole.
pub const READ_LINE_CHARS: usize = 1 << 20;

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

    /// Deletes the log lines written before `before`, oldest first, and
    /// returns how many. Lines are looked at in id order, a batch at a
    /// time, and it stops at the first batch holding a newer line: ids
    /// follow the time lines were written, so an index on the time is not
    /// needed (and not paid for by every insert).
    pub async fn prune_logs(&self, before: Timestamp) -> Result<u64> {
        let mut total = 0;
        loop {
            let deleted = sqlx::query(
                "DELETE FROM task_logs WHERE id IN (SELECT id FROM task_logs ORDER BY id LIMIT $1) AND at < $2",
            )
            .bind(PRUNE_BATCH)
            .bind(us(before))
            .execute(&mut *self.writes().await?)
            .await?
            .rows_affected();
            total += deleted;
            if deleted < PRUNE_BATCH as u64 {
                return Ok(total);
            }
        }
    }

    /// A try's log lines after `after_seq` (0 for the start), at most
    /// `limit`, each at most [`READ_LINE_CHARS`] long.
    pub async fn read_logs(&self, ti_id: i64, try_number: u32, after_seq: i64, limit: i64) -> Result<Vec<LogLine>> {
        let rows = sqlx::query(
            // 1048576: READ_LINE_CHARS (a literal: Postgres has no
            // substr(text, int, bigint)).
            "SELECT id, at, stream, CASE WHEN length(line) > 1048576 \
             THEN substr(line, 1, 1048576) || ' [... line cut at 1048576 characters when read]' ELSE line END \
             FROM task_logs WHERE ti_id = $1 AND try_number = $2 AND id > $3 ORDER BY id LIMIT $4",
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
