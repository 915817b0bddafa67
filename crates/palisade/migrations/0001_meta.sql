-- Toolkit migrations are numbered 0001-0999; applications use 1000 and up.
CREATE TABLE IF NOT EXISTS palisade_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
