//! Google credentials for the Google APIs (GCS, BigQuery): the
//! connection's key (`keyfile_dict` / `key_path`), else Application
//! Default Credentials in Google's documented order:
//! `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's
//! `application_default_credentials.json`, then the metadata server. A
//! service account signs its own token request (RS256 with ring); an
//! authorized user (`gcloud auth application-default login`) refreshes its
//! token. Impersonation, as Airflow's `impersonation_chain` and gcloud's
//! `--impersonate-service-account` ADC files give it: the credentials above
//! ask the IAM Credentials API for a token of the last service account of
//! the chain (`generateAccessToken`, the others as delegates). Tokens are
//! cached until a minute before they expire.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use updraft_operator_api::connection::{GcpAuth, GcpConnection};

use crate::{IoError, http};

/// Read and write objects.
pub const STORAGE_SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_write";
/// Every Google Cloud API (BigQuery jobs read GCS with the caller's rights).
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const IAM_CREDENTIALS: &str = "https://iamcredentials.googleapis.com";
const METADATA_TOKEN: &str =
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token";

/// Bearer tokens for one connection and scope.
pub struct GoogleAuth {
    auth: Auth,
    scope: &'static str,
}

impl GoogleAuth {
    /// `anonymous`: with no key in the connection, send no credentials
    /// (a local emulator, as Google's client libraries do with one).
    pub fn new(conn: &GcpConnection, scope: &'static str, anonymous: bool) -> Result<GoogleAuth, IoError> {
        let auth = match &conn.auth {
            GcpAuth::KeyfileDict(k) => token(from_key(k)?),
            GcpAuth::KeyPath(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| cred_err(format!("reading {}: {e}", p.display())))?;
                let k: Value =
                    serde_json::from_str(&text).map_err(|e| cred_err(format!("{}: not JSON: {e}", p.display())))?;
                token(from_key(&k)?)
            }
            GcpAuth::ApplicationDefault if anonymous => Auth::Anonymous,
            GcpAuth::ApplicationDefault => token(application_default()?),
        };
        let auth = match auth {
            Auth::Token { source, .. } if !conn.impersonation_chain.is_empty() => {
                token(impersonate(*source, &conn.impersonation_chain, IAM_CREDENTIALS)?)
            }
            other => other,
        };
        Ok(GoogleAuth { auth, scope })
    }

    /// A token to send, or `None` for anonymous requests.
    pub async fn bearer(&self) -> Result<Option<String>, IoError> {
        let Auth::Token { source, cached } = &self.auth else {
            return Ok(None);
        };
        let mut cached = cached.lock().await;
        if let Some((t, until)) = &*cached
            && Instant::now() < *until
        {
            return Ok(Some(t.clone()));
        }
        let (t, ttl) = fetch_token(source, self.scope).await?;
        // Renewed a minute before it expires.
        *cached = Some((t.clone(), Instant::now() + ttl.saturating_sub(Duration::from_secs(60))));
        Ok(Some(t))
    }
}

enum Auth {
    Anonymous,
    Token {
        source: Box<TokenSource>,
        cached: Mutex<Option<(String, Instant)>>,
    },
}

enum TokenSource {
    ServiceAccount {
        email: String,
        key: ring::rsa::KeyPair,
        token_uri: String,
    },
    AuthorizedUser {
        client_id: String,
        client_secret: String,
        refresh_token: String,
        token_uri: String,
    },
    Metadata,
    /// `source`'s token buys one of the service account at `url`
    /// (`.../serviceAccounts/EMAIL:generateAccessToken`).
    Impersonated {
        source: Box<TokenSource>,
        url: String,
        delegates: Vec<String>,
    },
}

fn cred_err(what: impl std::fmt::Display) -> IoError {
    IoError::Credentials(what.to_string())
}

fn token(source: TokenSource) -> Auth {
    Auth::Token {
        source: Box::new(source),
        cached: Mutex::new(None),
    }
}

/// `source` acting as the last account of `chain`, through the ones
/// before it (each must let the previous one create its tokens).
fn impersonate(source: TokenSource, chain: &[String], iam_base: &str) -> Result<TokenSource, IoError> {
    let (target, via) = chain
        .split_last()
        .ok_or_else(|| cred_err("an empty impersonation chain"))?;
    let account = |email: &str| format!("projects/-/serviceAccounts/{email}");
    Ok(TokenSource::Impersonated {
        source: Box::new(source),
        url: format!(
            "{}/v1/{}:generateAccessToken",
            iam_base.trim_end_matches('/'),
            account(target)
        ),
        delegates: via.iter().map(|d| account(d)).collect(),
    })
}

