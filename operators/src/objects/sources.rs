//! What a `from:` names, as a list of objects with the name each keeps
//! under a destination prefix: one file or object; a folder or a prefix
//! ending in `/` (everything under it, with the path below it); a glob
//! (what matches, with the path below the glob's literal folder).

use std::path::Path;

use updraft_io::{Location, ObjectInfo, Stores};
use updraft_operator_api::TaskError;

use super::glob;

/// One source and the name it keeps (relative: `a.csv`, `sub/a.csv`).
pub struct Source {
    pub object: ObjectInfo,
    pub name: String,
}

fn location(s: &str) -> Result<Location, TaskError> {
    s.parse::<Location>().map_err(TaskError::Fatal)
}

/// `gs://bucket/prefix/` and `/local/folder/` keep their trailing slash
/// through `Location`'s parsing by being listed as prefixes.
pub async fn expand(stores: &Stores, from: &str) -> Result<Vec<Source>, TaskError> {
    let from = from.trim();
    let from = from.strip_prefix("file://").unwrap_or(from);
    if let Some(base) = glob::literal_base(from) {
        let listed = stores.list(&prefix_location(base)?).await?;
        let mut out: Vec<Source> = listed
            .into_iter()
            .filter_map(|o| {
                let full = full_name(&o.location);
                if !glob::matches(from, &full) {
                    return None;
                }
                let name = full
                    .strip_prefix(base)
                    .unwrap_or(&full)
                    .trim_start_matches('/')
                    .to_string();
                Some(Source { object: o, name })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        return Ok(out);
    }
    let loc = location(from)?;
    let is_folder = from.ends_with('/') || matches!(&loc, Location::Local(p) if p.is_dir());
    if is_folder {
        let base = if from.ends_with('/') {
            from.to_string()
        } else {
            format!("{from}/")
        };
        let listed = stores.list(&prefix_location(&base)?).await?;
        let mut out: Vec<Source> = listed
            .into_iter()
            .map(|o| {
                let full = full_name(&o.location);
                let name = full.strip_prefix(&base).unwrap_or(&full).to_string();
                Source { object: o, name }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        return Ok(out);
    }
    match stores.stat(&loc).await? {
        Some(object) => Ok(vec![Source {
            name: file_name(from),
            object,
        }]),
        None => Err(TaskError::Fatal(format!("{from}: not found"))),
    }
}

/// A prefix to list: a local folder, or a bucket and a key prefix
/// (possibly empty: the whole bucket).
fn prefix_location(base: &str) -> Result<Location, TaskError> {
    for (scheme, s3) in [("s3://", true), ("gs://", false)] {
        if let Some(rest) = base.strip_prefix(scheme) {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(TaskError::Fatal(format!("{base}: no bucket")));
            }
            let (bucket, key) = (bucket.to_string(), key.to_string());
            return Ok(if s3 {
                Location::S3 { bucket, key }
            } else {
                Location::Gcs { bucket, key }
            });
        }
    }
    if base.is_empty() {
        return Ok(Location::Local(Path::new(".").to_path_buf()));
    }
    location(base)
}

/// The text a pattern is matched against: the local path, or
/// `scheme://bucket/key`.
fn full_name(loc: &Location) -> String {
    match loc {
        Location::Local(p) => p.to_string_lossy().into_owned(),
        other => other.to_string(),
    }
}

fn file_name(s: &str) -> String {
    s.trim_end_matches('/').rsplit('/').next().unwrap_or(s).to_string()
}
