//! Reads shaped for the web UI: a few queries per page, whatever the number
//! of DAGs, tasks or runs. Lists of runs are read in keyset pages (by
//! logical date, never `OFFSET`), so the thousandth page costs what the
//! first does; [`HotQuery`] names the reads whose plans a test holds to an
//! index.

use std::collections::HashMap;

use sqlx::Row;

use super::runs::{RUN_COLUMNS, run_from_row};
use jiff::Timestamp;

use super::{DagRun, Dialect, Result, RunState, Store, StoreError, TaskState, ts, us};

/// One cell of the grid: a task instance's state in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridCell {
    pub run_pk: i64,
    pub task_id: String,
    pub state: TaskState,
    pub try_number: u32,
}

/// A run's state, for the dots on the DAGs page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDot {
    pub run_id: String,
    pub state: RunState,
}

/// Which of a DAG's runs a page shows, by logical date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunWindow {
    /// The newest.
    #[default]
    Newest,
    /// The newest of those older than this logical date (the "older" link).
    Before(Timestamp),
    /// The oldest of those newer than this logical date (the "newer" link);
    /// the newest page when fewer than a page are left.
    After(Timestamp),
}

/// A page of a DAG's runs, newest first, and whether there is more on
/// either side.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunsPage {
    pub runs: Vec<DagRun>,
    pub older: bool,
    pub newer: bool,
}

impl RunsPage {
    /// The cursor of the page before this one (its oldest run's logical
    /// date), when there is one.
    pub fn older_cursor(&self) -> Option<Timestamp> {
        self.runs.last().filter(|_| self.older).map(|r| r.logical_date)
    }

    /// The cursor of the page after this one (its newest run's logical
    /// date), when there is one.
    pub fn newer_cursor(&self) -> Option<Timestamp> {
        self.runs.first().filter(|_| self.newer).map(|r| r.logical_date)
    }
}

/// The reads every page or claim makes, which must stay indexed however
/// long the history grows: [`Store::query_plan`] explains each with the
/// SQL the store runs for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HotQuery {
    /// The DAGs page: each DAG's newest runs.
    DagSummary,
    /// The DAGs page: each DAG's latest scheduled interval (its next run).
    LastScheduled,
    /// The newest page of a DAG's runs (DAG page, grid, run list).
    RunsNewest,
    /// An older page of a DAG's runs.
    RunsBefore,
    /// A newer page of a DAG's runs.
    RunsAfter,
    /// Whether an older page has newer runs (its "newer" link).
    HasNewer,
    /// The grid's cells: the task instances of a page of runs.
    GridCells,
    /// A run's task instances (run page, graph).
    RunTasks,
    /// A worker's claim: the oldest queued task instances.
    QueueClaim,
}

impl HotQuery {
    pub const ALL: [HotQuery; 9] = [
        HotQuery::DagSummary,
        HotQuery::LastScheduled,
        HotQuery::RunsNewest,
        HotQuery::RunsBefore,
        HotQuery::RunsAfter,
        HotQuery::HasNewer,
        HotQuery::GridCells,
        HotQuery::RunTasks,
        HotQuery::QueueClaim,
    ];
}

/// What a [`Store::query_plan`] binds: a DAG, runs of it and a logical
/// date to page from.
#[derive(Debug, Clone)]
pub struct PlanSample {
    pub dag_id: String,
    pub run_pks: Vec<i64>,
    pub logical_date: Timestamp,
}

fn recent_runs_sql(dialect: Dialect) -> String {
    let agg = match dialect {
        Dialect::Sqlite => {
            "group_concat(newest.run_id || char(31) || newest.state, char(30) ORDER BY newest.logical_date DESC)"
        }
        Dialect::Postgres => {
            "string_agg(newest.run_id || chr(31) || newest.state, chr(30) ORDER BY newest.logical_date DESC)"
        }
    };
    format!(
        "SELECT d.dag_id, (SELECT {agg} FROM (SELECT run_id, state, logical_date FROM dag_runs \
         WHERE dag_id = d.dag_id ORDER BY logical_date DESC LIMIT $1) newest) FROM dags d"
    )
}

/// Each DAG's newest scheduled run, then that run by its key: one seek
/// each in the index of scheduled runs (migration 0008), however many
/// manual runs came after it.
const LAST_SCHEDULED_SQL: &str = "SELECT l.dag_id, r.data_interval_start, r.data_interval_end FROM \
     (SELECT d.dag_id, (SELECT s.id FROM dag_runs s WHERE s.dag_id = d.dag_id AND s.run_type = 'scheduled' \
     ORDER BY s.logical_date DESC LIMIT 1) AS last_id FROM dags d) l JOIN dag_runs r ON r.id = l.last_id";

