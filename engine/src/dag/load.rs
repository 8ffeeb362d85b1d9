//! One YAML file to one validated [`Dag`], or every problem in the file.

use std::path::Path;
use std::sync::Arc;

use jiff::tz::TimeZone;

use super::fields::{FieldReader, check_id};
use super::{Dag, DagGraph, OutputReads, RetryPolicy, Task, TriggerRule};
use crate::diagnostic::{Diagnostic, Problems};
use crate::operator::Registry;
use crate::schedule::{Schedule, Timetable};
use crate::suggest::did_you_mean;
use crate::template::{self, CONTEXT_NAMES};
use crate::time::{parse_instant, parse_timezone};
use crate::yaml::{Entry, Node, Span, Value, YamlLimits, duplicate_keys, parse_document_with};

pub const DAG_FIELDS: &[&str] = &[
    "dag_id",
    "description",
    "schedule",
    "start_date",
    "end_date",
    "timezone",
    "catchup",
    "max_active_runs",
    "max_active_tasks",
    "tags",
    "params",
    "allow_undeclared_conf",
    "default_args",
    "tasks",
];

/// Fields every task has, whatever its operator.
pub const TASK_FIELDS: &[&str] = &[
    "operator",
    "depends_on",
    "trigger_rule",
    "retries",
    "retry_delay",
    "retry_exponential_backoff",
    "max_retry_delay",
    "execution_timeout",
    "description",
];

pub const DEFAULT_ARGS_FIELDS: &[&str] = &[
    "retries",
    "retry_delay",
    "retry_exponential_backoff",
    "max_retry_delay",
    "execution_timeout",
    "trigger_rule",
];

/// Airflow spellings a user may bring along, and what they are called here.
const AIRFLOW_NAMES: &[(&str, &str)] = &[
    ("schedule_interval", "schedule"),
    ("timetable", "schedule"),
    ("dag_display_name", "description"),
    ("doc_md", "description"),
    ("concurrency", "max_active_tasks"),
    ("upstream", "depends_on"),
    ("dependencies", "depends_on"),
    ("bash_command", "command"),
];

fn unknown_field(field: &str, known: &[&str]) -> String {
    let hint = match AIRFLOW_NAMES.iter().find(|(a, _)| *a == field) {
        Some((_, ours)) if known.contains(ours) => format!("; Updraft calls it `{ours}`"),
        _ => did_you_mean(field, known.iter().copied()),
    };
    format!("unknown field `{field}`{hint}; expected one of: {}", known.join(", "))
}

/// Parses and validates one DAG file's text within the default limits.
/// `path` names the file in messages and gives the default `dag_id` (its
/// stem).
pub fn load_dag(path: &Path, source: &str, registry: &Registry) -> Result<Dag, Vec<Diagnostic>> {
    load_dag_with(path, source, registry, &YamlLimits::default())
}

/// [`load_dag`] within the installation's `limits`.
pub fn load_dag_with(
    path: &Path,
    source: &str,
    registry: &Registry,
    limits: &YamlLimits,
) -> Result<Dag, Vec<Diagnostic>> {
    let mut problems = Problems::default();
    let dag = match parse_document_with(source, limits) {
        Ok(root) => build(path, source, &root, registry, &mut problems),
        Err(errs) => {
            for e in errs {
                problems.add(e.span, e.message);
            }
            None
        }
    };
    match dag {
        Some(dag) if problems.is_empty() => Ok(dag),
        _ => Err(problems.into_diagnostics(path)),
    }
}

