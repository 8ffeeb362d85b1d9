//! Deletes: named objects (globs allowed) or everything under a prefix,
//! listed page by page and deleted in batches.

use serde::Deserialize;
use updraft_io::{Location, Stores};
use updraft_operator_api::{Output, TaskContext, TaskError};

use super::sources;
use super::{Service, StringOrList};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteConfig {
    /// Objects (`gs://bucket/key`; globs allowed).
    #[serde(default)]
    pub objects: Option<StringOrList>,
    /// Or every object under a prefix (`gs://bucket/staging/`).
    #[serde(default)]
    pub prefix: Option<String>,
    /// `true`: a named object that is not there is fine. `false` (the
    /// default): the task fails naming it, and deletes nothing.
    #[serde(default)]
    pub missing_ok: bool,
    #[serde(default)]
    pub aws_conn_id: Option<String>,
    #[serde(default)]
    pub gcp_conn_id: Option<String>,
}

pub fn validate(c: &DeleteConfig, service: Service) -> Vec<String> {
    let mut problems = Vec::new();
    let mut all: Vec<&str> = Vec::new();
    match (&c.objects, &c.prefix) {
        (Some(_), Some(_)) => problems.push("give `objects` or `prefix`, not both".to_string()),
        (None, None) => problems.push("give `objects` (a list) or `prefix`".to_string()),
        (Some(o), None) => all.extend(o.items().iter().map(String::as_str)),
        (None, Some(p)) => {
            all.push(p);
            if !updraft_operator_api::is_template(p) && !p.ends_with('/') {
                problems.push(format!("`prefix` {p:?} must end in `/` (a folder of objects)"));
            }
        }
    }
    for s in all {
        if !updraft_operator_api::is_template(s) && !s.starts_with(service.scheme()) {
            problems.push(format!("{s:?} is not a {}... location", service.scheme()));
        }
    }
    problems
}

pub async fn run(c: DeleteConfig, service: Service, ctx: TaskContext) -> Result<Output, TaskError> {
    // Templates are rendered now: check the service again.
    let problems = validate(&c, service);
    if !problems.is_empty() {
        return Err(TaskError::Fatal(problems.join("; ")));
    }
    let stores = Stores::for_task(&ctx, c.aws_conn_id.as_deref(), c.gcp_conn_id.as_deref())?;
    let mut doomed: Vec<Location> = Vec::new();
    let mut missing = Vec::new();
    if let Some(prefix) = &c.prefix {
        for s in sources::expand(&stores, prefix).await? {
            doomed.push(s.object.location);
        }
    }
    let names: Vec<String> = c.objects.as_ref().map(|o| o.items().to_vec()).unwrap_or_default();
    for name in &names {
        match sources::expand(&stores, name).await {
            Ok(found) if found.is_empty() => missing.push(name.clone()),
            Ok(found) => doomed.extend(found.into_iter().map(|s| s.object.location)),
            Err(TaskError::Fatal(m)) if m.ends_with(": not found") => missing.push(name.clone()),
            Err(e) => return Err(e),
        }
    }
    if !missing.is_empty() && !c.missing_ok {
        return Err(TaskError::Fatal(format!(
            "not found: {} (nothing was deleted; `missing_ok: true` deletes the rest)",
            missing.join(", ")
        )));
    }
    for m in &missing {
        ctx.log.info(&format!("{m}: not there (missing_ok)"));
    }
    doomed.sort_by_key(|l| l.to_string());
    doomed.dedup();
    ctx.log.info(&format!("deleting {} object(s)", doomed.len()));
    let deleted = tokio::select! {
        r = stores.delete(&doomed) => r?,
        () = ctx.cancel.cancelled() => return Err(TaskError::Cancelled),
    };
    ctx.log.info(&format!("deleted {deleted} object(s)"));
    Ok(serde_json::json!({ "deleted": deleted, "missing": missing }))
}
