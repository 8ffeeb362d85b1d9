//! The three calls every multipart upload makes (the streaming writer, a
//! file's parts, a server-side copy in parts), written once.

use std::path::Path;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{sdk_error, transient};
use crate::IoError;

/// Whether the parts of an upload carry their CRC32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PartChecksums {
    /// Each part sends `x-amz-checksum-crc32`, which the service checks
    /// against what it received (a part damaged on the way is refused, as
    /// boto3 does by default); the object gets a composite CRC32.
    Crc32,
    /// Parts copied by the service (`UploadPartCopy`): nothing of them
    /// passes through here to checksum.
    None,
}

/// Starts an upload; its id.
pub(super) async fn create(
    client: &Client,
    bucket: &str,
    key: &str,
    content_type: Option<String>,
    checksums: PartChecksums,
) -> Result<String, IoError> {
    let out = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .set_content_type(content_type)
        .set_checksum_algorithm((checksums == PartChecksums::Crc32).then_some(ChecksumAlgorithm::Crc32))
        .send()
        .await
        .map_err(|e| sdk_error(bucket, key, e))?;
    Ok(out
        .upload_id()
        .ok_or_else(|| transient(bucket, key, "the service gave no upload id"))?
        .to_string())
}

/// Makes the object of `parts` (in any order); with `if_absent`, only if
/// nothing is at the key.
pub(super) async fn complete(
    client: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    mut parts: Vec<CompletedPart>,
    if_absent: bool,
) -> Result<(), IoError> {
    parts.sort_by_key(|p| p.part_number());
    client
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .set_if_none_match(if_absent.then(|| "*".to_string()))
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .map_err(|e| sdk_error(bucket, key, e))?;
    Ok(())
}

/// Drops the upload and its stored parts; a failure is only logged (the
/// error that led here is the one to report).
pub(super) async fn abort(client: &Client, bucket: &str, key: &str, upload_id: &str) {
    let aborted = client
        .abort_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .send()
        .await;
    if let Err(e) = aborted {
        tracing::warn!(bucket, key, error = %sdk_error(bucket, key, e), "aborting a multipart upload failed");
    }
}

/// The CRC32 of `bytes`, base64 as S3 headers carry it.
pub(super) fn crc32(bytes: &[u8]) -> String {
    STANDARD.encode(crc32fast::hash(bytes).to_be_bytes())
}

/// The CRC32 of `len` bytes of the file at `path` from `offset`, read in
/// 256 KiB pieces off the async runtime (the part is read again as it is
/// sent: from the page cache, cheaper than holding it).
pub(super) async fn file_crc32(path: &Path, offset: u64, len: u64) -> std::io::Result<String> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = std::fs::File::open(&path)?;
        file.seek(SeekFrom::Start(offset))?;
        let mut hasher = crc32fast::Hasher::new();
        let mut buf = vec![0u8; 256 << 10];
        let mut left = len;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = file.read(&mut buf[..want])?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("{} ended while it was being uploaded", path.display()),
                ));
            }
            hasher.update(&buf[..n]);
            left -= n as u64;
        }
        Ok(STANDARD.encode(hasher.finalize().to_be_bytes()))
    })
    .await
    .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn crc32_of_a_file_range_matches_the_bytes_checksum() {
        // S3's documented example value: CRC32 of "hello world" is DUoRhQ==.
        assert_eq!(crc32(b"hello world"), "DUoRhQ==");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let got = file_crc32(&path, 1_000_001, 1_500_000).await.unwrap();
        assert_eq!(got, crc32(&data[1_000_001..2_500_001]));
        let short = file_crc32(&path, 2_999_000, 5_000).await.unwrap_err();
        assert!(short.to_string().contains("ended while"), "{short}");
    }
}
