//! The typed config of `operator: transform`: where to read, the steps,
//! where to write. Expressions, predicates and timestamp formats are parsed
//! when the DAG loads (unless they hold a template, then once rendered).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use updraft_io::Location;
use updraft_operator_api::Tpl;

use super::expr::Expr;
use super::predicate::Predicate;
use super::strptime::TimeFormat;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformConfig {
    /// The file to read: CSV or Parquet.
    pub from: Location,
    /// How to read it (format, encoding, delimiter, header, types).
    #[serde(default)]
    pub read: ReadOptions,
    /// The steps, applied in order. Absent: the file is only converted.
    #[serde(default)]
    pub steps: Option<Vec<Step>>,
    /// Where to write the result: Parquet or CSV.
    pub to: Location,
    /// How to write it (format, compression, delimiter).
    #[serde(default)]
    pub write: WriteOptions,
    /// The AWS connection for `s3://` locations (else the standard chain).
    #[serde(default)]
    pub aws_conn_id: Option<String>,
    /// The GCP connection for `gs://` locations (else Application Default
    /// Credentials).
    #[serde(default)]
    pub gcp_conn_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Csv,
    Parquet,
}

impl Format {
    /// The format a location's extension names (`.csv`, `.tsv`, `.txt`,
    /// `.parquet`, `.pq`), compressed or not.
    pub fn of(loc: &Location) -> Option<Format> {
        let name = loc.to_string().to_ascii_lowercase();
        let name = name.rsplit('/').next().unwrap_or("");
        let ext = name.rsplit('.').next().unwrap_or("");
        match ext {
            "csv" | "tsv" | "txt" => Some(Format::Csv),
            "parquet" | "pq" => Some(Format::Parquet),
            _ => None,
        }
    }

    /// The delimiter a location's name implies: a tab for `.tsv`.
    pub fn default_delimiter(loc: &Location) -> u8 {
        if loc.to_string().to_ascii_lowercase().ends_with(".tsv") {
            b'\t'
        } else {
            b','
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadOptions {
    /// `csv` or `parquet`; from `from`'s extension if absent.
    pub format: Option<Format>,
    /// CSV: the text encoding (`utf-8`, the default; `cp1252`; `latin-1`).
    pub encoding: Option<Encoding>,
    /// CSV: one ASCII character (`,` by default; `"\t"` for tabs).
    pub delimiter: Option<Delimiter>,
    /// CSV: whether the first line names the columns (default true).
    pub header: Option<bool>,
    /// CSV: the column names, replacing the header's (or naming the
    /// columns of a file without one).
    pub names: Option<Vec<String>>,
    /// CSV: the type of some columns (the others are text), parsed as the
    /// file is read.
    #[serde(default)]
    pub types: BTreeMap<String, ColType>,
    /// CSV: the field values read as null (default: only the empty field).
    pub null_values: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteOptions {
    /// `parquet` or `csv`; from `to`'s extension if absent.
    pub format: Option<Format>,
    /// Parquet: `zstd` (the default), `snappy`, `gzip`, `lz4` or `none`.
    pub compression: Option<Compression>,
    /// Parquet: the zstd (1-22) or gzip (0-9) level.
    pub compression_level: Option<u32>,
    /// CSV: the delimiter (`,` by default).
    pub delimiter: Option<Delimiter>,
    /// CSV: whether to write a header line (default true).
    pub header: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    Zstd,
    Snappy,
    Gzip,
    Lz4,
    None,
}

/// A CSV file's text encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    /// Windows-1252, as WHATWG defines it (the five bytes cp1252 leaves
    /// undefined decode to the C1 controls of the same number).
    Cp1252,
    /// ISO-8859-1: each byte is the code point of the same number.
    Latin1,
}

impl FromStr for Encoding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "utf-8" | "utf8" | "utf-8-sig" => Ok(Encoding::Utf8),
            "cp1252" | "windows-1252" | "win1252" => Ok(Encoding::Cp1252),
            "latin-1" | "latin1" | "iso-8859-1" | "iso8859-1" | "l1" => Ok(Encoding::Latin1),
            other => Err(format!("unknown encoding `{other}` (use utf-8, cp1252 or latin-1)")),
        }
    }
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Cp1252 => "cp1252",
            Encoding::Latin1 => "latin-1",
        }
    }
}

