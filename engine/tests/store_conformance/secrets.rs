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

/// The same secrets tests on both backends: each opens the store at `url`
/// several times, with and without keys, and reads the raw rows.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sealed_sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let dir = tempfile::tempdir().unwrap();
                super::$name(&format!("sqlite://{}/enc.db", dir.path().display())).await;
            })*
        }
        mod sealed_postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(url) = crate::common::fresh_postgres_url("updraft_sec").await {
                    super::$name(&url).await;
                }
            })*
        }
    };
}

on_both_backends!(
    secrets_are_sealed_at_rest_with_a_key,
    a_sealed_value_opens_only_in_its_own_row,
    encrypt_seals_what_was_written_in_clear,
    rotate_key_reseals_everything_under_the_new_key,
);

async fn open(url: &str, key: Option<&str>) -> Result<Store, updraft_engine::store::StoreError> {
    let store = Store::connect(url).await?;
    store.migrate().await?;
    match key {
        Some(k) => store.with_secret_key(k).await,
        None => Ok(store),
    }
}

/// The secret columns as the database holds them: (table, id, value, encrypted).
async fn raw_rows(url: &str) -> Vec<(String, String, Option<String>, i64)> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let mut out = Vec::new();
    for sql in [
        "SELECT 'connections.password', conn_id, password, encrypted FROM connections",
        "SELECT 'connections.extra', conn_id, extra, encrypted FROM connections",
        "SELECT 'variables.value', key, value, encrypted FROM variables",
    ] {
        use sqlx::Row;
        for r in sqlx::query(sql).fetch_all(&pool).await.unwrap() {
            out.push((r.get(0), r.get(1), r.get(2), r.get(3)));
        }
    }
    pool.close().await;
    out
}

async fn set_raw(url: &str, sql: &'static str, a: &str, b: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::query(sql).bind(a).bind(b).execute(&pool).await.unwrap();
    pool.close().await;
}

fn pg_connection(password: &str, api_key: &str) -> Connection {
    Connection {
        conn_type: Some("postgres".into()),
        password: Some(password.into()),
        extra: Some(serde_json::json!({"api_key": api_key, "sslmode": "require"})),
        host: Some("db".into()),
        ..Connection::default()
    }
}

/// With a key, nothing secret is in the rows; without the key the secrets
/// cannot be read or written in clear; a wrong key is refused at open.
async fn secrets_are_sealed_at_rest_with_a_key(url: &str) {
    let store = open(url, Some("correct horse battery staple")).await.unwrap();
    store
        .set_connection("pg", &pg_connection("pw-plain-7781", "extra-plain-7782"))
        .await
        .unwrap();
    store.set_variable("token", "var-plain-7783").await.unwrap();
    let back = store.connections().await.unwrap();
    assert_eq!(back["pg"].password.as_deref(), Some("pw-plain-7781"));
    assert_eq!(back["pg"].extra_json()["api_key"], "extra-plain-7782");
    assert_eq!(store.variables().await.unwrap()["token"], "var-plain-7783");
    store.close().await;

    let rows = raw_rows(url).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    for (column, id, value, encrypted) in &rows {
        let value = value.as_deref().unwrap();
        assert_eq!(*encrypted, 1, "{column} of {id}");
        assert!(value.starts_with("v2:"), "{column} of {id}: {value}");
        for secret in ["pw-plain-7781", "extra-plain-7782", "var-plain-7783", "sslmode"] {
            assert!(!value.contains(secret), "{column} of {id} holds {secret} in clear");
        }
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        let dir = std::path::Path::new(path).parent().unwrap();
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = String::from_utf8_lossy(&std::fs::read(entry.unwrap().path()).unwrap()).into_owned();
            for secret in ["pw-plain-7781", "extra-plain-7782", "var-plain-7783"] {
                assert!(!text.contains(secret), "{secret} is in the database file");
            }
        }
    }

    let no_key = open(url, None).await.unwrap();
    let e = no_key.connections().await.unwrap_err().to_string();
    assert!(
        e.contains("connection `pg` is encrypted at rest; set UPDRAFT_SECRET_KEY"),
        "{e}"
    );
    let e = no_key.set_variable("other", "in clear").await.unwrap_err().to_string();
    assert!(e.contains("set UPDRAFT_SECRET_KEY"), "{e}");
    no_key.close().await;
    assert!(
        raw_rows(url).await.iter().all(|r| r.1 != "other"),
        "nothing written in clear"
    );

    let e = open(url, Some("wrong")).await.unwrap_err().to_string();
    assert!(e.contains("UPDRAFT_SECRET_KEY is not the key"), "{e}");
    assert!(!e.contains("correct horse"), "{e}");
}

