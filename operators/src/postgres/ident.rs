//! SQL identifiers from config fields: quoted so that any name works and
//! nothing in a name becomes SQL.

/// `"name"`, with inner quotes doubled.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A table name as users write it (`table`, `schema.table`, or with
/// quoted parts: `"My Schema"."Table"`), quoted part by part. Unquoted
/// parts are folded to lower case, as Postgres does.
pub fn qualified(name: &str) -> Result<String, String> {
    Ok(parts(name)?.iter().map(|p| quote(p)).collect::<Vec<_>>().join("."))
}

/// The parts of a possibly qualified name, unquoted: `("schema", "table")`
/// as a list of one or two parts.
pub fn parts(name: &str) -> Result<Vec<String>, String> {
    let bad = |why: &str| Err(format!("table {name:?}: {why}"));
    let mut parts = Vec::new();
    let mut chars = name.trim().chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    Some('"') => break,
                    Some(c) => part.push(c),
                    None => return bad("a quote is not closed"),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                if c.is_whitespace() || c == '"' || c == ';' {
                    return bad("unquoted names may not hold spaces, quotes or `;`");
                }
                part.extend(c.to_lowercase());
                chars.next();
            }
        }
        if part.is_empty() {
            return bad("an empty name");
        }
        parts.push(part);
        match chars.next() {
            None => break,
            Some('.') => {}
            Some(c) => return bad(&format!("unexpected {c:?} after a name")),
        }
    }
    if parts.len() > 2 {
        return bad("at most schema.table");
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_names_and_reads_qualified_ones() {
        assert_eq!(qualified("public.invoices").unwrap(), r#""public"."invoices""#);
        assert_eq!(qualified("Invoices").unwrap(), r#""invoices""#);
        assert_eq!(qualified(r#""My ""S"""."T""#).unwrap(), r#""My ""S"""."T""#);
        assert!(qualified("a; drop table x").unwrap_err().contains("may not hold"));
        assert!(qualified("a.b.c").unwrap_err().contains("at most"));
        assert!(qualified("a.").unwrap_err().contains("empty"));
    }
}
