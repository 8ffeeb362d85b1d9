//! Airflow's `google_cloud_platform` connection: in `extra`, `keyfile_dict`
//! (a service account key, as an object or JSON text), `key_path` (a key
//! file), `project`, `scope`, `impersonation_chain`, under their plain
//! names or Airflow's older `extra__google_cloud_platform__` spelling. An
//! empty connection (the first user's `google-cloud-default`) means
//! Application Default Credentials.

use serde_json::Value;

use super::{Connection, ConnectionError};

const FAMILY: &str = "google_cloud_platform";

#[derive(Clone, PartialEq)]
pub enum GcpAuth {
    /// `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's application default
    /// credentials file, then the metadata server.
    ApplicationDefault,
    /// A key file's contents (a service account or an authorized user).
    KeyfileDict(Value),
    KeyPath(std::path::PathBuf),
}

impl std::fmt::Debug for GcpAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GcpAuth::ApplicationDefault => f.write_str("ApplicationDefault"),
            GcpAuth::KeyfileDict(_) => f.write_str("KeyfileDict(***)"),
            GcpAuth::KeyPath(p) => write!(f, "KeyPath({})", p.display()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct GcpConnection {
    pub auth: GcpAuth,
    pub project: Option<String>,
    pub scopes: Vec<String>,
    /// Service accounts to impersonate, in order (the last one acts).
    pub impersonation_chain: Vec<String>,
    /// Another storage endpoint (an emulator, a private endpoint); not an
    /// Airflow field.
    pub endpoint_url: Option<String>,
}

impl GcpConnection {
    pub fn application_default() -> Self {
        GcpConnection {
            auth: GcpAuth::ApplicationDefault,
            project: None,
            scopes: Vec::new(),
            impersonation_chain: Vec::new(),
            endpoint_url: None,
        }
    }

    pub fn from_connection(id: &str, c: &Connection) -> Result<Self, ConnectionError> {
        c.expect_type(id, &[FAMILY, "gcp", "google_cloud", "gcpbigquery", "gcpcloudsql"])?;
        let extra = c.extra_json();
        let raw = |k: &str| extra.get(k).or_else(|| extra.get(&format!("extra__{FAMILY}__{k}")));
        let get = |k: &str| Connection::extra_str(&extra, FAMILY, k);
        let invalid = |problem: String| ConnectionError::Invalid { id: id.into(), problem };
        let auth = match (raw("keyfile_dict"), get("key_path")) {
            (Some(_), Some(_)) => return Err(invalid("has both keyfile_dict and key_path: keep one".into())),
            (Some(Value::Object(o)), None) => GcpAuth::KeyfileDict(Value::Object(o.clone())),
            (Some(Value::String(s)), None) if s.trim().is_empty() => GcpAuth::ApplicationDefault,
            (Some(Value::String(s)), None) => match serde_json::from_str::<Value>(s) {
                Ok(v @ Value::Object(_)) => GcpAuth::KeyfileDict(v),
                _ => return Err(invalid("keyfile_dict is not a JSON object".into())),
            },
            (Some(Value::Null), None) | (None, None) => GcpAuth::ApplicationDefault,
            (Some(_), None) => return Err(invalid("keyfile_dict is not a JSON object".into())),
            (None, Some(p)) => GcpAuth::KeyPath(p.into()),
        };
        if let GcpAuth::KeyfileDict(k) = &auth
            && k.get("type").and_then(Value::as_str).is_none()
        {
            return Err(invalid(
                "keyfile_dict has no `type` (service_account or authorized_user)".into(),
            ));
        }
        let list = |k: &str| -> Vec<String> {
            match raw(k) {
                Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
                Some(Value::String(s)) => s
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
                _ => Vec::new(),
            }
        };
        let project = get("project").or_else(|| match &auth {
            GcpAuth::KeyfileDict(k) => k.get("project_id").and_then(Value::as_str).map(str::to_string),
            _ => None,
        });
        Ok(GcpConnection {
            auth,
            project,
            scopes: list("scope"),
            impersonation_chain: list("impersonation_chain"),
            endpoint_url: get("endpoint_url"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_means_adc_and_keyfiles_are_read_in_both_spellings() {
        let empty = Connection {
            conn_type: Some(FAMILY.into()),
            extra: Some(json!("")),
            ..Default::default()
        };
        assert_eq!(
            GcpConnection::from_connection("g", &empty).unwrap(),
            GcpConnection::application_default()
        );
        let key = json!({"type": "service_account", "project_id": "acme", "private_key": "K"});
        let as_object = Connection {
            conn_type: Some(FAMILY.into()),
            extra: Some(json!({"keyfile_dict": key.clone(), "scope": "a, b"})),
            ..Default::default()
        };
        let g = GcpConnection::from_connection("g", &as_object).unwrap();
        assert_eq!(g.auth, GcpAuth::KeyfileDict(key.clone()));
        assert_eq!(g.project.as_deref(), Some("acme"));
        assert_eq!(g.scopes, ["a", "b"]);
        assert!(!format!("{g:?}").contains("private_key"));
        let old = Connection {
            conn_type: Some(FAMILY.into()),
            extra: Some(json!({"extra__google_cloud_platform__keyfile_dict": key.to_string(),
                "extra__google_cloud_platform__project": "other"})),
            ..Default::default()
        };
        let g = GcpConnection::from_connection("g", &old).unwrap();
        assert_eq!(
            (g.auth, g.project.as_deref()),
            (GcpAuth::KeyfileDict(key), Some("other"))
        );
        let broken = Connection {
            extra: Some(json!({"keyfile_dict": "{not json"})),
            ..Default::default()
        };
        let e = GcpConnection::from_connection("g", &broken).unwrap_err().to_string();
        assert_eq!(e, "connection `g`: keyfile_dict is not a JSON object");
    }

    #[test]
    fn the_seeds_connections_file_spells_the_type_with_dashes() {
        // `google-cloud-default` exactly as the first user's Airflow
        // connections.json has it.
        let seed: Connection = serde_json::from_value(json!({
            "conn_type": "google-cloud-platform", "description": null, "login": null,
            "password": null, "host": null, "port": null, "schema": null, "extra": null
        }))
        .unwrap();
        assert_eq!(
            GcpConnection::from_connection("google-cloud-default", &seed).unwrap(),
            GcpConnection::application_default()
        );
        let http = Connection {
            conn_type: Some("http".into()),
            ..Default::default()
        };
        let e = GcpConnection::from_connection("web", &http).unwrap_err().to_string();
        assert!(
            e.starts_with("connection `web` is of type `http`, not `google_cloud_platform`"),
            "{e}"
        );
    }
}
