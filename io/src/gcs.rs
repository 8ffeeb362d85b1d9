//! Google Cloud Storage over its JSON API (the API the local emulators
//! serve too), on the shared HTTP client.
//!
//! Credentials come from [`crate::google`]. `STORAGE_EMULATOR_HOST` (as Google's client libraries read it) or
//! the connection's `endpoint_url` points at another server; with one and
//! no key, requests go without credentials, as with Google's clients.
//!
//! Uploads of up to one [`GCS_CHUNK`](crate::GCS_CHUNK) are one request; larger ones are
//! resumable uploads in chunks of [`GCS_CHUNK`](crate::GCS_CHUNK), finalized by the last chunk
//! on `finish`. Dropped unfinished, the session is deleted and no object
//! appears.

use bytes::Bytes;
use futures_util::TryStreamExt;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use updraft_operator_api::connection::GcpConnection;

use crate::chunker::Chunker;
use crate::google::{GoogleAuth, STORAGE_SCOPE};
use crate::objects::WriteOptions;
use crate::{GCS_CHUNK, IoError, Reader, http};

mod objects;

const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";

#[derive(Clone)]
pub struct Gcs {
    endpoint: String,
    auth: std::sync::Arc<GoogleAuth>,
}

impl Gcs {
    pub fn new(conn: &GcpConnection) -> Result<Gcs, IoError> {
        let emulator = std::env::var("STORAGE_EMULATOR_HOST").ok().filter(|s| !s.is_empty());
        let endpoint = conn
            .endpoint_url
            .clone()
            .or(emulator)
            .map(|e| if e.contains("://") { e } else { format!("http://{e}") })
            .unwrap_or_else(|| DEFAULT_ENDPOINT.into());
        let custom = endpoint != DEFAULT_ENDPOINT;
        let auth = GoogleAuth::new(conn, STORAGE_SCOPE, custom)?;
        Ok(Gcs {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            auth: std::sync::Arc::new(auth),
        })
    }

    async fn request(&self, method: reqwest::Method, url: &str) -> Result<reqwest::RequestBuilder, IoError> {
        let mut rb = http::client().request(method, url);
        if let Some(t) = self.auth.bearer().await? {
            rb = rb.bearer_auth(t);
        }
        Ok(rb)
    }

    fn object_url(&self, bucket: &str, key: &str) -> String {
        format!("{}/storage/v1/b/{}/o/{}", self.endpoint, enc(bucket), enc(key))
    }

    pub async fn reader(&self, bucket: &str, key: &str) -> Result<Reader, IoError> {
        let url = format!("{}?alt=media", self.object_url(bucket, key));
        let resp = self
            .request(reqwest::Method::GET, &url)
            .await?
            .send()
            .await
            .map_err(|e| transport(bucket, key, &e))?;
        let resp = check(bucket, key, resp).await?;
        let stream = resp.bytes_stream().map_err(std::io::Error::other);
        Ok(Box::pin(tokio_util::io::StreamReader::new(stream)))
    }

    pub fn writer(&self, bucket: &str, key: &str, opts: WriteOptions) -> GcsWriter {
        GcsWriter {
            opts,
            gcs: self.clone(),
            bucket: bucket.into(),
            key: key.into(),
            buf: Chunker::new(GCS_CHUNK),
            session: None,
            sent: 0,
            finished: false,
        }
    }
}

pub struct GcsWriter {
    opts: WriteOptions,
    gcs: Gcs,
    bucket: String,
    key: String,
    buf: Chunker,
    /// The resumable session's URI, once one is started.
    session: Option<String>,
    sent: u64,
    finished: bool,
}

impl GcsWriter {
    pub async fn write(&mut self, data: &[u8]) -> Result<(), IoError> {
        // A chunk goes once more follows it: the last one is sent by
        // `finish`, with the total size, which finalizes the object.
        for chunk in self.buf.push(data) {
            self.send_chunk(chunk.clone(), None).await?;
            self.buf.recycle(chunk);
        }
        Ok(())
    }

    /// The JSON API's upload URL for this object (`media`: one request;
    /// `resumable`: a session).
    fn upload_url(&self, kind: &str) -> String {
        format!(
            "{}/upload/storage/v1/b/{}/o?uploadType={kind}&name={}{}",
            self.gcs.endpoint,
            enc(&self.bucket),
            enc(&self.key),
            if self.opts.if_absent {
                "&ifGenerationMatch=0"
            } else {
                ""
            }
        )
    }

    fn content_type(&self) -> &str {
        self.opts.content_type.as_deref().unwrap_or("application/octet-stream")
    }

