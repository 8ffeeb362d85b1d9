//! `updraft secrets ...`: the key that seals connections and variables at
//! rest (`UPDRAFT_SECRET_KEY`).

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;

use crate::settings::Settings;
use crate::store::{open, runtime};

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// How many connections and variables are sealed, and how many are
    /// stored in clear (or in an older format).
    Status,
    /// Seal, under UPDRAFT_SECRET_KEY, every connection and variable
    /// written before a key was set (or in an older format), in one
    /// transaction.
    Encrypt,
    /// Re-seal everything under a new key, in one transaction: run with
    /// the current key in UPDRAFT_SECRET_KEY and the new one in
    /// UPDRAFT_NEW_SECRET_KEY, then restart every process with the new key.
    RotateKey {
        /// The new key; prefer the environment variable (a flag's value is
        /// visible to other users in the process list).
        #[arg(long, env = "UPDRAFT_NEW_SECRET_KEY", hide_env_values = true, value_name = "KEY")]
        new_key: String,
    },
}

pub fn run(cmd: SecretsCommand, settings: &Settings) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let store = open(settings).await?;
        match cmd {
            SecretsCommand::Status => {
                let c = store.secret_counts().await?;
                crate::outln!(
                    "key: {}\nsealed: {}\nin clear or older format: {}",
                    if settings.secret_key.is_some() {
                        "set"
                    } else {
                        "not set"
                    },
                    c.sealed,
                    c.stale
                );
            }
            SecretsCommand::Encrypt => {
                if settings.secret_key.is_none() {
                    bail!("set UPDRAFT_SECRET_KEY to the key to encrypt with");
                }
                let done = store.encrypt_secrets().await?;
                crate::outln!(
                    "sealed {} connection(s) and {} variable(s)",
                    done.connections,
                    done.variables
                );
            }
            SecretsCommand::RotateKey { new_key } => {
                if new_key.trim().is_empty() {
                    bail!("the new key is empty");
                }
                if settings.secret_key.as_deref() == Some(new_key.as_str()) {
                    bail!("the new key is the current key");
                }
                let done = store.rotate_secret_key(&new_key).await?;
                crate::outln!(
                    "re-sealed {} connection(s) and {} variable(s) under the new key: \
                     restart every Updraft process with it as UPDRAFT_SECRET_KEY",
                    done.connections,
                    done.variables
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
