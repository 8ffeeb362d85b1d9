//! A per-try scratch folder: created on first use, removed when the try
//! ends (when the last handle of it drops), and swept at worker start if a
//! crashed worker left one behind.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The root under which every scratch folder of this machine lives.
pub fn scratch_root() -> PathBuf {
    std::env::temp_dir().join("updraft-scratch")
}

#[derive(Debug, Clone)]
pub struct Scratch(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    /// `<root>/<pid>-<name>`: the pid lets a later worker remove the
    /// folders of one that died.
    path: PathBuf,
    created: OnceLock<()>,
}

impl Scratch {
    /// A scratch folder named after the try (not created yet).
    pub fn new(name: &str) -> Self {
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Self::at(scratch_root().join(format!("{}-{safe}", std::process::id())))
    }

    /// A scratch folder at `path` (tests).
    pub fn at(path: PathBuf) -> Self {
        Scratch(Arc::new(Inner {
            path,
            created: OnceLock::new(),
        }))
    }

    /// The folder, created (private to this user) on first call.
    pub fn dir(&self) -> std::io::Result<&Path> {
        if self.0.created.get().is_none() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(&self.0.path)?;
            let _ = self.0.created.set(());
        }
        Ok(&self.0.path)
    }

    /// Where the folder is (or would be); it may not exist yet.
    pub fn path(&self) -> &Path {
        &self.0.path
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.created.get().is_some() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Removes the scratch folders of processes that no longer run (a worker
/// killed mid-try). Returns how many were removed.
pub fn sweep_orphans(alive: impl Fn(u32) -> bool) -> usize {
    let Ok(entries) = std::fs::read_dir(scratch_root()) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && !alive(pid)
            && std::fs::remove_dir_all(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_on_first_use_and_removed_with_the_last_handle() {
        let base = std::env::temp_dir().join(format!("scratch-test-{}", std::process::id()));
        let s = Scratch::at(base.join("try"));
        assert!(!s.path().exists(), "nothing made until used");
        let copy = s.clone();
        let dir = s.dir().unwrap().to_path_buf();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "private to its user: {mode:o}");
        }
        std::fs::write(dir.join("f"), "x").unwrap();
        drop(s);
        assert!(dir.join("f").exists(), "a handle is still alive");
        drop(copy);
        assert!(!dir.exists());
        let _ = std::fs::remove_dir_all(base);
    }
}
