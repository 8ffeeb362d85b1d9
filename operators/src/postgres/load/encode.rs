//! Arrow batches as `COPY FROM STDIN` input. Each file column is first
//! made the table column's type on our side (`conform`), so that a value
//! that does not fit is reported with its row, column and value before
//! anything reaches the server; then rows are written in Postgres' binary
//! form, or as CSV text when a table column has a type only the server
//! can parse.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, TimestampMicrosecondType,
};
use arrow_array::{Array, ArrayRef, BinaryArray, BooleanArray, PrimitiveArray, RecordBatch, StringArray};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::DataType;

use super::target::{Column, Target};
use crate::postgres::numeric;
use crate::postgres::pgtype::{PG_EPOCH_DAYS, PG_EPOCH_US, PgKind};

/// The binary COPY signature, flags and header extension length.
const BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Binary,
    Csv,
}

/// One file column and the table column it goes to.
#[derive(Debug, Clone)]
pub struct Plan {
    pub file_name: String,
    pub column: Column,
}

pub struct Encoder {
    plans: Vec<Plan>,
    pub wire: Wire,
    /// Rows encoded so far (for the row numbers in messages).
    rows: u64,
}

impl Encoder {
    pub fn new(plans: Vec<Plan>) -> Encoder {
        let csv = plans.iter().any(|p| matches!(p.column.target, Target::Text(_)));
        Encoder {
            plans,
            wire: if csv { Wire::Csv } else { Wire::Binary },
            rows: 0,
        }
    }

    /// The `WITH (...)` options of the `COPY` that reads this.
    pub fn copy_options(&self) -> &'static str {
        match self.wire {
            Wire::Binary => "FORMAT binary",
            Wire::Csv => "FORMAT csv",
        }
    }

    pub fn start(&self, out: &mut Vec<u8>) {
        if self.wire == Wire::Binary {
            out.extend_from_slice(BINARY_HEADER);
        }
    }

    pub fn finish(&self, out: &mut Vec<u8>) {
        if self.wire == Wire::Binary {
            out.extend_from_slice(&(-1i16).to_be_bytes());
        }
    }

    /// Appends the batch's rows; its columns are the plans', in order.
    pub fn encode(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<(), String> {
        let first = self.rows + 1;
        let conformed = batch
            .columns()
            .iter()
            .zip(&self.plans)
            .map(|(a, p)| conform(a, p, first, self.wire))
            .collect::<Result<Vec<_>, _>>()?;
        let fields = conformed
            .iter()
            .zip(&self.plans)
            .map(|(a, p)| Field::of(a, &p.column.target, self.wire))
            .collect::<Vec<_>>();
        let n = batch.num_rows();
        match self.wire {
            Wire::Binary => {
                let count = (fields.len() as i16).to_be_bytes();
                for row in 0..n {
                    out.extend_from_slice(&count);
                    for (f, p) in fields.iter().zip(&self.plans) {
                        f.binary(row, out)
                            .map_err(|e| at(first + row as u64, &p.file_name, &e))?;
                    }
                }
            }
            Wire::Csv => {
                for row in 0..n {
                    for (i, f) in fields.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        f.csv(row, out);
                    }
                    out.push(b'\n');
                }
            }
        }
        self.rows += n as u64;
        Ok(())
    }
}

fn at(row: u64, column: &str, what: &str) -> String {
    format!("row {row}, column {column:?}: {what}")
}

/// A value as a message shows it: at most 80 characters.
fn shown(a: &dyn Array, i: usize) -> String {
    let s = ArrayFormatter::try_new(a, &FormatOptions::default())
        .map(|f| f.value(i).to_string())
        .unwrap_or_else(|_| "?".into());
    if s.chars().count() > 80 {
        format!("{:?}...", s.chars().take(80).collect::<String>())
    } else {
        format!("{s:?}")
    }
}

/// The Arrow type a table column's values are made before encoding.
fn wanted(target: &Target, wire: Wire) -> DataType {
    match (target, wire) {
        (Target::Kind(k), _) => k.arrow(),
        (Target::Bytea, _) => DataType::Binary,
        (Target::Numeric | Target::Text(_), _) => DataType::Utf8,
    }
}

