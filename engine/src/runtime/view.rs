//! The scheduler's picture of one running run: its task states in memory,
//! kept current by the events of in-process workers and read again from the
//! store whenever it may have drifted (another process's change, a tick, a
//! guarded transition that found a row changed meanwhile). Deciding what
//! to queue is then pure computation instead of reading every task instance
//! of the run after each task that ends.
//!
//! The store stays the truth: every change the scheduler makes from a view
//! is a guarded transition, and a run is ended only after its states were
//! read again from the store.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;

use super::trigger::{Decision, Upstream, decide};
use crate::dag::Dag;
use crate::store::{DagRun, Store, StoreError, TaskState, TaskStateRow};

/// Runs of more tasks than this are asked whether anything waits before
/// they are read again (see [`RunView::reload`]); below, reading them costs
/// about what asking does.
const ASK_FIRST_ABOVE: usize = 64;

#[derive(Debug, Clone, Copy)]
struct Slot {
    ti_id: i64,
    state: TaskState,
    next_retry_at: Option<Timestamp>,
}

/// What one look at a run decided; the ids are task instance ids.
#[derive(Debug, Default)]
pub(super) struct Decisions {
    pub queue: Vec<i64>,
    pub retry: Vec<i64>,
    pub skip: Vec<i64>,
    pub upstream_failed: Vec<i64>,
    /// The earliest retry still waiting for its time.
    pub next_retry: Option<Timestamp>,
}

impl Decisions {
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.retry.is_empty() && self.skip.is_empty() && self.upstream_failed.is_empty()
    }
}

pub(super) struct RunView {
    pub run: DagRun,
    pub dag: Arc<Dag>,
    /// A topological order of the DAG's tasks, computed once per run.
    order: Vec<usize>,
    /// Per task (DAG index): its task instance; `None` for a task the run
    /// has no instance of (counted as succeeded, as before).
    slots: Vec<Option<Slot>>,
    by_ti: HashMap<i64, usize>,
    /// How many tasks wait to start (`none`, `up_for_retry`) and how many
    /// are queued or running.
    waiting: usize,
    active: usize,
    /// Set when the view may no longer match the store.
    pub stale: bool,
}

impl RunView {
    pub async fn load(store: &Store, dag: Arc<Dag>, run: DagRun) -> Result<RunView, StoreError> {
        let tis = store.task_states(run.id).await?;
        Ok(RunView::with_states(dag, run, tis))
    }

    /// A view of `run` from its task states as the store gave them (many
    /// runs read at once: [`Store::task_states_of_runs`]).
    pub fn with_states(dag: Arc<Dag>, run: DagRun, tis: Vec<TaskStateRow>) -> RunView {
        let mut view = RunView {
            order: dag.graph.topological_order(),
            slots: vec![None; dag.tasks.len()],
            by_ti: HashMap::new(),
            waiting: 0,
            active: 0,
            stale: false,
            run,
            dag,
        };
        view.fill(tis);
        view
    }

    /// Reads the run's task instances again.
    ///
    /// A big run in which nothing waits (every task not ended is queued or
    /// running, as in a fan-out under way) is first only asked whether that
    /// is still so: while the store, too, has a task queued or running and
    /// none waiting, there is nothing to decide and nothing to end, and the
    /// view is kept as it is. Workers in other processes report every batch
    /// of ended tries as "read run R again": for a 10,000-task fan-out that
    /// was 10,000 rows read per batch, per scheduler.
    pub async fn reload(&mut self, store: &Store) -> Result<(), StoreError> {
        if self.asks_first() {
            let (waiting, busy) = store.run_waiting_and_busy(self.run.id).await?;
            if busy && !waiting {
                return Ok(());
            }
        }
        let tis = store.task_states(self.run.id).await?;
        self.fill(tis);
        Ok(())
    }

    /// Whether a reload should ask the store first whether anything waits
    /// (see [`RunView::reload`]): reading it whole would then be wasted.
    pub fn asks_first(&self) -> bool {
        self.slots.len() > ASK_FIRST_ABOVE && self.waiting == 0 && self.active > 0 && !self.stale
    }

    /// Replaces the picture with the store's task states.
    pub fn fill(&mut self, tis: Vec<TaskStateRow>) {
        self.slots.iter_mut().for_each(|s| *s = None);
        self.by_ti.clear();
        for (ti_id, task_id, state, next_retry_at) in tis {
            if let Some(i) = self.dag.task_index(&task_id) {
                self.slots[i] = Some(Slot {
                    ti_id,
                    state,
                    next_retry_at,
                });
                self.by_ti.insert(ti_id, i);
            }
        }
        self.recount();
        self.stale = false;
    }

