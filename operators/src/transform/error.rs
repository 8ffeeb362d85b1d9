//! Why a transform failed, and how that reads: a value names the file, its
//! row (and line, for CSV), the column and the value; a missing column
//! names the columns there are.

use updraft_operator_api::TaskError;

use super::table::LineMap;

#[derive(Debug)]
pub enum Error {
    /// A value (or a row of a CSV file) that cannot be read as asked.
    Value {
        row: u64,
        column: Option<String>,
        value: Option<String>,
        problem: String,
    },
    /// The data does not fit the config: a missing column, a step on a
    /// column of the wrong type, a bad header. The message says it all.
    Plan(String),
    /// Reading the input failed (retrying may help: a network error).
    Read(std::io::Error),
    /// The input is not a valid file of its format.
    BadFile(String),
    /// Writing the output failed.
    Write(String),
    Cancelled,
    /// The other end of a channel stopped: the cause is reported there.
    Stopped,
}

impl Error {
    pub fn value(row: u64, column: &str, value: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::Value {
            row,
            column: Some(column.to_string()),
            value: Some(value.into()),
            problem: problem.into(),
        }
    }

    pub fn row(row: u64, problem: impl Into<String>) -> Self {
        Error::Value {
            row,
            column: None,
            value: None,
            problem: problem.into(),
        }
    }

    /// Of two errors from the threads of one run, the one to report: a
    /// cause rather than "the other side stopped".
    pub fn rank(&self) -> u8 {
        match self {
            Error::Stopped => 0,
            Error::Cancelled => 1,
            Error::Write(m) if m.contains("the destination stopped taking data") => 1,
            _ => 2,
        }
    }
}

impl From<arrow_schema::ArrowError> for Error {
    fn from(e: arrow_schema::ArrowError) -> Self {
        Error::Plan(e.to_string())
    }
}

/// Where the input came from, to say where a value is.
pub struct Origin<'a> {
    pub file: &'a str,
    pub lines: Option<&'a LineMap>,
}

/// The task error for `err`, raised in `context` (`steps[3] (cast)`, or
/// `reading`).
pub fn to_task_error(context: &str, err: Error, origin: &Origin<'_>) -> TaskError {
    let prefix = if context.is_empty() {
        String::new()
    } else {
        format!("{context}: ")
    };
    match err {
        Error::Value {
            row,
            column,
            value,
            problem,
        } => {
            let mut m = format!("{prefix}{}, row {row}", origin.file);
            if let Some(line) = origin.lines.and_then(|l| l.line(row)) {
                m.push_str(&format!(" (line {line})"));
            }
            if let Some(c) = column {
                m.push_str(&format!(", column `{c}`"));
            }
            m.push_str(": ");
            if let Some(v) = value {
                m.push_str(&format!("{}: ", shorten(&v)));
            }
            m.push_str(&problem);
            TaskError::Fatal(m)
        }
        Error::Plan(m) => TaskError::Fatal(format!("{prefix}{m}")),
        Error::BadFile(m) => TaskError::Fatal(format!("{prefix}{}: {m}", origin.file)),
        Error::Read(e) => TaskError::Failed(format!("{prefix}{}: {e}", origin.file)),
        Error::Write(m) => TaskError::Failed(format!("{prefix}{m}")),
        Error::Cancelled | Error::Stopped => TaskError::Cancelled,
    }
}

/// A value as it appears in a message: quoted, and cut if very long.
fn shorten(v: &str) -> String {
    if v.chars().count() > 80 {
        let head: String = v.chars().take(80).collect();
        format!("{head:?}...")
    } else {
        format!("{v:?}")
    }
}
