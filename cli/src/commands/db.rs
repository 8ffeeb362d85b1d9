//! `updraft db migrate`.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use updraft_engine::store::{Store, redact};

use crate::settings::Settings;
use crate::store::runtime;

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create or upgrade the schema (standalone does this on start).
    Migrate,
}

pub fn run(cmd: DbCommand, settings: &Settings) -> Result<ExitCode> {
    match cmd {
        DbCommand::Migrate => runtime()?.block_on(async {
            let store = Store::connect(&settings.database_url).await?;
            let n = store.migrate().await?;
            crate::outln!("{}: {n} migration(s) applied", redact(&settings.database_url));
            Ok(ExitCode::SUCCESS)
        }),
    }
}