fn build(path: &Path, source: &str, root: &Node, registry: &Registry, problems: &mut Problems) -> Option<Dag> {
    let entries = match &root.value {
        Value::Map(entries) => entries,
        Value::Null => {
            problems.add(None, "the file is empty; a DAG file needs at least `tasks`");
            return None;
        }
        _ => {
            problems.add(
                root.span,
                format!(
                    "a DAG file must be a mapping of fields (dag_id, schedule, tasks, ...), found {}",
                    root.describe()
                ),
            );
            return None;
        }
    };
    for (first, dup) in duplicate_keys(entries) {
        problems.add(
            dup.key_span,
            format!(
                "field `{}` is given twice (first at line {})",
                dup.key, first.key_span.line
            ),
        );
    }
    for e in entries.iter().filter(|e| !DAG_FIELDS.contains(&e.key.as_str())) {
        problems.add(e.key_span, unknown_field(&e.key, DAG_FIELDS));
    }
    let mut r = FieldReader {
        problems,
        context: String::new(),
    };
    let get = |name: &str| root.get(name);

    let dag_id = match get("dag_id") {
        Some(n) => r.string(n, "dag_id").and_then(|id| match check_id(&id) {
            Ok(()) => Some(id),
            Err(e) => {
                r.fail(n, "dag_id", format_args!("{id:?} {e}"));
                None
            }
        }),
        None => {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            match check_id(&stem) {
                Ok(()) => Some(stem),
                Err(e) => {
                    r.problems.add(
                        None,
                        format!("`dag_id` is not set and the file name {stem:?} {e}; set `dag_id`"),
                    );
                    None
                }
            }
        }
    };
    let description = get("description")
        .and_then(|n| r.opt_string(n, "description"))
        .flatten();
    let timezone_name = match get("timezone") {
        Some(n) => r.string(n, "timezone"),
        None => Some("UTC".to_string()),
    };
    let tz = timezone_name.as_deref().and_then(|name| match parse_timezone(name) {
        Ok(tz) => Some(tz),
        Err(e) => {
            r.fail(get("timezone").expect("only a written name can fail"), "timezone", e);
            None
        }
    });
    let schedule = match get("schedule") {
        None => Some(Schedule::Manual),
        Some(n) => r
            .opt_string(n, "schedule")
            .and_then(|text| match Schedule::parse(text.as_deref()) {
                Ok(s) => Some(s),
                Err(e) => {
                    r.fail(n, "schedule", e);
                    None
                }
            }),
    };
    let tz_for_dates = tz.clone().unwrap_or(TimeZone::UTC);
    let date = |r: &mut FieldReader, field: &str| -> Option<Option<jiff::Timestamp>> {
        let Some(n) = get(field) else {
            return Some(None);
        };
        let text = match &n.value {
            Value::Null => return Some(None),
            Value::Str(s) => s.clone(),
            _ => {
                r.fail(
                    n,
                    field,
                    format_args!("expected a date such as 2024-11-01, found {}", n.describe()),
                );
                return None;
            }
        };
        match parse_instant(&text, &tz_for_dates) {
            Ok(ts) => Some(Some(ts)),
            Err(e) => {
                r.fail(n, field, e);
                None
            }
        }
    };
    let start_date = date(&mut r, "start_date");
    let end_date = date(&mut r, "end_date");
    if let (Some(Some(s)), Some(Some(e))) = (start_date, end_date)
        && e < s
    {
        r.fail(get("end_date").expect("parsed"), "end_date", "is before `start_date`");
    }
    if let (Some(sched), Some(None)) = (&schedule, start_date)
        && !sched.is_manual()
    {
        r.problems.add(
            get("schedule").map(|n| n.span),
            format!("`start_date` is required with a schedule (`{sched}`): runs are planned from it"),
        );
    }
    let catchup = get("catchup").map_or(Some(false), |n| r.boolean(n, "catchup"));
    let max_active_runs = get("max_active_runs").map_or(Some(16), |n| r.count(n, "max_active_runs", 1));
    let max_active_tasks = get("max_active_tasks").map_or(Some(16), |n| r.count(n, "max_active_tasks", 1));
    let tags: Vec<String> = get("tags")
        .map(|n| {
            r.string_list(n, "tags")
                .into_iter()
                .map(|(s, _)| s.to_string())
                .collect()
        })
        .unwrap_or_default();
    let params = match get("params") {
        None => Some(serde_json::Map::new()),
        Some(n) => match n.to_json() {
            serde_json::Value::Object(m) => Some(m),
            serde_json::Value::Null => Some(serde_json::Map::new()),
            _ => {
                r.fail(
                    n,
                    "params",
                    format_args!("expected a mapping of names to values, found {}", n.describe()),
                );
                None
            }
        },
    };
    let allow_undeclared_conf =
        get("allow_undeclared_conf").map_or(Some(false), |n| r.boolean(n, "allow_undeclared_conf"));
    let defaults = get("default_args").and_then(|n| read_defaults(n, &mut r));

    let tasks_node = get("tasks");
    let tasks = match tasks_node.map(|n| &n.value) {
        None => {
            r.problems
                .add(None, "`tasks` is missing: a DAG needs at least one task");
            None
        }
        Some(Value::Map(entries)) if entries.is_empty() => {
            r.problems.add(
                tasks_node.map(|n| n.span),
                "`tasks` is empty: a DAG needs at least one task",
            );
            None
        }
        Some(Value::Null) => {
            r.problems.add(
                tasks_node.map(|n| n.span),
                "`tasks` is empty: a DAG needs at least one task",
            );
            None
        }
        Some(Value::Map(entries)) => read_tasks(entries, defaults.as_ref(), registry, r.problems),
        Some(_) => {
            let n = tasks_node.expect("matched Some");
            r.fail(
                n,
                "tasks",
                format_args!("expected a mapping of task ids to tasks, found {}", n.describe()),
            );
            None
        }
    };

    let (tasks, graph) = tasks?;
    if !problems.is_empty() {
        return None;
    }
    Some(Dag {
        dag_id: dag_id?,
        description,
        file: path.to_path_buf(),
        source: Arc::from(source),
        timetable: Timetable::new(schedule?, tz?),
        timezone_name: timezone_name?,
        start_date: start_date?,
        end_date: end_date?,
        catchup: catchup?,
        max_active_runs: max_active_runs?,
        max_active_tasks: max_active_tasks?,
        tags,
        params: params?,
        allow_undeclared_conf: allow_undeclared_conf?,
        index: tasks.iter().enumerate().map(|(i, t)| (t.task_id.clone(), i)).collect(),
        tasks,
        graph,
    })
}

