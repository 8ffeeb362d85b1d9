-- Claiming takes the oldest queued task instances; without this index every
-- claim sorted all queued rows.
CREATE INDEX task_instances_queue ON task_instances (state, queued_at, id);
-- The scheduler counts a run's task instances by state after each task
-- ends; without this index a wide run was scanned and sorted each time.
CREATE INDEX task_instances_run_state ON task_instances (run_pk, state);
