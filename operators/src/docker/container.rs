//! One try's container: leftovers of earlier tries removed, the image made
//! present, the container created with labels naming its DAG, run, task and
//! try, its output streamed into the log, its exit awaited, and the
//! container removed. On cancellation it is stopped (SIGTERM, then SIGKILL
//! after [`STOP_GRACE_SECS`]) and removed; if the future is dropped before it
//! could, a guard removes the container in the background.

use std::collections::HashMap;
use std::pin::Pin;
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, DeviceRequest, HostConfig, Mount, MountTmpfsOptions, MountType};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::{Stream, StreamExt};
use updraft_operator_api::{LogStream, Output, TaskContext, TaskError};

use super::auth;
use super::config::{DEFAULT_DOCKER_URL, DockerConfig, GpuCount, MountKind, PullPolicy, RegistryCredentials};
use super::engine;
use super::error::{DockerError, is_status, reason};
use super::logs::LineLog;

/// Seconds between SIGTERM and SIGKILL when a container is stopped; below
/// the worker's grace for a cancelled task, so removal happens in time.
pub const STOP_GRACE_SECS: i32 = 10;
/// How long output may still arrive after the container exited.
const DRAIN: Duration = Duration::from_secs(10);

pub const LABEL_DAG: &str = "updraft.dag_id";
pub const LABEL_RUN: &str = "updraft.run_id";
pub const LABEL_TASK: &str = "updraft.task_id";
pub const LABEL_TRY: &str = "updraft.try";

pub async fn run(mut config: DockerConfig, ctx: &TaskContext) -> Result<Output, TaskError> {
    if let Some(id) = &config.docker_conn_id {
        config.registry = Some(registry_from_connection(ctx, id)?);
    }
    let url = config.docker_url.as_deref().unwrap_or(DEFAULT_DOCKER_URL);
    let docker = tokio::select! {
        d = engine::connect(url) => d?,
        () = ctx.cancel.cancelled() => return Err(TaskError::Cancelled),
    };
    remove_leftovers(&docker, ctx).await?;
    let body = create_body(&config, ctx)?;
    tokio::select! {
        r = ensure_image(&docker, &config, ctx) => r?,
        () = ctx.cancel.cancelled() => return Err(TaskError::Cancelled),
    }
    let created = docker
        .create_container(None::<bollard::query_parameters::CreateContainerOptions>, body)
        .await
        .map_err(|e| api_error("cannot create the container", &e))?;
    let guard = Guard {
        docker: docker.clone(),
        id: Some(created.id.clone()),
    };
    let id = created.id.as_str();
    ctx.log.line(
        LogStream::System,
        &format!("container {} from {}", short(id), config.image),
    );
    let mut log = LineLog::new(ctx.log.clone());
    let code = match attach_start_follow(&docker, id, &mut log, ctx).await {
        Ok(code) => code,
        Err(stop) => {
            // Cancelled, or it could not start or be watched: never left behind.
            remove(&docker, id).await;
            guard.disarm();
            return Err(match stop {
                Stop::Cancelled => TaskError::Cancelled,
                Stop::Failed(e) => e.into(),
            });
        }
    };
    log.finish();
    if config.auto_remove {
        remove(&docker, id).await;
    }
    guard.disarm();

    if code != 0 {
        let lines: Vec<&str> = log.tail().collect();
        let tail = if lines.is_empty() {
            String::new()
        } else {
            format!("; last lines:\n{}", lines.join("\n"))
        };
        return Err(DockerError::Exit { code, tail }.into());
    }
    let mut out = serde_json::json!({ "exit_code": code, "container_id": id });
    if config.xcom_last_line {
        out["last_line"] = log.last_stdout().unwrap_or_default().into();
    }
    Ok(out)
}

/// Attaches (before the start, so no output is missed; the attach stream,
/// unlike a followed log, also carries a last line without a newline),
/// starts, and follows the container to its exit code. No replay of past
/// logs (`logs=false`): there are none before the start, and asking for
/// them made the engine now and then send the first lines twice (seen
/// under load: "one, hello, one, hello, last").
async fn attach_start_follow(docker: &Docker, id: &str, log: &mut LineLog, ctx: &TaskContext) -> Result<i64, Stop> {
    let opts = AttachContainerOptionsBuilder::default()
        .stream(true)
        .logs(false)
        .stdout(true)
        .stderr(true)
        .build();
    let output = docker
        .attach_container(id, Some(opts))
        .await
        .map_err(|e| Stop::Failed(api_error("cannot attach to the container", &e)))?
        .output;
    docker
        .start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
        .await
        .map_err(|e| Stop::Failed(api_error("cannot start the container", &e)))?;
    follow(docker, id, output, log, ctx).await
}

