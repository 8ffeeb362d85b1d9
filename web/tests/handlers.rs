//! Every page and action through the router (no network): rendering,
//! 404s, CSRF refusal, authentication, and that secrets stay hidden.

mod common;

use axum::body::Body;
use axum::http::{Request, header};
use common::*;
use updraft_engine::connection::Connection;
use updraft_engine::store::{RunState, TaskState, TryOutcome};

async fn trigger(app: &axum::Router, f: &Fixture) -> String {
    let r = post_form(
        app,
        "/dags/etl/trigger",
        "logical_date=2024-11-05&conf=%7B%22k%22%3A1%7D",
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), "/dags/etl");
    f.store.list_runs("etl", 1).await.unwrap()[0].run_id.clone()
}

#[tokio::test]
async fn every_page_renders() {
    let f = fixture().await;
    f.store.set_variable("api_token", "s3cr3t-token-value").await.unwrap();
    f.store
        .set_connection(
            "warehouse",
            &Connection {
                conn_type: Some("postgres".into()),
                host: Some("db.internal".into()),
                password: Some("hunter2-password".into()),
                extra: Some(serde_json::json!({"api_key": "k-123456789", "region": "eu"})),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let app = f.app(true);
    let run_id = trigger(&app, &f).await;
    let run = f.store.get_run("etl", &run_id).await.unwrap().unwrap();
    // A finished try with a log line holding a secret.
    let tis = f.store.task_instances(run.id).await.unwrap();
    f.store
        .transition_tasks(&[tis[0].id], &[TaskState::None], TaskState::Queued)
        .await
        .unwrap();
    let c = f.store.claim("w", 1).await.unwrap();
    f.store
        .append_logs(
            c[0].ti.id,
            1,
            &[(jiff::Timestamp::now(), "stdout", "using s3cr3t-token-value now")],
        )
        .await
        .unwrap();
    // What the worker stores when the try starts (unmasked here, to see the
    // page mask it too).
    f.store
        .save_rendered(&[(
            c[0].ti.id,
            1,
            r#"{"command": "extract 2024-11-05 with s3cr3t-token-value", "env": {"DB_PASSWORD": "x-plain-1"}}"#,
        )])
        .await
        .unwrap();
    f.store
        .finish_try(
            c[0].ti.id,
            1,
            "w",
            &TryOutcome::Success {
                output: serde_json::json!({"n": 3}),
            },
        )
        .await
        .unwrap();

    let dags = get(&app, "/dags").await;
    assert_eq!(dags.status, 200);
    assert!(dags.body.contains("href=\"/dags/etl\"") && dags.body.contains("0 2 * * *"));
    assert!(dags.body.contains("class=\"dot s-queued\""), "last runs as dots");
    assert!(get(&app, "/dags?tag=etl").await.body.contains("dag-etl"));
    assert!(!get(&app, "/dags?tag=other").await.body.contains("dag-etl"));
    assert!(!get(&app, "/dags?q=zzz").await.body.contains("dag-etl"));
    assert_eq!(get(&app, "/").await.location(), "/dags");

    let dag = get(&app, "/dags/etl").await;
    assert_eq!(dag.status, 200);
    assert!(dag.body.contains("<svg") && dag.body.contains("data-task=\"transform\""));
    assert!(
        dag.body.contains("node s-success\" data-task=\"extract\""),
        "coloured by the run"
    );
    assert!(
        dag.body.contains("id=\"grid\"") && dag.body.contains("operator: shell"),
        "grid and source"
    );
    let grid = get(&app, "/dags/etl/live").await;
    assert!(grid.body.contains("data-state=\"success\"") && grid.body.contains("<svg") && !grid.body.contains("<html"));

    let run_page = get(&app, &format!("/dags/etl/runs/{}", enc(&run_id))).await;
    assert_eq!(run_page.status, 200, "{}", run_page.body);
    assert!(run_page.body.contains("svg") && run_page.body.contains("&#34;k&#34;: 1"));
    let live_path = format!("/dags/etl/runs/{}/live", enc(&run_id));
    assert!(
        run_page.body.contains(&format!("data-poll=\"{live_path}\"")),
        "the page refreshes its live part"
    );
    let live = get(&app, &live_path).await;
    assert_eq!(live.status, 200);
    assert!(
        live.body.contains("id=\"ti-extract\"") && live.body.contains("s-success") && !live.body.contains("<html"),
        "{}",
        live.body
    );
    assert!(
        !live.body.contains("data-finished"),
        "the run is still going: the page keeps reading"
    );

    let task = get(&app, &format!("/dags/etl/runs/{}/tasks/extract", enc(&run_id))).await;
    assert_eq!(task.status, 200);
    assert!(task.body.contains("using *** now"), "log masked: {}", task.body);
    assert!(
        task.body.contains("extract 2024-11-05 with ***"),
        "rendered fields masked"
    );
    assert!(
        !task.body.contains("x-plain-1"),
        "values under secret-looking keys hidden"
    );
    assert!(
        running_rendered(&app, &run_id)
            .await
            .contains("(not rendered yet: this try has not started)"),
        "a task that has not started shows no guess"
    );
    assert!(task.body.contains("&#34;n&#34;: 3"), "output");
    let running = get(&app, &format!("/dags/etl/runs/{}/tasks/transform", enc(&run_id))).await;
    assert!(running.body.contains("data-follow="), "an unfinished task follows live");

    let stream = get(
        &app,
        &format!("/dags/etl/runs/{}/tasks/extract/logs/stream?try=1", enc(&run_id)),
    )
    .await;
    assert!(stream.body.contains("event: line") && stream.body.contains("event: end"));
    assert!(stream.body.contains("using *** now"));

    let conns = get(&app, "/connections").await;
    assert!(conns.body.contains("db.internal") && conns.body.contains("region"));
    let vars = get(&app, "/variables").await;
    assert!(vars.body.contains("api_token"));
    for page in [&dags, &dag, &run_page, &task, &stream, &conns, &vars] {
        for secret in ["s3cr3t-token-value", "hunter2-password", "k-123456789"] {
            assert!(!page.body.contains(secret), "{secret} leaked");
        }
    }
    for api in [
        "/api/v1/dags".to_string(),
        "/api/v1/dags/etl".into(),
        format!("/api/v1/dags/etl/runs/{}/tasks", enc(&run_id)),
        format!("/api/v1/dags/etl/runs/{}/tasks/extract/logs?try=1", enc(&run_id)),
    ] {
        let r = get(&app, &api).await;
        assert_eq!(r.status, 200, "{api}");
        assert!(!r.body.contains("s3cr3t-token-value"), "{api} leaked");
    }
    assert_eq!(get(&app, "/static/app.js").await.status, 200);
    assert_eq!(get(&app, "/static/app.css").await.status, 200);
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let f = fixture().await;
    let app = f.app(true);
    let run_id = trigger(&app, &f).await;
    for uri in [
        "/dags/nope".to_string(),
        "/dags/nope/live".into(),
        "/dags/etl/runs/nope".into(),
        "/dags/etl/runs/nope/live".into(),
        format!("/dags/etl/runs/{}/tasks/nope", enc(&run_id)),
        "/no/such/page".into(),
        "/dags/etl?run=nope".into(),
    ] {
        assert_eq!(get(&app, &uri).await.status, 404, "{uri}");
    }
    for uri in [
        "/api/v1/dags/nope".to_string(),
        "/api/v1/dags/etl/runs/nope".into(),
        format!("/api/v1/dags/etl/runs/{}/tasks/nope", enc(&run_id)),
    ] {
        let r = get(&app, &uri).await;
        assert_eq!(r.status, 404, "{uri}");
        assert!(r.json()["error"].is_string());
    }
    assert_eq!(post_form(&app, "/dags/nope/trigger", "").await.status, 404);
    assert_eq!(post_form(&app, "/dags/nope/pause", "paused=true").await.status, 404);
    assert_eq!(post_form(&app, "/dags/etl/runs/nope/clear", "").await.status, 404);
    assert_eq!(
        post_form(
            &app,
            &format!("/dags/etl/runs/{}/tasks/nope/mark", enc(&run_id)),
            "state=success"
        )
        .await
        .status,
        404
    );
}

#[tokio::test]
async fn form_actions_change_the_store() {
    let f = fixture().await;
    let app = f.app(true);
    let run_id = trigger(&app, &f).await;
    let run = f.store.get_run("etl", &run_id).await.unwrap().unwrap();
    assert_eq!(run.conf["k"], 1);
    assert_eq!(
        post_form(&app, "/dags/etl/trigger", "logical_date=2024-11-05")
            .await
            .status,
        409,
        "same date"
    );
    assert_eq!(
        post_form(&app, "/dags/etl/trigger", "conf=%5B1%5D").await.status,
        400,
        "conf not an object"
    );
    assert_eq!(
        post_form(&app, "/dags/etl/trigger", "logical_date=yesterday-ish")
            .await
            .status,
        400
    );

    assert_eq!(post_form(&app, "/dags/etl/pause", "paused=true").await.status, 303);
    assert!(f.store.get_dag("etl").await.unwrap().unwrap().is_paused);
    assert_eq!(post_form(&app, "/dags/etl/pause", "paused=false").await.status, 303);
    assert!(!f.store.get_dag("etl").await.unwrap().unwrap().is_paused);

    let runs = |f: &Fixture| {
        let s = f.store.clone();
        async move { s.list_runs("etl", 100).await.unwrap() }
    };
    let r = post_form(
        &app,
        "/dags/etl/backfill",
        "start=2024-11-01&end=2024-11-03&reprocess=none",
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    // 2024-11-01 and 11-02 at 02:00 (11-03 02:00 is after the end).
    assert_eq!(runs(&f).await.len(), 3);
    assert_eq!(
        post_form(&app, "/dags/etl/backfill", "start=2024-11-03&end=2024-11-01")
            .await
            .status,
        400
    );

    let seg = enc(&run_id);
    assert_eq!(
        post_form(
            &app,
            &format!("/dags/etl/runs/{seg}/tasks/transform/mark"),
            "state=failed"
        )
        .await
        .status,
        303
    );
    assert_eq!(
        f.store.task_instance(run.id, "transform").await.unwrap().unwrap().state,
        TaskState::Failed
    );
    assert_eq!(
        post_form(
            &app,
            &format!("/dags/etl/runs/{seg}/tasks/transform/mark"),
            "state=running"
        )
        .await
        .status,
        400
    );
    f.store.start_run(run.id).await.unwrap();
    f.store.finish_run(run.id, RunState::Failed).await.unwrap();
    let r = post_form(
        &app,
        &format!("/dags/etl/runs/{seg}/clear"),
        "task_id=transform&downstream=true",
    )
    .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), format!("/dags/etl/runs/{seg}"));
    assert_eq!(
        f.store.task_instance(run.id, "transform").await.unwrap().unwrap().state,
        TaskState::None
    );
    assert_eq!(
        f.store.get_run_by_pk(run.id).await.unwrap().unwrap().state,
        RunState::Queued
    );
    f.store
        .mark_tasks(run.id, &["extract".into()], TaskState::Success)
        .await
        .unwrap();
    assert_eq!(
        post_form(&app, &format!("/dags/etl/runs/{seg}/clear"), "").await.status,
        303
    );
    let tis = f.store.task_instances(run.id).await.unwrap();
    assert!(tis.iter().all(|t| t.state == TaskState::None), "whole run cleared");
}

#[tokio::test]
async fn posts_without_the_csrf_token_are_refused() {
    let f = fixture().await;
    let app = f.app(true);
    let no_token = send(
        &app,
        Request::post("/dags/etl/trigger")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("logical_date=2024-11-05"))
            .unwrap(),
    )
    .await;
    assert_eq!(no_token.status, 403);
    let wrong = send(
        &app,
        Request::post("/dags/etl/pause")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, format!("updraft_csrf={CSRF}"))
            .body(Body::from("csrf=0000000000000000000000000000000000&paused=true"))
            .unwrap(),
    )
    .await;
    assert_eq!(wrong.status, 403);
    let api_no_header = send(
        &app,
        Request::post("/api/v1/dags/etl/trigger")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::COOKIE, format!("updraft_csrf={CSRF}"))
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    assert_eq!(api_no_header.status, 403);
    assert!(f.store.list_runs("etl", 10).await.unwrap().is_empty());
    assert!(!f.store.get_dag("etl").await.unwrap().unwrap().is_paused);
    // The header form works for scripts in the page, with a token the
    // server issued (a pair of the sender's choosing does not).
    let token = csrf_token(&app, None).await;
    let ok = send(
        &app,
        Request::post("/api/v1/dags/etl/trigger")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::COOKIE, format!("updraft_csrf={token}"))
            .header("x-csrf-token", &token)
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    // A GET hands out the cookie the forms need.
    let page = get(&app, "/dags").await;
    let token = page.set_cookie("updraft_csrf").unwrap();
    assert!(page.body.contains(&token));
    let cookie = page.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    assert!(cookie.contains("SameSite=Strict") && cookie.contains("Secure"));
}

