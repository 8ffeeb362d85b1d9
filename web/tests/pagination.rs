//! Long histories are shown a page at a time: the run list and the grid
//! (API `next`/`newer` links, the DAG page's older/newer links) walk every
//! run once, and a wide DAG's grid shows its tasks a page at a time.

mod common;

use common::*;
use jiff::{SignedDuration, Timestamp};
use updraft_engine::store::{NewRun, RunType, Store, run_id_for};

/// `n` daily runs of `dag_id` from 2024-01-01, oldest first.
async fn runs(store: &Store, dag_id: &str, version_id: i64, n: i64, tasks: &[String]) {
    let first: Timestamp = "2024-01-01T02:00:00Z".parse().unwrap();
    for i in 0..n {
        let logical = first + SignedDuration::from_hours(24 * i);
        let run = NewRun {
            dag_id: dag_id.into(),
            run_id: run_id_for(RunType::Scheduled, logical),
            logical_date: logical,
            data_interval_start: logical,
            data_interval_end: logical + SignedDuration::from_hours(24),
            run_type: RunType::Scheduled,
            conf: Default::default(),
            version_id,
            tasks: tasks.iter().map(|t| (t.clone(), 1)).collect(),
        };
        store.create_run(&run).await.unwrap().unwrap();
    }
}

/// Follows `key` links from `start` to the end: each page's run ids.
async fn walk(app: &axum::Router, start: &str, key: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut url = Some(start.to_string());
    while let Some(u) = url {
        let r = get(app, &u).await;
        assert_eq!(r.status, 200, "{u}: {}", r.body);
        let body = r.json();
        pages.push(
            body["runs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["run_id"].as_str().unwrap().to_string())
                .collect(),
        );
        url = body[key].as_str().map(str::to_string);
        assert!(pages.len() <= 10, "the links go round: {pages:?}");
    }
    pages
}

#[tokio::test]
async fn run_lists_and_the_grid_page_through_the_whole_history() {
    let f = fixture().await;
    let v = f.store.get_dag("etl").await.unwrap().unwrap().version_id.unwrap();
    let tasks: Vec<String> = ["extract", "transform", "load"].map(String::from).into();
    runs(&f.store, "etl", v, 60, &tasks).await;
    let app = f.app(true);

    // Newest first, 25 at a time, each run once.
    let pages = walk(&app, "/api/v1/dags/etl/runs?limit=25", "next").await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [25, 25, 10]);
    let all: Vec<String> = pages.concat();
    let mut sorted = all.clone();
    sorted.sort();
    sorted.reverse();
    sorted.dedup();
    assert_eq!(all, sorted, "newest first, no run twice");
    assert_eq!(all.len(), 60);
    assert_eq!(all[59], "scheduled__2024-01-01T02:00:00+00:00");

    // From the oldest page back up with `newer`: the newest page comes
    // back full.
    let oldest = get(&app, "/api/v1/dags/etl/runs?limit=25").await.json()["next"]
        .as_str()
        .unwrap()
        .to_string();
    let oldest = get(&app, &oldest).await.json()["next"].as_str().unwrap().to_string();
    let up = walk(&app, &oldest, "newer").await;
    assert_eq!(up.iter().map(Vec::len).collect::<Vec<_>>(), [10, 25, 25]);
    assert_eq!(up[2], pages[0]);

    // The grid's API pages the same way.
    let grid = get(&app, "/api/v1/dags/etl/grid").await.json();
    assert_eq!(grid["runs"].as_array().unwrap().len(), 25);
    assert!(grid["newer"].is_null());
    let older = get(&app, grid["next"].as_str().unwrap()).await.json();
    assert_eq!(older["runs"].as_array().unwrap().len(), 25);
    let last_of_first = grid["runs"][0]["run_id"].as_str().unwrap();
    let first_of_older = older["runs"][24]["run_id"].as_str().unwrap();
    assert!(
        first_of_older < last_of_first,
        "{first_of_older} is older than {last_of_first}"
    );
    assert!(older["newer"].is_string());

    // The DAG page links to the older runs, and that page back.
    let page = get(&app, "/dags/etl").await;
    assert_eq!(page.status, 200);
    let href = link(&page.body, "older").expect("an older link");
    assert!(!page.body.contains("newer &rarr;"), "the newest page has no newer link");
    let older_page = get(&app, &href).await;
    assert_eq!(older_page.status, 200, "{href}");
    // Runs 11 to 35 (of 60) in the run list: the older page, not the
    // newest (the graph still shows the newest run).
    assert!(older_page.body.contains(">scheduled__2024-01-11T02:00:00"));
    assert!(!older_page.body.contains(">scheduled__2024-02-29T02:00:00"));
    assert!(link(&older_page.body, "newer").is_some());
    // The live fragment it polls keeps the same page.
    assert!(older_page.body.contains("/dags/etl/live?before="));

    // A malformed cursor is the client's error.
    assert_eq!(get(&app, "/api/v1/dags/etl/runs?before=yesterday").await.status, 400);
    assert_eq!(get(&app, "/dags/etl?after=soon").await.status, 400);
}

#[tokio::test]
async fn a_wide_dag_shows_its_grid_a_hundred_tasks_at_a_time() {
    let f = fixture().await;
    let tasks: Vec<String> = (0..150).map(|i| format!("t{i}")).collect();
    let mut source = String::from("schedule: '@daily'\nstart_date: 2024-01-01\ntasks:\n");
    for t in &tasks {
        source.push_str(&format!("  {t}: {{operator: shell, command: 'true'}}\n"));
    }
    let v = add_dag(&f.store, &f.cache, "wide", &source).await;
    runs(&f.store, "wide", v, 3, &tasks).await;
    let app = f.app(true);

    let grid = get(&app, "/api/v1/dags/wide/grid").await.json();
    assert_eq!(grid["task_count"], 150);
    let rows = grid["rows"].as_array().unwrap();
    assert_eq!((rows.len(), rows[0]["task_id"].as_str()), (100, Some("t0")));
    assert_eq!(rows[0]["cells"].as_array().unwrap().len(), 3);
    let rest = get(&app, grid["more_tasks"].as_str().unwrap()).await.json();
    let rows = rest["rows"].as_array().unwrap();
    assert_eq!((rows.len(), rows[0]["task_id"].as_str()), (50, Some("t100")));
    assert!(
        rows.iter()
            .all(|r| r["cells"][2]["state"] == "none" && !r["cells"][2]["href"].as_str().unwrap().is_empty())
    );
    assert!(rest["more_tasks"].is_null());

    let page = get(&app, "/dags/wide").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("tasks 1-100 of 150"));
    let next = link(&page.body, "next tasks").expect("a next tasks link");
    let page = get(&app, &next).await;
    assert!(page.body.contains("tasks 101-150 of 150"), "{next}");
    assert!(page.body.contains("<th>t149</th>") && !page.body.contains("<th>t99</th>"));
}

/// The href of the first link whose text holds `text`.
fn link(html: &str, text: &str) -> Option<String> {
    html.split("<a href=\"").skip(1).find_map(|rest| {
        let (href, after) = rest.split_once('"')?;
        let label = after.split_once('>')?.1;
        label
            .split_once("</a>")
            .is_some_and(|(l, _)| l.contains(text))
            .then(|| href.replace("&amp;", "&").replace("&#38;", "&"))
    })
}
