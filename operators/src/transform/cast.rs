//! Changing a column's type (`cast`, `parse_timestamp`, `read.types`) and
//! filling its nulls (`fill_null`). Text is parsed by our own parsers, so a
//! bad value is reported with its row; other conversions go through
//! arrow-cast, whose failures are found afterwards (a value that became
//! null) and reported the same way.

use std::sync::Arc;

use arrow_array::types::{Date32Type, Float32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{
    Array, ArrayRef, ArrowPrimitiveType, BooleanArray, Float64Array, Int64Array, PrimitiveArray, Scalar, StringArray,
};
use arrow_buffer::{BooleanBuffer, NullBuffer};
use arrow_cast::CastOptions;
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType, TimeUnit};

use super::config::{ColType, OnError, Scalar as Lit};
use super::error::Error;
use super::strptime::{TimeFormat, parse_iso, parse_iso_date};
use super::table::{Batch, TextBuilder, type_name, valid};
use super::values::{float_to_int, parse_bool, parse_float, parse_int, parse_int32};

/// The Arrow type of a config type.
pub fn arrow_type(t: ColType) -> DataType {
    match t {
        ColType::String => DataType::Utf8,
        ColType::Int64 => DataType::Int64,
        ColType::Int32 => DataType::Int32,
        ColType::Float64 => DataType::Float64,
        ColType::Float32 => DataType::Float32,
        ColType::Bool => DataType::Boolean,
        ColType::Date => DataType::Date32,
        ColType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
    }
}

enum How {
    /// Parse text.
    Text(ColType),
    /// Parse text with a strptime format.
    Format(Arc<TimeFormat>),
    /// A float to an integer type: only whole numbers in range.
    FloatToInt,
    /// arrow-cast, failures found afterwards.
    Arrow,
}

/// Values that could not be converted and became null (`on_error: null`).
#[derive(Debug, Default, Clone)]
pub struct Nulled {
    pub count: u64,
    /// The first: row, value, problem.
    pub first: Option<(u64, String, String)>,
}

pub struct Convert {
    pub col: usize,
    pub name: String,
    pub to: DataType,
    how: How,
    on_error: OnError,
    /// Added to a failure's message (how to let it pass).
    hint: &'static str,
    pub nulled: Nulled,
}

const HINT: &str = "; add `on_error: null` to make such values null";

impl Convert {
    /// A `cast` of column `col` (of type `from`) to `to`; `None` when it
    /// already has that type.
    pub fn cast(
        col: usize,
        name: &str,
        from: &DataType,
        to: ColType,
        on_error: OnError,
    ) -> Result<Option<Self>, String> {
        let target = arrow_type(to);
        if *from == target {
            return Ok(None);
        }
        let how = match from {
            DataType::Utf8 => How::Text(to),
            DataType::Float16 | DataType::Float32 | DataType::Float64 if target.is_integer() => How::FloatToInt,
            _ if arrow_cast::can_cast_types(from, &target) => How::Arrow,
            _ => {
                return Err(format!(
                    "cannot cast `{name}` from {} to {}",
                    type_name(from),
                    to.name()
                ));
            }
        };
        Ok(Some(Convert {
            col,
            name: name.to_string(),
            to: target,
            how,
            on_error,
            hint: HINT,
            nulled: Nulled::default(),
        }))
    }

    /// A `read.types` entry: like a cast of text, without the hint.
    pub fn read_type(col: usize, name: &str, to: ColType) -> Option<Self> {
        let mut c = Convert::cast(col, name, &DataType::Utf8, to, OnError::Fail).ok()??;
        c.hint = "";
        Some(c)
    }

    pub fn timestamp(
        col: usize,
        name: &str,
        from: &DataType,
        format: Arc<TimeFormat>,
        on_error: OnError,
    ) -> Result<Self, String> {
        if *from != DataType::Utf8 {
            return Err(format!(
                "`{name}` is {}, not text: only text is parsed (use `cast` between other types)",
                type_name(from)
            ));
        }
        Ok(Convert {
            col,
            name: name.to_string(),
            to: DataType::Timestamp(TimeUnit::Microsecond, None),
            how: How::Format(format),
            on_error,
            hint: HINT,
            nulled: Nulled::default(),
        })
    }

