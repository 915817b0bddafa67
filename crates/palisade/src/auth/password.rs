//! Password hashing: argon2id, off the async runtime, with rehash-on-login and equal-cost
//! verification for accounts that do not exist.
//!
//! - **Algorithm and cost.** argon2id v19 with at least OWASP's minimum: 19 MiB of memory, two
//!   passes, one lane ([`PasswordParams::default`]). Hashes are PHC strings
//!   (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) with a 16-byte random salt, so the parameters
//!   travel with each hash and can be raised at any time.
//! - **Rehash on login.** [`Hasher::verify`] reports [`Verified::needs_rehash`] when a correct
//!   password's hash was made with other parameters (or another algorithm); the caller then stores
//!   [`Hasher::hash`] of the same password.
//! - **No blocked runtime.** Hashing costs tens of milliseconds of CPU, so it runs on the
//!   hasher's own threads, one per CPU, and at most one hash per thread runs at once (a
//!   semaphore): a burst of sign-ins queues instead of starving the runtime or the memory. Each
//!   argon2id hash takes its memory cost (19 MiB by default) from the allocator; on the same
//!   few threads that memory is reused hash after hash, where tokio's blocking pool would spread
//!   it over many threads' allocator arenas and keep hundreds of MiB after a burst.
//! - **Equal timing for unknown accounts.** A sign-in for an address that has no account must take
//!   as long as one with a wrong password, or the response time tells which addresses are
//!   registered. [`Hasher::verify_dummy`] verifies against a hash of a random password made when
//!   the [`Hasher`] was built, with the same parameters, and always fails.
//! - **Unicode.** Passwords are normalised to NFKC before hashing and verifying (NIST SP 800-63B
//!   5.1.1.2), so the same password typed on two keyboards that compose characters differently
//!   still matches. [`normalize`] is the one place this happens; [`crate::auth::policy`] checks
//!   the normalised form too.
//! - **Length.** Passwords over [`MAX_PASSWORD_BYTES`] are refused before any work is done.
//!
//! ```
//! # async fn demo() -> Result<(), palisade::auth::password::PasswordError> {
//! use palisade::auth::password::{Hasher, PasswordParams};
//!
//! # let params = PasswordParams::new(1024, 1, 1)?;
//! # let _ = PasswordParams::default();
//! let hasher = Hasher::new(params)?; // PasswordParams::default() in production
//! let phc = hasher.hash("correct horse battery staple").await?;
//! assert!(phc.starts_with("$argon2id$v=19$"));
//!
//! let verified = hasher.verify("correct horse battery staple", &phc).await?;
//! assert!(verified.ok && !verified.needs_rehash);
//! assert!(!hasher.verify("wrong", &phc).await?.ok);
//!
//! // For an unknown email: same cost, always a failure.
//! hasher.verify_dummy("whatever they typed").await;
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex, mpsc};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore as _;
use tokio::sync::Semaphore;
use unicode_normalization::UnicodeNormalization as _;

/// The longest password accepted, in bytes of UTF-8 as received.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The length of the random salt, in bytes.
const SALT_LEN: usize = 16;

/// Why hashing or verifying failed. None of these mean "wrong password": that is
/// [`Verified::ok`] being false.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The password is longer than [`MAX_PASSWORD_BYTES`].
    #[error("the password is longer than {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    /// The parameters are below OWASP's minimum or invalid for argon2.
    #[error(
        "argon2 parameters m={memory_kib} KiB, t={iterations}, p={parallelism} are invalid: {reason}"
    )]
    Params {
        /// Memory in KiB.
        memory_kib: u32,
        /// Passes over memory.
        iterations: u32,
        /// Lanes.
        parallelism: u32,
        /// What is wrong with them.
        reason: String,
    },
    /// The stored hash is not a PHC string this hasher understands.
    #[error("the stored password hash is malformed or of an unsupported algorithm")]
    MalformedHash,
    /// argon2 itself failed.
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// The blocking task was cancelled or panicked.
    #[error("the password hashing task did not complete")]
    Task,
}

/// argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordParams {
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
}

impl PasswordParams {
    /// OWASP's minimum memory for argon2id at two passes, in KiB.
    pub const OWASP_MIN_MEMORY_KIB: u32 = 19_456;

