//! The input, read on threads of its own: first its schema, then batches,
//! through a bounded channel (a slow consumer holds the reader back).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use tokio_util::sync::CancellationToken;

use super::csv_read::{self, CsvOptions};
use super::error::Error;
use super::table::{Batch, LineMap, Rows, Schema};
use crate::table::open_parquet;

/// What a source sends: its schema once, then batches, then `End` (a
/// channel closed without it means the reader failed).
pub enum Out {
    Schema(Schema),
    Batch(Batch),
    End,
}

/// Batches in flight between the reader and the steps.
const QUEUED: usize = 2;
const PARQUET_BATCH: usize = 64 * 1024;

pub struct Source {
    pub rx: Receiver<Result<Out, Error>>,
    threads: Vec<JoinHandle<()>>,
    /// Where CSV rows start (for messages).
    pub lines: Option<Arc<Mutex<LineMap>>>,
}

impl Source {
    pub fn csv(input: Box<dyn Read + Send>, opts: CsvOptions, cancel: CancellationToken) -> Result<Source, Error> {
        let (tx, rx) = sync_channel(QUEUED);
        let lines = Arc::new(Mutex::new(LineMap::default()));
        let threads = csv_read::start(input, opts, lines.clone(), cancel, tx).map_err(Error::Read)?;
        Ok(Source {
            rx,
            threads,
            lines: Some(lines),
        })
    }

    pub fn parquet(path: PathBuf, cancel: CancellationToken) -> Result<Source, Error> {
        let (tx, rx) = sync_channel(QUEUED);
        let t = std::thread::Builder::new()
            .name("transform-parquet".into())
            .spawn(move || {
                if let Err(e) = read_parquet(&path, &tx, &cancel) {
                    let _ = tx.send(Err(e));
                }
            })
            .map_err(Error::Read)?;
        Ok(Source {
            rx,
            threads: vec![t],
            lines: None,
        })
    }

    /// Stops the reading threads (a send to the dropped channel fails)
    /// and waits for them.
    pub fn close(self) -> Result<(), Error> {
        let Source { rx, threads, .. } = self;
        drop(rx);
        for t in threads {
            if t.join().is_err() {
                return Err(Error::BadFile("the reader stopped unexpectedly (a panic)".into()));
            }
        }
        Ok(())
    }
}

/// The type the steps see for a Parquet column: every kind of text
/// becomes plain UTF-8; the rest stays as it is.
fn normalized(t: &DataType) -> DataType {
    match t {
        DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
        DataType::Dictionary(_, v) if matches!(**v, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => {
            DataType::Utf8
        }
        other => other.clone(),
    }
}

fn bad(e: impl std::fmt::Display) -> Error {
    Error::BadFile(format!("not a Parquet file that can be read: {e}"))
}

fn read_parquet(path: &Path, tx: &SyncSender<Result<Out, Error>>, cancel: &CancellationToken) -> Result<(), Error> {
    let (arrow, reader) = open_parquet(path, PARQUET_BATCH).map_err(Error::BadFile)?;
    let schema = Schema {
        names: arrow.fields().iter().map(|f| f.name().clone()).collect(),
        types: arrow.fields().iter().map(|f| normalized(f.data_type())).collect(),
    };
    let types = schema.types.clone();
    tx.send(Ok(Out::Schema(schema))).map_err(|_| Error::Stopped)?;
    let mut first = 1u64;
    for rb in reader {
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let rb = rb.map_err(bad)?;
        let len = rb.num_rows();
        let cols = rb
            .columns()
            .iter()
            .zip(&types)
            .map(|(c, t)| {
                if c.data_type() == t {
                    Ok(c.clone())
                } else {
                    arrow_cast::cast(c.as_ref(), t).map(|a: ArrayRef| a)
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)?;
        tx.send(Ok(Out::Batch(Batch::new(cols, Rows::From(first), len))))
            .map_err(|_| Error::Stopped)?;
        first += len as u64;
    }
    tx.send(Ok(Out::End)).map_err(|_| Error::Stopped)
}
