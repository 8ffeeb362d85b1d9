//! Task instances: the scheduler moves them to `queued`, workers claim them
//! atomically, heartbeat, and report how each try ended. Reports are fenced
//! by worker and try number, so a try that was given up on (its worker
//! stopped heartbeating) can never overwrite its successor.

use jiff::Timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::conn::WriteConn;
use super::logs::{LOG_ROWS_PER_INSERT, LogRow, RenderedRow, push_log_insert, push_rendered_insert};
use super::runs::run_from_row;
use super::statements::{Arg, Statements};
use super::{DagRun, Dialect, Result, Store, StoreError, TaskInstance, TaskState, TryOutcome, now_us, opt_ts, us};

const TI_COLUMNS: &str = "id, run_pk, dag_id, task_id, state, try_number, max_tries, queued_at, start_date, end_date, worker_id, heartbeat, next_retry_at, output, error";

fn ti_from_row(r: &AnyRow) -> Result<TaskInstance> {
    let state: String = r.try_get(4)?;
    let output: Option<String> = r.try_get(13)?;
    Ok(TaskInstance {
        id: r.try_get(0)?,
        run_pk: r.try_get(1)?,
        dag_id: r.try_get(2)?,
        task_id: r.try_get(3)?,
        state: state.parse().map_err(StoreError::Corrupt)?,
        try_number: r.try_get::<i64, _>(5)? as u32,
        max_tries: r.try_get::<i64, _>(6)? as u32,
        queued_at: opt_ts(r.try_get(7)?)?,
        start_date: opt_ts(r.try_get(8)?)?,
        end_date: opt_ts(r.try_get(9)?)?,
        worker_id: r.try_get(10)?,
        heartbeat: opt_ts(r.try_get(11)?)?,
        next_retry_at: opt_ts(r.try_get(12)?)?,
        output: output
            .map(|o| serde_json::from_str(&o))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("task output: {e}")))?,
        error: r.try_get(14)?,
    })
}

/// A task instance a worker has claimed, with its run.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub ti: TaskInstance,
    pub run: DagRun,
}

/// A downstream task a worker may claim itself as soon as the try it ran
/// succeeds (see [`Store::claim_downstream`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownstreamClaim {
    pub task_id: String,
    /// Every upstream task: all must have succeeded.
    pub upstream: Vec<String>,
    /// The DAG's `max_active_tasks`. Claims of one run never exceed it
    /// together; the scheduler learns of a claim from the worker's event
    /// (same process) or its NOTIFY (Postgres, another process), and until
    /// then may queue one task too many.
    pub max_active: u32,
}

/// A running try given up on because its worker went silent.
#[derive(Debug, Clone, PartialEq)]
pub struct Reaped {
    pub ti_id: i64,
    pub run_pk: i64,
    pub task_id: String,
    pub retried: bool,
}

pub(super) fn id_list(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
}

/// A run's task instances, in creation order (`$1` the run). The plan
/// check of `ui.rs` EXPLAINs this very statement.
pub(crate) fn run_tasks_sql() -> String {
    format!("SELECT {TI_COLUMNS} FROM task_instances WHERE run_pk = $1 ORDER BY id")
}

/// The queued task instances a worker claims, oldest first: `$first` the
/// limit, `$first+1` a DAG to keep to ('' for any). Also EXPLAINed by the
/// plan check of `ui.rs`.
pub(crate) fn queue_pick_sql(first: usize) -> String {
    format!(
        "SELECT id FROM task_instances WHERE state = 'queued' AND (${d} = '' OR dag_id = ${d}) ORDER BY queued_at, id LIMIT ${l}",
        l = first,
        d = first + 1
    )
}

impl Store {
    pub async fn task_instances(&self, run_pk: i64) -> Result<Vec<TaskInstance>> {
        let sql = run_tasks_sql();
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(run_pk)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(ti_from_row).collect()
    }

