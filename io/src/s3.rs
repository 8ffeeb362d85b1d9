//! S3 and S3-compatible stores through the AWS SDK: credentials from the
//! connection or the standard chain; streaming downloads; uploads as one
//! `PutObject` when small, else a multipart upload with up to
//! [`PARALLEL_PARTS`] parts of [`S3_PART`](crate::S3_PART) in flight, completed on `finish`
//! and aborted when dropped unfinished (nothing appears at the key). A
//! local file goes by `upload_file` instead: its parts are read from the
//! file as they are sent, more of them at once for the same memory.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::CompletedPart;
use bytes::Bytes;
use tokio::task::JoinSet;
use updraft_operator_api::connection::{AwsAuth, AwsConnection};

use crate::chunker::Chunker;
use crate::objects::WriteOptions;
use crate::{IoError, PARALLEL_PARTS, Reader, S3_PART};

mod file_upload;
mod multipart;
mod objects;

pub struct S3 {
    client: aws_sdk_s3::Client,
}

impl S3 {
    pub async fn new(conn: &AwsConnection) -> Result<S3, IoError> {
        use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
        // hyper 1 with rustls on ring: the stack the rest of Updraft uses.
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http);
        match &conn.auth {
            AwsAuth::Static {
                access_key_id,
                secret_access_key,
                session_token,
            } => {
                loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
                    access_key_id,
                    secret_access_key,
                    session_token.clone(),
                    None,
                    "updraft-connection",
                ));
            }
            AwsAuth::Profile(p) => loader = loader.profile_name(p),
            AwsAuth::DefaultChain => {}
        }
        if let Some(r) = &conn.region {
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        let shared = loader.load().await;
        // No CRC of every part computed on our side (the SDK's default
        // since 2025): TLS already protects the bytes in flight, and the
        // checksum pass costs CPU and a copy of each part.
        let mut b = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(conn.force_path_style)
            .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired);
        if shared.region().is_none() {
            b = b.region(aws_config::Region::from_static("us-east-1"));
        }
        if let Some(e) = &conn.endpoint_url {
            b = b.endpoint_url(e);
        }
        if let Some(arn) = &conn.role_arn {
            let provider = aws_config::sts::AssumeRoleProvider::builder(arn)
                .session_name("updraft")
                .configure(&shared)
                .build()
                .await;
            b = b.credentials_provider(provider);
        }
        Ok(S3 {
            client: aws_sdk_s3::Client::from_conf(b.build()),
        })
    }

    pub async fn reader(&self, bucket: &str, key: &str) -> Result<Reader, IoError> {
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| sdk_error(bucket, key, e))?;
        Ok(Box::pin(out.body.into_async_read()))
    }

    pub fn writer(&self, bucket: &str, key: &str, opts: WriteOptions) -> S3Writer {
        S3Writer {
            opts,
            client: self.client.clone(),
            bucket: bucket.into(),
            key: key.into(),
            buf: Chunker::new(S3_PART),
            upload_id: None,
            parts: JoinSet::new(),
            done: Vec::new(),
            next_part: 1,
            finished: false,
        }
    }
}

pub struct S3Writer {
    opts: WriteOptions,
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    buf: Chunker,
    upload_id: Option<String>,
    /// Each part's upload gives back its buffer for the next part.
    parts: JoinSet<Result<(CompletedPart, Bytes), IoError>>,
    done: Vec<CompletedPart>,
    next_part: i32,
    finished: bool,
}

impl S3Writer {
    pub async fn write(&mut self, data: &[u8]) -> Result<(), IoError> {
        // A part is sent once a whole one is buffered and more follows, so
        // the last part (which may be small) is sent by `finish`.
        for part in self.buf.push(data) {
            self.send_part(part).await?;
        }
        Ok(())
    }

