//! A DAG drawn as text, left to right as a tree from its first tasks (like
//! `cargo tree`): a task reached again is marked `(*)` instead of repeated.

use updraft_engine::Dag;

pub fn render(dag: &Dag) -> String {
    let mut out = String::new();
    let mut expanded = vec![false; dag.tasks.len()];
    let roots: Vec<usize> = (0..dag.tasks.len())
        .filter(|&i| dag.tasks[i].upstream.is_empty())
        .collect();
    for root in roots {
        draw(dag, root, "", None, &mut expanded, &mut out);
    }
    out
}

/// `branch` is `Some(is_last)` for children, `None` for a root.
fn draw(dag: &Dag, i: usize, prefix: &str, branch: Option<bool>, expanded: &mut [bool], out: &mut String) {
    let (head, child_prefix) = match branch {
        None => (String::new(), String::new()),
        Some(true) => (format!("{prefix}└─▶ "), format!("{prefix}    ")),
        Some(false) => (format!("{prefix}├─▶ "), format!("{prefix}│   ")),
    };
    let task = &dag.tasks[i];
    let mut children: Vec<usize> = dag.graph.downstream(i).collect();
    children.sort_unstable();
    let seen = expanded[i];
    let mark = if seen && !children.is_empty() { " (*)" } else { "" };
    let rule = if task.trigger_rule == Default::default() {
        String::new()
    } else {
        format!(" [{}]", task.trigger_rule)
    };
    out.push_str(&format!("{head}{}{rule}{mark}\n", task.task_id));
    if seen {
        return;
    }
    expanded[i] = true;
    for (n, c) in children.iter().enumerate() {
        draw(dag, *c, &child_prefix, Some(n + 1 == children.len()), expanded, out);
    }
}
