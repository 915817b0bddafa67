//! A self-hosted captcha: an ALTCHA-compatible proof of work, plus a honeypot field. No third
//! party sees the user, no cookie is set, and no image has to be read.
//!
//! ## The proof of work
//!
//! The server sends a signed puzzle; the browser spends a fraction of a second of CPU solving
//! it; the server checks the solution with one hash. A script that submits forms by the thousand
//! pays that cost every time, and each solution is accepted once.
//!
//! The challenge, as JSON (what [`Challenge::to_json`] gives, to put in the page):
//!
//! ```json
//! {"algorithm":"SHA-256",
//!  "challenge":"<hex SHA-256 of salt followed by the decimal secret number>",
//!  "maxnumber":50000,
//!  "salt":"<24 random hex digits>?expires=<Unix seconds>&",
//!  "signature":"<hex HMAC-SHA256 of the challenge string, with the captcha key>"}
//! ```
//!
//! The browser tries `number` = 0, 1, 2, … up to `maxnumber` until `hex(SHA-256(salt +
//! number))` equals `challenge`, then submits, in the form field `captcha`
//! ([`FIELD`]), the base64 of the JSON
//! `{"algorithm","challenge","number","salt","signature"}` (extra members such as ALTCHA's
//! `took` are ignored). The server accepts it ([`Captcha::verify`]) when:
//!
//! 1. the field is present, at most 2 KiB, base64 of that JSON, with algorithm `SHA-256`;
//! 2. the signature is the HMAC of the challenge under a key of the ring for
//!    [`Purpose::Captcha`] (so the server keeps no state per challenge, and keys rotate);
//! 3. the salt's `expires` parameter is in the future (the salt is inside the hash, so the
//!    expiry cannot be changed without breaking the signature);
//! 4. `SHA-256(salt + number)` is the challenge;
//! 5. the challenge was never accepted before ([`UsedCaptchas`]: a table by default).
//!
//! The default difficulty, [`DEFAULT_MAX_NUMBER`], takes a browser well under a second on
//! average. [`Captcha::with_max_number`] raises it.
//!
//! ## In the page
//!
//! ```html
//! <form method="post">
//!   <div data-captcha-challenge='{{ challenge_json }}'
//!        data-captcha-worker="{{ static_url('captcha-worker.js') }}"></div>
//!   <input type="hidden" name="captcha">
//!   <p data-captcha-status aria-live="polite"></p>
//!   <div class="honeypot" aria-hidden="true">
//!     <label>Website <input name="website" tabindex="-1" autocomplete="off"></label>
//!   </div>
//!   <button type="submit">Create account</button>
//! </form>
//! <script src="{{ static_url('captcha.js') }}" nonce="{{ csp_nonce }}" defer></script>
//! ```
//!
//! `captcha.js` ([`CAPTCHA_JS`]) finds the challenge (the `data-captcha-challenge` attribute, or
//! a `<script type="application/json" id="captcha-challenge">` element), solves it in a Web Worker
//! (`captcha-worker.js`, [`CAPTCHA_WORKER_JS`]), fills the hidden input, enables the submit
//! button and says "Verified". Neither file uses inline script, inline style or `eval`, so both
//! run under the strict CSP of [`crate::headers`] (which must allow `worker-src 'self'`).
//!
//! ## The honeypot
//!
//! The `website` field ([`HONEYPOT_FIELD`]) is hidden from people by a stylesheet class and
//! from assistive technology by `aria-hidden`; form-filling bots fill it. [`honeypot_ok`] is true
//! only when it is absent or empty.
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use palisade::auth::captcha::{self, Captcha, CaptchaError, MemoryUsedCaptchas};
//! use palisade::secret::KeyRing;
//!
//! let captcha = Captcha::new(&KeyRing::generate(), MemoryUsedCaptchas::new());
//! let challenge = captcha.challenge();
//! let field = captcha::solve(&challenge).expect("solvable");
//! captcha.verify(Some(&field)).await?;
//! assert_eq!(captcha.verify(Some(&field)).await, Err(CaptchaError::Replayed));
//! assert_eq!(captcha.verify(None).await, Err(CaptchaError::Missing));
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use sqlx::SqlitePool;

use crate::auth::{secs, unix_now};
use crate::secret::{KeyRing, Purpose, Signer};

/// The form field that carries the solution.
pub const FIELD: &str = "captcha";

/// The honeypot form field, which must stay empty.
pub const HONEYPOT_FIELD: &str = "website";

