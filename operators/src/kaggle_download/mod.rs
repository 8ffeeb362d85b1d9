//! `operator: kaggle_download`: downloads a Kaggle dataset's zip and puts
//! either one of its files (`file`) or the whole zip at `to` (a path,
//! `file://`, `s3://` or `gs://`). The output is `{bytes, location,
//! dataset, file}`.
//!
//! The API, as Kaggle's own client speaks it:
//!
//! - current: `POST {base}/api/v1/datasets.DatasetApiService/DownloadDataset`
//!   with `{"ownerSlug": ..., "datasetSlug": ...}`, answered by a redirect
//!   to the zip (a signed storage URL on another host), which is followed;
//! - legacy: `GET {base}/api/v1/datasets/download/{owner}/{dataset}`.
//!
//! Both with basic auth (username, API key). The current endpoint is tried
//! first; a 404 or 405 from it (what a server without that route answers)
//! switches to the legacy one for the rest of the try. A 404 from the
//! legacy endpoint means the dataset is not there (or not visible to the
//! user). The `Authorization` header is not sent on to a redirect target on
//! another host or port (reqwest drops it on such redirects).
//!
//! The zip is streamed into the try's scratch folder first (see
//! `http_download::transfer`: retries, a body cut short downloaded again),
//! its members are listed, then the chosen member is decompressed on a
//! blocking thread straight into the destination's writer through
//! `updraft_io::bridge`. Nothing appears at `to` unless the member was
//! extracted whole (CRC checked).
//!
//! Credentials: `conn_id` (login = username, password = API key), else as
//! the `kaggle` CLI finds them ([`credentials`]). The key never appears in
//! logs or errors.

mod archive;
mod credentials;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Deserialize;
use updraft_io::http::{HttpError, Retry, client, send};
use updraft_io::{IoError, Location, Stores, bridge};
use updraft_operator_api::{Operator, Output, TaskContext, TaskError, is_template};

use crate::http_download::transfer::{Target, download, human, scrub, started};
use archive::NoMember;
use credentials::Credentials;

/// Where Kaggle's API is.
pub const DEFAULT_BASE_URL: &str = "https://www.kaggle.com";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KaggleDownloadConfig {
    /// `owner/dataset-slug`, as in the dataset's kaggle.com URL.
    pub dataset: String,
    /// A file in the dataset's zip (`data.csv`); without it, the zip itself
    /// goes to `to`.
    #[serde(default)]
    pub file: Option<String>,
    /// Where the file (or the zip) goes.
    pub to: Location,
    /// A connection whose login is the Kaggle username and password the
    /// API key; else the environment, then `kaggle.json`.
    #[serde(default)]
    pub conn_id: Option<String>,
    /// The API's address (tests, proxies).
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub aws_conn_id: Option<String>,
    #[serde(default)]
    pub gcp_conn_id: Option<String>,
}

pub struct KaggleDownloadOperator;

impl Operator for KaggleDownloadOperator {
    const NAME: &'static str = "kaggle_download";
    type Config = KaggleDownloadConfig;

    fn validate(cfg: &KaggleDownloadConfig) -> Vec<String> {
        let mut problems = Vec::new();
        if split_dataset(&cfg.dataset).is_none() && !is_template(&cfg.dataset) {
            problems.push(format!(
                "`dataset`: {:?} is not `owner/dataset-slug` (as in kaggle.com/datasets/carrie1/ecommerce-data)",
                cfg.dataset
            ));
        }
        if let Some(f) = &cfg.file
            && f.trim().trim_matches('/').is_empty()
        {
            problems.push("`file` is empty (leave it out to keep the whole zip)".into());
        }
        if let Some(b) = &cfg.base_url
            && !is_template(b)
        {
            let lower = b.trim().to_ascii_lowercase();
            if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                problems.push(format!("`base_url`: {b:?} is not an http:// or https:// URL"));
            }
        }
        problems
    }

    async fn execute(&self, cfg: KaggleDownloadConfig, ctx: TaskContext) -> Result<Output, TaskError> {
        let problems = Self::validate(&cfg);
        if !problems.is_empty() {
            return Err(TaskError::Fatal(problems.join("; ")));
        }
        let creds = match cfg.conn_id.as_deref() {
            Some(id) => from_connection(&ctx, id)?,
            None => credentials::from_environment(&|name| std::env::var(name).ok())?,
        };
        let pairs = [(creds.key.clone(), "***".to_string())];
        run(&cfg, &ctx, &creds).await.map_err(|e| scrub(e, &pairs))
    }
}

