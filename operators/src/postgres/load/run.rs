//! Running a load: the file's columns, the table as the mode wants it,
//! then one `COPY` (into a staging table for an upsert), all in one
//! transaction.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use updraft_io::{Reader, Stores};
use updraft_operator_api::{Output, TaskContext, TaskError};

use super::encode::{Encoder, Plan, Wire};
use super::target::{self, Column};
use super::{LoadConfig, Mode};
use crate::postgres::FileFormat;
use crate::postgres::error::sql_error;
use crate::postgres::ident::{self, quote};
use crate::postgres::session::Session;
use crate::table::open_parquet;

/// Bytes encoded before one send to the server.
const CHUNK: usize = 1 << 20;
/// Rows per Parquet batch.
const BATCH_ROWS: usize = 16 * 1024;
/// Chunks between the encoder and the COPY.
const QUEUED: usize = 3;
const STAGING: &str = "pg_temp.updraft_staging";

/// The file, as far as the load needs it before the `COPY`.
enum Source {
    Parquet {
        path: PathBuf,
        schema: SchemaRef,
    },
    /// The header's names, the bytes read so far and the rest.
    Csv {
        names: Vec<String>,
        head: Vec<u8>,
        rest: Reader,
    },
}

impl Source {
    fn names(&self) -> Vec<String> {
        match self {
            Source::Parquet { schema, .. } => schema.fields().iter().map(|f| f.name().clone()).collect(),
            Source::Csv { names, .. } => names.clone(),
        }
    }

    /// The schema a new table is made from (CSV columns are text).
    fn schema(&self) -> SchemaRef {
        match self {
            Source::Parquet { schema, .. } => schema.clone(),
            Source::Csv { names, .. } => Arc::new(Schema::new(
                names
                    .iter()
                    .map(|n| Field::new(n, DataType::Utf8, true))
                    .collect::<Vec<_>>(),
            )),
        }
    }
}

pub async fn run(cfg: LoadConfig, ctx: TaskContext) -> Result<Output, TaskError> {
    let qualified = ident::qualified(&cfg.table).map_err(TaskError::Fatal)?;
    let stores = Stores::for_task(&ctx, cfg.aws_conn_id.as_deref(), cfg.gcp_conn_id.as_deref())?;
    let source = open(&cfg, &stores, &ctx).await?;
    let Session { mut conn, canceller } = Session::connect(&ctx, "conn_id", &cfg.conn_id).await?;
    let started = Instant::now();
    let (rows, upserted) = canceller
        .until(&ctx.cancel, load(&mut conn, &cfg, &qualified, source, &ctx))
        .await?;
    let secs = started.elapsed().as_secs_f64();
    ctx.log.info(&format!(
        "loaded {rows} rows into {qualified} ({}) in {secs:.2}s ({:.0} rows/s)",
        cfg.mode.name(),
        rows as f64 / secs.max(1e-6)
    ));
    let mut out = serde_json::json!({ "rows": rows, "table": cfg.table, "mode": cfg.mode.name() });
    if let Some(n) = upserted {
        out["upserted"] = n.into();
    }
    Ok(out)
}

/// The file's columns: a Parquet file is fetched to the scratch folder
/// (its footer comes first); a CSV file's header is read from the stream.
async fn open(cfg: &LoadConfig, stores: &Stores, ctx: &TaskContext) -> Result<Source, TaskError> {
    match cfg.format() {
        FileFormat::Parquet => {
            let path = stores.local_file(&cfg.from, ctx, "input.parquet").await?;
            let p = path.clone();
            let schema = tokio::task::spawn_blocking(move || open_parquet(&p, 1).map(|(s, _)| s))
                .await
                .map_err(|e| TaskError::Failed(format!("reading the Parquet footer: {e}")))?
                .map_err(|e| TaskError::Fatal(format!("{}: {e}", cfg.from)))?;
            Ok(Source::Parquet { path, schema })
        }
        FileFormat::Csv => {
            let mut rest = stores.reader(&cfg.from).await?;
            let delimiter = cfg.delimiter.unwrap_or(',') as u8;
            let mut head = Vec::with_capacity(64 << 10);
            let mut buf = vec![0u8; 64 << 10];
            let header = loop {
                if let Some(h) = header(&head, delimiter, cfg.encoding == super::CsvEncoding::Utf8) {
                    break h;
                }
                let n = tokio::select! {
                    n = rest.read(&mut buf) => n.map_err(|e| TaskError::failed(format!("reading {}", cfg.from), &e))?,
                    () = ctx.cancel.cancelled() => return Err(TaskError::Cancelled),
                };
                if n == 0 {
                    // A header without a line break after it.
                    if head.is_empty() {
                        return Err(TaskError::Fatal(format!("{}: the file is empty (no header)", cfg.from)));
                    }
                    head.push(b'\n');
                    let h = header(&head, delimiter, cfg.encoding == super::CsvEncoding::Utf8);
                    head.pop();
                    break h
                        .ok_or_else(|| TaskError::Fatal(format!("{}: the header's quote is not closed", cfg.from)))?;
                }
                if head.len() > 1 << 20 {
                    return Err(TaskError::Fatal(format!(
                        "{}: no end of the header line in the first MiB",
                        cfg.from
                    )));
                }
                head.extend_from_slice(&buf[..n]);
            };
            if let Some(i) = header.iter().position(|n| n.is_empty()) {
                return Err(TaskError::Fatal(format!(
                    "{}: column {} of the header has no name (an index pandas wrote with `index=True`?); \
                     write the file without it, or load Parquet, where the index is recognised and skipped",
                    cfg.from,
                    i + 1
                )));
            }
            Ok(Source::Csv {
                names: header,
                head,
                rest,
            })
        }
    }
}

