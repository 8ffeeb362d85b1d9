//! Opening the state store the way every command does: the one place that
//! applies `UPDRAFT_SECRET_KEY`, so every command and process reads and
//! writes connections and variables alike.

use anyhow::{Context, Result};
use updraft_engine::store::{Store, redact};

use crate::settings::Settings;

/// Connects to the configured store, brings its schema up to date and
/// applies the secret key (refused if it is not the store's key).
pub async fn open(settings: &Settings) -> Result<Store> {
    open_url(settings, &settings.database_url).await
}

/// [`open`] for another store (the private one of `dags test`).
pub async fn open_url(settings: &Settings, url: &str) -> Result<Store> {
    let store = Store::connect(url)
        .await
        .with_context(|| format!("opening the state store {}", redact(url)))?;
    store
        .migrate()
        .await
        .with_context(|| format!("migrating the state store {}", redact(url)))?;
    match &settings.secret_key {
        Some(key) => Ok(store.with_secret_key(key).await?),
        None => Ok(store),
    }
}

/// For processes that run tasks: every stored connection and variable must
/// be readable with the key given (or its absence) before a task is
/// claimed, so a missing key is one clear error at start, not a failure of
/// every task. Warns about secrets still stored in clear.
pub async fn check_secrets(store: &Store, settings: &Settings) -> Result<()> {
    let (connections, variables) = tokio::try_join!(store.connections(), store.variables())?;
    let counts = store.secret_counts().await?;
    if settings.secret_key.is_some() && counts.stale > 0 {
        tracing::warn!(
            stale = counts.stale,
            "some connections or variables are stored in clear or in an older format: \
             run `updraft secrets encrypt` to seal them under UPDRAFT_SECRET_KEY"
        );
    }
    tracing::debug!(
        connections = connections.len(),
        variables = variables.len(),
        "secrets readable"
    );
    Ok(())
}

/// A tokio runtime for commands that talk to the store or run tasks.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}