/// The default `maxnumber`: about 25,000 hashes on average, well under a second in a browser.
pub const DEFAULT_MAX_NUMBER: u64 = 50_000;

/// The least `maxnumber` accepted: below this the work is negligible.
pub const MIN_MAX_NUMBER: u64 = 1_000;

/// The greatest `maxnumber` accepted: above this slow devices wait too long.
pub const MAX_MAX_NUMBER: u64 = 10_000_000;

/// How long a challenge stays valid by default: time to fill in a form.
pub const DEFAULT_TTL: Duration = Duration::from_secs(20 * 60);

/// The longest field value read.
const MAX_FIELD_LEN: usize = 2048;

/// The browser script: finds the challenge, runs the worker, fills the field.
pub const CAPTCHA_JS: &str = include_str!("../../assets/captcha.js");

/// The Web Worker that searches for the number.
pub const CAPTCHA_WORKER_JS: &str = include_str!("../../assets/captcha-worker.js");

/// A challenge, serialised as JSON into the page; see the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// Always `SHA-256`.
    pub algorithm: String,
    /// Hex SHA-256 of `salt` followed by the secret number.
    pub challenge: String,
    /// The greatest number to try.
    pub maxnumber: u64,
    /// Random hex followed by `?expires=<Unix seconds>&`.
    pub salt: String,
    /// Hex HMAC-SHA256 of `challenge` under the captcha key.
    pub signature: String,
}

impl Challenge {
    /// The JSON form, for a `data-captcha-challenge` attribute (the template escapes it) or a
    /// `<script type="application/json">` element (through the template's `tojson`).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What the browser sends back, base64-encoded.
#[derive(Debug, Deserialize, Serialize)]
struct Payload {
    algorithm: String,
    challenge: String,
    number: u64,
    salt: String,
    signature: String,
}

/// Why a captcha solution was refused. Show the user one message for all of them (the
/// [`CaptchaError::user_message`]) and log the variant.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CaptchaError {
    /// The field is absent or empty (the script did not run or did not finish).
    #[error("no captcha solution was sent")]
    Missing,
    /// The field is not base64 of the expected JSON, or names another algorithm.
    #[error("the captcha solution is malformed")]
    Malformed,
    /// The signature is not ours: a forged or altered challenge.
    #[error("the captcha challenge signature does not verify")]
    BadSignature,
    /// The challenge's expiry has passed, or it has none.
    #[error("the captcha challenge has expired")]
    Expired,
    /// The number does not solve the challenge.
    #[error("the captcha solution is wrong")]
    Wrong,
    /// The solution was accepted before.
    #[error("the captcha solution was used already")]
    Replayed,
    /// The store of used challenges failed.
    #[error("the used-captcha store failed: {0}")]
    Store(String),
}

impl CaptchaError {
    /// The one message to show the user, whatever the reason.
    pub fn user_message(&self) -> &'static str {
        "The automatic check that you are not a robot did not complete. Wait for \u{201c}Verified\u{201d} and submit again."
    }
}

/// Issues and verifies challenges; see the [module docs](self). Cheap to clone.
#[derive(Clone)]
pub struct Captcha {
    signer: Signer,
    used: Arc<dyn UsedCaptchas>,
    max_number: u64,
    ttl: Duration,
}

impl fmt::Debug for Captcha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Captcha")
            .field("used", &self.used)
            .field("max_number", &self.max_number)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// A difficulty outside [`MIN_MAX_NUMBER`]..=[`MAX_MAX_NUMBER`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("captcha maxnumber {0} is outside {MIN_MAX_NUMBER}..={MAX_MAX_NUMBER}")]
pub struct DifficultyError(pub u64);

impl Captcha {
    /// Challenges signed with the ring's [`Purpose::Captcha`] key, remembered in `used`, at the
    /// default difficulty and lifetime.
    pub fn new(keys: &KeyRing, used: impl UsedCaptchas + 'static) -> Self {
        Self {
            signer: keys.signer(Purpose::Captcha),
            used: Arc::new(used),
            max_number: DEFAULT_MAX_NUMBER,
            ttl: DEFAULT_TTL,
        }
    }