/// Task settings that `default_args` may give and a task may override.
#[derive(Debug, Clone, Default)]
struct Defaults {
    retry: RetryPolicy,
    execution_timeout: Option<std::time::Duration>,
    trigger_rule: TriggerRule,
}

fn read_defaults(node: &Node, r: &mut FieldReader) -> Option<Defaults> {
    let Some(entries) = node.as_map() else {
        if !node.is_null() {
            r.fail(
                node,
                "default_args",
                format_args!("expected a mapping, found {}", node.describe()),
            );
        }
        return None;
    };
    for e in entries
        .iter()
        .filter(|e| !DEFAULT_ARGS_FIELDS.contains(&e.key.as_str()))
    {
        r.problems.add(
            e.key_span,
            format!("`default_args`: {}", unknown_field(&e.key, DEFAULT_ARGS_FIELDS)),
        );
    }
    let saved = std::mem::replace(&mut r.context, "`default_args`: ".into());
    let mut d = Defaults::default();
    apply_task_settings(node, r, &mut d);
    r.context = saved;
    Some(d)
}

/// Reads the settings shared by tasks and `default_args` over `d`.
fn apply_task_settings(node: &Node, r: &mut FieldReader, d: &mut Defaults) {
    if let Some(n) = node.get("retries") {
        d.retry.retries = r.count(n, "retries", 0).unwrap_or(d.retry.retries);
    }
    if let Some(n) = node.get("retry_delay")
        && let Some(v) = r.duration(n, "retry_delay")
    {
        d.retry.retry_delay = v.unwrap_or(RetryPolicy::default().retry_delay);
    }
    if let Some(n) = node.get("retry_exponential_backoff") {
        d.retry.exponential_backoff = r.boolean(n, "retry_exponential_backoff").unwrap_or(false);
    }
    if let Some(n) = node.get("max_retry_delay") {
        d.retry.max_retry_delay = r.duration(n, "max_retry_delay").flatten();
    }
    if let Some(n) = node.get("execution_timeout") {
        d.execution_timeout = r.duration(n, "execution_timeout").flatten();
        if d.execution_timeout == Some(std::time::Duration::ZERO) {
            r.fail(
                n,
                "execution_timeout",
                "must be more than zero (omit it for no timeout)",
            );
        }
    }
    if let Some(n) = node.get("trigger_rule")
        && let Some(s) = r.string(n, "trigger_rule")
    {
        match s.parse() {
            Ok(rule) => d.trigger_rule = rule,
            Err(e) => r.fail(n, "trigger_rule", e),
        }
    }
}

