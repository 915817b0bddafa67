-- The security event log shown to each user and to administrators. Times are Unix seconds (UTC).
-- Events outlive the account they concern (user_id becomes NULL) so that the audit trail stays.
CREATE TABLE IF NOT EXISTS palisade_security_events (
    id INTEGER PRIMARY KEY,
    user_id INTEGER REFERENCES palisade_users (id) ON DELETE SET NULL,
    kind TEXT NOT NULL,
    ip TEXT,
    user_agent TEXT,
    detail TEXT,
    created_at INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS palisade_security_events_user ON palisade_security_events (user_id, id);
CREATE INDEX IF NOT EXISTS palisade_security_events_created ON palisade_security_events (created_at);
