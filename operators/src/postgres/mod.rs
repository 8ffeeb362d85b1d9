//! The Postgres operators: `postgres_extract` (a query or table to a CSV
//! or Parquet location), `postgres_load` (a CSV or Parquet location into a
//! table) and `postgres_sql` (statements, with a bounded result for
//! downstream templates). Data moves with `COPY`, streamed: binary where
//! the types allow, so neither side parses text; memory stays at one batch.

mod decode;
mod error;
pub mod extract;
mod ident;
pub mod load;
mod numeric;
mod pgtype;
mod session;
pub mod sql;
#[cfg(test)]
mod testing;

use parquet::basic::{Compression, ZstdLevel};
use serde::Deserialize;

/// Parquet compression for files the operators write.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ParquetCompression {
    #[default]
    Zstd,
    Snappy,
    None,
}

impl ParquetCompression {
    pub fn codec(self) -> Compression {
        match self {
            ParquetCompression::Zstd => Compression::ZSTD(ZstdLevel::default()),
            ParquetCompression::Snappy => Compression::SNAPPY,
            ParquetCompression::None => Compression::UNCOMPRESSED,
        }
    }
}

/// A file format, named or taken from a location's extension.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    Csv,
    Parquet,
}

impl FileFormat {
    /// `.parquet`/`.pq` is Parquet; anything else CSV.
    pub fn of(loc: &updraft_io::Location) -> FileFormat {
        let s = loc.to_string().to_ascii_lowercase();
        if s.ends_with(".parquet") || s.ends_with(".pq") {
            FileFormat::Parquet
        } else {
            FileFormat::Csv
        }
    }
}
