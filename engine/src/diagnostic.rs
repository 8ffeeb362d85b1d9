//! Problems found in DAG files, reported compiler style.

use std::fmt;
use std::path::PathBuf;

use crate::yaml::Span;

/// One problem in one file: `path:line:col: message`, or `path: message`
/// when no place is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub span: Option<Span>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.span {
            Some(s) => write!(f, "{}:{}:{}: {}", self.file.display(), s.line, s.col, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Collects problems for one file while it is being validated.
#[derive(Debug, Default)]
pub struct Problems {
    items: Vec<(Option<Span>, String)>,
}

impl Problems {
    pub fn add(&mut self, span: impl Into<Option<Span>>, message: impl Into<String>) {
        self.items.push((span.into(), message.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Attaches the file path, sorted by place (problems without one first).
    pub fn into_diagnostics(mut self, file: &std::path::Path) -> Vec<Diagnostic> {
        self.items.sort_by_key(|(s, _)| *s);
        self.items.dedup();
        self.items
            .into_iter()
            .map(|(span, message)| Diagnostic {
                file: file.to_path_buf(),
                span,
                message,
            })
            .collect()
    }
}