    pub fn apply(&mut self, batch: &mut Batch) -> Result<(), Error> {
        let a = batch.cols[self.col].clone();
        let mut fails = Fails {
            batch,
            name: &self.name,
            on_error: self.on_error,
            hint: self.hint,
            nulled: &mut self.nulled,
            bad: Vec::new(),
        };
        let out: ArrayRef = match &self.how {
            How::Text(to) => {
                let s = a.as_any().downcast_ref::<StringArray>().expect("text column");
                match to {
                    ColType::String => a.clone(),
                    ColType::Int64 => parse_prim::<Int64Type>(s, &mut fails, parse_int)?,
                    ColType::Int32 => parse_prim::<Int32Type>(s, &mut fails, parse_int32)?,
                    ColType::Float64 => parse_prim::<Float64Type>(s, &mut fails, parse_float)?,
                    ColType::Float32 => parse_prim::<Float32Type>(s, &mut fails, |v| parse_float(v).map(|x| x as f32))?,
                    ColType::Date => parse_prim::<Date32Type>(s, &mut fails, |v| {
                        parse_iso_date(v).and_then(|d| i32::try_from(d).map_err(|_| "is out of range".into()))
                    })?,
                    ColType::Timestamp => parse_cached::<TimestampMicrosecondType>(s, &mut fails, parse_iso)?,
                    ColType::Bool => {
                        let n = s.len();
                        let mut vals = Vec::with_capacity(n);
                        for i in 0..n {
                            let v = valid(s, i)
                                && match parse_bool(s.value(i)) {
                                    Ok(b) => b,
                                    Err(p) => {
                                        fails.fail(i, s.value(i), p)?;
                                        false
                                    }
                                };
                            vals.push(v);
                        }
                        let nulls = fails.nulls(s.nulls(), n);
                        Arc::new(BooleanArray::new(BooleanBuffer::from(vals), nulls))
                    }
                }
            }
            How::Format(fmt) => {
                let s = a.as_any().downcast_ref::<StringArray>().expect("text column");
                parse_cached::<TimestampMicrosecondType>(s, &mut fails, |v| {
                    fmt.parse(v).map_err(|e| format!("does not match `{fmt}`: {e}"))
                })?
            }
            How::FloatToInt => {
                let f = arrow_cast::cast(&a, &DataType::Float64)?;
                let f = f.as_any().downcast_ref::<Float64Array>().expect("float64");
                let n = f.len();
                let mut vals = Vec::with_capacity(n);
                for i in 0..n {
                    let x = f.value(i);
                    vals.push(if !valid(f, i) {
                        0
                    } else {
                        match float_to_int(x) {
                            Ok(v) => v,
                            Err(p) => {
                                fails.fail(i, &format!("{x:?}"), p)?;
                                0
                            }
                        }
                    });
                }
                let nulls = fails.nulls(f.nulls(), n);
                let ints: ArrayRef = Arc::new(Int64Array::new(vals.into(), nulls));
                checked_arrow_cast(&ints, &self.to, &mut fails)?
            }
            How::Arrow => checked_arrow_cast(&a, &self.to, &mut fails)?,
        };
        batch.cols[self.col] = out;
        Ok(())
    }
}

/// Collects the failures of one conversion of one batch.
struct Fails<'a> {
    batch: &'a Batch,
    name: &'a str,
    on_error: OnError,
    hint: &'static str,
    nulled: &'a mut Nulled,
    /// Rows made null here.
    bad: Vec<usize>,
}

impl Fails<'_> {
    fn fail(&mut self, i: usize, value: &str, problem: String) -> Result<(), Error> {
        let row = self.batch.row(i);
        match self.on_error {
            OnError::Fail => Err(Error::value(row, self.name, value, format!("{problem}{}", self.hint))),
            OnError::Null => {
                self.nulled.count += 1;
                self.nulled
                    .first
                    .get_or_insert_with(|| (row, value.to_string(), problem));
                self.bad.push(i);
                Ok(())
            }
        }
    }

    /// The input's nulls plus the rows made null.
    fn nulls(&self, input: Option<&NullBuffer>, n: usize) -> Option<NullBuffer> {
        if self.bad.is_empty() {
            return input.cloned();
        }
        let mut v = vec![true; n];
        for &i in &self.bad {
            v[i] = false;
        }
        let made = NullBuffer::new(BooleanBuffer::from(v));
        NullBuffer::union(input, Some(&made))
    }
}

fn parse_prim<'a, T: ArrowPrimitiveType>(
    s: &'a StringArray,
    fails: &mut Fails<'_>,
    mut parse: impl FnMut(&'a str) -> Result<T::Native, String>,
) -> Result<ArrayRef, Error> {
    let n = s.len();
    let mut vals = Vec::with_capacity(n);
    for i in 0..n {
        if !valid(s, i) {
            vals.push(T::Native::default());
            continue;
        }
        let v = s.value(i);
        vals.push(match parse(v) {
            Ok(x) => x,
            Err(p) => {
                fails.fail(i, v, p)?;
                T::Native::default()
            }
        });
    }
    let nulls = fails.nulls(s.nulls(), n);
    Ok(Arc::new(PrimitiveArray::<T>::new(vals.into(), nulls)))
}

