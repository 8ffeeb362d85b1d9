//! Local files: read as they are; written to a temporary name beside the
//! destination, synced, then renamed over it (atomic on one filesystem).

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use crate::{IoError, Reader};

fn err(path: &Path, source: std::io::Error) -> IoError {
    IoError::Local {
        location: path.display().to_string(),
        source,
    }
}

pub async fn reader(path: &Path) -> Result<Reader, IoError> {
    let f = tokio::fs::File::open(path).await.map_err(|e| err(path, e))?;
    Ok(Box::pin(tokio::io::BufReader::with_capacity(256 << 10, f)))
}

pub struct LocalWriter {
    if_absent: bool,
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<tokio::io::BufWriter<tokio::fs::File>>,
}

impl LocalWriter {
    /// A writer for `dest`; with `if_absent`, `finish` fails (`Exists`)
    /// rather than replace a file already there.
    pub async fn create(dest: &Path, if_absent: bool) -> Result<Self, IoError> {
        let name = dest
            .file_name()
            .ok_or_else(|| err(dest, std::io::Error::other("not a file name")))?
            .to_string_lossy()
            .into_owned();
        let dir = dest
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        tokio::fs::create_dir_all(dir).await.map_err(|e| err(dir, e))?;
        let mut rand = [0u8; 6];
        getrandom::fill(&mut rand).map_err(|e| err(dest, std::io::Error::other(e.to_string())))?;
        let suffix: String = rand.iter().map(|b| format!("{b:02x}")).collect();
        let tmp = dir.join(format!(".{name}.updraft-{suffix}.tmp"));
        let file = tokio::fs::File::create(&tmp).await.map_err(|e| err(&tmp, e))?;
        Ok(LocalWriter {
            if_absent,
            tmp,
            dest: dest.to_path_buf(),
            file: Some(tokio::io::BufWriter::with_capacity(256 << 10, file)),
        })
    }

    pub async fn write(&mut self, data: &[u8]) -> Result<(), IoError> {
        let f = self.file.as_mut().expect("open until finished");
        f.write_all(data).await.map_err(|e| err(&self.dest, e))
    }

    pub async fn finish(mut self) -> Result<(), IoError> {
        let mut f = self.file.take().expect("open until finished");
        f.flush().await.map_err(|e| err(&self.dest, e))?;
        f.get_mut().sync_all().await.map_err(|e| err(&self.dest, e))?;
        drop(f);
        if self.if_absent {
            // A hard link fails if the name is taken: no window where
            // another writer's file could be replaced.
            let linked = tokio::fs::hard_link(&self.tmp, &self.dest).await;
            let _ = tokio::fs::remove_file(&self.tmp).await;
            return match linked {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(IoError::Exists {
                    location: self.dest.display().to_string(),
                    detail: String::new(),
                }),
                Err(e) => Err(err(&self.dest, e)),
            };
        }
        if let Err(e) = tokio::fs::rename(&self.tmp, &self.dest).await {
            let _ = tokio::fs::remove_file(&self.tmp).await;
            return Err(err(&self.dest, e));
        }
        Ok(())
    }
}

/// Files under `prefix` (a folder, or a path whose string starts the
/// names: `/data/part-`), with their sizes.
pub fn list(prefix: &Path) -> Result<Vec<(PathBuf, u64)>, IoError> {
    let (dir, starts) = if prefix.is_dir() {
        (prefix.to_path_buf(), None)
    } else {
        let parent = prefix
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        (parent.to_path_buf(), Some(prefix.to_string_lossy().into_owned()))
    };
    let mut out = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(err(&d, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| err(&d, e))?;
            let path = entry.path();
            if starts
                .as_deref()
                .is_some_and(|s| !path.to_string_lossy().starts_with(s))
            {
                continue;
            }
            // Not followed: a symlink loop cannot make this walk endless.
            let kind = entry.file_type().map_err(|e| err(&path, e))?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let size = entry.metadata().map_err(|e| err(&path, e))?.len();
                out.push((path, size));
            }
        }
    }
    out.sort();
    Ok(out)
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        // Unfinished (an error, a cancel): the temporary file goes.
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
