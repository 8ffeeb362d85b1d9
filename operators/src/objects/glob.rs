//! Shell-style patterns over paths and object keys: `*` and `?` within
//! one segment, `**` across segments, `[abc]`/`[a-z]`/`[!x]` classes.

/// Where the pattern's wildcards start: the literal folder before them
/// (`/data/out/` of `/data/out/*.csv`), or `None` for a plain path.
pub fn literal_base(pattern: &str) -> Option<&str> {
    let first = pattern.find(['*', '?', '['])?;
    let slash = pattern[..first].rfind('/').map_or(0, |i| i + 1);
    Some(&pattern[..slash])
}

pub fn matches(pattern: &str, text: &str) -> bool {
    m(pattern.as_bytes(), text.as_bytes())
}

fn m(p: &[u8], t: &[u8]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some(b'*') if p.get(1) == Some(&b'*') => {
            // `**/` also matches no folder at all.
            let rest = &p[2..];
            let rest_no_slash = rest.strip_prefix(b"/").unwrap_or(rest);
            (0..=t.len()).any(|i| m(rest, &t[i..]) || m(rest_no_slash, &t[i..]))
        }
        Some(b'*') => {
            let rest = &p[1..];
            for i in 0..=t.len() {
                if m(rest, &t[i..]) {
                    return true;
                }
                if t.get(i) == Some(&b'/') {
                    return false;
                }
            }
            false
        }
        Some(b'?') => t.first().is_some_and(|&c| c != b'/') && m(&p[1..], &t[1..]),
        Some(b'[') => match class(p, t.first().copied()) {
            Some((true, len)) => m(&p[len..], &t[1..]),
            Some((false, _)) => false,
            // No closing `]`: a literal `[`.
            None => t.first() == Some(&b'[') && m(&p[1..], &t[1..]),
        },
        Some(&c) => t.first() == Some(&c) && m(&p[1..], &t[1..]),
    }
}

/// Whether `c` is in the class at the start of `p`, and the class' length.
fn class(p: &[u8], c: Option<u8>) -> Option<(bool, usize)> {
    let end = p.iter().skip(2).position(|&b| b == b']')? + 2;
    let body = &p[1..end];
    let (negate, body) = match body.first() {
        Some(b'!' | b'^') => (true, &body[1..]),
        _ => (false, body),
    };
    let Some(c) = c.filter(|&c| c != b'/') else {
        return Some((false, end + 1));
    };
    let mut hit = false;
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == b'-' {
            hit |= (body[i]..=body[i + 2]).contains(&c);
            i += 3;
        } else {
            hit |= body[i] == c;
            i += 1;
        }
    }
    Some((hit != negate, end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_stay_in_their_segment_unless_doubled() {
        assert!(matches("/data/*.csv", "/data/a.csv"));
        assert!(!matches("/data/*.csv", "/data/sub/a.csv"));
        assert!(matches("/data/**/*.csv", "/data/sub/deep/a.csv"));
        assert!(matches("/data/**/*.csv", "/data/a.csv"));
        assert!(matches("in/part-??.parquet", "in/part-07.parquet"));
        assert!(!matches("in/part-??.parquet", "in/part-7.parquet"));
        assert!(matches("in/[a-c]*.csv", "in/b1.csv"));
        assert!(!matches("in/[!a-c]*.csv", "in/b1.csv"));
        assert!(matches("in/x[.csv", "in/x[.csv"));
        assert!(matches("**", "any/thing"));
    }

    #[test]
    fn the_base_is_the_folder_before_the_first_wildcard() {
        assert_eq!(literal_base("/data/out/*.csv"), Some("/data/out/"));
        assert_eq!(literal_base("staging/2024-*/x.csv"), Some("staging/"));
        assert_eq!(literal_base("*.csv"), Some(""));
        assert_eq!(literal_base("/data/x.csv"), None);
    }
}
