//! DAGs by version: a run is executed with the version it was created from,
//! even after its file changed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::RuntimeError;
use crate::dag::{Dag, DagLimits, load_dag_with};
use crate::operator::Registry;
use crate::store::Store;

#[derive(Debug)]
pub struct DagCache {
    store: Store,
    registry: Registry,
    /// How DAG files are read, here and by the DAG processor.
    limits: DagLimits,
    versions: Mutex<HashMap<i64, Arc<Dag>>>,
}

impl DagCache {
    pub fn new(store: Store, registry: Registry) -> Self {
        DagCache {
            store,
            registry,
            limits: DagLimits::default(),
            versions: Mutex::default(),
        }
    }

    /// Reads DAG files within `limits` instead of the defaults.
    pub fn with_limits(mut self, limits: DagLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn limits(&self) -> &DagLimits {
        &self.limits
    }

    /// Remembers a DAG just loaded from its file as `version_id`.
    pub fn insert(&self, version_id: i64, dag: Arc<Dag>) {
        self.versions.lock().expect("cache lock").insert(version_id, dag);
    }

    /// The DAG of a stored version, parsed once.
    pub async fn get(&self, version_id: i64) -> Result<Arc<Dag>, RuntimeError> {
        if let Some(d) = self.versions.lock().expect("cache lock").get(&version_id) {
            return Ok(d.clone());
        }
        let (dag_id, file, source) = self.store.dag_version(version_id).await?;
        let dag = load_dag_with(Path::new(&file), &source, &self.registry, &self.limits.yaml).map_err(|diags| {
            RuntimeError::BadVersion {
                version_id,
                dag_id,
                message: diags.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
            }
        })?;
        let dag = Arc::new(dag);
        self.insert(version_id, dag.clone());
        Ok(dag)
    }
}