/// The column as the table column's type, or the first value that cannot
/// be (row, column, value and why).
fn conform(src: &ArrayRef, plan: &Plan, first: u64, wire: Wire) -> Result<ArrayRef, String> {
    let col = &plan.column;
    let to = wanted(&col.target, wire);
    let out = if src.data_type() == &to {
        src.clone()
    } else {
        arrow_cast::cast(src.as_ref(), &to).map_err(|e| {
            format!(
                "column {:?} ({}) cannot go into {} ({}): {e}",
                plan.file_name,
                src.data_type(),
                col.name,
                col.type_name
            )
        })?
    };
    if out.null_count() != src.null_count() {
        let i = (0..src.len()).find(|&i| src.is_valid(i) && out.is_null(i)).unwrap_or(0);
        return Err(at(
            first + i as u64,
            &plan.file_name,
            &format!(
                "{} is not a valid {} (table column {:?})",
                shown(src.as_ref(), i),
                col.type_name,
                col.name
            ),
        ));
    }
    // A float into an integer column: no silent truncation.
    if matches!(col.target, Target::Kind(PgKind::Int2 | PgKind::Int4 | PgKind::Int8)) && src.data_type().is_floating() {
        let f = arrow_cast::cast(src.as_ref(), &DataType::Float64).map_err(|e| e.to_string())?;
        let f = f.as_primitive::<Float64Type>();
        if let Some(i) = (0..f.len()).find(|&i| f.is_valid(i) && f.value(i).fract() != 0.0) {
            return Err(at(
                first + i as u64,
                &plan.file_name,
                &format!(
                    "{} is not a whole number, and {:?} is {}",
                    shown(src.as_ref(), i),
                    col.name,
                    col.type_name
                ),
            ));
        }
    }
    if col.not_null && out.null_count() > 0 {
        let i = (0..out.len()).find(|&i| out.is_null(i)).unwrap_or(0);
        return Err(at(
            first + i as u64,
            &plan.file_name,
            &format!("no value, and table column {:?} is NOT NULL", col.name),
        ));
    }
    Ok(out)
}

