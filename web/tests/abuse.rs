//! The web surface under abuse (issue 15), through the router: DNS
//! rebinding and planted CSRF tokens in open mode, `next` redirects off
//! site, login throttling that cannot be raced or used to lock a user out,
//! revoked and expired credentials, security headers, JSON errors and 413
//! on `/api/v1`, and live log streams per client.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, header};
use common::*;
use updraft_web::auth::{hash_password, random_token, token_hash};
use updraft_web::{LoginPolicy, WebLimits};

fn from(addr: &str, mut req: Request<Body>) -> Request<Body> {
    let addr: SocketAddr = format!("{addr}:40000").parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    req
}

fn with_host(host: &str, mut req: Request<Body>) -> Request<Body> {
    req.headers_mut().insert(header::HOST, host.parse().unwrap());
    req
}

async fn login_from(app: &axum::Router, addr: &str, user: &str, password: &str, device: Option<&str>) -> Reply {
    let token = csrf_token(app, None).await;
    let mut req = form_request(
        "/login",
        &format!("username={}&password={}&next=/dags", enc(user), enc(password)),
        &token,
        None,
    );
    if let Some(d) = device {
        let cookies = req.headers()[header::COOKIE].to_str().unwrap().to_string();
        req.headers_mut().insert(
            header::COOKIE,
            format!("{cookies}; updraft_device={d}").parse().unwrap(),
        );
    }
    send(app, from(addr, req)).await
}

