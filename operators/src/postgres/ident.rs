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

/// `InvoiceNo` -> `invoice_no`, `CustomerID` -> `customer_id`,
/// `HTTPStatus` -> `http_status`, `Unit Price` -> `unit_price`: a word
/// starts at an upper-case letter after a lower-case one or a digit, and
/// at the last capital of a run followed by a lower-case letter; spaces,
/// dashes and dots become `_`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.trim().chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_whitespace() || c == '-' || c == '.' || c == '_' {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            continue;
        }
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let boundary = prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower);
            if boundary && !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
    }
    out.trim_end_matches('_').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_splits_words_as_people_read_them() {
        let seed = [
            ("InvoiceNo", "invoice_no"),
            ("StockCode", "stock_code"),
            ("Description", "description"),
            ("Quantity", "quantity"),
            ("InvoiceDate", "invoice_date"),
            ("UnitPrice", "unit_price"),
            ("CustomerID", "customer_id"),
            ("Country", "country"),
            ("total_spend", "total_spend"),
        ];
        for (from, to) in seed {
            assert_eq!(snake_case(from), to);
        }
        assert_eq!(snake_case("HTTPStatusCode"), "http_status_code");
        assert_eq!(snake_case("Unit Price (GBP)"), "unit_price_(gbp)");
        assert_eq!(snake_case("address2Line"), "address2_line");
        assert_eq!(snake_case("already_snake"), "already_snake");
        assert_eq!(snake_case("  Spaced--Name "), "spaced_name");
    }

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
