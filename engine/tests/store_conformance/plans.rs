//! The hot reads use an index, on a history long enough for the planner's
//! choice to be honest (Postgres is analyzed, as autovacuum would; SQLite
//! is left as the store leaves it, without statistics): no full scan of
//! `dag_runs` or `task_instances`, no sort of a DAG's whole history, and
//! every equality the query filters on is answered by the index. Then,
//! with the indexes the plans rely on dropped, the same checks must fail:
//! they can.

use updraft_engine::store::{Dialect, HotQuery, PlanSample};

use super::*;

/// 5,000 hourly runs of a 20-task DAG (100,000 task instances) from 1970
/// on, the newest 999 of them manual, and a second DAG beside it; the
/// tasks of the first 500 runs are queued (a backlog of 10,000).
async fn long_history(store: &Store) -> PlanSample {
    let v = dag(store, "hist").await;
    dag(store, "other").await;
    let numbers = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 4999)";
    store
        .exec_admin(&format!(
            "{numbers} INSERT INTO dag_runs (dag_id, run_id, logical_date, data_interval_start, data_interval_end, \
             run_type, state, conf, version_id, created_at) \
             SELECT d.dag_id, 'r' || n.i, n.i * 3600000000, n.i * 3600000000, (n.i + 1) * 3600000000, \
             CASE WHEN n.i > 4000 THEN 'manual' ELSE 'scheduled' END, 'success', '{{}}', {v}, 0 \
             FROM n, (SELECT 'hist' AS dag_id UNION ALL SELECT 'other') d"
        ))
        .await
        .unwrap();
    store
        .exec_admin(
            "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < 19) \
             INSERT INTO task_instances (run_pk, dag_id, task_id, state, try_number, max_tries, queued_at) \
             SELECT r.id, r.dag_id, 't' || k.i, CASE WHEN r.logical_date < 1800000000000 THEN 'queued' ELSE 'success' END, 1, 1, r.id \
             FROM dag_runs r, k WHERE r.dag_id = 'hist' ORDER BY r.id, k.i",
        )
        .await
        .unwrap();
    if store.dialect() == Dialect::Postgres {
        store.exec_admin("ANALYZE").await.unwrap();
    }
    let page = store.runs_page("hist", Default::default(), 25).await.unwrap();
    assert_eq!(page.runs.len(), 25);
    assert!(page.older && !page.newer);
    PlanSample {
        dag_id: "hist".into(),
        run_pks: page.runs.iter().map(|r| r.id).collect(),
        // Half way back: the pages before and after it are long.
        logical_date: t("1970-04-15T04:00:00Z"),
    }
}

/// What a plan must show: the index constraint (SQLite's `SEARCH ...
/// (col=? AND ...)`, Postgres's `Index Cond`), and whether a sort is
/// allowed (only of a run's 20 task instances).
fn expectations(q: HotQuery, dialect: Dialect) -> (&'static [&'static str], bool) {
    use HotQuery::*;
    match (dialect, q) {
        (Dialect::Sqlite, DagSummary) => (&["dag_runs USING INDEX", "(dag_id=?)"], false),
        (Dialect::Sqlite, LastScheduled) => (&["dag_runs_scheduled (dag_id=?)", "r USING INTEGER PRIMARY KEY"], false),
        (Dialect::Sqlite, RunsNewest) => (&["(dag_id=?)"], false),
        (Dialect::Sqlite, RunsBefore) => (&["(dag_id=? AND logical_date<?)"], false),
        (Dialect::Sqlite, RunsAfter) => (&["(dag_id=? AND logical_date>?)"], false),
        (Dialect::Sqlite, HasNewer) => (&["(dag_id=? AND logical_date>?)"], false),
        (Dialect::Sqlite, GridCells) => (&["task_instances USING", "(run_pk=?"], false),
        (Dialect::Sqlite, RunTasks) => (&["task_instances USING", "(run_pk=?"], true),
        (Dialect::Sqlite, QueueClaim) => (&["task_instances USING INDEX task_instances_queue (state=?)"], false),
        (Dialect::Postgres, DagSummary) => (&["Index Scan Backward using", "Index Cond: (dag_id = d.dag_id)"], false),
        (Dialect::Postgres, LastScheduled) => (
            &[
                "Index Scan Backward using dag_runs_scheduled on dag_runs s",
                "Index Cond: (id = ",
            ],
            false,
        ),
        (Dialect::Postgres, RunsNewest) => (&["Index Cond: (dag_id = "], false),
        (Dialect::Postgres, RunsBefore) => (&["Index Cond: ((dag_id = ", "(logical_date < "], false),
        (Dialect::Postgres, RunsAfter) => (&["Index Cond: ((dag_id = ", "(logical_date > "], false),
        (Dialect::Postgres, HasNewer) => (&["Index Cond: ((dag_id = ", "(logical_date >= "], false),
        (Dialect::Postgres, GridCells) => (&["Index Cond: (run_pk = ANY "], false),
        (Dialect::Postgres, RunTasks) => (&["Index Cond: (run_pk = "], true),
        (Dialect::Postgres, QueueClaim) => (&["task_instances_queue", "Index Cond: (state = 'queued'::text)"], false),
    }
}

