//! The `docker` operator's typed config. Strings are templates, rendered
//! before the config is read for execution; sizes, CPU counts and GPU counts
//! may be templates too, so they are parsed here only when they hold no
//! template markup (the load-time check sees the unrendered text).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// The local engine's socket, used when `docker_url` is not set.
pub const DEFAULT_DOCKER_URL: &str = "unix:///var/run/docker.sock";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerConfig {
    /// `repo/name:tag`, with a registry host for a private registry.
    pub image: String,
    #[serde(default)]
    pub pull: PullPolicy,
    /// Overrides the image's `CMD`: a list, or a string split like a shell
    /// would split it (quotes and backslashes, no expansion).
    #[serde(default)]
    pub command: Option<Args>,
    /// Overrides the image's `ENTRYPOINT`, same forms as `command`.
    #[serde(default)]
    pub entrypoint: Option<Args>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub mounts: Vec<MountConfig>,
    #[serde(default)]
    pub network_mode: Option<String>,
    /// CPUs the container may use, e.g. `1.5`.
    #[serde(default)]
    pub cpus: Option<Number>,
    /// Memory limit: bytes, or `512m`, `4g` ...
    #[serde(default)]
    pub memory: Option<ByteSize>,
    /// Size of `/dev/shm`: bytes, or `1g` ...
    #[serde(default)]
    pub shm_size: Option<ByteSize>,
    /// `all`, or a number of GPUs.
    #[serde(default)]
    pub gpus: Option<Gpus>,
    /// `unix:///path/docker.sock` or `tcp://host:2375`; the local socket if unset.
    #[serde(default)]
    pub docker_url: Option<String>,
    /// Remove the container once it has ended (it is always removed when the
    /// task is cancelled or times out).
    #[serde(default = "yes")]
    pub auto_remove: bool,
    /// Put the last stdout line in the output as `last_line`.
    #[serde(default)]
    pub xcom_last_line: bool,
    /// Registry credentials; without them, `~/.docker/config.json` is used.
    #[serde(default)]
    pub registry: Option<RegistryCredentials>,
    /// A connection holding the registry's credentials, as Airflow's
    /// `docker` connection does (host: the registry, login, password); for
    /// Artifact Registry, login `oauth2accesstoken` or `_json_key`.
    #[serde(default, alias = "conn_id")]
    pub docker_conn_id: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PullPolicy {
    #[default]
    IfNotPresent,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MountKind {
    #[default]
    Bind,
    Volume,
    Tmpfs,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountConfig {
    /// `bind` (default), `volume` or `tmpfs`.
    #[serde(rename = "type", default)]
    pub kind: MountKind,
    /// A host path (`~/` is the worker's home) for `bind`, a volume name for
    /// `volume`; none for `tmpfs`.
    #[serde(default)]
    pub source: Option<String>,
    /// The path inside the container.
    pub target: String,
    #[serde(default)]
    pub read_only: bool,
    /// `tmpfs` only: its size.
    #[serde(default)]
    pub size: Option<ByteSize>,
}

/// Credentials for the image's registry, typically from a connection:
/// `username: "{{ conn.gar.login }}"`, `password: "{{ conn.gar.password }}"`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryCredentials {
    /// The registry host; the image's own if unset.
    #[serde(default)]
    pub server: Option<String>,
    pub username: String,
    pub password: String,
}

impl fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryCredentials")
            .field("server", &self.server)
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// Program arguments: a list as written, or a string split like a shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args(pub Vec<String>);

impl<'de> Deserialize<'de> for Args {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Args;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of arguments or a command line")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Args, E> {
                shell_split(s).map(Args).map_err(E::custom)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Args, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<Scalar>()? {
                    out.push(item.0);
                }
                Ok(Args(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A scalar read as text (`- 5` in an argument list is "5").
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Scalar)
    }
}

/// Splits a command line into words as a POSIX shell would, without
/// expansion: single quotes, double quotes (with `\"`, `\\`, `\$` and
/// `` \` `` escapes) and backslashes.
pub fn shell_split(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated single quote in command".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("unterminated double quote in command".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated double quote in command".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(c) => word.push(c),
                    None => return Err("command ends with a lone backslash".into()),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// A value that may still be an unrendered template at load time.
#[derive(Debug, Clone, PartialEq)]
pub enum Deferred<T> {
    Value(T),
    Template(String),
}

impl<T: Copy> Deferred<T> {
    /// The value, once rendered; `field` names it in the error.
    pub fn get(&self, field: &str) -> Result<T, String> {
        match self {
            Deferred::Value(v) => Ok(*v),
            Deferred::Template(t) => Err(format!("`{field}`: {t:?} did not render to a value")),
        }
    }
}

/// Bytes: an integer, or a number with a unit `b`, `k`, `m`, `g`, `t`
/// (powers of 1024, as Docker reads them; `kb`, `mib`... accepted).
pub type ByteSize = Deferred<i64>;
/// A number such as `1.5`.
pub type Number = Deferred<f64>;
/// `all`, or a count.
pub type Gpus = Deferred<GpuCount>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuCount {
    All,
    Count(i64),
}

pub fn parse_byte_size(s: &str) -> Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 512m, 4g)"))?;
    let mult: f64 = match unit.trim() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("{s:?} is not a size (e.g. 512m, 4g)")),
    };
    Ok((n * mult) as i64)
}