/// The names on the first line, once `head` holds all of it. Non-UTF-8
/// text is read as Latin-1 (names are almost always ASCII).
fn header(head: &[u8], delimiter: u8, utf8: bool) -> Option<Vec<String>> {
    let mut names = Vec::new();
    let mut cur = Vec::new();
    let mut quoted = false;
    let mut i = 0;
    let text = |b: &[u8]| -> String {
        let b = b.strip_prefix(b"\xef\xbb\xbf").unwrap_or(b);
        match std::str::from_utf8(b) {
            Ok(s) if utf8 || s.is_ascii() => s.to_string(),
            _ => b.iter().map(|&c| c as char).collect(),
        }
    };
    while i < head.len() {
        let c = head[i];
        if quoted {
            if c == b'"' {
                if head.get(i + 1) == Some(&b'"') {
                    cur.push(b'"');
                    i += 1;
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == b'"' {
            quoted = true;
        } else if c == delimiter {
            names.push(text(&cur).trim().to_string());
            cur.clear();
        } else if c == b'\n' {
            if cur.last() == Some(&b'\r') {
                cur.pop();
            }
            names.push(text(&cur).trim().to_string());
            return Some(names);
        } else {
            cur.push(c);
        }
        i += 1;
    }
    None
}

async fn exec(conn: &mut PgConnection, sql: &str, what: &str) -> Result<u64, TaskError> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut *conn)
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| sql_error(&format!("postgres_load: {what}"), e, None))
}

