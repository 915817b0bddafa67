-- Captcha challenges already solved, kept until they expire so that a solution is accepted once.
-- Times are Unix seconds (UTC).
CREATE TABLE IF NOT EXISTS palisade_used_captchas (
    challenge TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS palisade_used_captchas_expires ON palisade_used_captchas (expires_at);
