"""Airflow side of bench/dag_loading.sh: the same 20-task DAG shape as
cli/benches/dag_loading.rs, written as Airflow Python DAG files, and timed
with Airflow's own DagBag (in-process).

    python airflow_baseline.py write DIR N
    python airflow_baseline.py load DIR RUNS
"""

import statistics
import sys
import time

TEMPLATE = '''
import pendulum
from datetime import timedelta
from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.empty import EmptyOperator

with DAG(
    dag_id="bench_dag_{i:04}",
    description="generated DAG {i}",
    schedule="{m} {h} * * *",
    start_date=pendulum.datetime(2024, 11, 1, tz="Asia/Bangkok"),
    catchup=False,
    max_active_runs=1,
    tags=["bench", "etl"],
    params={{"bucket": "landing_{i}", "table": "invoices"}},
    default_args={{"retries": 2, "retry_delay": timedelta(minutes=5), "execution_timeout": timedelta(minutes=30)}},
) as dag:
    extracts = [
        BashOperator(
            task_id=f"task_{{t:02}}",
            bash_command=f"echo extract {{t}} for {{{{{{{{ ds }}}}}}}} into gs://{{{{{{{{ params.bucket }}}}}}}}/{{{{{{{{ ds_nodash }}}}}}}}/part_{{t}}.csv",
            env={{"SOURCE": "{{{{ params.table }}}}", "RUN": "{{{{ run_id }}}}"}},
        )
        for t in range(3)
    ]
    prev = BashOperator(task_id="task_03", bash_command="echo transform {{{{ ds }}}}; echo window {{{{ macros.ds_add(ds, -7) }}}}")
    extracts >> prev
    for t in range(4, 10):
        step = BashOperator(task_id=f"task_{{t:02}}", retries=t % 3, bash_command="echo step {{{{ data_interval_start }}}}")
        prev >> step
        prev = step
    loads = [BashOperator(task_id=f"task_{{t:02}}", bash_command="echo load {{{{ ts_nodash }}}}") for t in range(10, 19)]
    prev >> loads
    loads >> EmptyOperator(task_id="task_19", trigger_rule="all_done")
'''


def write(folder, n):
    import os
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        with open(f"{folder}/bench_dag_{i:04}.py", "w") as f:
            f.write(TEMPLATE.format(i=i, m=i % 60, h=i % 24))


def load(folder, runs):
    from airflow.models.dagbag import DagBag

    if runs == 0:  # one load, for timing the whole process from outside
        assert not DagBag(folder, include_examples=False, safe_mode=False).import_errors
        return
    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        bag = DagBag(folder, include_examples=False, safe_mode=False)
        times.append(time.perf_counter() - start)
        assert not bag.import_errors, bag.import_errors
        assert sum(len(d.tasks) for d in bag.dags.values()) == 20 * len(bag.dags)
    times = sorted(times[1:])
    print(f"airflow DagBag: {len(bag.dags)} files x 20 tasks, {runs} runs: "
          f"min {times[0]*1000:.0f} ms, median {statistics.median(times)*1000:.0f} ms, max {times[-1]*1000:.0f} ms")


if __name__ == "__main__":
    cmd, folder, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    write(folder, n) if cmd == "write" else load(folder, n)
