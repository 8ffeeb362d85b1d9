//! Jinja templates in task fields (minijinja), checked when a DAG loads and
//! rendered per task instance just before it runs.

mod context;
mod datetime;
mod filters;

use std::sync::LazyLock;

use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value, syntax::SyntaxConfig};

pub use context::{CONTEXT_NAMES, TemplateContext};
pub use datetime::isoformat;

use crate::yaml::Node;

/// True if `s` holds template syntax at all; plain text is used as is.
pub use updraft_operator_api::is_template;

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // A shell script written as a `|` block keeps its final newline.
    env.set_syntax(
        SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("default delimiters are valid"),
    );
    env.add_filter("shell_quote", filters::shell_quote);
    env.add_filter("tojson", filters::tojson);
    env.add_function("ds_add", macros::ds_add);
    env.add_function("ds_format", macros::ds_format);
    let mut m = std::collections::BTreeMap::new();
    m.insert("ds_add", Value::from_function(macros::ds_add));
    m.insert("ds_format", Value::from_function(macros::ds_format));
    env.add_global("macros", Value::from(m));
    env
});

/// A template problem, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub message: String,
}

/// Checks a template's syntax and returns the variables it reads, as dotted
/// paths (`params.bucket`, `outputs.extract.last_line`).
pub fn check(source: &str) -> Result<Vec<String>, TemplateError> {
    let tmpl = ENV.template_from_str(source).map_err(|e| TemplateError {
        message: format!("template syntax error: {}", error_text(&e)),
    })?;
    let mut vars: Vec<String> = tmpl.undeclared_variables(true).into_iter().collect();
    vars.sort();
    Ok(vars)
}

/// Renders one template against a context from [`TemplateContext::to_value`].
/// An undefined name fails with a message that names it.
pub fn render(source: &str, ctx: &Value) -> Result<String, TemplateError> {
    if !is_template(source) {
        return Ok(source.to_string());
    }
    ENV.render_str(source, ctx).map_err(|e| {
        let message = if e.kind() == ErrorKind::UndefinedError {
            match missing_name(source, ctx) {
                Some(name) => format!("undefined template variable `{name}` in {source:?}"),
                None => format!("undefined value in {source:?}: {}", error_text(&e)),
            }
        } else {
            format!("template error in {source:?}: {}", error_text(&e))
        };
        TemplateError { message }
    })
}

/// Renders every string in an operator's config.
pub fn render_node(node: &Node, ctx: &Value) -> Result<Node, TemplateError> {
    node.try_map_strs(&mut |s| render(s, ctx))
}

/// The first dotted name in `source` that does not resolve in `ctx`.
fn missing_name(source: &str, ctx: &Value) -> Option<String> {
    let globals = ["macros", "ds_add", "ds_format"];
    for path in check(source).ok()? {
        let mut cur = ctx.clone();
        let mut walked = Vec::new();
        for (i, seg) in path.split('.').enumerate() {
            walked.push(seg);
            if i == 0 && globals.contains(&seg) {
                break;
            }
            match cur.get_attr(seg) {
                Ok(v) if !v.is_undefined() => cur = v,
                _ => return Some(walked.join(".")),
            }
        }
    }
    None
}

fn error_text(e: &minijinja::Error) -> String {
    let mut s = e.detail().map(str::to_string).unwrap_or_else(|| e.kind().to_string());
    if let Some(line) = e.line()
        && line > 1
    {
        s.push_str(&format!(" (template line {line})"));
    }
    s
}

mod macros {
    use jiff::{ToSpan, civil::Date, fmt::strtime::BrokenDownTime};
    use minijinja::{Error, ErrorKind};

    fn bad(msg: String) -> Error {
        Error::new(ErrorKind::InvalidOperation, msg)
    }

    /// `ds_add('2024-11-01', 5)` -> `'2024-11-06'` (negative days go back).
    pub fn ds_add(ds: &str, days: i64) -> Result<String, Error> {
        let date: Date = ds
            .parse()
            .map_err(|_| bad(format!("ds_add: {ds:?} is not a YYYY-MM-DD date")))?;
        date.checked_add(days.days())
            .map(|d| d.to_string())
            .map_err(|e| bad(format!("ds_add: {e}")))
    }

    /// `ds_format('2024-11-01', '%Y-%m-%d', '%d/%m/%Y')` -> `'01/11/2024'`.
    pub fn ds_format(ds: &str, input_format: &str, output_format: &str) -> Result<String, Error> {
        let tm = BrokenDownTime::parse(input_format, ds)
            .map_err(|e| bad(format!("ds_format: {ds:?} does not match {input_format:?}: {e}")))?;
        tm.to_string(output_format)
            .map_err(|e| bad(format!("ds_format: output format {output_format:?}: {e}")))
    }
}
