//! Listing, stat, deletes and server-side copies (`rewriteTo`) on GCS'
//! JSON API.

use futures_util::{StreamExt, TryStreamExt};
use serde_json::Value;

use super::{Gcs, check, enc, transient, transport};
use crate::objects::ObjectInfo;
use crate::{IoError, Location};

/// Deletes in flight at once (GCS deletes one object per request).
const PARALLEL_DELETES: usize = 16;

fn info(bucket: &str, o: &Value) -> Option<ObjectInfo> {
    let name = o.get("name")?.as_str()?;
    let size = match o.get("size") {
        // The JSON API gives sizes as strings ("uint64").
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(v) => v.as_u64().unwrap_or(0),
        None => 0,
    };
    let version = match o.get("generation") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) if !v.is_null() => Some(v.to_string()),
        _ => None,
    };
    Some(ObjectInfo {
        location: Location::Gcs {
            bucket: bucket.into(),
            key: name.into(),
        },
        size,
        version,
        content_type: o.get("contentType").and_then(Value::as_str).map(str::to_string),
    })
}

impl Gcs {
    /// Every object whose name starts with `prefix`, page after page.
    pub async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>, IoError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = format!(
                "{}/storage/v1/b/{}/o?prefix={}&maxResults=1000",
                self.endpoint,
                enc(bucket),
                enc(prefix)
            );
            if let Some(t) = &token {
                url.push_str(&format!("&pageToken={}", enc(t)));
            }
            let resp = self
                .request(reqwest::Method::GET, &url)
                .await?
                .send()
                .await
                .map_err(|e| transport(bucket, prefix, &e))?;
            let page: Value = check(bucket, prefix, resp)
                .await?
                .json()
                .await
                .map_err(|e| transport(bucket, prefix, &e))?;
            if let Some(items) = page.get("items").and_then(Value::as_array) {
                out.extend(items.iter().filter_map(|o| info(bucket, o)));
            }
            match page.get("nextPageToken").and_then(Value::as_str) {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    /// The object, or `None` if there is none.
    pub async fn stat(&self, bucket: &str, key: &str) -> Result<Option<ObjectInfo>, IoError> {
        let resp = self
            .request(reqwest::Method::GET, &self.object_url(bucket, key))
            .await?
            .send()
            .await
            .map_err(|e| transport(bucket, key, &e))?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            // A missing bucket is an error, not a missing object.
            let body = resp.text().await.unwrap_or_default();
            if body.to_ascii_lowercase().contains("bucket") {
                return Err(IoError::NotFound {
                    location: format!("gs://{bucket}"),
                    detail: "no such bucket".into(),
                });
            }
            return Ok(None);
        }
        let o: Value = check(bucket, key, resp)
            .await?
            .json()
            .await
            .map_err(|e| transport(bucket, key, &e))?;
        Ok(info(bucket, &o))
    }

    /// Deletes the objects, several requests at a time; returns how many
    /// existed.
    pub async fn delete_many(&self, bucket: &str, keys: &[String]) -> Result<u64, IoError> {
        // Owned keys and a clone of the client per delete: the stream's
        // futures borrow nothing, so the whole is `Send` for any caller.
        let results: Vec<bool> = futures_util::stream::iter(keys.to_vec())
            .map(|key| {
                let (gcs, bucket) = (self.clone(), bucket.to_string());
                async move { gcs.delete_one(&bucket, &key).await }
            })
            .buffer_unordered(PARALLEL_DELETES)
            .try_collect()
            .await?;
        Ok(results.into_iter().filter(|&existed| existed).count() as u64)
    }

    async fn delete_one(&self, bucket: &str, key: &str) -> Result<bool, IoError> {
        let resp = self
            .request(reqwest::Method::DELETE, &self.object_url(bucket, key))
            .await?
            .send()
            .await
            .map_err(|e| transport(bucket, key, &e))?;
        match check(bucket, key, resp).await {
            Ok(_) => Ok(true),
            Err(IoError::NotFound { detail, location }) => {
                if detail.to_ascii_lowercase().contains("bucket") {
                    Err(IoError::NotFound { location, detail })
                } else {
                    Ok(false)
                }
            }
            Err(e) => Err(e),
        }
    }

    /// A copy made by the service (`rewriteTo`, repeated with its token
    /// until done: large objects take several calls).
    pub async fn copy_within(&self, from: &ObjectInfo, to_bucket: &str, to_key: &str) -> Result<(), IoError> {
        let Location::Gcs { bucket, key } = &from.location else {
            return Err(IoError::Rejected {
                location: format!("gs://{to_bucket}/{to_key}"),
                detail: "a server-side copy needs a gs:// source".into(),
            });
        };
        let base = format!(
            "{}/rewriteTo/b/{}/o/{}",
            self.object_url(bucket, key),
            enc(to_bucket),
            enc(to_key)
        );
        let mut token: Option<String> = None;
        loop {
            let url = match &token {
                Some(t) => format!("{base}?rewriteToken={}", enc(t)),
                None => base.clone(),
            };
            let resp = self
                .request(reqwest::Method::POST, &url)
                .await?
                .json(&serde_json::json!({}))
                .send()
                .await
                .map_err(|e| transport(to_bucket, to_key, &e))?;
            let r: Value = check(to_bucket, to_key, resp)
                .await?
                .json()
                .await
                .map_err(|e| transport(to_bucket, to_key, &e))?;
            if r.get("done").and_then(Value::as_bool).unwrap_or(true) {
                return Ok(());
            }
            token = r.get("rewriteToken").and_then(Value::as_str).map(str::to_string);
            if token.is_none() {
                return Err(transient(
                    to_bucket,
                    to_key,
                    "a rewrite not done came without a rewriteToken",
                ));
            }
        }
    }
}
