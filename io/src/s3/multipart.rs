//! The three calls every multipart upload makes (the streaming writer, a
//! file's parts, a server-side copy in parts), written once.

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use super::{sdk_error, transient};
use crate::IoError;

/// Starts an upload; its id.
pub(super) async fn create(
    client: &Client,
    bucket: &str,
    key: &str,
    content_type: Option<String>,
) -> Result<String, IoError> {
    let out = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .set_content_type(content_type)
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