/// `owner/slug`, each part letters, digits, `-`, `_` or `.` (not `.` or
/// `..` alone: they go into a URL path).
fn split_dataset(d: &str) -> Option<(&str, &str)> {
    let ok = |p: &str| {
        !p.is_empty() && p != "." && p != ".." && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    let (owner, slug) = d.trim().split_once('/')?;
    (ok(owner) && ok(slug)).then_some((owner, slug))
}

fn from_connection(ctx: &TaskContext, id: &str) -> Result<Credentials, TaskError> {
    let c = ctx.connection("conn_id", id)?;
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    match (text(&c.login), text(&c.password)) {
        (Some(username), Some(key)) => Ok(Credentials {
            username,
            key,
            source: format!("connection `{id}`"),
        }),
        _ => Err(TaskError::Fatal(format!(
            "task `{}`: `conn_id`: connection `{id}` needs the Kaggle username as its login and the API key as its password",
            ctx.task_id
        ))),
    }
}

/// An error answer, with Kaggle's meaning: refused credentials and a
/// missing dataset say so (without the answer's body); the rest keep the
/// retry meaning `send` gave them.
fn refusal(e: HttpError, dataset: &str, user: &str) -> TaskError {
    match &e {
        HttpError::Status {
            method, url, status, ..
        } if status.as_u16() == 401 || status.as_u16() == 403 => TaskError::Fatal(format!(
            "{method} {url}: HTTP {status}: Kaggle refused the credentials of `{user}` for dataset `{dataset}` \
             (check the username and API key; a dataset with rules must have them accepted on kaggle.com first)"
        )),
        HttpError::Status {
            method, url, status, ..
        } if status.as_u16() == 404 => TaskError::Fatal(format!(
            "{method} {url}: HTTP {status}: Kaggle has no dataset `{dataset}` visible to `{user}`"
        )),
        _ => e.into(),
    }
}

async fn run(cfg: &KaggleDownloadConfig, ctx: &TaskContext, creds: &Credentials) -> Result<Output, TaskError> {
    let dataset = cfg.dataset.trim().to_string();
    let (owner, slug) = split_dataset(&dataset).expect("validated");
    let base = cfg
        .base_url
        .as_deref()
        .unwrap_or(DEFAULT_BASE_URL)
        .trim()
        .trim_end_matches('/')
        .to_string();
    let current = format!("{base}/api/v1/datasets.DatasetApiService/DownloadDataset");
    let legacy = format!("{base}/api/v1/datasets/download/{owner}/{slug}");
    let body = serde_json::json!({"ownerSlug": owner, "datasetSlug": slug});
    let stores = Stores::for_task(ctx, cfg.aws_conn_id.as_deref(), cfg.gcp_conn_id.as_deref())?;
    let scratch = ctx
        .scratch
        .dir()
        .map_err(|e| TaskError::failed("the try's scratch folder", &e))?
        .to_path_buf();
    let zip_path = scratch.join(format!("{owner}__{slug}.zip"));
    ctx.log.info(&format!(
        "Kaggle dataset `{dataset}` as `{}` (credentials from {}): downloading its zip",
        creds.username, creds.source
    ));

    // Set once the current endpoint answered 404/405: later tries of the
    // download (a body cut short) go straight to the legacy one.
    let use_legacy = Arc::new(AtomicBool::new(false));
    let open = || {
        let (current, legacy, body, use_legacy) = (current.clone(), legacy.clone(), body.clone(), use_legacy.clone());
        let (user, key, dataset) = (creds.username.clone(), creds.key.clone(), dataset.clone());
        let (cancel, log) = (ctx.cancel.clone(), ctx.log.clone());
        async move {
            let mut answered = None;
            if !use_legacy.load(Ordering::Relaxed) {
                let post = || {
                    client()
                        .post(current.as_str())
                        .basic_auth(&user, Some(&key))
                        .json(&body)
                };
                match send(post, Retry::default(), &cancel).await {
                    Ok(resp) => answered = Some(resp),
                    Err(HttpError::Status { status, .. }) if matches!(status.as_u16(), 404 | 405) => {
                        log.info(&format!(
                            "POST {current}: HTTP {status}: using the legacy endpoint GET {legacy}"
                        ));
                        use_legacy.store(true, Ordering::Relaxed);
                    }
                    Err(e) => return Err(refusal(e, &dataset, &user)),
                }
            }
            let resp = match answered {
                Some(r) => r,
                None => send(
                    || client().get(legacy.as_str()).basic_auth(&user, Some(&key)),
                    Retry::default(),
                    &cancel,
                )
                .await
                .map_err(|e| refusal(e, &dataset, &user))?,
            };
            Ok(started!(resp))
        }
    };
    let zip_loc = Location::Local(zip_path.clone());
    let target = Target {
        stores: &stores,
        to: &zip_loc,
        sha256: None,
    };
    let fetched = download(ctx, target, open).await?;

    let path = zip_path.clone();
    let members = tokio::task::spawn_blocking(move || archive::members(&path))
        .await
        .map_err(|e| TaskError::Failed(format!("reading the zip: {e}")))?
        .map_err(|e| {
            TaskError::Failed(format!(
                "Kaggle dataset `{dataset}`: the download from {} ({}, {} bytes) is {e}",
                fetched.url,
                fetched.content_type.as_deref().unwrap_or("no content type"),
                fetched.bytes
            ))
        })?;
    ctx.log.info(&format!(
        "the zip ({}) holds {} files: {}",
        human(fetched.bytes),
        members.len(),
        archive::list(&members)
    ));

    let Some(want) = cfg.file.as_deref() else {
        let bytes = stores.copy(&zip_loc, &cfg.to, &ctx.cancel).await?;
        ctx.log.info(&format!("wrote the zip ({bytes} bytes) to {}", cfg.to));
        return Ok(serde_json::json!({
            "bytes": bytes,
            "location": cfg.to.to_string(),
            "dataset": dataset,
            "file": null,
        }));
    };
    let member = archive::choose(&members, want).map_err(|no| {
        TaskError::Fatal(match no {
            NoMember::Missing => format!(
                "Kaggle dataset `{dataset}`: its zip has no file `{want}`; it holds: {}",
                archive::list(&members)
            ),
            NoMember::Ambiguous(many) => format!(
                "Kaggle dataset `{dataset}`: its zip has no file named exactly `{want}`, and several end in it: {}; name one of them",
                archive::list(&many)
            ),
        })
    })?;

    let writer = stores.writer(&cfg.to).await?;
    let (sink, drive) = bridge(writer, &ctx.cancel);
    let (path, name) = (zip_path.clone(), member.clone());
    let work = tokio::task::spawn_blocking(move || archive::extract(&path, &name, sink));
    let (done, written) = tokio::join!(work, drive);
    let done = done.map_err(|e| TaskError::Failed(format!("extracting `{member}`: {e}")))?;
    let bytes = match (done, written) {
        (Ok(_), Ok(bytes)) => bytes,
        (_, Err(IoError::Cancelled)) => return Err(TaskError::Cancelled),
        // The destination stopped taking data: its error is the cause.
        (Err(archive::ArchiveError::Io(e)), Err(dest)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            return Err(dest.into());
        }
        (Err(e), _) => {
            return Err(TaskError::Failed(format!(
                "Kaggle dataset `{dataset}`: extracting `{member}` from its zip: {e}; nothing was written to {}",
                cfg.to
            )));
        }
        (Ok(_), Err(dest)) => return Err(dest.into()),
    };
    ctx.log.info(&format!(
        "extracted `{member}` ({}, {bytes} bytes) to {}",
        human(bytes),
        cfg.to
    ));
    Ok(serde_json::json!({
        "bytes": bytes,
        "location": cfg.to.to_string(),
        "dataset": dataset,
        "file": member,
    }))
}

#[cfg(test)]
mod tests;
