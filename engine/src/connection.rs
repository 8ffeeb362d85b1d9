//! Connections, in Airflow's own shape so existing `connections.json` files
//! import unchanged.

use serde::{Deserialize, Serialize};

/// A named set of credentials and coordinates for an external system.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
