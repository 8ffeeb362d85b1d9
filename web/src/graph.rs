//! Server-side drawings: the DAG laid out left to right in layers (each
//! task one column right of its deepest upstream), and a run's Gantt chart.

use std::collections::HashMap;
use std::fmt::Write as _;

use jiff::Timestamp;
use updraft_engine::Dag;
use updraft_engine::store::TaskInstance;

const COL: f64 = 190.0;
const ROW: f64 = 44.0;
const W: f64 = 160.0;
const H: f64 = 30.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The DAG as SVG; `states` colours nodes (task id -> state), `href`
/// links each node (task id -> URL), both optional per task.
pub fn dag_svg(dag: &Dag, states: &HashMap<String, String>, href: impl Fn(&str) -> Option<String>) -> String {
    let layers = dag.graph.layers();
    let mut rows_in: Vec<usize> = Vec::new();
    let mut pos = vec![(0.0, 0.0); dag.tasks.len()];
    // Place each layer's tasks top to bottom, in topological order.
    for i in dag.graph.topological_order() {
        let l = layers[i];
        if rows_in.len() <= l {
            rows_in.resize(l + 1, 0);
        }
        pos[i] = (10.0 + l as f64 * COL, 10.0 + rows_in[l] as f64 * ROW);
        rows_in[l] += 1;
    }
    let width = 20.0 + rows_in.len() as f64 * COL;
    let height = 20.0 + rows_in.iter().copied().max().unwrap_or(1) as f64 * ROW;
    let mut s = String::with_capacity(dag.tasks.len() * 300);
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="dag" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="graph of {}">"#,
        esc(&dag.dag_id)
    );
    for (from, to) in dag.graph.edges() {
        let (x1, y1) = (pos[from].0 + W, pos[from].1 + H / 2.0);
        let (x2, y2) = (pos[to].0, pos[to].1 + H / 2.0);
        let mx = (x1 + x2) / 2.0;
        let _ = write!(
            s,
            r#"<path class="edge" d="M{x1},{y1} C{mx},{y1} {mx},{y2} {x2},{y2}"/>"#
        );
    }
    for (i, t) in dag.tasks.iter().enumerate() {
        let (x, y) = pos[i];
        let state = states.get(&t.task_id).map_or("none", String::as_str);
        let link = href(&t.task_id);
        if let Some(h) = &link {
            let _ = write!(s, r#"<a href="{}">"#, esc(h));
        }
        let _ = write!(
            s,
            r#"<g class="node s-{state}" data-task="{id}"><title>{id}: {state} ({op})</title><rect x="{x}" y="{y}" width="{W}" height="{H}" rx="5"/><text x="{tx}" y="{ty}">{label}</text></g>"#,
            id = esc(&t.task_id),
            op = esc(&t.operator),
            tx = x + 8.0,
            ty = y + 19.0,
            label = esc(&truncate(&t.task_id, 22)),
        );
        if link.is_some() {
            s.push_str("</a>");
        }
    }
    s.push_str("</svg>");
    s
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// A run's task instances as bars on one time axis.
pub fn gantt_svg(tis: &[TaskInstance]) -> String {
    let now = Timestamp::now();
    let spans: Vec<(&TaskInstance, i64, i64)> = tis
        .iter()
        .filter_map(|t| {
            let s = t.start_date?.as_millisecond();
            Some((t, s, t.end_date.unwrap_or(now).as_millisecond().max(s)))
        })
        .collect();
    if spans.is_empty() {
        return r#"<p class="muted">No task has started yet.</p>"#.into();
    }
    let t0 = spans.iter().map(|x| x.1).min().unwrap_or(0);
    let t1 = spans.iter().map(|x| x.2).max().unwrap_or(0).max(t0 + 1);
    let (label_w, bar_w, row) = (180.0, 600.0, 22.0);
    let scale = bar_w / (t1 - t0) as f64;
    let height = spans.len() as f64 * row + 24.0;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="gantt" width="{}" height="{height}" role="img" aria-label="timeline">"#,
        label_w + bar_w + 80.0
    );
    for (i, (t, a, b)) in spans.iter().enumerate() {
        let y = i as f64 * row + 4.0;
        let x = label_w + (a - t0) as f64 * scale;
        let w = ((b - a) as f64 * scale).max(2.0);
        let _ = write!(
            s,
            r#"<text x="4" y="{ty}">{id}</text><rect class="s-{st}" x="{x:.1}" y="{y}" width="{w:.1}" height="16" rx="3"><title>{id}: {st}, {secs:.1}s</title></rect>"#,
            ty = y + 13.0,
            id = esc(&truncate(&t.task_id, 24)),
            st = t.state,
            secs = (b - a) as f64 / 1000.0,
        );
    }
    let _ = write!(
        s,
        r#"<text class="muted" x="{label_w}" y="{y}">0s</text><text class="muted" x="{x}" y="{y}" text-anchor="end">{total:.1}s</text></svg>"#,
        y = height - 6.0,
        x = label_w + bar_w,
        total = (t1 - t0) as f64 / 1000.0
    );
    s
}
