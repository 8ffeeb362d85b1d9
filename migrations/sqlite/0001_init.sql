-- Updraft state, SQLite. Times are microseconds since the Unix epoch (UTC);
-- JSON is text. Keep in step with ../postgres/0001_init.sql.

CREATE TABLE dags (
    dag_id      TEXT PRIMARY KEY,
    file        TEXT NOT NULL,
    is_paused   INTEGER NOT NULL DEFAULT 0,
    version_id  INTEGER,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE dag_versions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    dag_id      TEXT NOT NULL,
    hash        TEXT NOT NULL,
    file        TEXT NOT NULL,
    source      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (dag_id, hash)
);

-- Files that failed to load, with their diagnostics (one per line).
CREATE TABLE import_errors (
    file        TEXT PRIMARY KEY,
    errors      TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE dag_runs (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    dag_id              TEXT NOT NULL,
    run_id              TEXT NOT NULL,
    logical_date        INTEGER NOT NULL,
    data_interval_start INTEGER NOT NULL,
    data_interval_end   INTEGER NOT NULL,
    run_type            TEXT NOT NULL,
    state               TEXT NOT NULL,
    conf                TEXT NOT NULL DEFAULT '{}',
    version_id          INTEGER NOT NULL REFERENCES dag_versions (id),
    created_at          INTEGER NOT NULL,
    start_date          INTEGER,
    end_date            INTEGER,
    UNIQUE (dag_id, logical_date),
    UNIQUE (dag_id, run_id)
);
CREATE INDEX dag_runs_state ON dag_runs (state, dag_id);

CREATE TABLE task_instances (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    run_pk         INTEGER NOT NULL REFERENCES dag_runs (id) ON DELETE CASCADE,
    dag_id         TEXT NOT NULL,
    task_id        TEXT NOT NULL,
    state          TEXT NOT NULL,
    try_number     INTEGER NOT NULL DEFAULT 0,
    max_tries      INTEGER NOT NULL DEFAULT 0,
    queued_at      INTEGER,
    start_date     INTEGER,
    end_date       INTEGER,
    worker_id      TEXT,
    heartbeat      INTEGER,
    next_retry_at  INTEGER,
    output         TEXT,
    error          TEXT,
    UNIQUE (run_pk, task_id)
);
CREATE INDEX task_instances_state ON task_instances (state);
CREATE INDEX task_instances_worker ON task_instances (worker_id) WHERE state = 'running';

CREATE TABLE task_logs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ti_id       INTEGER NOT NULL REFERENCES task_instances (id) ON DELETE CASCADE,
    try_number  INTEGER NOT NULL,
    at          INTEGER NOT NULL,
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
    port        INTEGER,
    schema_name TEXT,
    extra       TEXT,
    encrypted   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE variables (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    encrypted   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE workers (
    worker_id   TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    hostname    TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    slots       INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    heartbeat   INTEGER NOT NULL
);