/// A page of runs: `$1` the DAG, `$2` the cursor (unless newest), then the
/// limit.
fn runs_sql(window: RunWindow) -> String {
    let (cond, order, limit) = match window {
        RunWindow::Newest => ("", "DESC", "$2"),
        RunWindow::Before(_) => (" AND logical_date < $2", "DESC", "$3"),
        RunWindow::After(_) => (" AND logical_date > $2", "ASC", "$3"),
    };
    format!("SELECT {RUN_COLUMNS} FROM dag_runs WHERE dag_id = $1{cond} ORDER BY logical_date {order} LIMIT {limit}")
}

/// The grid's cells of these runs; of the first `tasks` bound task ids
/// only, when given (a wide DAG's grid shows its tasks a page at a time).
fn grid_cells_sql(run_pks: &[i64], tasks: usize) -> String {
    let ids: Vec<String> = run_pks.iter().map(i64::to_string).collect();
    let mut sql = format!(
        "SELECT run_pk, task_id, state, try_number FROM task_instances WHERE run_pk IN ({})",
        ids.join(", ")
    );
    if tasks > 0 {
        let params: Vec<String> = (1..=tasks).map(|i| format!("${i}")).collect();
        sql.push_str(&format!(" AND task_id IN ({})", params.join(", ")));
    }
    sql
}

/// Whether a DAG has a run at or after a date. The ORDER BY is what makes
/// Postgres seek in the (dag_id, logical_date) index: without it, counting
/// on the many matching rows, it chose a sequential scan that stops at the
/// first match, and read the 60,000 rows before it (6-11 ms).
const HAS_RUN_SINCE_SQL: &str =
    "SELECT logical_date FROM dag_runs WHERE dag_id = $1 AND logical_date >= $2 ORDER BY logical_date LIMIT 1";

