-- Comments on a file, by its owner or a recipient. `body` is plain text, escaped when shown.
CREATE TABLE IF NOT EXISTS drop_comments (
    id INTEGER PRIMARY KEY,
    file_id TEXT NOT NULL REFERENCES drop_files(id) ON DELETE CASCADE,
    author_id INTEGER NOT NULL REFERENCES palisade_users(id) ON DELETE CASCADE,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS drop_comments_file ON drop_comments (file_id, created_at);
