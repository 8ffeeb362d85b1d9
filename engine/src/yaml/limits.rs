//! What reading one YAML document may cost: a few hundred bytes of nested
//! aliases ("billion laughs") expand to billions of nodes, and deep nesting
//! exhausts the stack of every recursive walk over the tree.

/// Bounds on one YAML document. The defaults are far above what real DAG
/// files need and far below what hurts the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YamlLimits {
    /// Largest document, in bytes (4 MiB).
    pub max_bytes: usize,
    /// Deepest nesting of lists and mappings, aliases expanded (64).
    pub max_depth: usize,
    /// Alias uses (`*name`) in one document (10,000).
    pub max_aliases: usize,
    /// Nodes (scalars, keys, lists, mappings) once aliases are expanded
    /// (250,000).
    pub max_nodes: usize,
    /// Bytes of scalar and key text once aliases are expanded (16 MiB).
    pub max_text_bytes: usize,
}

impl Default for YamlLimits {
    fn default() -> Self {
        YamlLimits {
            max_bytes: 4 << 20,
            max_depth: 64,
            max_aliases: 10_000,
            max_nodes: 250_000,
            max_text_bytes: 16 << 20,
        }
    }
}
