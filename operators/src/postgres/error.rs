//! Postgres errors as task errors: the server's message, detail and hint,
//! the place in the statement it points at, and whether a retry can help
//! (connection loss, serialization failures, a server shutting down) or not
//! (bad SQL, a constraint, bad data).

use sqlx::postgres::{PgDatabaseError, PgErrorPosition};
use updraft_operator_api::TaskError;

/// `context: SQLSTATE: message`, the server's DETAIL and HINT, and the
/// user's SQL with a caret under the position the server names. `sql` is
/// the user's text and how many characters of the statement sent came
/// before it (a `COPY (` around a query).
pub fn sql_error(context: &str, e: sqlx::Error, sql: Option<(&str, usize)>) -> TaskError {
    match e {
        sqlx::Error::Database(db) => {
            let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() else {
                return TaskError::Fatal(format!("{context}: {db}"));
            };
            let mut msg = format!("{context}: {}: {}", pg.code(), pg.message());
            if let Some(d) = pg.detail() {
                msg.push_str(&format!("\n  DETAIL: {d}"));
            }
            if let Some(h) = pg.hint() {
                msg.push_str(&format!("\n  HINT: {h}"));
            }
            if let (Some(PgErrorPosition::Original(pos)), Some((sql, before))) = (pg.position(), sql)
                && pos > before
                && pos - before <= sql.chars().count()
            {
                msg.push_str(&point_at(sql, pos - before));
            }
            if retryable(pg.code()) {
                TaskError::Failed(msg)
            } else {
                TaskError::Fatal(msg)
            }
        }
        sqlx::Error::Configuration(c) => TaskError::Fatal(format!("{context}: {c}")),
        other => TaskError::failed(context, &other),
    }
}

/// SQLSTATE classes worth another try: connection exceptions (08),
/// transaction rollbacks such as serialization failures and deadlocks
/// (40), insufficient resources (53), operator intervention such as a
/// server shutting down (57P0x, but not a statement cancelled on
/// request), system errors (58).
fn retryable(code: &str) -> bool {
    matches!(&code[..2.min(code.len())], "08" | "40" | "53" | "58") || (code.starts_with("57P") && code != "57014")
}

/// `\n  at line L, column C:\n  <the line>\n  <caret>` for a 1-based
/// character position into `sql`.
fn point_at(sql: &str, pos: usize) -> String {
    let mut line_no = 1;
    let mut line_start = 0;
    let mut col = 1;
    for (i, (byte, ch)) in sql.char_indices().enumerate() {
        if i + 1 == pos {
            break;
        }
        if ch == '\n' {
            line_no += 1;
            line_start = byte + 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    let line = sql[line_start..].lines().next().unwrap_or("");
    let pad: String = line
        .chars()
        .take(col - 1)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    format!("\n  at line {line_no}, column {col}:\n  {line}\n  {pad}^")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_at_the_line_and_column() {
        let sql = "SELECT a,\n  b FRM t";
        // "FRM" starts at character 15 (1-based).
        assert_eq!(point_at(sql, 15), "\n  at line 2, column 5:\n    b FRM t\n      ^");
        assert_eq!(point_at("SELEC 1", 1), "\n  at line 1, column 1:\n  SELEC 1\n  ^");
    }

    #[test]
    fn only_transient_classes_are_retried() {
        for c in ["08006", "40001", "40P01", "53300", "57P01", "58000"] {
            assert!(retryable(c), "{c}");
        }
        for c in ["42601", "42P01", "23505", "22P02", "57014", "XX000"] {
            assert!(!retryable(c), "{c}");
        }
    }
}
