//! The dataset's zip, once it is in the scratch folder: the files it holds,
//! which of them the task asked for, and that one streamed out (on a
//! blocking thread, through `updraft_io::bridge`) to the destination.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use updraft_io::SyncWriter;
use zip::ZipArchive;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ArchiveError {
    #[error("not a zip archive: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn open(path: &Path) -> Result<ZipArchive<BufReader<File>>, ArchiveError> {
    let file = File::open(path)?;
    Ok(ZipArchive::new(BufReader::with_capacity(256 << 10, file))?)
}

/// The files in the zip at `path` (folders left out), in archive order.
pub(crate) fn members(path: &Path) -> Result<Vec<String>, ArchiveError> {
    let archive = open(path)?;
    let mut names = Vec::with_capacity(archive.len());
    for name in archive.file_names() {
        let name = name?;
        if !name.ends_with('/') {
            names.push(name.into_owned());
        }
    }
    Ok(names)
}

/// Why no member matches what the task asked for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NoMember {
    Missing,
    /// No exact name; several whose last part is the name asked for.
    Ambiguous(Vec<String>),
}

/// The member named `want`: exactly, or else the only one whose file name
/// (after the last `/`) is `want` (`data.csv` finds `ecommerce/data.csv`).
pub(crate) fn choose(members: &[String], want: &str) -> Result<String, NoMember> {
    let want = want.trim().trim_start_matches('/');
    if let Some(m) = members.iter().find(|m| *m == want) {
        return Ok(m.clone());
    }
    let tail: Vec<&String> = members.iter().filter(|m| m.rsplit('/').next() == Some(want)).collect();
    match tail.as_slice() {
        [] => Err(NoMember::Missing),
        [one] => Ok((*one).clone()),
        many => Err(NoMember::Ambiguous(many.iter().map(|m| (*m).clone()).collect())),
    }
}

/// At most 50 names, comma-separated, then how many more.
pub(crate) fn list(names: &[String]) -> String {
    const SHOWN: usize = 50;
    let mut s = names
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    if s.is_empty() {
        s.push_str("(nothing)");
    }
    s
}

/// Streams `member` of the zip at `path` into `sink` and commits it; the
/// zip crate checks the member's CRC-32 at its end. Any error drops the
/// sink uncommitted: nothing appears at the destination. Returns the bytes
/// extracted.
pub(crate) fn extract(path: &Path, member: &str, mut sink: SyncWriter) -> Result<u64, ArchiveError> {
    let mut archive = open(path)?;
    let mut file = archive.by_name(member)?;
    let n = std::io::copy(&mut file, &mut sink)?;
    sink.commit()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_names_first_then_a_unique_file_name() {
        let m: Vec<String> = ["data.csv", "nested/other.csv", "a/dup.csv", "b/dup.csv"]
            .map(String::from)
            .to_vec();
        assert_eq!(choose(&m, "data.csv"), Ok("data.csv".into()));
        assert_eq!(choose(&m, "/nested/other.csv"), Ok("nested/other.csv".into()));
        assert_eq!(choose(&m, "other.csv"), Ok("nested/other.csv".into()));
        assert_eq!(
            choose(&m, "dup.csv"),
            Err(NoMember::Ambiguous(vec!["a/dup.csv".into(), "b/dup.csv".into()]))
        );
        assert_eq!(choose(&m, "nope.csv"), Err(NoMember::Missing));
        assert_eq!(list(&m[..2]), "data.csv, nested/other.csv");
        let many: Vec<String> = (0..53).map(|i| format!("f{i}")).collect();
        assert!(list(&many).ends_with("f49 and 3 more"), "{}", list(&many));
        assert_eq!(list(&[]), "(nothing)");
    }
}