    pub async fn task_instance(&self, run_pk: i64, task_id: &str) -> Result<Option<TaskInstance>> {
        let sql = format!("SELECT {TI_COLUMNS} FROM task_instances WHERE run_pk = $1 AND task_id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(run_pk)
            .bind(task_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(ti_from_row).transpose()
    }

    /// Each task instance of a run as the scheduler's picture of it needs
    /// it: id, task, state and retry time. Cheaper than
    /// [`Store::task_instances`] for a big run (four columns instead of
    /// fifteen, no output parsed): the scheduler reads a run again after
    /// every change another process reports.
    pub async fn task_states(&self, run_pk: i64) -> Result<Vec<super::TaskStateRow>> {
        Ok(self
            .task_states_of_runs(&[run_pk])
            .await?
            .remove(&run_pk)
            .unwrap_or_default())
    }

    /// Whether any task instance of the run waits to start (`none`,
    /// `up_for_retry`), and whether any is queued or running. Each answer
    /// stops at the first row the `(run_pk, state)` index finds, so it costs
    /// the same for a run of ten tasks or of ten thousand (a count by state
    /// would visit every row).
    pub async fn run_waiting_and_busy(&self, run_pk: i64) -> Result<(bool, bool)> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM task_instances WHERE run_pk = $1 AND state IN ('none', 'up_for_retry') LIMIT 1) w), \
             (SELECT COUNT(*) FROM (SELECT 1 FROM task_instances WHERE run_pk = $1 AND state IN ('queued', 'running') LIMIT 1) b)",
        )
        .bind(run_pk)
        .fetch_one(self.pool())
        .await?;
        Ok((row.try_get::<i64, _>(0)? > 0, row.try_get::<i64, _>(1)? > 0))
    }

    /// How many of a run's task instances are in each state.
    pub async fn state_counts(&self, run_pk: i64) -> Result<Vec<(TaskState, i64)>> {
        let rows = sqlx::query("SELECT state, COUNT(*) FROM task_instances WHERE run_pk = $1 GROUP BY state")
            .bind(run_pk)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let s: String = r.try_get(0)?;
                Ok((s.parse().map_err(StoreError::Corrupt)?, r.try_get(1)?))
            })
            .collect()
    }

    /// Moves task instances from one of `from` to `to` (the scheduler's
    /// transitions: queue, skip, upstream_failed). Returns how many moved;
    /// one that changed state meanwhile is left alone.
    pub async fn transition_tasks(&self, ids: &[i64], from: &[TaskState], to: TaskState) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let from: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
        let now = now_us();
        let mut moved = 0;
        for chunk in ids.chunks(500) {
            let stamp = match to {
                TaskState::Queued => ", queued_at = $2, next_retry_at = NULL",
                s if s.is_finished() => ", end_date = $2",
                _ => "",
            };
            let sql = format!(
                "UPDATE task_instances SET state = $1{stamp} WHERE id IN ({}) AND state IN ({})",
                id_list(chunk),
                from.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(to.as_str());
            if !stamp.is_empty() {
                q = q.bind(now);
            }
            moved += q.execute(&mut *self.writes().await?).await?.rows_affected();
        }
        Ok(moved)
    }

    /// Claims up to `limit` queued task instances for `worker_id`, oldest
    /// first: each becomes `running` with its try number raised. Two workers
    /// never get the same one (Postgres: `FOR UPDATE SKIP LOCKED`; SQLite:
    /// one writer at a time).
    pub async fn claim(&self, worker_id: &str, limit: u32) -> Result<Vec<Claimed>> {
        self.claim_for(worker_id, limit, None).await
    }

    /// Like [`Store::claim`], limited to one DAG's tasks when `dag_id` is
    /// given (a backfill running its own runs).
    pub async fn claim_for(&self, worker_id: &str, limit: u32, dag_id: Option<&str>) -> Result<Vec<Claimed>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let set = "UPDATE task_instances SET state = 'running', try_number = try_number + 1, worker_id = $1, heartbeat = $2, start_date = $2, end_date = NULL, error = NULL";
        let pick = queue_pick_sql;
        let rows = match self.dialect() {
            // Rows another worker holds are skipped, not waited for.
            Dialect::Postgres => {
                let sql = format!(
                    "{set} WHERE id IN ({} FOR UPDATE SKIP LOCKED) RETURNING {TI_COLUMNS}",
                    pick(3)
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(worker_id)
                    .bind(now_us())
                    .bind(i64::from(limit))
                    .bind(dag_id.unwrap_or(""))
                    .fetch_all(&mut *self.writes().await?)
                    .await?
            }
            Dialect::Sqlite => {
                // Look before taking the write lock: most claims of an
                // idle or busy worker find nothing, and a read does not
                // hold up the writers. What another worker took between
                // the look and the update is left out by `state = 'queued'`.
                let ids: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(pick(1)))
                    .bind(i64::from(limit))
                    .bind(dag_id.unwrap_or(""))
                    .fetch_all(self.pool())
                    .await?;
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let sql = format!(
                    "{set} WHERE state = 'queued' AND id IN ({}) RETURNING {TI_COLUMNS}",
                    id_list(&ids)
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(worker_id)
                    .bind(now_us())
                    .fetch_all(&mut *self.writes().await?)
                    .await?
            }
        };
        let tis: Vec<TaskInstance> = rows.iter().map(ti_from_row).collect::<Result<_>>()?;
        if tis.is_empty() {
            return Ok(Vec::new());
        }
        let mut run_pks: Vec<i64> = tis.iter().map(|t| t.run_pk).collect();
        run_pks.sort_unstable();
        run_pks.dedup();
        let sql = format!(
            "SELECT id, dag_id, run_id, logical_date, data_interval_start, data_interval_end, run_type, state, conf, version_id, created_at, start_date, end_date FROM dag_runs WHERE id IN ({})",
            id_list(&run_pks)
        );
        let runs: Vec<DagRun> = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(run_from_row)
            .collect::<Result<_>>()?;
        tis.into_iter()
            .map(|ti| {
                let run = runs
                    .iter()
                    .find(|r| r.id == ti.run_pk)
                    .cloned()
                    .ok_or_else(|| StoreError::Corrupt(format!("task instance {} has no run", ti.id)))?;
                Ok(Claimed { ti, run })
            })
            .collect()
    }

    /// Claims `claim.task_id` of run `run_pk` for `worker_id` straight from
    /// `none`, when every task in `claim.upstream` has succeeded, the run is
    /// running and fewer than `claim.max_active` of its tasks are queued or
    /// running: what the scheduler would decide for an `all_success` task
    /// whose last upstream just succeeded, without the round trip through
    /// it (Airflow's "mini scheduler"). One guarded statement; `None` when
    /// any condition fails, and the scheduler decides as usual.
    ///
    /// The count of busy tasks must not race another claim in the same run:
    /// on SQLite one writer at a time makes the guards and the update one
    /// step; on Postgres the claim first locks the run's row, so claimers of
    /// one run take turns, and the guarded update (a new statement, a new
    /// snapshot) sees the claims committed before it.
    pub async fn claim_downstream(
        &self,
        worker_id: &str,
        run_pk: i64,
        claim: &DownstreamClaim,
    ) -> Result<Option<TaskInstance>> {
        self.claim_downstream_on(&mut self.writes().await?, worker_id, run_pk, claim)
            .await
    }

    async fn claim_downstream_on(
        &self,
        conn: &mut WriteConn,
        worker_id: &str,
        run_pk: i64,
        claim: &DownstreamClaim,
    ) -> Result<Option<TaskInstance>> {
        let mut stmts = Statements::new();
        if self.dialect == Dialect::Postgres {
            stmts.push(
                "SELECT id FROM dag_runs WHERE id = $1 FOR UPDATE",
                vec![Arg::Int(run_pk)],
            );
        }
        push_claim_downstream(&mut stmts, worker_id, run_pk, claim);
        let rows = match self.dialect {
            Dialect::Sqlite => stmts.fetch_all(conn).await?,
            Dialect::Postgres => conn.fetch_all_atomic(&stmts).await?,
        };
        // The lock's row (one column) comes first on Postgres.
        rows.iter().find(|r| r.columns().len() > 1).map(ti_from_row).transpose()
    }

    /// Marks the running tries a worker still runs (`(ti_id, try_number)`)
    /// as alive now, and returns those the store still lists as the
    /// worker's: one missing from the answer was taken away (cleared,
    /// marked or reaped) and should stop. A try of the worker's that it no
    /// longer runs (its report could not be stored) is not kept alive: it is
    /// reaped once its heartbeat is stale, and retried by its policy.
    pub async fn heartbeat_tasks(&self, worker_id: &str, tries: &[(i64, u32)]) -> Result<Vec<(i64, u32)>> {
        if tries.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "UPDATE task_instances SET heartbeat = $1 WHERE worker_id = $2 AND state = 'running' AND id IN ({}) \
             RETURNING id, try_number",
            id_list(&tries.iter().map(|(id, _)| *id).collect::<Vec<_>>())
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now_us())
            .bind(worker_id)
            .fetch_all(&mut *self.beats().await?)
            .await?;
        let mut owned = Vec::with_capacity(rows.len());
        for r in &rows {
            let try_ = (r.try_get::<i64, _>(0)?, r.try_get::<i64, _>(1)? as u32);
            if tries.contains(&try_) {
                owned.push(try_);
            }
        }
        Ok(owned)
    }

    /// Records how a try ended. Returns the new state, or `None` when the
    /// try is no longer this worker's (it was reaped, cleared or marked).
    pub async fn finish_try(
        &self,
        ti_id: i64,
        try_number: u32,
        worker_id: &str,
        outcome: &TryOutcome,
    ) -> Result<Option<TaskState>> {
        // One statement: atomic without a transaction (a round trip less).
        let mut conn = self.writes().await?;
        finish_one(&mut conn, ti_id, try_number, worker_id, outcome).await
    }

    /// Records how many tries ended, in one transaction (a busy worker's
    /// reports, batched). One result per try, in order.
    pub async fn finish_tries(
        &self,
        worker_id: &str,
        tries: &[(i64, u32, &TryOutcome)],
    ) -> Result<Vec<Option<TaskState>>> {
        if let [(ti_id, try_number, outcome)] = tries {
            // One statement is atomic on its own: no transaction round trips.
            return Ok(vec![self.finish_try(*ti_id, *try_number, worker_id, outcome).await?]);
        }
        let mut conn = self.writes().await?;
        let mut tx = conn.begin().await?;
        // Successes, the bulk of a busy worker's reports, in one statement
        // per chunk; failures (rarer, with retry logic) one by one.
        let mut states = vec![None; tries.len()];
        let successes: Vec<(usize, i64, u32, &serde_json::Value)> = tries
            .iter()
            .enumerate()
            .filter_map(|(k, (id, n, o))| match o {
                TryOutcome::Success { output } => Some((k, *id, *n, output)),
                TryOutcome::Failed { .. } | TryOutcome::Skipped { .. } => None,
            })
            .collect();
        for chunk in successes.chunks(300) {
            let mut values = String::new();
            for i in 0..chunk.len() {
                if i > 0 {
                    values.push_str(", ");
                }
                let b = 3 + i * 3;
                values.push_str(&format!(
                    "(CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS TEXT))",
                    b,
                    b + 1,
                    b + 2
                ));
            }
            // VALUES columns are column1.. on both backends.
            let sql = format!(
                "UPDATE task_instances SET state = 'success', end_date = $1, output = v.column3, error = NULL \
                 FROM (VALUES {values}) AS v \
                 WHERE task_instances.id = v.column1 AND task_instances.state = 'running' \
                 AND task_instances.try_number = v.column2 AND task_instances.worker_id = $2 \
                 RETURNING task_instances.id"
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now_us()).bind(worker_id);
            for (_, id, n, output) in chunk {
                q = q.bind(*id).bind(i64::from(*n)).bind(output.to_string());
            }
            let done: std::collections::HashSet<i64> = q
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get::<i64, _>(0))
                .collect::<std::result::Result<_, _>>()?;
            for (k, id, _, _) in chunk {
                if done.contains(id) {
                    states[*k] = Some(TaskState::Success);
                }
            }
        }
        for (k, (ti_id, try_number, outcome)) in tries.iter().enumerate() {
            if !matches!(outcome, TryOutcome::Success { .. }) {
                states[k] = finish_one(&mut tx, *ti_id, *try_number, worker_id, outcome).await?;
            }
        }
        tx.commit().await?;
        Ok(states)
    }

    /// A worker's queued log lines, then one try's report and, if it
    /// succeeded, the claim of the first downstream task of `claims` that
    /// can be claimed (see [`Store::claim_downstream`]). On SQLite the
    /// lines, the report and the first claim go in one round trip, each
    /// statement committed on its own as if sent one by one. Returns the
    /// try's new state (`None`: the try is no longer this worker's) and the
    /// task claimed, if any.
    pub async fn finish_and_claim(
        &self,
        worker_id: &str,
        (lines, rendered): (&[LogRow<'_>], &[RenderedRow<'_>]),
        (ti_id, try_number, outcome): (i64, u32, &TryOutcome),
        run_pk: i64,
        claims: &[DownstreamClaim],
    ) -> Result<(Option<TaskState>, Option<TaskInstance>)> {
        let succeeded = matches!(outcome, TryOutcome::Success { .. });
        let mut conn = self.writes().await?;
        let mut tried = 0;
        let (state, next) = if self.dialect == Dialect::Sqlite && lines.len() <= LOG_ROWS_PER_INSERT {
            let mut stmts = Statements::new();
            if !rendered.is_empty() {
                push_rendered_insert(&mut stmts, rendered);
            }
            if !lines.is_empty() {
                push_log_insert(&mut stmts, lines);
            }
            push_finish(&mut stmts, ti_id, try_number, worker_id, outcome);
            if let (true, Some(first)) = (succeeded, claims.first()) {
                push_claim_downstream(&mut stmts, worker_id, run_pk, first);
                tried = 1;
            }
            let rows = conn.fetch_all_atomic(&stmts).await?;
            // The report's row has one column (the state), the claim's all
            // of a task instance's; the INSERT returns none.
            let mut state = None;
            let mut next = None;
            for row in &rows {
                if row.columns().len() == 1 {
                    state = Some(finish_state(row)?);
                } else {
                    next = Some(ti_from_row(row)?);
                }
            }
            (state, next)
        } else {
            // Postgres (one statement per query), or too many lines for one
            // INSERT: one statement after another on one connection.
            let mut stmts = Statements::new();
            for chunk in rendered.chunks(100) {
                push_rendered_insert(&mut stmts, chunk);
            }
            for chunk in lines.chunks(LOG_ROWS_PER_INSERT) {
                push_log_insert(&mut stmts, chunk);
            }
            push_finish(&mut stmts, ti_id, try_number, worker_id, outcome);
            let rows = stmts.fetch_each(&mut conn).await?;
            (rows.first().map(finish_state).transpose()?, None)
        };
        if state != Some(TaskState::Success) || next.is_some() {
            return Ok((state, next));
        }
        let rest = &claims[tried..];
        Ok((state, self.claim_first_on(&mut conn, worker_id, run_pk, rest).await))
    }

    /// After a report is recorded: claims the first of `claims` that can be
    /// claimed (see [`Store::claim_downstream`]). A claim that fails (a
    /// deadlock on the run's row, say) is logged and left to the scheduler:
    /// the report it follows stands.
    pub async fn claim_first_downstream(
        &self,
        worker_id: &str,
        run_pk: i64,
        claims: &[DownstreamClaim],
    ) -> Result<Option<TaskInstance>> {
        if claims.is_empty() {
            return Ok(None);
        }
        let mut conn = self.writes().await?;
        Ok(self.claim_first_on(&mut conn, worker_id, run_pk, claims).await)
    }

    async fn claim_first_on(
        &self,
        conn: &mut WriteConn,
        worker_id: &str,
        run_pk: i64,
        claims: &[DownstreamClaim],
    ) -> Option<TaskInstance> {
        for claim in claims {
            match self.claim_downstream_on(conn, worker_id, run_pk, claim).await {
                Ok(Some(ti)) => return Some(ti),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, task = %claim.task_id, "claiming a downstream task failed; the scheduler will queue it");
                    return None;
                }
            }
        }
        None
    }

    /// Gives up on running tries whose heartbeat is older than `cutoff`, or
    /// whose worker is not in `live_workers`: retried at once while tries
    /// are left, else failed. Each write is fenced by the try it judged
    /// (worker, try number and the heartbeat read): if that try ended and
    /// the task's next try started meanwhile, or its worker heartbeated
    /// again, nothing is given up.
    pub async fn reap_lost_tasks(&self, cutoff: Timestamp, live_workers: &[String]) -> Result<Vec<Reaped>> {
        let rows = sqlx::query(
            "SELECT id, run_pk, task_id, worker_id, heartbeat, try_number FROM task_instances WHERE state = 'running'",
        )
        .fetch_all(self.pool())
        .await?;
        let cutoff = us(cutoff);
        let mut lost = Vec::new();
        for r in &rows {
            let worker: Option<String> = r.try_get(3)?;
            let beat: Option<i64> = r.try_get(4)?;
            let silent = beat.is_none_or(|b| b < cutoff);
            let orphan = worker.as_ref().is_none_or(|w| !live_workers.contains(w));
            if silent || orphan {
                lost.push((
                    r.try_get::<i64, _>(0)?,
                    r.try_get::<i64, _>(1)?,
                    r.try_get::<String, _>(2)?,
                    worker,
                    beat,
                    r.try_get::<i64, _>(5)?,
                ));
            }
        }
        let mut reaped = Vec::new();
        let now = now_us();
        for (id, run_pk, task_id, worker, beat, try_number) in lost {
            let row = sqlx::query(
                "UPDATE task_instances SET state = CASE WHEN try_number < max_tries THEN 'up_for_retry' ELSE 'failed' END, \
                 next_retry_at = CASE WHEN try_number < max_tries THEN $1 ELSE NULL END, end_date = $1, \
                 error = 'the worker running this try stopped (no heartbeat); ' || COALESCE(worker_id, '?') \
                 WHERE id = $2 AND state = 'running' AND COALESCE(worker_id, '') = $3 AND try_number = $4 \
                 AND COALESCE(heartbeat, -1) = $5 RETURNING state",
            )
            .bind(now)
            .bind(id)
            .bind(worker.unwrap_or_default())
            .bind(try_number)
            .bind(beat.unwrap_or(-1))
            .fetch_optional(&mut *self.writes().await?)
            .await?;
            if let Some(row) = row {
                let state: String = row.try_get(0)?;
                reaped.push(Reaped {
                    ti_id: id,
                    run_pk,
                    task_id,
                    retried: state == "up_for_retry",
                });
            }
        }
        Ok(reaped)
    }

    /// Hands running tries of `worker_id` back to the queue without counting
    /// them as tries (a worker draining on shutdown).
    pub async fn release_tasks(&self, worker_id: &str, ti_ids: &[i64]) -> Result<u64> {
        if ti_ids.is_empty() {
            return Ok(0);
        }
        let sql = format!(
            "UPDATE task_instances SET state = 'queued', try_number = try_number - 1, worker_id = NULL, queued_at = $1 WHERE worker_id = $2 AND state = 'running' AND id IN ({})",
            id_list(ti_ids)
        );
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now_us())
            .bind(worker_id)
            .execute(&mut *self.writes().await?)
            .await?
            .rows_affected())
    }

    /// Outputs of the given (upstream) tasks of a run, for templates (`outputs.X`).
    pub async fn task_outputs(&self, run_pk: i64, task_ids: &[&str]) -> Result<Vec<(String, serde_json::Value)>> {
        if task_ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (0..task_ids.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT task_id, output FROM task_instances WHERE run_pk = $1 AND state = 'success' AND output IS NOT NULL AND task_id IN ({})",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(run_pk);
        for id in task_ids {
            q = q.bind(*id);
        }
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                let text: String = r.try_get(1)?;
                let v = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("task output: {e}")))?;
                Ok((r.try_get(0)?, v))
            })
            .collect()
    }
}

