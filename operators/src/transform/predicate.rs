//! `filter` predicates: `column op literal` (`== != < <= > >=`, and
//! `starts_with`, `ends_with`, `contains` for text), `column is null`,
//! `column is not null`, joined by `and`, `or`, `not` and parentheses.
//! Logic is SQL's: a comparison with a null is unknown, and a row is kept
//! only when the predicate is true (so `x != 5` drops rows where `x` is
//! null; pandas would keep them).

use std::fmt;
use std::str::FromStr;

use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, BooleanArray, PrimitiveArray, StringArray};
use arrow_buffer::{BooleanBuffer, NullBuffer};
use arrow_schema::{DataType, TimeUnit};

use super::error::Error;
use super::lex::{Cursor, Tok, show_name};
use super::strptime::{parse_iso, parse_iso_date};
use super::table::{Batch, Schema, type_name};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    StartsWith,
    EndsWith,
    Contains,
}

impl Cmp {
    fn sym(self) -> &'static str {
        match self {
            Cmp::Eq => "==",
            Cmp::Ne => "!=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::StartsWith => "starts_with",
            Cmp::EndsWith => "ends_with",
            Cmp::Contains => "contains",
        }
    }

    fn text_only(self) -> bool {
        matches!(self, Cmp::StartsWith | Cmp::EndsWith | Cmp::Contains)
    }

    #[inline]
    fn test<T: PartialOrd + ?Sized>(self, a: &T, b: &T) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
            Cmp::StartsWith | Cmp::EndsWith | Cmp::Contains => unreachable!("text only"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
}

impl fmt::Display for Lit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lit::Int(i) => write!(f, "{i}"),
            Lit::Float(x) => write!(f, "{x:?}"),
            Lit::Str(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Lit::Bool(b) => write!(f, "{b}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    Cmp(String, Cmp, Lit),
    IsNull(String, bool),
    Not(Box<Predicate>),
    And(Box<Predicate>, Box<Predicate>),
    Or(Box<Predicate>, Box<Predicate>),
}

impl FromStr for Predicate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let fail = |e: String| format!("not a predicate: {e}");
        let mut c = Cursor::new(s).map_err(fail)?;
        let p = or(&mut c).map_err(fail)?;
        c.finish().map_err(fail)?;
        Ok(p)
    }
}

fn or(c: &mut Cursor) -> Result<Predicate, String> {
    let mut left = and(c)?;
    while c.eat_word("or") || c.eat("||") {
        left = Predicate::Or(Box::new(left), Box::new(and(c)?));
    }
    Ok(left)
}

fn and(c: &mut Cursor) -> Result<Predicate, String> {
    let mut left = not(c)?;
    while c.eat_word("and") || c.eat("&&") {
        left = Predicate::And(Box::new(left), Box::new(not(c)?));
    }
    Ok(left)
}

fn not(c: &mut Cursor) -> Result<Predicate, String> {
    if c.eat_word("not") {
        return Ok(Predicate::Not(Box::new(not(c)?)));
    }
    if c.eat("(") {
        let p = or(c)?;
        c.expect(")")?;
        return Ok(p);
    }
    let col = match c.next() {
        Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => w,
        Some(t) => return Err(format!("expected a column name, found {t}")),
        None => return Err("expected a column name at the end".into()),
    };
    if c.eat_word("is") {
        let negated = c.eat_word("not");
        if !c.eat_word("null") {
            return Err(c.unexpected("`null` after `is`"));
        }
        return Ok(Predicate::IsNull(col, negated));
    }
    let op = match c.next() {
        Some(Tok::Sym("==" | "=")) => Cmp::Eq,
        Some(Tok::Sym("!=" | "<>")) => Cmp::Ne,
        Some(Tok::Sym("<")) => Cmp::Lt,
        Some(Tok::Sym("<=")) => Cmp::Le,
        Some(Tok::Sym(">")) => Cmp::Gt,
        Some(Tok::Sym(">=")) => Cmp::Ge,
        Some(Tok::Word(w)) if w.eq_ignore_ascii_case("starts_with") => Cmp::StartsWith,
        Some(Tok::Word(w)) if w.eq_ignore_ascii_case("ends_with") => Cmp::EndsWith,
        Some(Tok::Word(w)) if w.eq_ignore_ascii_case("contains") => Cmp::Contains,
        Some(t) => {
            return Err(format!(
                "expected a comparison (== != < <= > >= starts_with ends_with contains) or `is null` after `{col}`, found {t}"
            ));
        }
        None => return Err(format!("expected a comparison after `{col}` at the end")),
    };
    let negative = c.eat("-");
    let lit = match c.next() {
        Some(Tok::Int(i)) => Lit::Int(if negative { -i } else { i }),
        Some(Tok::Float(x)) => Lit::Float(if negative { -x } else { x }),
        Some(Tok::Str(s)) if !negative => Lit::Str(s),
        Some(Tok::Word(w)) if !negative && w.eq_ignore_ascii_case("true") => Lit::Bool(true),
        Some(Tok::Word(w)) if !negative && w.eq_ignore_ascii_case("false") => Lit::Bool(false),
        Some(Tok::Word(w)) if !negative && w.eq_ignore_ascii_case("null") => {
            return Err(format!(
                "compare with null using `{col} is null` or `{col} is not null`"
            ));
        }
        Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => {
            return Err(format!(
                "`{w}`: a column can only be compared with a value (a number, 'text', true or false)"
            ));
        }
        Some(t) => return Err(format!("expected a value after `{}`, found {t}", op.sym())),
        None => return Err(format!("expected a value after `{}` at the end", op.sym())),
    };
    Ok(Predicate::Cmp(col, op, lit))
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Predicate::Cmp(c, op, l) => write!(f, "{} {} {l}", show_name(c), op.sym()),
            Predicate::IsNull(c, false) => write!(f, "{} is null", show_name(c)),
            Predicate::IsNull(c, true) => write!(f, "{} is not null", show_name(c)),
            Predicate::Not(p) => write!(f, "not ({p})"),
            Predicate::And(a, b) => write!(f, "({a} and {b})"),
            Predicate::Or(a, b) => write!(f, "({a} or {b})"),
        }
    }
}

