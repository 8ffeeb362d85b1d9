//! `derive` expressions: `+ - * /`, unary minus, parentheses, numbers and
//! numeric columns. Integers only (without `/`) give int64, checked for
//! overflow; anything else is computed in float64 as numpy does
//! (`Quantity * UnitPrice` is `float(Quantity) * UnitPrice`; `x / 0` is
//! inf or NaN). A null operand gives null.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Float64Array, Int64Array};
use arrow_buffer::NullBuffer;
use arrow_cast::CastOptions;
use arrow_schema::DataType;

use super::error::Error;
use super::lex::{Cursor, Tok, show_name};
use super::table::{Batch, Schema, is_numeric, type_name};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

impl Op {
    fn sym(self) -> &'static str {
        match self {
            Op::Add => "+",
            Op::Sub => "-",
            Op::Mul => "*",
            Op::Div => "/",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Col(String),
    Int(i64),
    Float(f64),
    Neg(Box<Expr>),
    Bin(Box<Expr>, Op, Box<Expr>),
}

impl FromStr for Expr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut c = Cursor::new(s).map_err(|e| format!("not an expression: {e}"))?;
        let e = sum(&mut c).map_err(|e| format!("not an expression: {e}"))?;
        c.finish().map_err(|e| format!("not an expression: {e}"))?;
        Ok(e)
    }
}

fn sum(c: &mut Cursor) -> Result<Expr, String> {
    let mut left = product(c)?;
    loop {
        let op = if c.eat("+") {
            Op::Add
        } else if c.eat("-") {
            Op::Sub
        } else {
            return Ok(left);
        };
        left = Expr::Bin(Box::new(left), op, Box::new(product(c)?));
    }
}

fn product(c: &mut Cursor) -> Result<Expr, String> {
    let mut left = unary(c)?;
    loop {
        let op = if c.eat("*") {
            Op::Mul
        } else if c.eat("/") {
            Op::Div
        } else {
            return Ok(left);
        };
        left = Expr::Bin(Box::new(left), op, Box::new(unary(c)?));
    }
}

fn unary(c: &mut Cursor) -> Result<Expr, String> {
    if c.eat("-") {
        return Ok(match unary(c)? {
            Expr::Int(i) => Expr::Int(-i),
            Expr::Float(x) => Expr::Float(-x),
            e => Expr::Neg(Box::new(e)),
        });
    }
    if c.eat("+") {
        return unary(c);
    }
    if c.eat("(") {
        let e = sum(c)?;
        c.expect(")")?;
        return Ok(e);
    }
    match c.next() {
        Some(Tok::Int(i)) => Ok(Expr::Int(i)),
        Some(Tok::Float(x)) => Ok(Expr::Float(x)),
        Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => Ok(Expr::Col(w)),
        Some(Tok::Str(s)) => Err(format!(
            "{s:?} is text; column names with spaces go in backticks (`{s}`)"
        )),
        Some(t) => Err(format!("expected a column, a number or `(`, found {t}")),
        None => Err("expected a column, a number or `(` at the end".into()),
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Col(c) => f.write_str(&show_name(c)),
            Expr::Int(i) => write!(f, "{i}"),
            Expr::Float(x) => write!(f, "{x:?}"),
            Expr::Neg(e) => write!(f, "-({e})"),
            Expr::Bin(a, op, b) => write!(f, "({a} {} {b})", op.sym()),
        }
    }
}

impl Expr {
    pub fn columns(&self) -> Vec<&str> {
        match self {
            Expr::Col(c) => vec![c.as_str()],
            Expr::Int(_) | Expr::Float(_) => Vec::new(),
            Expr::Neg(e) => e.columns(),
            Expr::Bin(a, _, b) => {
                let mut v = a.columns();
                v.extend(b.columns());
                v
            }
        }
    }