fn parse_gpus(s: &str) -> Result<GpuCount, String> {
    match s.trim() {
        "all" => Ok(GpuCount::All),
        n => n
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(GpuCount::Count)
            .ok_or_else(|| format!("{s:?} is not `all` or a positive number of GPUs")),
    }
}

macro_rules! deferred_deserialize {
    ($t:ty, $expecting:literal, $from_str:expr, $from_i64:expr, $from_f64:expr) => {
        impl<'de> Deserialize<'de> for Deferred<$t> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = Deferred<$t>;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                        if is_template(s) {
                            return Ok(Deferred::Template(s.to_string()));
                        }
                        let f: fn(&str) -> Result<$t, String> = $from_str;
                        f(s).map(Deferred::Value).map_err(E::custom)
                    }
                    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
                        let f: fn(i64) -> Result<$t, String> = $from_i64;
                        f(n).map(Deferred::Value).map_err(E::custom)
                    }
                    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
                        self.visit_i64(i64::try_from(n).map_err(E::custom)?)
                    }
                    fn visit_f64<E: de::Error>(self, x: f64) -> Result<Self::Value, E> {
                        let f: fn(f64) -> Result<$t, String> = $from_f64;
                        f(x).map(Deferred::Value).map_err(E::custom)
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

deferred_deserialize!(
    i64,
    "a size in bytes or with a unit (512m, 4g)",
    parse_byte_size,
    |n| if n > 0 {
        Ok(n)
    } else {
        Err(format!("size {n} must be positive"))
    },
    |x| if x > 0.0 {
        Ok(x as i64)
    } else {
        Err(format!("size {x} must be positive"))
    }
);

deferred_deserialize!(
    f64,
    "a number",
    |s| s
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|x| *x > 0.0)
        .ok_or_else(|| format!("{s:?} is not a positive number")),
    |n| if n > 0 {
        Ok(n as f64)
    } else {
        Err(format!("{n} must be positive"))
    },
    |x| if x > 0.0 {
        Ok(x)
    } else {
        Err(format!("{x} must be positive"))
    }
);

deferred_deserialize!(
    GpuCount,
    "`all` or a number of GPUs",
    parse_gpus,
    |n| if n > 0 {
        Ok(GpuCount::Count(n))
    } else {
        Err(format!("gpus: {n} must be positive"))
    },
    |x| Err(format!("gpus: {x} is not a whole number"))
);

impl DockerConfig {
    /// Checks beyond types: one message per problem.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.image.trim().is_empty() {
            problems.push("`image` is empty".to_string());
        }
        if self.registry.is_some() && self.docker_conn_id.is_some() {
            problems.push("`registry` and `docker_conn_id` both give credentials: keep one".to_string());
        }
        for key in self.environment.keys() {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                problems.push(format!("`environment`: {key:?} is not a valid variable name"));
            }
        }
        for (i, m) in self.mounts.iter().enumerate() {
            let at = format!("`mounts[{i}]`");
            match (m.kind, &m.source) {
                (MountKind::Bind, None) => problems.push(format!("{at}: a bind mount needs `source`")),
                (MountKind::Volume, None) => problems.push(format!("{at}: a volume mount needs `source`")),
                (MountKind::Tmpfs, Some(_)) => problems.push(format!("{at}: a tmpfs mount takes no `source`")),
                _ => {}
            }
            if m.size.is_some() && m.kind != MountKind::Tmpfs {
                problems.push(format!("{at}: `size` applies to tmpfs mounts only"));
            }
            if !is_template(&m.target) && !m.target.starts_with('/') {
                problems.push(format!("{at}: `target` {:?} must be an absolute path", m.target));
            }
        }
        if let Some(url) = &self.docker_url
            && !is_template(url)
            && let Err(e) = super::engine::parse_url(url)
        {
            problems.push(e.to_string());
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_split_follows_shell_quoting() {
        assert_eq!(
            shell_split(r#"python -m job --name 'a b' --x "c \"d\"" e\ f"#).unwrap(),
            vec!["python", "-m", "job", "--name", "a b", "--x", "c \"d\"", "e f"]
        );
        assert_eq!(shell_split("  ").unwrap(), Vec::<String>::new());
        assert_eq!(shell_split("''").unwrap(), vec![""]);
        assert!(shell_split("echo 'open").is_err());
    }

    #[test]
    fn sizes_use_docker_units() {
        assert_eq!(parse_byte_size("512m").unwrap(), 512 * 1024 * 1024);
        assert_eq!(parse_byte_size("4G").unwrap(), 4 * 1024 * 1024 * 1024);
        assert_eq!(parse_byte_size("1.5k").unwrap(), 1536);
        assert_eq!(parse_byte_size("100").unwrap(), 100);
        assert!(parse_byte_size("lots").is_err());
    }

    #[test]
    fn gpus_are_all_or_a_count() {
        assert_eq!(parse_gpus("all").unwrap(), GpuCount::All);
        assert_eq!(parse_gpus("2").unwrap(), GpuCount::Count(2));
        assert!(parse_gpus("0").is_err());
    }
}
