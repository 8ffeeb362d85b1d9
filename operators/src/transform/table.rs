//! What flows between the reader, the steps and the writer: batches of
//! Arrow arrays that remember which rows of the input they hold, so an
//! error after a filter still names the row of the file.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, StringArray};
use arrow_buffer::{BooleanBufferBuilder, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, TimeUnit};

/// Rows of the input a batch holds (1-based data rows, header not counted).
#[derive(Debug, Clone)]
pub enum Rows {
    /// `first`, `first + 1`, ...
    From(u64),
    /// Row numbers, one per row (after a filter or a dedupe).
    Ids(Arc<[u64]>),
}

/// Some rows of the table, one array per column.
#[derive(Debug, Clone)]
pub struct Batch {
    pub cols: Vec<ArrayRef>,
    pub rows: Rows,
    pub len: usize,
}

impl Batch {
    pub fn new(cols: Vec<ArrayRef>, rows: Rows, len: usize) -> Self {
        debug_assert!(cols.iter().all(|c| c.len() == len));
        Batch { cols, rows, len }
    }

    /// The input row number of row `i`.
    pub fn row(&self, i: usize) -> u64 {
        match &self.rows {
            Rows::From(first) => first + i as u64,
            Rows::Ids(ids) => ids[i],
        }
    }

    /// Keeps the rows whose index is in `keep` (ascending).
    pub fn take_rows(&self, keep: &[u32]) -> Result<Batch, arrow_schema::ArrowError> {
        if keep.len() == self.len {
            return Ok(self.clone());
        }
        let idx = arrow_array::UInt32Array::from(keep.to_vec());
        let cols = self
            .cols
            .iter()
            .map(|c| arrow_select::take::take(c.as_ref(), &idx, None))
            .collect::<Result<Vec<_>, _>>()?;
        let ids: Arc<[u64]> = keep.iter().map(|&i| self.row(i as usize)).collect();
        Ok(Batch::new(cols, Rows::Ids(ids), keep.len()))
    }
}

/// The column names and types the steps see.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub names: Vec<String>,
    pub types: Vec<DataType>,
}

impl Schema {
    /// The index of column `name`, or an error naming it and listing the
    /// columns there are.
    pub fn find(&self, name: &str) -> Result<usize, String> {
        self.names.iter().position(|n| n == name).ok_or_else(|| {
            let close: Vec<&String> = self
                .names
                .iter()
                .filter(|n| n.eq_ignore_ascii_case(name) || n.trim() == name.trim())
                .collect();
            let bom = self.names.iter().any(|n| n.starts_with("ï»¿"));
            let hint = match close.first() {
                Some(c) => format!(" (did you mean `{c}`?)"),
                // A UTF-8 byte order mark read as cp1252 or latin-1.
                None if bom => {
                    " (the file starts with a UTF-8 byte order mark: is it UTF-8? set `read.encoding: utf-8`)".into()
                }
                None => String::new(),
            };
            format!("no column `{name}`{hint}; the columns are {}", self.list())
        })
    }

    /// `` `a`, `b`, `c` ``
    pub fn list(&self) -> String {
        let names: Vec<String> = self.names.iter().map(|n| format!("`{n}`")).collect();
        names.join(", ")
    }

    pub fn arrow(&self) -> arrow_schema::SchemaRef {
        Arc::new(arrow_schema::Schema::new(
            self.names
                .iter()
                .zip(&self.types)
                .map(|(n, t)| arrow_schema::Field::new(n, t.clone(), true))
                .collect::<Vec<_>>(),
        ))
    }
}

/// How we name a column type in messages.
pub fn type_name(t: &DataType) -> String {
    match t {
        DataType::Utf8 => "string".into(),
        DataType::Int64 => "int64".into(),
        DataType::Int32 => "int32".into(),
        DataType::Float64 => "float64".into(),
        DataType::Float32 => "float32".into(),
        DataType::Boolean => "bool".into(),
        DataType::Date32 => "date".into(),
        DataType::Timestamp(TimeUnit::Microsecond, None) => "timestamp".into(),
        other => other.to_string().to_lowercase(),
    }
}

pub fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8)
}

pub fn is_numeric(t: &DataType) -> bool {
    t.is_integer() || t.is_floating()
}

/// Builds a UTF-8 column from byte slices without a per-value allocation;
/// the bytes are checked to be UTF-8 once, when the array is made.
pub struct TextBuilder {
    values: Vec<u8>,
    offsets: Vec<i32>,
    nulls: Option<BooleanBufferBuilder>,
}

impl TextBuilder {
    pub fn with_capacity(rows: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        TextBuilder {
            values: Vec::with_capacity(bytes),
            offsets,
            nulls: None,
        }
    }

    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn bytes(&self) -> usize {
        self.values.len()
    }

    #[inline]
    pub fn push(&mut self, v: &[u8]) {
        self.values.extend_from_slice(v);
        // Batches are cut well below 2 GiB of text (see the readers).
        self.offsets.push(self.values.len() as i32);
        if let Some(n) = &mut self.nulls {
            n.append(true);
        }
    }

    #[inline]
    pub fn push_null(&mut self) {
        let len = self.len();
        self.offsets.push(self.values.len() as i32);
        let n = self.nulls.get_or_insert_with(|| {
            let mut b = BooleanBufferBuilder::new(len.max(1024));
            b.append_n(len, true);
            b
        });
        n.append(false);
    }

    pub fn finish(self) -> Result<StringArray, arrow_schema::ArrowError> {
        let nulls = self.nulls.map(|mut b| NullBuffer::new(b.finish()));
        StringArray::try_new(
            OffsetBuffer::new(ScalarBuffer::from(self.offsets)),
            Buffer::from_vec(self.values),
            nulls,
        )
    }
}

/// Where the rows of a CSV file start, for messages: `row 17 (line 18)`.
/// Holds a mark only where a row does not start on the line after the
/// previous one (a quoted line break, a blank line), so it stays small.
#[derive(Debug, Default)]
pub struct LineMap {
    /// (row, line it starts on), ascending.
    marks: Vec<(u64, u64)>,
}

impl LineMap {
    pub fn mark(&mut self, row: u64, line: u64) {
        if self.line(row) != Some(line) {
            self.marks.push((row, line));
        }
    }

    pub fn line(&self, row: u64) -> Option<u64> {
        let i = self.marks.partition_point(|&(r, _)| r <= row);
        let (r, l) = *self.marks.get(i.checked_sub(1)?)?;
        Some(l + (row - r))
    }
}

/// Whether row `i` of `a` is valid.
#[inline]
pub fn valid(a: &dyn Array, i: usize) -> bool {
    a.nulls().is_none_or(|n| n.is_valid(i))
}
