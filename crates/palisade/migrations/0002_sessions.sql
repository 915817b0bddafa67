-- Server-side sessions. The key is the hex SHA-256 of the session id: the id itself, which the
-- cookie carries, is never stored. Times are Unix milliseconds (UTC).
CREATE TABLE IF NOT EXISTS palisade_sessions (
    key TEXT PRIMARY KEY NOT NULL CHECK (length(key) = 64),
    user_id INTEGER,
    data TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL DEFAULT ''
) STRICT;

-- The per-user index behind "your sessions", "sign out everywhere" and revocation at password reset.
CREATE INDEX IF NOT EXISTS palisade_sessions_user_id ON palisade_sessions (user_id);
-- The cleanup task deletes by age.
CREATE INDEX IF NOT EXISTS palisade_sessions_last_seen ON palisade_sessions (last_seen);
CREATE INDEX IF NOT EXISTS palisade_sessions_created_at ON palisade_sessions (created_at);
