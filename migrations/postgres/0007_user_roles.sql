-- Web UI roles: viewer (reads), op (also changes runs and tasks), admin
-- (also connections and variables). Users made before roles could do
-- everything, so they become admins.
-- Keep in step with ../sqlite/0007_user_roles.sql.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'admin' CHECK (role IN ('admin', 'op', 'viewer'));
