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
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<tokio::io::BufWriter<tokio::fs::File>>,
}

impl LocalWriter {
    pub async fn create(dest: &Path) -> Result<Self, IoError> {
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
        if let Err(e) = tokio::fs::rename(&self.tmp, &self.dest).await {
            let _ = tokio::fs::remove_file(&self.tmp).await;
            return Err(err(&self.dest, e));
        }
        Ok(())
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        // Unfinished (an error, a cancel): the temporary file goes.
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