impl Store {
    /// Every DAG's `per_dag` newest runs (by logical date), newest first.
    /// One row per DAG, the runs joined in the database: per-row decoding
    /// is what costs at 1,000 DAGs.
    pub async fn recent_runs_by_dag(&self, per_dag: i64) -> Result<HashMap<String, Vec<RunDot>>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(recent_runs_sql(self.dialect())))
            .bind(per_dag)
            .fetch_all(self.pool())
            .await?;
        let mut out: HashMap<String, Vec<RunDot>> = HashMap::with_capacity(rows.len());
        for r in &rows {
            let Some(joined) = r.try_get::<Option<String>, _>(1)? else {
                continue;
            };
            let dots = joined
                .split('\u{1e}')
                .map(|rec| {
                    let (run_id, state) = rec
                        .split_once('\u{1f}')
                        .ok_or_else(|| StoreError::Corrupt(format!("run summary `{rec}`")))?;
                    Ok(RunDot {
                        run_id: run_id.to_string(),
                        state: state.parse().map_err(StoreError::Corrupt)?,
                    })
                })
                .collect::<Result<_>>()?;
            out.insert(r.try_get(0)?, dots);
        }
        Ok(out)
    }

    /// Every DAG's latest scheduled data interval (start, end): where its
    /// next scheduled run follows on.
    pub async fn last_scheduled_intervals(&self) -> Result<HashMap<String, (Timestamp, Timestamp)>> {
        let rows = sqlx::query(LAST_SCHEDULED_SQL).fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, (ts(r.try_get(1)?)?, ts(r.try_get(2)?)?))))
            .collect()
    }

    /// A page of at most `limit` of a DAG's runs, newest first.
    pub async fn runs_page(&self, dag_id: &str, window: RunWindow, limit: i64) -> Result<RunsPage> {
        let limit = limit.max(1);
        // One more than asked says whether the list goes on.
        let fetch = |window: RunWindow| async move {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(runs_sql(window))).bind(dag_id);
            if let RunWindow::Before(t) | RunWindow::After(t) = window {
                q = q.bind(us(t));
            }
            let rows = q.bind(limit + 1).fetch_all(self.pool()).await?;
            rows.iter().map(run_from_row).collect::<Result<Vec<DagRun>>>()
        };
        let mut runs = fetch(window).await?;
        let more = runs.len() as i64 > limit;
        runs.truncate(limit as usize);
        let page = match window {
            RunWindow::Newest => RunsPage {
                runs,
                older: more,
                newer: false,
            },
            RunWindow::Before(t) => RunsPage {
                runs,
                older: more,
                newer: self.has_run_since(dag_id, t).await?,
            },
            RunWindow::After(_) if !more => {
                // Fewer than a page newer: the newest page, full.
                let mut runs = fetch(RunWindow::Newest).await?;
                let older = runs.len() as i64 > limit;
                runs.truncate(limit as usize);
                RunsPage {
                    runs,
                    older,
                    newer: false,
                }
            }
            RunWindow::After(_) => {
                runs.reverse();
                RunsPage {
                    runs,
                    older: true,
                    newer: true,
                }
            }
        };
        Ok(page)
    }

    /// Whether the DAG has a run at or after this logical date.
    async fn has_run_since(&self, dag_id: &str, t: Timestamp) -> Result<bool> {
        let row = sqlx::query(HAS_RUN_SINCE_SQL)
            .bind(dag_id)
            .bind(us(t))
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }

    /// Each task's state in a run (task id, state): what the graph colours,
    /// without decoding whole task instances (2,000 of them for a wide DAG).
    pub async fn graph_states(&self, run_pk: i64) -> Result<Vec<(String, TaskState)>> {
        sqlx::query("SELECT task_id, state FROM task_instances WHERE run_pk = $1")
            .bind(run_pk)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| {
                let state: String = r.try_get(1)?;
                Ok((r.try_get(0)?, state.parse().map_err(StoreError::Corrupt)?))
            })
            .collect()
    }

    /// A DAG's `limit` newest runs (newest first) and the states of their
    /// task instances: the grid.
    pub async fn grid(&self, dag_id: &str, limit: i64) -> Result<(Vec<DagRun>, Vec<GridCell>)> {
        let (page, cells) = self.grid_page(dag_id, RunWindow::Newest, limit, None).await?;
        Ok((page.runs, cells))
    }

    /// A page of the grid: a page of runs (newest first) and the states of
    /// their task instances (of these tasks only, when given).
    pub async fn grid_page(
        &self,
        dag_id: &str,
        window: RunWindow,
        limit: i64,
        tasks: Option<&[&str]>,
    ) -> Result<(RunsPage, Vec<GridCell>)> {
        let page = self.runs_page(dag_id, window, limit).await?;
        if page.runs.is_empty() {
            return Ok((page, Vec::new()));
        }
        let ids: Vec<i64> = page.runs.iter().map(|r| r.id).collect();
        let tasks = tasks.unwrap_or_default();
        let mut q = sqlx::query(sqlx::AssertSqlSafe(grid_cells_sql(&ids, tasks.len())));
        for t in tasks {
            q = q.bind(*t);
        }
        let cells = q
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| {
                let state: String = r.try_get(2)?;
                Ok(GridCell {
                    run_pk: r.try_get(0)?,
                    task_id: r.try_get(1)?,
                    state: state.parse().map_err(StoreError::Corrupt)?,
                    try_number: r.try_get::<i64, _>(3)? as u32,
                })
            })
            .collect::<Result<_>>()?;
        Ok((page, cells))
    }

    /// The plan the database chooses for a hot read, one line per step
    /// (SQLite: `EXPLAIN QUERY PLAN`'s details; Postgres: `EXPLAIN`'s
    /// lines), with `sample`'s values bound as the store binds them.
    pub async fn query_plan(&self, query: HotQuery, sample: &PlanSample) -> Result<Vec<String>> {
        let sql = match query {
            HotQuery::DagSummary => recent_runs_sql(self.dialect()),
            HotQuery::LastScheduled => LAST_SCHEDULED_SQL.to_string(),
            HotQuery::RunsNewest => runs_sql(RunWindow::Newest),
            HotQuery::RunsBefore => runs_sql(RunWindow::Before(sample.logical_date)),
            HotQuery::RunsAfter => runs_sql(RunWindow::After(sample.logical_date)),
            HotQuery::HasNewer => HAS_RUN_SINCE_SQL.to_string(),
            HotQuery::GridCells => grid_cells_sql(&sample.run_pks, 0),
            HotQuery::RunTasks => super::tasks::run_tasks_sql(),
            HotQuery::QueueClaim => super::tasks::queue_pick_sql(1),
        };
        let explain = match self.dialect() {
            Dialect::Sqlite => format!("EXPLAIN QUERY PLAN {sql}"),
            Dialect::Postgres => format!("EXPLAIN {sql}"),
        };
        // Not kept in the statement cache: a plan cached before an index
        // was dropped or made would not be planned again.
        let q = sqlx::query(sqlx::AssertSqlSafe(explain)).persistent(false);
        let q = match query {
            HotQuery::DagSummary => q.bind(10_i64),
            HotQuery::LastScheduled | HotQuery::GridCells => q,
            HotQuery::RunsNewest => q.bind(sample.dag_id.clone()).bind(26_i64),
            HotQuery::HasNewer => q.bind(sample.dag_id.clone()).bind(us(sample.logical_date)),
            HotQuery::RunsBefore | HotQuery::RunsAfter => {
                q.bind(sample.dag_id.clone()).bind(us(sample.logical_date)).bind(26_i64)
            }
            HotQuery::RunTasks => q.bind(sample.run_pks.first().copied().unwrap_or_default()),
            HotQuery::QueueClaim => q.bind(8_i64).bind(String::new()),
        };
        let rows = q.fetch_all(self.pool()).await?;
        let column = match self.dialect() {
            Dialect::Sqlite => 3,
            Dialect::Postgres => 0,
        };
        rows.iter().map(|r| Ok(r.try_get::<String, _>(column)?)).collect()
    }
}
