//! Tokens of `derive` expressions and `filter` predicates. Column names
//! are bare (`UnitPrice`, `unit_price2`) or in backticks (`` `Unit Price` ``,
//! as pandas' `query` writes them); text is in single or double quotes.

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A bare word: a column name or a keyword (`and`, `is`, `null`...).
    Word(String),
    /// A backquoted column name.
    Quoted(String),
    Str(String),
    Int(i64),
    Float(f64),
    /// An operator or parenthesis: `+ - * / ( ) == != < <= > >=`.
    Sym(&'static str),
}

impl std::fmt::Display for Tok {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tok::Word(w) => write!(f, "`{w}`"),
            Tok::Quoted(w) => write!(f, "`{w}`"),
            Tok::Str(s) => write!(f, "{s:?}"),
            Tok::Int(i) => write!(f, "{i}"),
            Tok::Float(x) => write!(f, "{x}"),
            Tok::Sym(s) => write!(f, "`{s}`"),
        }
    }
}

const SYMS: [&str; 15] = [
    "==", "!=", "<>", "<=", ">=", "&&", "||", "<", ">", "=", "+", "-", "*", "/", "(",
];

pub fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b')' {
            out.push(Tok::Sym(")"));
            i += 1;
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let start = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.' || b[i] == b'_') {
                i += 1;
            }
            if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                let mut j = i + 1;
                if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
                    j += 1;
                }
                if j < b.len() && b[j].is_ascii_digit() {
                    i = j;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let text: String = s[start..i].chars().filter(|&c| c != '_').collect();
            if let Ok(n) = text.parse::<i64>() {
                out.push(Tok::Int(n));
            } else if let Ok(x) = text.parse::<f64>() {
                out.push(Tok::Float(x));
            } else {
                return Err(format!("{:?} is not a number", &s[start..i]));
            }
        } else if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.' || b[i] >= 0x80) {
                i += 1;
            }
            out.push(Tok::Word(s[start..i].to_string()));
        } else if c == b'`' {
            let end = s[i + 1..]
                .find('`')
                .ok_or_else(|| format!("a column name opened with ` at {} is not closed", i + 1))?;
            let name = &s[i + 1..i + 1 + end];
            if name.is_empty() {
                return Err("an empty column name (``)".into());
            }
            out.push(Tok::Quoted(name.to_string()));
            i += end + 2;
        } else if c == b'\'' || c == b'"' {
            let q = c as char;
            let mut text = String::new();
            let mut j = i + 1;
            loop {
                let Some(k) = s[j..].find(q) else {
                    return Err(format!("text opened with {q} at {} is not closed", i + 1));
                };
                text.push_str(&s[j..j + k]);
                j += k + 1;
                // A doubled quote stands for itself.
                if s[j..].starts_with(q) {
                    text.push(q);
                    j += 1;
                } else {
                    break;
                }
            }
            out.push(Tok::Str(text));
            i = j;
        } else if let Some(sym) = SYMS.iter().find(|sym| s[i..].starts_with(**sym)) {
            out.push(Tok::Sym(sym));
            i += sym.len();
        } else {
            let ch = s[i..].chars().next().unwrap_or('?');
            return Err(format!("unexpected `{ch}` at {}", i + 1));
        }
    }
    Ok(out)
}

/// A cursor over tokens for the recursive-descent parsers.
pub struct Cursor {
    toks: Vec<Tok>,
    pos: usize,
}

impl Cursor {
    pub fn new(s: &str) -> Result<Self, String> {
        let toks = lex(s)?;
        if toks.is_empty() {
            return Err("it is empty".into());
        }
        Ok(Cursor { toks, pos: 0 })
    }

    pub fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    pub fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    /// Takes the symbol if it is next.
    pub fn eat(&mut self, sym: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Sym(s)) if *s == sym) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Takes the keyword (any case) if it is next.
    pub fn eat_word(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(word)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn expect(&mut self, sym: &str) -> Result<(), String> {
        if self.eat(sym) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("`{sym}`")))
        }
    }

    pub fn unexpected(&self, wanted: &str) -> String {
        match self.peek() {
            Some(t) => format!("expected {wanted}, found {t}"),
            None => format!("expected {wanted} at the end"),
        }
    }

    pub fn finish(&self) -> Result<(), String> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(format!("unexpected {t} after a complete expression")),
        }
    }
}

/// Writes a column name as the parsers read it back.
pub fn show_name(name: &str) -> String {
    let bare = name.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.');
    if bare { name.to_string() } else { format!("`{name}`") }
}