fn read_tasks(
    entries: &[Entry],
    defaults: Option<&Defaults>,
    registry: &Registry,
    problems: &mut Problems,
) -> Option<(Vec<Task>, DagGraph)> {
    for (first, dup) in duplicate_keys(entries) {
        problems.add(
            dup.key_span,
            format!(
                "duplicate task id `{}` (first defined at line {})",
                dup.key, first.key_span.line
            ),
        );
    }
    // Later duplicates are reported above and otherwise ignored.
    let mut seen = std::collections::HashSet::new();
    let entries: Vec<&Entry> = entries.iter().filter(|e| seen.insert(e.key.as_str())).collect();
    let ids: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
    let mut tasks = Vec::with_capacity(entries.len());
    let mut upstream_of = Vec::with_capacity(entries.len());
    for (index, e) in entries.iter().enumerate() {
        if let Err(msg) = check_id(&e.key) {
            problems.add(e.key_span, format!("task id {:?} {msg}", e.key));
        }
        let mut r = FieldReader {
            problems,
            context: format!("task `{}`: ", e.key),
        };
        let (task, ups) = read_task(e, index, &ids, defaults, registry, &mut r);
        tasks.push(task);
        upstream_of.push(ups);
    }
    let graph = DagGraph::new(&upstream_of);
    for cycle in graph.cycles() {
        let mut names: Vec<&str> = cycle.iter().map(|&i| ids[i]).collect();
        names.push(names[0]);
        let msg = if cycle.len() == 1 {
            format!("task `{}` depends on itself", names[0])
        } else {
            format!("dependency cycle: {}", names.join(" -> "))
        };
        problems.add(entries[cycle[0]].key_span, msg);
    }
    let mut tasks: Vec<Task> = tasks.into_iter().flatten().collect();
    if tasks.len() != entries.len() || !problems.is_empty() {
        return None;
    }
    for (i, task) in tasks.iter_mut().enumerate() {
        check_templates(task, i, &ids, &graph, problems);
    }
    Some((tasks, graph))
}

