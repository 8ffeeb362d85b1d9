//! Running an extract: the query's columns from a temporary view, then
//! one `COPY` streamed to the location.

use std::time::Instant;

use futures_util::TryStreamExt;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use sqlx::Row;
use sqlx::postgres::PgConnection;
use tokio::sync::mpsc;
use updraft_io::{IoError, Stores, bridge};
use updraft_operator_api::{Output, TaskContext, TaskError};

use super::ExtractConfig;
use crate::postgres::decode::Decoder;
use crate::postgres::error::sql_error;
use crate::postgres::ident::quote;
use crate::postgres::pgtype::PgKind;
use crate::postgres::session::Session;
use crate::postgres::{FileFormat, ParquetCompression};

/// Bytes gathered from the server before one write to the destination.
const CHUNK: usize = 1 << 20;
/// Rows per Arrow batch, and per Parquet row group.
const BATCH_ROWS: usize = 16 * 1024;
const ROW_GROUP_ROWS: usize = 128 * 1024;

pub async fn run(cfg: ExtractConfig, ctx: TaskContext) -> Result<Output, TaskError> {
    let query = cfg.query().map_err(TaskError::Fatal)?;
    let format = cfg.format();
    let stores = Stores::for_task(&ctx, cfg.aws_conn_id.as_deref(), cfg.gcp_conn_id.as_deref())?;
    let Session { mut conn, canceller } = Session::connect(&ctx, "conn_id", &cfg.conn_id).await?;
    let started = Instant::now();
    ctx.log
        .info(&format!("extracting to {} as {format:?}: {query}", cfg.to));
    let (rows, bytes) = canceller
        .until(&ctx.cancel, async {
            match format {
                FileFormat::Csv => csv(&mut conn, &query, &stores, &cfg).await,
                FileFormat::Parquet => parquet(&mut conn, &query, &stores, &cfg, &ctx).await,
            }
        })
        .await?;
    let secs = started.elapsed().as_secs_f64();
    ctx.log.info(&format!(
        "wrote {rows} rows, {bytes} bytes to {} in {secs:.2}s ({:.1} MB/s)",
        cfg.to,
        bytes as f64 / 1e6 / secs.max(1e-6)
    ));
    Ok(serde_json::json!({
        "rows": rows,
        "bytes": bytes,
        "location": cfg.to.to_string(),
        "format": match format { FileFormat::Csv => "csv", FileFormat::Parquet => "parquet" },
    }))
}

/// `COPY (query) TO STDOUT WITH CSV HEADER`, as the server writes it.
async fn csv(
    conn: &mut PgConnection,
    query: &str,
    stores: &Stores,
    cfg: &ExtractConfig,
) -> Result<(u64, u64), TaskError> {
    let stmt = format!("COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true)");
    let at = Some((query, "COPY (".len()));
    let mut writer = stores.writer(&cfg.to).await?;
    let mut copy = CopyOut::start(conn, &stmt, at).await?;
    while let Some(chunk) = copy.next_chunk().await? {
        writer.write(&chunk).await?;
    }
    let messages = copy.messages;
    drop(copy);
    let bytes = writer.finish().await?;
    Ok((messages.saturating_sub(1), bytes))
}

/// A running `COPY ... TO STDOUT`, read in chunks of about [`CHUNK`]
/// bytes (whole messages).
struct CopyOut<'c> {
    stream: futures_util::stream::BoxStream<'c, sqlx::Result<bytes::Bytes>>,
    at: Option<(&'c str, usize)>,
    /// Messages so far: the server sends one per row (and CSV's header as
    /// one more).
    messages: u64,
    done: bool,
}

impl<'c> CopyOut<'c> {
    async fn start(conn: &'c mut PgConnection, stmt: &str, at: Option<(&'c str, usize)>) -> Result<Self, TaskError> {
        let stream = conn
            .copy_out_raw(stmt)
            .await
            .map_err(|e| sql_error("postgres_extract", e, at))?;
        Ok(CopyOut {
            stream,
            at,
            messages: 0,
            done: false,
        })
    }

    /// The next chunk; the last one may be short (or empty), then `None`.
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, TaskError> {
        if self.done {
            return Ok(None);
        }
        let mut buf = Vec::with_capacity(CHUNK + (64 << 10));
        while let Some(piece) = self
            .stream
            .try_next()
            .await
            .map_err(|e| sql_error("postgres_extract", e, self.at))?
        {
            self.messages += 1;
            buf.extend_from_slice(&piece);
            if buf.len() >= CHUNK {
                return Ok(Some(buf));
            }
        }
        self.done = true;
        Ok(Some(buf))
    }
}

