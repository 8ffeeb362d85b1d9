//! `COPY ... TO STDOUT (FORMAT binary)` into Arrow record batches: fed the
//! stream in whatever pieces it arrives, hands back a batch every
//! `batch_rows` rows, so memory stays at one batch whatever the result's
//! size.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder, Float64Builder, Int16Builder, Int32Builder,
    Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema, SchemaRef};

use super::numeric;
use super::pgtype::{PG_EPOCH_DAYS, PG_EPOCH_US, PgKind};

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

enum Col {
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Dec(Decimal128Builder, i8),
    Text(StringBuilder, bool),
    Bool(BooleanBuilder),
    Date(Date32Builder),
    Ts(TimestampMicrosecondBuilder),
}

pub struct Decoder {
    schema: SchemaRef,
    kinds: Vec<PgKind>,
    cols: Vec<Col>,
    batch_rows: usize,
    rows_in_batch: usize,
    rows: u64,
    pending: Vec<u8>,
    header_done: bool,
    ended: bool,
}

impl Decoder {
    pub fn new(columns: &[(String, PgKind)], batch_rows: usize) -> Decoder {
        let fields: Vec<Field> = columns.iter().map(|(n, k)| Field::new(n, k.arrow(), true)).collect();
        let kinds: Vec<PgKind> = columns.iter().map(|(_, k)| *k).collect();
        let cols = kinds.iter().map(|k| new_col(*k, batch_rows)).collect();
        Decoder {
            schema: Arc::new(Schema::new(fields)),
            kinds,
            cols,
            batch_rows,
            rows_in_batch: 0,
            rows: 0,
            pending: Vec::new(),
            header_done: false,
            ended: false,
        }
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Takes the next piece of the stream; `emit` gets each full batch.
    pub fn feed(
        &mut self,
        data: &[u8],
        emit: &mut impl FnMut(RecordBatch) -> Result<(), String>,
    ) -> Result<(), String> {
        // Parse straight from `data` when nothing is pending (the usual
        // case: one message, whole rows); else from the joined bytes.
        let owned;
        let buf: &[u8] = if self.pending.is_empty() {
            data
        } else {
            self.pending.extend_from_slice(data);
            owned = std::mem::take(&mut self.pending);
            &owned
        };
        let mut pos = 0;
        if !self.header_done {
            if buf.len() < SIGNATURE.len() + 8 {
                self.pending = buf.to_vec();
                return Ok(());
            }
            if &buf[..SIGNATURE.len()] != SIGNATURE {
                return Err("the COPY stream does not start with the binary signature".into());
            }
            let ext = u32::from_be_bytes(buf[15..19].try_into().expect("4 bytes")) as usize;
            if buf.len() < 19 + ext {
                self.pending = buf.to_vec();
                return Ok(());
            }
            pos = 19 + ext;
            self.header_done = true;
        }
        while pos < buf.len() && !self.ended {
            match self.row(&buf[pos..])? {
                Some(used) => pos += used,
                None => break,
            }
            if self.rows_in_batch >= self.batch_rows {
                emit(self.take_batch()?)?;
            }
        }
        self.pending = buf[pos..].to_vec();
        Ok(())
    }

    /// The rows not yet handed out, once the stream has ended.
    pub fn finish(mut self) -> Result<Option<RecordBatch>, String> {
        if !self.ended {
            return Err("the COPY stream ended without its trailer (the connection was cut?)".into());
        }
        if self.rows_in_batch == 0 {
            return Ok(None);
        }
        self.take_batch().map(Some)
    }

    fn take_batch(&mut self) -> Result<RecordBatch, String> {
        let arrays: Vec<ArrayRef> = self.cols.iter_mut().map(finish_col).collect();
        self.rows_in_batch = 0;
        RecordBatch::try_new(self.schema.clone(), arrays).map_err(|e| e.to_string())
    }

    /// Decodes one row from the start of `b`: the bytes used, or `None`
    /// if the row is not all there yet.
    fn row(&mut self, b: &[u8]) -> Result<Option<usize>, String> {
        if b.len() < 2 {
            return Ok(None);
        }
        let n = i16::from_be_bytes([b[0], b[1]]);
        if n == -1 {
            self.ended = true;
            return Ok(Some(2));
        }
        if n as usize != self.cols.len() {
            return Err(format!("a row of {n} fields where {} were expected", self.cols.len()));
        }
        // Check the whole row is here before appending any of it.
        let mut pos = 2;
        for _ in 0..n {
            if b.len() < pos + 4 {
                return Ok(None);
            }
            let len = i32::from_be_bytes(b[pos..pos + 4].try_into().expect("4 bytes"));
            pos += 4 + len.max(0) as usize;
            if b.len() < pos {
                return Ok(None);
            }
        }
        let mut pos = 2;
        let row = self.rows + 1;
        for i in 0..self.cols.len() {
            let len = i32::from_be_bytes(b[pos..pos + 4].try_into().expect("4 bytes"));
            pos += 4;
            let v = if len < 0 {
                None
            } else {
                let v = &b[pos..pos + len as usize];
                pos += len as usize;
                Some(v)
            };
            append(&mut self.cols[i], self.kinds[i], v)
                .map_err(|e| format!("row {row}, column `{}`: {e}", self.schema.field(i).name()))?;
        }
        self.rows += 1;
        self.rows_in_batch += 1;
        Ok(Some(pos))
    }
}

fn new_col(k: PgKind, n: usize) -> Col {
    match k {
        PgKind::Int2 => Col::I16(Int16Builder::with_capacity(n)),
        PgKind::Int4 => Col::I32(Int32Builder::with_capacity(n)),
        PgKind::Int8 => Col::I64(Int64Builder::with_capacity(n)),
        PgKind::Float4 => Col::F32(Float32Builder::with_capacity(n)),
        PgKind::Float8 => Col::F64(Float64Builder::with_capacity(n)),
        PgKind::Numeric { precision, scale } => Col::Dec(
            Decimal128Builder::with_capacity(n)
                .with_precision_and_scale(precision, scale)
                .expect("precision checked in PgKind"),
            scale,
        ),
        PgKind::Text | PgKind::Json => Col::Text(StringBuilder::with_capacity(n, n * 16), false),
        PgKind::Jsonb => Col::Text(StringBuilder::with_capacity(n, n * 16), true),
        PgKind::Bool => Col::Bool(BooleanBuilder::with_capacity(n)),
        PgKind::Date => Col::Date(Date32Builder::with_capacity(n)),
        PgKind::Timestamp => Col::Ts(TimestampMicrosecondBuilder::with_capacity(n)),
        PgKind::Timestamptz => Col::Ts(TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC")),
    }
}

fn finish_col(c: &mut Col) -> ArrayRef {
    match c {
        Col::I16(b) => Arc::new(b.finish()),
        Col::I32(b) => Arc::new(b.finish()),
        Col::I64(b) => Arc::new(b.finish()),
        Col::F32(b) => Arc::new(b.finish()),
        Col::F64(b) => Arc::new(b.finish()),
        Col::Dec(b, _) => Arc::new(b.finish()),
        Col::Text(b, _) => Arc::new(b.finish()),
        Col::Bool(b) => Arc::new(b.finish()),
        Col::Date(b) => Arc::new(b.finish()),
        Col::Ts(b) => Arc::new(b.finish()),
    }
}

fn fixed<const N: usize>(v: &[u8]) -> Result<[u8; N], String> {
    v.try_into()
        .map_err(|_| format!("{} bytes where {N} were expected", v.len()))
}

fn append(c: &mut Col, kind: PgKind, v: Option<&[u8]>) -> Result<(), String> {
    let Some(v) = v else {
        match c {
            Col::I16(b) => b.append_null(),
            Col::I32(b) => b.append_null(),
            Col::I64(b) => b.append_null(),
            Col::F32(b) => b.append_null(),
            Col::F64(b) => b.append_null(),
            Col::Dec(b, _) => b.append_null(),
            Col::Text(b, _) => b.append_null(),
            Col::Bool(b) => b.append_null(),
            Col::Date(b) => b.append_null(),
            Col::Ts(b) => b.append_null(),
        }
        return Ok(());
    };
    match c {
        Col::I16(b) => b.append_value(i16::from_be_bytes(fixed(v)?)),
        Col::I32(b) => b.append_value(i32::from_be_bytes(fixed(v)?)),
        Col::I64(b) => b.append_value(i64::from_be_bytes(fixed(v)?)),
        Col::F32(b) => b.append_value(f32::from_be_bytes(fixed(v)?)),
        Col::F64(b) => b.append_value(f64::from_be_bytes(fixed(v)?)),
        Col::Dec(b, scale) => b.append_value(numeric::decode(v, *scale)?),
        Col::Text(b, jsonb) => {
            // jsonb's binary form is a version byte (1), then the text.
            let v = if *jsonb {
                match v.split_first() {
                    Some((1, rest)) => rest,
                    _ => return Err("an unknown jsonb version".into()),
                }
            } else {
                v
            };
            b.append_value(std::str::from_utf8(v).map_err(|e| format!("text that is not UTF-8: {e}"))?);
        }
        Col::Bool(b) => b.append_value(fixed::<1>(v)?[0] != 0),
        Col::Date(b) => {
            let d = i32::from_be_bytes(fixed(v)?);
            if d == i32::MAX || d == i32::MIN {
                return Err("an infinite date has no Parquet value".into());
            }
            b.append_value(d + PG_EPOCH_DAYS);
        }
        Col::Ts(b) => {
            let t = i64::from_be_bytes(fixed(v)?);
            if t == i64::MAX || t == i64::MIN {
                return Err(format!("an infinite {kind:?} has no Parquet value"));
            }
            b.append_value(t.checked_add(PG_EPOCH_US).ok_or("a timestamp out of range")?);
        }
    }
    Ok(())
}