type OutputStream = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

enum Stop {
    Cancelled,
    Failed(DockerError),
}

/// Streams the output into `log` until the container exits; its exit code.
async fn follow(
    docker: &Docker,
    id: &str,
    mut logs: OutputStream,
    log: &mut LineLog,
    ctx: &TaskContext,
) -> Result<i64, Stop> {
    let mut wait = docker.wait_container(id, None::<bollard::query_parameters::WaitContainerOptions>);
    let mut exit: Option<i64> = None;
    let mut logs_open = true;
    let drain_until = tokio::time::sleep(Duration::MAX);
    tokio::pin!(drain_until);
    while logs_open || exit.is_none() {
        tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => {
                stop(docker, id, &mut logs, log, ctx).await;
                return Err(Stop::Cancelled);
            }
            item = logs.next(), if logs_open => match item {
                Some(Ok(out)) => {
                    push(log, out);
                    // A container printing faster than the log is stored
                    // waits (the engine stops reading from it meanwhile).
                    ctx.log.ready().await;
                }
                Some(Err(e)) => {
                    ctx.log.line(LogStream::System, &format!("log stream ended early: {}", reason(&e)));
                    logs_open = false;
                }
                None => logs_open = false,
            },
            item = wait.next(), if exit.is_none() => {
                let code = match item {
                    Some(Ok(r)) => r.status_code,
                    Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
                    Some(Err(e)) => return Err(Stop::Failed(api_error("waiting for the container", &e))),
                    None => return Err(Stop::Failed(DockerError::Api {
                        action: "waiting for the container",
                        reason: "the engine ended the wait without an exit code".into(),
                    })),
                };
                exit = Some(code);
                drain_until.as_mut().reset(tokio::time::Instant::now() + DRAIN);
            }
            () = &mut drain_until, if exit.is_some() => {
                ctx.log.line(LogStream::System, "output still open after the container exited; not waiting longer");
                break;
            }
        }
    }
    Ok(exit.unwrap_or_default())
}

/// Lists every container (any state) labelled as this task's in this run.
pub(super) fn task_containers(ctx: &TaskContext) -> bollard::query_parameters::ListContainersOptions {
    let filters: HashMap<&str, Vec<String>> = HashMap::from([(
        "label",
        vec![
            format!("{LABEL_DAG}={}", ctx.dag_id),
            format!("{LABEL_RUN}={}", ctx.run_id),
            format!("{LABEL_TASK}={}", ctx.task_id),
        ],
    )]);
    ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build()
}

/// Containers of earlier tries of this task in this run (a worker killed
/// with -9 leaves its container running): stopped and removed before this
/// try starts.
async fn remove_leftovers(docker: &Docker, ctx: &TaskContext) -> Result<(), DockerError> {
    let found = docker
        .list_containers(Some(task_containers(ctx)))
        .await
        .map_err(|e| api_error("cannot list containers", &e))?;
    for c in found {
        let Some(id) = c.id else { continue };
        let of_try = c
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_TRY))
            .map(|t| format!(" of try {t}"))
            .unwrap_or_default();
        ctx.log.line(
            LogStream::System,
            &format!("removing container {}{of_try} left behind", short(&id)),
        );
        remove(docker, &id).await;
    }
    Ok(())
}

async fn ensure_image(docker: &Docker, config: &DockerConfig, ctx: &TaskContext) -> Result<(), DockerError> {
    let image = config.image.as_str();
    if config.pull != PullPolicy::Always {
        match docker.inspect_image(image).await {
            Ok(_) => return Ok(()),
            Err(e) if is_status(&e, 404) => {
                if config.pull == PullPolicy::Never {
                    return Err(DockerError::ImageMissing { image: image.into() });
                }
            }
            Err(e) => return Err(api_error("cannot inspect the image", &e)),
        }
    }
    let creds = match auth::credentials(image, config.registry.as_ref()).await {
        Ok(c) => c,
        Err(why) => {
            ctx.log
                .line(LogStream::System, &format!("{why}; pulling without credentials"));
            None
        }
    };
    ctx.log.line(LogStream::System, &format!("pulling {image}"));
    let (repo, tag) = split_tag(image);
    let mut opts = CreateImageOptionsBuilder::default().from_image(repo);
    if let Some(tag) = tag {
        opts = opts.tag(tag);
    }
    let mut progress = docker.create_image(Some(opts.build()), None, creds);
    while let Some(item) = progress.next().await {
        if let Err(e) = item {
            return Err(DockerError::Pull {
                image: image.into(),
                reason: reason(&e),
            });
        }
    }
    ctx.log.line(LogStream::System, &format!("pulled {image}"));
    Ok(())
}

