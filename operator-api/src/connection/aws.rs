//! Airflow's `aws` connection: keys in login/password (or the older
//! `aws_access_key_id`/`aws_secret_access_key` extras), and in `extra`
//! `aws_session_token`, `region_name`, `endpoint_url` (also per service:
//! `service_config.s3.endpoint_url`), `profile_name`, `role_arn`, and the
//! S3 addressing style (`config_kwargs.s3.addressing_style` or
//! `s3.addressing_style`). An empty or absent connection means the
//! standard credential chain (environment, profile files, web identity,
//! instance metadata).

use serde_json::{Map, Value};

use super::{Connection, ConnectionError};

/// Where credentials come from.
#[derive(Clone, PartialEq, Eq)]
pub enum AwsAuth {
    /// The standard chain, as the AWS CLI and boto3 resolve it.
    DefaultChain,
    /// A named profile of `~/.aws/config` / `credentials`.
    Profile(String),
    Static {
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
    },
}

impl std::fmt::Debug for AwsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AwsAuth::DefaultChain => f.write_str("DefaultChain"),
            AwsAuth::Profile(p) => write!(f, "Profile({p})"),
            AwsAuth::Static { access_key_id, .. } => write!(f, "Static({access_key_id}, ***)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsConnection {
    pub auth: AwsAuth,
    pub region: Option<String>,
    /// For S3: an S3-compatible store or a local stand-in.
    pub endpoint_url: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), as most S3-compatible
    /// stores need.
    pub force_path_style: bool,
    /// A role to assume with the credentials above.
    pub role_arn: Option<String>,
}

impl AwsConnection {
    /// The standard chain, no region or endpoint set.
    pub fn default_chain() -> Self {
        AwsConnection {
            auth: AwsAuth::DefaultChain,
            region: None,
            endpoint_url: None,
            force_path_style: false,
            role_arn: None,
        }
    }

    pub fn from_connection(id: &str, c: &Connection) -> Result<Self, ConnectionError> {
        c.expect_type(id, &["aws", "s3", "emr", "amazon_web_services"])?;
        let extra = c.extra_json();
        let get = |k: &str| Connection::extra_str(&extra, "aws", k);
        let key = c
            .login
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| get("aws_access_key_id"));
        let secret = c
            .password
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| get("aws_secret_access_key"));
        let auth = match (key, secret) {
            (Some(access_key_id), Some(secret_access_key)) => AwsAuth::Static {
                access_key_id,
                secret_access_key,
                session_token: get("aws_session_token"),
            },
            (Some(_), None) | (None, Some(_)) => {
                return Err(ConnectionError::Invalid {
                    id: id.into(),
                    problem: "has an access key id or a secret access key but not both".into(),
                });
            }
            (None, None) => match get("profile_name").or_else(|| get("profile")) {
                Some(p) => AwsAuth::Profile(p),
                None => AwsAuth::DefaultChain,
            },
        };
        let s3 = |k: &str| -> Option<String> {
            let from = |path: &[&str]| -> Option<String> {
                let mut v: &Value = extra.get(path[0])?;
                for p in &path[1..] {
                    v = v.get(p)?;
                }
                v.as_str().map(str::to_string)
            };
            from(&["service_config", "s3", k])
                .or_else(|| from(&["config_kwargs", "s3", k]))
                .or_else(|| from(&["s3", k]))
        };
        let endpoint_url = s3("endpoint_url")
            .or_else(|| get("endpoint_url"))
            .or_else(|| get("host"))
            .or_else(|| c.host.clone().filter(|h| h.contains("://")));
        let path_style = s3("addressing_style")
            .map(|s| s == "path")
            .or_else(|| bool_extra(&extra, "force_path_style"));
        Ok(AwsConnection {
            auth,
            region: get("region_name").or_else(|| get("region")),
            // A custom endpoint is nearly always an S3-compatible store,
            // which wants path style unless told otherwise.
            force_path_style: path_style.unwrap_or(endpoint_url.is_some()),
            endpoint_url,
            role_arn: get("role_arn"),
        })
    }
}

fn bool_extra(extra: &Map<String, Value>, k: &str) -> Option<bool> {
    match extra.get(k)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => Some(matches!(s.to_ascii_lowercase().as_str(), "true" | "1" | "yes")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_airflow_shapes() {
        let c = Connection {
            conn_type: Some("aws".into()),
            login: Some("AKIA1".into()),
            password: Some("sekrit".into()),
            extra: Some(json!({"region_name": "eu-west-1", "endpoint_url": "http://127.0.0.1:9000"})),
            ..Default::default()
        };
        let a = AwsConnection::from_connection("aws-default", &c).unwrap();
        assert!(matches!(&a.auth, AwsAuth::Static { access_key_id, .. } if access_key_id == "AKIA1"));
        assert_eq!(a.region.as_deref(), Some("eu-west-1"));
        assert!(a.force_path_style);
        assert!(!format!("{a:?}").contains("sekrit"));

        let legacy = Connection {
            conn_type: Some("aws".into()),
            extra: Some(json!(
                "{\"aws_access_key_id\": \"K\", \"aws_secret_access_key\": \"S\", \"aws_session_token\": \"T\", \"config_kwargs\": {\"s3\": {\"addressing_style\": \"virtual\"}}, \"service_config\": {\"s3\": {\"endpoint_url\": \"http://minio:9000\"}}}"
            )),
            ..Default::default()
        };
        let a = AwsConnection::from_connection("x", &legacy).unwrap();
        assert!(matches!(&a.auth, AwsAuth::Static { session_token: Some(t), .. } if t == "T"));
        assert_eq!(a.endpoint_url.as_deref(), Some("http://minio:9000"));
        assert!(!a.force_path_style, "virtual addressing asked for");

        let empty = Connection {
            conn_type: Some("aws".into()),
            ..Default::default()
        };
        assert_eq!(
            AwsConnection::from_connection("x", &empty).unwrap(),
            AwsConnection::default_chain()
        );
        let half = Connection {
            login: Some("K".into()),
            ..Default::default()
        };
        let e = AwsConnection::from_connection("x", &half).unwrap_err().to_string();
        assert!(e.contains("not both"), "{e}");
    }
}
