//! Shared by the engine's test crates.

use std::sync::atomic::{AtomicUsize, Ordering};

use updraft_engine::store::Store;

/// A migrated store on a fresh Postgres database (`UPDRAFT_TEST_POSTGRES_URL`,
/// an admin URL), or `None` (the test says it is skipped) without it; CI
/// must set it.
pub async fn fresh_postgres_store(prefix: &str) -> Option<Store> {
    let url = fresh_postgres_url(prefix).await?;
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    Some(store)
}

/// The URL of a fresh, empty Postgres database (see [`fresh_postgres_store`]).
pub async fn fresh_postgres_url(prefix: &str) -> Option<String> {
    let Ok(admin) = std::env::var("UPDRAFT_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must run the Postgres half: set UPDRAFT_TEST_POSTGRES_URL"
        );
        eprintln!("SKIPPED (Postgres): UPDRAFT_TEST_POSTGRES_URL is not set");
        return None;
    };
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!("{prefix}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
    let admin_store = Store::connect(&admin).await.unwrap();
    // Process ids come round again (pid_max is 32768 here): a database of
    // an earlier test process may bear this name.
    admin_store
        .exec_admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .unwrap();
    admin_store
        .exec_admin(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    admin_store.close().await;
    let base = admin.rsplit_once('/').unwrap().0;
    Some(format!("{base}/{name}"))
}
