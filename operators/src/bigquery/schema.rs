//! Table schemas and CSV options as users write them, in BigQuery's JSON.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One field: `{name, type, mode, description, fields}` (as BigQuery's
/// JSON schema files have them).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
}

const TYPES: &[&str] = &[
    "STRING",
    "BYTES",
    "INTEGER",
    "INT64",
    "FLOAT",
    "FLOAT64",
    "NUMERIC",
    "BIGNUMERIC",
    "BOOLEAN",
    "BOOL",
    "TIMESTAMP",
    "DATE",
    "TIME",
    "DATETIME",
    "GEOGRAPHY",
    "JSON",
    "RECORD",
    "STRUCT",
    "INTERVAL",
    "RANGE",
];

pub fn check(fields: &[Field]) -> Vec<String> {
    let mut problems = Vec::new();
    for f in fields {
        let t = f.type_.to_ascii_uppercase();
        if !TYPES.contains(&t.as_str()) {
            problems.push(format!(
                "schema field {:?}: type {:?} is not a BigQuery type",
                f.name, f.type_
            ));
        }
        if let Some(m) = &f.mode
            && !["NULLABLE", "REQUIRED", "REPEATED"].contains(&m.to_ascii_uppercase().as_str())
        {
            problems.push(format!(
                "schema field {:?}: mode {m:?} is not NULLABLE, REQUIRED or REPEATED",
                f.name
            ));
        }
        if (t == "RECORD" || t == "STRUCT") && f.fields.is_empty() {
            problems.push(format!("schema field {:?}: a RECORD needs `fields`", f.name));
        }
        problems.extend(check(&f.fields));
    }
    problems
}

pub fn json(fields: &[Field]) -> Value {
    json!({"fields": fields})
}

/// CSV options, BigQuery's names in snake case.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvOptions {
    #[serde(default)]
    pub skip_leading_rows: Option<u32>,
    /// `field_delimiter` in BigQuery.
    #[serde(default, alias = "field_delimiter")]
    pub delimiter: Option<String>,
    #[serde(default)]
    pub quote: Option<String>,
    #[serde(default)]
    pub allow_quoted_newlines: Option<bool>,
    #[serde(default)]
    pub allow_jagged_rows: Option<bool>,
    #[serde(default)]
    pub encoding: Option<String>,
    #[serde(default)]
    pub null_marker: Option<String>,
}

impl CsvOptions {
    /// Adds the options to a load configuration or an external data
    /// configuration's `csvOptions` (`into` is that object).
    pub fn apply(&self, into: &mut Value) {
        let mut set = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                into[k] = v;
            }
        };
        set("skipLeadingRows", self.skip_leading_rows.map(Value::from));
        set("fieldDelimiter", self.delimiter.clone().map(Value::from));
        set("quote", self.quote.clone().map(Value::from));
        set("allowQuotedNewlines", self.allow_quoted_newlines.map(Value::from));
        set("allowJaggedRows", self.allow_jagged_rows.map(Value::from));
        set("encoding", self.encoding.clone().map(Value::from));
        set("nullMarker", self.null_marker.clone().map(Value::from));
    }

    pub fn is_empty(&self) -> bool {
        let mut v = json!({});
        self.apply(&mut v);
        v.as_object().is_some_and(|o| o.is_empty())
    }
}
