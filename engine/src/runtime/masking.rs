//! Secrets never reach logs, pages or the API: connection passwords, the
//! values under secret-looking keys of a connection's `extra` (nested ones
//! too, such as a GCP `keyfile_dict` given as an object) and the values of
//! secret-looking variables are replaced by `***` wherever they appear.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::connection::Connection;

/// Names whose values are secrets (Airflow's list, and a few more).
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
    "credential",
];

/// Inside a secret object (a service account key file), the fields that are
/// identifiers and addresses, not secrets: masking them everywhere would
/// hide a project id or an e-mail address in every log line.
const PUBLIC_IN_SECRET: &[&str] = &[
    "type",
    "project_id",
    "client_email",
    "client_id",
    "auth_uri",
    "token_uri",
    "auth_provider_x509_cert_url",
    "client_x509_cert_url",
    "universe_domain",
    "quota_project_id",
];

/// Whether a variable or field name marks a secret.
pub fn is_sensitive_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SENSITIVE.iter().any(|s| lower.contains(s))
}

/// Values under secret-looking keys, at any depth, become `***` (objects and
/// lists whole): for what is shown but not known to be a secret, such as a
/// run's conf or a task's rendered fields.
pub fn hide_sensitive_keys(v: Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, x)| {
                    if is_sensitive_name(&k) && !x.is_null() {
                        (k, Value::String("***".into()))
                    } else {
                        (k, hide_sensitive_keys(x))
                    }
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(hide_sensitive_keys).collect()),
        other => other,
    }
}

/// Every string inside `v`, a secret as a whole (objects also as JSON
/// text, as a template would print them), except identifiers of a key file.
fn secret_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            out.push(s.clone());
            // A secret given as JSON text (a key file pasted into `extra`).
            if let Ok(inner @ (Value::Object(_) | Value::Array(_))) = serde_json::from_str::<Value>(s) {
                secret_strings(&inner, out);
            }
        }
        Value::Array(a) => {
            out.push(v.to_string());
            a.iter().for_each(|x| secret_strings(x, out));
        }
        Value::Object(o) => {
            out.push(v.to_string());
            for (k, x) in o {
                if !PUBLIC_IN_SECRET.contains(&k.as_str()) {
                    secret_strings(x, out);
                }
            }
        }
        Value::Number(_) | Value::Bool(_) | Value::Null => {}
    }
}

/// The strings of `extra` under secret-looking keys, at any depth.
fn extra_secrets(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if is_sensitive_name(k) {
                    secret_strings(x, out);
                } else {
                    extra_secrets(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| extra_secrets(x, out)),
        _ => {}
    }
}

/// Replaces known secret values in text.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    secrets: Vec<String>,
}

impl Masker {
    pub fn new(connections: &BTreeMap<String, Connection>, variables: &BTreeMap<String, String>) -> Self {
        let mut found: Vec<String> = Vec::new();
        for c in connections.values() {
            found.extend(c.password.iter().cloned());
            extra_secrets(&Value::Object(c.extra_json()), &mut found);
        }
        for (k, v) in variables {
            if is_sensitive_name(k) {
                found.push(v.clone());
                if let Ok(inner @ (Value::Object(_) | Value::Array(_))) = serde_json::from_str::<Value>(v) {
                    secret_strings(&inner, &mut found);
                }
            }
        }
        let mut secrets = Vec::with_capacity(found.len());
        for s in found {
            // As it appears inside JSON text (a private key's newlines as \n).
            if let Ok(quoted) = serde_json::to_string(&s) {
                let escaped = &quoted[1..quoted.len() - 1];
                if escaped != s {
                    secrets.push(escaped.to_string());
                }
            }
            // Log lines are masked one by one: a multi-line secret (a PEM
            // key) printed whole reaches the log a line at a time.
            if s.contains('\n') {
                secrets.extend(
                    s.lines()
                        .map(str::trim)
                        .filter(|l| l.len() >= 8 && !l.starts_with("-----"))
                        .map(str::to_string),
                );
            }
            secrets.push(s);
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
    pub fn mask_json(&self, v: Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.mask(&s)),
            Value::Array(a) => Value::Array(a.into_iter().map(|x| self.mask_json(x)).collect()),
            Value::Object(o) => Value::Object(o.into_iter().map(|(k, x)| (k, self.mask_json(x))).collect()),
            other => other,
        }
    }

    /// What may be shown of a value a user gave (a run's conf, rendered
    /// fields): known secrets masked, and values under secret-looking keys
    /// hidden.
    pub fn redact_json(&self, v: Value) -> Value {
        hide_sensitive_keys(self.mask_json(v))
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
    use serde_json::json;

    #[test]
    fn masks_passwords_and_secret_variables() {
        let mut conns = BTreeMap::new();
        conns.insert(
            "pg".to_string(),
            Connection {
                password: Some("hunter22".into()),
                extra: Some(json!({"api_key": "k-123456", "region": "eu"})),
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

    /// A GCP key file given as an object in `extra`: its private key is
    /// masked whole, line by line and as JSON text; its identifiers are not.
    #[test]
    fn masks_nested_key_files_in_extra() {
        let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n";
        let mut conns = BTreeMap::new();
        conns.insert(
            "gcp".to_string(),
            Connection {
                extra: Some(json!({
                    "project": "acme-data",
                    "keyfile_dict": {"type": "service_account", "project_id": "acme-data",
                        "private_key_id": "0123456789abcdef", "private_key": pem,
                        "client_email": "etl@acme-data.iam.gserviceaccount.com"},
                    "nested": {"auth": {"refresh_token": "1//refresh-xyz"}}
                })),
                ..Default::default()
            },
        );
        let m = Masker::new(&conns, &BTreeMap::new());
        let printed = format!("key {pem} id 0123456789abcdef");
        let masked = m.mask(&printed);
        assert!(!masked.contains("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), "{masked}");
        assert!(!masked.contains("0123456789abcdef"), "{masked}");
        assert_eq!(m.mask("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), "***", "one line of the key");
        let as_json = serde_json::to_string(pem).unwrap();
        assert!(!m.mask(&as_json).contains("BKcwggSjAgEAAoIBAQC7"));
        assert_eq!(m.mask("token 1//refresh-xyz"), "token ***");
        assert_eq!(
            m.mask("project acme-data as etl@acme-data.iam.gserviceaccount.com"),
            "project acme-data as etl@acme-data.iam.gserviceaccount.com"
        );
    }

    #[test]
    fn hides_values_under_secret_looking_keys_at_any_depth() {
        let conf = json!({"name": "x", "db_password": "p1", "nested": {"api_token": {"a": 1}},
            "list": [{"secret": ["s"]}], "empty_key": null});
        let shown = Masker::default().redact_json(conf);
        assert_eq!(
            shown,
            json!({"name": "x", "db_password": "***", "nested": {"api_token": "***"},
                "list": [{"secret": "***"}], "empty_key": null})
        );
    }
}
