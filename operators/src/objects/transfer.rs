//! Uploads, copies and downloads: every source to its destination,
//! several at once within a memory bound, by the service itself where it
//! can (a copy within S3 or within GCS), streamed through here otherwise.

use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;
use tokio::sync::Semaphore;
use updraft_io::{IoError, Location, Stores, WriteOptions, content_type_for};
use updraft_operator_api::{Output, TaskContext, TaskError};

use super::sources::{self, Source};
use super::{Service, StringOrList};

/// Transfers in flight at once.
const PARALLEL: usize = 8;
/// What the transfers in flight may buffer together, in MiB: an S3
/// multipart upload holds up to 42 MiB, a GCS resumable one 8 MiB; a
/// small object its size.
const BUDGET_MIB: u32 = 48;
/// Destinations named in the output, at most.
const LISTED: usize = 1000;

/// Which way an operator moves data, relative to its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Files on the worker to the service's objects.
    Upload,
    /// Objects (of either service) to the service's objects.
    Copy,
    /// The service's objects to files on the worker.
    Download,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IfExists {
    #[default]
    Overwrite,
    Skip,
    Fail,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferConfig {
    /// A file or object, a folder or prefix (ending in `/`), or a glob;
    /// or a list of them.
    pub from: StringOrList,
    /// The object (one source), or a prefix ending in `/` under which
    /// each source keeps its name (its path below the folder or glob).
    pub to: String,
    /// The objects' `Content-Type`; by default from each name's extension.
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub if_exists: IfExists,
    #[serde(default)]
    pub aws_conn_id: Option<String>,
    #[serde(default)]
    pub gcp_conn_id: Option<String>,
}

fn is_object(s: &str) -> bool {
    s.starts_with("s3://") || s.starts_with("gs://")
}

/// Checks that `from` and `to` are where the direction says: an upload
/// from files into `service`, a copy from objects into `service`, a
/// download from `service`'s objects to files.
pub fn validate(c: &TransferConfig, service: Service, direction: Direction) -> Vec<String> {
    let mut problems = Vec::new();
    let templated = |s: &str| updraft_operator_api::is_template(s);
    let name = service.name();
    if !templated(&c.to) {
        match direction {
            Direction::Download if is_object(&c.to) => problems.push(format!(
                "`to` must be a path on the worker, not {:?}: `{name}_copy` copies objects",
                c.to
            )),
            Direction::Upload | Direction::Copy if !c.to.starts_with(service.scheme()) => problems.push(format!(
                "`to` must be a {}... location, not {:?}",
                service.scheme(),
                c.to
            )),
            _ => {}
        }
    }
    for f in c.from.items() {
        if templated(f) {
            continue;
        }
        match direction {
            Direction::Upload if is_object(f) => problems.push(format!(
                "`from` {f:?} is not a local path: `{name}_copy` copies objects, `{name}_download` downloads them"
            )),
            Direction::Copy if !is_object(f) => {
                problems.push(format!("`from` {f:?} is a local path: `{name}_upload` uploads files"))
            }
            Direction::Download if !f.starts_with(service.scheme()) => {
                problems.push(format!("`from` must be {}... objects, not {f:?}", service.scheme()))
            }
            _ => {}
        }
    }
    if c.from.items().is_empty() {
        problems.push("`from` names nothing".into());
    }
    problems
}

pub async fn run(
    c: TransferConfig,
    service: Service,
    direction: Direction,
    ctx: TaskContext,
) -> Result<Output, TaskError> {
    // Templates are rendered now: check the locations again.
    let problems = validate(&c, service, direction);
    if !problems.is_empty() {
        return Err(TaskError::Fatal(problems.join("; ")));
    }
    let stores = Stores::for_task(&ctx, c.aws_conn_id.as_deref(), c.gcp_conn_id.as_deref())?;
    let mut all: Vec<Source> = Vec::new();
    for f in c.from.items() {
        let found = sources::expand(&stores, f).await?;
        if found.is_empty() {
            return Err(TaskError::Fatal(format!("`from` {f:?} matches nothing")));
        }
        all.extend(found);
    }
    let plan = destinations(&c.to, all)?;
    let bytes_total: u64 = plan.iter().map(|(s, _)| s.object.size).sum();
    ctx.log.info(&format!(
        "{} object(s), {bytes_total} bytes, to {} (if_exists: {:?})",
        plan.len(),
        c.to,
        c.if_exists
    ));
    let budget = Arc::new(Semaphore::new(BUDGET_MIB as usize));
    let outcomes: Vec<(Location, Option<u64>)> = futures_util::stream::iter(plan)
        .map(|(src, to)| {
            let (stores, budget, ctx, c) = (&stores, budget.clone(), &ctx, &c);
            async move {
                let weight = ((src.object.size >> 20) as u32 + 1).min(BUDGET_MIB);
                let _permit = budget
                    .acquire_many_owned(weight)
                    .await
                    .map_err(|_| TaskError::Cancelled)?;
                let r = one(stores, &src, &to, c, ctx).await;
                match &r {
                    Ok(Some(n)) => ctx.log.info(&format!("{} -> {to} ({n} bytes)", src.object.location)),
                    Ok(None) => ctx.log.info(&format!("{to}: already there, skipped")),
                    Err(_) => {}
                }
                r.map(|n| (to, n))
            }
        })
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await?;
    let done: Vec<&(Location, Option<u64>)> = outcomes.iter().filter(|(_, n)| n.is_some()).collect();
    let bytes: u64 = done.iter().filter_map(|(_, n)| *n).sum();
    let mut uris: Vec<String> = done.iter().map(|(l, _)| l.to_string()).collect();
    uris.sort();
    uris.truncate(LISTED);
    Ok(serde_json::json!({
        "objects": done.len(),
        "bytes": bytes,
        "skipped": outcomes.len() - done.len(),
        "uris": uris,
    }))
}

/// Each source's destination: `to` itself for one source, else `to` as a
/// prefix (it must end in `/`).
fn destinations(to: &str, sources: Vec<Source>) -> Result<Vec<(Source, Location)>, TaskError> {
    let parse = |s: &str| s.parse::<Location>().map_err(TaskError::Fatal);
    if !to.ends_with('/') {
        if sources.len() > 1 {
            return Err(TaskError::Fatal(format!(
                "`from` matches {} objects; `to` must be a prefix ending in `/` (it is {to:?})",
                sources.len()
            )));
        }
        let dest = parse(to)?;
        return Ok(sources.into_iter().map(|s| (s, dest.clone())).collect());
    }
    let mut seen = std::collections::HashSet::new();
    sources
        .into_iter()
        .map(|s| {
            let dest = parse(&format!("{to}{}", s.name))?;
            if !seen.insert(dest.to_string()) {
                return Err(TaskError::Fatal(format!(
                    "two sources would both go to {dest} (the same name under different `from` entries)"
                )));
            }
            Ok((s, dest))
        })
        .collect()
}

/// One transfer; `None` when skipped because the destination exists.
async fn one(
    stores: &Stores,
    src: &Source,
    to: &Location,
    c: &TransferConfig,
    ctx: &TaskContext,
) -> Result<Option<u64>, TaskError> {
    if c.if_exists != IfExists::Overwrite && stores.stat(to).await?.is_some() {
        return match c.if_exists {
            IfExists::Skip => Ok(None),
            _ => Err(TaskError::Fatal(format!("{to} already exists (if_exists: fail)"))),
        };
    }
    let opts = WriteOptions {
        content_type: Some(
            c.content_type
                .clone()
                .unwrap_or_else(|| content_type_for(&src.name).to_string()),
        ),
        // Another writer may get there between the check and the write.
        if_absent: c.if_exists != IfExists::Overwrite,
    };
    let server_side = same_service(&src.object.location, to);
    let r = if server_side && c.if_exists == IfExists::Overwrite && c.content_type.is_none() {
        stores.copy_object(&src.object, to, &ctx.cancel).await
    } else {
        stores.copy_with(&src.object.location, to, opts, &ctx.cancel).await
    };
    match r {
        Ok(n) => Ok(Some(n)),
        Err(IoError::Exists { .. }) if c.if_exists == IfExists::Skip => Ok(None),
        Err(IoError::Exists { .. }) => Err(TaskError::Fatal(format!("{to} already exists (if_exists: fail)"))),
        Err(e) => Err(e.into()),
    }
}

fn same_service(a: &Location, b: &Location) -> bool {
    matches!(
        (a, b),
        (Location::S3 { .. }, Location::S3 { .. }) | (Location::Gcs { .. }, Location::Gcs { .. })
    )
}