/// A CSV delimiter: one ASCII character other than a quote or a line end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiter(pub u8);

impl FromStr for Delimiter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let b = match s {
            "\\t" | "tab" => b'\t',
            _ if s.len() == 1 && s.is_ascii() => s.as_bytes()[0],
            _ => return Err(format!("delimiter {s:?} is not one ASCII character")),
        };
        if matches!(b, b'"' | b'\n' | b'\r') {
            return Err(format!("delimiter {s:?} cannot be a quote or a line end"));
        }
        Ok(Delimiter(b))
    }
}

/// The type a column can be cast to (and what `read.types` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    String,
    Int64,
    Int32,
    Float64,
    Float32,
    Bool,
    /// A calendar date (Arrow Date32, Parquet DATE).
    Date,
    /// A timestamp without a zone, in microseconds (Parquet
    /// TIMESTAMP(MICROS, isAdjustedToUTC = false)).
    Timestamp,
}

impl FromStr for ColType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "string" | "str" | "text" | "utf8" => ColType::String,
            "int64" | "int" | "integer" | "bigint" | "long" => ColType::Int64,
            "int32" => ColType::Int32,
            "float64" | "float" | "double" => ColType::Float64,
            "float32" => ColType::Float32,
            "bool" | "boolean" => ColType::Bool,
            "date" => ColType::Date,
            "timestamp" | "datetime" => ColType::Timestamp,
            other => {
                return Err(format!(
                    "unknown type `{other}` (use string, int64, int32, float64, float32, bool, date or timestamp)"
                ));
            }
        })
    }
}

impl ColType {
    pub fn name(self) -> &'static str {
        match self {
            ColType::String => "string",
            ColType::Int64 => "int64",
            ColType::Int32 => "int32",
            ColType::Float64 => "float64",
            ColType::Float32 => "float32",
            ColType::Bool => "bool",
            ColType::Date => "date",
            ColType::Timestamp => "timestamp",
        }
    }
}

/// What a step does with a value it cannot parse or convert.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnError {
    /// Fail the task, naming the file, row, column and value.
    #[default]
    Fail,
    /// Make the value null (the count is logged).
    Null,
}

/// One column name or a list of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cols(pub Vec<String>);

/// A literal value (`fill_null`).
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Str(s) => write!(f, "{s:?}"),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Float(x) => write!(f, "{x:?}"),
            Scalar::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// One step; in YAML a single-key mapping (`- upper: StockCode`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    FillNull(FillNull),
    ParseTimestamp(ParseTimestamp),
    Cast(Cast),
    Upper(Cols),
    Lower(Cols),
    Trim(Cols),
    Derive(Derive),
    MostFrequent(MostFrequent),
    Rename(BTreeMap<String, String>),
    Select(Cols),
    Drop(Cols),
    Filter(Tpl<Predicate>),
    Dedupe(Dedupe),
}

