//! Loading every DAG file of a folder: one broken file never hides another.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Dag, load_dag_with};
use crate::diagnostic::Diagnostic;
use crate::operator::Registry;
use crate::yaml::YamlLimits;

/// The DAGs of a folder, and the files that failed to load.
#[derive(Debug, Default, Clone)]
pub struct DagBag {
    pub dags: BTreeMap<String, Arc<Dag>>,
    /// Problems by file, for files that did not load.
    pub errors: BTreeMap<PathBuf, Vec<Diagnostic>>,
    /// Every file that was read, in order.
    pub files: Vec<PathBuf>,
}

impl DagBag {
    pub fn diagnostics(&self) -> impl Iterator<Item = &Diagnostic> {
        self.errors.values().flatten()
    }
}

/// Bounds on loading DAG files: each file's YAML, and the folder walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DagLimits {
    /// What one file's YAML may cost (its size first of all).
    pub yaml: YamlLimits,
    /// DAG files and sub-folders one walk of the DAGs folder takes
    /// (10,000); past it the walk stops with a diagnostic.
    pub max_files: usize,
}

impl Default for DagLimits {
    fn default() -> Self {
        DagLimits {
            yaml: YamlLimits::default(),
            max_files: 10_000,
        }
    }
}

/// `*.yaml` and `*.yml` files under each path (a file is taken as is),
/// sorted, skipping hidden files and folders. A folder reached twice through
/// symlinks (a loop) is read once; a path that cannot be read, a symlink
/// loop, or a walk past `limits.max_files` gives a diagnostic.
pub fn dag_files(paths: &[PathBuf], limits: &DagLimits) -> (Vec<PathBuf>, Vec<Diagnostic>) {
    let mut walk = Walk {
        max: limits.max_files,
        taken: 0,
        seen: HashMap::new(),
        files: Vec::new(),
        errors: Vec::new(),
    };
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => {
                if !walk.run(p, &m) {
                    break;
                }
            }
            Ok(_) => walk.files.push(p.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => walk.error(p, "no such file or folder".into()),
            Err(e) => walk.error(p, format!("cannot read: {e}")),
        }
    }
    let Walk { mut files, errors, .. } = walk;
    files.sort();
    files.dedup();
    (files, errors)
}

/// One walk over folders, depth first in name order (so that the files a
/// walk cut short by the limit did take are always the same).
struct Walk {
    max: usize,
    taken: usize,
    /// Folders read, by (device, inode), with the path first read as.
    seen: HashMap<(u64, u64), PathBuf>,
    files: Vec<PathBuf>,
    errors: Vec<Diagnostic>,
}

impl Walk {
    fn error(&mut self, file: &Path, message: String) {
        self.errors.push(Diagnostic {
            file: file.to_path_buf(),
            span: None,
            message,
        });
    }

    /// Counts one file or folder against the limit; false once past it.
    fn take(&mut self, root: &Path) -> bool {
        self.taken += 1;
        if self.taken > self.max {
            let max = self.max;
            self.error(
                root,
                format!(
                    "more than {max} DAG files and folders to read: the walk stopped there and the rest \
                     were not loaded (the limit on a DAGs folder walk)"
                ),
            );
            return false;
        }
        true
    }

    /// Walks `root`; false if the walk stopped at the limit.
    fn run(&mut self, root: &Path, meta: &std::fs::Metadata) -> bool {
        if self.seen.insert(dir_key(meta), root.to_path_buf()).is_some() {
            return true;
        }
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) => {
                    self.error(&dir, format!("cannot read folder: {e}"));
                    continue;
                }
            };
            let mut entries: Vec<_> = entries
                .flatten()
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .collect();
            entries.sort_by_key(|e| e.file_name());
            let mut subdirs = Vec::new();
            for entry in entries {
                let path = entry.path();
                let is_link = entry.file_type().is_ok_and(|t| t.is_symlink());
                let is_yaml = matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
                // Follows symlinks.
                let meta = match std::fs::metadata(&path) {
                    Ok(m) => m,
                    Err(e) if is_link => {
                        self.error(&path, format!("cannot follow symlink: {e}"));
                        continue;
                    }
                    Err(e) => {
                        if is_yaml {
                            self.error(&path, format!("cannot read: {e}"));
                        }
                        continue;
                    }
                };
                if meta.is_dir() {
                    if let Some(first) = self.seen.get(&dir_key(&meta)) {
                        if is_link {
                            let why = if path.starts_with(first) {
                                format!("symlink loop: leads back to `{}`, which contains it", first.display())
                            } else {
                                format!("same folder as `{}`, read already", first.display())
                            };
                            self.error(&path, format!("{why}; skipped"));
                        }
                        continue;
                    }
                    if !self.take(root) {
                        return false;
                    }
                    self.seen.insert(dir_key(&meta), path.clone());
                    subdirs.push(path);
                } else if is_yaml {
                    if !meta.is_file() {
                        self.error(&path, "not a regular file; skipped".into());
                        continue;
                    }
                    if !self.take(root) {
                        return false;
                    }
                    self.files.push(path);
                }
            }
            // Depth first, in name order.
            stack.extend(subdirs.into_iter().rev());
        }
        true
    }
}

