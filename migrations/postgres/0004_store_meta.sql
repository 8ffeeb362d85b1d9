-- Facts about the store itself. The secrets' key derivation salt and a
-- value sealed with the key (to refuse a wrong key at open) live here.
-- Keep in step with ../sqlite/0004_store_meta.sql.
CREATE TABLE store_meta (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
