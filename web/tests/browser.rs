//! The UI in headless Chromium, driven over WebDriver (Debian's `chromium`
//! and `chromium-driver`; `.ci/chromium.sh` installs them). Without them
//! the test says it is skipped, except under CI where it fails.
//!
//! Set UPDRAFT_SCREENSHOT=path to save the DAG page as a PNG (the README's).

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use updraft_engine::runtime::{Local, LocalOptions, Timing};

const DAG: &str = r#"description: the browser test's DAG
schedule: "0 2 * * *"
start_date: 2024-11-01
tags: [demo]
tasks:
  extract:
    operator: shell
    command: |
      echo "extract starts"
      sleep 2
      echo "extract done"
  transform_a:
    operator: shell
    depends_on: extract
    command: echo a
  transform_b:
    operator: shell
    depends_on: extract
    command: echo b
  load:
    operator: shell
    depends_on: [transform_a, transform_b]
    command: echo load
"#;

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn found(bin: &str) -> bool {
    Command::new(bin)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn until<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_watch_the_grid_and_follow_a_log() {
    let (chromium, driver) = ("chromium", "chromedriver");
    if !found(chromium) || !found(driver) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must run the browser tests: install chromium and chromium-driver (.ci/chromium.sh)"
        );
        eprintln!("SKIPPED (browser): chromium or chromedriver not found");
        return;
    }
    // The app: a scheduler and a worker in this process, the UI beside them.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("dags")).unwrap();
    std::fs::write(dir.path().join("dags/etl.yaml"), DAG).unwrap();
    let store = updraft_engine::store::Store::connect(&format!("sqlite://{}/state.db", dir.path().display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let local = Local::start(
        store.clone(),
        updraft_engine::Registry::with(updraft_operators::register_all),
        LocalOptions {
            dags_folder: dir.path().join("dags"),
            slots: 4,
            paused_at_creation: true,
            run_scheduler: true,
            run_worker: true,
            timing: Timing::default(),
            reload_every: Duration::from_secs(60),
            overrides: Default::default(),
            scope: Default::default(),
        },
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let params = updraft_web::WebParams {
        store: store.clone(),
        cache: local.cache.clone(),
        signals: Some(local.signals.clone()),
        overrides: Default::default(),
        allow_open: true,
        secure_cookies: true,
        signing_key: None,
        limits: Default::default(),
    };
    let stop = tokio_util_stop();
    let web = tokio::spawn(updraft_web::serve(listener, params, {
        let stop = stop.clone();
        async move { stop.notified().await }
    }));

    // The browser.
    let port = free_port();
    let _driver = Driver(
        Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let webdriver = format!("http://127.0.0.1:{port}");
    until("chromedriver", Duration::from_secs(20), || async {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .await;
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": which(chromium),
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--disable-background-networking", "--window-size=1400,1000"],
        }),
    );
    // rustls is built with both ring (Updraft's provider) and aws-lc-rs
    // (fantoccini's) in this test build: it cannot pick one by itself.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let c = ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&webdriver)
        .await
        .expect("a WebDriver session");

    // DAGs page -> DAG page -> trigger.
    c.goto(&format!("{base}/dags")).await.unwrap();
    c.wait().for_element(Locator::Css("tr#dag-etl")).await.unwrap();
    c.find(Locator::LinkText("etl")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Css("#grid-box")).await.unwrap();
    c.find(Locator::Css("button#trigger"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Css("#grid a.cell")).await.unwrap();
    // A marker that a reload would wipe.
    c.execute("window.__updraft_marker = 42;", vec![]).await.unwrap();
    until("every task to succeed in the grid", Duration::from_secs(60), || async {
        let n = c
            .find_all(Locator::Css("#grid a.cell.s-success"))
            .await
            .map_or(0, |v| v.len());
        n == 4
    })
    .await;
    let marker = c.execute("return window.__updraft_marker;", vec![]).await.unwrap();
    assert_eq!(marker, serde_json::json!(42), "the grid updated without a reload");
    assert_eq!(store.list_runs("etl", 5).await.unwrap()[0].state.as_str(), "success");
    if let Ok(path) = std::env::var("UPDRAFT_SCREENSHOT") {
        c.goto(&format!("{base}/dags/etl")).await.unwrap();
        c.wait().for_element(Locator::Css("svg.dag")).await.unwrap();
        std::fs::write(Path::new(&path), c.screenshot().await.unwrap()).unwrap();
    }

    // The first run's page is final: it says so and stops reading.
    let first = store.list_runs("etl", 5).await.unwrap().remove(0);
    c.goto(&format!("{base}/dags/etl/runs/{}", common::enc(&first.run_id)))
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("#run-box [data-finished]"))
        .await
        .unwrap();

    // A second run; open its slow task at once and watch the log arrive.
    c.goto(&format!("{base}/dags/etl")).await.unwrap();
    c.find(Locator::Css("input[name=logical_date]"))
        .await
        .unwrap()
        .send_keys("2024-11-02")
        .await
        .unwrap();
    c.find(Locator::Css("button#trigger"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Css("#grid-box")).await.unwrap();
    // The page answers the POST with a redirect once the run is stored;
    // the DAG page was there before the click, so wait for the run itself.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let run = loop {
        let found = store
            .list_runs("etl", 5)
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.run_id.contains("2024-11-02"));
        match found {
            Some(r) => break r,
            None if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await
            }
            None => panic!("the triggered run was not stored within 10 s"),
        }
    };
    let seg = common::enc(&run.run_id);
    c.goto(&format!("{base}/dags/etl/runs/{seg}/tasks/extract"))
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("pre.log[data-follow]"))
        .await
        .unwrap();
    until(
        "the live log to show the end of the task",
        Duration::from_secs(30),
        || async {
            let text = match c.find(Locator::Css("pre#log")).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            text.contains("extract done")
        },
    )
    .await;
    until("the stream to end", Duration::from_secs(10), || async {
        let ended = c
            .execute(
                "return document.getElementById('log').getAttribute('data-ended');",
                vec![],
            )
            .await
            .unwrap_or_default();
        ended == serde_json::json!("true")
    })
    .await;
    let text = c.find(Locator::Css("pre#log")).await.unwrap().text().await.unwrap();
    assert!(text.contains("extract starts"), "{text}");

    // Rerun the second run from its slow first task with the run page's own
    // button: the page it lands on follows the run to its end without a
    // reload.
    c.goto(&format!("{base}/dags/etl/runs/{seg}")).await.unwrap();
    c.find(Locator::XPath(
        "//tr[@id='ti-extract']//form[.//input[@name='downstream']]/button",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    c.wait().for_element(Locator::Css("#run-box")).await.unwrap();
    c.execute("window.__updraft_marker = 7;", vec![]).await.unwrap();
    assert!(
        c.find(Locator::Css("#run-box [data-finished]")).await.is_err(),
        "the rerun takes two seconds: the page opened on it running"
    );
    until(
        "the run page to show the rerun's end",
        Duration::from_secs(60),
        || async {
            let finished = c.find(Locator::Css("#run-box [data-finished]")).await.is_ok();
            let load_ok = c.find(Locator::Css("#ti-load .s-success")).await.is_ok();
            finished && load_ok
        },
    )
    .await;
    let marker = c.execute("return window.__updraft_marker;", vec![]).await.unwrap();
    assert_eq!(marker, serde_json::json!(7), "the run page updated without a reload");

    c.close().await.unwrap();
    stop.notify_waiters();
    let _ = web.await;
    local.shutdown().await;
}

fn tokio_util_stop() -> std::sync::Arc<tokio::sync::Notify> {
    std::sync::Arc::new(tokio::sync::Notify::new())
}

fn which(bin: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {bin}"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