    async fn send_part(&mut self, body: Bytes) -> Result<(), IoError> {
        if self.upload_id.is_none() {
            self.upload_id = Some(
                multipart::create(
                    &self.client,
                    &self.bucket,
                    &self.key,
                    self.opts.content_type.clone(),
                    multipart::PartChecksums::Crc32,
                )
                .await?,
            );
        }
        while self.parts.len() >= PARALLEL_PARTS {
            self.join_one().await?;
        }
        let (client, bucket, key) = (self.client.clone(), self.bucket.clone(), self.key.clone());
        let upload_id = self.upload_id.clone().expect("created above");
        let n = self.next_part;
        self.next_part += 1;
        self.parts.spawn(async move {
            let crc32 = multipart::crc32(&body);
            let out = client
                .upload_part()
                .bucket(&bucket)
                .key(&key)
                .upload_id(upload_id)
                .part_number(n)
                .checksum_crc32(crc32.clone())
                .body(ByteStream::from(body.clone()))
                .send()
                .await
                .map_err(|e| sdk_error(&bucket, &key, e))?;
            let part = CompletedPart::builder()
                .part_number(n)
                .checksum_crc32(crc32)
                .set_e_tag(out.e_tag().map(str::to_string))
                .build();
            Ok((part, body))
        });
        Ok(())
    }

    async fn join_one(&mut self) -> Result<(), IoError> {
        match self.parts.join_next().await {
            Some(Ok(done)) => {
                let (part, buffer) = done?;
                self.done.push(part);
                // The same few buffers serve every part: memory stays at
                // PARALLEL_PARTS + 1 chunks whatever the allocator keeps.
                self.buf.recycle(buffer);
                Ok(())
            }
            Some(Err(e)) => Err(transient(
                &self.bucket,
                &self.key,
                &format!("an upload task failed: {e}"),
            )),
            None => Ok(()),
        }
    }

    pub async fn finish(mut self) -> Result<(), IoError> {
        let rest = self.buf.last();
        if self.upload_id.is_none() {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .set_content_type(self.opts.content_type.clone())
                .set_if_none_match(self.opts.if_absent.then(|| "*".to_string()))
                .body(ByteStream::from(rest))
                .send()
                .await
                .map_err(|e| sdk_error(&self.bucket, &self.key, e))?;
            self.finished = true;
            return Ok(());
        }
        if !rest.is_empty() {
            self.send_part(rest).await?;
        }
        while !self.parts.is_empty() {
            self.join_one().await?;
        }
        let upload_id = self.upload_id.clone().expect("multipart");
        let parts = std::mem::take(&mut self.done);
        multipart::complete(
            &self.client,
            &self.bucket,
            &self.key,
            &upload_id,
            parts,
            self.opts.if_absent,
        )
        .await?;
        self.finished = true;
        Ok(())
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        // Unfinished: stop the parts in flight (dropping the JoinSet aborts
        // them) and abort the upload, so no object and no stored parts stay.
        if self.finished {
            return;
        }
        let (Some(upload_id), Ok(rt)) = (self.upload_id.take(), tokio::runtime::Handle::try_current()) else {
            return;
        };
        let (client, bucket, key) = (self.client.clone(), self.bucket.clone(), self.key.clone());
        rt.spawn(async move { multipart::abort(&client, &bucket, &key, &upload_id).await });
    }
}

fn transient(bucket: &str, key: &str, detail: &str) -> IoError {
    IoError::Transient {
        location: format!("s3://{bucket}/{key}"),
        detail: detail.into(),
    }
}

/// The service's own code and message, with the retry meaning.
fn sdk_error<E>(bucket: &str, key: &str, e: SdkError<E, HttpResponse>) -> IoError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let location = format!("s3://{bucket}/{key}");
    let http = e.raw_response().map(|r| r.status().as_u16());
    let code = e.code().unwrap_or_default().to_string();
    let message = e.message().unwrap_or_default().to_string();
    let detail = match (code.is_empty(), message.is_empty()) {
        (false, false) => format!("{code}: {message}"),
        (false, true) => code.clone(),
        _ => {
            let chained = updraft_operator_api::chain("", &e);
            match http {
                Some(s) if chained.is_empty() || chained == "service error" => format!("HTTP {s}"),
                _ => chained,
            }
        }
    };
    match (code.as_str(), http) {
        ("NoSuchKey" | "NoSuchBucket" | "NotFound", _) | (_, Some(404)) => IoError::NotFound { location, detail },
        ("PreconditionFailed", _) | (_, Some(412)) => IoError::Exists { location, detail },
        ("AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "ExpiredToken", _)
        | (_, Some(401 | 403)) => IoError::Denied { location, detail },
        (_, Some(s)) if (400..500).contains(&s) && s != 408 && s != 429 => IoError::Rejected { location, detail },
        _ => IoError::Transient { location, detail },
    }
}
