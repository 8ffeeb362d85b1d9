//! Builds a [`Node`] tree from saphyr-parser's event stream, keeping spans,
//! resolving plain scalars by the YAML 1.2 core schema, expanding aliases and
//! `<<` merge keys, and keeping duplicate keys for the loader to report.

use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle, Span as PSpan};

use super::{Entry, Node, Span, Value};

/// A problem found while reading the YAML text itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub span: Span,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.span, self.message)
    }
}

fn span_of(s: &PSpan) -> Span {
    Span {
        line: s.start.line() as u32,
        col: s.start.col() as u32 + 1,
    }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        span: Span,
        anchor: usize,
    },
    Map {
        entries: Vec<Entry>,
        key: Option<(String, Span, bool)>,
        merges: Vec<Node>,
        span: Span,
        anchor: usize,
    },
}

struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    documents: usize,
    errors: Vec<ParseError>,
}

/// Parses one YAML document. An empty input gives a `Null` node at 1:1.
pub fn parse_document(src: &str) -> Result<Node, Vec<ParseError>> {
    let mut parser = Parser::new_from_str(src);
    let mut b = Builder {
        stack: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        documents: 0,
        errors: Vec::new(),
    };
    while let Some(next) = parser.next_event() {
        let (event, pspan) = match next {
            Ok(ev) => ev,
            Err(e) => {
                let m = e.marker();
                b.errors.push(ParseError {
                    span: Span {
                        line: m.line() as u32,
                        col: m.col() as u32 + 1,
                    },
                    message: format!("YAML syntax error: {}", e.info()),
                });
                return Err(b.errors);
            }
        };
        let span = span_of(&pspan);
        match event {
            Event::DocumentStart(_) => {
                b.documents += 1;
                if b.documents == 2 {
                    b.errors.push(ParseError {
                        span,
                        message: "a DAG file holds one YAML document, but a second one starts here".into(),
                    });
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let is_str_tag = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let plain = style == ScalarStyle::Plain && !is_str_tag;
                let value = if plain {
                    resolve_plain(&text)
                } else {
                    Value::Str(text.into_owned())
                };
                b.complete(Node::new(value, span), anchor, plain);
            }
            Event::Alias(id) => match b.anchors.get(&id).cloned() {
                Some(node) => b.complete(node, 0, false),
                None => b.errors.push(ParseError {
                    span,
                    message: "alias refers to an unknown anchor".into(),
                }),
            },
            Event::SequenceStart(anchor, _) => b.stack.push(Frame::Seq {
                items: Vec::new(),
                span,
                anchor,
            }),
            Event::MappingStart(anchor, _) => b.stack.push(Frame::Map {
                entries: Vec::new(),
                key: None,
                merges: Vec::new(),
                span,
                anchor,
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(frame) = b.stack.pop() {
                    let (node, anchor) = b.finish(frame);
                    b.complete(node, anchor, false);
                }
            }
            Event::StreamEnd => break,
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
        }
    }
    if b.errors.is_empty() {
        Ok(b.root.unwrap_or(Node::new(Value::Null, Span { line: 1, col: 1 })))
    } else {
        Err(b.errors)
    }
}

impl Builder {
    fn finish(&mut self, frame: Frame) -> (Node, usize) {
        match frame {
            Frame::Seq { items, span, anchor } => (Node::new(Value::Seq(items), span), anchor),
            Frame::Map {
                mut entries,
                merges,
                span,
                anchor,
                ..
            } => {
                // `<<` merge keys: explicit keys win, then earlier merges.
                for merged in merges {
                    let sources: Vec<Node> = match merged.value {
                        Value::Seq(items) => items,
                        _ => vec![merged],
                    };
                    for src in sources {
                        match src.value {
                            Value::Map(more) => {
                                for e in more {
                                    if !entries.iter().any(|x| x.key == e.key) {
                                        entries.push(e);
                                    }
                                }
                            }
                            _ => self.errors.push(ParseError {
                                span: src.span,
                                message: format!(
                                    "a `<<` merge key takes a mapping or a list of mappings, found {}",
                                    src.describe()
                                ),
                            }),
                        }
                    }
                }
                (Node::new(Value::Map(entries), span), anchor)
            }
        }
    }

    /// Attaches a finished node to its parent (or makes it the root).
    fn complete(&mut self, node: Node, anchor: usize, plain_scalar: bool) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries, key, merges, ..
            }) => match key.take() {
                None => {
                    let text = match &node.value {
                        Value::Str(s) => Some(s.clone()),
                        Value::Int(i) => Some(i.to_string()),
                        Value::Float(x) => Some(x.to_string()),
                        Value::Bool(b) => Some(b.to_string()),
                        Value::Null => Some(String::new()),
                        Value::Seq(_) | Value::Map(_) => None,
                    };
                    match text {
                        Some(t) => *key = Some((t, node.span, plain_scalar)),
                        None => {
                            self.errors.push(ParseError {
                                span: node.span,
                                message: format!("mapping keys must be plain values, found {}", node.describe()),
                            });
                            // Keep the structure consistent: the next node is its value.
                            *key = Some((String::new(), node.span, false));
                        }
                    }
                }
                Some((k, key_span, plain)) => {
                    if plain && k == "<<" {
                        merges.push(node);
                    } else {
                        entries.push(Entry {
                            key: k,
                            key_span,
                            value: node,
                        });
                    }
                }
            },
        }
    }
}