#[tokio::test]
async fn open_mode_refuses_planted_csrf_tokens_and_foreign_hosts() {
    let f = fixture().await;
    let app = f.app(true);
    // A cookie and field pair of the sender's choosing: not issued here.
    let planted = send(&app, form_request("/dags/etl/trigger", "", CSRF, None)).await;
    assert_eq!(planted.status, 403, "{}", planted.body);
    // DNS rebinding: the page's own host name, pointed at 127.0.0.1.
    let token = csrf_token(&app, None).await;
    for host in [
        "evil.example",
        "evil.example:8080",
        "localhost.evil.example",
        "10.1.2.3:8080",
    ] {
        let r = send(
            &app,
            with_host(host, form_request("/dags/etl/trigger", "", &token, None)),
        )
        .await;
        assert_eq!(r.status, 421, "{host}: {}", r.body);
        assert!(r.body.contains("answers only to localhost"), "{}", r.body);
        let page = send(
            &app,
            with_host(host, Request::get("/dags").body(Body::empty()).unwrap()),
        )
        .await;
        assert_eq!(page.status, 421, "{host}");
        let api = send(
            &app,
            with_host(host, Request::get("/api/v1/dags").body(Body::empty()).unwrap()),
        )
        .await;
        assert_eq!(api.status, 421);
        assert!(api.json()["error"].as_str().unwrap().contains("localhost"));
    }
    let mut foreign = form_request("/dags/etl/trigger", "", &token, None);
    foreign
        .headers_mut()
        .insert(header::ORIGIN, "http://evil.example".parse().unwrap());
    assert_eq!(send(&app, foreign).await.status, 403, "a foreign Origin");
    assert!(f.store.list_runs("etl", 10).await.unwrap().is_empty(), "nothing ran");
    // This machine's names pass.
    for host in ["localhost:8080", "127.0.0.1", "[::1]:8080"] {
        let page = send(
            &app,
            with_host(host, Request::get("/dags").body(Body::empty()).unwrap()),
        )
        .await;
        assert_eq!(page.status, 200, "{host}");
    }
    let mut local = form_request("/dags/etl/trigger", "", &token, None);
    local
        .headers_mut()
        .insert(header::ORIGIN, "http://localhost:8080".parse().unwrap());
    assert_eq!(send(&app, local).await.status, 303);
    assert_eq!(f.store.list_runs("etl", 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn csrf_tokens_are_bound_to_the_session() {
    let f = fixture().await;
    f.store.set_user("ada", &hash_password("correct horse")).await.unwrap();
    let app = f.app(true);
    let login = post_form(&app, "/login", "username=ada&password=correct+horse").await;
    let a = login.set_cookie("updraft_session").unwrap();
    let login = post_form(&app, "/login", "username=ada&password=correct+horse").await;
    let b = login.set_cookie("updraft_session").unwrap();
    let of_a = csrf_token(&app, Some(&a)).await;
    // A's token with B's session, and the token from before login.
    let r = send(&app, form_request("/dags/etl/trigger", "", &of_a, Some(&b))).await;
    assert_eq!(r.status, 403);
    let anonymous = csrf_token(&app, None).await;
    let r = send(&app, form_request("/dags/etl/trigger", "", &anonymous, Some(&a))).await;
    assert_eq!(r.status, 403);
    let r = send(&app, form_request("/dags/etl/trigger", "", &of_a, Some(&a))).await;
    assert_eq!(r.status, 303, "{}", r.body);
}

#[tokio::test]
async fn next_after_login_never_leaves_the_site() {
    let f = fixture().await;
    f.store.set_user("ada", &hash_password("correct horse")).await.unwrap();
    let app = f.app(true);
    for next in [
        "/%09/evil.example/x",
        "/%5Cevil.example",
        "/%2F/evil.example",
        "/\t/evil.example",
    ] {
        let r = post_form(
            &app,
            "/login",
            &format!("username=ada&password=correct+horse&next={}", enc(next)),
        )
        .await;
        assert_eq!(r.status, 303);
        assert_eq!(r.location(), "/dags", "{next:?}");
    }
    let page = get(&app, "/login?next=%2F%2509%2Fevil.example").await;
    assert!(page.body.contains("value=\"/dags\""), "{}", page.body);
}

fn quick_logins() -> WebLimits {
    WebLimits {
        login_hash_wait: Duration::from_secs(60),
        login: LoginPolicy {
            user_cap: Duration::from_secs(1),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_logins_cannot_race_past_the_limit() {
    let f = fixture().await;
    f.store.set_user("ada", &hash_password("correct horse")).await.unwrap();
    let app = f.app_with(true, quick_logins());
    let tries = (0..11).map(|i| {
        let app = app.clone();
        tokio::spawn(async move {
            login_from(&app, &format!("10.0.0.{i}"), "ada", "guess", None)
                .await
                .status
        })
    });
    let mut statuses = Vec::new();
    for t in tries {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429, 429, 429, 429]);
}

#[tokio::test]
async fn one_address_is_throttled_whatever_names_it_tries() {
    let f = fixture().await;
    let app = f.app_with(true, quick_logins());
    for i in 0..5 {
        assert_eq!(
            login_from(&app, "10.0.0.1", &format!("u{i}"), "x", None).await.status,
            401
        );
    }
    let r = login_from(&app, "10.0.0.1", "u99", "x", None).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.body.contains("too many failed logins"));
    let retry: u64 = r.headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
    assert_eq!(
        login_from(&app, "10.0.0.2", "u99", "x", None).await.status,
        401,
        "another address"
    );
}

#[tokio::test]
async fn strangers_cannot_lock_a_user_out() {
    let f = fixture().await;
    f.store.set_user("ada", &hash_password("correct horse")).await.unwrap();
    let app = f.app_with(true, quick_logins());
    // Ada logs in once from her browser, which is then known.
    let first = login_from(&app, "192.168.1.5", "ada", "correct horse", None).await;
    assert_eq!(first.status, 303);
    let device = first.set_cookie("updraft_device").unwrap();
    // Strangers on many addresses guess her password.
    for i in 0..30 {
        let _ = login_from(&app, &format!("10.9.0.{i}"), "ada", "guess", None).await;
    }
    assert_eq!(
        login_from(&app, "10.9.1.1", "ada", "correct horse", None).await.status,
        429,
        "slowed down"
    );
    // Her known browser is not slowed by them.
    let known = login_from(&app, "192.168.1.5", "ada", "correct horse", Some(&device)).await;
    assert_eq!(known.status, 303, "{}", known.body);
    // A new browser waits at most the user's cap (1 s here), not for ever.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = login_from(&app, "192.168.1.6", "ada", "correct horse", None).await;
        if r.status == 303 {
            break;
        }
        assert_eq!(r.status, 429);
        assert!(Instant::now() < deadline, "still locked out after 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A device cookie for another user does not help.
    let forged = login_from(&app, "10.9.2.1", "bob", "x", Some(&device)).await;
    assert_eq!(forged.status, 401);
}

#[tokio::test]
async fn a_new_password_ends_sessions_and_tokens_and_tokens_expire() {
    let f = fixture().await;
    f.store.set_user("ada", &hash_password("correct horse")).await.unwrap();
    let app = f.app(true);
    let session = post_form(&app, "/login", "username=ada&password=correct+horse")
        .await
        .set_cookie("updraft_session")
        .unwrap();
    let (live, stale) = (random_token(), random_token());
    let hour = jiff::SignedDuration::from_hours(1);
    f.store
        .add_api_token("ada", "live", &token_hash(&live), jiff::Timestamp::now() + hour)
        .await
        .unwrap();
    f.store
        .add_api_token("ada", "stale", &token_hash(&stale), jiff::Timestamp::now() - hour)
        .await
        .unwrap();
    let api = |token: &str| {
        Request::get("/api/v1/dags")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    let page = || {
        Request::get("/dags")
            .header(header::COOKIE, format!("updraft_session={session}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(send(&app, api(&live)).await.status, 200);
    assert_eq!(send(&app, api(&stale)).await.status, 401, "expired");
    assert_eq!(send(&app, page()).await.status, 200);
    f.store.set_user("ada", &hash_password("new horse!")).await.unwrap();
    assert_eq!(send(&app, api(&live)).await.status, 401, "token revoked");
    assert_eq!(send(&app, page()).await.status, 303, "session ended");
}

#[tokio::test]
async fn responses_carry_security_headers() {
    let f = fixture().await;
    let app = f.app(true);
    for uri in [
        "/dags",
        "/dags/etl",
        "/static/app.js",
        "/login",
        "/no/such/page",
        "/api/v1/dags",
    ] {
        let r = get(&app, uri).await;
        let h = |name: &str| r.headers.get(name).map(|v| v.to_str().unwrap().to_string());
        assert_eq!(h("x-frame-options").as_deref(), Some("DENY"), "{uri}");
        assert_eq!(h("x-content-type-options").as_deref(), Some("nosniff"), "{uri}");
        assert_eq!(h("referrer-policy").as_deref(), Some("same-origin"), "{uri}");
        let csp = h("content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{uri}: {csp}"
        );
    }
    // The pages need nothing the policy forbids: no inline script or style.
    let page = get(&app, "/dags/etl").await.body;
    assert!(!page.contains("<script>") && !page.contains("style=") && !page.contains("<style"));
}

#[tokio::test]
async fn api_errors_are_json_and_large_bodies_413() {
    let f = fixture().await;
    let app = f.app(true);
    // A CSRF failure on the API.
    let r = send(
        &app,
        Request::post("/api/v1/dags/etl/trigger")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(r.json()["error"].as_str().unwrap().contains("CSRF"), "{}", r.body);
    // A body the extractor refuses.
    let token = csrf_token(&app, None).await;
    let bad = |body: &'static str| {
        Request::post("/api/v1/dags/etl/pause")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::COOKIE, format!("updraft_csrf={token}"))
            .header("x-csrf-token", &token)
            .body(Body::from(body))
            .unwrap()
    };
    let r = send(&app, bad("{\"paused\": \"maybe\"}")).await;
    assert!(r.status == 400 || r.status == 422, "{}", r.status);
    assert!(r.json()["error"].is_string(), "{}", r.body);
    let r = send(&app, bad("not json")).await;
    assert!(r.json()["error"].is_string(), "{}", r.body);
    // Too large: 413, for forms and the API, with or without a token.
    let big = "x".repeat(2 << 20);
    let r = send(
        &app,
        form_request("/dags/etl/trigger", &format!("conf={big}"), &token, None),
    )
    .await;
    assert_eq!(r.status, 413);
    let api_token = random_token();
    f.store.set_user("ada", &hash_password("correct horse")).await.unwrap();
    f.store
        .add_api_token(
            "ada",
            "ci",
            &token_hash(&api_token),
            jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1),
        )
        .await
        .unwrap();
    let r = send(
        &app,
        Request::post("/api/v1/dags/etl/trigger")
            .header(header::AUTHORIZATION, format!("Bearer {api_token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(format!("{{\"conf\": {{\"x\": \"{big}\"}}}}")))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 413);
    assert!(r.json()["error"].is_string(), "{}", r.body);
}

#[tokio::test]
async fn live_log_streams_are_capped_per_client() {
    let f = fixture().await;
    let app = f.app_with(
        true,
        WebLimits {
            sse_per_client: 3,
            ..Default::default()
        },
    );
    assert_eq!(
        post_form(&app, "/dags/etl/trigger", "logical_date=2024-11-05")
            .await
            .status,
        303
    );
    let run_id = f.store.list_runs("etl", 1).await.unwrap()[0].run_id.clone();
    let uri = format!("/dags/etl/runs/{}/tasks/extract/logs/stream", enc(&run_id));
    let open = |addr: &str| {
        let mut req = from(addr, Request::get(&uri).body(Body::empty()).unwrap());
        req.headers_mut().insert(header::HOST, "127.0.0.1".parse().unwrap());
        tower::ServiceExt::oneshot(app.clone(), req)
    };
    let mut held = Vec::new();
    for _ in 0..3 {
        let r = open("10.0.0.1").await.unwrap();
        assert_eq!(r.status(), 200);
        held.push(r);
    }
    assert_eq!(
        open("10.0.0.1").await.unwrap().status(),
        429,
        "a fourth from one client"
    );
    assert_eq!(open("10.0.0.2").await.unwrap().status(), 200, "another client");
    held.pop();
    assert_eq!(open("10.0.0.1").await.unwrap().status(), 200, "a place was freed");
}
