//! Google's token exchange cannot run here for real, so this follows the
//! documented HTTP exchange against a local server: a service account's
//! key signs an RS256 JWT (the OAuth 2.0 JWT bearer grant, RFC 7523) that
//! the token endpoint verifies with the key's public half, and the token
//! it returns is what authorizes the JSON API request for the object. An
//! authorized user's refresh token is exchanged the same way. The key is
//! made for the test with `openssl genpkey`.

use std::sync::{Arc, Mutex};

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::io::AsyncReadExt;
use updraft_io::{IoError, Location, Stores};
use updraft_operator_api::connection::{AwsConnection, GcpAuth, GcpConnection};

#[derive(Default)]
struct Seen {
    grants: Vec<String>,
    bearer: Vec<String>,
}

#[derive(Clone)]
struct Server {
    public_key: Arc<Vec<u8>>,
    seen: Arc<Mutex<Seen>>,
}

async fn token(
    State(s): State<Server>,
    Form(f): Form<std::collections::HashMap<String, String>>,
) -> (StatusCode, String) {
    let grant = f.get("grant_type").cloned().unwrap_or_default();
    s.seen.lock().unwrap().grants.push(grant.clone());
    let ok = match grant.as_str() {
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => {
            let jwt = f.get("assertion").cloned().unwrap_or_default();
            let parts: Vec<&str> = jwt.split('.').collect();
            let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
            let signed = format!("{}.{}", parts[0], parts[1]);
            let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
            let key =
                ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, &*s.public_key);
            key.verify(signed.as_bytes(), &sig).is_ok()
                && claims["iss"] == "etl@acme.iam.gserviceaccount.com"
                && claims["scope"].as_str().unwrap().contains("devstorage")
        }
        "refresh_token" => {
            f.get("refresh_token").map(String::as_str) == Some("1//refresh") && f.contains_key("client_secret")
        }
        _ => false,
    };
    if ok {
        (
            StatusCode::OK,
            r#"{"access_token": "ya29.local-token", "expires_in": 3599, "token_type": "Bearer"}"#.into(),
        )
    } else {
        (
            StatusCode::BAD_REQUEST,
            r#"{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}"#.into(),
        )
    }
}

async fn object(State(s): State<Server>, headers: HeaderMap) -> (StatusCode, String) {
    let auth = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    s.seen.lock().unwrap().bearer.push(auth.clone());
    if auth == "Bearer ya29.local-token" {
        (StatusCode::OK, "object body".into())
    } else {
        (
            StatusCode::UNAUTHORIZED,
            r#"{"error": {"code": 401, "message": "Invalid Credentials"}}"#.into(),
        )
    }
}

/// A PKCS#8 RSA key (PEM) and its public half (PKCS#1 DER, what ring verifies with).
fn test_key() -> Option<(String, Vec<u8>)> {
    let out = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
        .output()
        .ok()?;
    let pem = String::from_utf8(out.stdout).ok()?;
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let pair = ring::rsa::KeyPair::from_pkcs8(&der).ok()?;
    use ring::signature::KeyPair;
    Some((pem, pair.public_key().as_ref().to_vec()))
}

async fn serve(public_key: Vec<u8>) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let state = Server {
        public_key: Arc::new(public_key),
        seen: seen.clone(),
    };
    let app = axum::Router::new()
        .route("/token", post(token))
        .route("/storage/v1/b/{bucket}/o/{object}", get(object))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

async fn read(stores: &Stores) -> Result<String, IoError> {
    let loc: Location = "gs://bkt/data/x.csv".parse().unwrap();
    let mut r = stores.reader(&loc).await?;
    let mut s = String::new();
    r.read_to_string(&mut s).await.unwrap();
    Ok(s)
}

fn stores(url: &str, key: serde_json::Value) -> Stores {
    Stores::new(
        AwsConnection::default_chain(),
        GcpConnection {
            auth: GcpAuth::KeyfileDict(key),
            endpoint_url: Some(url.into()),
            ..GcpConnection::application_default()
        },
    )
}

#[tokio::test]
async fn a_service_account_signs_its_token_request_and_the_token_authorizes() {
    let Some((pem, public)) = test_key() else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must run this test: openssl is needed to make a key"
        );
        eprintln!("SKIPPED: openssl could not make an RSA key");
        return;
    };
    let (url, seen) = serve(public).await;
    let key = serde_json::json!({"type": "service_account", "client_email": "etl@acme.iam.gserviceaccount.com",
        "private_key": pem, "token_uri": format!("{url}/token"), "project_id": "acme"});
    let s = stores(&url, key);
    assert_eq!(read(&s).await.unwrap(), "object body");
    assert_eq!(read(&s).await.unwrap(), "object body");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.grants.len(), 1, "the token is cached: {:?}", seen.grants);
    assert_eq!(seen.bearer, ["Bearer ya29.local-token", "Bearer ya29.local-token"]);
}

#[tokio::test]
async fn an_authorized_user_refreshes_and_a_refused_grant_is_a_credentials_error() {
    let (url, _seen) = serve(Vec::new()).await;
    let user = serde_json::json!({"type": "authorized_user", "client_id": "cid", "client_secret": "cs",
        "refresh_token": "1//refresh", "token_uri": format!("{url}/token")});
    assert_eq!(read(&stores(&url, user)).await.unwrap(), "object body");
    let revoked = serde_json::json!({"type": "authorized_user", "client_id": "cid", "client_secret": "cs",
        "refresh_token": "1//revoked", "token_uri": format!("{url}/token")});
    let e = read(&stores(&url, revoked)).await.unwrap_err();
    assert!(matches!(e, IoError::Credentials(_)), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("invalid_grant") && msg.contains("400"), "{msg}");
    assert!(
        !msg.contains("1//revoked") && !msg.contains("\"cs\""),
        "no secret in the message: {msg}"
    );
}