#[cfg(unix)]
fn dir_key(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// Loads and validates every DAG file under `paths`, in parallel. A `dag_id`
/// defined by two files stays with the first file (in path order); the
/// second gets an error naming the first.
pub fn load_paths(paths: &[PathBuf], registry: &Registry, limits: &DagLimits) -> DagBag {
    let (files, path_errors) = dag_files(paths, limits);
    let results = load_files(&files, registry, &limits.yaml);
    let mut bag = DagBag {
        files: files.clone(),
        ..DagBag::default()
    };
    for d in path_errors {
        bag.errors.entry(d.file.clone()).or_default().push(d);
    }
    for (file, result) in files.into_iter().zip(results) {
        match result {
            Ok(dag) => {
                if let Some(first) = bag.dags.get(&dag.dag_id) {
                    let line = first
                        .source
                        .lines()
                        .position(|l| l.trim_start().starts_with("dag_id:"))
                        .map(|i| i + 1);
                    let place = match line {
                        Some(l) => format!("{}:{l}", first.file.display()),
                        None => first.file.display().to_string(),
                    };
                    let span = dag_id_span(&dag.source);
                    bag.errors.entry(file.clone()).or_default().push(Diagnostic {
                        file,
                        span,
                        message: format!("duplicate dag_id `{}`: already defined in {place}", dag.dag_id),
                    });
                } else {
                    bag.dags.insert(dag.dag_id.clone(), Arc::new(dag));
                }
            }
            Err(diags) => {
                bag.errors.entry(file).or_default().extend(diags);
            }
        }
    }
    bag
}

fn dag_id_span(source: &str) -> Option<crate::yaml::Span> {
    source.lines().enumerate().find_map(|(i, l)| {
        l.starts_with("dag_id:").then_some(crate::yaml::Span {
            line: i as u32 + 1,
            col: 1,
        })
    })
}

fn load_files(files: &[PathBuf], registry: &Registry, limits: &YamlLimits) -> Vec<Result<Dag, Vec<Diagnostic>>> {
    let load_one = |f: &PathBuf| {
        let fail = |message: String| {
            Err(vec![Diagnostic {
                file: f.clone(),
                span: None,
                message,
            }])
        };
        match read_bounded(f, limits.max_bytes) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => load_dag_with(f, &text, registry, limits),
                Err(e) => fail(format!("not valid UTF-8 text (byte {})", e.utf8_error().valid_up_to())),
            },
            Err(message) => fail(message),
        }
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().max(1));
    if threads <= 1 || files.len() < 8 {
        return files.iter().map(load_one).collect();
    }
    let chunk = files.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(load_one).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("DAG loading does not panic"))
            .collect()
    })
}