/// A key file's contents: a service account, an authorized user, or
/// gcloud's impersonated service account (an authorized user or service
/// account key acting as another account).
fn from_key(k: &Value) -> Result<TokenSource, IoError> {
    let s = |f: &str| k.get(f).and_then(Value::as_str).map(str::to_string);
    let need = |f: &str| s(f).ok_or_else(|| cred_err(format!("the key has no `{f}`")));
    match s("type").as_deref() {
        Some("service_account") => {
            let pem = need("private_key")?;
            let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            let der = STANDARD
                .decode(b64.trim())
                .map_err(|_| cred_err("the service account's private_key is not a PEM key"))?;
            let key = ring::rsa::KeyPair::from_pkcs8(&der).map_err(|e| {
                cred_err(format!(
                    "the service account's private_key is not an RSA PKCS#8 key ({e})"
                ))
            })?;
            Ok(TokenSource::ServiceAccount {
                email: need("client_email")?,
                key,
                token_uri: s("token_uri").unwrap_or_else(|| "https://oauth2.googleapis.com/token".into()),
            })
        }
        Some("authorized_user") => Ok(TokenSource::AuthorizedUser {
            client_id: need("client_id")?,
            client_secret: need("client_secret")?,
            refresh_token: need("refresh_token")?,
            token_uri: s("token_uri").unwrap_or_else(|| "https://oauth2.googleapis.com/token".into()),
        }),
        Some("impersonated_service_account") => {
            let url = need("service_account_impersonation_url")?;
            let inner = k
                .get("source_credentials")
                .ok_or_else(|| cred_err("the key has no `source_credentials`"))?;
            let delegates = k
                .get("delegates")
                .and_then(Value::as_array)
                .map(|d| d.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default();
            Ok(TokenSource::Impersonated {
                source: Box::new(from_key(inner)?),
                url,
                delegates,
            })
        }
        Some(other) => Err(cred_err(format!(
            "key type `{other}` is not supported (service_account, authorized_user or impersonated_service_account)"
        ))),
        None => Err(cred_err("the key has no `type`")),
    }
}

/// Application Default Credentials, in Google's documented order.
fn application_default() -> Result<TokenSource, IoError> {
    let from_file = |path: std::path::PathBuf| -> Result<TokenSource, IoError> {
        let text = std::fs::read_to_string(&path).map_err(|e| cred_err(format!("reading {}: {e}", path.display())))?;
        let k: Value =
            serde_json::from_str(&text).map_err(|e| cred_err(format!("{}: not JSON: {e}", path.display())))?;
        from_key(&k).map_err(|e| cred_err(format!("{}: {e}", path.display())))
    };
    if let Some(p) = std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS").filter(|p| !p.is_empty()) {
        return from_file(p.into());
    }
    let gcloud = std::env::var_os("CLOUDSDK_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".config/gcloud")));
    if let Some(dir) = gcloud {
        let adc = dir.join("application_default_credentials.json");
        if adc.exists() {
            return from_file(adc);
        }
    }
    Ok(TokenSource::Metadata)
}

async fn fetch_token(source: &TokenSource, scope: &str) -> Result<(String, Duration), IoError> {
    let c = http::client();
    let resp = match source {
        TokenSource::ServiceAccount { email, key, token_uri } => {
            let now = jiff::Timestamp::now().as_second();
            let assertion = jwt(key, email, token_uri, scope, now)?;
            c.post(token_uri)
                .form(&[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("assertion", &assertion),
                ])
                .send()
                .await
        }
        TokenSource::AuthorizedUser {
            client_id,
            client_secret,
            refresh_token,
            token_uri,
        } => {
            c.post(token_uri)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", client_id),
                    ("client_secret", client_secret),
                    ("refresh_token", refresh_token),
                ])
                .send()
                .await
        }
        TokenSource::Metadata => {
            let host = std::env::var("GCE_METADATA_HOST").ok();
            let url = match host {
                Some(h) => METADATA_TOKEN.replace("metadata.google.internal", &h),
                None => METADATA_TOKEN.into(),
            };
            c.get(url).header("Metadata-Flavor", "Google").send().await
        }
        TokenSource::Impersonated { source, url, delegates } => {
            // The IAM Credentials API takes the cloud-platform scope.
            let (bearer, _) = Box::pin(fetch_token(source, CLOUD_PLATFORM_SCOPE)).await?;
            c.post(url)
                .bearer_auth(bearer)
                .json(&json!({"scope": [scope], "delegates": delegates, "lifetime": "3600s"}))
                .send()
                .await
        }
    };
    let what = match source {
        TokenSource::Metadata => "the metadata server (no key given and no application default credentials found)",
        TokenSource::Impersonated { .. } => "the IAM Credentials API (impersonation)",
        _ => "the token endpoint",
    };
    let resp = resp.map_err(|e| {
        cred_err(format!(
            "asking {what} for a token: {}",
            updraft_operator_api::chain("", &e).trim_start_matches(": ")
        ))
    })?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        // OAuth errors: {"error": "invalid_grant", "error_description": "..."};
        // Google API errors: {"error": {"code", "message", "status"}}.
        let why = match body.get("error") {
            Some(Value::Object(e)) => [e.get("status"), e.get("message")]
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(": "),
            _ => [
                body.get("error").and_then(Value::as_str),
                body.get("error_description").and_then(Value::as_str),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": "),
        };
        return Err(cred_err(format!("{what} refused a token: HTTP {status} {why}")));
    }
    if let TokenSource::Impersonated { .. } = source {
        // {"accessToken": "...", "expireTime": "2014-10-02T15:01:23Z"}
        let token = body
            .get("accessToken")
            .and_then(Value::as_str)
            .ok_or_else(|| cred_err(format!("{what} answered without an accessToken")))?;
        let ttl = body
            .get("expireTime")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map_or(3600, |t| {
                (t.as_second() - jiff::Timestamp::now().as_second()).max(0) as u64
            });
        return Ok((token.to_string(), Duration::from_secs(ttl)));
    }
    let token = body
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| cred_err(format!("{what} answered without an access_token")))?;
    let ttl = body.get("expires_in").and_then(Value::as_u64).unwrap_or(3600);
    Ok((token.to_string(), Duration::from_secs(ttl)))
}