/// A conformed column, typed for the row loop.
enum Field<'a> {
    I16(&'a PrimitiveArray<Int16Type>),
    I32(&'a PrimitiveArray<Int32Type>),
    I64(&'a PrimitiveArray<Int64Type>),
    F32(&'a PrimitiveArray<Float32Type>),
    F64(&'a PrimitiveArray<Float64Type>),
    Decimal(&'a PrimitiveArray<Decimal128Type>, u16),
    /// Decimal text, sent as a binary numeric.
    NumericText(&'a StringArray),
    Text(&'a StringArray),
    Jsonb(&'a StringArray),
    Bool(&'a BooleanArray),
    Date(&'a PrimitiveArray<Date32Type>),
    Timestamp(&'a PrimitiveArray<TimestampMicrosecondType>),
    Bytes(&'a BinaryArray),
    /// CSV: any column as its text (bytea as `\x` hex).
    CsvText(ArrayRef),
}

impl<'a> Field<'a> {
    fn of(a: &'a ArrayRef, target: &Target, wire: Wire) -> Field<'a> {
        if wire == Wire::Csv {
            return Field::CsvText(a.clone());
        }
        match target {
            Target::Kind(k) => match k {
                PgKind::Int2 => Field::I16(a.as_primitive()),
                PgKind::Int4 => Field::I32(a.as_primitive()),
                PgKind::Int8 => Field::I64(a.as_primitive()),
                PgKind::Float4 => Field::F32(a.as_primitive()),
                PgKind::Float8 => Field::F64(a.as_primitive()),
                PgKind::Numeric { scale, .. } => Field::Decimal(a.as_primitive(), (*scale).max(0) as u16),
                PgKind::Text | PgKind::Json => Field::Text(a.as_string()),
                PgKind::Jsonb => Field::Jsonb(a.as_string()),
                PgKind::Bool => Field::Bool(a.as_boolean()),
                PgKind::Date => Field::Date(a.as_primitive()),
                PgKind::Timestamp | PgKind::Timestamptz => Field::Timestamp(a.as_primitive()),
            },
            Target::Numeric => Field::NumericText(a.as_string()),
            Target::Bytea => Field::Bytes(a.as_binary()),
            Target::Text(_) => Field::CsvText(a.clone()),
        }
    }

    fn binary(&self, i: usize, out: &mut Vec<u8>) -> Result<(), String> {
        macro_rules! fixed {
            ($a:expr, $v:expr) => {{
                if $a.is_null(i) {
                    out.extend_from_slice(&(-1i32).to_be_bytes());
                } else {
                    let b = $v.to_be_bytes();
                    out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                    out.extend_from_slice(&b);
                }
            }};
        }
        match self {
            Field::I16(a) => fixed!(a, a.value(i)),
            Field::I32(a) => fixed!(a, a.value(i)),
            Field::I64(a) => fixed!(a, a.value(i)),
            Field::F32(a) => fixed!(a, a.value(i)),
            Field::F64(a) => fixed!(a, a.value(i)),
            Field::Bool(a) => fixed!(a, u8::from(a.value(i))),
            Field::Date(a) => fixed!(a, a.value(i) - PG_EPOCH_DAYS),
            Field::Timestamp(a) => fixed!(a, a.value(i) - PG_EPOCH_US),
            Field::Decimal(a, scale) => {
                if a.is_null(i) {
                    return null(out);
                }
                variable(out, |out| numeric::encode(a.value(i), *scale, out));
            }
            Field::NumericText(a) => {
                if a.is_null(i) {
                    return null(out);
                }
                let v = a.value(i);
                let mut r = Ok(());
                variable(out, |out| r = numeric::encode_text(v, out));
                r?;
            }
            Field::Text(a) => bytes(out, a.is_valid(i).then(|| a.value(i).as_bytes()), None),
            Field::Jsonb(a) => bytes(out, a.is_valid(i).then(|| a.value(i).as_bytes()), Some(1)),
            Field::Bytes(a) => bytes(out, a.is_valid(i).then(|| a.value(i)), None),
            Field::CsvText(_) => unreachable!("CSV columns are not written in binary"),
        }
        Ok(())
    }

    /// The value as a CSV field: empty for null, else quoted.
    fn csv(&self, i: usize, out: &mut Vec<u8>) {
        let Field::CsvText(a) = self else {
            unreachable!("every column is text in a CSV load")
        };
        if a.is_null(i) {
            return;
        }
        match a.data_type() {
            DataType::Binary => {
                out.extend_from_slice(b"\\x");
                for b in a.as_binary::<i32>().value(i) {
                    out.extend_from_slice(format!("{b:02x}").as_bytes());
                }
            }
            DataType::Utf8 => quoted(a.as_string::<i32>().value(i), out),
            _ => {
                let s = ArrayFormatter::try_new(a.as_ref(), &FormatOptions::default())
                    .map(|f| f.value(i).to_string())
                    .unwrap_or_default();
                quoted(&s, out);
            }
        }
    }
}

fn null(out: &mut Vec<u8>) -> Result<(), String> {
    out.extend_from_slice(&(-1i32).to_be_bytes());
    Ok(())
}

/// A field whose length is known once written: a placeholder, then the
/// length filled in.
fn variable(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    write(out);
    let len = (out.len() - at - 4) as i32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

fn bytes(out: &mut Vec<u8>, v: Option<&[u8]>, prefix: Option<u8>) {
    match v {
        None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        Some(v) => {
            let len = v.len() + usize::from(prefix.is_some());
            out.extend_from_slice(&(len as i32).to_be_bytes());
            out.extend(prefix);
            out.extend_from_slice(v);
        }
    }
}

fn quoted(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for b in s.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Float64Array, Int64Array, TimestampNanosecondArray};
    use arrow_schema::{Field as ArrowField, Schema};

    use super::*;

    fn col(name: &str, type_name: &str, target: Target, not_null: bool) -> Column {
        Column {
            name: name.into(),
            type_name: type_name.into(),
            target,
            not_null,
        }
    }

    fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
        let schema = Schema::new(
            cols.iter()
                .map(|(n, a)| ArrowField::new(*n, a.data_type().clone(), true))
                .collect::<Vec<_>>(),
        );
        RecordBatch::try_new(Arc::new(schema), cols.into_iter().map(|(_, a)| a).collect()).unwrap()
    }

    fn plan(file: &str, c: Column) -> Plan {
        Plan {
            file_name: file.into(),
            column: c,
        }
    }

    #[test]
    fn binary_rows_are_what_postgres_reads() {
        let mut e = Encoder::new(vec![
            plan(
                "Quantity",
                col("quantity", "integer", Target::Kind(PgKind::Int4), false),
            ),
            plan(
                "Description",
                col("description", "text", Target::Kind(PgKind::Text), false),
            ),
            plan(
                "InvoiceDate",
                col("invoice_date", "timestamp", Target::Kind(PgKind::Timestamp), false),
            ),
            plan("UnitPrice", col("unit_price", "numeric", Target::Numeric, false)),
        ]);
        assert_eq!(e.wire, Wire::Binary);
        let b = batch(vec![
            ("Quantity", Arc::new(Int64Array::from(vec![Some(6), None])) as ArrayRef),
            ("Description", Arc::new(StringArray::from(vec![Some("café"), Some("")]))),
            (
                "InvoiceDate",
                Arc::new(TimestampNanosecondArray::from(vec![
                    Some(946_684_800_000_000_000 + 1_000),
                    None,
                ])),
            ),
            ("UnitPrice", Arc::new(Float64Array::from(vec![Some(2.55), None]))),
        ]);
        let mut out = Vec::new();
        e.start(&mut out);
        e.encode(&b, &mut out).unwrap();
        e.finish(&mut out);
        let mut want = BINARY_HEADER.to_vec();
        // Row 1: 4 fields; int4 6; "café"; 1 µs after 2000-01-01; 2.55.
        want.extend_from_slice(&4i16.to_be_bytes());
        want.extend_from_slice(&4i32.to_be_bytes());
        want.extend_from_slice(&6i32.to_be_bytes());
        want.extend_from_slice(&5i32.to_be_bytes());
        want.extend_from_slice("café".as_bytes());
        want.extend_from_slice(&8i32.to_be_bytes());
        want.extend_from_slice(&1i64.to_be_bytes());
        let mut n = Vec::new();
        numeric::encode(255, 2, &mut n);
        want.extend_from_slice(&(n.len() as i32).to_be_bytes());
        want.extend_from_slice(&n);
        // Row 2: null, empty text, null, null.
        want.extend_from_slice(&4i16.to_be_bytes());
        want.extend_from_slice(&(-1i32).to_be_bytes());
        want.extend_from_slice(&0i32.to_be_bytes());
        want.extend_from_slice(&(-1i32).to_be_bytes());
        want.extend_from_slice(&(-1i32).to_be_bytes());
        want.extend_from_slice(&(-1i16).to_be_bytes());
        assert_eq!(out, want);
    }

    #[test]
    fn a_value_that_does_not_fit_names_its_row_column_and_value() {
        let mut e = Encoder::new(vec![plan(
            "qty",
            col("qty", "smallint", Target::Kind(PgKind::Int2), false),
        )]);
        let ok = batch(vec![("qty", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef)]);
        e.encode(&ok, &mut Vec::new()).unwrap();
        let big = batch(vec![("qty", Arc::new(Int64Array::from(vec![3, 70_000])) as ArrayRef)]);
        let err = e.encode(&big, &mut Vec::new()).unwrap_err();
        assert_eq!(
            err,
            r#"row 4, column "qty": "70000" is not a valid smallint (table column "qty")"#
        );

        let mut e = Encoder::new(vec![plan("id", col("id", "bigint", Target::Kind(PgKind::Int8), false))]);
        let frac = batch(vec![(
            "id",
            Arc::new(Float64Array::from(vec![17850.0, 12.5])) as ArrayRef,
        )]);
        let err = e.encode(&frac, &mut Vec::new()).unwrap_err();
        assert!(
            err.starts_with(r#"row 2, column "id": "12.5" is not a whole number"#),
            "{err}"
        );

        let mut e = Encoder::new(vec![plan("Day", col("day", "date", Target::Kind(PgKind::Date), true))]);
        let text = batch(vec![(
            "Day",
            Arc::new(StringArray::from(vec![Some("2010-12-01"), None])) as ArrayRef,
        )]);
        let err = e.encode(&text, &mut Vec::new()).unwrap_err();
        assert_eq!(
            err,
            r#"row 2, column "Day": no value, and table column "day" is NOT NULL"#
        );
        let bad = batch(vec![(
            "Day",
            Arc::new(StringArray::from(vec!["12/1/2010"])) as ArrayRef,
        )]);
        let err = e.encode(&bad, &mut Vec::new()).unwrap_err();
        assert!(err.contains(r#""12/1/2010" is not a valid date"#), "{err}");

        let mut e = Encoder::new(vec![plan("p", col("p", "numeric", Target::Numeric, false))]);
        let nan = batch(vec![("p", Arc::new(StringArray::from(vec!["1.5", "one"])) as ArrayRef)]);
        let err = e.encode(&nan, &mut Vec::new()).unwrap_err();
        assert_eq!(err, r#"row 2, column "p": "one" is not a number"#);
    }

    #[test]
    fn a_type_only_the_server_parses_makes_the_load_csv() {
        let mut e = Encoder::new(vec![
            plan("id", col("id", "uuid", Target::Text("uuid".into()), false)),
            plan("n", col("n", "integer", Target::Kind(PgKind::Int4), false)),
            plan("note", col("note", "text", Target::Kind(PgKind::Text), false)),
        ]);
        assert_eq!(e.wire, Wire::Csv);
        let b = batch(vec![
            (
                "id",
                Arc::new(StringArray::from(vec![
                    Some("00000000-0000-0000-0000-000000000001"),
                    None,
                ])) as ArrayRef,
            ),
            ("n", Arc::new(Int64Array::from(vec![Some(1), None]))),
            (
                "note",
                Arc::new(StringArray::from(vec![Some("say \"hi\", then\nleave"), Some("")])),
            ),
        ]);
        let mut out = Vec::new();
        e.start(&mut out);
        e.encode(&b, &mut out).unwrap();
        e.finish(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"00000000-0000-0000-0000-000000000001\",\"1\",\"say \"\"hi\"\", then\nleave\"\n,,\"\"\n"
        );
    }
}