    /// Sets the difficulty: the secret number is drawn from `0..=max_number`.
    ///
    /// # Errors
    ///
    /// [`DifficultyError`] outside [`MIN_MAX_NUMBER`]..=[`MAX_MAX_NUMBER`].
    pub fn with_max_number(mut self, max_number: u64) -> Result<Self, DifficultyError> {
        if !(MIN_MAX_NUMBER..=MAX_MAX_NUMBER).contains(&max_number) {
            return Err(DifficultyError(max_number));
        }
        self.max_number = max_number;
        Ok(self)
    }

    /// Sets how long a challenge stays valid (at least one minute).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.max(Duration::from_secs(60));
        self
    }

    /// A fresh challenge.
    pub fn challenge(&self) -> Challenge {
        self.challenge_at(unix_now())
    }

    fn challenge_at(&self, now: i64) -> Challenge {
        let mut rng = rand::rng();
        let random: [u8; 12] = rng.random();
        let expires = now.saturating_add(secs(self.ttl));
        let salt = format!("{}?expires={expires}&", hex::encode(random));
        let number = rng.random_range(0..=self.max_number);
        let challenge = hash_hex(&salt, number);
        let signature = hex::encode(self.signer.sign(challenge.as_bytes()));
        Challenge {
            algorithm: "SHA-256".to_owned(),
            challenge,
            maxnumber: self.max_number,
            salt,
            signature,
        }
    }

    /// Checks the value of the [`FIELD`] form field and, when it is a valid solution, records
    /// it as used.
    ///
    /// # Errors
    ///
    /// A [`CaptchaError`] naming the first check that failed, in the order of the
    /// [module docs](self).
    pub async fn verify(&self, field: Option<&str>) -> Result<(), CaptchaError> {
        let outcome = self.verify_at(field, unix_now()).await;
        if let Err(err) = &outcome {
            tracing::info!(reason = %err, "captcha refused");
        }
        outcome
    }

    async fn verify_at(&self, field: Option<&str>, now: i64) -> Result<(), CaptchaError> {
        let field = field.map(str::trim).unwrap_or_default();
        if field.is_empty() {
            return Err(CaptchaError::Missing);
        }
        if field.len() > MAX_FIELD_LEN {
            return Err(CaptchaError::Malformed);
        }
        let json = STANDARD
            .decode(field)
            .or_else(|_| STANDARD_NO_PAD.decode(field))
            .map_err(|_| CaptchaError::Malformed)?;
        let payload: Payload =
            serde_json::from_slice(&json).map_err(|_| CaptchaError::Malformed)?;
        if payload.algorithm != "SHA-256" {
            return Err(CaptchaError::Malformed);
        }

        let tag = hex::decode(&payload.signature).map_err(|_| CaptchaError::BadSignature)?;
        if !self.signer.verify(payload.challenge.as_bytes(), &tag) {
            return Err(CaptchaError::BadSignature);
        }
        let expires = expires_of(&payload.salt).ok_or(CaptchaError::Expired)?;
        if expires <= now {
            return Err(CaptchaError::Expired);
        }
        if hash_hex(&payload.salt, payload.number) != payload.challenge {
            return Err(CaptchaError::Wrong);
        }

        match self.used.first_use(&payload.challenge, expires).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(CaptchaError::Replayed),
            Err(err) => {
                tracing::error!(error = %err, "used-captcha store failed");
                Err(CaptchaError::Store(err.to_string()))
            }
        }
    }
}

/// Finds the number that solves `challenge` and returns the [`FIELD`] value a browser would
/// send, or `None` when no number up to `maxnumber` solves it. For tests and scripts.
pub fn solve(challenge: &Challenge) -> Option<String> {
    let number =
        (0..=challenge.maxnumber).find(|n| hash_hex(&challenge.salt, *n) == challenge.challenge)?;
    let payload = Payload {
        algorithm: challenge.algorithm.clone(),
        challenge: challenge.challenge.clone(),
        number,
        salt: challenge.salt.clone(),
        signature: challenge.signature.clone(),
    };
    Some(STANDARD.encode(serde_json::to_vec(&payload).ok()?))
}

/// True when the honeypot field ([`HONEYPOT_FIELD`]) is absent or empty, as a person leaves
/// it.
pub fn honeypot_ok(value: Option<&str>) -> bool {
    value.is_none_or(str::is_empty)
}

fn hash_hex(salt: &str, number: u64) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(number.to_string().as_bytes());
    hex::encode(hasher.finalize())
}

/// The `expires` parameter of a salt such as `abc?expires=1700000000&`.
fn expires_of(salt: &str) -> Option<i64> {
    let (_, query) = salt.split_once('?')?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("expires=")?.parse().ok())
}