async fn load(
    conn: &mut PgConnection,
    cfg: &LoadConfig,
    qualified: &str,
    source: Source,
    ctx: &TaskContext,
) -> Result<(u64, Option<u64>), TaskError> {
    let file_names = source.names();
    let table_names: Vec<String> = file_names.iter().map(|n| cfg.target_name(n)).collect();
    check_names(cfg, &file_names, &table_names)?;

    let mut tx = conn
        .begin()
        .await
        .map_err(|e| sql_error("postgres_load: starting the transaction", e, None))?;
    let existing = target::columns(&mut tx, qualified).await?;
    let schema = source.schema();
    let create = || target::create_table(qualified, &schema, &table_names).map_err(TaskError::Fatal);
    match (cfg.mode, existing.is_some()) {
        (Mode::Replace, exists) => {
            if exists {
                exec(&mut tx, &format!("DROP TABLE {qualified}"), "dropping the table").await?;
            }
            exec(&mut tx, &create()?, "creating the table").await?;
        }
        (Mode::Create, false) => {
            exec(&mut tx, &create()?, "creating the table").await?;
        }
        (Mode::Append | Mode::Truncate | Mode::Upsert, false) => {
            return Err(TaskError::Fatal(format!(
                "table {} does not exist; `mode: create` makes it from the file's columns",
                cfg.table
            )));
        }
        (Mode::Truncate, true) => {
            exec(&mut tx, &format!("TRUNCATE {qualified}"), "truncating the table").await?;
        }
        (Mode::Append | Mode::Create | Mode::Upsert, true) => {}
    }
    let columns = match (cfg.mode, existing) {
        (Mode::Append | Mode::Truncate | Mode::Upsert, Some(c)) | (Mode::Create, Some(c)) => c,
        _ => target::columns(&mut tx, qualified)
            .await?
            .ok_or_else(|| TaskError::Failed(format!("table {qualified} is gone right after it was made")))?,
    };
    let plans = plan(cfg, &file_names, &table_names, &columns)?;

    let dest = if cfg.mode == Mode::Upsert {
        exec(
            &mut tx,
            &format!("CREATE TEMP TABLE updraft_staging (LIKE {qualified} INCLUDING DEFAULTS) ON COMMIT DROP"),
            "making the staging table",
        )
        .await?;
        STAGING
    } else {
        qualified
    };
    let list = table_names.iter().map(|n| quote(n)).collect::<Vec<_>>().join(", ");
    let rows = match source {
        Source::Parquet { path, .. } => copy_parquet(&mut tx, dest, &list, path, plans, cfg, ctx).await?,
        Source::Csv { head, rest, .. } => copy_csv(&mut tx, dest, &list, head, rest, cfg).await?,
    };
    let upserted = if cfg.mode == Mode::Upsert {
        let keys: Vec<String> = cfg.key.iter().map(|k| quote(k)).collect();
        let updates: Vec<String> = table_names
            .iter()
            .filter(|n| !cfg.key.contains(n))
            .map(|n| format!("{0} = EXCLUDED.{0}", quote(n)))
            .collect();
        let action = if updates.is_empty() {
            "DO NOTHING".to_string()
        } else {
            format!("DO UPDATE SET {}", updates.join(", "))
        };
        let sql = format!(
            "INSERT INTO {qualified} ({list}) SELECT {list} FROM {STAGING} ON CONFLICT ({}) {action}",
            keys.join(", ")
        );
        Some(exec(&mut tx, &sql, "upserting from the staging table").await?)
    } else {
        None
    };
    tx.commit()
        .await
        .map_err(|e| sql_error("postgres_load: committing", e, None))?;
    Ok((rows, upserted))
}

/// Mapped names must be distinct, and every `columns` entry must name a
/// file column.
fn check_names(cfg: &LoadConfig, file: &[String], table: &[String]) -> Result<(), TaskError> {
    let unknown: Vec<&String> = cfg.columns.keys().filter(|k| !file.contains(k)).collect();
    if !unknown.is_empty() {
        return Err(TaskError::Fatal(format!(
            "`columns` names {unknown:?}, which the file does not have; its columns: {file:?}"
        )));
    }
    for (i, t) in table.iter().enumerate() {
        if let Some(j) = table[..i].iter().position(|o| o == t) {
            return Err(TaskError::Fatal(format!(
                "file columns {:?} and {:?} would both load into {t:?}",
                file[j], file[i]
            )));
        }
    }
    if cfg.mode == Mode::Upsert
        && let Some(k) = cfg.key.iter().find(|k| !table.contains(k))
    {
        return Err(TaskError::Fatal(format!(
            "`key` column {k:?} is not among the loaded columns {table:?}"
        )));
    }
    Ok(())
}

/// Each file column with its table column; every file column must have
/// one.
fn plan(cfg: &LoadConfig, file: &[String], table: &[String], columns: &[Column]) -> Result<Vec<Plan>, TaskError> {
    let mut plans = Vec::with_capacity(file.len());
    let mut missing = Vec::new();
    for (f, t) in file.iter().zip(table) {
        match columns.iter().find(|c| &c.name == t) {
            Some(c) => plans.push(Plan {
                file_name: f.clone(),
                column: c.clone(),
            }),
            None if f == t => missing.push(format!("{f:?}")),
            None => missing.push(format!("{f:?} (as {t:?})")),
        }
    }
    if !missing.is_empty() {
        let have: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        let hint = if cfg.rename.is_none() && cfg.columns.is_empty() {
            "; map names with `columns:` or `rename: snake_case`"
        } else {
            ""
        };
        return Err(TaskError::Fatal(format!(
            "table {} has no column for file column {}; its columns: {have:?}{hint}",
            cfg.table,
            missing.join(", ")
        )));
    }
    Ok(plans)
}

