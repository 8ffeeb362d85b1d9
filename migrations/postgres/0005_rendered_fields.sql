-- What each try's config rendered to (secrets masked), stored when the try
-- starts, so the UI shows what ran rather than rendering it again.
-- Keep in step with ../sqlite/0005_rendered_fields.sql.
CREATE TABLE rendered_fields (
    ti_id       BIGINT NOT NULL REFERENCES task_instances (id) ON DELETE CASCADE,
    try_number  BIGINT NOT NULL,
    fields      TEXT NOT NULL,
    PRIMARY KEY (ti_id, try_number)
);
