-- A DAG's newest scheduled run (where its next scheduled run follows on:
-- the DAGs page, the DAG page, every scheduler pass) was found by walking
-- the DAG's runs newest first until a scheduled one: every manual run after
-- it was read, and all of a DAG's runs when it is only ever triggered. An
-- index of the scheduled runs alone makes it one seek; being partial, it
-- is also the one the planner picks (Postgres, judging from the share of
-- scheduled runs in the whole table, preferred walking the (dag_id,
-- logical_date) index to an index on (dag_id, run_type, logical_date)).
-- Keep in step with ../postgres/0008_scheduled_runs_index.sql.
CREATE INDEX dag_runs_scheduled ON dag_runs (dag_id, logical_date) WHERE run_type = 'scheduled';