/// A predicate bound to the columns of a schema, literals of the
/// columns' types.
pub enum Compiled {
    Text(usize, Cmp, String),
    Int(usize, Cmp, i64),
    Float(usize, Cmp, f64),
    Bool(usize, Cmp, bool),
    IsNull(usize, bool),
    Not(Box<Compiled>),
    And(Box<Compiled>, Box<Compiled>),
    Or(Box<Compiled>, Box<Compiled>),
}

impl Compiled {
    pub fn new(p: &Predicate, s: &Schema) -> Result<Self, String> {
        Ok(match p {
            Predicate::IsNull(c, neg) => Compiled::IsNull(s.find(c)?, *neg),
            Predicate::Not(p) => Compiled::Not(Box::new(Compiled::new(p, s)?)),
            Predicate::And(a, b) => Compiled::And(Box::new(Compiled::new(a, s)?), Box::new(Compiled::new(b, s)?)),
            Predicate::Or(a, b) => Compiled::Or(Box::new(Compiled::new(a, s)?), Box::new(Compiled::new(b, s)?)),
            Predicate::Cmp(c, op, lit) => {
                let i = s.find(c)?;
                let t = &s.types[i];
                let wrong = || format!("`{c}` is {}: it cannot be compared with {lit}", type_name(t));
                if op.text_only() && *t != DataType::Utf8 {
                    return Err(format!("`{}` applies to text; `{c}` is {}", op.sym(), type_name(t)));
                }
                match (t, lit) {
                    (DataType::Utf8, Lit::Str(v)) => Compiled::Text(i, *op, v.clone()),
                    (DataType::Utf8, _) => {
                        return Err(format!("{}; quote the value ('{lit}') to compare text", wrong()));
                    }
                    (t, Lit::Int(v)) if t.is_integer() => Compiled::Int(i, *op, *v),
                    (t, Lit::Float(v)) if t.is_integer() => Compiled::Float(i, *op, *v),
                    (t, Lit::Int(v)) if t.is_floating() => Compiled::Float(i, *op, *v as f64),
                    (t, Lit::Float(v)) if t.is_floating() => Compiled::Float(i, *op, *v),
                    (DataType::Boolean, Lit::Bool(v)) if matches!(op, Cmp::Eq | Cmp::Ne) => Compiled::Bool(i, *op, *v),
                    (DataType::Timestamp(unit, _), Lit::Str(v)) => {
                        let us = parse_iso(v).map_err(|e| format!("{}: {e}", wrong()))?;
                        let v = match unit {
                            TimeUnit::Second => us.div_euclid(1_000_000),
                            TimeUnit::Millisecond => us.div_euclid(1000),
                            TimeUnit::Microsecond => us,
                            TimeUnit::Nanosecond => us.checked_mul(1000).ok_or_else(wrong)?,
                        };
                        Compiled::Int(i, *op, v)
                    }
                    (DataType::Date32, Lit::Str(v)) => {
                        Compiled::Int(i, *op, parse_iso_date(v).map_err(|e| format!("{}: {e}", wrong()))?)
                    }
                    _ => return Err(wrong()),
                }
            }
        })
    }

    /// Which rows to keep (true), as a boolean buffer.
    pub fn keep(&self, batch: &Batch) -> Result<BooleanBuffer, Error> {
        let (v, valid) = self.eval(batch)?;
        Ok(match valid {
            Some(n) => &v & n.inner(),
            None => v,
        })
    }