#[tokio::test]
async fn users_log_in_and_tokens_authenticate() {
    let f = fixture().await;
    // Not open (a non-loopback bind) and no users: nothing is served.
    let closed = f.app(false);
    assert_eq!(get(&closed, "/dags").await.status, 303);
    f.store
        .set_user("ada", &updraft_web::auth::hash_password("correct horse"))
        .await
        .unwrap();
    let app = f.app(true);
    // A user exists: login required even on loopback.
    let r = get(&app, "/dags/etl").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), "/login?next=/dags/etl");
    assert_eq!(get(&app, "/api/v1/dags").await.status, 401);
    assert_eq!(post_form(&app, "/dags/etl/trigger", "").await.status, 401);
    assert_eq!(get(&app, "/login").await.status, 200);

    let bad = post_form(&app, "/login", "username=ada&password=nope&next=/dags").await;
    assert_eq!(bad.status, 401);
    assert!(bad.set_cookie("updraft_session").is_none());
    let good = post_form(&app, "/login", "username=ada&password=correct+horse&next=%2Fdags%2Fetl").await;
    assert_eq!(good.status, 303, "{}", good.body);
    assert_eq!(good.location(), "/dags/etl");
    let raw = good
        .headers
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(raw.contains("HttpOnly") && raw.contains("Secure") && raw.contains("SameSite=Strict"));
    let session = good.set_cookie("updraft_session").unwrap();
    let with_session = |uri: &str| {
        Request::get(uri)
            .header(header::COOKIE, format!("updraft_session={session}"))
            .body(Body::empty())
            .unwrap()
    };
    let page = send(&app, with_session("/dags")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("ada"));
    // Open redirects are not followed.
    let evil = post_form(
        &app,
        "/login",
        "username=ada&password=correct+horse&next=%2F%2Fevil.example",
    )
    .await;
    assert_eq!(evil.location(), "/dags");

    // API tokens: no cookie, no CSRF.
    let token = updraft_web::auth::random_token();
    f.store
        .add_api_token(
            "ada",
            "ci",
            &updraft_web::auth::token_hash(&token),
            jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1),
        )
        .await
        .unwrap();
    let bearer = |method: &str, uri: &str, body: &str| {
        Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let list = send(&app, bearer("GET", "/api/v1/dags", "")).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json()["dags"][0]["dag_id"], "etl");
    let created = send(
        &app,
        bearer(
            "POST",
            "/api/v1/dags/etl/trigger",
            r#"{"logical_date": "2024-11-07", "conf": {"a": 1}}"#,
        ),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let run_id = created.json()["run_id"].as_str().unwrap().to_string();
    let seg = enc(&run_id);
    let marked = send(
        &app,
        bearer(
            "POST",
            &format!("/api/v1/dags/etl/runs/{seg}/tasks/extract/mark"),
            r#"{"state": "success"}"#,
        ),
    )
    .await;
    assert_eq!(marked.json()["marked"], 1);
    let cleared = send(
        &app,
        bearer(
            "POST",
            &format!("/api/v1/dags/etl/runs/{seg}/clear"),
            r#"{"task_id": "extract", "downstream": true}"#,
        ),
    )
    .await;
    assert_eq!(cleared.json()["cleared"], 3);
    let paused = send(&app, bearer("POST", "/api/v1/dags/etl/pause", r#"{"paused": true}"#)).await;
    assert_eq!(paused.json()["is_paused"], true);
    let bf = send(
        &app,
        bearer(
            "POST",
            "/api/v1/dags/etl/backfill",
            r#"{"start": "2024-11-01", "end": "2024-11-02"}"#,
        ),
    )
    .await;
    assert_eq!(bf.json()["runs"], 1);
    let runs = send(&app, bearer("GET", "/api/v1/dags/etl/runs", "")).await;
    assert_eq!(runs.json()["runs"].as_array().unwrap().len(), 2);
    let grid = send(&app, bearer("GET", "/api/v1/dags/etl/grid", "")).await;
    assert_eq!(grid.json()["rows"].as_array().unwrap().len(), 3);
    let wrong = Request::get("/api/v1/dags")
        .header(header::AUTHORIZATION, "Bearer not-a-token")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, wrong).await.status, 401);

    // Logging out ends the session.
    let out = post_form_as(&app, Some(&session), "/logout", "").await;
    assert_eq!(out.status, 303);
    assert_eq!(send(&app, with_session("/dags")).await.status, 303);
}

#[tokio::test]
async fn import_errors_are_listed_with_file_and_line() {
    let f = fixture().await;
    f.store
        .set_import_errors(&[(
            "dags/broken.yaml".into(),
            vec!["dags/broken.yaml:3:5: unknown operator `shel`".into()],
        )])
        .await
        .unwrap();
    let page = get(&f.app(true), "/dags").await;
    assert!(
        page.body
            .contains("<td>dags/broken.yaml</td><td>3</td><td>unknown operator `shel`</td>"),
        "{}",
        page.body
    );
}

/// The rendered-fields text of `transform`, which has not started.
async fn running_rendered(app: &axum::Router, run_id: &str) -> String {
    get(app, &format!("/dags/etl/runs/{}/tasks/transform", enc(run_id)))
        .await
        .body
}
