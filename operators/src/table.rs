//! Arrow tables and Parquet files, as the operators that move them (the
//! Postgres load and extract, the transform) all read them.

use std::fs::File;
use std::path::Path;

use arrow_array::RecordBatchReader;
use arrow_schema::SchemaRef;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

/// pandas writes its index as `__index_level_0__` (and `_1`, ... for a
/// multi-index): not data.
pub fn is_pandas_index(name: &str) -> bool {
    name.strip_prefix("__index_level_")
        .and_then(|r| r.strip_suffix("__"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A Parquet file's batches of `batch_rows`, without pandas' index
/// columns, and the schema of what it yields. The error says what is
/// wrong with the file.
pub fn open_parquet(path: &Path, batch_rows: usize) -> Result<(SchemaRef, ParquetRecordBatchReader), String> {
    let bad = |e: &dyn std::fmt::Display| format!("{}: not a Parquet file that can be read: {e}", path.display());
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| bad(&e))?;
    let arrow = builder.schema().clone();
    let keep = (0..arrow.fields().len()).filter(|&i| !is_pandas_index(arrow.field(i).name()));
    let mask = ProjectionMask::roots(builder.parquet_schema(), keep);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(batch_rows)
        .build()
        .map_err(|e| bad(&e))?;
    Ok((reader.schema(), reader))
}

#[cfg(test)]
mod tests {
    #[test]
    fn pandas_index_columns() {
        assert!(super::is_pandas_index("__index_level_0__"));
        assert!(super::is_pandas_index("__index_level_12__"));
        assert!(!super::is_pandas_index("__index_level___"));
        assert!(!super::is_pandas_index("index"));
    }
}