    async fn start_session(&mut self) -> Result<String, IoError> {
        let resp = self
            .gcs
            .request(reqwest::Method::POST, &self.upload_url("resumable"))
            .await?
            .header("X-Upload-Content-Type", self.content_type())
            .json(&json!({"name": self.key, "contentType": self.content_type()}))
            .send()
            .await
            .map_err(|e| transport(&self.bucket, &self.key, &e))?;
        let resp = check(&self.bucket, &self.key, resp).await?;
        let loc = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                transient(
                    &self.bucket,
                    &self.key,
                    "the resumable upload was started without a session URI",
                )
            })?;
        Ok(loc.to_string())
    }

    /// Sends one chunk; `total` on the last one.
    async fn send_chunk(&mut self, chunk: Bytes, total: Option<u64>) -> Result<(), IoError> {
        let session = match &self.session {
            Some(s) => s.clone(),
            None => {
                let s = self.start_session().await?;
                self.session = Some(s.clone());
                s
            }
        };
        let len = chunk.len() as u64;
        let range = match (len, total) {
            (0, Some(t)) => format!("bytes */{t}"),
            (_, Some(t)) => format!("bytes {}-{}/{t}", self.sent, self.sent + len - 1),
            (_, None) => format!("bytes {}-{}/*", self.sent, self.sent + len - 1),
        };
        let resp = self
            .gcs
            .request(reqwest::Method::PUT, &session)
            .await?
            .header(reqwest::header::CONTENT_RANGE, range)
            .body(chunk)
            .send()
            .await
            .map_err(|e| transport(&self.bucket, &self.key, &e))?;
        // 308: "resume incomplete", the chunk is stored.
        if resp.status().as_u16() != 308 {
            check(&self.bucket, &self.key, resp).await?;
        }
        self.sent += len;
        Ok(())
    }

    pub async fn finish(mut self) -> Result<(), IoError> {
        let rest = self.buf.last();
        if self.session.is_none() {
            // Small: one multipart request, the metadata (name, content
            // type) and the bytes together, as Google's clients send it.
            let boundary = format!("updraft-{:016x}", rand_u64());
            let meta = json!({"name": self.key, "contentType": self.content_type()}).to_string();
            let mut body = Vec::with_capacity(rest.len() + meta.len() + 256);
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{meta}\r\n--{boundary}\r\nContent-Type: {}\r\n\r\n",
                    self.content_type()
                )
                .as_bytes(),
            );
            body.extend_from_slice(&rest);
            body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            let resp = self
                .gcs
                .request(reqwest::Method::POST, &self.upload_url("multipart"))
                .await?
                .header(
                    reqwest::header::CONTENT_TYPE,
                    format!("multipart/related; boundary={boundary}"),
                )
                .body(body)
                .send()
                .await
                .map_err(|e| transport(&self.bucket, &self.key, &e))?;
            check(&self.bucket, &self.key, resp).await?;
        } else {
            let total = self.sent + rest.len() as u64;
            self.send_chunk(rest, Some(total)).await?;
        }
        self.finished = true;
        Ok(())
    }
}

impl Drop for GcsWriter {
    fn drop(&mut self) {
        // Unfinished: cancel the session (its chunks are discarded); the
        // object never appears either way.
        if self.finished {
            return;
        }
        let (Some(session), Ok(rt)) = (self.session.take(), tokio::runtime::Handle::try_current()) else {
            return;
        };
        let gcs = self.gcs.clone();
        rt.spawn(async move {
            if let Ok(rb) = gcs.request(reqwest::Method::DELETE, &session).await {
                let _ = rb.send().await;
            }
        });
    }
}

/// A boundary no object's bytes are likely to hold.
fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b)
}

fn location(bucket: &str, key: &str) -> String {
    format!("gs://{bucket}/{key}")
}

fn transient(bucket: &str, key: &str, detail: &str) -> IoError {
    IoError::Transient {
        location: location(bucket, key),
        detail: detail.into(),
    }
}

fn transport(bucket: &str, key: &str, e: &reqwest::Error) -> IoError {
    transient(bucket, key, updraft_operator_api::chain("", e).trim_start_matches(": "))
}

/// A success, or the service's error (`{"error": {"message": ...}}`, or
/// plain text) with its retry meaning.
async fn check(bucket: &str, key: &str, resp: Response) -> Result<Response, IoError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let text = resp.text().await.unwrap_or_default();
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.pointer("/error/message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| text.trim().chars().take(300).collect());
    let detail = format!("HTTP {status}: {message}");
    let location = location(bucket, key);
    Err(match status {
        StatusCode::NOT_FOUND => IoError::NotFound { location, detail },
        StatusCode::PRECONDITION_FAILED => IoError::Exists { location, detail },
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => IoError::Denied { location, detail },
        s if s.is_client_error() && s != StatusCode::REQUEST_TIMEOUT && s != StatusCode::TOO_MANY_REQUESTS => {
            IoError::Rejected { location, detail }
        }
        _ => IoError::Transient { location, detail },
    })
}

/// One path segment or query value (object names: `/` encoded too).
fn enc(s: &str) -> String {
    http::encode_component(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_one_path_segment() {
        assert_eq!(enc("data/2024-11-03/x y.parquet"), "data%2F2024-11-03%2Fx%20y.parquet");
    }
}