/// One try's report, fenced by worker and try number: `None` when the try
/// is no longer this worker's.
async fn finish_one(
    conn: &mut sqlx::AnyConnection,
    ti_id: i64,
    try_number: u32,
    worker_id: &str,
    outcome: &TryOutcome,
) -> Result<Option<TaskState>> {
    let mut stmts = Statements::new();
    push_finish(&mut stmts, ti_id, try_number, worker_id, outcome);
    let rows = stmts.fetch_all(conn).await?;
    // No row: the try is no longer this worker's.
    rows.first().map(finish_state).transpose()
}

fn finish_state(row: &AnyRow) -> Result<TaskState> {
    let state: String = row.try_get(0)?;
    state.parse().map_err(StoreError::Corrupt)
}

/// The report of one try; returns its new state (one column), or no row
/// when the try is no longer this worker's.
fn push_finish(stmts: &mut Statements, ti_id: i64, try_number: u32, worker_id: &str, outcome: &TryOutcome) {
    let fence = "WHERE id = $1 AND state = 'running' AND try_number = $2 AND worker_id = $3 RETURNING state";
    let mut args = vec![
        Arg::Int(ti_id),
        Arg::Int(i64::from(try_number)),
        Arg::from(worker_id),
        Arg::Int(now_us()),
    ];
    let sql = match outcome {
        TryOutcome::Success { output } => {
            args.push(Arg::Text(output.to_string()));
            format!("UPDATE task_instances SET state = 'success', end_date = $4, output = $5, error = NULL {fence}")
        }
        TryOutcome::Failed { error, retry_at } => {
            args.extend([Arg::Int(retry_at.map_or(-1, us)), Arg::from(error.as_str())]);
            // Retry only while tries are left and a retry time is given.
            format!(
                "UPDATE task_instances SET state = CASE WHEN try_number < max_tries AND $5 >= 0 THEN 'up_for_retry' ELSE 'failed' END, \
                     next_retry_at = CASE WHEN try_number < max_tries AND $5 >= 0 THEN $5 ELSE NULL END, end_date = $4, error = $6 {fence}"
            )
        }
        TryOutcome::Skipped { reason } => {
            args.push(Arg::from(reason.as_str()));
            format!("UPDATE task_instances SET state = 'skipped', end_date = $4, output = NULL, error = $5 {fence}")
        }
    };
    stmts.push(&sql, args);
}

