//! Listing, stat, batched deletes and server-side copies on S3.

use aws_sdk_s3::types::{CompletedPart, Delete, ObjectIdentifier};

use super::{S3, multipart, sdk_error, transient};
use crate::objects::ObjectInfo;
use crate::{IoError, Location};

/// S3 deletes at most this many keys per request.
const DELETE_BATCH: usize = 1000;
/// `CopyObject` copies up to 5 GiB; larger objects are copied in parts.
const COPY_LIMIT: u64 = 5 << 30;
const COPY_PART: u64 = 512 << 20;

fn info(bucket: &str, key: &str, size: Option<i64>, etag: Option<&str>) -> ObjectInfo {
    ObjectInfo {
        location: Location::S3 {
            bucket: bucket.into(),
            key: key.into(),
        },
        size: size.unwrap_or(0).max(0) as u64,
        version: etag.map(|e| e.trim_matches('"').to_string()),
        content_type: None,
    }
}

/// `bucket/key` as `x-amz-copy-source` wants it: the key percent-encoded,
/// its slashes kept.
fn copy_source(bucket: &str, key: &str) -> String {
    let mut out = format!("{bucket}/");
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl S3 {
    /// Every object whose key starts with `prefix`, page after page.
    pub async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>, IoError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| sdk_error(bucket, prefix, e))?;
            for o in page.contents() {
                if let Some(key) = o.key() {
                    out.push(info(bucket, key, o.size(), o.e_tag()));
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    /// The object at `key`, or `None` if there is none.
    pub async fn stat(&self, bucket: &str, key: &str) -> Result<Option<ObjectInfo>, IoError> {
        match self.client.head_object().bucket(bucket).key(key).send().await {
            Ok(h) => Ok(Some(ObjectInfo {
                content_type: h.content_type().map(str::to_string),
                ..info(bucket, key, h.content_length(), h.e_tag())
            })),
            Err(e) => match sdk_error(bucket, key, e) {
                IoError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Deletes the keys, a thousand per request. S3 does not say whether a
    /// key existed; a key it could not delete fails the call, naming it.
    pub async fn delete_many(&self, bucket: &str, keys: &[String]) -> Result<u64, IoError> {
        let mut deleted = 0;
        for batch in keys.chunks(DELETE_BATCH) {
            let objects = batch
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| transient(bucket, "", &e.to_string()))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| transient(bucket, "", &e.to_string()))?;
            let out = self
                .client
                .delete_objects()
                .bucket(bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| sdk_error(bucket, &batch[0], e))?;
            if let Some(err) = out.errors().first() {
                let key = err.key().unwrap_or_default();
                let detail = format!(
                    "{}: {} ({} of {} keys in this batch not deleted)",
                    err.code().unwrap_or("Error"),
                    err.message().unwrap_or_default(),
                    out.errors().len(),
                    batch.len()
                );
                return Err(match err.code() {
                    Some("AccessDenied") => IoError::Denied {
                        location: format!("s3://{bucket}/{key}"),
                        detail,
                    },
                    _ => transient(bucket, key, &detail),
                });
            }
            deleted += batch.len() as u64;
        }
        Ok(deleted)
    }

    /// A copy made by the service, the bytes never passing through here.
    pub async fn copy_within(&self, from: &ObjectInfo, to_bucket: &str, to_key: &str) -> Result<(), IoError> {
        let Location::S3 { bucket, key } = &from.location else {
            return Err(transient(to_bucket, to_key, "a server-side copy needs an s3:// source"));
        };
        let source = copy_source(bucket, key);
        if from.size <= COPY_LIMIT {
            self.client
                .copy_object()
                .bucket(to_bucket)
                .key(to_key)
                .copy_source(source)
                .send()
                .await
                .map_err(|e| sdk_error(to_bucket, to_key, e))?;
            return Ok(());
        }
        let id = multipart::create(&self.client, to_bucket, to_key, None, multipart::PartChecksums::None).await?;
        let result = async {
            let mut parts = Vec::new();
            let mut start = 0;
            let mut n = 1;
            while start < from.size {
                let end = (start + COPY_PART).min(from.size) - 1;
                let out = self
                    .client
                    .upload_part_copy()
                    .bucket(to_bucket)
                    .key(to_key)
                    .upload_id(&id)
                    .part_number(n)
                    .copy_source(&source)
                    .copy_source_range(format!("bytes={start}-{end}"))
                    .send()
                    .await
                    .map_err(|e| sdk_error(to_bucket, to_key, e))?;
                let etag = out.copy_part_result().and_then(|r| r.e_tag()).map(str::to_string);
                parts.push(CompletedPart::builder().part_number(n).set_e_tag(etag).build());
                start = end + 1;
                n += 1;
            }
            multipart::complete(&self.client, to_bucket, to_key, &id, parts, false).await?;
            Ok(())
        }
        .await;
        if result.is_err() {
            multipart::abort(&self.client, to_bucket, to_key, &id).await;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn copy_sources_keep_slashes_and_encode_the_rest() {
        assert_eq!(
            super::copy_source("b", "in/2024 11/x+y.csv"),
            "b/in/2024%2011/x%2By.csv"
        );
    }
}
