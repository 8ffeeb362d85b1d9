//! Connections, in Airflow's own shape so existing `connections.json` files
//! import unchanged, and the typed views operators read them through: one
//! per family of systems, each reading Airflow's field and `extra` names.

mod aws;
mod gcp;
mod http;
mod postgres;

use serde::{Deserialize, Serialize};

pub use aws::{AwsAuth, AwsConnection};
pub use gcp::{GcpAuth, GcpConnection};
pub use http::{HttpAuth, HttpConnection};
pub use postgres::PostgresConnection;

/// A named set of credentials and coordinates for an external system.
/// `Debug` never shows the password or `extra`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    #[serde(default)]
    pub conn_type: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub login: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub schema: Option<String>,
    /// Airflow keeps `extra` as a JSON string; an object is accepted too.
    #[serde(default)]
    pub extra: Option<serde_json::Value>,
}

impl Connection {
    /// `extra` as a JSON object (parsed from a string when needed); empty when
    /// absent or unparsable.
    pub fn extra_json(&self) -> serde_json::Map<String, serde_json::Value> {
        match &self.extra {
            Some(serde_json::Value::Object(m)) => m.clone(),
            Some(serde_json::Value::String(s)) => match serde_json::from_str(s) {
                Ok(serde_json::Value::Object(m)) => m,
                _ => serde_json::Map::new(),
            },
            _ => serde_json::Map::new(),
        }
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("conn_type", &self.conn_type)
            .field("host", &self.host)
            .field("login", &self.login)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("port", &self.port)
            .field("schema", &self.schema)
            .field("extra", &self.extra.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Why a connection cannot be read as the view an operator asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    #[error("connection `{0}` does not exist (add it with `updraft connections set` or `import`)")]
    Missing(String),
    #[error("connection `{id}` is of type `{found}`, not {expected}")]
    WrongType {
        id: String,
        found: String,
        expected: String,
    },
    #[error("connection `{id}`: {problem}")]
    Invalid { id: String, problem: String },
}

impl Connection {
    /// Checks `conn_type` against the accepted names (a connection without
    /// a type is accepted by every view). Case and `-` for `_` do not
    /// matter: Airflow's connections files write `google-cloud-platform` as
    /// often as `google_cloud_platform` (its URI parser turns one into the
    /// other, and its hooks never look).
    pub(crate) fn expect_type(&self, id: &str, accepted: &[&str]) -> Result<(), ConnectionError> {
        let normal = |t: &str| t.to_ascii_lowercase().replace('-', "_");
        match self.conn_type.as_deref().map(normal) {
            Some(t) if !t.is_empty() && !accepted.contains(&t.as_str()) => Err(ConnectionError::WrongType {
                id: id.into(),
                found: t,
                expected: accepted
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(" or "),
            }),
            _ => Ok(()),
        }
    }

    /// An `extra` field as text, under its plain name or Airflow's older
    /// `extra__<type>__<name>` spelling.
    pub(crate) fn extra_str(
        extra: &serde_json::Map<String, serde_json::Value>,
        family: &str,
        name: &str,
    ) -> Option<String> {
        let v = extra
            .get(name)
            .or_else(|| extra.get(&format!("extra__{family}__{name}")))?;
        match v {
            serde_json::Value::String(s) if s.trim().is_empty() => None,
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        }
    }
}