/// The RS256-signed assertion of the OAuth 2.0 JWT bearer grant.
fn jwt(key: &ring::rsa::KeyPair, email: &str, aud: &str, scope: &str, now: i64) -> Result<String, IoError> {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = json!({"iss": email, "scope": scope, "aud": aud, "iat": now, "exp": now + 3600});
    let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut sig = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .map_err(|_| cred_err("signing the token request failed"))?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_unknown_type_are_named() {
        let e = from_key(&json!({"type": "external_account"}))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("`external_account` is not supported"), "{e}");
        let e = from_key(&json!({"type": "service_account", "client_email": "a@b", "private_key": "junk"}))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("private_key"), "{e}");
    }

    /// Against a local server that answers as Google's OAuth token
    /// endpoint (an authorized user's refresh) and the IAM Credentials
    /// API's `generateAccessToken` do, in their documented shapes.
    mod impersonation {
        use std::sync::{Arc, Mutex};

        use axum::extract::{Form, Path};
        use axum::http::{HeaderMap, StatusCode};
        use axum::routing::post;

        use super::*;

        #[derive(Default)]
        struct Seen {
            refreshes: usize,
            /// (target, Authorization, body) of each generateAccessToken.
            generated: Vec<(String, String, Value)>,
        }

        async fn server() -> (String, Arc<Mutex<Seen>>) {
            let seen = Arc::new(Mutex::new(Seen::default()));
            let (a, b) = (seen.clone(), seen.clone());
            let app = axum::Router::new()
                .route(
                    "/token",
                    post(move |Form(f): Form<std::collections::HashMap<String, String>>| async move {
                        assert_eq!(f["grant_type"], "refresh_token");
                        assert_eq!(f["refresh_token"], "r-token");
                        a.lock().unwrap().refreshes += 1;
                        axum::Json(json!({"access_token": "user-token", "expires_in": 3599, "token_type": "Bearer"}))
                    }),
                )
                .route(
                    "/v1/projects/-/serviceAccounts/{call}",
                    post(move |Path(call): Path<String>, h: HeaderMap, axum::Json(body): axum::Json<Value>| async move {
                        let target = call.strip_suffix(":generateAccessToken").unwrap().to_string();
                        let auth = h["authorization"].to_str().unwrap().to_string();
                        b.lock().unwrap().generated.push((target.clone(), auth, body));
                        if target.starts_with("denied") {
                            return (
                                StatusCode::FORBIDDEN,
                                axum::Json(json!({"error": {"code": 403,
                                    "message": "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
                                    "status": "PERMISSION_DENIED"}})),
                            );
                        }
                        let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
                        (
                            StatusCode::OK,
                            axum::Json(json!({"accessToken": format!("token-of-{target}"), "expireTime": expires.to_string()})),
                        )
                    }),
                );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            (base, seen)
        }

        fn user(base: &str) -> Value {
            json!({"type": "authorized_user", "client_id": "c", "client_secret": "s",
                   "refresh_token": "r-token", "token_uri": format!("{base}/token")})
        }

        #[tokio::test]
        async fn a_chain_acts_as_its_last_account_through_the_others() {
            let (base, seen) = server().await;
            let chain = [
                "first@p.iam.gserviceaccount.com".to_string(),
                "etl@p.iam.gserviceaccount.com".to_string(),
            ];
            let auth = GoogleAuth {
                auth: token(impersonate(from_key(&user(&base)).unwrap(), &chain, &base).unwrap()),
                scope: STORAGE_SCOPE,
            };
            assert_eq!(
                auth.bearer().await.unwrap().as_deref(),
                Some("token-of-etl@p.iam.gserviceaccount.com")
            );
            // Cached: no second exchange.
            auth.bearer().await.unwrap();
            let seen = seen.lock().unwrap();
            assert_eq!(seen.refreshes, 1);
            assert_eq!(seen.generated.len(), 1);
            let (target, bearer, body) = &seen.generated[0];
            assert_eq!(target, "etl@p.iam.gserviceaccount.com");
            assert_eq!(
                bearer, "Bearer user-token",
                "the source credentials' token buys the new one"
            );
            assert_eq!(
                body,
                &json!({"scope": [STORAGE_SCOPE],
                        "delegates": ["projects/-/serviceAccounts/first@p.iam.gserviceaccount.com"],
                        "lifetime": "3600s"})
            );
        }

        #[tokio::test]
        async fn gclouds_impersonated_adc_file_is_read_and_refusals_are_googles_words() {
            let (base, seen) = server().await;
            // `gcloud auth application-default login --impersonate-service-account ...`
            let adc = |who: &str| {
                json!({"type": "impersonated_service_account", "delegates": [],
                       "service_account_impersonation_url":
                           format!("{base}/v1/projects/-/serviceAccounts/{who}:generateAccessToken"),
                       "source_credentials": user(&base)})
            };
            let ok = GoogleAuth {
                auth: token(from_key(&adc("ml@p.iam.gserviceaccount.com")).unwrap()),
                scope: CLOUD_PLATFORM_SCOPE,
            };
            assert_eq!(
                ok.bearer().await.unwrap().as_deref(),
                Some("token-of-ml@p.iam.gserviceaccount.com")
            );
            assert_eq!(
                seen.lock().unwrap().generated[0].2["scope"],
                json!([CLOUD_PLATFORM_SCOPE])
            );

            let denied = GoogleAuth {
                auth: token(from_key(&adc("denied@p.iam.gserviceaccount.com")).unwrap()),
                scope: STORAGE_SCOPE,
            };
            let e = denied.bearer().await.unwrap_err().to_string();
            assert!(
                e.contains("IAM Credentials API (impersonation) refused a token: HTTP 403"),
                "{e}"
            );
            assert!(
                e.contains("PERMISSION_DENIED: Permission 'iam.serviceAccounts.getAccessToken' denied"),
                "{e}"
            );
            assert!(
                !e.contains("user-token") && !e.contains("r-token"),
                "no secret in the error: {e}"
            );
        }

        #[test]
        fn an_impersonated_key_without_its_source_is_named() {
            let e = from_key(&json!({"type": "impersonated_service_account",
                                     "service_account_impersonation_url": "http://x"}))
            .err()
            .unwrap()
            .to_string();
            assert!(e.contains("`source_credentials`"), "{e}");
        }
    }
}
