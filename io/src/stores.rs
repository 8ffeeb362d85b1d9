//! The clients one try uses, and streaming reads and atomic writes over
//! every kind of location.

use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;
use updraft_operator_api::TaskContext;
use updraft_operator_api::TaskError;
use updraft_operator_api::connection::{AwsConnection, GcpConnection};

use crate::{IoError, Location, ObjectInfo, WriteOptions, local};

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
        self.writer_with(loc, WriteOptions::default()).await
    }

    /// [`Stores::writer`] with a content type, or only if nothing is there.
    pub async fn writer_with(&self, loc: &Location, opts: WriteOptions) -> Result<Writer, IoError> {
        let inner = match loc {
            Location::Local(p) => Inner::Local(local::LocalWriter::create(p, opts.if_absent).await?),
            #[cfg(feature = "s3")]
            Location::S3 { bucket, key } => Inner::S3(self.s3().await?.writer(bucket, key, opts)),
            #[cfg(feature = "gcs")]
            Location::Gcs { bucket, key } => Inner::Gcs(self.gcs().await?.writer(bucket, key, opts)),
            #[allow(unreachable_patterns)]
            other => return Err(not_built(other)),
        };
        Ok(Writer { inner, written: 0 })
    }

    /// A local file holding `from`'s bytes, for formats that need random
    /// access (Parquet, zip): the path itself when `from` is local, else a
    /// copy downloaded into the try's scratch folder, named `name`.
    pub async fn local_file(
        &self,
        from: &Location,
        ctx: &TaskContext,
        name: &str,
    ) -> Result<std::path::PathBuf, TaskError> {
        if let Location::Local(p) = from {
            return Ok(p.clone());
        }
        let dir = ctx
            .scratch
            .dir()
            .map_err(|e| TaskError::failed("making the scratch folder", &e))?;
        let dest = dir.join(name);
        self.copy(from, &Location::Local(dest.clone()), &ctx.cancel).await?;
        Ok(dest)
    }

    /// Streams `from` to `to` through a bounded buffer; nothing is left at
    /// `to` if it fails or `cancel` fires. Returns the bytes copied.
    pub async fn copy(&self, from: &Location, to: &Location, cancel: &CancellationToken) -> Result<u64, IoError> {
        self.copy_with(from, to, WriteOptions::default(), cancel).await
    }

    /// [`Stores::copy`] with the destination's write options.
    pub async fn copy_with(
        &self,
        from: &Location,
        to: &Location,
        opts: WriteOptions,
        cancel: &CancellationToken,
    ) -> Result<u64, IoError> {
        // A local file bigger than one part to S3: its parts are read from
        // the file as they are sent (many in flight, little memory).
        #[cfg(feature = "s3")]
        if let (Location::Local(path), Location::S3 { bucket, key }) = (from, to)
            && let Ok(meta) = tokio::fs::metadata(path).await
            && meta.is_file()
            && meta.len() > crate::S3_PART as u64
        {
            return self
                .s3()
                .await?
                .upload_file(path, meta.len(), bucket, key, &opts, cancel)
                .await;
        }
        let mut reader = self.reader(from).await?;
        let mut writer = self.writer_with(to, opts).await?;
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

impl Stores {
    /// Every object (or file) whose key (or path) starts with `prefix`.
    pub async fn list(&self, prefix: &Location) -> Result<Vec<ObjectInfo>, IoError> {
        match prefix {
            Location::Local(p) => {
                let p = p.clone();
                let files = tokio::task::spawn_blocking(move || local::list(&p))
                    .await
                    .map_err(|e| IoError::Transient {
                        location: prefix.to_string(),
                        detail: e.to_string(),
                    })??;
                Ok(files
                    .into_iter()
                    .map(|(path, size)| ObjectInfo {
                        location: Location::Local(path),
                        size,
                        version: None,
                        content_type: None,
                    })
                    .collect())
            }
            #[cfg(feature = "s3")]
            Location::S3 { bucket, key } => self.s3().await?.list(bucket, key).await,
            #[cfg(feature = "gcs")]
            Location::Gcs { bucket, key } => self.gcs().await?.list(bucket, key).await,
            #[allow(unreachable_patterns)]
            other => Err(not_built(other)),
        }
    }

    /// The object at `loc`, or `None` if nothing is there.
    pub async fn stat(&self, loc: &Location) -> Result<Option<ObjectInfo>, IoError> {
        match loc {
            Location::Local(p) => match tokio::fs::metadata(p).await {
                Ok(m) if m.is_file() => Ok(Some(ObjectInfo {
                    location: loc.clone(),
                    size: m.len(),
                    version: None,
                    content_type: None,
                })),
                Ok(_) => Ok(None),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(IoError::Local {
                    location: loc.to_string(),
                    source,
                }),
            },
            #[cfg(feature = "s3")]
            Location::S3 { bucket, key } => self.s3().await?.stat(bucket, key).await,
            #[cfg(feature = "gcs")]
            Location::Gcs { bucket, key } => self.gcs().await?.stat(bucket, key).await,
            #[allow(unreachable_patterns)]
            other => Err(not_built(other)),
        }
    }

    /// Deletes objects of one bucket (S3: a thousand per request; GCS:
    /// several requests at once). Returns how many were deleted (on S3,
    /// which does not say, how many were asked for).
    pub async fn delete(&self, locs: &[Location]) -> Result<u64, IoError> {
        let mut deleted = 0;
        let mut groups: Vec<(&Location, Vec<String>)> = Vec::new();
        for loc in locs {
            match loc {
                Location::Local(p) => match tokio::fs::remove_file(p).await {
                    Ok(()) => deleted += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(source) => {
                        return Err(IoError::Local {
                            location: loc.to_string(),
                            source,
                        });
                    }
                },
                Location::S3 { key, .. } | Location::Gcs { key, .. } => {
                    match groups.iter_mut().find(|(l, _)| same_bucket(l, loc)) {
                        Some((_, keys)) => keys.push(key.clone()),
                        None => groups.push((loc, vec![key.clone()])),
                    }
                }
            }
        }
        for (first, keys) in groups {
            deleted += match first {
                #[cfg(feature = "s3")]
                Location::S3 { bucket, .. } => self.s3().await?.delete_many(bucket, &keys).await?,
                #[cfg(feature = "gcs")]
                Location::Gcs { bucket, .. } => self.gcs().await?.delete_many(bucket, &keys).await?,
                #[allow(unreachable_patterns)]
                other => return Err(not_built(other)),
            };
        }
        Ok(deleted)
    }

    /// Copies one object to `to`: by the service itself when both are on
    /// the same one (S3 `CopyObject`, GCS `rewriteTo`), else streamed
    /// through here. Returns the bytes copied.
    pub async fn copy_object(
        &self,
        from: &ObjectInfo,
        to: &Location,
        cancel: &CancellationToken,
    ) -> Result<u64, IoError> {
        let server_side = async {
            match (&from.location, to) {
                #[cfg(feature = "s3")]
                (Location::S3 { .. }, Location::S3 { bucket, key }) => {
                    self.s3().await?.copy_within(from, bucket, key).await.map(|()| true)
                }
                #[cfg(feature = "gcs")]
                (Location::Gcs { .. }, Location::Gcs { bucket, key }) => {
                    self.gcs().await?.copy_within(from, bucket, key).await.map(|()| true)
                }
                _ => Ok(false),
            }
        };
        let done = tokio::select! {
            r = server_side => r?,
            () = cancel.cancelled() => return Err(IoError::Cancelled),
        };
        if done {
            return Ok(from.size);
        }
        self.copy(&from.location, to, cancel).await
    }
}

fn bucket_of(l: &Location) -> Option<&String> {
    match l {
        Location::S3 { bucket, .. } | Location::Gcs { bucket, .. } => Some(bucket),
        Location::Local(_) => None,
    }
}

fn same_bucket(a: &Location, b: &Location) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b) && bucket_of(a) == bucket_of(b)
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