    fn integral(&self, schema: &Schema) -> bool {
        match self {
            Expr::Col(c) => schema.find(c).is_ok_and(|i| schema.types[i].is_integer()),
            Expr::Int(_) => true,
            Expr::Float(_) => false,
            Expr::Neg(e) => e.integral(schema),
            Expr::Bin(a, op, b) => *op != Op::Div && a.integral(schema) && b.integral(schema),
        }
    }
}

/// An expression bound to the columns of a schema.
pub struct Compiled {
    node: Node,
    pub out: DataType,
    /// The column it makes, for messages.
    target: String,
}

enum Node {
    Col(usize),
    Int(i64),
    Float(f64),
    Neg(Box<Node>),
    Bin(Box<Node>, Op, Box<Node>),
}

impl Compiled {
    pub fn new(e: &Expr, schema: &Schema, target: &str) -> Result<Self, String> {
        fn bind(e: &Expr, s: &Schema) -> Result<Node, String> {
            Ok(match e {
                Expr::Col(c) => {
                    let i = s.find(c)?;
                    if !is_numeric(&s.types[i]) {
                        return Err(format!(
                            "`{c}` is {}, not a number; cast it first (`- cast: {{column: {c}, to: float64}}`)",
                            type_name(&s.types[i])
                        ));
                    }
                    Node::Col(i)
                }
                Expr::Int(i) => Node::Int(*i),
                Expr::Float(x) => Node::Float(*x),
                Expr::Neg(e) => Node::Neg(Box::new(bind(e, s)?)),
                Expr::Bin(a, op, b) => Node::Bin(Box::new(bind(a, s)?), *op, Box::new(bind(b, s)?)),
            })
        }
        Ok(Compiled {
            node: bind(e, schema)?,
            out: if e.integral(schema) {
                DataType::Int64
            } else {
                DataType::Float64
            },
            target: target.to_string(),
        })
    }

    pub fn eval(&self, batch: &Batch) -> Result<ArrayRef, Error> {
        let n = batch.len;
        if self.out == DataType::Int64 {
            let (v, nulls) = self.ints(&self.node, batch)?;
            let v = match v {
                Val::One(x) => vec![x; n],
                Val::Many(v) => v,
            };
            Ok(Arc::new(Int64Array::new(v.into(), nulls)))
        } else {
            let (v, nulls) = floats(&self.node, batch)?;
            let v = match v {
                Val::One(x) => vec![x; n],
                Val::Many(v) => v,
            };
            Ok(Arc::new(Float64Array::new(v.into(), nulls)))
        }
    }

    fn ints(&self, node: &Node, batch: &Batch) -> Result<(Val<i64>, Option<NullBuffer>), Error> {
        Ok(match node {
            Node::Col(i) => {
                let a = to_type(&batch.cols[*i], &DataType::Int64)?;
                let a = a.as_any().downcast_ref::<Int64Array>().expect("int64");
                (Val::Many(a.values().to_vec()), a.nulls().cloned())
            }
            Node::Int(x) => (Val::One(*x), None),
            Node::Float(_) => unreachable!("integer expressions have no float"),
            Node::Neg(e) => {
                let (v, nulls) = self.ints(e, batch)?;
                let op = |x: i64| x.checked_neg();
                (self.map1(v, nulls.as_ref(), batch, op, "-")?, nulls)
            }
            Node::Bin(a, op, b) => {
                let (x, xn) = self.ints(a, batch)?;
                let (y, yn) = self.ints(b, batch)?;
                let nulls = NullBuffer::union(xn.as_ref(), yn.as_ref());
                let f = match op {
                    Op::Add => i64::checked_add,
                    Op::Sub => i64::checked_sub,
                    Op::Mul => i64::checked_mul,
                    Op::Div => unreachable!("division is float"),
                };
                let out = match (x, y) {
                    (Val::One(x), Val::One(y)) => Val::One(f(x, y).ok_or_else(|| self.overflow(batch, 0, x, *op, y))?),
                    (x, y) => {
                        let mut v = Vec::with_capacity(batch.len);
                        for i in 0..batch.len {
                            let (p, q) = (x.at(i), y.at(i));
                            v.push(match f(p, q) {
                                Some(r) => r,
                                None if nulls.as_ref().is_some_and(|n| n.is_null(i)) => 0,
                                None => return Err(self.overflow(batch, i, p, *op, q)),
                            });
                        }
                        Val::Many(v)
                    }
                };
                (out, nulls)
            }
        })
    }

