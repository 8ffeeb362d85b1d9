-- Updraft state, Postgres. Times are microseconds since the Unix epoch (UTC);
-- JSON is text. Keep in step with ../sqlite/0001_init.sql.

CREATE TABLE dags (
    dag_id      TEXT PRIMARY KEY,
    file        TEXT NOT NULL,
    is_paused   BIGINT NOT NULL DEFAULT 0,
    version_id  BIGINT,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE dag_versions (
    id          BIGSERIAL PRIMARY KEY,
    dag_id      TEXT NOT NULL,
    hash        TEXT NOT NULL,
    file        TEXT NOT NULL,
    source      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (dag_id, hash)
);

-- Files that failed to load, with their diagnostics (one per line).
CREATE TABLE import_errors (
    file        TEXT PRIMARY KEY,
    errors      TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE dag_runs (
    id                  BIGSERIAL PRIMARY KEY,
    dag_id              TEXT NOT NULL,
    run_id              TEXT NOT NULL,
    logical_date        BIGINT NOT NULL,
    data_interval_start BIGINT NOT NULL,
    data_interval_end   BIGINT NOT NULL,
    run_type            TEXT NOT NULL,
    state               TEXT NOT NULL,
    conf                TEXT NOT NULL DEFAULT '{}',
    version_id          BIGINT NOT NULL REFERENCES dag_versions (id),
    created_at          BIGINT NOT NULL,
    start_date          BIGINT,
    end_date            BIGINT,
    UNIQUE (dag_id, logical_date),
    UNIQUE (dag_id, run_id)
);
CREATE INDEX dag_runs_state ON dag_runs (state, dag_id);

CREATE TABLE task_instances (
    id             BIGSERIAL PRIMARY KEY,
    run_pk         BIGINT NOT NULL REFERENCES dag_runs (id) ON DELETE CASCADE,
    dag_id         TEXT NOT NULL,
    task_id        TEXT NOT NULL,
    state          TEXT NOT NULL,
    try_number     BIGINT NOT NULL DEFAULT 0,
    max_tries      BIGINT NOT NULL DEFAULT 0,
    queued_at      BIGINT,
    start_date     BIGINT,
    end_date       BIGINT,
    worker_id      TEXT,
    heartbeat      BIGINT,
    next_retry_at  BIGINT,
    output         TEXT,
    error          TEXT,
    UNIQUE (run_pk, task_id)
);
CREATE INDEX task_instances_state ON task_instances (state);
CREATE INDEX task_instances_worker ON task_instances (worker_id) WHERE state = 'running';

CREATE TABLE task_logs (
    id          BIGSERIAL PRIMARY KEY,
    ti_id       BIGINT NOT NULL REFERENCES task_instances (id) ON DELETE CASCADE,
    try_number  BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    stream      TEXT NOT NULL,
    line        TEXT NOT NULL
);
CREATE INDEX task_logs_ti ON task_logs (ti_id, try_number, id);

CREATE TABLE connections (
    conn_id     TEXT PRIMARY KEY,
    conn_type   TEXT,
    host        TEXT,
    login       TEXT,
    password    TEXT,
    port        BIGINT,
    schema_name TEXT,
    extra       TEXT,
    encrypted   BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE variables (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    encrypted   BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE workers (
    worker_id   TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    hostname    TEXT NOT NULL,
    pid         BIGINT NOT NULL,
    slots       BIGINT NOT NULL,
    started_at  BIGINT NOT NULL,
    heartbeat   BIGINT NOT NULL
);
