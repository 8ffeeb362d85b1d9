//! Naming where data is: one syntax for every operator.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// A place to read data from or write it to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A path on the worker (`/data/x.csv`, `out/x.csv`, `file:///data/x.csv`).
    Local(PathBuf),
    S3 {
        bucket: String,
        key: String,
    },
    Gcs {
        bucket: String,
        key: String,
    },
}

impl FromStr for Location {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("an empty location".into());
        }
        if let Some(path) = s.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(format!(
                    "{s:?}: a file:// location needs an absolute path (file:///data/x.csv)"
                ));
            }
            return Ok(Location::Local(path.into()));
        }
        let object = |scheme: &str, rest: &str| -> Result<(String, String), String> {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!("{s:?}: no bucket after {scheme}://"));
            }
            if key.is_empty() {
                return Err(format!(
                    "{s:?}: no object key after the bucket ({scheme}://{bucket}/path/to/object)"
                ));
            }
            Ok((bucket.to_string(), key.to_string()))
        };
        if let Some(rest) = s.strip_prefix("s3://").or_else(|| s.strip_prefix("s3a://")) {
            let (bucket, key) = object("s3", rest)?;
            return Ok(Location::S3 { bucket, key });
        }
        if let Some(rest) = s.strip_prefix("gs://") {
            let (bucket, key) = object("gs", rest)?;
            return Ok(Location::Gcs { bucket, key });
        }
        if let Some((scheme, _)) = s.split_once("://") {
            return Err(format!(
                "{s:?}: unknown scheme `{scheme}://` (use a path, file://, s3:// or gs://)"
            ));
        }
        Ok(Location::Local(s.into()))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            Location::Gcs { bucket, key } => write!(f, "gs://{bucket}/{key}"),
        }
    }
}

impl<'de> Deserialize<'de> for Location {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_scheme_and_names_what_is_wrong() {
        assert_eq!(
            "data/x.csv".parse::<Location>().unwrap(),
            Location::Local("data/x.csv".into())
        );
        assert_eq!(
            "file:///d/x.csv".parse::<Location>().unwrap(),
            Location::Local("/d/x.csv".into())
        );
        assert_eq!(
            "s3://b/in/x.csv".parse::<Location>().unwrap(),
            Location::S3 {
                bucket: "b".into(),
                key: "in/x.csv".into()
            }
        );
        let g: Location = "gs://land/data/2024-11-03/x.parquet".parse().unwrap();
        assert_eq!(g.to_string(), "gs://land/data/2024-11-03/x.parquet");
        assert!("gs://bucket".parse::<Location>().unwrap_err().contains("no object key"));
        assert!("s3:///k".parse::<Location>().unwrap_err().contains("no bucket"));
        assert!(
            "ftp://h/x"
                .parse::<Location>()
                .unwrap_err()
                .contains("unknown scheme `ftp://`")
        );
        assert!("file://rel".parse::<Location>().unwrap_err().contains("absolute path"));
    }
}
