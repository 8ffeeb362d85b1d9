//! A serde `Deserializer` over [`Node`]: operator configs (and other typed
//! pieces) are deserialized from the YAML tree, and every error carries the
//! line and column of the value it is about. Unknown fields of a struct are
//! all reported at once, each with the closest valid name.

use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
    value::BorrowedStrDeserializer,
};

use super::{Entry, Node, Span, Value};
use crate::suggest::did_you_mean;

/// One or more deserialization problems, each with its place when known.
#[derive(Debug, Clone, PartialEq)]
pub struct DeError {
    pub problems: Vec<Problem>,
}

/// One problem: where, in which field (`env.PORT`, `command[2]`), and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub span: Option<Span>,
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "`{}`: {}", self.path, self.message)
        }
    }
}

impl DeError {
    fn one(message: String) -> Self {
        DeError {
            problems: vec![Problem {
                span: None,
                path: String::new(),
                message,
            }],
        }
    }

    /// Sets the place of problems that have none yet (the innermost wins).
    fn at(mut self, span: Span) -> Self {
        for p in &mut self.problems {
            p.span.get_or_insert(span);
        }
        self
    }

    /// Puts the problems inside field `key` (or list item `[i]`).
    fn inside(mut self, key: &str) -> Self {
        for p in &mut self.problems {
            p.path = match (p.path.is_empty(), key.starts_with('[')) {
                (true, _) => key.to_string(),
                (false, true) if p.path.starts_with('[') => format!("{key}{}", p.path),
                (false, true) => format!("{key}.{}", p.path),
                (false, false) if p.path.starts_with('[') => format!("{key}{}", p.path),
                (false, false) => format!("{key}.{}", p.path),
            };
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .problems
            .iter()
            .map(|p| match p.span {
                Some(s) => format!("{s}: {p}"),
                None => p.to_string(),
            })
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError::one(msg.to_string())
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::one(format!("expected {exp}, found {}", unexpected(&unexp)))
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::one(format!("invalid value {}: expected {exp}", unexpected(&unexp)))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        DeError::one(unknown_field_message(field, expected, &[]))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        DeError::one(format!(
            "unknown value `{variant}`{}; expected one of: {}",
            did_you_mean(variant, expected.iter().copied()),
            expected.join(", ")
        ))
    }

    fn missing_field(field: &'static str) -> Self {
        DeError::one(format!("missing required field `{field}`"))
    }

    fn duplicate_field(field: &'static str) -> Self {
        DeError::one(format!("field `{field}` is given twice"))
    }
}

fn unexpected(u: &de::Unexpected<'_>) -> String {
    match u {
        de::Unexpected::Str(s) => format!("string {s:?}"),
        de::Unexpected::Signed(i) => format!("integer `{i}`"),
        de::Unexpected::Unsigned(i) => format!("integer `{i}`"),
        de::Unexpected::Float(x) => format!("number `{x}`"),
        de::Unexpected::Bool(b) => format!("boolean `{b}`"),
        de::Unexpected::Unit => "null".to_string(),
        de::Unexpected::Seq => "a list".to_string(),
        de::Unexpected::Map => "a mapping".to_string(),
        other => other.to_string(),
    }
}

fn unknown_field_message(field: &str, expected: &[&str], extra: &[&str]) -> String {
    let all = expected.iter().chain(extra.iter()).copied();
    if expected.is_empty() {
        return format!(
            "unknown field `{field}`{}; this takes no fields",
            did_you_mean(field, all)
        );
    }
    format!(
        "unknown field `{field}`{}; expected one of: {}",
        did_you_mean(field, all),
        expected.join(", ")
    )
}

/// Deserializes `T` from a node.
pub fn from_node<'de, T: de::Deserialize<'de>>(node: &'de Node) -> Result<T, DeError> {
    from_node_with_extra_fields(node, &[])
}

/// Like [`from_node`]; `extra_fields` are names valid beside the struct's own
/// (for example a task's common fields beside an operator's), used only to
/// suggest the right name for an unknown one.
pub fn from_node_with_extra_fields<'de, T: de::Deserialize<'de>>(
    node: &'de Node,
    extra_fields: &[&str],
) -> Result<T, DeError> {
    T::deserialize(NodeDe { node, extra_fields }).map_err(|e| e.at(node.span))
}

struct NodeDe<'de, 'x> {
    node: &'de Node,
    extra_fields: &'x [&'x str],
}

impl<'de> NodeDe<'de, '_> {
    fn child(node: &'de Node) -> NodeDe<'de, 'static> {
        NodeDe {
            node,
            extra_fields: &[],
        }
    }
}

macro_rules! forward_with_span {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            self.deserialize_any(visitor)
        }
    )*};
}

