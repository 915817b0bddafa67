-- Two-factor recovery codes: the hex SHA-256 of each code (50 random bits), usable once.
-- Times are Unix seconds (UTC).
CREATE TABLE IF NOT EXISTS palisade_recovery_codes (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES palisade_users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at INTEGER,
    created_at INTEGER NOT NULL,
    UNIQUE (user_id, code_hash)
);