/// Remembers accepted challenges until they expire, so that each is accepted once.
#[async_trait::async_trait]
pub trait UsedCaptchas: Send + Sync + fmt::Debug {
    /// Records `challenge` as used until `expires_at` (Unix seconds). True when it was not
    /// recorded before.
    ///
    /// # Errors
    ///
    /// When the store fails; the solution is then refused.
    async fn first_use(
        &self,
        challenge: &str,
        expires_at: i64,
    ) -> Result<bool, Box<dyn std::error::Error + Send + Sync>>;
}

/// Used challenges in the `palisade_used_captchas` table (migration `0014_used_captchas.sql`):
/// the default, shared by every instance of the application.
#[derive(Clone, Debug)]
pub struct SqlUsedCaptchas {
    pool: SqlitePool,
}

impl SqlUsedCaptchas {
    /// A store over `pool`, whose migrations have run ([`crate::db::migrate`]).
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

#[async_trait::async_trait]
impl UsedCaptchas for SqlUsedCaptchas {
    async fn first_use(
        &self,
        challenge: &str,
        expires_at: i64,
    ) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
        sqlx::query("DELETE FROM palisade_used_captchas WHERE expires_at < ?")
            .bind(unix_now())
            .execute(&self.pool)
            .await?;
        let done = sqlx::query(
            "INSERT INTO palisade_used_captchas (challenge, expires_at) VALUES (?, ?) \
             ON CONFLICT (challenge) DO NOTHING",
        )
        .bind(challenge)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// Used challenges in memory, for a single instance or tests. Holds at most `capacity` entries;
/// when full, expired ones are dropped, and if none has expired the solution is refused (the
/// store never forgets an unexpired challenge, which would allow a replay).
#[derive(Debug)]
pub struct MemoryUsedCaptchas {
    entries: Mutex<HashMap<String, i64>>,
    capacity: usize,
}

impl Default for MemoryUsedCaptchas {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryUsedCaptchas {
    /// A store for up to 100,000 unexpired challenges.
    pub fn new() -> Self {
        Self::with_capacity(100_000)
    }

    /// A store for up to `capacity` unexpired challenges.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }
}

#[async_trait::async_trait]
impl UsedCaptchas for MemoryUsedCaptchas {
    async fn first_use(
        &self,
        challenge: &str,
        expires_at: i64,
    ) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
        let mut entries = self
            .entries
            .lock()
            .map_err(|_| "used-captcha store poisoned")?;
        if entries.contains_key(challenge) {
            return Ok(false);
        }
        if entries.len() >= self.capacity {
            let now = unix_now();
            entries.retain(|_, expires| *expires >= now);
            if entries.len() >= self.capacity {
                return Err("used-captcha store is full".into());
            }
        }
        entries.insert(challenge.to_owned(), expires_at);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captcha() -> Captcha {
        Captcha::new(&KeyRing::generate(), MemoryUsedCaptchas::new())
            .with_max_number(MIN_MAX_NUMBER)
            .unwrap()
    }

    fn decode(field: &str) -> serde_json::Value {
        serde_json::from_slice(&STANDARD.decode(field).unwrap()).unwrap()
    }

    fn encode(value: &serde_json::Value) -> String {
        STANDARD.encode(serde_json::to_vec(value).unwrap())
    }

    #[test]
    fn a_challenge_has_the_altcha_shape() {
        let captcha = Captcha::new(&KeyRing::generate(), MemoryUsedCaptchas::new());
        let challenge = captcha.challenge();
        let json: serde_json::Value = serde_json::from_str(&challenge.to_json()).unwrap();
        assert_eq!(json["algorithm"], "SHA-256");
        assert_eq!(json["maxnumber"], DEFAULT_MAX_NUMBER);
        assert_eq!(json["challenge"].as_str().unwrap().len(), 64);
        assert_eq!(json["signature"].as_str().unwrap().len(), 64);
        let salt = json["salt"].as_str().unwrap();
        assert!(salt.ends_with('&') && salt.contains("?expires="), "{salt}");
        let expires = expires_of(salt).unwrap();
        assert!((expires - unix_now() - secs(DEFAULT_TTL)).abs() <= 2);
    }

    #[tokio::test]
    async fn a_valid_solution_is_accepted() {
        let captcha = captcha();
        let field = solve(&captcha.challenge()).unwrap();
        assert_eq!(captcha.verify(Some(&field)).await, Ok(()));
    }

