//! A YAML document as a tree of nodes that remember where they were written.
//!
//! DAG files are parsed into this tree first (not straight into typed structs)
//! so that validation can report every problem in a file at once, each with a
//! line and column, and so that operator configs can be deserialized (and, at
//! run time, rendered) from the same tree.

mod de;
mod limits;
mod parse;

use std::fmt;

pub use de::{DeError, Problem, from_node, from_node_with_extra_fields};
pub use limits::YamlLimits;
pub(crate) use parse::too_big;
pub use parse::{ParseError, parse_document, parse_document_with};

/// A place in a source file: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A YAML value with the place it starts at.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: Span,
}

/// YAML 1.2 core-schema values. Mapping keys are scalars, kept as text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One `key: value` pair of a mapping, in source order. Duplicate keys are
/// kept (the loader reports them with both places).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

impl Node {
    pub fn new(value: Value, span: Span) -> Self {
        Node { value, span }
    }

    /// A short description of the value's type for error messages,
    /// e.g. `string "two"` or `a list`.
    pub fn describe(&self) -> String {
        match &self.value {
            Value::Null => "null".to_string(),
            Value::Bool(b) => format!("boolean `{b}`"),
            Value::Int(i) => format!("integer `{i}`"),
            Value::Float(x) => format!("number `{x}`"),
            Value::Str(s) if s.chars().count() > 40 => {
                let cut: String = s.chars().take(37).collect();
                format!("string {:?}", cut + "...")
            }
            Value::Str(s) => format!("string {s:?}"),
            Value::Seq(_) => "a list".to_string(),
            Value::Map(_) => "a mapping".to_string(),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// Looks a key up in a mapping (the first occurrence).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().find(|e| e.key == key).map(|e| &e.value)
    }

    /// Visits every string scalar, depth first, in source order.
    pub fn for_each_str<'a>(&'a self, f: &mut impl FnMut(&'a str, Span)) {
        match &self.value {
            Value::Str(s) => f(s, self.span),
            Value::Seq(items) => items.iter().for_each(|n| n.for_each_str(f)),
            Value::Map(entries) => entries.iter().for_each(|e| e.value.for_each_str(f)),
            _ => {}
        }
    }

    /// Returns a copy with every string scalar replaced by `f(string)`,
    /// stopping at the first error. Used to render templates at run time.
    pub fn try_map_strs<E>(&self, f: &mut impl FnMut(&str) -> Result<String, E>) -> Result<Node, E> {
        let value = match &self.value {
            Value::Str(s) => Value::Str(f(s)?),
            Value::Seq(items) => Value::Seq(items.iter().map(|n| n.try_map_strs(f)).collect::<Result<_, _>>()?),
            Value::Map(entries) => Value::Map(
                entries
                    .iter()
                    .map(|e| {
                        Ok(Entry {
                            key: e.key.clone(),
                            key_span: e.key_span,
                            value: e.value.try_map_strs(f)?,
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            other => other.clone(),
        };
        Ok(Node::new(value, self.span))
    }

    /// Converts to JSON (mapping keys stay strings; duplicate keys: last wins).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(x) => serde_json::Number::from_f64(*x).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(entries.iter().map(|e| (e.key.clone(), e.value.to_json())).collect()),
        }
    }
}

/// Pairs of (first, repeated) entries for keys that appear more than once.
pub fn duplicate_keys(entries: &[Entry]) -> Vec<(&Entry, &Entry)> {
    let mut seen: std::collections::HashMap<&str, &Entry> = std::collections::HashMap::new();
    let mut dups = Vec::new();
    for e in entries {
        match seen.get(e.key.as_str()) {
            Some(first) => dups.push((*first, e)),
            None => {
                seen.insert(&e.key, e);
            }
        }
    }
    dups
}