/// The query's columns and types, read from a temporary view over it (so
/// any query works, and `numeric(p,s)` keeps its precision and scale).
async fn columns(conn: &mut PgConnection, query: &str) -> Result<Vec<(String, Option<PgKind>)>, TaskError> {
    const VIEW: &str = "CREATE OR REPLACE TEMP VIEW updraft_extract AS ";
    let view = format!("{VIEW}{query}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(view.clone()))
        .execute(&mut *conn)
        .await
        .map_err(|e| sql_error("postgres_extract", e, Some((query, VIEW.len()))))?;
    let rows = sqlx::query(
        "SELECT a.attname::text, t.typname::text, a.atttypmod \
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
         WHERE a.attrelid = 'pg_temp.updraft_extract'::regclass AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY a.attnum",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| sql_error("postgres_extract: reading the query's columns", e, None))?;
    rows.iter()
        .map(|r| {
            let name: String = r.try_get(0)?;
            let typname: String = r.try_get(1)?;
            let typmod: i32 = r.try_get(2)?;
            Ok((name, PgKind::from_catalog(&typname, typmod)))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(|e| sql_error("postgres_extract: reading the query's columns", e, None))
}

/// Binary `COPY`, decoded into Arrow batches and written as Parquet on a
/// blocking thread while the bytes move on the runtime.
async fn parquet(
    conn: &mut PgConnection,
    query: &str,
    stores: &Stores,
    cfg: &ExtractConfig,
    ctx: &TaskContext,
) -> Result<(u64, u64), TaskError> {
    let cols = columns(conn, query).await?;
    // Types we do not decode are cast to text by the query itself.
    let select: Vec<String> = cols
        .iter()
        .map(|(n, k)| match k {
            Some(_) => quote(n),
            None => format!("{}::text AS {}", quote(n), quote(n)),
        })
        .collect();
    let typed: Vec<(String, PgKind)> = cols.into_iter().map(|(n, k)| (n, k.unwrap_or(PgKind::Text))).collect();
    let stmt = format!(
        "COPY (SELECT {} FROM pg_temp.updraft_extract) TO STDOUT (FORMAT binary)",
        select.join(", ")
    );

    let (sink, drive) = bridge(stores.writer(&cfg.to).await?, &ctx.cancel);
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(4);
    let compression = cfg.compression;
    let encode = tokio::task::spawn_blocking(move || -> Result<u64, String> {
        let mut dec = Decoder::new(&typed, BATCH_ROWS);
        let props = props(compression);
        let mut w = ArrowWriter::try_new(sink, dec.schema(), Some(props)).map_err(|e| e.to_string())?;
        let mut emit = |b| w.write(&b).map_err(|e| e.to_string());
        while let Some(piece) = rx.blocking_recv() {
            dec.feed(&piece, &mut emit)?;
        }
        let rows = dec.rows();
        if let Some(last) = dec.finish()? {
            w.write(&last).map_err(|e| e.to_string())?;
        }
        let sink = w.into_inner().map_err(|e| e.to_string())?;
        sink.commit().map_err(|e| e.to_string())?;
        Ok(rows)
    });

    let read = async move {
        let mut copy = CopyOut::start(conn, &stmt, None).await?;
        while let Some(chunk) = copy.next_chunk().await? {
            if tx.send(chunk).await.is_err() {
                // The encoder stopped: its error says why.
                break;
            }
        }
        Ok::<(), TaskError>(())
    };

    let (read, encoded, written) = tokio::join!(read, encode, drive);
    read?;
    match (encoded, written) {
        (Ok(Ok(rows)), Ok(bytes)) => Ok((rows, bytes)),
        // The destination failed first: the encoder's error is only that.
        (_, Err(e)) if !matches!(e, IoError::Abandoned) => Err(e.into()),
        (Err(e), _) => Err(TaskError::Failed(format!("the Parquet encoder stopped: {e}"))),
        (Ok(Err(e)), _) => Err(TaskError::Fatal(format!("writing Parquet to {}: {e}", cfg.to))),
        (Ok(Ok(_)), Err(e)) => Err(e.into()),
    }
}

fn props(c: ParquetCompression) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(c.codec())
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(concat!("updraft ", env!("CARGO_PKG_VERSION")).into())
        .build()
}
