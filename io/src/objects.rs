//! Objects as the object operators see them (list, stat, delete, copy),
//! the same on every service.

use crate::Location;

/// One object (or local file): where, how big, and the version the
/// service gives it (S3's ETag, GCS' generation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub location: Location,
    pub size: u64,
    pub version: Option<String>,
    /// Given by `stat` (listings do not carry it on S3).
    pub content_type: Option<String>,
}

/// How an object is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// The object's `Content-Type`.
    pub content_type: Option<String>,
    /// Only if nothing is at the key yet: S3's `If-None-Match: *`, GCS'
    /// `ifGenerationMatch=0` (the service refuses the write if another
    /// writer got there first).
    pub if_absent: bool,
}

/// The content type a file's name suggests (`application/octet-stream`
/// when it says nothing).
pub fn content_type_for(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "csv" => "text/csv",
        "tsv" => "text/tab-separated-values",
        "txt" | "log" => "text/plain",
        "json" => "application/json",
        "jsonl" | "ndjson" => "application/x-ndjson",
        "parquet" | "pq" => "application/vnd.apache.parquet",
        "avro" => "application/avro",
        "orc" => "application/x-orc",
        "gz" => "application/gzip",
        "zip" => "application/zip",
        "zst" => "application/zstd",
        "html" | "htm" => "text/html",
        "xml" => "application/xml",
        "yaml" | "yml" => "application/yaml",
        "sql" => "application/sql",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(super::content_type_for("a/b/data.CSV"), "text/csv");
        assert_eq!(super::content_type_for("x.parquet"), "application/vnd.apache.parquet");
        assert_eq!(super::content_type_for("noext"), "application/octet-stream");
    }
}
