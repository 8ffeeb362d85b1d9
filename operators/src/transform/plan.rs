//! The steps bound to the input's columns: each step checked against the
//! schema it will see (names, types), before any row is read, and turned
//! into operations on batches. A step on a missing column fails here,
//! naming the columns there are.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::BooleanArray;
use arrow_schema::DataType;

use super::cast::{Convert, Fill, Nulled};
use super::config::{ColType, Keep, Step};
use super::error::Error;
use super::expr;
use super::group::{Dedupe, Interner, MostFrequent};
use super::predicate;
use super::table::{Batch, Rows, Schema, is_text, type_name};
use super::text::{self, TextFn};

pub enum Op {
    Fill(Fill),
    Convert(Convert),
    Text(usize, TextFn),
    Derive { expr: expr::Compiled, at: Option<usize> },
    Filter(predicate::Compiled),
    Project(Vec<usize>),
    Dedupe(Dedupe),
    MostFrequent(MostFrequent),
}

/// An operation and the step it comes from (`steps[3] (cast)`).
pub struct Labelled {
    pub label: String,
    pub op: Op,
}

impl Op {
    /// Needs every row before it can give any.
    pub fn whole_table(&self) -> bool {
        matches!(self, Op::MostFrequent(_)) || matches!(self, Op::Dedupe(d) if d.keep == Keep::Last)
    }

    pub fn apply(&mut self, mut b: Batch) -> Result<Batch, Error> {
        match self {
            Op::Fill(f) => f.apply(&mut b)?,
            Op::Convert(c) => c.apply(&mut b)?,
            Op::Text(col, f) => b.cols[*col] = text::apply(*f, &b.cols[*col])?,
            Op::Derive { expr, at } => {
                let v = expr.eval(&b)?;
                match at {
                    Some(i) => b.cols[*i] = v,
                    None => b.cols.push(v),
                }
            }
            Op::Filter(p) => {
                let keep = p.keep(&b)?;
                let kept = keep.count_set_bits();
                if kept != b.len {
                    let mask = BooleanArray::new(keep, None);
                    let cols = b
                        .cols
                        .iter()
                        .map(|c| arrow_select::filter::filter(c.as_ref(), &mask))
                        .collect::<Result<Vec<_>, _>>()?;
                    let ids: Arc<[u64]> = mask.values().set_indices().map(|i| b.row(i)).collect();
                    b = Batch::new(cols, Rows::Ids(ids), kept);
                }
            }
            Op::Project(keep) => b.cols = keep.iter().map(|&i| b.cols[i].clone()).collect(),
            Op::Dedupe(d) => b = d.apply(b)?,
            Op::MostFrequent(_) => unreachable!("a whole-table step"),
        }
        Ok(b)
    }

    /// Sees a batch on its way to being held for this whole-table step
    /// (counting can start before the input ends).
    pub fn absorb(&mut self, b: &Batch) -> Result<(), Error> {
        match self {
            Op::MostFrequent(m) => m.absorb(b),
            _ => Ok(()),
        }
    }

    pub fn apply_all(&mut self, batches: Vec<Batch>) -> Result<Vec<Batch>, Error> {
        match self {
            Op::MostFrequent(m) => m.apply(batches),
            Op::Dedupe(d) if d.keep == Keep::Last => d.apply_all(batches),
            op => batches.into_iter().map(|b| op.apply(b)).collect(),
        }
    }

    /// Values made null by `on_error: null`.
    pub fn nulled(&self) -> Option<(&str, &Nulled)> {
        match self {
            Op::Convert(c) if c.nulled.count > 0 => Some((&c.name, &c.nulled)),
            _ => None,
        }
    }
}

