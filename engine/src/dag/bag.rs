//! Loading every DAG file of a folder: one broken file never hides another.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Dag, load_dag};
use crate::diagnostic::Diagnostic;
use crate::operator::Registry;

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

/// `*.yaml` and `*.yml` files under each path (a file is taken as is),
/// sorted, skipping hidden files and folders. A path that cannot be read
/// gives a diagnostic.
pub fn dag_files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<Diagnostic>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut files, &mut errors);
        } else if p.exists() {
            files.push(p.clone());
        } else {
            errors.push(Diagnostic {
                file: p.clone(),
                span: None,
                message: "no such file or folder".into(),
            });
        }
    }
    files.sort();
    files.dedup();
    (files, errors)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<Diagnostic>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(Diagnostic {
                file: dir.to_path_buf(),
                span: None,
                message: format!("cannot read folder: {e}"),
            });
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(&path, files, errors);
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            files.push(path);
        }
    }
}

/// Loads and validates every DAG file under `paths`, in parallel. A `dag_id`
/// defined by two files stays with the first file (in path order); the
/// second gets an error naming the first.
pub fn load_paths(paths: &[PathBuf], registry: &Registry) -> DagBag {
    let (files, path_errors) = dag_files(paths);
    let results = load_files(&files, registry);
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

fn load_files(files: &[PathBuf], registry: &Registry) -> Vec<Result<Dag, Vec<Diagnostic>>> {
    let load_one = |f: &PathBuf| match std::fs::read(f) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => load_dag(f, &text, registry),
            Err(e) => Err(vec![Diagnostic {
                file: f.clone(),
                span: None,
                message: format!("not valid UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
            }]),
        },
        Err(e) => Err(vec![Diagnostic {
            file: f.clone(),
            span: None,
            message: format!("cannot read file: {e}"),
        }]),
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
