//! Just enough of Postgres' lexical rules to split a script into
//! statements and find `%(name)s` parameters outside of string literals,
//! quoted identifiers, dollar-quoted bodies and comments.

/// One statement of a script, with its `%(name)s` placeholders (byte
/// ranges into `text`, and the name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub text: String,
    pub params: Vec<(std::ops::Range<usize>, String)>,
}

/// The script's statements, without empty ones (only blanks, comments or
/// `;`). Errors: a string, identifier, dollar quote or comment that is
/// not closed.
pub fn split(script: &str) -> Result<Vec<Statement>, String> {
    let b = script.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut params = Vec::new();
    let mut has_code = false;
    let mut i = 0;
    let line_of = |at: usize| script[..at].matches('\n').count() + 1;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\'' => {
                // E'...' takes backslash escapes; standard strings do not.
                let escapes = i > 0 && matches!(b[i - 1], b'e' | b'E') && (i < 2 || !is_ident(b[i - 2]));
                i = skip_quoted(b, i, b'\'', escapes)
                    .ok_or_else(|| format!("a string literal opened on line {} is not closed", line_of(i)))?;
                has_code = true;
                continue;
            }
            b'"' => {
                i = skip_quoted(b, i, b'"', false)
                    .ok_or_else(|| format!("a quoted identifier opened on line {} is not closed", line_of(i)))?;
                has_code = true;
                continue;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = script[i..].find('\n').map_or(b.len(), |n| i + n + 1);
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = skip_block_comment(b, i)
                    .ok_or_else(|| format!("a /* comment opened on line {} is not closed", line_of(i)))?;
                continue;
            }
            b'$' if i == 0 || !is_ident(b[i - 1]) => {
                if let Some(tag_end) = dollar_tag(b, i) {
                    let tag = &script[i..=tag_end];
                    let body = tag_end + 1;
                    let close = script[body..].find(tag).ok_or_else(|| {
                        format!(
                            "a dollar-quoted string {tag} opened on line {} is not closed",
                            line_of(i)
                        )
                    })?;
                    i = body + close + tag.len();
                    has_code = true;
                    continue;
                }
            }
            b'%' if b.get(i + 1) == Some(&b'(') => {
                if let Some(close) = script[i + 2..].find(")s") {
                    let name = &script[i + 2..i + 2 + close];
                    if !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
                        let end = i + 2 + close + 2;
                        params.push((i - start..end - start, name.to_string()));
                        i = end;
                        has_code = true;
                        continue;
                    }
                }
            }
            b';' => {
                if has_code {
                    out.push(Statement {
                        text: script[start..i].trim_end().to_string(),
                        params: std::mem::take(&mut params),
                    });
                }
                params.clear();
                has_code = false;
                start = i + 1;
                i += 1;
                continue;
            }
            _ => {}
        }
        if !c.is_ascii_whitespace() {
            has_code = true;
        }
        i += 1;
    }
    if has_code {
        out.push(Statement {
            text: script[start..].trim_end().to_string(),
            params,
        });
    }
    // Leading blanks moved the ranges; trim them off the text and the
    // ranges together.
    for s in &mut out {
        let lead = s.text.len() - s.text.trim_start().len();
        if lead > 0 {
            s.text.drain(..lead);
            for (r, _) in &mut s.params {
                *r = r.start - lead..r.end - lead;
            }
        }
    }
    Ok(out)
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

/// The index after a quoted run that starts at `i` (doubled quotes stay
/// inside; with `escapes`, a backslash escapes the next byte).
fn skip_quoted(b: &[u8], i: usize, q: u8, escapes: bool) -> Option<usize> {
    let mut j = i + 1;
    while j < b.len() {
        if escapes && b[j] == b'\\' {
            j += 2;
            continue;
        }
        if b[j] == q {
            if b.get(j + 1) == Some(&q) {
                j += 2;
                continue;
            }
            return Some(j + 1);
        }
        j += 1;
    }
    None
}

/// Block comments nest in Postgres.
fn skip_block_comment(b: &[u8], i: usize) -> Option<usize> {
    let mut depth = 0;
    let mut j = i;
    while j + 1 < b.len() {
        match (b[j], b[j + 1]) {
            (b'/', b'*') => {
                depth += 1;
                j += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                j += 2;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => j += 1,
        }
    }
    None
}

/// The index of the closing `$` of a tag (`$$`, `$body$`) at `i`.
fn dollar_tag(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'$' => return Some(j),
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => j += 1,
            c if c.is_ascii_digit() && j > i + 1 => j += 1,
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(script: &str) -> Vec<String> {
        split(script).unwrap().into_iter().map(|s| s.text).collect()
    }

    #[test]
    fn splits_on_semicolons_outside_literals_and_comments() {
        let script = "
            -- a comment; not a split
            CREATE TABLE t (a text); /* also ; /* nested ; */ still */
            INSERT INTO t VALUES ('it''s; here'), (E'back\\'slash;'), ($$dollar; $$), ($x$ $$ ; $x$);
            CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END $body$ LANGUAGE plpgsql;
            SELECT \"semi;colon\" FROM t;;
            ;
        ";
        assert_eq!(
            texts(script),
            [
                "-- a comment; not a split\n            CREATE TABLE t (a text)",
                "/* also ; /* nested ; */ still */\n            INSERT INTO t VALUES ('it''s; here'), (E'back\\'slash;'), ($$dollar; $$), ($x$ $$ ; $x$)",
                "CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END $body$ LANGUAGE plpgsql",
                "SELECT \"semi;colon\" FROM t",
            ]
        );
        assert_eq!(texts("SELECT 1"), ["SELECT 1"]);
        assert!(texts("  -- only a comment\n ; ").is_empty());
        // $1 is a parameter, not a dollar quote; a$b$ is an identifier.
        assert_eq!(
            texts("SELECT $1; SELECT a$b$ FROM t"),
            ["SELECT $1", "SELECT a$b$ FROM t"]
        );
    }

    #[test]
    fn finds_parameters_only_in_code() {
        let s =
            split("  SELECT * FROM t WHERE d = %(day)s AND note <> '%(day)s' -- %(x)s\n AND n > %(min_n)s").unwrap();
        assert_eq!(s.len(), 1);
        let names: Vec<&str> = s[0].params.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, ["day", "min_n"]);
        let (r, _) = &s[0].params[0];
        assert_eq!(&s[0].text[r.clone()], "%(day)s");
        // A modulo is not a parameter.
        assert!(split("SELECT 7 % 2, 5 %(2)").unwrap()[0].params.is_empty());
    }

    #[test]
    fn an_unclosed_literal_names_its_line() {
        assert_eq!(
            split("SELECT 1;\nSELECT 'open").unwrap_err(),
            "a string literal opened on line 2 is not closed"
        );
        assert!(split("SELECT $t$ x").unwrap_err().contains("dollar-quoted string $t$"));
        assert!(split("/* x").unwrap_err().contains("comment"));
    }
}
