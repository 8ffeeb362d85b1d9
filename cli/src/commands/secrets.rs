//! `updraft connections ...` and `updraft variables ...`: Airflow's JSON
//! formats import unchanged; secrets are masked in listings.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use serde_json::{Value, json};
use updraft_engine::connection::Connection;
use updraft_engine::connection_uri::parse_uri;
use updraft_engine::runtime::{hide_sensitive_keys, is_sensitive_name};

use crate::output::{Format, print_table};
use crate::settings::Settings;
use crate::store::{open, runtime};

#[derive(Debug, Subcommand)]
pub enum ConnectionsCommand {
    /// Import Airflow's connections JSON: {"conn_id": {"conn_type", "host",
    /// "login", "password", "port", "schema", "extra"}, ...}.
    Import {
        file: PathBuf,
    },
    /// List connections (passwords and secret extras masked).
    List {
        #[arg(long, value_enum, default_value_t)]
        output: Format,
    },
    /// Show one connection (secrets masked unless --reveal).
    Get {
        conn_id: String,
        #[arg(long)]
        reveal: bool,
    },
    /// Create or replace a connection from a URI
    /// (type://login:password@host:port/schema?extra_key=value).
    Set {
        conn_id: String,
        #[arg(long)]
        uri: String,
    },
    Delete {
        conn_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum VariablesCommand {
    /// Import Airflow's variables JSON: {"name": value, ...}; values that are
    /// not text are stored as JSON.
    Import {
        file: PathBuf,
    },
    /// List variables (secret-looking ones masked).
    List {
        #[arg(long, value_enum, default_value_t)]
        output: Format,
    },
    /// Print one variable's value (masked if secret-looking, unless --reveal).
    Get {
        name: String,
        #[arg(long)]
        reveal: bool,
    },
    Set {
        name: String,
        value: String,
    },
    Delete {
        name: String,
    },
}

/// Reads Airflow's connection export, tolerating its variations (port as
/// text, empty strings for unset fields, extra as text or object).
fn connections_from_json(text: &str) -> Result<BTreeMap<String, Connection>> {
    let v: Value = serde_json::from_str(text).context("not valid JSON")?;
    let Value::Object(map) = v else {
        bail!("expected a JSON object of connection ids to connections")
    };
    let mut out = BTreeMap::new();
    for (id, c) in map {
        let Value::Object(f) = c else {
            bail!("connection `{id}`: expected an object")
        };
        let text = |k: &str| -> Option<String> {
            match f.get(k) {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                _ => None,
            }
        };
        let port = match f.get("port") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(
                n.as_u64()
                    .and_then(|p| u16::try_from(p).ok())
                    .with_context(|| format!("connection `{id}`: bad port {n}"))?,
            ),
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(
                s.parse()
                    .with_context(|| format!("connection `{id}`: bad port {s:?}"))?,
            ),
            Some(other) => bail!("connection `{id}`: bad port {other}"),
        };
        let extra = match f.get("extra") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => {
                serde_json::from_str::<Value>(s).with_context(|| format!("connection `{id}`: extra is not JSON"))?;
                Some(Value::String(s.clone()))
            }
            Some(Value::Object(o)) => Some(Value::Object(o.clone())),
            Some(other) => bail!("connection `{id}`: extra must be JSON text or an object, found {other}"),
        };
        out.insert(
            id,
            Connection {
                conn_type: text("conn_type"),
                host: text("host"),
                login: text("login"),
                password: text("password"),
                port,
                schema: text("schema"),
                extra,
            },
        );
    }
    Ok(out)
}

fn masked(c: &Connection) -> Value {
    let extra = hide_sensitive_keys(Value::Object(c.extra_json()));
    json!({
        "conn_type": c.conn_type, "host": c.host, "login": c.login,
        "password": c.password.as_ref().map(|_| "***"), "port": c.port, "schema": c.schema, "extra": extra,
    })
}

fn revealed(c: &Connection) -> Value {
    json!({
        "conn_type": c.conn_type, "host": c.host, "login": c.login,
        "password": c.password, "port": c.port, "schema": c.schema, "extra": c.extra_json(),
    })
}

