//! `standalone`, `scheduler` and `worker`: the long-running processes.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;
use updraft_engine::runtime::{DagCache, Local, LocalOptions, Signals, Timing, Worker, WorkerConfig, spawn_listener};
use updraft_engine::store::{Store, redact};
use updraft_web::WebParams;

use crate::settings::Settings;
use crate::store::{check_secrets, open, runtime};

/// Resolves on Ctrl-C or SIGTERM.
async fn terminated() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn options(settings: &Settings, slots: u32, scheduler: bool, worker: bool) -> LocalOptions {
    LocalOptions {
        dags_folder: settings.dags_folder.clone(),
        slots,
        paused_at_creation: settings.dags_paused_at_creation,
        run_scheduler: scheduler,
        run_worker: worker,
        timing: Timing::default(),
        reload_every: Duration::from_secs(2),
        overrides: settings.overrides.clone(),
        scope: Default::default(),
    }
}

/// Binds the web UI and decides whether it may run open: without any
/// user, only on a loopback address (and it says so loudly); on another
/// address it refuses to start until a user exists.
async fn bind_web(
    store: &Store,
    bind: &str,
    cache: Arc<DagCache>,
    signals: Option<Signals>,
    settings: &Settings,
) -> Result<(tokio::net::TcpListener, WebParams)> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding the web UI to {bind}"))?;
    let addr = listener.local_addr()?;
    let users = store.count_users().await?;
    let loopback = updraft_web::is_loopback(&addr);
    if users == 0 && !loopback {
        anyhow::bail!(
            "refusing to serve the web UI on {addr} without users: anyone who can reach it could run tasks. \
             Create one with `updraft users create NAME`, or bind to 127.0.0.1"
        );
    }
    if users == 0 {
        eprintln!(
            "WARNING: the web UI at http://{addr} is OPEN: no user is configured, so anyone on this machine \
             can trigger and change runs. Create one with `updraft users create NAME` to require a login."
        );
    }
    eprintln!("updraft web UI: http://{addr}");
    Ok((
        listener,
        WebParams {
            store: store.clone(),
            cache,
            signals,
            overrides: settings.overrides.clone(),
            allow_open: loopback,
            secure_cookies: true,
            signing_key: settings.secret_key.clone().map(updraft_web::SigningKey),
            limits: settings.web_limits.clone(),
        },
    ))
}

fn spawn_web(
    listener: tokio::net::TcpListener,
    params: WebParams,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = updraft_web::serve(listener, params, async move { stop.cancelled().await }).await {
            tracing::error!(error = %e, "the web UI stopped");
        }
    })
}

async fn serve(settings: &Settings, opts: LocalOptions, what: &str, bind: Option<&str>) -> Result<ExitCode> {
    let store = open(settings).await?;
    if opts.run_worker {
        check_secrets(&store, settings).await?;
    }
    let local = Local::start_with(
        store,
        updraft_engine::Registry::with(updraft_operators::register_all),
        opts,
        &settings.limits,
    )
    .await?;
    let web_stop = CancellationToken::new();
    let web = match bind {
        Some(bind) => {
            let (listener, params) = match bind_web(
                &local.store,
                bind,
                local.cache.clone(),
                Some(local.signals.clone()),
                settings,
            )
            .await
            {
                Ok(x) => x,
                Err(e) => {
                    local.shutdown().await;
                    return Err(e);
                }
            };
            Some(spawn_web(listener, params, web_stop.clone()))
        }
        None => None,
    };
    let current = local.processor.current();
    let paused = local.store.list_dags().await?.iter().filter(|d| d.is_paused).count();
    eprintln!(
        "updraft {what}: {} DAG(s) from {} ({paused} paused), state in {}",
        current.len(),
        settings.dags_folder.display(),
        redact(&settings.database_url)
    );
    terminated().await;
    eprintln!("updraft {what}: stopping; running tasks get up to 30 s to finish");
    web_stop.cancel();
    if let Some(w) = web {
        let _ = w.await;
    }
    local.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

pub fn standalone(settings: &Settings, bind: &str, slots: u32) -> Result<ExitCode> {
    runtime()?.block_on(serve(
        settings,
        options(settings, slots, true, true),
        "standalone",
        Some(bind),
    ))
}

pub fn scheduler(settings: &Settings) -> Result<ExitCode> {
    runtime()?.block_on(serve(settings, options(settings, 1, true, false), "scheduler", None))
}

/// `updraft web`: the UI alone, beside a scheduler elsewhere on the store.
pub fn web(settings: &Settings, bind: &str) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let store = open(settings).await?;
        let cache = Arc::new(
            DagCache::new(
                store.clone(),
                updraft_engine::Registry::with(updraft_operators::register_all),
            )
            .with_limits(settings.limits.dags),
        );
        let (listener, params) = bind_web(&store, bind, cache, None, settings).await?;
        let stop = CancellationToken::new();
        let web = spawn_web(listener, params, stop.clone());
        terminated().await;
        stop.cancel();
        let _ = web.await;
        Ok(ExitCode::SUCCESS)
    })
}

pub fn worker(settings: &Settings, slots: u32) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let store = open(settings).await?;
        check_secrets(&store, settings).await?;
        let cache = Arc::new(
            DagCache::new(
                store.clone(),
                updraft_engine::Registry::with(updraft_operators::register_all),
            )
            .with_limits(settings.limits.dags),
        );
        let signals = Signals::default();
        let config = WorkerConfig::new(slots)
            .with_overrides(settings.overrides.clone())
            .with_limits(&settings.limits);
        let worker = Arc::new(Worker::new(
            store.clone(),
            cache,
            signals.clone(),
            Timing::default(),
            config,
        ));
        eprintln!(
            "updraft worker {}: {slots} slot(s), state in {}",
            worker.id(),
            redact(&settings.database_url)
        );
        let stop = CancellationToken::new();
        // On Postgres, wake as soon as a scheduler queues work.
        let listener = spawn_listener(store, signals, stop.clone());
        let run = tokio::spawn(worker.run(stop.clone()));
        terminated().await;
        eprintln!("updraft worker: stopping; running tasks get up to 30 s to finish");
        stop.cancel();
        run.await??;
        if let Some(l) = listener {
            let _ = l.await;
        }
        Ok(ExitCode::SUCCESS)
    })
}
