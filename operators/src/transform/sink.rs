//! Writing the result. Parquet columns are encoded in parallel (one
//! column at a time per core, the widest first), then appended to the row
//! group in order; CSV goes through arrow-csv.

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, ArrowWriterOptions, compute_leaves,
};
use parquet::basic::{Compression as Codec, GzipLevel, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;

use super::config::Compression;
use super::error::Error;
use super::table::{Batch, Schema};

/// Rows per Parquet row group (pyarrow's default is the same order).
const ROW_GROUP_ROWS: usize = 1 << 20;

pub enum Sink<W: Write + Send> {
    Parquet(Box<ParquetSink<W>>),
    Csv(Box<CsvSink<W>>),
}

impl<W: Write + Send> Sink<W> {
    pub fn write(&mut self, batches: &[Batch]) -> Result<(), Error> {
        match self {
            Sink::Parquet(p) => p.write(batches),
            Sink::Csv(c) => batches.iter().try_for_each(|b| c.write(b)),
        }
    }

    /// Ends the file; returns the writer.
    pub fn finish(self) -> Result<W, Error> {
        match self {
            Sink::Parquet(p) => p.finish(),
            Sink::Csv(c) => c.finish(),
        }
    }

    pub fn rows(&self) -> u64 {
        match self {
            Sink::Parquet(p) => p.rows,
            Sink::Csv(c) => c.rows,
        }
    }
}

fn write_err(e: impl std::fmt::Display) -> Error {
    Error::Write(e.to_string())
}

/// Leaf columns (Parquet's) of an Arrow column.
fn leaves(t: &DataType) -> usize {
    match t {
        DataType::Struct(fields) => fields.iter().map(|f| leaves(f.data_type())).sum(),
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) | DataType::Map(f, _) => {
            leaves(f.data_type())
        }
        _ => 1,
    }
}

/// The writers of one Arrow column (one per leaf) and, once closed, its
/// chunks.
struct Unit {
    writers: Vec<ArrowColumnWriter>,
    chunks: Vec<ArrowColumnChunk>,
}

pub struct ParquetSink<W: Write + Send> {
    file: SerializedFileWriter<W>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    units: Option<Vec<Unit>>,
    in_group: usize,
    groups: usize,
    threads: usize,
    pub rows: u64,
}

impl<W: Write + Send> ParquetSink<W> {
    pub fn new(w: W, schema: &Schema, compression: Compression, level: Option<u32>) -> Result<Self, Error> {
        let codec = match compression {
            Compression::Zstd => Codec::ZSTD(ZstdLevel::try_new(level.unwrap_or(1) as i32).map_err(write_err)?),
            Compression::Snappy => Codec::SNAPPY,
            Compression::Gzip => Codec::GZIP(GzipLevel::try_new(level.unwrap_or(6)).map_err(write_err)?),
            Compression::Lz4 => Codec::LZ4_RAW,
            Compression::None => Codec::UNCOMPRESSED,
        };
        let props = WriterProperties::builder()
            .set_compression(codec)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            // Min and max per column chunk, as pyarrow writes them; per
            // page costs a comparison per value for little use.
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_created_by(format!("updraft {}", env!("CARGO_PKG_VERSION")))
            .build();
        let arrow = schema.arrow();
        let writer =
            ArrowWriter::try_new_with_options(w, arrow.clone(), ArrowWriterOptions::new().with_properties(props))
                .map_err(write_err)?;
        let (file, factory) = writer.into_serialized_writer().map_err(write_err)?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(ParquetSink {
            file,
            factory,
            schema: arrow,
            units: None,
            in_group: 0,
            groups: 0,
            threads,
            rows: 0,
        })
    }

    fn units(&mut self) -> Result<&mut Vec<Unit>, Error> {
        if self.units.is_none() {
            let mut writers = self
                .factory
                .create_column_writers(self.groups)
                .map_err(write_err)?
                .into_iter();
            let units = self
                .schema
                .fields()
                .iter()
                .map(|f| Unit {
                    writers: writers.by_ref().take(leaves(f.data_type())).collect(),
                    chunks: Vec::new(),
                })
                .collect();
            self.units = Some(units);
        }
        Ok(self.units.as_mut().expect("made above"))
    }

    pub fn write(&mut self, batches: &[Batch]) -> Result<(), Error> {
        // Cut into row groups.
        let mut pending: Vec<Batch> = Vec::new();
        for b in batches {
            let mut at = 0;
            while at < b.len {
                let room = ROW_GROUP_ROWS - self.in_group;
                let n = room.min(b.len - at);
                pending.push(if at == 0 && n == b.len {
                    b.clone()
                } else {
                    Batch::new(b.cols.iter().map(|c| c.slice(at, n)).collect(), b.rows.clone(), n)
                });
                self.in_group += n;
                at += n;
                if self.in_group == ROW_GROUP_ROWS {
                    self.encode(&pending, true)?;
                    pending.clear();
                }
            }
        }
        if !pending.is_empty() {
            self.encode(&pending, false)?;
        }
        Ok(())
    }