/// YAML 1.2 core schema resolution of a plain (unquoted) scalar.
fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if let Some(v) = resolve_int(s) {
        return v;
    }
    if is_core_float(s)
        && let Ok(x) = s.parse::<f64>()
    {
        return Value::Float(x);
    }
    Value::Str(s.to_string())
}

fn resolve_int(s: &str) -> Option<Value> {
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x") {
        (h, 16)
    } else if let Some(o) = s.strip_prefix("0o") {
        (o, 8)
    } else {
        let body = s.strip_prefix(['-', '+']).unwrap_or(s);
        if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        return Some(match s.parse::<i64>() {
            Ok(i) => Value::Int(i),
            // Too large for i64: keep the text rather than lose digits.
            Err(_) => Value::Str(s.to_string()),
        });
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    Some(
        i64::from_str_radix(digits, radix)
            .map(Value::Int)
            .unwrap_or_else(|_| Value::Str(s.to_string())),
    )
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
fn is_core_float(s: &str) -> bool {
    let b = s.strip_prefix(['-', '+']).unwrap_or(s).as_bytes();
    let mut i = 0;
    let int_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        i += frac_digits;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let exp = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp == 0 {
            return false;
        }
        i += exp;
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Node {
        parse_document(s).expect("valid yaml")
    }

    #[test]
    fn resolves_core_schema_scalars() {
        let n = parse("a: 1\nb: 1.5\nc: true\nd: ~\ne: 2024-11-01\nf: '3'\ng: 0x1f\nh: 1e3\ni: yes\n");
        let m = n.as_map().unwrap();
        let vals: Vec<&Value> = m.iter().map(|e| &e.value.value).collect();
        assert_eq!(vals[0], &Value::Int(1));
        assert_eq!(vals[1], &Value::Float(1.5));
        assert_eq!(vals[2], &Value::Bool(true));
        assert_eq!(vals[3], &Value::Null);
        assert_eq!(vals[4], &Value::Str("2024-11-01".into()));
        assert_eq!(vals[5], &Value::Str("3".into()));
        assert_eq!(vals[6], &Value::Int(31));
        assert_eq!(vals[7], &Value::Float(1000.0));
        assert_eq!(vals[8], &Value::Str("yes".into()));
    }

    #[test]
    fn keeps_spans_of_keys_and_values() {
        let n = parse("dag_id: x\ntasks:\n  one:\n    operator: empty\n");
        let tasks = n.get("tasks").unwrap();
        let one = &tasks.as_map().unwrap()[0];
        assert_eq!(one.key_span, Span { line: 3, col: 3 });
        assert_eq!(one.value.get("operator").unwrap().span, Span { line: 4, col: 15 });
    }

    #[test]
    fn keeps_duplicate_keys() {
        let n = parse("a: 1\na: 2\n");
        assert_eq!(n.as_map().unwrap().len(), 2);
        assert_eq!(super::super::duplicate_keys(n.as_map().unwrap()).len(), 1);
    }

    #[test]
    fn expands_aliases_and_merge_keys() {
        let n = parse("base: &b {retries: 2, x: 1}\ntask:\n  <<: *b\n  x: 5\n");
        let task = n.get("task").unwrap();
        assert_eq!(task.get("retries").unwrap().value, Value::Int(2));
        assert_eq!(task.get("x").unwrap().value, Value::Int(5));
        assert_eq!(task.as_map().unwrap().len(), 2);
    }

    #[test]
    fn reports_syntax_errors_with_place() {
        let errs = parse_document("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(errs[0].message.starts_with("YAML syntax error"), "{}", errs[0]);
        assert!(errs[0].span.line >= 1);
    }

    #[test]
    fn rejects_a_second_document() {
        let errs = parse_document("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(errs[0].message.contains("second one"), "{}", errs[0]);
        assert_eq!(errs[0].span.line, 2);
    }

    #[test]
    fn empty_input_is_null() {
        assert!(parse("").is_null());
        assert!(parse("# only a comment\n").is_null());
    }
}
