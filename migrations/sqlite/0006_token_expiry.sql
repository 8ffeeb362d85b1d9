-- API tokens expire: tokens made before this migration get 90 days from
-- their creation (microseconds), like new ones by default.
-- Keep in step with ../postgres/0006_token_expiry.sql.
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;
UPDATE api_tokens SET expires_at = created_at + 7776000000000;
CREATE INDEX api_tokens_by_user ON api_tokens (username);
