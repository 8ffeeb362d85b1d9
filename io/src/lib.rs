//! Where operators read and write data, and how they talk HTTP.
//!
//! - [`Location`]: a local path, `file://`, `s3://bucket/key` or
//!   `gs://bucket/key`, parsed once from a config field.
//! - [`Stores`]: the clients a try needs, built from its connections
//!   (`aws_conn_id`, `gcp_conn_id`, or the default credential chains).
//!   Reads stream ([`Stores::reader`]); writes stream into a [`Writer`]
//!   that makes the data visible only on [`Writer::finish`] (a renamed
//!   temporary file, a completed multipart or resumable upload) and leaves
//!   nothing at the destination when dropped unfinished (failure, cancel).
//! - [`bridge`] and [`sync_reader`]: the same for blocking code (Parquet
//!   and CSV encoders, zip extraction) on a blocking thread.
//! - [`http`]: one pooled client for the process, with timeouts and retries
//!   (backoff on 429, 5xx and connection errors, `Retry-After` honoured;
//!   other 4xx fail at once).
//!
//! S3 and GCS are behind the `s3` and `gcs` features (both on by default).

mod bridge;
mod chunker;
mod error;
#[cfg(feature = "gcs")]
mod gcs;
#[cfg(feature = "gcs")]
pub mod google;
pub mod http;
mod local;
mod location;
mod objects;
#[cfg(feature = "s3")]
mod s3;
mod stores;

pub use bridge::{SyncWriter, bridge, sync_reader};
pub use error::IoError;
pub use location::Location;
pub use objects::{ObjectInfo, WriteOptions, content_type_for};
pub use stores::{Reader, Stores, Writer};

/// The size of an S3 part (at least 5 MiB, S3's minimum).
pub const S3_PART: usize = 6 << 20;

/// The size of a GCS resumable-upload chunk (a multiple of 256 KiB, as the
/// service requires; chunks go one after another, so fewer, larger ones
/// mean fewer round trips).
pub const GCS_CHUNK: usize = 8 << 20;

/// S3 parts in flight at once for one upload. With [`S3_PART`], a writer
/// holds at most 7 buffers (5 parts in flight, one full and one filling):
/// 42 MiB, recycled from part to part. Measured on 1 GiB against moto
/// (BENCHMARKS.md): 3 in flight took 13.6 s at 43 MiB peak RSS, 5 take
/// 10.4 s at 55 MiB, 6 (or 4 of 8 MiB) 9.3-11 s at 61 MiB, too near 64 MB.
pub const PARALLEL_PARTS: usize = 5;
