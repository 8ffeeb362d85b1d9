//! Roles: every route of the router, called by a viewer, an op and an
//! admin, is allowed or refused as its rule says; refusals are 403 (JSON
//! under `/api/v1`, a page naming the role needed in the UI) and change
//! nothing; pages hide what the role cannot use.

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, header};
use http_body_util::BodyExt;
use jiff::{SignedDuration, Timestamp};
use tower::ServiceExt;
use updraft_web::auth::token_hash;
use updraft_web::{Access, Role, RouteRule, route_rules};

use common::*;

/// A token and a session for a user of each role: (role, token, session).
async fn users(f: &Fixture) -> Vec<(Role, String, String)> {
    let later = Timestamp::now() + SignedDuration::from_hours(1);
    let mut out = Vec::new();
    for role in Role::ALL {
        let name = format!("{role}-user");
        f.store.save_user(&name, "unused", Some(role)).await.unwrap();
        let (token, session) = (format!("tok-{role}"), format!("sess-{role}"));
        f.store
            .add_api_token(&name, "t", &token_hash(&token), later)
            .await
            .unwrap();
        f.store
            .create_session(&token_hash(&session), &name, later)
            .await
            .unwrap();
        out.push((role, token, session));
    }
    out
}

/// A request for `rule` on the fixture's DAG, run and task, with a body its
/// handler accepts; `n` makes each trigger's logical date its own.
fn request(rule: &RouteRule, run_id: &str, n: usize) -> Request<Body> {
    let path = rule
        .path
        .replace("{dag_id}", "etl")
        .replace("{run_id}", &enc(run_id))
        .replace("{task_id}", "extract");
    let api = path.starts_with("/api/");
    let action = path.rsplit('/').next().unwrap_or_default();
    let date = format!("2025-01-01T00:{:02}:{:02}Z", n / 60 % 60, n % 60);
    let (json, form) = match action {
        "trigger" => (
            format!(r#"{{"logical_date": "{date}"}}"#),
            format!("logical_date={date}"),
        ),
        "pause" => (r#"{"paused": true}"#.into(), "paused=true".into()),
        "backfill" => (
            r#"{"start": "2024-11-01", "end": "2024-11-02"}"#.into(),
            "start=2024-11-01&end=2024-11-02".into(),
        ),
        "mark" => (r#"{"state": "success"}"#.into(), "state=success".into()),
        _ => ("{}".into(), String::new()),
    };
    let req = Request::builder().method(rule.method.clone()).uri(path);
    if rule.method != Method::POST {
        req.body(Body::empty()).unwrap()
    } else if api {
        req.header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json))
            .unwrap()
    } else {
        req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .unwrap()
    }
}

/// Sends `req`; reads the body only of errors (a log stream never ends).
async fn call(app: &Router, mut req: Request<Body>, token: Option<&str>) -> (u16, String, String) {
    req.headers_mut()
        .insert(header::HOST, header::HeaderValue::from_static("127.0.0.1:8080"));
    if let Some(t) = token {
        req.headers_mut()
            .insert(header::AUTHORIZATION, format!("Bearer {t}").parse().unwrap());
    }
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let kind = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map_or("", |v| v.to_str().unwrap())
        .to_string();
    let body = if status >= 400 {
        String::from_utf8_lossy(&resp.into_body().collect().await.unwrap().to_bytes()).into_owned()
    } else {
        String::new()
    };
    (status, kind, body)
}

#[tokio::test]
async fn every_route_allows_and_refuses_each_role_as_its_rule_says() {
    let f = fixture().await;
    let app = f.app(true);
    let people = users(&f).await;
    let admin_token = &people[2].1;
    let run = send(
        &app,
        Request::post("/api/v1/dags/etl/trigger")
            .header(header::AUTHORIZATION, format!("Bearer {admin_token}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(run.status, 201, "{}", run.body);
    let run_id = run.json()["run_id"].as_str().unwrap().to_string();

    let rules = route_rules();
    let mut seen = std::collections::HashSet::new();
    for r in &rules {
        assert!(seen.insert((r.method.clone(), r.path.clone())), "{r:?} declared twice");
        // Reads are for viewers, changes for ops at least.
        if let Access::Needs(need) = r.access {
            assert!(
                (r.method == Method::GET) == (need == Role::Viewer)
                    || r.path.ends_with("/logout")
                    || need == Role::Admin,
                "{r:?}"
            );
        }
    }
    assert!(rules.len() >= 30, "the UI and the API: {} rules", rules.len());

    let mut n = 0;
    for (role, token, _) in &people {
        let runs_before = f.store.list_runs("etl", 1000).await.unwrap().len();
        let mut refused = 0;
        for rule in &rules {
            n += 1;
            let (status, kind, body) = call(&app, request(rule, &run_id, n), Some(token)).await;
            let what = format!("{role} {} {}: {status} {body}", rule.method, rule.path);
            match rule.access {
                Access::Public => assert!(status != 403 && !body.contains("API token required"), "{what}"),
                Access::Needs(need) if *role >= need => assert!(status < 400, "{what}"),
                Access::Needs(need) => {
                    refused += 1;
                    assert_eq!(status, 403, "{what}");
                    if rule.path.starts_with("/api/v1") {
                        assert!(kind.starts_with("application/json"), "{what}");
                    } else {
                        assert!(kind.starts_with("text/html"), "{what}");
                    }
                    assert!(body.contains(&format!("the {need} role")), "{what}");
                    assert!(body.contains(&format!("{role}-user has the {role} role")), "{what}");
                }
            }
        }
        let expected = match role {
            Role::Viewer => rules
                .iter()
                .filter(|r| matches!(r.access, Access::Needs(n) if n > Role::Viewer))
                .count(),
            Role::Op => 2,
            Role::Admin => 0,
        };
        assert_eq!(refused, expected, "{role}");
        if *role == Role::Viewer {
            // Refused before the handler: nothing changed.
            assert_eq!(f.store.list_runs("etl", 1000).await.unwrap().len(), runs_before);
            assert!(!f.store.get_dag("etl").await.unwrap().unwrap().is_paused);
        }
    }
    // The ops and the admin did trigger, backfill and pause.
    assert!(f.store.get_dag("etl").await.unwrap().unwrap().is_paused);
    assert!(f.store.list_runs("etl", 1000).await.unwrap().len() >= 5);

    // Without a known user, every route but the public ones asks for a login.
    let closed = f.app(false);
    for rule in &rules {
        // An unknown token: no CSRF token needed, no user found.
        let (status, _, _) = call(&closed, request(rule, &run_id, 0), Some("no-such-token")).await;
        let login = status == 401 || status == 303;
        assert_eq!(login, rule.access != Access::Public, "{rule:?}: {status}");
    }
}

/// A route declared straight on the axum router (not through the role
/// table) would have no role decision: every literal `.route("...")` in the
/// sources must be a public rule.
#[test]
fn no_route_is_declared_outside_the_role_table() {
    let rules = route_rules();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for (at, _) in text.match_indices(".route(") {
            let rest = text[at + ".route(".len()..].trim_start();
            let Some(literal) = rest.strip_prefix('"') else {
                continue;
            };
            let route = &literal[..literal.find('"').unwrap()];
            found += 1;
            assert!(
                rules.iter().any(|r| r.path == route && r.access == Access::Public),
                "{}: `{route}` is routed outside the role table: declare it with a role in roles::Routes",
                path.display()
            );
        }
    }
    assert!(found >= 3, "the scan finds the public routes ({found})");
}

fn with_session(uri: &str, session: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::COOKIE, format!("updraft_session={session}"))
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn pages_show_only_what_the_role_may_use_and_refuse_the_rest_by_name() {
    let f = fixture().await;
    let app = f.app(true);
    let people = users(&f).await;
    let run = send(
        &app,
        Request::post("/api/v1/dags/etl/trigger")
            .header(header::AUTHORIZATION, format!("Bearer {}", people[2].1))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let run_page = format!("/dags/etl/runs/{}", enc(run.json()["run_id"].as_str().unwrap()));
    for (role, _, session) in &people {
        let dags = send(&app, with_session("/dags", session)).await;
        let dag = send(&app, with_session("/dags/etl", session)).await;
        let run = send(&app, with_session(&run_page, session)).await;
        let ops = *role >= Role::Op;
        assert_eq!(dags.body.contains("action=\"/dags/etl/pause\""), ops, "{role}");
        assert_eq!(dag.body.contains("action=\"/dags/etl/trigger\""), ops, "{role}");
        assert_eq!(dag.body.contains("action=\"/dags/etl/backfill\""), ops, "{role}");
        assert_eq!(run.body.contains("Mark success"), ops, "{role}");
        assert_eq!(run.body.contains("Clear whole run"), ops, "{role}");
        assert_eq!(
            dags.body.contains("href=\"/connections\""),
            *role == Role::Admin,
            "{role}"
        );
        assert!(dags.body.contains(&format!("{role}-user")), "{role}");
    }
    // A viewer's form POST (with a valid CSRF token) is refused by a page
    // that names the role it needs.
    let viewer = &people[0].2;
    let refused = post_form_as(&app, Some(viewer), "/dags/etl/trigger", "").await;
    assert_eq!(refused.status, 403);
    assert!(
        refused.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(refused.body.contains("needs the op role or higher"), "{}", refused.body);
    let secrets = send(&app, with_session("/connections", &people[1].2)).await;
    assert_eq!(secrets.status, 403);
    assert!(secrets.body.contains("needs the admin role"), "{}", secrets.body);

    // A new role applies to live sessions and tokens at once.
    f.store.set_role("viewer-user", Role::Op).await.unwrap();
    let now = post_form_as(&app, Some(viewer), "/dags/etl/pause", "paused=true").await;
    assert_eq!(now.status, 303, "{}", now.body);
    f.store.set_role("admin-user", Role::Viewer).await.unwrap();
    let token = &people[2].1;
    let (status, _, body) = call(
        &app,
        Request::get("/connections").body(Body::empty()).unwrap(),
        Some(token),
    )
    .await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test]
async fn the_open_ui_acts_as_an_admin() {
    let f = fixture().await;
    let app = f.app(true);
    let secrets = get(&app, "/connections").await;
    assert_eq!(secrets.status, 200, "{}", secrets.body);
    assert!(secrets.body.contains("href=\"/variables\""));
    let dag = get(&app, "/dags/etl").await;
    assert!(dag.body.contains("action=\"/dags/etl/trigger\""));
    assert_eq!(post_form(&app, "/dags/etl/pause", "paused=true").await.status, 303);
}
