//! `operator: transform`: reads a CSV or Parquet file from a location,
//! applies typed steps in order (`fill_null`, `parse_timestamp`, `cast`,
//! `upper`/`lower`/`trim`, `derive`, `most_frequent`, `rename`,
//! `select`/`drop`, `filter`, `dedupe`) and writes Parquet or CSV to
//! another location. The output is `{rows, columns, location}`.
//!
//! ```text
//! from ─ decode thread: bytes to UTF-8 ─ parse thread: fields into text
//!   columns ─▶ batches ─▶ steps (the run's blocking thread), batch by
//!   batch ─▶ Parquet columns encoded in parallel ─▶ bridge ─▶ to
//!   (committed only at the end). Before a whole-table step
//!   (`most_frequent`), a hold thread counts the batches as they come and
//!   keeps them; the steps after it run on the held table.
//! ```
//!
//! Files: `config.rs` the YAML; `plan.rs` binds the steps to the input's
//! columns; `csv_read.rs`, `source.rs` read; `cast.rs`, `text.rs`,
//! `expr.rs`, `predicate.rs`, `group.rs` are the steps; `sink.rs` writes;
//! `pipeline.rs` joins them; `error.rs` says where a bad value is.

mod cast;
pub mod config;
mod csv_read;
mod error;
mod expr;
mod group;
mod lex;
mod pipeline;
mod plan;
mod predicate;
mod sink;
mod source;
mod strptime;
mod table;
mod text;
mod values;

use std::io::Read;
use std::time::Instant;

use serde_json::json;
use updraft_io::{Location, Stores, bridge, sync_reader};
use updraft_operator_api::{Operator, Output, TaskContext, TaskError};

pub use config::TransformConfig;
use config::{Compression, Encoding, Format};
use error::{Origin, to_task_error};
use pipeline::{Job, Output as Out};
use source::Source;

pub struct TransformOperator;

impl Operator for TransformOperator {
    const NAME: &'static str = "transform";
    type Config = TransformConfig;

    fn validate(config: &TransformConfig) -> Vec<String> {
        config::validate(config)
    }

    async fn execute(&self, config: TransformConfig, ctx: TaskContext) -> Result<Output, TaskError> {
        run(config, ctx).await
    }
}

async fn run(cfg: TransformConfig, ctx: TaskContext) -> Result<Output, TaskError> {
    let started = Instant::now();
    let problems = config::validate(&cfg);
    if !problems.is_empty() {
        return Err(TaskError::Fatal(problems.join("; ")));
    }
    let input = cfg
        .read
        .format
        .or_else(|| Format::of(&cfg.from))
        .ok_or_else(|| TaskError::Fatal(format!("cannot tell the format of {}; set `read.format`", cfg.from)))?;
    let output = cfg
        .write
        .format
        .or_else(|| Format::of(&cfg.to))
        .ok_or_else(|| TaskError::Fatal(format!("cannot tell the format of {}; set `write.format`", cfg.to)))?;
    let stores = Stores::for_task(&ctx, cfg.aws_conn_id.as_deref(), cfg.gcp_conn_id.as_deref())?;
    let from = cfg.from.to_string();
    let encoding = cfg.read.encoding.unwrap_or(Encoding::Utf8);
    let source = match input {
        Format::Csv => {
            ctx.log.info(&format!("reading {from} as CSV ({})", encoding.name()));
            let reader: Box<dyn Read + Send> = match &cfg.from {
                Location::Local(p) => Box::new(std::fs::File::open(p).map_err(|e| {
                    let msg = format!("{from}: {e}");
                    if e.kind() == std::io::ErrorKind::NotFound {
                        TaskError::Fatal(msg)
                    } else {
                        TaskError::Failed(msg)
                    }
                })?),
                other => Box::new(sync_reader(stores.reader(other).await?)),
            };
            let opts = csv_read::CsvOptions {
                encoding,
                delimiter: cfg.read.delimiter.map_or(Format::default_delimiter(&cfg.from), |d| d.0),
                header: cfg.read.header.unwrap_or(true),
                names: cfg.read.names.clone(),
                null_values: cfg.read.null_values.clone(),
                block: csv_read::BLOCK,
            };
            Source::csv(reader, opts, ctx.cancel.clone())
        }
        Format::Parquet => {
            ctx.log.info(&format!("reading {from} as Parquet"));
            let path = stores.local_file(&cfg.from, &ctx, "input.parquet").await?;
            Source::parquet(path, ctx.cancel.clone())
        }
    }
    .map_err(|e| {
        to_task_error(
            "reading",
            e,
            &Origin {
                file: &from,
                lines: None,
            },
        )
    })?;
    let lines = source.lines.clone();
    let compression = cfg.write.compression.unwrap_or(Compression::Zstd);
    let (writer, drive) = bridge(stores.writer(&cfg.to).await?, &ctx.cancel);
    let job = Job {
        source,
        types: cfg.read.types.clone(),
        steps: cfg.steps.clone().unwrap_or_default(),
        output: Out {
            format: output,
            compression,
            level: cfg.write.compression_level,
            delimiter: cfg.write.delimiter.map_or(Format::default_delimiter(&cfg.to), |d| d.0),
            header: cfg.write.header.unwrap_or(true),
        },
        writer,
        cancel: ctx.cancel.clone(),
    };
    let work = tokio::task::spawn_blocking(move || pipeline::run(job));
    let (done, written) = tokio::join!(work, drive);
    let map = lines
        .as_ref()
        .map(|l| l.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    let origin = Origin {
        file: &from,
        lines: map.as_deref(),
    };
    if ctx.cancel.is_cancelled() {
        return Err(TaskError::Cancelled);
    }
    let report = match (done, written) {
        (Err(join), _) => return Err(TaskError::Failed(format!("the transform stopped unexpectedly: {join}"))),
        (Ok(Ok(report)), Ok(_)) => report,
        (Ok(Ok(_)), Err(io)) => return Err(io.into()),
        // The destination failed first: its error is the cause.
        (Ok(Err(f)), Err(io)) if f.error.rank() < 2 => return Err(io.into()),
        (Ok(Err(f)), _) => return Err(to_task_error(&f.context, f.error, &origin)),
    };
    for n in &report.nulled {
        let mut m = format!(
            "{}: {} value(s) of `{}` could not be read and are now null",
            n.label, n.count, n.column
        );
        if let Some((row, value, problem)) = &n.first {
            let line = origin
                .lines
                .and_then(|l| l.line(*row))
                .map(|l| format!(" (line {l})"))
                .unwrap_or_default();
            m.push_str(&format!("; the first, row {row}{line}: {value:?} {problem}"));
        }
        ctx.log.info(&m);
    }
    let to = cfg.to.to_string();
    let detail = match output {
        Format::Parquet => format!("Parquet, {compression:?}").to_lowercase(),
        Format::Csv => "CSV".into(),
    };
    ctx.log.info(&format!(
        "wrote {} rows, {} columns to {to} ({detail}) in {:.2} s",
        report.rows,
        report.schema.names.len(),
        started.elapsed().as_secs_f64()
    ));
    Ok(json!({
        "rows": report.rows,
        "columns": report.schema.names,
        "location": to,
    }))
}

#[cfg(test)]
mod tests;