fn read_task(
    e: &Entry,
    index: usize,
    ids: &[&str],
    defaults: Option<&Defaults>,
    registry: &Registry,
    r: &mut FieldReader,
) -> (Option<Task>, Vec<usize>) {
    let node = &e.value;
    let Some(fields) = node.as_map() else {
        r.problems.add(
            node.span,
            format!(
                "task `{}`: expected a mapping of fields (operator, ...), found {}",
                e.key,
                node.describe()
            ),
        );
        return (None, Vec::new());
    };
    for (first, dup) in duplicate_keys(fields) {
        r.problems.add(
            dup.key_span,
            format!(
                "task `{}`: field `{}` is given twice (first at line {})",
                e.key, dup.key, first.key_span.line
            ),
        );
    }
    let mut settings = defaults.cloned().unwrap_or_default();
    apply_task_settings(node, r, &mut settings);
    let description = node
        .get("description")
        .and_then(|n| r.opt_string(n, "description"))
        .flatten();

    let mut upstream = Vec::new();
    if let Some(n) = node.get("depends_on") {
        for (name, item) in r.string_list(n, "depends_on") {
            match ids.iter().position(|id| *id == name) {
                Some(i) if i == index => {} // reported as a cycle of one
                Some(i) if !upstream.contains(&i) => upstream.push(i),
                Some(_) => {}
                None => r.fail(
                    item,
                    "depends_on",
                    format_args!("unknown task `{name}`{}", did_you_mean(name, ids.iter().copied())),
                ),
            }
            if name == e.key {
                upstream.push(index);
            }
        }
    }

    let config = Node::new(
        Value::Map(
            fields
                .iter()
                .filter(|f| !TASK_FIELDS.contains(&f.key.as_str()))
                .cloned()
                .collect(),
        ),
        node.span,
    );
    let operator = match node.get("operator") {
        None => {
            r.problems.add(
                e.key_span,
                format!(
                    "task `{}`: missing required field `operator` (one of: {})",
                    e.key,
                    registry.names().collect::<Vec<_>>().join(", ")
                ),
            );
            None
        }
        Some(n) => r.string(n, "operator").and_then(|op| {
            if registry.contains(&op) {
                Some(op)
            } else {
                let names: Vec<&str> = registry.names().collect();
                r.fail(
                    n,
                    "operator",
                    format_args!(
                        "unknown operator `{op}`{}; known operators: {}",
                        did_you_mean(&op, names.iter().copied()),
                        names.join(", ")
                    ),
                );
                None
            }
        }),
    };
    let Some(operator) = operator else {
        return (None, upstream);
    };
    let ctx = format!("task `{}` ({operator}): ", e.key);
    for (span, msg) in registry.check(&operator, &config, TASK_FIELDS) {
        r.problems.add(span, format!("{ctx}{msg}"));
    }
    let task = Task {
        task_id: e.key.clone(),
        operator,
        config,
        upstream: upstream.clone(),
        trigger_rule: settings.trigger_rule,
        retry: settings.retry,
        execution_timeout: settings.execution_timeout,
        description,
        span: e.key_span,
        reads_outputs: OutputReads::None,
    };
    (Some(task), upstream)
}

/// Every templated string must compile and read only names the context has;
/// `outputs.X` must name an upstream task.
fn check_templates(task: &mut Task, index: usize, ids: &[&str], graph: &DagGraph, problems: &mut Problems) {
    let mut reads = OutputReads::None;
    let Some(fields) = task.config.as_map() else {
        return;
    };
    let ancestors = graph.ancestors(index);
    for f in fields {
        let mut report = |span: Span, msg: String| {
            problems.add(span, format!("task `{}`, field `{}`: {msg}", task.task_id, f.key));
        };
        f.value.for_each_str(&mut |s, span| {
            if !template::is_template(s) {
                return;
            }
            let vars = match template::check(s) {
                Ok(v) => v,
                Err(e) => return report(span, e.message),
            };
            for var in vars {
                let mut parts = var.split('.');
                let head = parts.next().unwrap_or_default();
                if !CONTEXT_NAMES.contains(&head) {
                    report(span, format!("unknown template variable `{head}`{}", did_you_mean(head, CONTEXT_NAMES.iter().copied())));
                } else if head == "outputs" {
                    let Some(up) = parts.next() else {
                        reads = OutputReads::All;
                        continue;
                    };
                    if let OutputReads::None = reads {
                        reads = OutputReads::Tasks(Vec::new());
                    }
                    if let OutputReads::Tasks(list) = &mut reads
                        && !list.iter().any(|x| x == up)
                    {
                        list.push(up.to_string());
                    }
                    match ids.iter().position(|id| *id == up) {
                        None => report(span, format!("`outputs.{up}`: no task `{up}`{}", did_you_mean(up, ids.iter().copied()))),
                        Some(i) if !ancestors[i] => report(span, format!("`outputs.{up}`: task `{up}` is not upstream of `{}`, so its output may not exist yet; add it to `depends_on`", task.task_id)),
                        Some(_) => {}
                    }
                }
            }
        });
    }
    task.reads_outputs = reads;
}
