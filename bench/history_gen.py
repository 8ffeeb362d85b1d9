#!/usr/bin/env python3
"""Fills an Updraft store with a long history, for bench/history.sh.

    history_gen.py yaml DIR            the DAG files (100 small DAGs, one of
                                       2,000 tasks, a 20-task hourly DAG, a
                                       manual DAG triggered 20,000 times)
    history_gen.py sql sqlite|postgres RUNS
                                       the SQL that adds their runs, task
                                       instances and some log lines

The SQL goes through the store's own schema (migrations/<backend>/) in a
few INSERT ... SELECT statements over a numbers table, so millions of task
instances take seconds, not the hours the scheduler would need. It expects
the DAGs already synced (`dags` and `dag_versions` rows, which the DAG
processor writes from the files): the runs pin each DAG's current version.
"""

import os
import sys

SMALL_DAGS = 100
WIDE_TASKS = 2000
WIDE_RUNS = 100
SMALL_RUNS = 100
MANUAL_RUNS = 20_000
HISTORY_TASKS = 20
LOG_RUNS = 5
LOG_LINES = 200

US = 1_000_000
HOUR = 3600 * US
DAY = 24 * HOUR
# The hourly history ends on 2026-11-01; the others start on 2026-08-01,
# 2026-08-20, 2026-10-01 (UTC), in microseconds.
HISTORY_TO = 1_793_491_200 * US
WIDE_FROM = 1_785_542_400 * US
SMALL_FROM = 1_787_184_000 * US
MANUAL_FROM = 1_790_812_800 * US


def yaml(folder):
    os.makedirs(folder, exist_ok=True)

    def write(name, text):
        with open(os.path.join(folder, f"{name}.yaml"), "w") as f:
            f.write(text)

    lines = [
        "description: 20 tasks in a chain, hourly, years of history",
        "schedule: '@hourly'",
        "start_date: 2010-01-01",
        "tags: [history]",
        "tasks:",
    ]
    for k in range(HISTORY_TASKS):
        dep = f", depends_on: task_{k - 1}" if k else ""
        lines.append(f"  task_{k}: {{operator: shell, command: 'echo {{{{ ds }}}} {k}'{dep}}}")
    write("history_20", "\n".join(lines) + "\n")

    lines = [
        "description: 2,000 tasks, 20 layers of 100",
        "schedule: '@daily'",
        "start_date: 2026-08-01",
        "tags: [wide]",
        "tasks:",
    ]
    for k in range(WIDE_TASKS):
        dep = f", depends_on: w{k - 100}" if k >= 100 else ""
        lines.append(f"  w{k}: {{operator: empty{dep}}}")
    write("wide_2000", "\n".join(lines) + "\n")

    write(
        "manual_events",
        "description: triggered through the API, never on a schedule\n"
        "tags: [events]\n"
        "tasks:\n"
        "  a: {operator: shell, command: 'echo {{ run_id }}'}\n"
        "  b: {operator: empty, depends_on: a}\n",
    )

    for n in range(SMALL_DAGS):
        write(
            f"dag_{n:03}",
            f"description: small DAG number {n}\n"
            "schedule: '@daily'\n"
            "start_date: 2026-08-20\n"
            f"tags: [team{n % 7}]\n"
            "tasks:\n"
            "  extract: {operator: shell, command: 'echo {{ ds }}'}\n"
            "  transform: {operator: shell, depends_on: extract, command: 'echo t'}\n"
            "  load: {operator: empty, depends_on: transform}\n",
        )


