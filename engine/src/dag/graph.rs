//! The task graph (petgraph): cycles, order, layers.

use petgraph::Direction;
use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};

/// Edges run upstream -> downstream; node `i` is task `i` of the DAG.
#[derive(Debug, Clone, Default)]
pub struct DagGraph {
    g: DiGraph<(), ()>,
}

impl DagGraph {
    /// Builds the graph from each task's upstream indices.
    pub fn new(upstream: &[Vec<usize>]) -> Self {
        let mut g = DiGraph::with_capacity(upstream.len(), upstream.iter().map(Vec::len).sum());
        for _ in upstream {
            g.add_node(());
        }
        for (down, ups) in upstream.iter().enumerate() {
            for &up in ups {
                g.add_edge(NodeIndex::new(up), NodeIndex::new(down), ());
            }
        }
        DagGraph { g }
    }

    pub fn len(&self) -> usize {
        self.g.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.g.node_count() == 0
    }

    /// Every cycle's tasks, in edge order, starting from the task that comes
    /// first in the file. Self-loops are included.
    pub fn cycles(&self) -> Vec<Vec<usize>> {
        let mut out = Vec::new();
        for scc in tarjan_scc(&self.g) {
            let self_loop = scc.len() == 1 && self.g.contains_edge(scc[0], scc[0]);
            if scc.len() < 2 && !self_loop {
                continue;
            }
            let start = *scc.iter().min().expect("an SCC is never empty");
            // Walk edges inside the component until a task repeats.
            let mut path = vec![start];
            let mut cur = start;
            loop {
                let next = self
                    .g
                    .neighbors_directed(cur, Direction::Outgoing)
                    .filter(|n| scc.contains(n))
                    .min()
                    .expect("every task of a cycle has an edge inside it");
                if let Some(pos) = path.iter().position(|p| *p == next) {
                    path.drain(..pos);
                    break;
                }
                path.push(next);
                cur = next;
            }
            // Rotate so the earliest task of the cycle comes first.
            let min_pos = path
                .iter()
                .enumerate()
                .min_by_key(|(_, n)| **n)
                .map(|(i, _)| i)
                .unwrap_or(0);
            path.rotate_left(min_pos);
            out.push(path.into_iter().map(NodeIndex::index).collect());
        }
        out.sort();
        out
    }

    /// A topological order (only for acyclic graphs).
    pub fn topological_order(&self) -> Vec<usize> {
        toposort(&self.g, None)
            .map(|v| v.into_iter().map(NodeIndex::index).collect())
            .unwrap_or_default()
    }

    pub fn downstream(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.g
            .neighbors_directed(NodeIndex::new(i), Direction::Outgoing)
            .map(NodeIndex::index)
    }

    pub fn upstream(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.g
            .neighbors_directed(NodeIndex::new(i), Direction::Incoming)
            .map(NodeIndex::index)
    }

    /// All tasks upstream of `i`, directly or not.
    pub fn ancestors(&self, i: usize) -> Vec<bool> {
        let mut seen = vec![false; self.len()];
        let mut stack: Vec<usize> = self.upstream(i).collect();
        while let Some(n) = stack.pop() {
            if !std::mem::replace(&mut seen[n], true) {
                stack.extend(self.upstream(n));
            }
        }
        seen
    }

    /// Each task's layer: 0 for tasks without upstream, else one more than
    /// its deepest upstream. Left-to-right drawing columns.
    pub fn layers(&self) -> Vec<usize> {
        let mut layer = vec![0; self.len()];
        for n in self.topological_order() {
            for d in self.downstream(n) {
                layer[d] = layer[d].max(layer[n] + 1);
            }
        }
        layer
    }

    /// Edges as (upstream, downstream) index pairs, in insertion order.
    pub fn edges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.g
            .raw_edges()
            .iter()
            .map(|e| (e.source().index(), e.target().index()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cycles_in_order() {
        // 0 -> 1 -> 2 -> 0, and 3 alone, 4 -> 4.
        let g = DagGraph::new(&[vec![2], vec![0], vec![1], vec![], vec![4]]);
        assert_eq!(g.cycles(), vec![vec![0, 1, 2], vec![4]]);
    }

    #[test]
    fn layers_and_ancestors() {
        // a, b -> c -> d; a -> d
        let g = DagGraph::new(&[vec![], vec![], vec![0, 1], vec![2, 0]]);
        assert!(g.cycles().is_empty());
        assert_eq!(g.layers(), vec![0, 0, 1, 2]);
        assert_eq!(g.ancestors(3), vec![true, true, true, false]);
        assert_eq!(g.ancestors(0), vec![false; 4]);
    }
}
