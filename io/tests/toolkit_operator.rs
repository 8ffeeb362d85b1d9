//! A test operator (not shipped) built only from the toolkit, run by the
//! real engine (scheduler, worker, SQLite store): connections from the
//! store as typed views, templated numbers, every location scheme against
//! the local S3 and GCS stand-ins, a cancellation mid-upload that leaves
//! nothing at the destination, and the scratch folder removed after each
//! try. Needs `UPDRAFT_TEST_S3_URL` and `UPDRAFT_TEST_GCS_URL` (see
//! `locations.rs`).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::AsyncReadExt;
use updraft_engine::connection::Connection;
use updraft_engine::operator::{Operator, Output, Registry, TaskContext, TaskError};
use updraft_engine::runtime::{Local, LocalOptions, Timing, create_run};
use updraft_engine::store::{RunType, Store, TaskState};
use updraft_io::{Location, Stores};
use updraft_operator_api::Tpl;

mod common;
use common::{create_bucket, service};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveConfig {
    from: Location,
    to: Location,
    #[serde(default)]
    aws_conn_id: Option<String>,
    #[serde(default)]
    gcp_conn_id: Option<String>,
    /// A Postgres connection whose typed view goes into the output.
    #[serde(default)]
    pg_conn_id: Option<String>,
    /// Bytes per write (a templated number).
    chunk: Tpl<usize>,
    /// A pause between writes (a templated number), to cancel mid-way.
    #[serde(default)]
    pause_ms: Tpl<u64>,
}

struct MoveData;

impl Operator for MoveData {
    const NAME: &'static str = "move_data";
    type Config = MoveConfig;

