//! Builds a [`Node`] tree from saphyr-parser's event stream, keeping spans,
//! resolving plain scalars by the YAML 1.2 core schema, expanding aliases and
//! `<<` merge keys, and keeping duplicate keys for the loader to report.

use std::collections::{HashMap, HashSet};
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle, Span as PSpan};

use super::{Entry, Node, Span, Value, YamlLimits};

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

/// How much of the expanded document a node stands for: what an alias to
/// it adds.
#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    nodes: usize,
    text: usize,
    /// Levels of lists and mappings inside it (0 for a scalar).
    height: usize,
}

enum Frame {
    Seq {
        items: Vec<Node>,
        span: Span,
        anchor: usize,
        start: Cost,
        height: usize,
    },
    Map {
        entries: Vec<Entry>,
        key: Option<(String, Span, bool)>,
        merges: Vec<Node>,
        span: Span,
        anchor: usize,
        start: Cost,
        height: usize,
    },
}

struct Builder<'l> {
    limits: &'l YamlLimits,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, Cost)>,
    root: Option<Node>,
    documents: usize,
    errors: Vec<ParseError>,
    /// The document so far, aliases expanded.
    total: Cost,
    aliases: usize,
}

/// Parses one YAML document within the default [`YamlLimits`]. An empty
/// input gives a `Null` node at 1:1.
pub fn parse_document(src: &str) -> Result<Node, Vec<ParseError>> {
    parse_document_with(src, &YamlLimits::default())
}

/// Parses one YAML document. Crossing a limit ends the parse with one error
/// at the place it was crossed.
pub fn parse_document_with(src: &str, limits: &YamlLimits) -> Result<Node, Vec<ParseError>> {
    if src.len() > limits.max_bytes {
        return Err(vec![ParseError {
            span: Span { line: 1, col: 1 },
            message: too_big(src.len(), limits.max_bytes),
        }]);
    }
    let mut parser = Parser::new_from_str(src);
    let mut b = Builder {
        limits,
        stack: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        documents: 0,
        errors: Vec::new(),
        total: Cost::default(),
        aliases: 0,
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
        if let Err(message) = b.step(event, span) {
            b.errors.push(ParseError { span, message });
            return Err(b.errors);
        }
    }
    if b.errors.is_empty() {
        Ok(b.root.unwrap_or(Node::new(Value::Null, Span { line: 1, col: 1 })))
    } else {
        Err(b.errors)
    }
}

/// The message for a document over `max` bytes (also used by the folder
/// loader, which checks a file's size before reading it).
pub(crate) fn too_big(len: impl fmt::Display, max: usize) -> String {
    format!("the document is {len} bytes, over the limit of {max} bytes for one YAML document")
}