impl<'de> Deserializer<'de> for NodeDe<'de, '_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let span = self.node.span;
        match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Float(x) => visitor.visit_f64(*x),
            Value::Str(s) => visitor.visit_borrowed_str(s),
            Value::Seq(items) => visitor.visit_seq(Seq {
                iter: items.iter(),
                index: 0,
            }),
            Value::Map(entries) => visitor.visit_map(Map {
                iter: entries.iter(),
                value: None,
            }),
        }
        .map_err(|e| e.at(span))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let span = self.node.span;
        if self.node.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
        .map_err(|e| e.at(span))
    }

    /// Scalars are accepted where text is expected (`PORT: 5432` in an
    /// environment map is a string "5432"); lists and mappings are not.
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let span = self.node.span;
        let r: Result<V::Value, DeError> = match &self.node.value {
            Value::Int(i) => visitor.visit_string(i.to_string()),
            Value::Float(x) => visitor.visit_string(x.to_string()),
            Value::Bool(b) => visitor.visit_string(b.to_string()),
            _ => return self.deserialize_any(visitor),
        };
        r.map_err(|e| e.at(span))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, DeError> {
        let span = self.node.span;
        visitor.visit_newtype_struct(self).map_err(|e| e.at(span))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        if let Value::Map(entries) = &self.node.value {
            // Report every unknown field at once, not just the first.
            let unknown: Vec<Problem> = entries
                .iter()
                .filter(|e| !fields.contains(&e.key.as_str()))
                .map(|e| Problem {
                    span: Some(e.key_span),
                    path: String::new(),
                    message: unknown_field_message(&e.key, fields, self.extra_fields),
                })
                .collect();
            if !unknown.is_empty() {
                return Err(DeError { problems: unknown });
            }
        }
        self.deserialize_any(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let span = self.node.span;
        match &self.node.value {
            Value::Str(s) => visitor.visit_enum(BorrowedStrDeserializer::<DeError>::new(s)),
            Value::Map(entries) if entries.len() == 1 => visitor.visit_enum(Enum { entry: &entries[0] }),
            _ => Err(DeError::one(format!(
                "expected a name or a single-key mapping, found {}",
                self.node.describe()
            ))),
        }
        .map_err(|e| e.at(span))
    }

    forward_with_span! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_bytes
        deserialize_byte_buf deserialize_seq deserialize_map deserialize_identifier
        deserialize_ignored_any
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }
}

struct Seq<'de> {
    iter: std::slice::Iter<'de, Node>,
    index: usize,
}

impl<'de> SeqAccess<'de> for Seq<'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        match self.iter.next() {
            Some(node) => {
                self.index += 1;
                let index = self.index - 1;
                seed.deserialize(NodeDe::child(node))
                    .map(Some)
                    .map_err(|e| e.at(node.span).inside(&format!("[{index}]")))
            }
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct Map<'de> {
    iter: std::slice::Iter<'de, Entry>,
    value: Option<&'de Entry>,
}

impl<'de> MapAccess<'de> for Map<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        match self.iter.next() {
            Some(entry) => {
                self.value = Some(entry);
                seed.deserialize(BorrowedStrDeserializer::<DeError>::new(&entry.key))
                    .map(Some)
                    .map_err(|e| e.at(entry.key_span))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let entry = self
            .value
            .take()
            .ok_or_else(|| DeError::one("value requested before its key".into()))?;
        seed.deserialize(NodeDe::child(&entry.value))
            .map_err(|e| e.at(entry.value.span).inside(&entry.key))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct Enum<'de> {
    entry: &'de Entry,
}

impl<'de> EnumAccess<'de> for Enum<'de> {
    type Error = DeError;
    type Variant = NodeDe<'de, 'static>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self::Variant), DeError> {
        let key = BorrowedStrDeserializer::<DeError>::new(&self.entry.key);
        let v = seed.deserialize(key).map_err(|e| e.at(self.entry.key_span))?;
        Ok((v, NodeDe::child(&self.entry.value)))
    }
}

impl<'de> VariantAccess<'de> for NodeDe<'de, 'static> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        de::Deserialize::deserialize(self)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(self, fields: &'static [&'static str], visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_struct("", fields, visitor)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;
    use crate::yaml::parse_document;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Shellish {
        command: String,
        #[serde(default)]
        env: BTreeMap<String, String>,
        retries: Option<u32>,
    }

    #[test]
    fn deserializes_with_scalar_coercion_to_strings() {
        let n = parse_document("command: echo hi\nenv: {PORT: 5432, DEBUG: true}\nretries: 3\n").unwrap();
        let s: Shellish = from_node(&n).unwrap();
        assert_eq!(s.retries, Some(3));
        assert_eq!(s.command, "echo hi");
        assert_eq!(s.env["PORT"], "5432");
        assert_eq!(s.env["DEBUG"], "true");
    }

    #[test]
    fn reports_every_unknown_field_with_place_and_suggestion() {
        let n = parse_document("comand: x\nenvv: {}\n").unwrap();
        let e = from_node::<Shellish>(&n).unwrap_err();
        assert_eq!(e.problems.len(), 2);
        assert_eq!(e.problems[0].span, Some(Span { line: 1, col: 1 }));
        assert!(
            e.problems[0]
                .message
                .contains("unknown field `comand`; did you mean `command`?")
        );
        assert!(e.problems[1].message.contains("`envv`; did you mean `env`?"));
    }

    #[test]
    fn suggests_extra_fields_too() {
        let n = parse_document("command: x\nretires: 1\n").unwrap();
        let e = from_node_with_extra_fields::<Shellish>(&n, &["depends_on"]).unwrap_err();
        assert!(e.problems[0].message.contains("did you mean `retries`"), "{e}");
    }

    #[test]
    fn type_errors_point_at_the_value() {
        let n = parse_document("command: x\nretries: two\n").unwrap();
        let e = from_node::<Shellish>(&n).unwrap_err();
        assert_eq!(e.problems[0].span, Some(Span { line: 2, col: 10 }));
        assert_eq!(
            e.problems[0].to_string(),
            "`retries`: expected u32, found string \"two\""
        );
        let n = parse_document("command: x\nenv: {A: [1]}\n").unwrap();
        let e = from_node::<Shellish>(&n).unwrap_err();
        assert_eq!(e.problems[0].to_string(), "`env.A`: expected a string, found a list");
    }

    #[test]
    fn missing_field_points_at_the_mapping() {
        let n = parse_document("env: {}\n").unwrap();
        let e = from_node::<Shellish>(&n).unwrap_err();
        assert_eq!(e.problems[0].message, "missing required field `command`");
        assert_eq!(e.problems[0].span, Some(Span { line: 1, col: 1 }));
    }
}
