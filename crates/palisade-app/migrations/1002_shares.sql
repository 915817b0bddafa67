-- Files shared with an address. A share is kept by `email_key` (the lower-cased address, as in
-- palisade_users) whether or not an account uses it, so that the owner's view of a file never
-- tells which addresses have accounts; a verified account with that address sees the file.
CREATE TABLE IF NOT EXISTS drop_shares (
    file_id TEXT NOT NULL REFERENCES drop_files(id) ON DELETE CASCADE,
    email_key TEXT NOT NULL,
    email TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (file_id, email_key)
);
CREATE INDEX IF NOT EXISTS drop_shares_email ON drop_shares (email_key);
