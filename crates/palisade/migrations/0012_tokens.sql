-- Single-use, expiring tokens (email verification, password reset, invitation). Only the hex
-- SHA-256 of a token is stored; the token itself exists only in the link sent to the user.
-- A token belongs to a user (user_id) or, for an invitation, to an address (email).
-- Times are Unix seconds (UTC).
CREATE TABLE IF NOT EXISTS palisade_tokens (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    user_id INTEGER REFERENCES palisade_users (id) ON DELETE CASCADE,
    email TEXT,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    created_at INTEGER NOT NULL,
    CHECK (user_id IS NOT NULL OR email IS NOT NULL)
);

CREATE INDEX IF NOT EXISTS palisade_tokens_user ON palisade_tokens (user_id, kind);
CREATE INDEX IF NOT EXISTS palisade_tokens_expires ON palisade_tokens (expires_at);