    #[tokio::test]
    async fn a_solution_in_the_browser_script_form_is_accepted() {
        // captcha.js adds ALTCHA's `took` member; unknown members are ignored.
        let captcha = captcha();
        let field = solve(&captcha.challenge()).unwrap();
        let mut from_browser = decode(&field);
        from_browser["took"] = 412.into();
        assert_eq!(captcha.verify(Some(&encode(&from_browser))).await, Ok(()));
    }

    #[tokio::test]
    async fn a_missing_solution_is_refused() {
        let captcha = captcha();
        assert_eq!(captcha.verify(None).await, Err(CaptchaError::Missing));
        assert_eq!(captcha.verify(Some("")).await, Err(CaptchaError::Missing));
        assert_eq!(captcha.verify(Some("  ")).await, Err(CaptchaError::Missing));
    }

    #[tokio::test]
    async fn a_malformed_solution_is_refused() {
        let captcha = captcha();
        let field = solve(&captcha.challenge()).unwrap();
        let mut other_algorithm = decode(&field);
        other_algorithm["algorithm"] = "SHA-1".into();
        for bad in [
            "not base64!".to_owned(),
            STANDARD.encode("not json"),
            STANDARD.encode("{\"algorithm\":\"SHA-256\"}"),
            encode(&other_algorithm),
            "A".repeat(MAX_FIELD_LEN + 4),
        ] {
            assert_eq!(
                captcha.verify(Some(&bad)).await,
                Err(CaptchaError::Malformed),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn a_wrong_number_is_refused() {
        let captcha = captcha();
        let field = solve(&captcha.challenge()).unwrap();
        let mut wrong = decode(&field);
        wrong["number"] = (wrong["number"].as_u64().unwrap() + 1).into();
        assert_eq!(
            captcha.verify(Some(&encode(&wrong))).await,
            Err(CaptchaError::Wrong)
        );
        // The wrong attempt did not use up the challenge.
        assert_eq!(captcha.verify(Some(&field)).await, Ok(()));
    }

    #[tokio::test]
    async fn an_expired_challenge_is_refused() {
        let captcha = captcha();
        let challenge = captcha.challenge_at(unix_now() - secs(DEFAULT_TTL) - 1);
        let field = solve(&challenge).unwrap();
        assert_eq!(
            captcha.verify(Some(&field)).await,
            Err(CaptchaError::Expired)
        );

        let fresh = solve(&captcha.challenge()).unwrap();
        let later = unix_now() + secs(DEFAULT_TTL) + 1;
        assert_eq!(
            captcha.verify_at(Some(&fresh), later).await,
            Err(CaptchaError::Expired)
        );
    }

    #[tokio::test]
    async fn a_replayed_solution_is_refused() {
        let captcha = captcha();
        let field = solve(&captcha.challenge()).unwrap();
        assert_eq!(captcha.verify(Some(&field)).await, Ok(()));
        assert_eq!(
            captcha.verify(Some(&field)).await,
            Err(CaptchaError::Replayed)
        );
    }

    #[tokio::test]
    async fn a_tampered_signature_is_refused() {
        let captcha = captcha();
        let field = solve(&captcha.challenge()).unwrap();
        let mut tampered = decode(&field);
        let mut signature = tampered["signature"].as_str().unwrap().to_owned();
        let flipped = if signature.starts_with('0') { "1" } else { "0" };
        signature.replace_range(0..1, flipped);
        tampered["signature"] = signature.into();
        assert_eq!(
            captcha.verify(Some(&encode(&tampered))).await,
            Err(CaptchaError::BadSignature)
        );

        let mut not_hex = decode(&field);
        not_hex["signature"] = "zz".into();
        assert_eq!(
            captcha.verify(Some(&encode(&not_hex))).await,
            Err(CaptchaError::BadSignature)
        );
    }

    #[tokio::test]
    async fn a_challenge_from_another_key_is_refused() {
        let ours = captcha();
        let theirs = captcha();
        let field = solve(&theirs.challenge()).unwrap();
        assert_eq!(
            ours.verify(Some(&field)).await,
            Err(CaptchaError::BadSignature)
        );
    }

    #[tokio::test]
    async fn a_longer_expiry_cannot_be_forged() {
        // An attacker who changes the salt's expiry must find a new challenge, and cannot sign it.
        let captcha = captcha();
        let challenge = captcha.challenge_at(unix_now() - secs(DEFAULT_TTL) - 1);
        let field = solve(&challenge).unwrap();
        let mut forged = decode(&field);
        let salt = forged["salt"].as_str().unwrap().to_owned();
        let (random, _) = salt.split_once('?').unwrap();
        let salt = format!("{random}?expires={}&", unix_now() + 3600);
        forged["challenge"] = hash_hex(&salt, 0).into();
        forged["salt"] = salt.into();
        forged["number"] = 0.into();
        assert_eq!(
            captcha.verify(Some(&encode(&forged))).await,
            Err(CaptchaError::BadSignature)
        );
    }

    #[tokio::test]
    async fn a_salt_without_expiry_is_refused() {
        let captcha = captcha();
        let salt = "00112233?".to_owned();
        let challenge_hex = hash_hex(&salt, 5);
        let signature = hex::encode(captcha.signer.sign(challenge_hex.as_bytes()));
        let field = encode(&serde_json::json!({
            "algorithm": "SHA-256", "challenge": challenge_hex, "number": 5, "salt": salt, "signature": signature
        }));
        assert_eq!(
            captcha.verify(Some(&field)).await,
            Err(CaptchaError::Expired)
        );
    }

    #[tokio::test]
    async fn the_sql_store_accepts_each_challenge_once() {
        let pool = crate::db::connect_sqlite_memory().await.unwrap();
        crate::db::migrate(&pool).await.unwrap();
        let captcha = Captcha::new(&KeyRing::generate(), SqlUsedCaptchas::new(pool.clone()))
            .with_max_number(MIN_MAX_NUMBER)
            .unwrap();
        let field = solve(&captcha.challenge()).unwrap();
        assert_eq!(captcha.verify(Some(&field)).await, Ok(()));
        assert_eq!(
            captcha.verify(Some(&field)).await,
            Err(CaptchaError::Replayed)
        );

        // Expired entries are cleaned up on the next use.
        sqlx::query("INSERT INTO palisade_used_captchas (challenge, expires_at) VALUES ('old', 1)")
            .execute(&pool)
            .await
            .unwrap();
        let other = solve(&captcha.challenge()).unwrap();
        assert_eq!(captcha.verify(Some(&other)).await, Ok(()));
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM palisade_used_captchas")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(rows, 2);
    }

    #[tokio::test]
    async fn a_full_memory_store_drops_expired_entries_and_never_unexpired_ones() {
        let store = MemoryUsedCaptchas::with_capacity(2);
        let now = unix_now();
        assert!(store.first_use("a", now - 10).await.unwrap());
        assert!(store.first_use("b", now + 100).await.unwrap());
        assert!(store.first_use("c", now + 100).await.unwrap());
        assert!(!store.first_use("b", now + 100).await.unwrap());
        assert!(store.first_use("d", now + 100).await.is_err());
    }

    #[test]
    fn the_difficulty_is_bounded() {
        let keys = KeyRing::generate();
        assert!(
            Captcha::new(&keys, MemoryUsedCaptchas::new())
                .with_max_number(999)
                .is_err()
        );
        assert!(
            Captcha::new(&keys, MemoryUsedCaptchas::new())
                .with_max_number(10_000_001)
                .is_err()
        );
        assert!(
            Captcha::new(&keys, MemoryUsedCaptchas::new())
                .with_max_number(100_000)
                .is_ok()
        );
    }

    #[test]
    fn the_honeypot_must_be_empty() {
        assert!(honeypot_ok(None));
        assert!(honeypot_ok(Some("")));
        assert!(!honeypot_ok(Some("http://spam.example")));
        assert!(!honeypot_ok(Some(" ")));
    }

    #[test]
    fn the_browser_scripts_use_no_eval_and_no_inline_styles() {
        for script in [CAPTCHA_JS, CAPTCHA_WORKER_JS] {
            for forbidden in [
                "eval(",
                "new Function",
                ".style",
                "innerHTML",
                "setAttribute('style'",
                "document.write",
            ] {
                assert!(!script.contains(forbidden), "{forbidden}");
            }
        }
        assert!(CAPTCHA_WORKER_JS.contains("crypto.subtle.digest"));
        assert!(
            CAPTCHA_JS.contains("data-captcha-challenge")
                && CAPTCHA_JS.contains("captcha-challenge")
        );
    }

    #[test]
    fn the_user_message_says_what_to_do() {
        assert!(
            CaptchaError::Replayed
                .user_message()
                .contains("submit again")
        );
    }
}