/// `repo:tag` into its parts; no tag means `latest` (an empty tag would pull
/// every tag); a digest stays in the name.
fn split_tag(image: &str) -> (&str, Option<&str>) {
    if image.contains('@') {
        return (image, None);
    }
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(i) => (&image[..last_slash + i], Some(&image[last_slash + i + 1..])),
        None => (image, Some("latest")),
    }
}

fn create_body(config: &DockerConfig, ctx: &TaskContext) -> Result<ContainerCreateBody, DockerError> {
    let cfg_err = |e: TaskError| DockerError::Config(e.message());
    let labels = HashMap::from([
        (LABEL_DAG.to_string(), ctx.dag_id.clone()),
        (LABEL_RUN.to_string(), ctx.run_id.clone()),
        (LABEL_TASK.to_string(), ctx.task_id.clone()),
        (LABEL_TRY.to_string(), ctx.try_number.to_string()),
    ]);
    let mut mounts = Vec::new();
    for m in &config.mounts {
        let mut mount = Mount {
            target: Some(m.target.clone()),
            read_only: Some(m.read_only),
            ..Default::default()
        };
        match m.kind {
            MountKind::Bind => {
                mount.typ = Some(MountType::BIND);
                mount.source = m.source.as_deref().map(expand_home);
            }
            MountKind::Volume => {
                mount.typ = Some(MountType::VOLUME);
                mount.source = m.source.clone();
            }
            MountKind::Tmpfs => {
                mount.typ = Some(MountType::TMPFS);
                if let Some(size) = &m.size {
                    mount.tmpfs_options = Some(MountTmpfsOptions {
                        size_bytes: Some(size.get("size").map_err(cfg_err)?.0),
                        ..Default::default()
                    });
                }
            }
        }
        mounts.push(mount);
    }
    let device_requests = match &config.gpus {
        None => None,
        Some(g) => Some(vec![DeviceRequest {
            driver: Some(String::new()),
            count: Some(match g.get("gpus").map_err(cfg_err)? {
                GpuCount::All => -1,
                GpuCount::Count(n) => n,
            }),
            capabilities: Some(vec![vec!["gpu".to_string()]]),
            ..Default::default()
        }]),
    };
    let host_config = HostConfig {
        mounts: (!mounts.is_empty()).then_some(mounts),
        network_mode: config.network_mode.clone(),
        nano_cpus: match &config.cpus {
            Some(c) => Some((c.get("cpus").map_err(cfg_err)?.0 * 1e9) as i64),
            None => None,
        },
        memory: config
            .memory
            .as_ref()
            .map(|m| m.get("memory").map(|b| b.0))
            .transpose()
            .map_err(cfg_err)?,
        shm_size: config
            .shm_size
            .as_ref()
            .map(|m| m.get("shm_size").map(|b| b.0))
            .transpose()
            .map_err(cfg_err)?,
        device_requests,
        // Removal is ours: the engine's auto-remove would race the reading
        // of the exit code and the last output.
        auto_remove: Some(false),
        ..Default::default()
    };
    Ok(ContainerCreateBody {
        image: Some(config.image.clone()),
        cmd: config.command.as_ref().map(|a| a.0.clone()),
        entrypoint: config.entrypoint.as_ref().map(|a| a.0.clone()),
        env: Some(config.environment.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        working_dir: config.working_dir.clone(),
        user: config.user.clone(),
        labels: Some(labels),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(false),
        host_config: Some(host_config),
        ..Default::default()
    })
}

/// `~` and `~/...` in a bind source mean the worker's home directory.
fn expand_home(path: &str) -> String {
    let rest = match path {
        "~" => "",
        p => match p.strip_prefix("~/") {
            Some(r) => r,
            None => return path.to_string(),
        },
    };
    match std::env::home_dir() {
        Some(home) => home.join(rest).to_string_lossy().into_owned(),
        None => path.to_string(),
    }
}

/// An engine error, with the known user mistakes named plainly.
fn api_error(action: &'static str, e: &bollard::errors::Error) -> DockerError {
    let why = reason(e);
    if let Some(path) = why.split("bind source path does not exist: ").nth(1) {
        return DockerError::BindSource {
            path: path.trim().to_string(),
        };
    }
    // The runtime's "... exec: \"/bin/x\": stat /bin/x: no such file or
    // directory: unknown" (or "executable file not found in $PATH").
    if let Some(rest) = why.split("exec: \"").nth(1)
        && let Some((program, tail)) = rest.split_once('"')
    {
        let tail = tail.trim_start_matches(':').trim();
        let tail = tail.strip_suffix(": unknown").unwrap_or(tail);
        let reason = match tail.rsplit_once(": ") {
            Some((_, last)) => last,
            None => tail,
        };
        return DockerError::Program {
            program: program.to_string(),
            reason: reason.to_string(),
        };
    }
    DockerError::Api { action, reason: why }
}

/// Stops the container (SIGTERM, SIGKILL after the grace period), still
/// logging what it writes meanwhile (a job's own shutdown messages).
async fn stop(docker: &Docker, id: &str, output: &mut OutputStream, log: &mut LineLog, ctx: &TaskContext) {
    ctx.log.line(
        LogStream::System,
        &format!(
            "stopping container {} (SIGTERM, SIGKILL after {STOP_GRACE_SECS}s)",
            short(id)
        ),
    );
    let opts = StopContainerOptionsBuilder::default().t(STOP_GRACE_SECS).build();
    let stopping = docker.stop_container(id, Some(opts));
    tokio::pin!(stopping);
    let mut open = true;
    loop {
        tokio::select! {
            _ = &mut stopping => break,
            item = output.next(), if open => match item {
                Some(Ok(out)) => push(log, out),
                _ => open = false,
            },
        }
    }
    // What was written just before the end.
    while open {
        match tokio::time::timeout(Duration::from_secs(1), output.next()).await {
            Ok(Some(Ok(out))) => push(log, out),
            _ => open = false,
        }
    }
    log.finish();
}

fn push(log: &mut LineLog, out: LogOutput) {
    match out {
        LogOutput::StdOut { message } | LogOutput::Console { message } => log.push(LogStream::Stdout, &message),
        LogOutput::StdErr { message } => log.push(LogStream::Stderr, &message),
        LogOutput::StdIn { .. } => {}
    }
}

/// Force-removes a container (with its anonymous volumes); a container
/// already gone is fine.
async fn remove(docker: &Docker, id: &str) {
    let opts = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
    if let Err(e) = docker.remove_container(id, Some(opts)).await
        && !is_status(&e, 404)
    {
        tracing::warn!(container = id, error = %reason(&e), "cannot remove container");
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// Removes the container if the try's future is dropped before it could
/// (the worker abandons a task that ignores cancellation past its grace).
struct Guard {
    docker: Docker,
    id: Option<String>,
}

impl Guard {
    fn disarm(mut self) {
        self.id = None;
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(id) = self.id.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let docker = self.docker.clone();
            rt.spawn(async move { remove(&docker, &id).await });
        }
    }
}

/// Registry credentials from Airflow's `docker` connection: the registry
/// in `host` (a scheme is dropped), `login` and `password`.
fn registry_from_connection(ctx: &TaskContext, conn_id: &str) -> Result<RegistryCredentials, TaskError> {
    let c = ctx.connection("docker_conn_id", conn_id)?;
    let missing = |what: &str| {
        TaskError::Fatal(format!(
            "task `{}`: `docker_conn_id`: connection `{conn_id}` has no {what}",
            ctx.task_id
        ))
    };
    let server = c.host.as_deref().map(|h| {
        let h = h.split_once("://").map_or(h, |(_, rest)| rest);
        h.trim_end_matches('/').to_string()
    });
    Ok(RegistryCredentials {
        server: server.filter(|s| !s.is_empty()),
        username: c
            .login
            .clone()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| missing("login"))?,
        password: c.password.clone().ok_or_else(|| missing("password"))?,
    })
}

#[cfg(test)]
mod tests {
    use updraft_engine::yaml::{from_node, parse_document};
    use updraft_operator_api::TaskContext;

    use super::*;

    /// Airflow's `docker` connection gives the pull its credentials; a
    /// connection without a password is named, without a secret.
    #[test]
    fn registry_credentials_come_from_a_docker_connection() {
        use updraft_operator_api::Connection;
        let mut conns = std::collections::BTreeMap::new();
        conns.insert(
            "gar".to_string(),
            Connection {
                conn_type: Some("docker".into()),
                host: Some("https://europe-west1-docker.pkg.dev/".into()),
                login: Some("oauth2accesstoken".into()),
                password: Some("ya29.token-1".into()),
                ..Default::default()
            },
        );
        conns.insert(
            "half".to_string(),
            Connection {
                login: Some("u".into()),
                ..Default::default()
            },
        );
        let ctx = TaskContext {
            connections: std::sync::Arc::new(conns),
            ..TaskContext::detached("ml")
        };
        let c = registry_from_connection(&ctx, "gar").unwrap();
        assert_eq!(c.server.as_deref(), Some("europe-west1-docker.pkg.dev"));
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("oauth2accesstoken", "ya29.token-1")
        );
        let e = registry_from_connection(&ctx, "half").unwrap_err().to_string();
        assert_eq!(e, "task `ml`: `docker_conn_id`: connection `half` has no password");
        let e = registry_from_connection(&ctx, "nope").unwrap_err().to_string();
        assert!(e.contains("connection `nope` does not exist"), "{e}");
    }

    #[test]
    fn the_config_maps_onto_the_engine_request() {
        let node = parse_document(
            "image: img\ncommand: a 'b c'\nentrypoint: [/bin/run]\nenvironment: {K: v}\nuser: '1000:1000'\n\
             cpus: 1.5\nmemory: 4g\nshm_size: 1g\ngpus: all\nnetwork_mode: host\n\
             mounts:\n  - {source: ~/.config/gcloud, target: /root/.config/gcloud, read_only: true}\n  - {type: volume, source: cache, target: /cache}\n  - {type: tmpfs, target: /scratch, size: 64m}\n",
        )
        .unwrap();
        let config: DockerConfig = from_node(&node).unwrap();
        let ctx = TaskContext {
            dag_id: "d".into(),
            run_id: "r".into(),
            try_number: 2,
            ..TaskContext::detached("t")
        };
        let body = create_body(&config, &ctx).unwrap();
        assert_eq!(body.cmd, Some(vec!["a".to_string(), "b c".to_string()]));
        assert_eq!(body.entrypoint, Some(vec!["/bin/run".to_string()]));
        assert_eq!(body.env, Some(vec!["K=v".to_string()]));
        assert_eq!(body.user.as_deref(), Some("1000:1000"));
        let labels = body.labels.unwrap();
        assert_eq!(labels[LABEL_TRY], "2");
        assert_eq!(labels[LABEL_RUN], "r");
        let host = body.host_config.unwrap();
        assert_eq!(host.nano_cpus, Some(1_500_000_000));
        assert_eq!(host.memory, Some(4 << 30));
        assert_eq!(host.shm_size, Some(1 << 30));
        assert_eq!(host.network_mode.as_deref(), Some("host"));
        let gpu = &host.device_requests.unwrap()[0];
        assert_eq!(gpu.count, Some(-1));
        assert_eq!(gpu.capabilities, Some(vec![vec!["gpu".to_string()]]));
        let mounts = host.mounts.unwrap();
        let home = std::env::home_dir().unwrap();
        assert_eq!(
            mounts[0].source.as_deref(),
            Some(home.join(".config/gcloud").to_str().unwrap())
        );
        assert_eq!(
            (mounts[0].typ, mounts[0].read_only),
            (Some(MountType::BIND), Some(true))
        );
        assert_eq!(mounts[1].typ, Some(MountType::VOLUME));
        assert_eq!(mounts[2].tmpfs_options.as_ref().unwrap().size_bytes, Some(64 << 20));
    }

    #[test]
    fn tags_split_off_the_last_path_part() {
        assert_eq!(split_tag("busybox"), ("busybox", Some("latest")));
        assert_eq!(split_tag("r.io:5000/a/b:v5"), ("r.io:5000/a/b", Some("v5")));
        assert_eq!(split_tag("r.io:5000/a/b"), ("r.io:5000/a/b", Some("latest")));
        assert_eq!(split_tag("a@sha256:00"), ("a@sha256:00", None));
    }
}
