-- Web UI users (argon2id password hashes), their API tokens and browser
-- sessions. Tokens and session ids are stored only as SHA-256 hashes.
-- Keep in step with ../sqlite/0003_users.sql.
CREATE TABLE users (
    username       TEXT PRIMARY KEY,
    password_hash  TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    token_hash  TEXT PRIMARY KEY,
    username    TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE web_sessions (
    session_hash  TEXT PRIMARY KEY,
    username      TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    expires_at    BIGINT NOT NULL
);
