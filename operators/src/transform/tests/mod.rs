//! The transform end to end on local files: the first user's cleaning on
//! generated invoices checked value for value against a reference computed
//! here from the generator's rows; each step on small fixtures; bad input
//! (named file, row, line, column and value; nothing left at the
//! destination); CSV output; Parquet input, including a file pandas wrote.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, PrimitiveArray, RecordBatch, StringArray};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression as Codec;
use serde_json::json;
use updraft_engine::Registry;
use updraft_engine::yaml::parse_document;
use updraft_operator_api::{LogSink, LogStream, Operator, Output, TaskContext, TaskError};

use super::{TransformConfig, TransformOperator};

mod bad_input;
mod formats;
mod load;
mod seed;
mod steps;

fn registry() -> Registry {
    Registry::with(|r| {
        r.register(TransformOperator);
    })
}

/// The load-time problems of a config (as `dags validate` reports them).
fn problems(yaml: &str) -> Vec<String> {
    let node = parse_document(yaml).unwrap();
    registry()
        .check("transform", &node, &[])
        .into_iter()
        .map(|p| p.1)
        .collect()
}

fn config(yaml: &str) -> TransformConfig {
    let p = problems(yaml);
    assert!(p.is_empty(), "{yaml}\n{p:?}");
    updraft_engine::yaml::from_node(&parse_document(yaml).unwrap()).unwrap()
}

struct Ran {
    result: Result<Output, TaskError>,
    log: Vec<String>,
}

async fn execute(cfg: TransformConfig) -> Ran {
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = lines.clone();
    let ctx = TaskContext {
        log: LogSink::new(move |s, l| {
            assert_eq!(s, LogStream::System);
            sink.lock().unwrap().push(l.to_string())
        }),
        ..TaskContext::detached("transform")
    };
    let result = TransformOperator.execute(cfg, ctx).await;
    let log = lines.lock().unwrap().clone();
    Ran { result, log }
}

async fn run(yaml: &str) -> Ran {
    execute(config(yaml)).await
}

/// A temporary folder with an input file.
struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Self {
        Dir {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// Everything in the folder but `keep`.
    fn others(&self, keep: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !keep.contains(&n.as_str()))
            .collect();
        v.sort();
        v
    }
}

fn read_parquet(p: &Path) -> RecordBatch {
    let b = ParquetRecordBatchReaderBuilder::try_new(File::open(p).unwrap()).unwrap();
    let schema = b.schema().clone();
    let batches: Vec<RecordBatch> = b.build().unwrap().map(Result::unwrap).collect();
    arrow_select::concat::concat_batches(&schema, &batches).unwrap()
}

fn strings(rb: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let a = rb.column_by_name(name).unwrap_or_else(|| panic!("no {name}"));
    let s = a.as_any().downcast_ref::<StringArray>().unwrap();
    s.iter().map(|v| v.map(str::to_string)).collect()
}

fn prims<T: arrow_array::ArrowPrimitiveType>(rb: &RecordBatch, name: &str) -> Vec<Option<T::Native>> {
    let a = rb.column_by_name(name).unwrap_or_else(|| panic!("no {name}"));
    let p = a.as_any().downcast_ref::<PrimitiveArray<T>>().unwrap();
    p.iter().collect()
}

fn err(r: &Ran) -> String {
    match &r.result {
        Err(TaskError::Fatal(m)) => m.clone(),
        other => panic!("expected a fatal error, got {other:?}"),
    }
}

fn us(y: i16, m: i8, d: i8, h: i8, mi: i8) -> i64 {
    jiff::civil::date(y, m, d)
        .at(h, mi, 0, 0)
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
        .as_microsecond()
}

/// A small CSV: accents, an empty field, a quoted field with a comma and
/// quotes, spaces kept, lower- and upper-case codes.
const SMALL: &str = "\
id,name,qty,price,when,code
1,Crème brûlée,3,2.55,12/1/2010 8:26,85123a
2,,1,0.5,12/1/2010 8:28,85123A
3,\"Tea, \"\"green\"\"\",-2,1.25,1/13/2011 14:05,POST
4,  spaced  ,,3,1/13/2011 14:05,post
";

/// Runs `steps` on SMALL (Parquet out, read back).
async fn small(steps: &str) -> (Ran, Option<RecordBatch>) {
    small_with(steps, "").await
}

async fn small_with(steps: &str, read: &str) -> (Ran, Option<RecordBatch>) {
    let dir = Dir::new();
    let from = dir.file("small.csv", SMALL.as_bytes());
    let to = dir.path("out.parquet");
    let ran = run(&format!(
        "from: {}\nto: {}\n{read}steps:\n{steps}",
        from.display(),
        to.display()
    ))
    .await;
    let rb = ran.result.is_ok().then(|| read_parquet(&to));
    if ran.result.is_err() {
        assert_eq!(dir.others(&["small.csv"]), Vec::<String>::new(), "something was left");
    }
    (ran, rb)
}

fn s(v: &[Option<&str>]) -> Vec<Option<String>> {
    v.iter().map(|x| x.map(str::to_string)).collect()
}
