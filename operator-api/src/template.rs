//! Config fields that may be templates but are not text.
//!
//! Configs are read twice: when the DAG loads (templates not yet rendered)
//! and when a try runs (rendered). A field typed `Tpl<u16>` takes `5432` or
//! `"5432"` either time, and `"{{ var.value.pg_port }}"` at load time, kept
//! until the rendered config is read, where the rendered text is parsed as
//! the type. A bad value, literal or rendered, is reported with its place
//! (line, column, field path) like any other config error.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, IntoDeserializer, Visitor};

use crate::TaskError;

/// Whether a string holds a template (`{{`, `{%` or `{#`).
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// A value of type `T`, or a template that renders to one.
#[derive(Debug, Clone, PartialEq)]
pub enum Tpl<T> {
    Value(T),
    /// Not rendered yet (only seen when the DAG loads).
    Template(String),
}

impl<T: Clone> Tpl<T> {
    /// The value of a rendered config; `field` names it in the error.
    pub fn get(&self, field: &str) -> Result<T, TaskError> {
        match self {
            Tpl::Value(v) => Ok(v.clone()),
            Tpl::Template(t) => Err(TaskError::Fatal(format!("`{field}`: {t:?} did not render to a value"))),
        }
    }

    /// The value if it is known when the DAG loads.
    pub fn literal(&self) -> Option<&T> {
        match self {
            Tpl::Value(v) => Some(v),
            Tpl::Template(_) => None,
        }
    }
}

impl<T: Default> Default for Tpl<T> {
    fn default() -> Self {
        Tpl::Value(T::default())
    }
}

impl<T> From<T> for Tpl<T> {
    fn from(v: T) -> Self {
        Tpl::Value(v)
    }
}

impl<'de, T> Deserialize<'de> for Tpl<T>
where
    T: DeserializeOwned + FromStr,
    T::Err: fmt::Display,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TplVisitor(std::marker::PhantomData))
    }
}

struct TplVisitor<T>(std::marker::PhantomData<T>);

macro_rules! forward {
    ($($method:ident: $ty:ty),*) => {
        $(fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            T::deserialize(v.into_deserializer()).map(Tpl::Value)
        })*
    };
}

impl<'de, T> Visitor<'de> for TplVisitor<T>
where
    T: DeserializeOwned + FromStr,
    T::Err: fmt::Display,
{
    type Value = Tpl<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "a {} or a template",
            std::any::type_name::<T>().rsplit("::").next().unwrap_or("value")
        )
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        if is_template(s) {
            return Ok(Tpl::Template(s.to_string()));
        }
        // Rendered templates are text: "5432", "true", "5m".
        match s.trim().parse::<T>() {
            Ok(v) => Ok(Tpl::Value(v)),
            Err(e) => Err(E::custom(format!("{s:?}: {e}"))),
        }
    }

    forward!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64);

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        T::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Tpl::Value)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Tpl::Value)
    }
}

/// A duration: `90`, `"90s"`, `"5m"`, `"1h30m"` (see [`crate::duration`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConfigDuration(pub std::time::Duration);

impl FromStr for ConfigDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        crate::duration::parse_duration(s).map(ConfigDuration)
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ConfigDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration (seconds, or text such as 90s, 5m, 1h30m)")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<ConfigDuration, E> {
                Ok(ConfigDuration(std::time::Duration::from_secs(n)))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<ConfigDuration, E> {
                u64::try_from(n)
                    .map(|n| ConfigDuration(std::time::Duration::from_secs(n)))
                    .map_err(|_| E::custom(format!("duration {n} is negative")))
            }
            fn visit_f64<E: de::Error>(self, x: f64) -> Result<ConfigDuration, E> {
                std::time::Duration::try_from_secs_f64(x)
                    .map(ConfigDuration)
                    .map_err(|_| E::custom(format!("duration {x} is not a number of seconds")))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ConfigDuration, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    struct Cfg {
        port: Tpl<u16>,
        verbose: Tpl<bool>,
        timeout: Tpl<ConfigDuration>,
    }

    fn read(v: serde_json::Value) -> Result<Cfg, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn literals_text_and_templates() {
        let c = read(json!({"port": 5432, "verbose": true, "timeout": 90})).unwrap();
        assert_eq!(c.port.get("port").unwrap(), 5432);
        assert!(c.verbose.get("verbose").unwrap());
        assert_eq!(c.timeout.get("timeout").unwrap().0, std::time::Duration::from_secs(90));
        // As a rendered template gives them: text.
        let c = read(json!({"port": "5433", "verbose": "false", "timeout": "5m"})).unwrap();
        assert_eq!(c.port.literal(), Some(&5433));
        assert_eq!(c.verbose.literal(), Some(&false));
        assert_eq!(c.timeout.get("t").unwrap().0, std::time::Duration::from_secs(300));
        // At load time: kept for later.
        let c = read(json!({"port": "{{ var.value.pg_port }}", "verbose": "{{ params.v }}", "timeout": 1})).unwrap();
        assert_eq!(c.port, Tpl::Template("{{ var.value.pg_port }}".into()));
        let e = c.port.get("port").unwrap_err().to_string();
        assert!(e.contains("`port`") && e.contains("did not render"), "{e}");
    }

    #[test]
    fn bad_values_name_the_value_and_the_problem() {
        let e = read(json!({"port": "54x", "verbose": true, "timeout": 1})).unwrap_err();
        assert!(e.contains("\"54x\": invalid digit"), "{e}");
        let e = read(json!({"port": 70000, "verbose": true, "timeout": 1})).unwrap_err();
        assert!(e.contains("70000"), "{e}");
        let e = read(json!({"port": 1, "verbose": "maybe", "timeout": 1})).unwrap_err();
        assert!(e.contains("\"maybe\""), "{e}");
    }
}