/// Like [`parse_prim`], reusing the result for a value equal to the one
/// before (dates and times repeat row after row in invoice-like data).
fn parse_cached<'a, T: ArrowPrimitiveType>(
    s: &'a StringArray,
    fails: &mut Fails<'_>,
    mut parse: impl FnMut(&'a str) -> Result<T::Native, String>,
) -> Result<ArrayRef, Error> {
    let mut last: Option<(&'a str, T::Native)> = None;
    parse_prim::<T>(s, fails, |v| match last {
        Some((text, x)) if text == v => Ok(x),
        _ => {
            let x = parse(v)?;
            last = Some((v, x));
            Ok(x)
        }
    })
}

/// arrow-cast with failures made null, then reported (or counted) by row.
fn checked_arrow_cast(a: &ArrayRef, to: &DataType, fails: &mut Fails<'_>) -> Result<ArrayRef, Error> {
    let opts = CastOptions {
        safe: true,
        ..Default::default()
    };
    let out = arrow_cast::cast_with_options(a, to, &opts)?;
    if out.null_count() == a.null_count() {
        return Ok(out);
    }
    let fmt = ArrayFormatter::try_new(a.as_ref(), &FormatOptions::default())?;
    for i in 0..a.len() {
        if valid(a.as_ref(), i) && !valid(out.as_ref(), i) {
            let problem = format!("cannot be represented as {}", type_name(to));
            fails.fail(i, &fmt.value(i).to_string(), problem)?;
        }
    }
    Ok(out)
}

/// `fill_null`: nulls of one column replaced by a value of its type.
pub struct Fill {
    pub col: usize,
    value: ArrayRef,
}

impl Fill {
    pub fn new(col: usize, name: &str, t: &DataType, v: &Lit) -> Result<Self, String> {
        let wrong = || format!("{v} cannot fill column `{name}`, which is {}", type_name(t));
        let one: ArrayRef = match t {
            DataType::Utf8 => Arc::new(StringArray::from(vec![match v {
                Lit::Str(s) => s.clone(),
                Lit::Int(i) => i.to_string(),
                Lit::Float(x) => format!("{x:?}"),
                Lit::Bool(b) => b.to_string(),
            }])),
            t if t.is_integer() => {
                let i = match v {
                    Lit::Int(i) => *i,
                    Lit::Float(x) => float_to_int(*x).map_err(|p| format!("{} ({v} {p})", wrong()))?,
                    Lit::Str(s) => parse_int(s).map_err(|p| format!("{} ({v} {p})", wrong()))?,
                    Lit::Bool(_) => return Err(wrong()),
                };
                Arc::new(Int64Array::from(vec![i]))
            }
            t if t.is_floating() => Arc::new(Float64Array::from(vec![match v {
                Lit::Int(i) => *i as f64,
                Lit::Float(x) => *x,
                Lit::Str(s) => parse_float(s).map_err(|p| format!("{} ({v} {p})", wrong()))?,
                Lit::Bool(_) => return Err(wrong()),
            }])),
            DataType::Boolean => Arc::new(BooleanArray::from(vec![match v {
                Lit::Bool(b) => *b,
                Lit::Str(s) => parse_bool(s).map_err(|p| format!("{} ({v} {p})", wrong()))?,
                _ => return Err(wrong()),
            }])),
            DataType::Timestamp(_, _) => match v {
                Lit::Str(s) => Arc::new(PrimitiveArray::<TimestampMicrosecondType>::from(vec![
                    parse_iso(s).map_err(|p| format!("{}: {p}", wrong()))?,
                ])),
                _ => return Err(wrong()),
            },
            DataType::Date32 => match v {
                Lit::Str(s) => {
                    let d = parse_iso_date(s).map_err(|p| format!("{}: {p}", wrong()))?;
                    Arc::new(PrimitiveArray::<Date32Type>::from(vec![d as i32]))
                }
                _ => return Err(wrong()),
            },
            _ => return Err(format!("fill_null does not fill {} columns (`{name}`)", type_name(t))),
        };
        let opts = CastOptions {
            safe: false,
            ..Default::default()
        };
        let value = arrow_cast::cast_with_options(&one, t, &opts).map_err(|e| format!("{}: {e}", wrong()))?;
        Ok(Fill { col, value })
    }

    pub fn apply(&self, batch: &mut Batch) -> Result<(), Error> {
        let a = &batch.cols[self.col];
        let Some(nulls) = a.nulls().filter(|n| n.null_count() > 0) else {
            return Ok(());
        };
        if let Some(text) = a.as_any().downcast_ref::<StringArray>() {
            // Text, copied once at its final size.
            let fill = self
                .value
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("a text fill")
                .value(0);
            let offsets = text.value_offsets();
            let data = text.value_data();
            let used = (offsets[offsets.len() - 1] - offsets[0]) as usize;
            let mut b = TextBuilder::with_capacity(text.len(), used + nulls.null_count() * fill.len());
            for i in 0..text.len() {
                if nulls.is_valid(i) {
                    b.push(&data[offsets[i] as usize..offsets[i + 1] as usize]);
                } else {
                    b.push(fill.as_bytes());
                }
            }
            batch.cols[self.col] = Arc::new(b.finish()?);
            return Ok(());
        }
        let mask = BooleanArray::new(nulls.inner().clone(), None);
        let out = arrow_select::zip::zip(&mask, a, &Scalar::new(self.value.clone()))?;
        batch.cols[self.col] = out;
        Ok(())
    }
}