/// What is wrong with a plan, if anything.
fn judge(q: HotQuery, dialect: Dialect, plan: &[String]) -> Option<String> {
    let big = ["dag_runs", "task_instances"];
    for line in plan {
        let l = line.trim_start();
        let full_scan = match dialect {
            // `SCAN t` reads every row (`SCAN t USING INDEX` too, in index
            // order); `SEARCH t USING ...` seeks.
            Dialect::Sqlite => l
                .strip_prefix("SCAN ")
                .is_some_and(|rest| big.iter().any(|t| rest.starts_with(t))),
            Dialect::Postgres => big.iter().any(|t| l.contains(&format!("Seq Scan on {t}"))),
        };
        if full_scan {
            return Some(format!("full scan: `{l}`"));
        }
    }
    let (needs, sort_ok) = expectations(q, dialect);
    let text = plan.join("\n");
    let sorts = match dialect {
        // A sort for `group_concat(... ORDER BY)` of the few rows already
        // read is fine; one for the query's ORDER BY is not.
        Dialect::Sqlite => text.contains("TEMP B-TREE FOR ORDER BY"),
        Dialect::Postgres => plan
            .iter()
            .any(|l| l.trim_start().trim_start_matches("->  ").starts_with("Sort")),
    };
    if sorts && !sort_ok {
        return Some("sorts what it read instead of reading in index order".into());
    }
    needs
        .iter()
        .find(|n| !text.contains(*n))
        .map(|n| format!("no `{n}` in the plan"))
}

async fn plans(store: &Store, sample: &PlanSample) -> Vec<(HotQuery, Vec<String>)> {
    let mut out = Vec::new();
    for q in HotQuery::ALL {
        out.push((q, store.query_plan(q, sample).await.unwrap()));
    }
    out
}

pub async fn hot_reads_use_indexes(store: &Store) {
    let sample = long_history(store).await;
    let dialect = store.dialect();
    let problems: Vec<String> = plans(store, &sample)
        .await
        .into_iter()
        .filter_map(|(q, plan)| {
            judge(q, dialect, &plan).map(|p| format!("{q:?} on {dialect:?}: {p}\n{}", plan.join("\n")))
        })
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    // Without the indexes they rely on, the same checks reject the plans.
    store.exec_admin("DROP INDEX dag_runs_scheduled").await.unwrap();
    store.exec_admin("DROP INDEX task_instances_queue").await.unwrap();
    store.exec_admin("DROP INDEX task_instances_run_state").await.unwrap();
    if dialect == Dialect::Postgres {
        store
            .exec_admin("ALTER TABLE task_instances DROP CONSTRAINT task_instances_run_pk_task_id_key")
            .await
            .unwrap();
        store.exec_admin("ANALYZE").await.unwrap();
    }
    let mut expected = vec![HotQuery::LastScheduled, HotQuery::QueueClaim];
    if dialect == Dialect::Postgres {
        expected.extend([HotQuery::GridCells, HotQuery::RunTasks]);
    }
    expected.sort_by_key(|q| HotQuery::ALL.iter().position(|x| x == q));
    // The drops were made on one pooled connection; on SQLite another may
    // plan on the schema it read before for a moment: poll, with a deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let rejected = loop {
        let rejected: Vec<HotQuery> = plans(store, &sample)
            .await
            .into_iter()
            .filter(|(q, plan)| judge(*q, dialect, plan).is_some())
            .map(|(q, _)| q)
            .collect();
        if rejected == expected || std::time::Instant::now() > deadline {
            break rejected;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(rejected, expected, "the checks catch the missing indexes");
}

pub async fn runs_are_read_a_page_at_a_time(store: &Store) {
    use updraft_engine::store::RunWindow;
    long_history(store).await;
    let hour = |h: i64| Timestamp::UNIX_EPOCH + SignedDuration::from_hours(h);
    let hours = |p: &updraft_engine::store::RunsPage| -> Vec<i64> {
        p.runs.iter().map(|r| r.logical_date.as_second() / 3600).collect()
    };
    let newest = store.runs_page("hist", RunWindow::Newest, 25).await.unwrap();
    assert_eq!(hours(&newest), (4975..5000).rev().collect::<Vec<_>>());
    assert!(newest.older && !newest.newer);
    let older = store
        .runs_page("hist", RunWindow::Before(newest.older_cursor().unwrap()), 25)
        .await
        .unwrap();
    assert_eq!(hours(&older), (4950..4975).rev().collect::<Vec<_>>());
    assert!(older.older && older.newer);
    assert_eq!(older.newer_cursor(), Some(hour(4974)));
    // Newer than run 10: runs 11 to 35, newest first.
    let after = store.runs_page("hist", RunWindow::After(hour(10)), 25).await.unwrap();
    assert_eq!(hours(&after), (11..36).rev().collect::<Vec<_>>());
    assert!(after.older && after.newer);
    // Fewer than a page newer: the newest page, full.
    let top = store.runs_page("hist", RunWindow::After(hour(4990)), 25).await.unwrap();
    assert_eq!(top, newest);
    let first = store.runs_page("hist", RunWindow::Before(hour(3)), 25).await.unwrap();
    assert_eq!(hours(&first), [2, 1, 0]);
    assert!(!first.older && first.newer);
    // The grid of a page, for some tasks only.
    let (page, cells) = store
        .grid_page("hist", RunWindow::Before(hour(100)), 10, Some(&["t0", "t7"]))
        .await
        .unwrap();
    assert_eq!(hours(&page), (90..100).rev().collect::<Vec<_>>());
    assert_eq!(cells.len(), 20);
    assert!(cells.iter().all(|c| ["t0", "t7"].contains(&c.task_id.as_str())));
    let states = store.graph_states(page.runs[0].id).await.unwrap();
    assert_eq!(states.len(), 20);
    // Run 99 is one of the first 500, whose tasks are queued.
    assert!(states.iter().all(|(_, s)| *s == TaskState::Queued));
}