impl Step {
    /// The step's name as written in YAML.
    pub fn name(&self) -> &'static str {
        match self {
            Step::FillNull(_) => "fill_null",
            Step::ParseTimestamp(_) => "parse_timestamp",
            Step::Cast(_) => "cast",
            Step::Upper(_) => "upper",
            Step::Lower(_) => "lower",
            Step::Trim(_) => "trim",
            Step::Derive(_) => "derive",
            Step::MostFrequent(_) => "most_frequent",
            Step::Rename(_) => "rename",
            Step::Select(_) => "select",
            Step::Drop(_) => "drop",
            Step::Filter(_) => "filter",
            Step::Dedupe(_) => "dedupe",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FillNull {
    #[serde(alias = "columns")]
    pub column: Cols,
    pub value: Scalar,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParseTimestamp {
    #[serde(alias = "columns")]
    pub column: Cols,
    /// strftime directives, as Python's `strptime` reads them.
    pub format: Tpl<TimeFormat>,
    #[serde(default)]
    pub on_error: OnError,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cast {
    #[serde(alias = "columns")]
    pub column: Cols,
    pub to: ColType,
    #[serde(default)]
    pub on_error: OnError,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Derive {
    /// The column to make (or replace).
    pub column: String,
    /// `+ - * /` and parentheses over columns and numbers.
    pub expr: Tpl<Expr>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MostFrequent {
    /// The column whose values are replaced.
    pub column: String,
    /// The key column(s): each row gets the most frequent value among the
    /// rows of its key.
    pub by: Cols,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Keep {
    #[default]
    First,
    Last,
}

#[derive(Debug, Clone, Default)]
pub struct Dedupe {
    /// The columns that make rows duplicates (all of them if absent).
    pub columns: Option<Cols>,
    pub keep: Keep,
}

// ---- deserialization of the small types ----

macro_rules! from_str_deserialize {
    ($($t:ty),*) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(de::Error::custom)
            }
        }
    )*};
}

from_str_deserialize!(Encoding, Delimiter, ColType, TimeFormat, Expr, Predicate);

impl<'de> Deserialize<'de> for OnError {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = OnError;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`fail` or `null`")
            }
            // `on_error: null` is YAML's null.
            fn visit_unit<E: de::Error>(self) -> Result<OnError, E> {
                Ok(OnError::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<OnError, E> {
                Ok(OnError::Null)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<OnError, E> {
                match s.trim() {
                    "fail" => Ok(OnError::Fail),
                    "null" | "~" => Ok(OnError::Null),
                    other => Err(E::custom(format!("on_error: {other:?} is not `fail` or `null`"))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Cols {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Cols;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a column name or a list of them")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Cols, E> {
                Ok(Cols(vec![s.to_string()]))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Cols, E> {
                Ok(Cols(vec![n.to_string()]))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Cols, E> {
                Ok(Cols(vec![n.to_string()]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Cols, A::Error> {
                let mut v = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    v.push(s);
                }
                Ok(Cols(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a text, number or boolean value")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(s.to_string()))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Scalar, E> {
                Ok(Scalar::Int(n))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Scalar, E> {
                i64::try_from(n)
                    .map(Scalar::Int)
                    .map_err(|_| E::custom(format!("{n} is too large for int64")))
            }
            fn visit_f64<E: de::Error>(self, x: f64) -> Result<Scalar, E> {
                Ok(Scalar::Float(x))
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(b))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DedupeFields {
    #[serde(default)]
    columns: Option<Cols>,
    #[serde(default)]
    keep: Keep,
}

impl<'de> Deserialize<'de> for Dedupe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Dedupe;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("nothing (every column), a column list, or {columns, keep}")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Dedupe, E> {
                Ok(Dedupe::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Dedupe, E> {
                Ok(Dedupe::default())
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Dedupe, E> {
                Ok(Dedupe {
                    columns: Some(Cols(vec![s.to_string()])),
                    keep: Keep::First,
                })
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Dedupe, A::Error> {
                let cols = Cols::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Dedupe {
                    columns: Some(cols),
                    keep: Keep::First,
                })
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Dedupe, A::Error> {
                let f = DedupeFields::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Dedupe {
                    columns: f.columns,
                    keep: f.keep,
                })
            }
        }
        d.deserialize_any(V)
    }
}

// ---- load-time checks ----

/// Everything that can be checked before any data is read.
pub fn validate(cfg: &TransformConfig) -> Vec<String> {
    let mut problems = Vec::new();
    let input = cfg.read.format.or_else(|| Format::of(&cfg.from));
    if input.is_none() && !updraft_operator_api::is_template(&cfg.from.to_string()) {
        problems.push(format!(
            "`from`: cannot tell the format of {} from its name; set `read.format` (csv or parquet)",
            cfg.from
        ));
    }
    let output = cfg.write.format.or_else(|| Format::of(&cfg.to));
    if output.is_none() && !updraft_operator_api::is_template(&cfg.to.to_string()) {
        problems.push(format!(
            "`to`: cannot tell the format of {} from its name; set `write.format` (parquet or csv)",
            cfg.to
        ));
    }
    if input == Some(Format::Parquet) {
        let r = &cfg.read;
        for (set, field) in [
            (r.encoding.is_some(), "encoding"),
            (r.delimiter.is_some(), "delimiter"),
            (r.header.is_some(), "header"),
            (r.names.is_some(), "names"),
            (!r.types.is_empty(), "types"),
            (r.null_values.is_some(), "null_values"),
        ] {
            if set {
                problems.push(format!(
                    "`read.{field}` applies to CSV input; {} is read as Parquet",
                    cfg.from
                ));
            }
        }
    }
    if let Some(names) = &cfg.read.names {
        if names.is_empty() {
            problems.push("`read.names` is empty".into());
        }
        problems.extend(duplicates("read.names", names));
    }
    match output {
        Some(Format::Csv) => {
            for (set, field) in [
                (cfg.write.compression.is_some(), "compression"),
                (cfg.write.compression_level.is_some(), "compression_level"),
            ] {
                if set {
                    problems.push(format!(
                        "`write.{field}` applies to Parquet output; {} is written as CSV",
                        cfg.to
                    ));
                }
            }
        }
        Some(Format::Parquet) => {
            for (set, field) in [
                (cfg.write.delimiter.is_some(), "delimiter"),
                (cfg.write.header.is_some(), "header"),
            ] {
                if set {
                    problems.push(format!(
                        "`write.{field}` applies to CSV output; {} is written as Parquet",
                        cfg.to
                    ));
                }
            }
        }
        None => {}
    }
    if let Some(level) = cfg.write.compression_level {
        match cfg.write.compression.unwrap_or(Compression::Zstd) {
            Compression::Zstd if !(1..=22).contains(&level) => problems.push(format!(
                "`write.compression_level`: zstd levels are 1 to 22, not {level}"
            )),
            Compression::Gzip if level > 9 => problems.push(format!(
                "`write.compression_level`: gzip levels are 0 to 9, not {level}"
            )),
            Compression::Snappy | Compression::Lz4 | Compression::None => problems.push(format!(
                "`write.compression_level`: {:?} compression takes no level",
                cfg.write.compression.unwrap_or(Compression::Zstd)
            )),
            _ => {}
        }
    }
    match &cfg.steps {
        Some(steps) if steps.is_empty() => {
            problems.push("`steps` is empty: list the steps, or leave `steps` out to only convert the file".into())
        }
        Some(steps) => {
            for (i, step) in steps.iter().enumerate() {
                for p in check_step(step) {
                    problems.push(format!("`steps[{i}]` ({}): {p}", step.name()));
                }
            }
        }
        None => {}
    }
    problems
}

fn duplicates(field: &str, names: &[String]) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    names
        .iter()
        .filter(|n| !seen.insert(n.as_str()))
        .map(|n| format!("`{field}` names `{n}` twice"))
        .collect()
}

fn check_cols(field: &str, cols: &Cols) -> Vec<String> {
    let mut p = Vec::new();
    if cols.0.is_empty() {
        p.push(format!("`{field}` names no column"));
    }
    if cols.0.iter().any(|c| c.is_empty()) {
        p.push(format!("`{field}` has an empty column name"));
    }
    p.extend(duplicates(field, &cols.0));
    p
}

fn check_step(step: &Step) -> Vec<String> {
    match step {
        Step::FillNull(f) => check_cols("column", &f.column),
        Step::ParseTimestamp(p) => check_cols("column", &p.column),
        Step::Cast(c) => check_cols("column", &c.column),
        Step::Upper(c) | Step::Lower(c) | Step::Trim(c) | Step::Select(c) | Step::Drop(c) => check_cols("columns", c),
        Step::Derive(d) => {
            if d.column.is_empty() {
                vec!["`column` is empty".into()]
            } else {
                Vec::new()
            }
        }
        Step::MostFrequent(m) => {
            let mut p = check_cols("by", &m.by);
            if m.column.is_empty() {
                p.push("`column` is empty".into());
            }
            if m.by.0.contains(&m.column) {
                p.push(format!("`{}` is both the column and a key", m.column));
            }
            p
        }
        Step::Rename(map) => {
            let mut p = Vec::new();
            if map.is_empty() {
                p.push("names no column".into());
            }
            let targets: Vec<String> = map.values().cloned().collect();
            p.extend(
                duplicates("rename", &targets)
                    .into_iter()
                    .map(|m| m.replace("names", "gives the name")),
            );
            if map.iter().any(|(k, v)| k.is_empty() || v.is_empty()) {
                p.push("has an empty column name".into());
            }
            p
        }
        Step::Filter(_) => Vec::new(),
        Step::Dedupe(d) => d.columns.as_ref().map(|c| check_cols("columns", c)).unwrap_or_default(),
    }
}
