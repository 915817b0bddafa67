-- Drop's files. `id` is a random 128-bit hex string, the only identifier that appears in URLs.
-- `stored_name` is the random name in the file store (never derived from the client's name);
-- `display_name` is the sanitised client name, kept only to be shown (escaped) and offered as
-- the download name. `content_type` was detected from the content. Times are Unix seconds (UTC).
CREATE TABLE IF NOT EXISTS drop_files (
    id TEXT PRIMARY KEY NOT NULL,
    owner_id INTEGER NOT NULL REFERENCES palisade_users(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    display_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    inline_safe BOOLEAN NOT NULL DEFAULT FALSE,
    stored_name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS drop_files_owner ON drop_files (owner_id, created_at);