/// The file's rows through the encoder (on a blocking thread) into the
/// `COPY`, one chunk at a time.
async fn copy_parquet(
    conn: &mut PgConnection,
    dest: &str,
    list: &str,
    path: PathBuf,
    plans: Vec<Plan>,
    cfg: &LoadConfig,
    ctx: &TaskContext,
) -> Result<u64, TaskError> {
    let encoder = Encoder::new(plans);
    let wire = encoder.wire;
    let stmt = format!("COPY {dest} ({list}) FROM STDIN WITH ({})", encoder.copy_options());
    ctx.log.info(&format!(
        "loading {} into {} with {}",
        cfg.from,
        cfg.table,
        match wire {
            Wire::Binary => "binary COPY",
            Wire::Csv => "CSV COPY (a column's type is parsed by the server)",
        }
    ));
    // Chunks go to the COPY and come back empty to be filled again: the
    // same few buffers serve the whole load (an allocator keeps memory
    // freed on another thread for a while).
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(QUEUED);
    let (give_back, take_back) = std::sync::mpsc::channel::<Vec<u8>>();
    let cancel = ctx.cancel.clone();
    let encode = tokio::task::spawn_blocking(move || -> Result<(), String> {
        let mut encoder = encoder;
        let fresh = || Vec::with_capacity(CHUNK + (CHUNK >> 1));
        let (_, reader) = open_parquet(&path, BATCH_ROWS)?;
        let mut buf = fresh();
        encoder.start(&mut buf);
        for batch in reader {
            if cancel.is_cancelled() {
                return Err("cancelled".into());
            }
            let batch = batch.map_err(|e| format!("reading the Parquet file: {e}"))?;
            encoder.encode(&batch, &mut buf)?;
            if buf.len() >= CHUNK {
                let next = take_back.try_recv().unwrap_or_else(|_| fresh());
                if tx.blocking_send(std::mem::replace(&mut buf, next)).is_err() {
                    // The COPY stopped; its error says why.
                    return Ok(());
                }
            }
        }
        encoder.finish(&mut buf);
        let _ = tx.blocking_send(buf);
        Ok(())
    });

    let mut copy = conn
        .copy_in_raw(&stmt)
        .await
        .map_err(|e| sql_error("postgres_load", e, None))?;
    let mut sent = Ok(());
    while let Some(mut chunk) = rx.recv().await {
        if let Err(e) = copy.send(chunk.as_slice()).await {
            sent = Err(e);
            break;
        }
        chunk.clear();
        let _ = give_back.send(chunk);
    }
    drop(rx);
    let encoded = encode
        .await
        .map_err(|e| format!("the encoder stopped: {e}"))
        .and_then(|r| r);
    match (sent, encoded) {
        (Ok(()), Ok(())) => copy.finish().await.map_err(|e| sql_error("postgres_load", e, None)),
        (Err(e), _) => Err(sql_error("postgres_load", e, None)),
        (Ok(()), Err(why)) => {
            // The transaction rolls back whatever was sent.
            let _ = copy.abort(why.clone()).await;
            Err(TaskError::Fatal(format!("{}: {why}", cfg.from)))
        }
    }
}

/// The CSV as it is: `COPY ... (FORMAT csv, HEADER true)` reads the header
/// line and the server parses the rest in the file's encoding.
async fn copy_csv(
    conn: &mut PgConnection,
    dest: &str,
    list: &str,
    head: Vec<u8>,
    rest: Reader,
    cfg: &LoadConfig,
) -> Result<u64, TaskError> {
    let delimiter = cfg.delimiter.unwrap_or(',');
    let stmt = format!(
        "COPY {dest} ({list}) FROM STDIN WITH (FORMAT csv, HEADER true, DELIMITER '{}', ENCODING '{}')",
        if delimiter == '\'' {
            "''".to_string()
        } else {
            delimiter.to_string()
        },
        cfg.encoding.postgres()
    );
    let fail = |e| sql_error(&format!("postgres_load: {}", cfg.from), e, None);
    let mut copy = conn.copy_in_raw(&stmt).await.map_err(fail)?;
    copy.send(head).await.map_err(fail)?;
    copy.read_from(rest).await.map_err(fail)?;
    copy.finish().await.map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::header;

    #[test]
    fn reads_the_header_line_once_it_is_whole() {
        assert_eq!(header(b"InvoiceNo,StockCode", b',', true), None);
        assert_eq!(
            header(b"InvoiceNo,\"Stock, \"\"Code\"\"\",Qty\r\n1,2,3", b',', true).unwrap(),
            vec!["InvoiceNo", "Stock, \"Code\"", "Qty"]
        );
        assert_eq!(header(b"\xef\xbb\xbfa;b\n", b';', true).unwrap(), vec!["a", "b"]);
        assert_eq!(
            header(b"\"multi\nline\",x\n", b',', true).unwrap(),
            vec!["multi\nline", "x"]
        );
        assert_eq!(header(b"caf\xe9\n", b',', false).unwrap(), vec!["café"]);
    }
}
