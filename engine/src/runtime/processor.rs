//! The DAG processor: loads the DAGs folder, records each DAG's current
//! source as a version in the store, and reloads when files change. A file
//! that breaks keeps its last good DAGs running; its errors are recorded for
//! the CLI and UI.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use super::{DagCache, RuntimeError};
use crate::dag::{Dag, dag_files, load_paths};
use crate::store::Store;

/// A DAG as currently loaded, with its stored version.
#[derive(Debug, Clone)]
pub struct Current {
    pub dag: Arc<Dag>,
    pub version_id: i64,
}

#[derive(Debug, Clone, Default)]
pub struct ProcessorReport {
    pub changed: bool,
    pub dags: usize,
    /// Files that failed, with their diagnostics.
    pub errors: Vec<(String, Vec<String>)>,
}

#[derive(Debug, Default)]
struct State {
    stamps: Vec<(PathBuf, Option<SystemTime>, u64)>,
    current: BTreeMap<String, Current>,
}

#[derive(Debug)]
pub struct DagProcessor {
    folder: PathBuf,
    store: Store,
    cache: Arc<DagCache>,
    paused_at_creation: bool,
    state: Mutex<State>,
}

impl DagProcessor {
    pub fn new(folder: PathBuf, store: Store, cache: Arc<DagCache>, paused_at_creation: bool) -> Self {
        DagProcessor {
            folder,
            store,
            cache,
            paused_at_creation,
            state: Mutex::default(),
        }
    }

    /// The DAGs loaded now, by id.
    pub fn current(&self) -> BTreeMap<String, Current> {
        self.state.lock().expect("processor lock").current.clone()
    }

    fn stamps(&self) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
        let (files, _) = dag_files(std::slice::from_ref(&self.folder), self.cache.limits());
        files
            .into_iter()
            .map(|f| {
                let meta = std::fs::metadata(&f).ok();
                let modified = meta.as_ref().and_then(|m| m.modified().ok());
                let len = meta.map_or(0, |m| m.len());
                (f, modified, len)
            })
            .collect()
    }

    /// Loads the folder if anything changed (or `force`), and records the
    /// result in the store.
    pub async fn refresh(&self, force: bool) -> Result<ProcessorReport, RuntimeError> {
        let stamps = self.stamps();
        if !force && self.state.lock().expect("processor lock").stamps == stamps {
            return Ok(ProcessorReport::default());
        }
        let folder = self.folder.clone();
        let registry = self.cache.registry().clone();
        let limits = *self.cache.limits();
        let bag = tokio::task::spawn_blocking(move || load_paths(&[folder], &registry, &limits))
            .await
            .expect("loading DAGs does not panic");
        let previous = self.current();
        let mut current = BTreeMap::new();
        for (dag_id, dag) in &bag.dags {
            let file = dag.file.display().to_string();
            let version_id = self
                .store
                .sync_dag(dag_id, &file, &dag.source, self.paused_at_creation)
                .await?;
            self.cache.insert(version_id, dag.clone());
            current.insert(
                dag_id.clone(),
                Current {
                    dag: dag.clone(),
                    version_id,
                },
            );
        }
        // A file that broke keeps the DAGs it had.
        let broken: HashMap<&PathBuf, ()> = bag.errors.keys().map(|f| (f, ())).collect();
        for (dag_id, c) in previous {
            if !current.contains_key(&dag_id) && broken.contains_key(&c.dag.file) {
                current.insert(dag_id, c);
            }
        }
        let errors: Vec<(String, Vec<String>)> = bag
            .errors
            .iter()
            .map(|(f, d)| (f.display().to_string(), d.iter().map(ToString::to_string).collect()))
            .collect();
        self.store.set_import_errors(&errors).await?;
        let report = ProcessorReport {
            changed: true,
            dags: current.len(),
            errors,
        };
        let mut state = self.state.lock().expect("processor lock");
        state.stamps = stamps;
        state.current = current;
        Ok(report)
    }

    /// Refreshes every `interval` until `shutdown`; `on_change` is called
    /// after each reload that changed something.
    pub async fn run(&self, interval: Duration, shutdown: CancellationToken, on_change: impl Fn(&ProcessorReport)) {
        loop {
            match self.refresh(false).await {
                Ok(r) if r.changed => on_change(&r),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "reloading DAGs failed"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}