/// Binds `steps` (after `read.types`) to `input`; returns the operations
/// and the schema they produce.
pub fn compile(
    input: &Schema,
    types: &BTreeMap<String, ColType>,
    steps: &[Step],
) -> Result<(Vec<Labelled>, Schema), Error> {
    let mut s = input.clone();
    let mut ops = Vec::new();
    for (name, t) in types {
        let i = s.find(name).map_err(|e| Error::Plan(format!("`read.types`: {e}")))?;
        if let Some(c) = Convert::read_type(i, name, *t) {
            s.types[i] = c.to.clone();
            ops.push(Labelled {
                label: "reading".into(),
                op: Op::Convert(c),
            });
        }
    }
    for (k, step) in steps.iter().enumerate() {
        let label = format!("`steps[{k}]` ({})", step.name());
        let err = |e: String| Error::Plan(format!("{label}: {e}"));
        let mut push = |op: Op| {
            ops.push(Labelled {
                label: label.clone(),
                op,
            })
        };
        match step {
            Step::FillNull(f) => {
                for c in &f.column.0 {
                    let i = s.find(c).map_err(err)?;
                    push(Op::Fill(Fill::new(i, c, &s.types[i], &f.value).map_err(err)?));
                }
            }
            Step::ParseTimestamp(p) => {
                let fmt = Arc::new(p.format.get("format").map_err(|e| err(e.to_string()))?);
                for c in &p.column.0 {
                    let i = s.find(c).map_err(err)?;
                    let conv = Convert::timestamp(i, c, &s.types[i], fmt.clone(), p.on_error).map_err(err)?;
                    s.types[i] = conv.to.clone();
                    push(Op::Convert(conv));
                }
            }
            Step::Cast(cast) => {
                for c in &cast.column.0 {
                    let i = s.find(c).map_err(err)?;
                    if let Some(conv) = Convert::cast(i, c, &s.types[i], cast.to, cast.on_error).map_err(err)? {
                        s.types[i] = conv.to.clone();
                        push(Op::Convert(conv));
                    }
                }
            }
            Step::Upper(cols) | Step::Lower(cols) | Step::Trim(cols) => {
                let f = match step {
                    Step::Upper(_) => TextFn::Upper,
                    Step::Lower(_) => TextFn::Lower,
                    _ => TextFn::Trim,
                };
                for c in &cols.0 {
                    let i = s.find(c).map_err(err)?;
                    if !is_text(&s.types[i]) {
                        return Err(err(format!("`{c}` is {}, not text", type_name(&s.types[i]))));
                    }
                    push(Op::Text(i, f));
                }
            }
            Step::Derive(d) => {
                let e = d.expr.get("expr").map_err(|e| err(e.to_string()))?;
                let compiled = expr::Compiled::new(&e, &s, &d.column).map_err(err)?;
                let at = s.names.iter().position(|n| *n == d.column);
                match at {
                    Some(i) => s.types[i] = compiled.out.clone(),
                    None => {
                        s.names.push(d.column.clone());
                        s.types.push(compiled.out.clone());
                    }
                }
                push(Op::Derive { expr: compiled, at });
            }
            Step::MostFrequent(m) => {
                let col = s.find(&m.column).map_err(err)?;
                let by =
                    m.by.0
                        .iter()
                        .map(|c| s.find(c))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(err)?;
                for &i in by.iter().chain([&col]) {
                    Interner::supports(&s.types[i]).map_err(|e| err(format!("`{}`: {e}", s.names[i])))?;
                }
                push(Op::MostFrequent(MostFrequent::new(col, by)));
            }
            Step::Rename(map) => {
                for old in map.keys() {
                    s.find(old).map_err(err)?;
                }
                for (old, new) in map {
                    if s.names.contains(new) && !map.contains_key(new) && old != new {
                        return Err(err(format!(
                            "cannot rename `{old}` to `{new}`: there is a column `{new}`"
                        )));
                    }
                }
                for n in s.names.iter_mut() {
                    if let Some(new) = map.get(n) {
                        *n = new.clone();
                    }
                }
            }
            Step::Select(cols) => {
                let keep = cols
                    .0
                    .iter()
                    .map(|c| s.find(c))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(err)?;
                s = project(&s, &keep);
                push(Op::Project(keep));
            }
            Step::Drop(cols) => {
                let gone = cols
                    .0
                    .iter()
                    .map(|c| s.find(c))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(err)?;
                let keep: Vec<usize> = (0..s.names.len()).filter(|i| !gone.contains(i)).collect();
                s = project(&s, &keep);
                push(Op::Project(keep));
            }
            Step::Filter(p) => {
                let p = p.get("filter").map_err(|e| err(e.to_string()))?;
                push(Op::Filter(predicate::Compiled::new(&p, &s).map_err(err)?));
            }
            Step::Dedupe(d) => {
                let cols = match &d.columns {
                    Some(cols) => cols
                        .0
                        .iter()
                        .map(|c| s.find(c))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(err)?,
                    None => (0..s.names.len()).collect(),
                };
                for &i in &cols {
                    Interner::supports(&s.types[i]).map_err(|e| err(format!("`{}`: {e}", s.names[i])))?;
                }
                push(Op::Dedupe(Dedupe::new(cols, d.keep)));
            }
        }
    }
    if s.names.is_empty() {
        return Err(Error::Plan("the steps leave no column to write".into()));
    }
    Ok((ops, s))
}

fn project(s: &Schema, keep: &[usize]) -> Schema {
    Schema {
        names: keep.iter().map(|&i| s.names[i].clone()).collect(),
        types: keep.iter().map(|&i| s.types[i].clone()).collect::<Vec<DataType>>(),
    }
}
