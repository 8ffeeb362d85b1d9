//! Backfill: the runs `dags plan` lists for a range, created (or rerun in
//! place) once each, never two for one logical date.

use jiff::Timestamp;

use super::{RuntimeError, create_run};
use crate::dag::Dag;
use crate::schedule::DagRunInfo;
use crate::store::{DagRun, RunState, RunType, Store};

/// Which existing runs a backfill runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reprocess {
    /// Leave every existing run alone.
    #[default]
    None,
    /// Rerun failed ones.
    Failed,
    /// Rerun every finished one.
    All,
}

/// What a backfill does for one logical date.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Create(DagRunInfo),
    Rerun(DagRun),
    /// An existing run left as it is.
    Keep(DagRun),
}

impl Step {
    pub fn logical_date(&self) -> Timestamp {
        match self {
            Step::Create(i) => i.logical_date,
            Step::Rerun(r) | Step::Keep(r) => r.logical_date,
        }
    }
}

/// The steps for `[start, end]`, in logical date order.
pub async fn plan_backfill(
    store: &Store,
    dag: &Dag,
    start: Timestamp,
    end: Timestamp,
    reprocess: Reprocess,
) -> Result<Vec<Step>, RuntimeError> {
    let mut steps = Vec::new();
    for info in dag.plan(start, end) {
        let step = match store.run_at(&dag.dag_id, info.logical_date).await? {
            None => Step::Create(info),
            Some(run) => match (reprocess, run.state) {
                (Reprocess::All, RunState::Success | RunState::Failed) | (Reprocess::Failed, RunState::Failed) => {
                    Step::Rerun(run)
                }
                _ => Step::Keep(run),
            },
        };
        steps.push(step);
    }
    Ok(steps)
}

/// Carries out one step; returns the run's key when it will run.
pub async fn apply_step(store: &Store, dag: &Dag, version_id: i64, step: &Step) -> Result<Option<i64>, RuntimeError> {
    match step {
        Step::Create(info) => {
            let run = create_run(
                store,
                dag,
                version_id,
                RunType::Backfill,
                Some(info.logical_date),
                Default::default(),
            )
            .await?;
            // Someone created it meanwhile (a scheduler): leave theirs.
            Ok(run.map(|r| r.id))
        }
        Step::Rerun(run) => {
            let tries: Vec<(String, u32)> = dag
                .tasks
                .iter()
                .map(|t| (t.task_id.clone(), t.retry.retries + 1))
                .collect();
            Ok(store.rerun(run.id, RunType::Backfill, &tries).await?.then_some(run.id))
        }
        Step::Keep(_) => Ok(None),
    }
}
