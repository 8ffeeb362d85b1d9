//! Host paths a task hands out (a container's bind mounts) that a run can
//! steer. A path written in the DAG file, or built from variables,
//! connections and dates, is the choice of the DAG's author and the
//! installation's admins. One whose template reads what a run sets
//! (`params`, `conf`, `dag_run`, `outputs`) must resolve, with no `..` and
//! symlinks followed, under a prefix the installation allows
//! (`UPDRAFT_DOCKER_ALLOWED_MOUNTS`; none by default): otherwise a
//! trigger's conf could mount the host's `/etc`.

use std::path::{Component, Path, PathBuf};

use crate::dag::Task;
use crate::operator::Registry;
use crate::template::{check, is_template};
use crate::yaml::Node;

/// Context names whose values a run (its trigger, or an upstream task) sets.
const RUN_VALUES: &[&str] = &["params", "conf", "dag_run", "outputs"];

/// Checks the host paths of `task`'s rendered config; the error names the
/// task, the field and the path.
pub(crate) fn check_host_paths(
    registry: &Registry,
    task: &Task,
    rendered: &Node,
    allowed: &[PathBuf],
) -> Result<(), String> {
    let out = registry.host_paths(&task.operator, rendered);
    if out.is_empty() {
        return Ok(());
    }
    let raw = registry.host_paths(&task.operator, &task.config);
    for (field, path) in out {
        let Some((_, source)) = raw.iter().find(|(f, _)| *f == field) else {
            continue;
        };
        if !is_template(source) || !reads_run_values(source) {
            continue;
        }
        if let Err(why) = allowed_path(&path, allowed) {
            return Err(format!(
                "task `{}`: `{field}` is {path:?}, built by a template from values a run sets ({source:?}); {why}",
                task.task_id
            ));
        }
    }
    Ok(())
}

/// True if the template reads a value a run sets (or cannot be read).
fn reads_run_values(source: &str) -> bool {
    match check(source) {
        Ok(vars) => vars
            .iter()
            .any(|v| RUN_VALUES.contains(&v.split('.').next().unwrap_or_default())),
        Err(_) => true,
    }
}

/// `Ok` if `path` is absolute, free of `..`, and (symlinks followed) under
/// one of `allowed`.
fn allowed_path(path: &str, allowed: &[PathBuf]) -> Result<(), String> {
    let p = Path::new(path);
    if !p.is_absolute() {
        return Err("such a path must be absolute".into());
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Err("such a path may not contain `..`".into());
    }
    let real = resolve(p);
    if allowed.iter().any(|a| real.starts_with(resolve(a))) {
        return Ok(());
    }
    let list = if allowed.is_empty() {
        "none".to_string()
    } else {
        allowed
            .iter()
            .map(|a| a.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(format!(
        "it resolves to {} (symlinks followed), which is not under an allowed mount prefix \
         (UPDRAFT_DOCKER_ALLOWED_MOUNTS: {list})",
        real.display()
    ))
}

/// The path with symlinks followed as far as it exists (the rest appended).
fn resolve(p: &Path) -> PathBuf {
    let mut existing = p.to_path_buf();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(&existing) {
            return rest
                .iter()
                .rev()
                .fold(real, |acc, part: &std::ffi::OsString| acc.join(part));
        }
        match (existing.file_name().map(ToOwned::to_owned), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return p.to_path_buf(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_templates_reading_run_values_are_checked() {
        assert!(reads_run_values("{{ params.dir }}"));
        assert!(reads_run_values("/data/{{ dag_run.conf.x }}"));
        assert!(reads_run_values("{{ var.value.get(params.key) }}"));
        assert!(reads_run_values("{{ outputs.up.last_line }}"));
        assert!(reads_run_values("{{ broken"));
        assert!(!reads_run_values(
            "{{ var.value.get('gcloud_config_dir', '~/.config/gcloud') }}"
        ));
        assert!(!reads_run_values("/data/{{ ds }}"));
    }

    #[test]
    fn a_path_must_resolve_under_an_allowed_prefix() {
        let root = std::env::temp_dir().join(format!("updraft-mounts-{}", std::process::id()));
        let data = root.join("data");
        std::fs::create_dir_all(data.join("in")).unwrap();
        let allowed = [data.clone()];
        let ok = |p: &Path| allowed_path(p.to_str().unwrap(), &allowed);
        assert_eq!(ok(&data.join("in")), Ok(()));
        // Not there yet: judged by what exists of it.
        assert_eq!(ok(&data.join("new/deeper")), Ok(()));
        let e = allowed_path("/etc", &allowed).unwrap_err();
        assert!(e.contains("/etc") && e.contains(data.to_str().unwrap()), "{e}");
        assert!(
            allowed_path("/etc", &[])
                .unwrap_err()
                .contains("UPDRAFT_DOCKER_ALLOWED_MOUNTS: none")
        );
        assert!(ok(&data.join("../../etc")).unwrap_err().contains("`..`"));
        assert!(allowed_path("etc", &allowed).unwrap_err().contains("absolute"));
        // A symlink inside the allowed folder that points out of it.
        std::os::unix::fs::symlink("/etc", data.join("link")).unwrap();
        assert!(ok(&data.join("link")).is_err());
        assert!(ok(&data.join("link/passwd")).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