pub fn connections(cmd: ConnectionsCommand, settings: &Settings) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let store = open(settings).await?;
        match cmd {
            ConnectionsCommand::Import { file } => {
                let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
                let conns = connections_from_json(&text).with_context(|| format!("{}", file.display()))?;
                for (id, c) in &conns {
                    store.set_connection(id, c).await?;
                }
                crate::outln!("imported {} connection(s)", conns.len());
            }
            ConnectionsCommand::List { output } => {
                let all = store.connections().await?;
                match output {
                    Format::Json => {
                        let m: serde_json::Map<String, Value> =
                            all.iter().map(|(k, c)| (k.clone(), masked(c))).collect();
                        crate::outln!("{}", Value::Object(m));
                    }
                    Format::Table => {
                        let opt = |o: &Option<String>| o.clone().unwrap_or_default();
                        let rows: Vec<Vec<String>> = all
                            .iter()
                            .map(|(id, c)| {
                                vec![
                                    id.clone(),
                                    opt(&c.conn_type),
                                    opt(&c.host),
                                    c.port.map(|p| p.to_string()).unwrap_or_default(),
                                    opt(&c.schema),
                                    opt(&c.login),
                                    c.password.as_ref().map(|_| "***".to_string()).unwrap_or_default(),
                                ]
                            })
                            .collect();
                        print_table(
                            &["CONN_ID", "TYPE", "HOST", "PORT", "SCHEMA", "LOGIN", "PASSWORD"],
                            &rows,
                        );
                    }
                }
            }
            ConnectionsCommand::Get { conn_id, reveal } => {
                let all = store.connections().await?;
                let c = all
                    .get(&conn_id)
                    .with_context(|| format!("no connection `{conn_id}`"))?;
                crate::outln!("{}", if reveal { revealed(c) } else { masked(c) });
            }
            ConnectionsCommand::Set { conn_id, uri } => {
                // parse_uri's errors never repeat the URI, which may hold a password.
                let c = parse_uri(&uri).map_err(|e| anyhow::anyhow!("--uri: {e}"))?;
                store.set_connection(&conn_id, &c).await?;
                crate::outln!("{conn_id}: saved");
            }
            ConnectionsCommand::Delete { conn_id } => {
                if !store.delete_connection(&conn_id).await? {
                    bail!("no connection `{conn_id}`");
                }
                crate::outln!("{conn_id}: deleted");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn show_value(name: &str, value: &str, reveal: bool) -> String {
    if !reveal && is_sensitive_name(name) {
        "***".into()
    } else {
        value.to_string()
    }
}

pub fn variables(cmd: VariablesCommand, settings: &Settings) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let store = open(settings).await?;
        match cmd {
            VariablesCommand::Import { file } => {
                let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
                let v: Value =
                    serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", file.display()))?;
                let Value::Object(map) = v else {
                    bail!("{}: expected a JSON object of names to values", file.display())
                };
                for (k, v) in &map {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    store.set_variable(k, &text).await?;
                }
                crate::outln!("imported {} variable(s)", map.len());
            }
            VariablesCommand::List { output } => {
                let all = store.variables().await?;
                match output {
                    Format::Json => {
                        let m: serde_json::Map<String, Value> = all
                            .iter()
                            .map(|(k, v)| (k.clone(), json!(show_value(k, v, false))))
                            .collect();
                        crate::outln!("{}", Value::Object(m));
                    }
                    Format::Table => {
                        let rows: Vec<Vec<String>> = all
                            .iter()
                            .map(|(k, v)| vec![k.clone(), show_value(k, v, false)])
                            .collect();
                        print_table(&["KEY", "VALUE"], &rows);
                    }
                }
            }
            VariablesCommand::Get { name, reveal } => {
                let all = store.variables().await?;
                let v = all.get(&name).with_context(|| format!("no variable `{name}`"))?;
                crate::outln!("{}", show_value(&name, v, reveal));
            }
            VariablesCommand::Set { name, value } => {
                store.set_variable(&name, &value).await?;
                crate::outln!("{name}: saved");
            }
            VariablesCommand::Delete { name } => {
                if !store.delete_variable(&name).await? {
                    bail!("no variable `{name}`");
                }
                crate::outln!("{name}: deleted");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_airflow_connection_exports() {
        let text = r#"{
            "postgres-source": {"conn_type": "postgres", "description": "", "host": "db", "login": "u", "password": "p", "port": "5432", "schema": "s", "extra": ""},
            "google-cloud-default": {"conn_type": "google_cloud_platform", "host": "", "login": null, "port": null, "extra": "{\"project\": \"x\"}"}
        }"#;
        let c = connections_from_json(text).unwrap();
        assert_eq!(c["postgres-source"].port, Some(5432));
        assert_eq!(c["postgres-source"].extra, None);
        assert_eq!(c["google-cloud-default"].host, None);
        assert_eq!(c["google-cloud-default"].extra_json()["project"], "x");
        assert!(
            connections_from_json(r#"{"a": {"port": "x"}}"#)
                .unwrap_err()
                .to_string()
                .contains("bad port")
        );
        assert!(connections_from_json("[1]").is_err());
    }
}
