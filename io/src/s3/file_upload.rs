//! A local file to S3 with its parts read from the file as they are sent:
//! nothing of a part is held in memory beyond the SDK's read buffer, so
//! many parts can be in flight within a small memory bound (a stream of
//! unknown length goes through [`super::S3Writer`] instead).

use std::path::Path;

use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::CompletedPart;
use futures_util::{StreamExt, TryStreamExt};
use tokio_util::sync::CancellationToken;

use super::{S3, multipart, sdk_error};
use crate::IoError;
use crate::objects::WriteOptions;

/// Parts of one file in flight at once (boto3's default too; 16 measured
/// no faster against moto).
pub const FILE_PARTS_IN_FLIGHT: usize = 10;
/// S3's limit on the parts of one upload.
const MAX_PARTS: u64 = 10_000;

/// Parts of a file: 8 MiB (boto3's default). Measured on 1 GiB against
/// moto: 6 MiB parts took 14-18 s, 8 MiB 8.4-10 s (fewer parts to
/// assemble), 10 in flight either way.
const FILE_PART: u64 = 8 << 20;

/// The part size for a file of `size` bytes: [`FILE_PART`], or larger (a
/// whole number of MiB) when that would take more than S3's 10,000 parts.
pub fn part_size(size: u64) -> u64 {
    let min = FILE_PART.max(size.div_ceil(MAX_PARTS));
    min.div_ceil(1 << 20) << 20
}

impl S3 {
    /// Uploads the file at `path` (`size` bytes, more than one part) as a
    /// multipart upload, [`FILE_PARTS_IN_FLIGHT`] parts at once. Completed
    /// only when every part is in; aborted on a failure or `cancel`, so
    /// nothing appears at the key.
    pub async fn upload_file(
        &self,
        path: &Path,
        size: u64,
        bucket: &str,
        key: &str,
        opts: &WriteOptions,
        cancel: &CancellationToken,
    ) -> Result<u64, IoError> {
        let upload_id = multipart::create(
            &self.client,
            bucket,
            key,
            opts.content_type.clone(),
            multipart::PartChecksums::Crc32,
        )
        .await?;
        let done = tokio::select! {
            r = self.parts_and_complete(path, size, bucket, key, &upload_id, opts) => r,
            () = cancel.cancelled() => Err(IoError::Cancelled),
        };
        if done.is_err() {
            multipart::abort(&self.client, bucket, key, &upload_id).await;
        }
        done.map(|()| size)
    }

    async fn parts_and_complete(
        &self,
        path: &Path,
        size: u64,
        bucket: &str,
        key: &str,
        upload_id: &str,
        opts: &WriteOptions,
    ) -> Result<(), IoError> {
        let part = part_size(size);
        let count = size.div_ceil(part);
        let parts: Vec<CompletedPart> = futures_util::stream::iter(0..count)
            .map(|i| async move {
                let offset = i * part;
                let len = part.min(size - offset);
                let crc32 = multipart::file_crc32(path, offset, len)
                    .await
                    .map_err(|e| IoError::Transient {
                        location: path.display().to_string(),
                        detail: e.to_string(),
                    })?;
                let body = ByteStream::read_from()
                    .path(path)
                    .offset(offset)
                    .length(Length::Exact(len))
                    .buffer_size(256 << 10)
                    .build()
                    .await
                    .map_err(|e| IoError::Transient {
                        location: path.display().to_string(),
                        detail: e.to_string(),
                    })?;
                let number = i32::try_from(i + 1).expect("at most 10,000 parts");
                let out = self
                    .client
                    .upload_part()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .part_number(number)
                    .checksum_crc32(crc32.clone())
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| sdk_error(bucket, key, e))?;
                Ok::<_, IoError>(
                    CompletedPart::builder()
                        .part_number(number)
                        .checksum_crc32(crc32)
                        .set_e_tag(out.e_tag().map(str::to_string))
                        .build(),
                )
            })
            .buffer_unordered(FILE_PARTS_IN_FLIGHT)
            .try_collect()
            .await?;
        multipart::complete(&self.client, bucket, key, upload_id, parts, opts.if_absent).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_stay_within_s3s_limits() {
        assert_eq!(part_size(1 << 30), FILE_PART);
        // 100 GiB would need 12,800 parts of 8 MiB: 11 MiB parts, 9,310 of them.
        let big = 100u64 << 30;
        let p = part_size(big);
        assert_eq!(p, 11 << 20);
        assert!(big.div_ceil(p) <= MAX_PARTS);
        assert_eq!(p % (1 << 20), 0);
    }
}
