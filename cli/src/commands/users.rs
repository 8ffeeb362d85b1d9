//! `updraft users ...`: who may log in to the web UI, and API tokens.

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;
use updraft_web::auth::{hash_password, random_token, token_hash};

use crate::output::{print_table, utc};
use crate::settings::Settings;
use crate::store::{open, runtime};

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user, or set a new password for an existing one. The
    /// password is read from the first line of standard input
    /// (`echo "$PW" | updraft users create ada`), never from the command line.
    Create { username: String },
    /// Create an API token for a user (`Authorization: Bearer TOKEN`). It is
    /// printed once; only its hash is stored.
    Token {
        username: String,
        /// A label to recognise the token by.
        #[arg(long, default_value = "api")]
        name: String,
    },
    /// List users and how many API tokens each has.
    List,
    /// Delete a user, with their tokens and sessions.
    Delete { username: String },
}

pub fn run(cmd: UsersCommand, settings: &Settings) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let store = open(settings).await?;
        match cmd {
            UsersCommand::Create { username } => {
                if username.trim().is_empty() || username.len() > 64 || username.contains(char::is_whitespace) {
                    bail!("a user name is 1 to 64 characters without spaces");
                }
                eprintln!("password for {username} (one line on standard input):");
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                let password = line.trim_end_matches(['\r', '\n']);
                if password.chars().count() < 8 {
                    bail!("the password must have at least 8 characters");
                }
                store.set_user(&username, &hash_password(password)).await?;
                crate::outln!("user {username} saved");
            }
            UsersCommand::Token { username, name } => {
                if store.user_password_hash(&username).await?.is_none() {
                    bail!("no user `{username}` (see `updraft users list`)");
                }
                let token = random_token();
                store.add_api_token(&username, &name, &token_hash(&token)).await?;
                eprintln!("API token `{name}` for {username}; it is shown only now:");
                crate::outln!("{token}");
            }
            UsersCommand::List => {
                let rows: Vec<Vec<String>> = store
                    .list_users()
                    .await?
                    .into_iter()
                    .map(|u| vec![u.username, utc(u.created_at), u.tokens.to_string()])
                    .collect();
                print_table(&["USER", "CREATED", "TOKENS"], &rows);
            }
            UsersCommand::Delete { username } => {
                if !store.delete_user(&username).await? {
                    bail!("no user `{username}`");
                }
                crate::outln!("user {username} deleted");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
