//! Reading engine-owned fields from the YAML tree, one problem per bad field,
//! so a file's problems are all reported in one pass.

use std::time::Duration;

use crate::diagnostic::Problems;
use crate::duration::parse_duration;
use crate::yaml::{Node, Value};

/// Reads fields of one mapping, prefixing messages with where they are
/// (`task \`load\`: `).
pub struct FieldReader<'p> {
    pub problems: &'p mut Problems,
    pub context: String,
}

impl FieldReader<'_> {
    pub fn fail(&mut self, node: &Node, field: &str, msg: impl std::fmt::Display) {
        let ctx = &self.context;
        self.problems.add(node.span, format!("{ctx}`{field}`: {msg}"));
    }

    pub fn string(&mut self, node: &Node, field: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.fail(node, field, format_args!("expected text, found {}", node.describe()));
                None
            }
        }
    }

    /// Text, or null for "not set".
    pub fn opt_string(&mut self, node: &Node, field: &str) -> Option<Option<String>> {
        if node.is_null() {
            Some(None)
        } else {
            self.string(node, field).map(Some)
        }
    }

    pub fn boolean(&mut self, node: &Node, field: &str) -> Option<bool> {
        match &node.value {
            Value::Bool(b) => Some(*b),
            Value::Str(s) if matches!(s.as_str(), "yes" | "no" | "on" | "off" | "y" | "n") => {
                self.fail(
                    node,
                    field,
                    format_args!(
                        "expected true or false, found {} (YAML 1.2 reads it as text)",
                        node.describe()
                    ),
                );
                None
            }
            _ => {
                self.fail(
                    node,
                    field,
                    format_args!("expected true or false, found {}", node.describe()),
                );
                None
            }
        }
    }

    /// A whole number in `min..=u32::MAX`.
    pub fn count(&mut self, node: &Node, field: &str, min: u32) -> Option<u32> {
        match &node.value {
            Value::Int(i) if *i >= i64::from(min) && *i <= i64::from(u32::MAX) => Some(*i as u32),
            Value::Int(i) => {
                self.fail(node, field, format_args!("must be at least {min}, found {i}"));
                None
            }
            _ => {
                self.fail(
                    node,
                    field,
                    format_args!("expected a whole number, found {}", node.describe()),
                );
                None
            }
        }
    }

    /// `30s`, `5m`, `1h30m`, or a number of seconds; null means unset.
    pub fn duration(&mut self, node: &Node, field: &str) -> Option<Option<Duration>> {
        let parsed = match &node.value {
            Value::Null => return Some(None),
            Value::Str(s) => parse_duration(s),
            Value::Int(i) => parse_duration(&i.to_string()),
            Value::Float(x) => parse_duration(&x.to_string()),
            _ => Err(format!(
                "expected a duration such as 30s, 5m or 1h30m, found {}",
                node.describe()
            )),
        };
        match parsed {
            Ok(d) => Some(Some(d)),
            Err(e) => {
                self.fail(node, field, e);
                None
            }
        }
    }

    /// A list of texts; a single text is a list of one.
    pub fn string_list<'n>(&mut self, node: &'n Node, field: &str) -> Vec<(&'n str, &'n Node)> {
        match &node.value {
            Value::Null => Vec::new(),
            Value::Str(s) => vec![(s.as_str(), node)],
            Value::Seq(items) => items
                .iter()
                .filter_map(|n| match &n.value {
                    Value::Str(s) => Some((s.as_str(), n)),
                    _ => {
                        self.fail(n, field, format_args!("expected text, found {}", n.describe()));
                        None
                    }
                })
                .collect(),
            _ => {
                self.fail(
                    node,
                    field,
                    format_args!("expected a list of names, found {}", node.describe()),
                );
                Vec::new()
            }
        }
    }
}

/// `[A-Za-z0-9_.-]+`, at most 250 characters (Airflow's limit).
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("must not be empty".into());
    }
    if id.len() > 250 {
        return Err(format!("is {} characters long; the limit is 250", id.len()));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(format!("contains {bad:?}; use only letters, digits, `_`, `.` and `-`"));
    }
    Ok(())
}