    fn recount(&mut self) {
        let states = self.slots.iter().flatten().map(|s| s.state);
        let (mut waiting, mut active) = (0, 0);
        for s in states {
            match s {
                TaskState::None | TaskState::UpForRetry => waiting += 1,
                TaskState::Queued | TaskState::Running => active += 1,
                _ => {}
            }
        }
        self.waiting = waiting;
        self.active = active;
    }

    /// A worker in this process recorded `state` for a task instance. An
    /// event the view cannot apply exactly marks it stale instead.
    pub fn apply(&mut self, ti_id: i64, state: TaskState) {
        let Some(&i) = self.by_ti.get(&ti_id) else {
            self.stale = true;
            return;
        };
        match (self.slots[i].expect("indexed slots exist").state, state) {
            // A try ended (a retry carries a time the event does not).
            (TaskState::Queued | TaskState::Running, s) if s.is_finished() => self.change(i, s),
            (TaskState::Queued, TaskState::Running) => self.change(i, TaskState::Running),
            // A worker claimed a downstream task straight from `none`.
            (TaskState::None, TaskState::Running) => self.change(i, TaskState::Running),
            (old, new) if old == new => {}
            _ => self.stale = true,
        }
    }

    /// Moves task `i` to `state`, keeping the counts.
    fn change(&mut self, i: usize, state: TaskState) {
        let slot = self.slots[i].as_mut().expect("indexed slots exist");
        let old = std::mem::replace(&mut slot.state, state);
        if state == TaskState::Queued {
            slot.next_retry_at = None;
        }
        match old {
            TaskState::None | TaskState::UpForRetry => self.waiting -= 1,
            TaskState::Queued | TaskState::Running => self.active -= 1,
            _ => {}
        }
        match state {
            TaskState::None | TaskState::UpForRetry => self.waiting += 1,
            TaskState::Queued | TaskState::Running => self.active += 1,
            _ => {}
        }
    }

    /// Applies trigger rules in topological order, so skips and upstream
    /// failures cascade in one look, within `max_active_tasks`. The view
    /// takes the decided states at once; the caller writes them.
    pub fn decide(&mut self, now: Timestamp) -> Decisions {
        let mut d = Decisions::default();
        if self.waiting == 0 {
            return d;
        }
        let limit = self.dag.max_active_tasks as usize;
        let state_of = |slots: &[Option<Slot>], i: usize| slots[i].map_or(TaskState::Success, |s| s.state);
        let mut ups = Vec::new();
        for k in 0..self.order.len() {
            let i = self.order[k];
            let active = self.active;
            let Some(slot) = self.slots[i] else { continue };
            let next = match slot.state {
                TaskState::None => {
                    ups.clear();
                    ups.extend(self.dag.tasks[i].upstream.iter().map(|&u| state_of(&self.slots, u)));
                    match decide(self.dag.tasks[i].trigger_rule, Upstream::count(ups.iter())) {
                        Decision::Run if active < limit => {
                            d.queue.push(slot.ti_id);
                            TaskState::Queued
                        }
                        Decision::Run | Decision::Wait => continue,
                        Decision::Skip => {
                            d.skip.push(slot.ti_id);
                            TaskState::Skipped
                        }
                        Decision::UpstreamFailed => {
                            d.upstream_failed.push(slot.ti_id);
                            TaskState::UpstreamFailed
                        }
                    }
                }
                TaskState::UpForRetry => match slot.next_retry_at {
                    Some(at) if at > now => {
                        d.next_retry = Some(d.next_retry.map_or(at, |w: Timestamp| w.min(at)));
                        continue;
                    }
                    _ if active < limit => {
                        d.retry.push(slot.ti_id);
                        TaskState::Queued
                    }
                    _ => continue,
                },
                _ => continue,
            };
            self.change(i, next);
        }
        d
    }

    pub fn all_finished(&self) -> bool {
        self.waiting == 0 && self.active == 0
    }

    /// Airflow: a run whose every task ended fails if a leaf task failed or
    /// could not run.
    pub fn leaf_failed(&self) -> bool {
        (0..self.dag.tasks.len())
            .filter(|&i| self.dag.graph.downstream(i).next().is_none())
            .any(|i| {
                matches!(
                    self.slots[i].map(|s| s.state),
                    Some(TaskState::Failed | TaskState::UpstreamFailed)
                )
            })
    }
}
