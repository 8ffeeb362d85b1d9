//! Filters that make a value safe where it lands: `shell_quote` for a
//! shell command, `tojson` for JSON (a config file, an HTTP body).

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Error, ErrorKind};

/// `{{ params.name | shell_quote }}`: one shell word, whatever the value
/// holds (POSIX single quotes; a `'` inside becomes `'\''`). A list
/// becomes its items quoted one by one, separated by spaces. Write it bare:
/// `echo {{ x | shell_quote }}`, not inside quotes of your own.
pub fn shell_quote(value: &Value) -> Result<String, Error> {
    match value.kind() {
        ValueKind::Seq | ValueKind::Iterable => {
            let words: Result<Vec<String>, Error> = value.try_iter()?.map(|v| quote_one(&v)).collect();
            Ok(words?.join(" "))
        }
        _ => quote_one(value),
    }
}

fn quote_one(value: &Value) -> Result<String, Error> {
    let text = match value.kind() {
        ValueKind::String | ValueKind::Number | ValueKind::Bool => value.to_string(),
        kind => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("shell_quote takes text, a number, a boolean or a list of them, not {kind}"),
            ));
        }
    };
    if text.contains('\0') {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "shell_quote: the value holds a NUL byte, which no shell argument can carry",
        ));
    }
    Ok(format!("'{}'", text.replace('\'', r"'\''")))
}

/// `{{ params | tojson }}`: the value as JSON text (`indent` spaces to
/// pretty-print it). JSON is not shell-safe: in a command write
/// `{{ params | tojson | shell_quote }}`.
pub fn tojson(value: &Value, indent: Option<usize>, kwargs: Kwargs) -> Result<String, Error> {
    let indent = match indent {
        Some(n) => Some(n),
        None => kwargs.get::<Option<usize>>("indent")?,
    };
    kwargs.assert_all_used()?;
    let bad = |e: serde_json::Error| Error::new(ErrorKind::InvalidOperation, format!("tojson: {e}"));
    match indent {
        None => serde_json::to_string(value).map_err(bad),
        Some(n) => {
            let pad = vec![b' '; n];
            let mut out = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(&pad);
            let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
            serde::Serialize::serialize(value, &mut ser).map_err(bad)?;
            Ok(String::from_utf8(out).expect("serde_json writes UTF-8"))
        }
    }
}
