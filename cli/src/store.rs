//! Opening the state store the way every command does.

use anyhow::{Context, Result};
use updraft_engine::store::{Store, redact};

use crate::settings::Settings;

/// Connects to the configured store and brings its schema up to date.
pub async fn open(settings: &Settings) -> Result<Store> {
    let url = &settings.database_url;
    let store = Store::connect(url)
        .await
        .with_context(|| format!("opening the state store {}", redact(url)))?;
    store
        .migrate()
        .await
        .with_context(|| format!("migrating the state store {}", redact(url)))?;
    Ok(store)
}

/// A tokio runtime for commands that talk to the store or run tasks.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}