/// A regular file's bytes, if it holds at most `max` (checked before
/// reading, and while reading in case it grows).
fn read_bounded(path: &Path, max: usize) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read file: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > max as u64 {
        return Err(crate::yaml::too_big(meta.len(), max));
    }
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read file: {e}"))?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read file: {e}"))?;
    if bytes.len() > max {
        return Err(crate::yaml::too_big(format!("more than {max}"), max));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::{Operator, Output, TaskContext, TaskError};

    struct Noop;

    impl Operator for Noop {
        const NAME: &'static str = "noop";
        type Config = serde_json::Value;

        async fn execute(&self, _: serde_json::Value, _: TaskContext) -> Result<Output, TaskError> {
            Ok(Output::default())
        }
    }

    fn names(files: &[PathBuf], root: &Path) -> Vec<String> {
        files
            .iter()
            .map(|f| f.strip_prefix(root).unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn two_self_referencing_symlinks_are_walked_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a.yaml"), "dag_id: a\n").unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/b.yaml"), "dag_id: b\n").unwrap();
        std::os::unix::fs::symlink(".", root.join("loop1")).unwrap();
        std::os::unix::fs::symlink(".", root.join("loop2")).unwrap();
        std::os::unix::fs::symlink("..", root.join("sub/up")).unwrap();
        std::os::unix::fs::symlink("self", root.join("self")).unwrap();

        let started = std::time::Instant::now();
        let (files, errors) = dag_files(&[root.to_path_buf()], &DagLimits::default());
        assert!(started.elapsed().as_secs() < 5, "took {:?}", started.elapsed());
        assert_eq!(names(&files, root), ["a.yaml", "sub/b.yaml"]);
        let said: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(said.len(), 4, "{said:#?}");
        for link in ["loop1", "loop2", "sub/up"] {
            let d = errors.iter().find(|d| d.file == root.join(link)).unwrap();
            assert!(d.message.starts_with("symlink loop: leads back to"), "{d}");
        }
        let d = errors.iter().find(|d| d.file == root.join("self")).unwrap();
        assert!(d.message.starts_with("cannot follow symlink"), "{d}");
    }

    #[test]
    fn a_second_link_to_a_folder_is_read_once_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("common")).unwrap();
        std::fs::write(root.join("common/c.yaml"), "dag_id: c\n").unwrap();
        std::os::unix::fs::symlink("common", root.join("link")).unwrap();
        let (files, errors) = dag_files(&[root.to_path_buf()], &DagLimits::default());
        assert_eq!(names(&files, root), ["common/c.yaml"]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].message.contains("same folder as"), "{}", errors[0]);
    }

    #[test]
    fn the_walk_stops_at_the_file_limit_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for name in ["e", "d", "c", "b", "a"] {
            std::fs::write(root.join(format!("{name}.yaml")), "").unwrap();
        }
        let limits = DagLimits {
            max_files: 3,
            ..DagLimits::default()
        };
        let (files, errors) = dag_files(&[root.to_path_buf()], &limits);
        assert_eq!(names(&files, root), ["a.yaml", "b.yaml", "c.yaml"]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].file, root);
        assert!(
            errors[0].message.starts_with("more than 3 DAG files and folders"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn broken_or_oversized_files_do_not_stop_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("good.yaml"), "dag_id: good\ntasks: {t: {operator: noop}}\n").unwrap();
        let mut laughs = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for (prev, name) in ('a'..='h').zip('b'..='i') {
            laughs.push_str(&format!(
                "{name}: &{name} [{}]\n",
                vec![format!("*{prev}"); 9].join(", ")
            ));
        }
        std::fs::write(root.join("laughs.yaml"), laughs).unwrap();
        std::fs::write(root.join("big.yaml"), "x".repeat(2000)).unwrap();
        std::os::unix::fs::symlink("/dev/zero", root.join("zero.yaml")).unwrap();
        let limits = DagLimits {
            yaml: YamlLimits {
                max_bytes: 1000,
                ..YamlLimits::default()
            },
            ..DagLimits::default()
        };
        let bag = load_paths(
            &[root.to_path_buf()],
            &Registry::with(|r| {
                r.register(Noop);
            }),
            &limits,
        );
        assert_eq!(bag.dags.keys().collect::<Vec<_>>(), ["good"], "{:#?}", bag.errors);
        let error = |f: &str| bag.errors[&root.join(f)][0].to_string();
        assert!(
            error("laughs.yaml").contains("250000 nodes"),
            "{}",
            error("laughs.yaml")
        );
        assert!(
            error("big.yaml").contains("2000 bytes, over the limit of 1000"),
            "{}",
            error("big.yaml")
        );
        assert!(
            error("zero.yaml").contains("not a regular file"),
            "{}",
            error("zero.yaml")
        );
    }
}
