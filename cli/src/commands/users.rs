//! `updraft users ...`: who may log in to the web UI, and API tokens.

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;
use updraft_engine::store::{Role, Store};
use updraft_web::auth::{hash_password, random_token, token_hash};

use crate::output::{print_table, utc};
use crate::settings::Settings;
use crate::store::{open, runtime};

/// A token's life when `--expires-in-days` is not given.
const DEFAULT_TOKEN_DAYS: u32 = 90;
/// The longest life a token may be given.
const MAX_TOKEN_DAYS: u32 = 3650;

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user, or set a new password for an existing one (which ends
    /// all their sessions and revokes all their API tokens). The password is
    /// read from the first line of standard input
    /// (`echo "$PW" | updraft users create ada --role op`), never from the
    /// command line.
    Create {
        username: String,
        /// viewer (reads), op (also triggers, pauses, backfills, clears and
        /// marks) or admin (also connections and variables). Needed for a
        /// new user unless it is the first (an admin); an existing user
        /// keeps theirs unless given.
        #[arg(long, value_parser = parse_role)]
        role: Option<Role>,
    },
    /// Give a user another role (viewer, op or admin); their sessions and
    /// tokens act with it from their next request.
    SetRole {
        username: String,
        #[arg(value_parser = parse_role)]
        role: Role,
    },
    /// A user's API tokens: list, create, revoke.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Same as `users tokens create`.
    #[command(hide = true)]
    Token {
        username: String,
        #[arg(long, default_value = "api")]
        name: String,
        #[arg(long, default_value_t = DEFAULT_TOKEN_DAYS, value_parser = clap::value_parser!(u32).range(1..=MAX_TOKEN_DAYS as i64))]
        expires_in_days: u32,
    },
    /// List users, their roles and how many API tokens each has.
    List,
    /// Delete a user, with their tokens and sessions.
    Delete { username: String },
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// A user's tokens: id, name, created, expires (never the token).
    List { username: String },
    /// Create an API token (`Authorization: Bearer TOKEN`). It is printed
    /// once; only its hash is stored.
    Create {
        username: String,
        /// A label to recognise the token by.
        #[arg(long, default_value = "api")]
        name: String,
        /// Days until the token stops working (1 to 3650).
        #[arg(long, default_value_t = DEFAULT_TOKEN_DAYS, value_parser = clap::value_parser!(u32).range(1..=MAX_TOKEN_DAYS as i64))]
        expires_in_days: u32,
    },
    /// Revoke a user's token by its id (as listed) or its name (every token
    /// of that name).
    Revoke { username: String, token: String },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

async fn known(store: &Store, username: &str) -> Result<()> {
    if store.user_password_hash(username).await?.is_none() {
        bail!("no user `{username}` (see `updraft users list`)");
    }
    Ok(())
}

async fn create_token(store: &Store, username: &str, name: &str, days: u32) -> Result<()> {
    known(store, username).await?;
    let token = random_token();
    let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(i64::from(days) * 24);
    store
        .add_api_token(username, name, &token_hash(&token), expires)
        .await?;
    eprintln!(
        "API token `{name}` for {username}, valid until {}; it is shown only now:",
        utc(expires)
    );
    crate::outln!("{token}");
    Ok(())
}

async fn tokens(store: &Store, cmd: TokensCommand) -> Result<()> {
    match cmd {
        TokensCommand::List { username } => {
            known(store, &username).await?;
            let now = jiff::Timestamp::now();
            let rows: Vec<Vec<String>> = store
                .list_tokens(&username)
                .await?
                .into_iter()
                .map(|t| {
                    let state = if t.expires_at > now { "valid" } else { "expired" };
                    vec![t.id, t.name, utc(t.created_at), utc(t.expires_at), state.into()]
                })
                .collect();
            print_table(&["ID", "NAME", "CREATED", "EXPIRES", "STATE"], &rows);
        }
        TokensCommand::Create {
            username,
            name,
            expires_in_days,
        } => create_token(store, &username, &name, expires_in_days).await?,
        TokensCommand::Revoke { username, token } => {
            known(store, &username).await?;
            match store.revoke_token(&username, &token).await? {
                0 => bail!(
                    "{username} has no token with id or name `{token}` (see `updraft users tokens list {username}`)"
                ),
                n => crate::outln!("revoked {n} token(s) of {username}"),
            }
        }
    }
    Ok(())
}

pub fn run(cmd: UsersCommand, settings: &Settings) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let store = open(settings).await?;
        match cmd {
            UsersCommand::Create { username, role } => {
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
                let existed = store.user_password_hash(&username).await?.is_some();
                let role = match role {
                    Some(r) => Some(r),
                    None if existed => None,
                    None if store.count_users().await? == 0 => Some(Role::Admin),
                    None => bail!(
                        "a new user needs a role: --role viewer, op or admin (only the first user is an admin by default)"
                    ),
                };
                store.save_user(&username, &hash_password(password), role).await?;
                let role = store.user_role(&username).await?.unwrap_or(Role::Admin);
                if existed {
                    crate::outln!(
                        "password of {username} ({role}) changed; their sessions and API tokens are revoked"
                    );
                } else {
                    crate::outln!("user {username} saved with the {role} role");
                }
            }
            UsersCommand::Tokens(cmd) => tokens(&store, cmd).await?,
            UsersCommand::Token {
                username,
                name,
                expires_in_days,
            } => create_token(&store, &username, &name, expires_in_days).await?,
            UsersCommand::List => {
                let rows: Vec<Vec<String>> = store
                    .list_users()
                    .await?
                    .into_iter()
                    .map(|u| vec![u.username, u.role.to_string(), utc(u.created_at), u.tokens.to_string()])
                    .collect();
                print_table(&["USER", "ROLE", "CREATED", "TOKENS"], &rows);
            }
            UsersCommand::SetRole { username, role } => {
                if !store.set_role(&username, role).await? {
                    bail!("no user `{username}` (see `updraft users list`)");
                }
                crate::outln!("{username} now has the {role} role");
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
