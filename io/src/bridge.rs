//! Blocking code (encoders, decoders, zip extraction) reading from and
//! writing to locations: CPU-heavy work runs on a blocking thread while the
//! bytes move on the runtime, through a bounded channel (memory stays
//! constant; a slow destination holds the encoder back).

use std::io::{self, Write};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{IoError, Reader, Writer};

/// The size of one chunk sent to the destination.
const CHUNK: usize = 1 << 20;
/// Chunks queued between the blocking thread and the destination.
const QUEUED: usize = 4;

enum Msg {
    Data(Vec<u8>),
    Commit,
}

/// A [`std::io::Write`] for a blocking thread whose bytes stream to a
/// location. Nothing appears there unless [`SyncWriter::commit`] is called:
/// dropped uncommitted (an error, a panic), the upload is abandoned.
pub struct SyncWriter {
    tx: mpsc::Sender<Msg>,
    buf: Vec<u8>,
    written: u64,
}

/// Bridges `writer` to blocking code: returns the [`SyncWriter`] to hand
/// to the blocking thread, and the future that moves its bytes, to await
/// beside it (`tokio::join!`). The future ends with the bytes written once
/// the writer is committed; with an error if the destination fails, the
/// writer is dropped uncommitted, or `cancel` fires (the blocking side then
/// gets a `BrokenPipe` error on its next write).
pub fn bridge(
    mut writer: Writer,
    cancel: &CancellationToken,
) -> (SyncWriter, impl Future<Output = Result<u64, IoError>> + Send + 'static) {
    let (tx, mut rx) = mpsc::channel(QUEUED);
    let cancel = cancel.clone();
    let drive = async move {
        loop {
            let msg = tokio::select! {
                m = rx.recv() => m,
                () = cancel.cancelled() => return Err(IoError::Cancelled),
            };
            match msg {
                Some(Msg::Data(d)) => tokio::select! {
                    r = writer.write(&d) => r?,
                    () = cancel.cancelled() => return Err(IoError::Cancelled),
                },
                Some(Msg::Commit) => {
                    return tokio::select! {
                        r = writer.finish() => r,
                        () = cancel.cancelled() => Err(IoError::Cancelled),
                    };
                }
                None => return Err(IoError::Abandoned),
            }
        }
    };
    let sink = SyncWriter {
        tx,
        buf: Vec::with_capacity(CHUNK),
        written: 0,
    };
    (sink, drive)
}

impl SyncWriter {
    fn send(&mut self, msg: Msg) -> io::Result<()> {
        self.tx
            .blocking_send(msg)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the destination stopped taking data"))
    }

    fn send_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.send(Msg::Data(full))
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Sends what is buffered and makes the data visible at the
    /// destination (the bridge's future ends with the result).
    pub fn commit(mut self) -> io::Result<()> {
        self.send_buf()?;
        self.send(Msg::Commit)
    }
}

impl Write for SyncWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > CHUNK && !self.buf.is_empty() {
            self.send_buf()?;
        }
        if data.len() >= CHUNK {
            self.send(Msg::Data(data.to_vec()))?;
        } else {
            self.buf.extend_from_slice(data);
        }
        self.written += data.len() as u64;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Chunks go when full; committing sends the rest. A flush from an
        // encoder must not turn into many small uploads.
        Ok(())
    }
}

/// A [`std::io::Read`] over a location's stream, for a blocking thread
/// (made on the runtime, read off it).
pub fn sync_reader(reader: Reader) -> impl io::Read + Send + 'static {
    tokio_util::io::SyncIoBridge::new(reader)
}
