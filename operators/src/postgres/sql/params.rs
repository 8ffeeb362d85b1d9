//! Parameters as SQL literals, written into the statement where its
//! `%(name)s` was (as psycopg2 does for Airflow's operators): the server
//! infers each value's type from where it stands, or from the `type`
//! given. Strings are quoted with standard_conforming_strings on (set for
//! the session), so nothing in a value becomes SQL.

use serde::Deserialize;
use serde_json::Value;

use super::lexer::Statement;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Param {
    /// `{value: "2024-11-01", type: date}`: the literal cast to the type.
    Typed {
        value: Value,
        #[serde(rename = "type")]
        type_: String,
    },
    Plain(Value),
}

impl Param {
    /// A type name must be a type name (`date`, `numeric(10,2)`,
    /// `timestamp with time zone`, `text[]`, `myschema.mytype`), not SQL.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Param::Typed { type_, .. } if !is_type_name(type_) => Err(format!("{type_:?} is not a type name")),
            _ => Ok(()),
        }
    }

    pub fn literal(&self) -> String {
        match self {
            Param::Plain(v) => literal(v),
            Param::Typed { value, type_ } => format!("CAST({} AS {type_})", text_literal(value)),
        }
    }
}

/// A JSON value as a literal: numbers and booleans as they are, strings
/// quoted, lists as `ARRAY[...]`, objects as jsonb.
fn literal(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Bool(b) => b.to_string(),
        // In parentheses, so `- %(n)s` with n = -1 is not a comment.
        Value::Number(n) => format!("({n})"),
        Value::String(s) => quote(s),
        Value::Array(items) if items.is_empty() => "'{}'".into(),
        Value::Array(items) => format!("ARRAY[{}]", items.iter().map(literal).collect::<Vec<_>>().join(", ")),
        Value::Object(_) => format!("{}::jsonb", quote(&v.to_string())),
    }
}

/// The value's text, quoted, for a cast: a string as it is, anything else
/// as JSON text (`{"a":1}` for a jsonb, `[1,2]` ...).
fn text_literal(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::String(s) => quote(s),
        other => quote(&other.to_string()),
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The statement with its placeholders replaced by literals.
pub fn bind(s: &Statement, params: &std::collections::BTreeMap<String, Param>) -> Result<String, String> {
    let mut out = String::with_capacity(s.text.len());
    let mut at = 0;
    for (range, name) in &s.params {
        let p = params
            .get(name)
            .ok_or_else(|| format!("%({name})s has no value in `parameters`"))?;
        out.push_str(&s.text[at..range.start]);
        out.push_str(&p.literal());
        at = range.end;
    }
    out.push_str(&s.text[at..]);
    Ok(out)
}

/// Words (letters, digits, `_`, `.`), then an optional `(n)` or `(n,m)`,
/// then any number of `[]`.
fn is_type_name(t: &str) -> bool {
    let mut t = t.trim();
    while let Some(rest) = t.strip_suffix("[]") {
        t = rest.trim_end();
    }
    if let Some(open) = t.find('(') {
        let Some(args) = t[open + 1..].strip_suffix(')') else {
            return false;
        };
        if !args
            .split(',')
            .all(|a| !a.trim().is_empty() && a.trim().bytes().all(|c| c.is_ascii_digit()))
        {
            return false;
        }
        t = t[..open].trim_end();
    }
    !t.is_empty()
        && t.split(' ')
            .all(|w| !w.is_empty() && w.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.'))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::postgres::sql::lexer::split;

    #[test]
    fn values_become_literals_that_cannot_break_out() {
        let mut p = BTreeMap::new();
        p.insert("name".to_string(), Param::Plain(json!("x'); DROP TABLE t; --")));
        p.insert("n".to_string(), Param::Plain(json!(-1)));
        p.insert("ids".to_string(), Param::Plain(json!([1, 2])));
        p.insert("doc".to_string(), Param::Plain(json!({"a": "it's"})));
        p.insert(
            "day".to_string(),
            Param::Typed {
                value: json!("2024-11-01"),
                type_: "date".into(),
            },
        );
        p.insert("none".to_string(), Param::Plain(Value::Null));
        let s = &split("SELECT %(name)s, 5-%(n)s, %(ids)s, %(doc)s, %(day)s, %(none)s").unwrap()[0];
        assert_eq!(
            bind(s, &p).unwrap(),
            "SELECT 'x''); DROP TABLE t; --', 5-(-1), ARRAY[(1), (2)], '{\"a\":\"it''s\"}'::jsonb, CAST('2024-11-01' AS date), NULL"
        );
        assert!(
            Param::Typed {
                value: json!(1),
                type_: "int); DROP TABLE t; --".into()
            }
            .check()
            .is_err()
        );
        for ok in [
            "timestamp with time zone",
            "numeric(10, 2)",
            "text[]",
            "public.mood",
            "int4[][]",
        ] {
            assert!(is_type_name(ok), "{ok}");
        }
        for bad in ["int), (SELECT 1", "text; --", "", "numeric(a)", "x(1", "a  b"] {
            assert!(!is_type_name(bad), "{bad}");
        }
    }
}