    /// Any valid argon2 parameters: `memory_kib` KiB of memory, `iterations` passes, and
    /// `parallelism` lanes. Use this to raise the cost; for tests and examples it also allows
    /// lowering it, which [`PasswordParams::checked`] refuses.
    ///
    /// # Errors
    ///
    /// [`PasswordError::Params`] when argon2 refuses the combination.
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self, PasswordError> {
        let params = Self {
            memory_kib,
            iterations,
            parallelism,
        };
        params.argon2_params()?;
        Ok(params)
    }

    /// Like [`PasswordParams::new`], refusing anything weaker than OWASP's minimum
    /// (m=19456 KiB with t=2, or m=12288 KiB with t=3, m=9216 KiB with t=4, m=7168 KiB with
    /// t=5; p=1). Use this for parameters read from configuration.
    ///
    /// # Errors
    ///
    /// [`PasswordError::Params`] for invalid or too weak parameters.
    pub fn checked(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
    ) -> Result<Self, PasswordError> {
        let params = Self::new(memory_kib, iterations, parallelism)?;
        let min_memory = match iterations {
            0 | 1 => u32::MAX,
            2 => Self::OWASP_MIN_MEMORY_KIB,
            3 => 12_288,
            4 => 9_216,
            _ => 7_168,
        };
        if memory_kib < min_memory {
            return Err(params.error("below OWASP's minimum for argon2id".to_owned()));
        }
        Ok(params)
    }

    /// Memory cost in KiB.
    pub fn memory_kib(&self) -> u32 {
        self.memory_kib
    }

    /// Number of passes.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// Number of lanes.
    pub fn parallelism(&self) -> u32 {
        self.parallelism
    }

    fn argon2_params(&self) -> Result<Params, PasswordError> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|err| self.error(err.to_string()))
    }

    fn error(&self, reason: String) -> PasswordError {
        PasswordError::Params {
            memory_kib: self.memory_kib,
            iterations: self.iterations,
            parallelism: self.parallelism,
            reason,
        }
    }
}

impl Default for PasswordParams {
    /// OWASP's recommended minimum: m=19456 KiB, t=2, p=1.
    fn default() -> Self {
        Self {
            memory_kib: Self::OWASP_MIN_MEMORY_KIB,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// The outcome of [`Hasher::verify`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The password matches the hash.
    pub ok: bool,
    /// The password matches, but the hash was made with other parameters or another algorithm:
    /// store a fresh [`Hasher::hash`] of the password.
    pub needs_rehash: bool,
}

/// Hashes and verifies passwords on a bounded pool; see the [module docs](self). Cheap to clone.
#[derive(Clone)]
pub struct Hasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: PasswordParams,
    argon2: Argon2<'static>,
    permits: Arc<Semaphore>,
    dummy_hash: String,
    /// The hashing threads' queue; they stop when the last hasher is dropped.
    queue: mpsc::Sender<Job>,
}

type Job = Box<dyn FnOnce() + Send>;

/// `count` threads running the jobs sent to the returned queue, until it is dropped.
fn start_threads(count: usize) -> Result<mpsc::Sender<Job>, PasswordError> {
    let (queue, jobs) = mpsc::channel::<Job>();
    let jobs = Arc::new(Mutex::new(jobs));
    for n in 0..count {
        let jobs = Arc::clone(&jobs);
        std::thread::Builder::new()
            .name(format!("password-hash-{n}"))
            .spawn(move || {
                loop {
                    let next = match jobs.lock() {
                        Ok(jobs) => jobs.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = next else { return };
                    // A panicking job drops its answer channel (the caller sees a failed task);
                    // the thread stays for the next one.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            })
            .map_err(|err| PasswordError::Hashing(format!("starting a hashing thread: {err}")))?;
    }
    Ok(queue)
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher")
            .field("params", &self.inner.params)
            .field("available_permits", &self.inner.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl Hasher {
    /// A hasher with `params`, allowing one hash per CPU at a time.
    ///
    /// Hashes one random password with `params` (for [`Hasher::verify_dummy`]), so building it
    /// costs one hash: do it once, at start-up.
    ///
    /// # Errors
    ///
    /// [`PasswordError::Params`] for invalid parameters, and [`PasswordError::Hashing`] when the
    /// dummy hash cannot be made.
    pub fn new(params: PasswordParams) -> Result<Self, PasswordError> {
        let concurrency = std::thread::available_parallelism().map_or(1, usize::from);
        Self::with_concurrency(params, concurrency)
    }

    /// Like [`Hasher::new`], with at most `concurrency` hashes at once (at least one).
    ///
    /// # Errors
    ///
    /// As [`Hasher::new`].
    pub fn with_concurrency(
        params: PasswordParams,
        concurrency: usize,
    ) -> Result<Self, PasswordError> {
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.argon2_params()?);

        let mut random = [0u8; 24];
        rand::rng().fill_bytes(&mut random);
        let dummy_hash = hash_blocking(&argon2, &hex::encode(random))?;

        tracing::debug!(
            memory_kib = params.memory_kib,
            iterations = params.iterations,
            parallelism = params.parallelism,
            concurrency,
            "password hasher ready"
        );
        let permits = Arc::new(Semaphore::new(concurrency.max(1)));
        let queue = start_threads(concurrency.max(1))?;
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                argon2,
                permits,
                dummy_hash,
                queue,
            }),
        })
    }

    /// The parameters new hashes are made with.
    pub fn params(&self) -> PasswordParams {
        self.inner.params
    }

    /// The PHC string of `password` under a fresh random salt.
    ///
    /// # Errors
    ///
    /// [`PasswordError::TooLong`] over [`MAX_PASSWORD_BYTES`]; [`PasswordError::Hashing`] and
    /// [`PasswordError::Task`] for internal failures.
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(PasswordError::TooLong);
        }
        let password = password.to_owned();
        self.run(move |inner| hash_blocking(&inner.argon2, &password))
            .await?
    }

