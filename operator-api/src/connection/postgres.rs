//! Airflow's `postgres` connection: host, port, login, password, and the
//! database in `schema` (Airflow's naming); `sslmode` and the certificate
//! paths in `extra`.

use super::{Connection, ConnectionError};

#[derive(Clone, PartialEq, Eq)]
pub struct PostgresConnection {
    pub host: String,
    pub port: u16,
    pub database: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    /// `disable`, `prefer`, `require`, `verify-ca`, `verify-full`.
    pub sslmode: Option<String>,
    pub sslrootcert: Option<String>,
    pub sslcert: Option<String>,
    pub sslkey: Option<String>,
}

impl std::fmt::Debug for PostgresConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConnection")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("sslmode", &self.sslmode)
            .finish()
    }
}

const SSLMODES: &[&str] = &["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];

impl PostgresConnection {
    pub fn from_connection(id: &str, c: &Connection) -> Result<Self, ConnectionError> {
        c.expect_type(id, &["postgres", "postgresql"])?;
        let extra = c.extra_json();
        let get = |k: &str| Connection::extra_str(&extra, "postgres", k);
        let sslmode = get("sslmode");
        if let Some(m) = &sslmode
            && !SSLMODES.contains(&m.as_str())
        {
            return Err(ConnectionError::Invalid {
                id: id.into(),
                problem: format!("sslmode {m:?} is not one of {}", SSLMODES.join(", ")),
            });
        }
        Ok(PostgresConnection {
            host: c.host.clone().unwrap_or_else(|| "localhost".into()),
            port: c.port.unwrap_or(5432),
            database: c.schema.clone().filter(|s| !s.is_empty()),
            user: c.login.clone(),
            password: c.password.clone(),
            sslmode,
            sslrootcert: get("sslrootcert"),
            sslcert: get("sslcert"),
            sslkey: get("sslkey"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_airflow_fields_and_extra() {
        let c = Connection {
            conn_type: Some("postgres".into()),
            host: Some("db".into()),
            login: Some("etl".into()),
            password: Some("pw-1".into()),
            schema: Some("sales".into()),
            extra: Some(serde_json::json!({"sslmode": "require"})),
            ..Default::default()
        };
        let p = PostgresConnection::from_connection("src", &c).unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.database.as_deref()),
            ("db", 5432, Some("sales"))
        );
        assert_eq!(p.sslmode.as_deref(), Some("require"));
        assert!(!format!("{p:?}").contains("pw-1"));
        let bad = Connection {
            extra: Some(serde_json::json!({"sslmode": "sometimes"})),
            ..c.clone()
        };
        let e = PostgresConnection::from_connection("src", &bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("connection `src`: sslmode \"sometimes\""), "{e}");
        let http = Connection {
            conn_type: Some("http".into()),
            ..c
        };
        let e = PostgresConnection::from_connection("src", &http)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "connection `src` is of type `http`, not `postgres` or `postgresql`");
    }
}