    async fn execute(&self, cfg: MoveConfig, ctx: TaskContext) -> Result<Output, TaskError> {
        let pg = match &cfg.pg_conn_id {
            Some(id) => {
                let p = ctx.postgres("pg_conn_id", id)?;
                serde_json::json!({"host": p.host, "port": p.port, "database": p.database, "sslmode": p.sslmode})
            }
            None => serde_json::Value::Null,
        };
        let chunk = cfg.chunk.get("chunk")?;
        let pause = Duration::from_millis(cfg.pause_ms.get("pause_ms")?);
        let stores = Stores::for_task(&ctx, cfg.aws_conn_id.as_deref(), cfg.gcp_conn_id.as_deref())?;
        // Something in the scratch folder, to see it go with the try.
        let scratch = ctx
            .scratch
            .dir()
            .map_err(|e| TaskError::Failed(e.to_string()))?
            .to_path_buf();
        std::fs::write(scratch.join("note"), "x").map_err(|e| TaskError::Failed(e.to_string()))?;
        let mut reader = stores.reader(&cfg.from).await?;
        let mut writer = stores.writer(&cfg.to).await?;
        let mut buf = vec![0u8; chunk];
        loop {
            let n = reader
                .read(&mut buf)
                .await
                .map_err(|e| TaskError::Failed(e.to_string()))?;
            if n == 0 {
                break;
            }
            writer.write(&buf[..n]).await?;
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = ctx.cancel.cancelled() => return Err(TaskError::Cancelled),
            }
        }
        let bytes = writer.finish().await?;
        Ok(serde_json::json!({"bytes": bytes, "scratch": scratch, "pg": pg}))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toolkit_operator_moves_data_through_every_scheme() {
    let (Some(s3), Some(gcs)) = (service("UPDRAFT_TEST_S3_URL"), service("UPDRAFT_TEST_GCS_URL")) else {
        return;
    };
    let bucket = format!("toolkit-{}", std::process::id());
    create_bucket("s3", &s3, &bucket).await;
    create_bucket("gs", &gcs, &bucket).await;
    let dir = tempfile::tempdir().unwrap();
    let dags = dir.path().join("dags");
    std::fs::create_dir_all(&dags).unwrap();
    let source: Vec<u8> = (0..(19 << 20)).map(|i: usize| (i % 253) as u8).collect();
    std::fs::write(dir.path().join("source.bin"), &source).unwrap();

    let store = Store::connect(&format!("sqlite://{}/u.db", dir.path().display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let store = store.with_secret_key("toolkit test key").await.unwrap();
    let conn = |t: &str, extra: serde_json::Value, login: Option<&str>, password: Option<&str>| Connection {
        conn_type: Some(t.into()),
        login: login.map(str::to_string),
        password: password.map(str::to_string),
        extra: Some(serde_json::Value::String(extra.to_string())),
        ..Default::default()
    };
    store
        .set_connection(
            "s3-test",
            &conn(
                "aws",
                serde_json::json!({"region_name": "us-east-1", "endpoint_url": s3}),
                Some("test"),
                Some("test"),
            ),
        )
        .await
        .unwrap();
    store
        .set_connection(
            "gcs-test",
            &conn(
                "google_cloud_platform",
                serde_json::json!({"endpoint_url": gcs}),
                None,
                None,
            ),
        )
        .await
        .unwrap();
    store
        .set_connection(
            "pg",
            &Connection {
                conn_type: Some("postgres".into()),
                host: Some("db.internal".into()),
                port: Some(6543),
                schema: Some("sales".into()),
                extra: Some(serde_json::json!({"sslmode": "require"})),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    store.set_variable("bucket", &bucket).await.unwrap();
    store.set_variable("chunk", "65536").await.unwrap();
    let src = dir.path().join("source.bin").display().to_string();
    let back = dir.path().join("back").join("source.bin");
    std::fs::write(
        dags.join("toolkit.yaml"),
        format!(
            "tasks:
  to_s3:
    operator: move_data
    from: {src}
    to: \"s3://{{{{ var.value.bucket }}}}/{{{{ ds }}}}/data.bin\"
    aws_conn_id: s3-test
    pg_conn_id: pg
    chunk: \"{{{{ var.value.chunk }}}}\"
  s3_to_gcs:
    operator: move_data
    from: \"s3://{{{{ var.value.bucket }}}}/{{{{ ds }}}}/data.bin\"
    to: \"gs://{{{{ var.value.bucket }}}}/{{{{ ds }}}}/data.bin\"
    aws_conn_id: s3-test
    gcp_conn_id: gcs-test
    chunk: 1000000
    depends_on: to_s3
  gcs_to_local:
    operator: move_data
    from: \"gs://{{{{ var.value.bucket }}}}/{{{{ ds }}}}/data.bin\"
    to: \"file://{back}\"
    gcp_conn_id: gcs-test
    chunk: 300000
    depends_on: s3_to_gcs
  cancelled_upload:
    operator: move_data
    from: {src}
    to: \"gs://{{{{ var.value.bucket }}}}/cancelled.bin\"
    gcp_conn_id: gcs-test
    chunk: 4194304
    pause_ms: \"{{{{ 200 * 2 }}}}\"
    execution_timeout: 1s
  missing_connection:
    operator: move_data
    from: {src}
    to: /dev/null
    pg_conn_id: nope
    chunk: 1
",
            back = back.display()
        ),
    )
    .unwrap();

    let mut registry = Registry::new();
    registry.register(MoveData);
    let local = Local::start(
        store.clone(),
        registry,
        LocalOptions {
            dags_folder: dags.clone(),
            slots: 4,
            paused_at_creation: false,
            run_scheduler: true,
            run_worker: true,
            timing: Timing {
                scheduler_tick: Duration::from_millis(200),
                worker_poll: Duration::from_millis(50),
                ..Timing::default()
            },
            reload_every: Duration::from_millis(100),
            overrides: Default::default(),
            scope: Default::default(),
        },
    )
    .await
    .unwrap();
    let cur = local.processor.current().remove("toolkit").expect("the DAG loads");
    let run = create_run(
        &store,
        &cur.dag,
        cur.version_id,
        RunType::Manual,
        None,
        Default::default(),
    )
    .await
    .unwrap()
    .unwrap();
    local.signals.wake_all();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let tis = loop {
        let r = store.get_run_by_pk(run.id).await.unwrap().unwrap();
        if r.state.is_finished() {
            break store.task_instances(run.id).await.unwrap();
        }
        assert!(tokio::time::Instant::now() < deadline, "the run did not end");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    local.shutdown().await;
    let ti = |id: &str| tis.iter().find(|t| t.task_id == id).unwrap().clone();

    for id in ["to_s3", "s3_to_gcs", "gcs_to_local"] {
        let t = ti(id);
        assert_eq!(t.state, TaskState::Success, "{id}: {:?}", t.error);
        let out = t.output.unwrap();
        assert_eq!(out["bytes"], source.len() as u64, "{id}");
        let scratch = PathBuf::from(out["scratch"].as_str().unwrap());
        assert!(!scratch.exists(), "{id}: the scratch folder outlived the try");
    }
    assert_eq!(
        ti("to_s3").output.unwrap()["pg"],
        serde_json::json!({"host": "db.internal", "port": 6543, "database": "sales", "sslmode": "require"})
    );
    assert!(
        std::fs::read(&back).unwrap() == source,
        "the round trip changed the bytes"
    );

    // Cancelled by its timeout mid-upload: failed, and nothing at the key.
    let c = ti("cancelled_upload");
    assert_eq!(c.state, TaskState::Failed);
    assert!(
        c.error.as_deref().unwrap_or_default().contains("execution_timeout"),
        "{:?}",
        c.error
    );
    let gcs_stores = Stores::new(
        updraft_operator_api::connection::AwsConnection::default_chain(),
        updraft_operator_api::connection::GcpConnection {
            endpoint_url: Some(gcs.clone()),
            ..updraft_operator_api::connection::GcpConnection::application_default()
        },
    );
    let gone = gcs_stores
        .reader(&format!("gs://{bucket}/cancelled.bin").parse().unwrap())
        .await;
    assert!(
        matches!(gone, Err(updraft_io::IoError::NotFound { .. })),
        "a cancelled upload left an object"
    );

    // A missing connection: not retried, and the message names task, field
    // and connection.
    let m = ti("missing_connection");
    assert_eq!(m.state, TaskState::Failed);
    assert_eq!(
        m.error.as_deref(),
        Some(
            "task `missing_connection`: `pg_conn_id`: connection `nope` does not exist (add it with `updraft connections set` or `import`)"
        )
    );
}
