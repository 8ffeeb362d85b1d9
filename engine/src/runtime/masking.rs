//! Secrets never reach logs: connection passwords and the values of
//! secret-looking variables are replaced by `***`.

use std::collections::BTreeMap;

use crate::connection::Connection;

/// Names of variables whose values are secrets (Airflow's list).
const SENSITIVE: &[&str] = &[
    "access_token",
    "api_key",
    "apikey",
    "authorization",
    "passphrase",
    "passwd",
    "password",
    "private_key",
    "secret",
    "token",
    "keyfile_dict",
    "service_account",
    "key",
];

/// Whether a variable or field name marks a secret.
pub fn is_sensitive_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SENSITIVE.iter().any(|s| lower.contains(s))
}

/// Replaces known secret values in text.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    secrets: Vec<String>,
}

impl Masker {
    pub fn new(connections: &BTreeMap<String, Connection>, variables: &BTreeMap<String, String>) -> Self {
        let mut secrets: Vec<String> = Vec::new();
        for c in connections.values() {
            secrets.extend(c.password.iter().cloned());
            for (k, v) in c.extra_json() {
                if let (true, Some(s)) = (is_sensitive_name(&k), v.as_str()) {
                    secrets.push(s.to_string());
                }
            }
        }
        for (k, v) in variables {
            if is_sensitive_name(k) {
                secrets.push(v.clone());
            }
        }
        // Very short values would mask ordinary text; longest first so a
        // secret containing another is masked whole.
        secrets.retain(|s| s.chars().count() >= 4);
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Masker { secrets }
    }

    /// Masks every string inside a JSON value (task outputs are shown in
    /// the CLI and UI, so they are stored masked).
    pub fn mask_json(&self, v: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::String(s) => Value::String(self.mask(&s)),
            Value::Array(a) => Value::Array(a.into_iter().map(|x| self.mask_json(x)).collect()),
            Value::Object(o) => Value::Object(o.into_iter().map(|(k, x)| (k, self.mask_json(x))).collect()),
            other => other,
        }
    }

    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_passwords_and_secret_variables() {
        let mut conns = BTreeMap::new();
        conns.insert(
            "pg".to_string(),
            Connection {
                password: Some("hunter22".into()),
                extra: Some(serde_json::json!({"api_key": "k-123456", "region": "eu"})),
                ..Default::default()
            },
        );
        let mut vars = BTreeMap::new();
        vars.insert("slack_token".to_string(), "xoxb-abcdef".to_string());
        vars.insert("region".to_string(), "europe-west1".to_string());
        let m = Masker::new(&conns, &vars);
        assert_eq!(
            m.mask("pw=hunter22 key=k-123456 tok=xoxb-abcdef region=europe-west1"),
            "pw=*** key=*** tok=*** region=europe-west1"
        );
        assert!(is_sensitive_name("DB_PASSWORD"));
        assert!(!is_sensitive_name("bucket"));
    }
}