    fn map1(
        &self,
        v: Val<i64>,
        nulls: Option<&NullBuffer>,
        batch: &Batch,
        f: impl Fn(i64) -> Option<i64>,
        sym: &str,
    ) -> Result<Val<i64>, Error> {
        let bad = |i: usize, x: i64| Error::Value {
            row: batch.row(i),
            column: Some(self.target.clone()),
            value: None,
            problem: format!("{sym}{x} overflows int64"),
        };
        Ok(match v {
            Val::One(x) => Val::One(f(x).ok_or_else(|| bad(0, x))?),
            Val::Many(v) => {
                let mut out = Vec::with_capacity(v.len());
                for (i, x) in v.into_iter().enumerate() {
                    out.push(match f(x) {
                        Some(r) => r,
                        None if nulls.is_some_and(|n| n.is_null(i)) => 0,
                        None => return Err(bad(i, x)),
                    });
                }
                Val::Many(out)
            }
        })
    }

    fn overflow(&self, batch: &Batch, i: usize, x: i64, op: Op, y: i64) -> Error {
        Error::Value {
            row: batch.row(i),
            column: Some(self.target.clone()),
            value: None,
            problem: format!(
                "{x} {} {y} overflows int64 (cast an operand to float64 first)",
                op.sym()
            ),
        }
    }
}

enum Val<T> {
    One(T),
    Many(Vec<T>),
}

impl<T: Copy> Val<T> {
    #[inline]
    fn at(&self, i: usize) -> T {
        match self {
            Val::One(x) => *x,
            Val::Many(v) => v[i],
        }
    }
}

fn to_type(a: &ArrayRef, t: &DataType) -> Result<ArrayRef, Error> {
    if a.data_type() == t {
        return Ok(a.clone());
    }
    let opts = CastOptions {
        safe: false,
        ..Default::default()
    };
    Ok(arrow_cast::cast_with_options(a, t, &opts)?)
}