    /// Encodes `batches` into the open row group, column by column on all
    /// cores; `close`: then ends the row group.
    fn encode(&mut self, batches: &[Batch], close: bool) -> Result<(), Error> {
        let schema = self.schema.clone();
        let threads = self.threads;
        let units = std::mem::take(self.units()?);
        // The widest columns first, so the last ones to start are short.
        let mut order: Vec<usize> = (0..units.len()).collect();
        let size = |j: usize| -> usize { batches.iter().map(|b| b.cols[j].get_array_memory_size()).sum() };
        let sizes: Vec<usize> = (0..units.len()).map(size).collect();
        order.sort_by_key(|&j| std::cmp::Reverse(sizes[j]));
        let units: Vec<Mutex<Unit>> = units.into_iter().map(Mutex::new).collect();
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let first_err: Mutex<Option<Error>> = Mutex::new(None);
        let work = || {
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= order.len() || failed.load(Ordering::Relaxed) {
                    return;
                }
                let j = order[k];
                let mut unit = units[j].lock().expect("one worker per column");
                let res = (|| -> Result<(), Error> {
                    let field = schema.field(j);
                    for b in batches {
                        let leaves = compute_leaves(field, &b.cols[j]).map_err(write_err)?;
                        for (w, leaf) in unit.writers.iter_mut().zip(&leaves) {
                            w.write(leaf).map_err(write_err)?;
                        }
                    }
                    if close {
                        let writers = std::mem::take(&mut unit.writers);
                        unit.chunks = writers
                            .into_iter()
                            .map(|w| w.close().map_err(write_err))
                            .collect::<Result<_, _>>()?;
                    }
                    Ok(())
                })();
                if let Err(e) = res {
                    failed.store(true, Ordering::Relaxed);
                    first_err.lock().expect("error slot").get_or_insert(e);
                    return;
                }
            }
        };
        let workers = threads.min(order.len()).max(1);
        std::thread::scope(|s| {
            for _ in 1..workers {
                s.spawn(work);
            }
            work();
        });
        if let Some(e) = first_err.into_inner().expect("error slot") {
            return Err(e);
        }
        let units: Vec<Unit> = units
            .into_iter()
            .map(|m| m.into_inner().expect("workers done"))
            .collect();
        self.rows += batches.iter().map(|b| b.len as u64).sum::<u64>();
        if close {
            let mut rg = self.file.next_row_group().map_err(write_err)?;
            for u in units {
                for chunk in u.chunks {
                    chunk.append_to_row_group(&mut rg).map_err(write_err)?;
                }
            }
            rg.close().map_err(write_err)?;
            self.units = None;
            self.in_group = 0;
            self.groups += 1;
        } else {
            self.units = Some(units);
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<W, Error> {
        if self.in_group > 0 {
            self.encode(&[], true)?;
        }
        self.file.into_inner().map_err(write_err)
    }
}

pub struct CsvSink<W: Write> {
    writer: Option<arrow_csv::Writer<W>>,
    schema: SchemaRef,
    wrote: bool,
    pub rows: u64,
}

impl<W: Write + Send> CsvSink<W> {
    pub fn new(w: W, schema: &Schema, delimiter: u8, header: bool) -> Self {
        let writer = arrow_csv::WriterBuilder::new()
            .with_header(header)
            .with_delimiter(delimiter)
            .with_timestamp_format("%Y-%m-%d %H:%M:%S%.f".into())
            .build(w);
        CsvSink {
            writer: Some(writer),
            schema: schema.arrow(),
            wrote: false,
            rows: 0,
        }
    }

    fn write(&mut self, b: &Batch) -> Result<(), Error> {
        let rb = RecordBatch::try_new(self.schema.clone(), b.cols.clone())?;
        self.writer.as_mut().expect("open").write(&rb).map_err(write_err)?;
        self.wrote = true;
        self.rows += b.len as u64;
        Ok(())
    }

    fn finish(mut self) -> Result<W, Error> {
        if !self.wrote {
            // The header of an empty table.
            let rb = RecordBatch::new_empty(self.schema.clone());
            self.writer.as_mut().expect("open").write(&rb).map_err(write_err)?;
        }
        Ok(self.writer.take().expect("open").into_inner())
    }
}