    /// Values and validity (Kleene logic: null is unknown).
    fn eval(&self, batch: &Batch) -> Result<(BooleanBuffer, Option<NullBuffer>), Error> {
        let n = batch.len;
        Ok(match self {
            Compiled::IsNull(i, negated) => {
                let a = &batch.cols[*i];
                let v = match a.logical_nulls() {
                    Some(nulls) if *negated => nulls.inner().clone(),
                    Some(nulls) => !nulls.inner(),
                    None => BooleanBuffer::collect_bool(n, |_| *negated),
                };
                (v, None)
            }
            Compiled::Not(p) => {
                let (v, valid) = p.eval(batch)?;
                (!&v, valid)
            }
            Compiled::And(a, b) => {
                let (av, an) = a.eval(batch)?;
                let (bv, bn) = b.eval(batch)?;
                let value = &av & &bv;
                // Known where both are, or where either is a known false.
                let valid = match (&an, &bn) {
                    (None, None) => None,
                    _ => {
                        let all = BooleanBuffer::new_set(n);
                        let an_ = an.as_ref().map_or(all.clone(), |x| x.inner().clone());
                        let bn_ = bn.as_ref().map_or(all, |x| x.inner().clone());
                        let known_false_a = &an_ & &!&av;
                        let known_false_b = &bn_ & &!&bv;
                        Some(NullBuffer::new(&(&(&an_ & &bn_) | &known_false_a) | &known_false_b))
                    }
                };
                (value, valid)
            }
            Compiled::Or(a, b) => {
                let (av, an) = a.eval(batch)?;
                let (bv, bn) = b.eval(batch)?;
                let valid = match (&an, &bn) {
                    (None, None) => None,
                    _ => {
                        let all = BooleanBuffer::new_set(n);
                        let an_ = an.as_ref().map_or(all.clone(), |x| x.inner().clone());
                        let bn_ = bn.as_ref().map_or(all, |x| x.inner().clone());
                        let known_true_a = &an_ & &av;
                        let known_true_b = &bn_ & &bv;
                        Some(NullBuffer::new(&(&(&an_ & &bn_) | &known_true_a) | &known_true_b))
                    }
                };
                (&av | &bv, valid)
            }
            Compiled::Text(i, op, lit) => {
                let a = batch.cols[*i].as_any().downcast_ref::<StringArray>().expect("text");
                let lit = lit.as_str();
                let v = match op {
                    Cmp::StartsWith => BooleanBuffer::collect_bool(n, |k| a.value(k).starts_with(lit)),
                    Cmp::EndsWith => BooleanBuffer::collect_bool(n, |k| a.value(k).ends_with(lit)),
                    Cmp::Contains => BooleanBuffer::collect_bool(n, |k| a.value(k).contains(lit)),
                    op => BooleanBuffer::collect_bool(n, |k| op.test(a.value(k), lit)),
                };
                (v, a.nulls().cloned())
            }
            Compiled::Int(i, op, lit) => {
                let a = as_type(&batch.cols[*i], &DataType::Int64)?;
                let p = a.as_any().downcast_ref::<PrimitiveArray<Int64Type>>().expect("int64");
                let vals = p.values();
                (
                    BooleanBuffer::collect_bool(n, |k| op.test(&vals[k], lit)),
                    p.nulls().cloned(),
                )
            }
            Compiled::Float(i, op, lit) => {
                let a = as_type(&batch.cols[*i], &DataType::Float64)?;
                let p = a
                    .as_any()
                    .downcast_ref::<PrimitiveArray<Float64Type>>()
                    .expect("float64");
                let vals = p.values();
                (
                    BooleanBuffer::collect_bool(n, |k| op.test(&vals[k], lit)),
                    p.nulls().cloned(),
                )
            }
            Compiled::Bool(i, op, lit) => {
                let a = batch.cols[*i].as_any().downcast_ref::<BooleanArray>().expect("bool");
                let v = BooleanBuffer::collect_bool(n, |k| op.test(&a.value(k), lit));
                (v, a.nulls().cloned())
            }
        })
    }
}

