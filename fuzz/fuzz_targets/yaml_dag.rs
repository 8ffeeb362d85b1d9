//! YAML text to a DAG or diagnostics: never a panic, and never a tree past
//! the limits it was read with.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use updraft_engine::dag::load_dag_with;
use updraft_engine::operator::{Operator, Output, Registry, TaskContext, TaskError};
use updraft_engine::yaml::{Node, Value, YamlLimits, parse_document_with};

/// Operators that take any config, under the names the example DAGs use,
/// so that seeds get past the operator check into the rest of the loader.
macro_rules! any_config_operator {
    ($ty:ident, $name:literal) => {
        struct $ty;

        impl Operator for $ty {
            const NAME: &'static str = $name;
            type Config = serde_json::Value;

            async fn execute(&self, _: serde_json::Value, _: TaskContext) -> Result<Output, TaskError> {
                Ok(Output::default())
            }
        }
    };
}

any_config_operator!(Shell, "shell");
any_config_operator!(Empty, "empty");
any_config_operator!(Docker, "docker");
any_config_operator!(Transform, "transform");

/// Small limits, so that crossing each of them is within the fuzzer's reach.
const LIMITS: YamlLimits = YamlLimits {
    max_bytes: 64 << 10,
    max_depth: 24,
    max_aliases: 200,
    max_nodes: 20_000,
    max_text_bytes: 1 << 20,
};

/// (nodes counting keys, nesting of lists and mappings, text bytes).
fn measure(n: &Node) -> (usize, usize, usize) {
    match &n.value {
        Value::Str(s) => (1, 0, s.len()),
        Value::Seq(items) => items
            .iter()
            .map(measure)
            .fold((1, 1, 0), |(n, d, t), (cn, cd, ct)| (n + cn, d.max(cd + 1), t + ct)),
        Value::Map(entries) => entries.iter().fold((1, 1, 0), |(n, d, t), e| {
            let (cn, cd, ct) = measure(&e.value);
            (n + cn + 1, d.max(cd + 1), t + ct + e.key.len())
        }),
        _ => (1, 0, 0),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(root) = parse_document_with(text, &LIMITS) {
        let (nodes, depth, text_bytes) = measure(&root);
        assert!(nodes <= LIMITS.max_nodes, "{nodes} nodes");
        assert!(depth <= LIMITS.max_depth, "nested {depth} deep");
        assert!(text_bytes <= LIMITS.max_text_bytes, "{text_bytes} bytes of text");
    }
    let registry = Registry::with(|r| {
        r.register(Shell).register(Empty).register(Docker).register(Transform);
    });
    if let Err(diagnostics) = load_dag_with(Path::new("fuzz.yaml"), text, &registry, &LIMITS) {
        assert!(!diagnostics.is_empty(), "a failed load says why");
    }
});
