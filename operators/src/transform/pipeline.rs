//! One run, on a blocking thread: the schema from the source, the plan,
//! then batches through the steps as they arrive and into the writer. A
//! whole-table step (`most_frequent`, `dedupe` keeping the last) holds the
//! batches until the input ends; the steps after it run on the held table.
//! Nothing is committed at the destination unless everything succeeded.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::mpsc::sync_channel;

use tokio_util::sync::CancellationToken;
use updraft_io::SyncWriter;

use super::config::{ColType, Compression, Format, Step};
use super::error::Error;
use super::plan::{self, Labelled};
use super::sink::{CsvSink, ParquetSink, Sink};
use super::source::{Out, Source};
use super::table::{Batch, Schema};

pub struct Output {
    pub format: Format,
    pub compression: Compression,
    pub level: Option<u32>,
    pub delimiter: u8,
    pub header: bool,
}

pub struct Job<W> {
    pub source: Source,
    pub types: BTreeMap<String, ColType>,
    pub steps: Vec<Step>,
    pub output: Output,
    pub writer: W,
    pub cancel: CancellationToken,
}

pub struct Report {
    pub rows: u64,
    pub schema: Schema,
    pub nulled: Vec<NulledValues>,
}

/// Values a step made null (`on_error: null`).
pub struct NulledValues {
    pub label: String,
    pub column: String,
    pub count: u64,
    /// The first: row, value, problem.
    pub first: Option<(u64, String, String)>,
}

/// An error and the step (or phase) it came from.
#[derive(Debug)]
pub struct Failure {
    pub context: String,
    pub error: Error,
}

fn at(context: &str) -> impl Fn(Error) -> Failure + '_ {
    move |error| Failure {
        context: context.to_string(),
        error,
    }
}

/// The destination a run writes to: committed only at the end.
pub trait Commit: Write + Send {
    fn commit(self) -> std::io::Result<()>;
}

impl Commit for SyncWriter {
    fn commit(self) -> std::io::Result<()> {
        SyncWriter::commit(self)
    }
}

pub fn run<W: Commit>(job: Job<W>) -> Result<Report, Failure> {
    let Job {
        source,
        types,
        steps,
        output,
        writer,
        cancel,
    } = job;
    let result = steps_and_write(&source, &types, &steps, output, writer, &cancel);
    // Stop the readers if they still run (their next send fails), and wait.
    match (result, source.close()) {
        (Ok(r), Ok(())) => Ok(r),
        (Ok(_), Err(e)) => Err(at("reading")(e)),
        (Err(f), Err(e)) if f.error.rank() == 0 => Err(at("reading")(e)),
        (Err(f), _) => Err(f),
    }
}

fn steps_and_write<W: Commit>(
    source: &Source,
    types: &BTreeMap<String, ColType>,
    steps: &[Step],
    output: Output,
    writer: W,
    cancel: &CancellationToken,
) -> Result<Report, Failure> {
    let schema = match source.rx.recv() {
        Ok(Ok(Out::Schema(s))) => s,
        Ok(Ok(Out::Batch(_) | Out::End)) => unreachable!("the schema comes first"),
        Ok(Err(e)) => return Err(at("reading")(e)),
        Err(_) => return Err(at("reading")(Error::Stopped)),
    };
    let (mut ops, out_schema) = plan::compile(&schema, types, steps).map_err(at(""))?;
    let mut sink = match output.format {
        Format::Parquet => Sink::Parquet(Box::new(
            ParquetSink::new(writer, &out_schema, output.compression, output.level).map_err(at("writing"))?,
        )),
        Format::Csv => Sink::Csv(Box::new(CsvSink::new(
            writer,
            &out_schema,
            output.delimiter,
            output.header,
        ))),
    };
    let barrier = ops.iter().position(|o| o.op.whole_table());
    let streaming = barrier.unwrap_or(ops.len());
    let (head, tail) = ops.split_at_mut(streaming);
    let held = std::thread::scope(|s| -> Result<Vec<Batch>, Failure> {
        // Before a whole-table step, batches go to a thread of their own
        // that lets the step count them as they come, and holds them.
        let (tx, rx) = sync_channel::<Batch>(2);
        let holder = tail.first_mut().map(|l| {
            s.spawn(move || -> Result<Vec<Batch>, Failure> {
                let mut held = Vec::new();
                for b in rx {
                    l.op.absorb(&b).map_err(at(&l.label))?;
                    held.push(b);
                }
                Ok(held)
            })
        });
        let tx = holder.is_some().then_some(tx);
        let fed = (|| -> Result<(), Failure> {
            let mut ended = false;
            for msg in source.rx.iter() {
                if cancel.is_cancelled() {
                    return Err(at("")(Error::Cancelled));
                }
                let mut b = match msg {
                    Ok(Out::Batch(b)) => b,
                    Ok(Out::End) => {
                        ended = true;
                        break;
                    }
                    Ok(Out::Schema(_)) => unreachable!("one schema"),
                    Err(e) => return Err(at("reading")(e)),
                };
                for l in head.iter_mut() {
                    b = l.op.apply(b).map_err(at(&l.label))?;
                }
                match &tx {
                    Some(tx) => {
                        // The holder stopped: its error is the one to report.
                        if let Err(_stopped) = tx.send(b) {
                            return Ok(());
                        }
                    }
                    None if b.len > 0 => sink.write(std::slice::from_ref(&b)).map_err(at("writing"))?,
                    None => {}
                }
            }
            if !ended {
                // Not to be taken for the end of the file.
                return Err(at("reading")(Error::BadFile(
                    "the reader stopped before the end of the file".into(),
                )));
            }
            Ok(())
        })();
        drop(tx);
        let held = match holder {
            Some(h) => h.join().expect("the holding thread does not panic")?,
            None => Vec::new(),
        };
        fed?;
        Ok(held)
    })?;
    if cancel.is_cancelled() {
        return Err(at("")(Error::Cancelled));
    }
    if barrier.is_some() {
        let mut held = held;
        for l in tail.iter_mut() {
            held = l.op.apply_all(held).map_err(at(&l.label))?;
        }
        held.retain(|b| b.len > 0);
        sink.write(&held).map_err(at("writing"))?;
    }
    let rows = sink.rows();
    let w = sink.finish().map_err(at("writing"))?;
    w.commit().map_err(|e| at("writing")(Error::Write(e.to_string())))?;
    Ok(Report {
        rows,
        schema: out_schema,
        nulled: nulled(&ops),
    })
}

fn nulled(ops: &[Labelled]) -> Vec<NulledValues> {
    ops.iter()
        .filter_map(|l| {
            l.op.nulled().map(|(col, n)| NulledValues {
                label: l.label.clone(),
                column: col.to_string(),
                count: n.count,
                first: n.first.clone(),
            })
        })
        .collect()
}
