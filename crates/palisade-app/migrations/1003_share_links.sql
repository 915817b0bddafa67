-- Share links: `/s/<id signed with the links key>` downloads the file without an account until
-- the link expires, is revoked, or has been used `max_downloads` times. NULL means no limit.
CREATE TABLE IF NOT EXISTS drop_share_links (
    id TEXT PRIMARY KEY NOT NULL,
    file_id TEXT NOT NULL REFERENCES drop_files(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    max_downloads INTEGER,
    downloads INTEGER NOT NULL DEFAULT 0,
    revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS drop_share_links_file ON drop_share_links (file_id);
