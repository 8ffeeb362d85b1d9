//! The files a load or an external table reads: their URIs, format,
//! schema (given or detected), as both operators take them. (CSV
//! options stay beside it: a struct holding a flattened one would let
//! unknown fields through.)

use serde::Deserialize;
use serde_json::{Value, json};

use super::schema::{self, Field};
use crate::objects::StringOrList;

pub const FORMATS: &[&str] = &["PARQUET", "CSV", "NEWLINE_DELIMITED_JSON", "AVRO", "ORC"];

#[derive(Debug, Clone, Deserialize)]
pub struct Files {
    /// `gs://` URIs (BigQuery's `*` wildcard allowed): one or a list.
    pub from: StringOrList,
    /// PARQUET, CSV, NEWLINE_DELIMITED_JSON, AVRO, ORC; by default from
    /// the first URI's extension.
    #[serde(default)]
    pub source_format: Option<String>,
    /// Let BigQuery infer the schema (CSV, JSON). Parquet, Avro and ORC
    /// carry their own.
    #[serde(default)]
    pub autodetect: Option<bool>,
    #[serde(default)]
    pub schema: Option<Vec<Field>>,
}

impl Files {
    /// The `source_format` given, else the first URI's extension's.
    pub fn format(&self) -> Option<String> {
        self.source_format
            .as_ref()
            .map(|f| f.to_ascii_uppercase())
            .or_else(|| self.from.items().first().and_then(|u| format_of(u)).map(str::to_string))
    }

    /// What both operators check: `gs://` URIs, a known format, the schema.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let uris = self.from.items();
        if uris.is_empty() {
            problems.push("`from` names no file".to_string());
        }
        for u in uris {
            if !updraft_operator_api::is_template(u) && !u.starts_with("gs://") {
                problems.push(format!("{u:?}: BigQuery reads gs:// URIs"));
            }
        }
        if let Some(f) = &self.source_format
            && !updraft_operator_api::is_template(f)
            && !FORMATS.contains(&f.to_ascii_uppercase().as_str())
        {
            problems.push(format!("`source_format` {f:?} is not one of {}", FORMATS.join(", ")));
        }
        if let Some(s) = &self.schema {
            problems.extend(schema::check(s));
        }
        problems
    }

    /// Sets `sourceUris`, `sourceFormat`, `schema` and `autodetect` (on by
    /// default for formats that carry no schema) in a load configuration
    /// or an external data configuration; returns the format.
    pub fn describe(&self, into: &mut Value) -> Result<String, String> {
        let format = self
            .format()
            .ok_or("`source_format` is needed: the file names do not say (PARQUET, CSV, ...)")?;
        into["sourceUris"] = json!(self.from.items());
        into["sourceFormat"] = json!(format);
        if let Some(s) = &self.schema {
            into["schema"] = schema::json(s);
        }
        let self_describing = ["PARQUET", "AVRO", "ORC"].contains(&format.as_str());
        match self.autodetect {
            Some(a) => into["autodetect"] = json!(a),
            None if self.schema.is_none() && !self_describing => into["autodetect"] = json!(true),
            None => {}
        }
        Ok(format)
    }
}

/// A source format from a URI's extension.
pub fn format_of(uri: &str) -> Option<&'static str> {
    let u = uri.to_ascii_lowercase();
    let u = u.trim_end_matches('*');
    if u.ends_with(".parquet") || u.ends_with(".pq") {
        Some("PARQUET")
    } else if u.ends_with(".csv") || u.ends_with(".csv.gz") {
        Some("CSV")
    } else if u.ends_with(".json") || u.ends_with(".jsonl") || u.ends_with(".ndjson") {
        Some("NEWLINE_DELIMITED_JSON")
    } else if u.ends_with(".avro") {
        Some("AVRO")
    } else if u.ends_with(".orc") {
        Some("ORC")
    } else {
        None
    }
}