/// Each value is bound to its table, row and field: moved elsewhere it no
/// longer opens.
async fn a_sealed_value_opens_only_in_its_own_row(url: &str) {
    let store = open(url, Some("k-1")).await.unwrap();
    store
        .set_connection("a", &pg_connection("pw-a", "key-a"))
        .await
        .unwrap();
    store
        .set_connection("b", &pg_connection("pw-b", "key-b"))
        .await
        .unwrap();
    store.close().await;
    let a_password = raw_rows(url)
        .await
        .into_iter()
        .find(|r| r.0 == "connections.password" && r.1 == "a")
        .and_then(|r| r.2)
        .unwrap();
    set_raw(
        url,
        "UPDATE connections SET password = $1 WHERE conn_id = $2",
        &a_password,
        "b",
    )
    .await;
    let store = open(url, Some("k-1")).await.unwrap();
    let e = store.connections().await.unwrap_err().to_string();
    assert!(e.contains("connection `b` cannot be decrypted"), "{e}");
    assert!(!e.contains("pw-a"), "{e}");
}

/// Rows written before the store had a key are sealed by `secrets
/// encrypt`, in one go, and count as sealed afterwards.
async fn encrypt_seals_what_was_written_in_clear(url: &str) {
    let plain = open(url, None).await.unwrap();
    plain
        .set_connection("pg", &pg_connection("pw-old-1", "key-old-1"))
        .await
        .unwrap();
    plain.set_variable("api_token", "var-old-1").await.unwrap();
    plain.close().await;
    assert!(raw_rows(url).await.iter().any(|r| r.2.as_deref() == Some("pw-old-1")));

    let keyed = open(url, Some("new key")).await.unwrap();
    assert_eq!(keyed.secret_counts().await.unwrap().stale, 2);
    let done = keyed.encrypt_secrets().await.unwrap();
    assert_eq!((done.connections, done.variables), (1, 1));
    let c = keyed.secret_counts().await.unwrap();
    assert_eq!((c.sealed, c.stale), (2, 0));
    assert_eq!(keyed.variables().await.unwrap()["api_token"], "var-old-1");
    assert_eq!(
        keyed.encrypt_secrets().await.unwrap(),
        Default::default(),
        "nothing left"
    );
    keyed.close().await;
    for (column, id, value, encrypted) in raw_rows(url).await {
        let value = value.unwrap();
        assert_eq!(encrypted, 1, "{column} of {id}");
        assert!(
            value.starts_with("v2:") && !value.contains("old-1"),
            "{column} of {id}: {value}"
        );
    }
}

/// After a rotation the old key is refused, the new one reads every
/// secret, and every stored value changed.
async fn rotate_key_reseals_everything_under_the_new_key(url: &str) {
    let store = open(url, Some("old key")).await.unwrap();
    store
        .set_connection("pg", &pg_connection("pw-rot-1", "key-rot-1"))
        .await
        .unwrap();
    store.set_variable("v", "var-rot-1").await.unwrap();
    store.close().await;
    let before = raw_rows(url).await;

    let no_key = open(url, None).await.unwrap();
    let e = no_key.rotate_secret_key("new key").await.unwrap_err().to_string();
    assert!(e.contains("set UPDRAFT_SECRET_KEY to the current key"), "{e}");
    no_key.close().await;

    let store = open(url, Some("old key")).await.unwrap();
    let done = store.rotate_secret_key("new key").await.unwrap();
    assert_eq!((done.connections, done.variables), (1, 1));
    store.close().await;

    let e = open(url, Some("old key")).await.unwrap_err().to_string();
    assert!(e.contains("not the key"), "{e}");
    let store = open(url, Some("new key")).await.unwrap();
    assert_eq!(
        store.connections().await.unwrap()["pg"].password.as_deref(),
        Some("pw-rot-1")
    );
    assert_eq!(store.variables().await.unwrap()["v"], "var-rot-1");
    store.close().await;
    let after = raw_rows(url).await;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!((&b.0, &b.1), (&a.0, &a.1));
        assert_ne!(b.2, a.2, "{} of {} was not re-sealed", a.0, a.1);
    }
}
