//! Where the Kaggle username and API key come from when the task names no
//! connection, in the order the `kaggle` CLI looks: the `KAGGLE_USERNAME`
//! and `KAGGLE_KEY` environment variables, then `kaggle.json` in
//! `$KAGGLE_CONFIG_DIR`, else in `~/.kaggle`. A pure function of the
//! environment it is given, so it is tested without touching the
//! process's own.

use std::path::PathBuf;

use updraft_operator_api::TaskError;

/// A Kaggle username and API key, and where they were found (for the log).
#[derive(Clone)]
pub(crate) struct Credentials {
    pub username: String,
    pub key: String,
    pub source: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ***, from {})", self.username, self.source)
    }
}

/// The credentials the environment `env` (a variable's value by name)
/// gives; a `Fatal` error naming every place looked at when none does.
pub(crate) fn from_environment(env: &dyn Fn(&str) -> Option<String>) -> Result<Credentials, TaskError> {
    let var = |name: &str| env(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let (user, key) = (var("KAGGLE_USERNAME"), var("KAGGLE_KEY"));
    if let (Some(username), Some(key)) = (&user, &key) {
        return Ok(Credentials {
            username: username.clone(),
            key: key.clone(),
            source: "the KAGGLE_USERNAME and KAGGLE_KEY environment variables".into(),
        });
    }
    let dir = match (var("KAGGLE_CONFIG_DIR"), var("HOME")) {
        (Some(d), _) => Some(PathBuf::from(d)),
        (None, Some(home)) => Some(PathBuf::from(home).join(".kaggle")),
        (None, None) => None,
    };
    let file = dir.map(|d| d.join("kaggle.json"));
    if let Some(path) = &file {
        match std::fs::read(path) {
            Ok(text) => return read_token_file(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(TaskError::Fatal(format!(
                    "Kaggle credentials: cannot read {}: {e}",
                    path.display()
                )));
            }
        }
    }
    let half = match (&user, &key) {
        (Some(_), None) => " (KAGGLE_USERNAME is set, KAGGLE_KEY is not)",
        (None, Some(_)) => " (KAGGLE_KEY is set, KAGGLE_USERNAME is not)",
        _ => "",
    };
    Err(TaskError::Fatal(format!(
        "no Kaggle credentials: set `conn_id` to a connection whose login is the Kaggle username and password the API key, \
         or write {} ({{\"username\": ..., \"key\": ...}}; the folder is $KAGGLE_CONFIG_DIR, else ~/.kaggle), \
         or set the KAGGLE_USERNAME and KAGGLE_KEY environment variables{half}",
        file.map(|f| f.display().to_string())
            .unwrap_or_else(|| "~/.kaggle/kaggle.json".into()),
    )))
}

/// `{"username": "...", "key": "..."}`. Errors name the file and what is
/// wrong, never its content.
fn read_token_file(path: &std::path::Path, text: &[u8]) -> Result<Credentials, TaskError> {
    let bad = |what: String| {
        TaskError::Fatal(format!(
            "Kaggle credentials: {}: {what} (expected {{\"username\": ..., \"key\": ...}}, as kaggle.com's \"Create New Token\" writes it)",
            path.display()
        ))
    };
    let value: serde_json::Value = serde_json::from_slice(text)
        .map_err(|e| bad(format!("not JSON (line {}, column {})", e.line(), e.column())))?;
    let field = |name: &str| {
        value
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .ok_or_else(|| bad(format!("no `{name}` text")))
    };
    Ok(Credentials {
        username: field("username")?,
        key: field("key")?,
        source: path.display().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(env: &HashMap<&str, String>) -> Result<Credentials, TaskError> {
        from_environment(&|name| env.get(name).cloned())
    }

    #[test]
    fn environment_variables_first_then_the_config_dir_then_home() {
        let home = tempfile::tempdir().unwrap();
        let config = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".kaggle")).unwrap();
        std::fs::write(
            home.path().join(".kaggle/kaggle.json"),
            r#"{"username": "home-user", "key": "home-key"}"#,
        )
        .unwrap();
        std::fs::write(
            config.path().join("kaggle.json"),
            r#"{"username":"dir-user","key":"dir-key"}"#,
        )
        .unwrap();
        let mut env = HashMap::from([
            ("HOME", home.path().display().to_string()),
            ("KAGGLE_CONFIG_DIR", config.path().display().to_string()),
            ("KAGGLE_USERNAME", "env-user".to_string()),
            ("KAGGLE_KEY", "env-key".to_string()),
        ]);
        let c = lookup(&env).unwrap();
        assert_eq!((c.username.as_str(), c.key.as_str()), ("env-user", "env-key"));
        assert!(c.source.contains("KAGGLE_USERNAME"), "{}", c.source);

        // Half of the pair in the environment: the file is used whole.
        env.remove("KAGGLE_KEY");
        let c = lookup(&env).unwrap();
        assert_eq!((c.username.as_str(), c.key.as_str()), ("dir-user", "dir-key"));
        assert_eq!(c.source, config.path().join("kaggle.json").display().to_string());

        env.remove("KAGGLE_CONFIG_DIR");
        let c = lookup(&env).unwrap();
        assert_eq!((c.username.as_str(), c.key.as_str()), ("home-user", "home-key"));
        assert!(c.source.ends_with(".kaggle/kaggle.json"), "{}", c.source);
        assert!(!format!("{c:?}").contains("home-key"));
    }

    #[test]
    fn nothing_found_names_all_three_places() {
        let empty = tempfile::tempdir().unwrap();
        let env = HashMap::from([
            ("HOME", empty.path().display().to_string()),
            ("KAGGLE_USERNAME", "only-user".to_string()),
        ]);
        let e = lookup(&env).unwrap_err();
        let TaskError::Fatal(msg) = &e else { panic!("{e:?}") };
        assert!(msg.contains("`conn_id`"), "{msg}");
        assert!(
            msg.contains(&empty.path().join(".kaggle/kaggle.json").display().to_string()),
            "{msg}"
        );
        assert!(msg.contains("$KAGGLE_CONFIG_DIR"), "{msg}");
        assert!(
            msg.contains("KAGGLE_USERNAME and KAGGLE_KEY environment variables"),
            "{msg}"
        );
        assert!(msg.ends_with("(KAGGLE_USERNAME is set, KAGGLE_KEY is not)"), "{msg}");
        let e = lookup(&HashMap::new()).unwrap_err().to_string();
        assert!(e.contains("~/.kaggle/kaggle.json"), "{e}");
    }

    #[test]
    fn a_broken_token_file_is_named_without_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let env = HashMap::from([("KAGGLE_CONFIG_DIR", dir.path().display().to_string())]);
        let path = dir.path().join("kaggle.json");
        std::fs::write(&path, r#"{"username": "u", "key": 12345678}"#).unwrap();
        let e = lookup(&env).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("Kaggle credentials: {}: no `key` text", path.display())),
            "{e}"
        );
        assert!(!e.contains("12345678"), "{e}");
        std::fs::write(&path, "username=u\nkey=s3cr3t-key").unwrap();
        let e = lookup(&env).unwrap_err().to_string();
        assert!(e.contains("not JSON (line 1, column 1)"), "{e}");
        assert!(!e.contains("s3cr3t-key"), "{e}");
    }
}