def sql(dialect, runs):
    if dialect == "sqlite":
        iso = "strftime('%Y-%m-%dT%H:%M:%S', ({x}) / 1000000, 'unixepoch') || '+00:00'"
        prelude = "PRAGMA synchronous = OFF;\nPRAGMA temp_store = MEMORY;\nPRAGMA cache_size = -200000;\n"
        numbers = "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {n} - 1) SELECT i FROM s"
        analyze = ""
    else:
        iso = "to_char(to_timestamp(({x}) / 1000000) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || '+00:00'"
        prelude = "SET synchronous_commit = off;\nSET work_mem = '256MB';\nSET maintenance_work_mem = '512MB';\n"
        numbers = "SELECT generate_series(0, {n} - 1)"
        analyze = "VACUUM ANALYZE dag_runs;\nVACUUM ANALYZE task_instances;\nVACUUM ANALYZE task_logs;\n"
    top = max(runs, MANUAL_RUNS, WIDE_TASKS)
    t = "g.first_us + n.i * g.step_us"
    out = [prelude, "BEGIN;"]
    out.append("CREATE TEMP TABLE nums (i BIGINT PRIMARY KEY);")
    out.append(f"INSERT INTO nums {numbers.format(n=top)};")
    # What each DAG gets: runs, spacing, first logical date, run type, the
    # position of the task that fails in a failed run.
    out.append(
        "CREATE TEMP TABLE gen_dags (dag_id TEXT PRIMARY KEY, n_runs BIGINT, step_us BIGINT, "
        "first_us BIGINT, run_type TEXT, fail_pos BIGINT);"
    )
    rows = [
        f"('history_20', {runs}, {HOUR}, {HISTORY_TO - runs * HOUR}, 'scheduled', 7)",
        f"('wide_2000', {WIDE_RUNS}, {DAY}, {WIDE_FROM}, 'scheduled', 1000)",
        f"('manual_events', {MANUAL_RUNS}, {4 * 60 * US}, {MANUAL_FROM}, 'manual', 1)",
    ] + [f"('dag_{n:03}', {SMALL_RUNS}, {DAY}, {SMALL_FROM}, 'scheduled', 1)" for n in range(SMALL_DAGS)]
    out.append("INSERT INTO gen_dags VALUES " + ", ".join(rows) + ";")
    out.append("CREATE TEMP TABLE gen_tasks (dag_id TEXT, task_id TEXT, pos BIGINT);")
    out.append(f"INSERT INTO gen_tasks SELECT 'history_20', 'task_' || i, i FROM nums WHERE i < {HISTORY_TASKS};")
    out.append(f"INSERT INTO gen_tasks SELECT 'wide_2000', 'w' || i, i FROM nums WHERE i < {WIDE_TASKS};")
    out.append("INSERT INTO gen_tasks VALUES ('manual_events', 'a', 0), ('manual_events', 'b', 1);")
    out.append(
        "INSERT INTO gen_tasks SELECT g.dag_id, t.task_id, t.pos FROM gen_dags g, "
        "(SELECT 'extract' AS task_id, 0 AS pos UNION ALL SELECT 'transform', 1 UNION ALL SELECT 'load', 2) t "
        "WHERE substr(g.dag_id, 1, 4) = 'dag_';"
    )
    # The newest run of each DAG is running; one in 97 failed.
    out.append(
        "INSERT INTO dag_runs (dag_id, run_id, logical_date, data_interval_start, data_interval_end, run_type, "
        "state, conf, version_id, created_at, start_date, end_date) "
        f"SELECT g.dag_id, g.run_type || '__' || {iso.format(x=t)}, {t}, {t}, {t} + g.step_us, g.run_type, "
        "CASE WHEN n.i = g.n_runs - 1 THEN 'running' WHEN n.i % 97 = 13 THEN 'failed' ELSE 'success' END, "
        f"'{{}}', d.version_id, {t} + g.step_us, {t} + g.step_us, "
        f"CASE WHEN n.i = g.n_runs - 1 THEN NULL ELSE {t} + g.step_us + 60000000 END "
        "FROM gen_dags g JOIN dags d ON d.dag_id = g.dag_id JOIN nums n ON n.i < g.n_runs "
        "ORDER BY g.dag_id, n.i;"
    )
    state = (
        "CASE WHEN r.state = 'success' OR t.pos < g.fail_pos THEN 'success' "
        "WHEN r.state = 'failed' THEN CASE WHEN t.pos = g.fail_pos THEN 'failed' ELSE 'upstream_failed' END "
        "WHEN t.pos = g.fail_pos THEN 'running' ELSE 'none' END"
    )
    tried = "(r.state = 'success' OR t.pos <= g.fail_pos)"
    out.append(
        "INSERT INTO task_instances (run_pk, dag_id, task_id, state, try_number, max_tries, queued_at, "
        "start_date, end_date, worker_id, heartbeat, output) "
        f"SELECT r.id, r.dag_id, t.task_id, {state}, CASE WHEN {tried} THEN 1 ELSE 0 END, 1, "
        f"CASE WHEN {tried} THEN r.start_date + t.pos * 1000000 END, "
        f"CASE WHEN {tried} THEN r.start_date + t.pos * 1000000 + 1000 END, "
        f"CASE WHEN {tried} AND r.state <> 'running' THEN r.start_date + t.pos * 1000000 + 900000 END, "
        "CASE WHEN r.state = 'running' AND t.pos = g.fail_pos THEN 'bench-worker' END, "
        "CASE WHEN r.state = 'running' AND t.pos = g.fail_pos THEN r.start_date END, "
        "CASE WHEN r.state = 'success' AND t.pos = 0 THEN '{\"rows\": 42}' END "
        "FROM dag_runs r JOIN gen_dags g ON g.dag_id = r.dag_id JOIN gen_tasks t ON t.dag_id = r.dag_id "
        "ORDER BY r.id, t.pos;"
    )
    out.append(
        "INSERT INTO task_logs (ti_id, try_number, at, stream, line) "
        "SELECT ti.id, 1, ti.start_date + n.i * 1000, 'stdout', 'processing batch ' || n.i || ' of ' || ti.task_id "
        "FROM task_instances ti JOIN dag_runs r ON r.id = ti.run_pk "
        f"JOIN nums n ON n.i < {LOG_LINES} "
        "WHERE r.dag_id = 'history_20' AND ti.try_number > 0 AND r.logical_date > "
        f"(SELECT MAX(logical_date) FROM dag_runs WHERE dag_id = 'history_20') - {LOG_RUNS} * {HOUR} "
        "ORDER BY ti.id, n.i;"
    )
    out.append("COMMIT;")
    out.append(analyze)
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "yaml":
        yaml(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "sql" and sys.argv[2] in ("sqlite", "postgres"):
        sys.stdout.write(sql(sys.argv[2], int(sys.argv[3])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