    /// Checks `password` against the PHC string `phc`.
    ///
    /// A password over [`MAX_PASSWORD_BYTES`] cannot have been set, so it is a mismatch,
    /// answered without hashing.
    ///
    /// # Errors
    ///
    /// [`PasswordError::MalformedHash`] when `phc` is not an argon2 PHC string, and
    /// [`PasswordError::Task`] for internal failures. A wrong password is not an error.
    pub async fn verify(&self, password: &str, phc: &str) -> Result<Verified, PasswordError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(Verified {
                ok: false,
                needs_rehash: false,
            });
        }
        let password = password.to_owned();
        let phc = phc.to_owned();
        self.run(move |inner| verify_blocking(inner, &password, &phc))
            .await?
    }

    /// Verifies `password` against the dummy hash made at start-up: the same work as
    /// [`Hasher::verify`] of a wrong password, for sign-ins to unknown accounts. Always a
    /// mismatch, so nothing to return.
    pub async fn verify_dummy(&self, password: &str) {
        let password: String = password.chars().take(MAX_PASSWORD_BYTES).collect();
        let outcome = self
            .run(move |inner| verify_blocking(inner, &password, &inner.dummy_hash))
            .await;
        if outcome.is_err() {
            tracing::error!("dummy password verification did not complete");
        }
    }

    /// Runs `job` on a hashing thread once a permit is free. The permit moves into the job, so
    /// a caller that gives up waiting (a closed connection) does not free it while the hash is
    /// still running.
    async fn run<T, F>(&self, job: F) -> Result<T, PasswordError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> T + Send + 'static,
    {
        let permit = Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            .map_err(|_| PasswordError::Task)?;
        let inner = Arc::clone(&self.inner);
        let (answer, outcome) = tokio::sync::oneshot::channel();
        let task: Job = Box::new(move || {
            let outcome = job(&inner);
            drop(permit);
            let _ = answer.send(outcome);
        });
        if self.inner.queue.send(task).is_err() {
            tracing::error!("the password hashing threads are gone");
            return Err(PasswordError::Task);
        }
        outcome.await.map_err(|_| {
            tracing::error!("password hashing task failed");
            PasswordError::Task
        })
    }
}

/// The form a password is hashed and checked in: Unicode NFKC (NIST SP 800-63B 5.1.1.2).
pub fn normalize(password: &str) -> Cow<'_, str> {
    if unicode_normalization::is_nfkc_quick(password.chars())
        == unicode_normalization::IsNormalized::Yes
    {
        Cow::Borrowed(password)
    } else {
        Cow::Owned(password.nfkc().collect())
    }
}