impl Builder<'_> {
    /// Takes one event; `Err` is a limit crossed, which ends the parse.
    fn step(&mut self, event: Event<'_>, span: Span) -> Result<(), String> {
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents == 2 {
                    self.errors.push(ParseError {
                        span,
                        message: "a DAG file holds one YAML document, but a second one starts here".into(),
                    });
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let cost = Cost {
                    nodes: 1,
                    text: text.len(),
                    height: 0,
                };
                self.add(cost)?;
                let is_str_tag = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let plain = style == ScalarStyle::Plain && !is_str_tag;
                let value = if plain {
                    resolve_plain(&text)
                } else {
                    Value::Str(text.into_owned())
                };
                self.complete(Node::new(value, span), anchor, plain, cost);
            }
            Event::Alias(id) => {
                self.aliases += 1;
                if self.aliases > self.limits.max_aliases {
                    return Err(format!(
                        "more than {} aliases in one document (the limit on alias uses)",
                        self.limits.max_aliases
                    ));
                }
                match self.anchors.get(&id) {
                    Some(&(_, cost)) => {
                        self.add(cost)?;
                        let node = self.anchors[&id].0.clone();
                        self.complete(node, 0, false, cost);
                    }
                    None => self.errors.push(ParseError {
                        span,
                        message: "alias refers to an unknown anchor".into(),
                    }),
                }
            }
            Event::SequenceStart(anchor, _) => {
                self.add(Cost {
                    nodes: 1,
                    text: 0,
                    height: 1,
                })?;
                let start = self.total;
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    span,
                    anchor,
                    start,
                    height: 1,
                });
            }
            Event::MappingStart(anchor, _) => {
                self.add(Cost {
                    nodes: 1,
                    text: 0,
                    height: 1,
                })?;
                let start = self.total;
                self.stack.push(Frame::Map {
                    entries: Vec::new(),
                    key: None,
                    merges: Vec::new(),
                    span,
                    anchor,
                    start,
                    height: 1,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(frame) = self.stack.pop() {
                    let (node, anchor, cost) = self.finish(frame);
                    self.complete(node, anchor, false, cost);
                }
            }
            Event::StreamEnd | Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
        }
        Ok(())
    }

    /// Counts a node about to be added at the current level against the limits.
    fn add(&mut self, cost: Cost) -> Result<(), String> {
        let l = self.limits;
        if self.stack.len() + cost.height > l.max_depth {
            return Err(format!(
                "lists and mappings nested deeper than {} levels (the limit on nesting)",
                l.max_depth
            ));
        }
        self.total.nodes = self.total.nodes.saturating_add(cost.nodes);
        self.total.text = self.total.text.saturating_add(cost.text);
        if self.total.nodes > l.max_nodes {
            return Err(format!(
                "the document grows past {} nodes with its aliases expanded (the limit on nodes, \
                 which stops \"billion laughs\" documents)",
                l.max_nodes
            ));
        }
        if self.total.text > l.max_text_bytes {
            return Err(format!(
                "the document grows past {} bytes of text with its aliases expanded (the limit on \
                 expanded text)",
                l.max_text_bytes
            ));
        }
        Ok(())
    }

    fn finish(&mut self, frame: Frame) -> (Node, usize, Cost) {
        let cost_since = |start: Cost, height: usize| Cost {
            // The collection's own node was counted just before `start`.
            nodes: self.total.nodes - start.nodes + 1,
            text: self.total.text - start.text,
            height,
        };
        match frame {
            Frame::Seq {
                items,
                span,
                anchor,
                start,
                height,
            } => (Node::new(Value::Seq(items), span), anchor, cost_since(start, height)),
            Frame::Map {
                mut entries,
                merges,
                span,
                anchor,
                start,
                height,
                ..
            } => {
                let cost = cost_since(start, height);
                // `<<` merge keys: explicit keys win, then earlier merges.
                let mut seen: HashSet<String> = if merges.is_empty() {
                    HashSet::new()
                } else {
                    entries.iter().map(|e| e.key.clone()).collect()
                };
                for merged in merges {
                    let sources: Vec<Node> = match merged.value {
                        Value::Seq(items) => items,
                        _ => vec![merged],
                    };
                    for src in sources {
                        match src.value {
                            Value::Map(more) => {
                                for e in more {
                                    if seen.insert(e.key.clone()) {
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
                (Node::new(Value::Map(entries), span), anchor, cost)
            }
        }
    }

    /// Attaches a finished node to its parent (or makes it the root).
    fn complete(&mut self, node: Node, anchor: usize, plain_scalar: bool, cost: Cost) {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), cost));
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, height, .. }) => {
                *height = (*height).max(cost.height + 1);
                items.push(node);
            }
            Some(Frame::Map {
                entries,
                key,
                merges,
                height,
                ..
            }) => {
                *height = (*height).max(cost.height + 1);
                match key.take() {
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
                }
            }
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

    /// Nine levels of nine aliases: 9^9 (387 million) strings from 500 bytes.
    fn billion_laughs() -> String {
        let mut s = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for (prev, name) in ('a'..='h').zip('b'..='i') {
            let refs = vec![format!("*{prev}"); 9].join(", ");
            s.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        s
    }

    #[test]
    fn billion_laughs_stops_at_the_node_limit() {
        let src = billion_laughs();
        assert!(src.len() < 600, "{}", src.len());
        let errs = parse_document(&src).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].message.contains("nodes"), "{}", errs[0]);
        assert!(errs[0].message.contains("250000"), "{}", errs[0]);
        assert!(
            errs[0].span.line > 1,
            "located at the alias that crosses the limit: {}",
            errs[0]
        );
    }

    #[test]
    fn a_large_string_aliased_many_times_stops_at_the_text_limit() {
        let mut src = format!("a: &a '{}'\nb: [", "x".repeat(1 << 20));
        src.push_str(&vec!["*a"; 40].join(", "));
        src.push_str("]\n");
        let errs = parse_document(&src).unwrap_err();
        assert!(errs[0].message.contains("bytes of text"), "{}", errs[0]);
        assert_eq!(errs[0].span.line, 2);
    }

    #[test]
    fn alias_uses_are_counted() {
        let limits = YamlLimits {
            max_aliases: 3,
            ..YamlLimits::default()
        };
        assert!(parse_document_with("a: &a 1\nb: [*a, *a, *a]\n", &limits).is_ok());
        let errs = parse_document_with("a: &a 1\nb: [*a, *a, *a, *a]\n", &limits).unwrap_err();
        assert!(errs[0].message.contains("more than 3 aliases"), "{}", errs[0]);
        assert_eq!(errs[0].span, Span { line: 2, col: 17 });
    }

    #[test]
    fn deep_nesting_stops_at_the_depth_limit() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let errs = parse_document(&deep).unwrap_err();
        assert!(errs[0].message.contains("nested deeper than 64"), "{}", errs[0]);
        assert_eq!(errs[0].span, Span { line: 1, col: 65 });
        // The scanner gives up on its own far down; either way, an error.
        let deeper = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_document(&deeper).is_err());
        let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(parse_document(&ok).is_ok());
        let blocks: String = (0..65).map(|i| format!("{}k:\n", "  ".repeat(i))).collect();
        let errs = parse_document(&blocks).unwrap_err();
        assert!(errs[0].message.contains("nested deeper than 64"), "{}", errs[0]);
        assert_eq!(errs[0].span.line, 65);
    }

    #[test]
    fn an_alias_cannot_nest_past_the_depth_limit() {
        let limits = YamlLimits {
            max_depth: 4,
            ..YamlLimits::default()
        };
        let src = "a: &a [[[1]]]\nb: *a\nc: [*a]\n";
        let errs = parse_document_with(src, &limits).unwrap_err();
        assert_eq!(errs[0].span.line, 3, "{errs:?}");
        assert!(errs[0].message.contains("nested deeper than 4"), "{}", errs[0]);
    }

    #[test]
    fn documents_over_the_size_limit_are_refused_unread() {
        let limits = YamlLimits {
            max_bytes: 10,
            ..YamlLimits::default()
        };
        let errs = parse_document_with("a: 12345678\n", &limits).unwrap_err();
        assert_eq!(errs[0].span, Span { line: 1, col: 1 });
        assert!(errs[0].message.contains("12 bytes"), "{}", errs[0]);
        assert!(errs[0].message.contains("limit of 10 bytes"), "{}", errs[0]);
    }

    #[test]
    fn merging_many_keys_is_not_quadratic() {
        let keys: Vec<String> = (0..30_000).map(|i| format!("k{i}: {i}")).collect();
        let src = format!("a: &a {{{}}}\nb: {{<<: [*a, *a], k0: x}}\n", keys.join(", "));
        let started = std::time::Instant::now();
        let n = parse_document(&src).unwrap();
        assert_eq!(n.get("b").unwrap().as_map().unwrap().len(), 30_000);
        assert_eq!(n.get("b").unwrap().get("k0").unwrap().as_str(), Some("x"));
        assert!(started.elapsed().as_secs() < 5, "took {:?}", started.elapsed());
    }

    #[test]
    fn empty_input_is_null() {
        assert!(parse("").is_null());
        assert!(parse("# only a comment\n").is_null());
    }
}
