//! The `docker` operator's typed config. Strings are templates, rendered
//! before the config is read for execution; sizes, CPU counts and GPU counts
//! may be templates too, so they are parsed here only when they hold no
//! template markup (the load-time check sees the unrendered text).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use updraft_operator_api::{Tpl, is_template};

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

/// Bytes: an integer, or a number with a unit `b`, `k`, `m`, `g`, `t`
/// (powers of 1024, as Docker reads them; `kb`, `mib`... accepted). May be
/// a template.
pub type ByteSize = Tpl<Bytes>;
/// A positive number such as `1.5`; may be a template.
pub type Number = Tpl<Positive>;
/// `all`, or a count; may be a template.
pub type Gpus = Tpl<GpuCount>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bytes(pub i64);

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Positive(pub f64);

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

impl std::str::FromStr for Bytes {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_byte_size(s).and_then(|n| Bytes::from_number(n as f64))
    }
}

impl Bytes {
    fn from_number(n: f64) -> Result<Self, String> {
        if n > 0.0 {
            Ok(Bytes(n as i64))
        } else {
            Err(format!("size {n} must be positive"))
        }
    }
}

impl std::str::FromStr for Positive {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let n: f64 = s
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not a positive number"))?;
        Positive::from_number(n)
    }
}

impl Positive {
    fn from_number(n: f64) -> Result<Self, String> {
        if n > 0.0 {
            Ok(Positive(n))
        } else {
            Err(format!("{n} must be positive"))
        }
    }
}

impl std::str::FromStr for GpuCount {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_gpus(s)
    }
}

impl GpuCount {
    fn from_number(n: f64) -> Result<Self, String> {
        if n < 1.0 {
            Err(format!("gpus: {n} must be positive"))
        } else if n.fract() != 0.0 {
            Err(format!("gpus: {n} must be a whole number"))
        } else {
            Ok(GpuCount::Count(n as i64))
        }
    }
}

/// Numbers as YAML writes them, and text (a rendered template, `512m`,
/// `all`) through `FromStr`: what [`Tpl`] hands over.
macro_rules! number_or_text {
    ($t:ty, $expecting:literal) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$t, E> {
                        s.parse().map_err(E::custom)
                    }
                    fn visit_i64<E: de::Error>(self, n: i64) -> Result<$t, E> {
                        <$t>::from_number(n as f64).map_err(E::custom)
                    }
                    fn visit_u64<E: de::Error>(self, n: u64) -> Result<$t, E> {
                        <$t>::from_number(n as f64).map_err(E::custom)
                    }
                    fn visit_f64<E: de::Error>(self, x: f64) -> Result<$t, E> {
                        <$t>::from_number(x).map_err(E::custom)
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

number_or_text!(Bytes, "a size in bytes or with a unit (512m, 4g)");
number_or_text!(Positive, "a number");
number_or_text!(GpuCount, "`all` or a number of GPUs");

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

    /// Sizes, CPUs and GPUs may be templates (kept until the try renders
    /// them), numbers or text; bad literals fail when the DAG loads.
    #[test]
    fn limits_take_numbers_text_and_templates() {
        let cfg = |yaml: &str| -> Result<DockerConfig, String> {
            let node = updraft_engine::yaml::parse_document(&format!("image: i\n{yaml}")).unwrap();
            updraft_engine::yaml::from_node(&node).map_err(|e| e.to_string())
        };
        let c = cfg("memory: 4g\ncpus: 1.5\ngpus: all\nshm_size: 1024").unwrap();
        assert_eq!(c.memory, Some(Tpl::Value(Bytes(4 << 30))));
        assert_eq!(c.cpus, Some(Tpl::Value(Positive(1.5))));
        assert_eq!(c.gpus, Some(Tpl::Value(GpuCount::All)));
        assert_eq!(c.shm_size, Some(Tpl::Value(Bytes(1024))));
        let c = cfg("memory: \"{{ var.value.mem }}\"\ngpus: '2'").unwrap();
        assert_eq!(c.memory, Some(Tpl::Template("{{ var.value.mem }}".into())));
        assert_eq!(c.gpus, Some(Tpl::Value(GpuCount::Count(2))));
        assert!(cfg("memory: lots").unwrap_err().contains("\"lots\" is not a size"));
        assert!(cfg("cpus: -1").unwrap_err().contains("must be positive"));
        assert!(cfg("gpus: 0").unwrap_err().contains("gpus"));
    }

    #[test]
    fn gpus_are_all_or_a_count() {
        assert_eq!(parse_gpus("all").unwrap(), GpuCount::All);
        assert_eq!(parse_gpus("2").unwrap(), GpuCount::Count(2));
        assert!(parse_gpus("0").is_err());
    }
}