fn hash_blocking(argon2: &Argon2<'_>, password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; SALT_LEN];
    rand::rng().fill_bytes(&mut salt);
    argon2
        .hash_password_with_salt(normalize(password).as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| PasswordError::Hashing(err.to_string()))
}

fn verify_blocking(inner: &Inner, password: &str, phc: &str) -> Result<Verified, PasswordError> {
    let parsed = PasswordHash::new(phc).map_err(|_| PasswordError::MalformedHash)?;
    match inner
        .argon2
        .verify_password(normalize(password).as_bytes(), &parsed)
    {
        Ok(()) => Ok(Verified {
            ok: true,
            needs_rehash: needs_rehash(&inner.params, &parsed),
        }),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(Verified {
            ok: false,
            needs_rehash: false,
        }),
        Err(_) => Err(PasswordError::MalformedHash),
    }
}

/// True when `hash` was not made by argon2id v19 with exactly `params` and the default output
/// length.
fn needs_rehash(params: &PasswordParams, hash: &PasswordHash) -> bool {
    if hash.algorithm.as_str() != argon2::ARGON2ID_IDENT.as_str()
        || hash.version != Some(Version::V0x13.into())
    {
        return true;
    }
    let Ok(stored) = Params::try_from(hash) else {
        return true;
    };
    stored.m_cost() != params.memory_kib
        || stored.t_cost() != params.iterations
        || stored.p_cost() != params.parallelism
        || stored.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN) != Params::DEFAULT_OUTPUT_LEN
        || hash.salt.as_ref().is_none_or(|salt| salt.len() < SALT_LEN)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    /// Cheap parameters: the tests are about behaviour, not cost.
    fn fast() -> PasswordParams {
        PasswordParams::new(256, 1, 1).unwrap()
    }

    #[test]
    fn the_default_parameters_meet_owasp_minimum() {
        let params = PasswordParams::default();
        assert_eq!(
            (
                params.memory_kib(),
                params.iterations(),
                params.parallelism()
            ),
            (19_456, 2, 1)
        );
        assert!(PasswordParams::checked(19_456, 2, 1).is_ok());
        assert!(PasswordParams::checked(12_288, 3, 1).is_ok());
    }

    #[test]
    fn configuration_below_owasp_minimum_is_refused() {
        assert!(matches!(
            PasswordParams::checked(19_455, 2, 1),
            Err(PasswordError::Params { .. })
        ));
        assert!(matches!(
            PasswordParams::checked(65_536, 1, 1),
            Err(PasswordError::Params { .. })
        ));
        assert!(matches!(
            PasswordParams::new(4, 1, 1),
            Err(PasswordError::Params { .. })
        ));
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let hasher = Hasher::new(fast()).unwrap();
        let phc = hasher.hash("correct horse battery staple").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{phc}");

        let good = hasher
            .verify("correct horse battery staple", &phc)
            .await
            .unwrap();
        assert_eq!(
            good,
            Verified {
                ok: true,
                needs_rehash: false
            }
        );
        let bad = hasher
            .verify("correct horse battery stapler", &phc)
            .await
            .unwrap();
        assert_eq!(
            bad,
            Verified {
                ok: false,
                needs_rehash: false
            }
        );
    }

    #[tokio::test]
    async fn the_same_password_hashes_differently_each_time() {
        let hasher = Hasher::new(fast()).unwrap();
        let a = hasher.hash("same password").await.unwrap();
        let b = hasher.hash("same password").await.unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn the_default_parameters_produce_owasp_strength_hashes() {
        let hasher = Hasher::with_concurrency(PasswordParams::default(), 1).unwrap();
        let phc = hasher.hash("a long enough passphrase").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    }

    #[tokio::test]
    async fn a_hash_made_with_other_parameters_needs_rehash() {
        let old = Hasher::new(fast()).unwrap();
        let phc = old.hash("correct horse battery staple").await.unwrap();

        let stronger = Hasher::new(PasswordParams::new(512, 2, 1).unwrap()).unwrap();
        let verified = stronger
            .verify("correct horse battery staple", &phc)
            .await
            .unwrap();
        assert_eq!(
            verified,
            Verified {
                ok: true,
                needs_rehash: true
            }
        );
        let wrong = stronger.verify("wrong", &phc).await.unwrap();
        assert_eq!(
            wrong,
            Verified {
                ok: false,
                needs_rehash: false
            }
        );

        let fresh = stronger.hash("correct horse battery staple").await.unwrap();
        let verified = stronger
            .verify("correct horse battery staple", &fresh)
            .await
            .unwrap();
        assert_eq!(
            verified,
            Verified {
                ok: true,
                needs_rehash: false
            }
        );
    }

    #[tokio::test]
    async fn an_argon2i_hash_verifies_and_needs_rehash() {
        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            fast().argon2_params().unwrap(),
        );
        let phc = argon2i
            .hash_password_with_salt(b"old scheme password", &[7u8; 16])
            .unwrap()
            .to_string();
        let hasher = Hasher::new(fast()).unwrap();
        let verified = hasher.verify("old scheme password", &phc).await.unwrap();
        assert_eq!(
            verified,
            Verified {
                ok: true,
                needs_rehash: true
            }
        );
    }

    #[tokio::test]
    async fn a_malformed_hash_is_an_error_not_a_match() {
        let hasher = Hasher::new(fast()).unwrap();
        for phc in [
            "",
            "plaintext",
            "$argon2id$v=19$m=256,t=1,p=1$",
            "$2b$12$abcdefghijklmnopqrstuv",
        ] {
            assert!(
                matches!(
                    hasher.verify("x", phc).await,
                    Err(PasswordError::MalformedHash)
                ),
                "{phc}"
            );
        }
    }

    #[tokio::test]
    async fn overlong_passwords_are_refused_without_hashing() {
        let hasher = Hasher::new(fast()).unwrap();
        let long = "a".repeat(MAX_PASSWORD_BYTES + 1);
        assert!(matches!(
            hasher.hash(&long).await,
            Err(PasswordError::TooLong)
        ));
        let phc = hasher.hash("short").await.unwrap();
        assert!(!hasher.verify(&long, &phc).await.unwrap().ok);
        assert!(hasher.hash(&"a".repeat(MAX_PASSWORD_BYTES)).await.is_ok());
    }

    #[tokio::test]
    async fn composed_and_decomposed_unicode_match() {
        let hasher = Hasher::new(fast()).unwrap();
        let phc = hasher.hash("caf\u{e9} au lait").await.unwrap();
        assert!(hasher.verify("cafe\u{301} au lait", &phc).await.unwrap().ok);
        // NFKC also folds compatibility forms such as full-width letters.
        let phc = hasher.hash("\u{ff21}BC").await.unwrap();
        assert!(hasher.verify("ABC", &phc).await.unwrap().ok);
    }

    #[tokio::test]
    async fn dummy_verification_costs_about_as_much_as_a_real_one() {
        let hasher = Hasher::with_concurrency(PasswordParams::new(4096, 2, 1).unwrap(), 1).unwrap();
        let phc = hasher.hash("the real password").await.unwrap();
        // Warm up both paths once.
        hasher.verify("a wrong password", &phc).await.unwrap();
        hasher.verify_dummy("a wrong password").await;

        let mut real = Vec::new();
        let mut dummy = Vec::new();
        for _ in 0..5 {
            let start = Instant::now();
            hasher.verify("a wrong password", &phc).await.unwrap();
            real.push(start.elapsed());
            let start = Instant::now();
            hasher.verify_dummy("a wrong password").await;
            dummy.push(start.elapsed());
        }
        let median = |mut v: Vec<Duration>| {
            v.sort();
            v[v.len() / 2]
        };
        let ratio = median(dummy).as_secs_f64() / median(real).as_secs_f64();
        assert!(
            (0.5..=2.0).contains(&ratio),
            "dummy/real time ratio {ratio}"
        );
    }

    #[tokio::test]
    async fn concurrent_hashes_never_exceed_the_permits() {
        let hasher = Hasher::with_concurrency(fast(), 2).unwrap();
        let jobs: Vec<_> = (0..8)
            .map(|i| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.hash(&format!("password {i}")).await })
            })
            .collect();
        for job in jobs {
            assert!(job.await.unwrap().is_ok());
        }
        assert_eq!(hasher.inner.permits.available_permits(), 2);
    }

    #[test]
    fn debug_output_shows_no_hash() {
        let hasher = Hasher::new(fast()).unwrap();
        let text = format!("{hasher:?}");
        assert!(!text.contains("argon2id$"), "{text}");
    }
}