fn floats(node: &Node, batch: &Batch) -> Result<(Val<f64>, Option<NullBuffer>), Error> {
    Ok(match node {
        Node::Col(i) => {
            let a = to_type(&batch.cols[*i], &DataType::Float64)?;
            let a = a.as_any().downcast_ref::<Float64Array>().expect("float64");
            (Val::Many(a.values().to_vec()), a.nulls().cloned())
        }
        Node::Int(x) => (Val::One(*x as f64), None),
        Node::Float(x) => (Val::One(*x), None),
        Node::Neg(e) => {
            let (v, nulls) = floats(e, batch)?;
            let v = match v {
                Val::One(x) => Val::One(-x),
                Val::Many(v) => Val::Many(v.into_iter().map(|x| -x).collect()),
            };
            (v, nulls)
        }
        Node::Bin(a, op, b) => {
            let (x, xn) = floats(a, batch)?;
            let (y, yn) = floats(b, batch)?;
            let nulls = NullBuffer::union(xn.as_ref(), yn.as_ref());
            let f = match op {
                Op::Add => |p: f64, q: f64| p + q,
                Op::Sub => |p: f64, q: f64| p - q,
                Op::Mul => |p: f64, q: f64| p * q,
                Op::Div => |p: f64, q: f64| p / q,
            };
            let out = match (x, y) {
                (Val::One(p), Val::One(q)) => Val::One(f(p, q)),
                (Val::Many(mut p), Val::One(q)) => {
                    p.iter_mut().for_each(|p| *p = f(*p, q));
                    Val::Many(p)
                }
                (Val::One(p), Val::Many(mut q)) => {
                    q.iter_mut().for_each(|q| *q = f(p, *q));
                    Val::Many(q)
                }
                (Val::Many(mut p), Val::Many(q)) => {
                    p.iter_mut().zip(&q).for_each(|(p, q)| *p = f(*p, *q));
                    Val::Many(p)
                }
            };
            (out, nulls)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::table::Rows;

    fn schema() -> Schema {
        Schema {
            names: vec!["Quantity".into(), "UnitPrice".into(), "Unit Cost".into(), "Name".into()],
            types: vec![DataType::Int64, DataType::Float64, DataType::Float64, DataType::Utf8],
        }
    }

    fn batch() -> Batch {
        Batch::new(
            vec![
                Arc::new(Int64Array::from(vec![Some(6), None, Some(-2), Some(i64::MAX)])),
                Arc::new(Float64Array::from(vec![Some(2.55), Some(1.0), Some(0.1), Some(1.0)])),
                Arc::new(Float64Array::from(vec![Some(1.0), Some(2.0), None, Some(0.0)])),
                Arc::new(arrow_array::StringArray::from(vec!["a", "b", "c", "d"])),
            ],
            Rows::From(1),
            4,
        )
    }

    #[test]
    fn parses_with_precedence_and_quoted_names() {
        let e: Expr = "Quantity * UnitPrice".parse().unwrap();
        assert_eq!(e.to_string(), "(Quantity * UnitPrice)");
        let e: Expr = "-(a + 2) * `Unit Cost` / 4 - -1.5e1".parse().unwrap();
        assert_eq!(e.to_string(), "(((-((a + 2)) * `Unit Cost`) / 4) - -15.0)");
        assert_eq!(e.columns(), ["a", "Unit Cost"]);
        for (bad, says) in [
            ("", "it is empty"),
            ("a *", "expected a column, a number or `(` at the end"),
            ("(a + b", "expected `)` at the end"),
            ("a b", "unexpected `b` after a complete expression"),
            ("'Unit Cost' * 2", "is text; column names with spaces go in backticks"),
            ("a % b", "unexpected `%`"),
        ] {
            let e = bad.parse::<Expr>().unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn float_as_numpy_computes_it_and_nulls_propagate() {
        let s = schema();
        let c = Compiled::new(&"Quantity * UnitPrice".parse().unwrap(), &s, "t").unwrap();
        assert_eq!(c.out, DataType::Float64);
        let out = c.eval(&batch()).unwrap();
        let f = out.as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(f.value(0), 6.0 * 2.55);
        assert!(f.is_null(1));
        assert_eq!(f.value(2), -2.0 * 0.1);
        let c = Compiled::new(&"UnitPrice / `Unit Cost`".parse().unwrap(), &s, "t").unwrap();
        let out = c.eval(&batch()).unwrap();
        let f = out.as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(f.value(0), 2.55);
        assert!(f.is_null(2));
        assert_eq!(f.value(3), f64::INFINITY);
    }

    #[test]
    fn integers_stay_integers_and_overflow_is_an_error() {
        let s = schema();
        let c = Compiled::new(&"Quantity * 2 - 1".parse().unwrap(), &s, "t").unwrap();
        assert_eq!(c.out, DataType::Int64);
        let b = batch();
        let e = c.eval(&b).unwrap_err();
        assert!(
            matches!(&e, Error::Value { row: 4, problem, .. } if problem.contains("9223372036854775807 * 2 overflows int64")),
            "{e:?}"
        );
        let ok = Batch::new(b.cols.iter().map(|c| c.slice(0, 3)).collect(), Rows::From(1), 3);
        let out = c.eval(&ok).unwrap();
        let i = out.as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!((i.value(0), i.is_null(1), i.value(2)), (11, true, -5));
        let err = Compiled::new(&"Name * 2".parse().unwrap(), &s, "t").err().unwrap();
        assert!(err.contains("`Name` is string, not a number; cast it first"), "{err}");
        let err = Compiled::new(&"Nope * 2".parse().unwrap(), &s, "t").err().unwrap();
        assert!(err.contains("no column `Nope`; the columns are `Quantity`"), "{err}");
    }
}
