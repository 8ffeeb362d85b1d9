//! Connections and variables, and their encryption at rest.

use super::*;

pub async fn connections_and_variables(store: &Store) {
    let c = Connection {
        conn_type: Some("postgres".into()),
        host: Some("db".into()),
        login: Some("u".into()),
        password: Some("p@ss".into()),
        port: Some(5432),
        schema: Some("public".into()),
        extra: Some(serde_json::json!({"sslmode": "require"})),
    };
    store.set_connection("postgres-source", &c).await.unwrap();
    let all = store.connections().await.unwrap();
    let got = &all["postgres-source"];
    assert_eq!(
        (got.host.as_deref(), got.port, got.password.as_deref()),
        (Some("db"), Some(5432), Some("p@ss"))
    );
    assert_eq!(got.extra_json()["sslmode"], "require");
    store
        .set_connection(
            "postgres-source",
            &Connection {
                host: Some("db2".into()),
                ..Connection::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.connections().await.unwrap()["postgres-source"].host.as_deref(),
        Some("db2")
    );
    assert!(store.delete_connection("postgres-source").await.unwrap());
    assert!(!store.delete_connection("postgres-source").await.unwrap());
    store.set_variable("gcs", r#"{"landing": "l"}"#).await.unwrap();
    store.set_variable("gcs", r#"{"landing": "m"}"#).await.unwrap();
    assert_eq!(store.variables().await.unwrap()["gcs"], r#"{"landing": "m"}"#);
    assert!(store.delete_variable("gcs").await.unwrap());
    assert!(store.variables().await.unwrap().is_empty());
}

/// With a secret key, passwords, extras and variable values are encrypted
/// at rest: not in the database file, unreadable without the key or with
/// another one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_encrypted_at_rest_with_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/enc.db", dir.path().display());
    let store = Store::connect(&url)
        .await
        .unwrap()
        .with_secret_key("correct horse battery staple");
    store.migrate().await.unwrap();
    let c = Connection {
        password: Some("pw-plain-7781".into()),
        extra: Some(serde_json::json!({"api_key": "extra-plain-7782"})),
        host: Some("db".into()),
        ..Connection::default()
    };
    store.set_connection("pg", &c).await.unwrap();
    store.set_variable("token", "var-plain-7783").await.unwrap();
    let back = store.connections().await.unwrap();
    assert_eq!(back["pg"].password.as_deref(), Some("pw-plain-7781"));
    assert_eq!(back["pg"].extra_json()["api_key"], "extra-plain-7782");
    assert_eq!(store.variables().await.unwrap()["token"], "var-plain-7783");
    store.close().await;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for secret in ["pw-plain-7781", "extra-plain-7782", "var-plain-7783"] {
            assert!(!text.contains(secret), "{secret} is stored in the clear");
        }
    }
    let no_key = Store::connect(&url).await.unwrap();
    let e = no_key.connections().await.unwrap_err().to_string();
    assert!(
        e.contains("connection `pg` is encrypted at rest; set UPDRAFT_SECRET_KEY"),
        "{e}"
    );
    let wrong = Store::connect(&url).await.unwrap().with_secret_key("wrong");
    let e = wrong.variables().await.unwrap_err().to_string();
    assert!(e.contains("variable `token` cannot be decrypted"), "{e}");
    assert!(!e.contains("var-plain"), "{e}");
}