/// The column as `t` (timestamps and dates as their integers).
fn as_type(a: &ArrayRef, t: &DataType) -> Result<ArrayRef, Error> {
    if a.data_type() == t {
        return Ok(a.clone());
    }
    Ok(arrow_cast::cast(a, t)?)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Float64Array, Int64Array};

    use super::*;
    use crate::transform::table::Rows;

    #[test]
    fn parses_and_prints() {
        for (text, shown) in [
            ("Quantity > 0", "Quantity > 0"),
            (
                "Quantity>=-3 and not InvoiceNo starts_with 'C'",
                "(Quantity >= -3 and not (InvoiceNo starts_with 'C'))",
            ),
            (
                "`Unit Price` < 1.5 or Country = \"United Kingdom\"",
                "(`Unit Price` < 1.5 or Country == 'United Kingdom')",
            ),
            (
                "CustomerID is not null AND (a <> 'x' OR b is null)",
                "(CustomerID is not null and (a != 'x' or b is null))",
            ),
            ("s == 'it''s'", "s == 'it''s'"),
        ] {
            let p: Predicate = text.parse().unwrap();
            assert_eq!(p.to_string(), shown);
            assert_eq!(p.to_string().parse::<Predicate>().unwrap(), p);
        }
        for (bad, says) in [
            ("Quantity >", "expected a value after `>` at the end"),
            ("Quantity > Price", "a column can only be compared with a value"),
            ("x == null", "compare with null using `x is null`"),
            ("x is empty", "expected `null` after `is`"),
            ("x ~ 1", "unexpected `~`"),
            ("(x > 1", "expected `)` at the end"),
            ("x > 1 y", "unexpected `y`"),
        ] {
            let e = bad.parse::<Predicate>().unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    fn keep(text: &str) -> Vec<bool> {
        let s = Schema {
            names: vec!["q".into(), "p".into(), "c".into()],
            types: vec![DataType::Int64, DataType::Float64, DataType::Utf8],
        };
        let b = Batch::new(
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None, Some(-5), Some(3)])),
                Arc::new(Float64Array::from(vec![Some(2.5), Some(1.0), None, Some(0.5)])),
                Arc::new(StringArray::from(vec![
                    Some("C536379"),
                    Some("536380"),
                    Some("x"),
                    None,
                ])),
            ],
            Rows::From(1),
            4,
        );
        let c = Compiled::new(&text.parse().unwrap(), &s).unwrap();
        let k = c.keep(&b).unwrap();
        k.iter().collect()
    }

    #[test]
    fn nulls_follow_sql() {
        assert_eq!(keep("q > 0"), [true, false, false, true]);
        assert_eq!(keep("q != 1"), [false, false, true, true]);
        assert_eq!(keep("not q > 0"), [false, false, true, false]);
        assert_eq!(keep("q is null"), [false, true, false, false]);
        assert_eq!(keep("q is not null"), [true, false, true, true]);
        assert_eq!(keep("q > 0 or p > 0"), [true, true, false, true]);
        assert_eq!(keep("q > 0 and p > 1"), [true, false, false, false]);
        // unknown and false is false; not of unknown is unknown.
        assert_eq!(keep("not (q > 100 and p > 0)"), [true, false, true, true]);
        assert_eq!(keep("not (q > 0 or c == 'x')"), [false, false, false, false]);
        assert_eq!(keep("c starts_with 'C'"), [true, false, false, false]);
        assert_eq!(keep("q < 2.5"), [true, false, true, false]);
        assert_eq!(keep("c contains '53'"), [true, true, false, false]);
    }

    #[test]
    fn literals_must_fit_the_column() {
        let s = Schema {
            names: vec!["q".into(), "c".into(), "t".into()],
            types: vec![
                DataType::Int64,
                DataType::Utf8,
                DataType::Timestamp(TimeUnit::Microsecond, None),
            ],
        };
        let err = |t: &str| Compiled::new(&t.parse().unwrap(), &s).err().unwrap();
        assert!(err("q == 'x'").contains("`q` is int64: it cannot be compared with 'x'"));
        assert!(err("c == 5").contains("quote the value ('5')"));
        assert!(err("q starts_with 'a'").contains("applies to text"));
        assert!(err("t > 'soon'").contains("not an ISO date"));
        assert!(Compiled::new(&"t >= '2011-01-01'".parse().unwrap(), &s).is_ok());
    }

    #[test]
    fn dates_and_timestamps_compare_with_iso_text() {
        let s = Schema {
            names: vec!["d".into(), "t".into()],
            types: vec![DataType::Date32, DataType::Timestamp(TimeUnit::Nanosecond, None)],
        };
        let day = 86_400_000_000_000i64;
        let b = Batch::new(
            vec![
                Arc::new(arrow_array::Date32Array::from(vec![Some(0), Some(1), None])),
                Arc::new(arrow_array::TimestampNanosecondArray::from(vec![
                    Some(0),
                    Some(day + 1),
                    Some(day),
                ])),
            ],
            Rows::From(1),
            3,
        );
        let keep = |t: &str| -> Vec<bool> {
            let c = Compiled::new(&t.parse().unwrap(), &s).unwrap();
            c.keep(&b).unwrap().iter().collect()
        };
        assert_eq!(keep("d >= '1970-01-02'"), [false, true, false]);
        assert_eq!(keep("t > '1970-01-02'"), [false, true, false]);
        assert_eq!(keep("t == '1970-01-02 00:00'"), [false, false, true]);
    }
}
