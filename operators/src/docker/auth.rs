//! Registry credentials for pulling: the config's `registry` block (usually
//! rendered from a connection), else the user's Docker config
//! (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`): its `auths`
//! entries, and its credential helpers (`credHelpers`, `credsStore`), which is
//! how `gcloud auth configure-docker` sets up Artifact Registry.
//! Secrets found here go only into the pull request, never into a message.

use std::path::PathBuf;
use std::process::Stdio;

use base64::Engine as _;
use bollard::auth::DockerCredentials;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::config::RegistryCredentials;

/// Docker Hub's key in Docker config files.
const DOCKER_HUB: &str = "https://index.docker.io/v1/";

/// The registry an image comes from: its first path part when that looks
/// like a host (`europe-west1-docker.pkg.dev/p/r/i`), Docker Hub otherwise.
pub fn registry_host(image: &str) -> Option<&str> {
    let (first, rest) = image.split_once('/')?;
    (!rest.is_empty() && (first.contains('.') || first.contains(':') || first == "localhost")).then_some(first)
}

/// Credentials for pulling `image`; `Ok(None)` pulls anonymously. The error
/// says which source failed, without secrets.
pub async fn credentials(
    image: &str,
    explicit: Option<&RegistryCredentials>,
) -> Result<Option<DockerCredentials>, String> {
    let host = registry_host(image);
    if let Some(c) = explicit {
        return Ok(Some(DockerCredentials {
            username: Some(c.username.clone()),
            password: Some(c.password.clone()),
            serveraddress: Some(
                c.server
                    .clone()
                    .or(host.map(str::to_string))
                    .unwrap_or(DOCKER_HUB.into()),
            ),
            ..Default::default()
        }));
    }
    let Some(path) = docker_config_path() else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let file: DockerConfigFile =
        serde_json::from_str(&text).map_err(|e| format!("{} is not valid JSON: {e}", path.display()))?;
    let key = host.unwrap_or(DOCKER_HUB);
    from_file(&file, key).await
}

fn docker_config_path() -> Option<PathBuf> {
    let dir = match std::env::var_os("DOCKER_CONFIG") {
        Some(d) => PathBuf::from(d),
        None => std::env::home_dir()?.join(".docker"),
    };
    Some(dir.join("config.json"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerConfigFile {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

impl std::fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthEntry(***)")
    }
}

/// The entry of `auths` for `host`, written either as the bare host or as a
/// URL (`https://host`, `https://host/v1/`).
fn find_auth<'a>(file: &'a DockerConfigFile, host: &str) -> Option<&'a AuthEntry> {
    file.auths.get(host).or_else(|| {
        file.auths.iter().find_map(|(k, v)| {
            let bare = k.trim_start_matches("https://").trim_start_matches("http://");
            let bare = bare.split('/').next().unwrap_or(bare);
            let want = host.trim_start_matches("https://").split('/').next().unwrap_or(host);
            (bare == want).then_some(v)
        })
    })
}

pub async fn from_file(file: &DockerConfigFile, host: &str) -> Result<Option<DockerCredentials>, String> {
    if let Some(helper) = file.cred_helpers.get(host) {
        return from_helper(helper, host).await.map(Some);
    }
    if let Some(entry) = find_auth(file, host) {
        let mut creds = DockerCredentials {
            serveraddress: Some(host.to_string()),
            identitytoken: entry.identitytoken.clone(),
            ..Default::default()
        };
        if let Some(auth) = &entry.auth {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| format!("the Docker config's `auth` for {host} is not base64 of user:password"))?;
            let (user, pass) = decoded
                .split_once(':')
                .ok_or_else(|| format!("the Docker config's `auth` for {host} is not user:password"))?;
            creds.username = Some(user.to_string());
            creds.password = Some(pass.to_string());
        } else {
            creds.username = entry.username.clone();
            creds.password = entry.password.clone();
        }
        return Ok(Some(creds));
    }
    if let Some(store) = &file.creds_store {
        // A store that knows nothing of this host answers with an error:
        // pull anonymously then.
        return Ok(from_helper(store, host).await.ok());
    }
    Ok(None)
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Asks `docker-credential-<name> get` for `host`'s credentials, as the
/// Docker CLI does.
async fn from_helper(name: &str, host: &str) -> Result<DockerCredentials, String> {
    let program = format!("docker-credential-{name}");
    let mut child = tokio::process::Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run credential helper {program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(host.as_bytes()).await;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| format!("credential helper {program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "credential helper {program} found no credentials for {host} ({})",
            out.status
        ));
    }
    let answer: HelperAnswer = serde_json::from_slice(&out.stdout)
        .map_err(|_| format!("credential helper {program} gave an answer that is not its JSON"))?;
    let mut creds = DockerCredentials {
        serveraddress: Some(host.to_string()),
        ..Default::default()
    };
    // Docker's convention: this user name means the secret is an identity token.
    if answer.username == "<token>" {
        creds.identitytoken = Some(answer.secret);
    } else {
        creds.username = Some(answer.username);
        creds.password = Some(answer.secret);
    }
    Ok(creds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_host_is_the_first_part_when_it_is_a_host() {
        assert_eq!(
            registry_host("europe-west1-docker.pkg.dev/p/repo/ecomm/svc:v5"),
            Some("europe-west1-docker.pkg.dev")
        );
        assert_eq!(registry_host("localhost:5000/x"), Some("localhost:5000"));
        assert_eq!(registry_host("library/busybox"), None);
        assert_eq!(registry_host("busybox"), None);
    }

    #[tokio::test]
    async fn auths_entries_decode_and_match_url_keys() {
        let file: DockerConfigFile =
            serde_json::from_str(r#"{"auths": {"https://reg.example.com/v1/": {"auth": "dXNlcjpwYXNz"}}}"#).unwrap();
        let c = from_file(&file, "reg.example.com").await.unwrap().unwrap();
        assert_eq!(c.username.as_deref(), Some("user"));
        assert_eq!(c.password.as_deref(), Some("pass"));
        assert!(from_file(&file, "other.example.com").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_missing_helper_is_named_without_secrets() {
        let file: DockerConfigFile =
            serde_json::from_str(r#"{"credHelpers": {"reg.example.com": "updraft-no-such-helper"}}"#).unwrap();
        let e = from_file(&file, "reg.example.com").await.unwrap_err();
        assert!(e.contains("docker-credential-updraft-no-such-helper"), "{e}");
    }
}