/// Claims `claim.task_id` for `worker_id` in one guarded statement (see
/// [`Store::claim_downstream`]); returns its row (all [`TI_COLUMNS`]) if
/// it was claimed.
fn push_claim_downstream(stmts: &mut Statements, worker_id: &str, run_pk: i64, claim: &DownstreamClaim) {
    // Every upstream task must be there and have succeeded: counted, so a
    // name missing from the run cannot pass for a success.
    let mut upstream: Vec<&str> = claim.upstream.iter().map(String::as_str).collect();
    upstream.sort_unstable();
    upstream.dedup();
    let ups: Vec<String> = (0..upstream.len()).map(|i| format!("${}", i + 5)).collect();
    let ups = if ups.is_empty() {
        "NULL".to_string()
    } else {
        ups.join(", ")
    };
    let sql = format!(
        "UPDATE task_instances SET state = 'running', try_number = try_number + 1, worker_id = $1, heartbeat = $2, \
         queued_at = $2, start_date = $2, end_date = NULL, error = NULL \
         WHERE run_pk = $3 AND task_id = $4 AND state = 'none' \
         AND EXISTS (SELECT 1 FROM dag_runs r WHERE r.id = $3 AND r.state = 'running') \
         AND (SELECT COUNT(*) FROM task_instances u WHERE u.run_pk = $3 AND u.task_id IN ({ups}) AND u.state = 'success') = {n} \
         AND (SELECT COUNT(*) FROM (SELECT 1 FROM task_instances a WHERE a.run_pk = $3 AND a.state IN ('queued', 'running') LIMIT {max}) AS busy) < {max} \
         RETURNING {TI_COLUMNS}",
        n = upstream.len(),
        // A literal, not a parameter: SQLite re-prepares a statement on
        // every execution when its LIMIT is a bound parameter (a fifth of
        // a chain link's time here).
        max = claim.max_active
    );
    let mut args = vec![
        Arg::from(worker_id),
        Arg::Int(now_us()),
        Arg::Int(run_pk),
        Arg::from(claim.task_id.as_str()),
    ];
    args.extend(upstream.into_iter().map(Arg::from));
    stmts.push(&sql, args);
}
