//! The clients one try uses, and streaming reads and atomic writes over
//! every kind of location.

use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;
use updraft_operator_api::TaskContext;
use updraft_operator_api::TaskError;
use updraft_operator_api::connection::{AwsConnection, GcpConnection};

use crate::{IoError, Location, local};

/// A stream of a location's bytes.
pub type Reader = Pin<Box<dyn AsyncRead + Send>>;

/// Clients for the locations of one try, made on first use.
pub struct Stores {
    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    aws: AwsConnection,
    #[cfg_attr(not(feature = "gcs"), allow(dead_code))]
    gcp: GcpConnection,
    #[cfg(feature = "s3")]
    s3: tokio::sync::OnceCell<crate::s3::S3>,
    #[cfg(feature = "gcs")]
    gcs: tokio::sync::OnceCell<crate::gcs::Gcs>,
}

impl Stores {
    pub fn new(aws: AwsConnection, gcp: GcpConnection) -> Self {
        Stores {
            aws,
            gcp,
            #[cfg(feature = "s3")]
            s3: Default::default(),
            #[cfg(feature = "gcs")]
            gcs: Default::default(),
        }
    }

    /// The clients for a task whose config names `aws_conn_id` and
    /// `gcp_conn_id` (each optional: the default credential chain).
    pub fn for_task(
        ctx: &TaskContext,
        aws_conn_id: Option<&str>,
        gcp_conn_id: Option<&str>,
    ) -> Result<Self, TaskError> {
        Ok(Stores::new(
            ctx.aws("aws_conn_id", aws_conn_id)?,
            ctx.gcp("gcp_conn_id", gcp_conn_id)?,
        ))
    }

    #[cfg(feature = "s3")]
    async fn s3(&self) -> Result<&crate::s3::S3, IoError> {
        self.s3.get_or_try_init(|| crate::s3::S3::new(&self.aws)).await
    }

    #[cfg(feature = "gcs")]
    async fn gcs(&self) -> Result<&crate::gcs::Gcs, IoError> {
        self.gcs
            .get_or_try_init(|| async { crate::gcs::Gcs::new(&self.gcp) })
            .await
    }

    /// Streams the bytes at `loc`.
    pub async fn reader(&self, loc: &Location) -> Result<Reader, IoError> {
        match loc {
            Location::Local(p) => local::reader(p).await,
            #[cfg(feature = "s3")]
            Location::S3 { bucket, key } => self.s3().await?.reader(bucket, key).await,
            #[cfg(feature = "gcs")]
            Location::Gcs { bucket, key } => self.gcs().await?.reader(bucket, key).await,
            #[allow(unreachable_patterns)]
            other => Err(not_built(other)),
        }
    }

    /// A writer whose bytes appear at `loc` only once it is finished.
    pub async fn writer(&self, loc: &Location) -> Result<Writer, IoError> {
        let inner = match loc {
            Location::Local(p) => Inner::Local(local::LocalWriter::create(p).await?),
            #[cfg(feature = "s3")]
            Location::S3 { bucket, key } => Inner::S3(self.s3().await?.writer(bucket, key)),
            #[cfg(feature = "gcs")]
            Location::Gcs { bucket, key } => Inner::Gcs(self.gcs().await?.writer(bucket, key)),
            #[allow(unreachable_patterns)]
            other => return Err(not_built(other)),
        };
        Ok(Writer { inner, written: 0 })
    }

    /// A local file holding `from`'s bytes, for formats that need random
    /// access (Parquet, zip): the path itself when `from` is local, else a
    /// copy downloaded into `dir` (a scratch folder) named `name`.
    pub async fn local_file(
        &self,
        from: &Location,
        dir: &std::path::Path,
        name: &str,
        cancel: &CancellationToken,
    ) -> Result<std::path::PathBuf, IoError> {
        if let Location::Local(p) = from {
            return Ok(p.clone());
        }
        let dest = dir.join(name);
        self.copy(from, &Location::Local(dest.clone()), cancel).await?;
        Ok(dest)
    }

    /// Streams `from` to `to` through a bounded buffer; nothing is left at
    /// `to` if it fails or `cancel` fires. Returns the bytes copied.
    pub async fn copy(&self, from: &Location, to: &Location, cancel: &CancellationToken) -> Result<u64, IoError> {
        let mut reader = self.reader(from).await?;
        let mut writer = self.writer(to).await?;
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = tokio::select! {
                n = reader.read(&mut buf) => n.map_err(|e| IoError::Transient { location: from.to_string(), detail: e.to_string() })?,
                () = cancel.cancelled() => return Err(IoError::Cancelled),
            };
            if n == 0 {
                break;
            }
            tokio::select! {
                r = writer.write(&buf[..n]) => r?,
                () = cancel.cancelled() => return Err(IoError::Cancelled),
            }
        }
        tokio::select! {
            r = writer.finish() => r,
            () = cancel.cancelled() => Err(IoError::Cancelled),
        }
    }
}

#[allow(dead_code)]
fn not_built(loc: &Location) -> IoError {
    IoError::Rejected {
        location: loc.to_string(),
        detail: "this build of Updraft has no support for this scheme (a Cargo feature of updraft-io is off)".into(),
    }
}

/// Bytes on their way to a location: visible there only after
/// [`Writer::finish`]; dropped unfinished, it leaves nothing behind.
pub struct Writer {
    inner: Inner,
    written: u64,
}

enum Inner {
    Local(local::LocalWriter),
    #[cfg(feature = "s3")]
    S3(crate::s3::S3Writer),
    #[cfg(feature = "gcs")]
    Gcs(crate::gcs::GcsWriter),
}

impl Writer {
    pub async fn write(&mut self, data: &[u8]) -> Result<(), IoError> {
        match &mut self.inner {
            Inner::Local(w) => w.write(data).await?,
            #[cfg(feature = "s3")]
            Inner::S3(w) => w.write(data).await?,
            #[cfg(feature = "gcs")]
            Inner::Gcs(w) => w.write(data).await?,
        }
        self.written += data.len() as u64;
        Ok(())
    }

    /// Makes the data visible at the destination; returns its size.
    pub async fn finish(self) -> Result<u64, IoError> {
        match self.inner {
            Inner::Local(w) => w.finish().await?,
            #[cfg(feature = "s3")]
            Inner::S3(w) => w.finish().await?,
            #[cfg(feature = "gcs")]
            Inner::Gcs(w) => w.finish().await?,
        }
        Ok(self.written)
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }
}
