//! The password policy of NIST SP 800-63B: long enough, not common, not breached, not guessable,
//! and no composition rules.
//!
//! [`PasswordPolicy::check`] refuses a new password, with a [`PolicyError`] whose message can be
//! shown to the user as it is, when it:
//!
//! 1. is shorter than 12 characters ([`PasswordPolicy::with_min_chars`], at least 8), counted in
//!    Unicode characters after NFKC normalisation (see [`crate::auth::password::normalize`]), or
//!    longer than 1024 bytes ([`MAX_PASSWORD_BYTES`]);
//! 2. contains the local part of the user's email address (case-insensitive, when it has 3 or
//!    more characters);
//! 3. is a common password: zxcvbn finds it (or a small variation of it) in its frequency list of
//!    common passwords;
//! 4. appears in a breached-password list, when one is configured ([`BreachedPasswords`]);
//! 5. is easy to guess: zxcvbn's strength estimate is below 3 of 4 (about 10^10 guesses). The
//!    estimate looks at the first 128 characters, which keeps its cost bounded.
//!
//! Any character is allowed, including spaces and emoji, and nothing demands digits, symbols or
//! mixed case: length and unpredictability are what count.
//!
//! ## Breached passwords
//!
//! [`BreachedFile`] searches an offline copy of a breached-password list in the format of Have I
//! Been Pwned's downloadable SHA-1 file: one `SHA1HEX:COUNT` line per password, sorted by hash.
//! It binary-searches the file on disk, so a file of any size works without loading it.
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use palisade::auth::email::Email;
//! use palisade::auth::policy::{PasswordPolicy, PolicyError};
//!
//! let policy = PasswordPolicy::new();
//! let email = Email::parse("margaret@example.com")?;
//!
//! assert!(policy.check("tidal quartz lantern fog", Some(&email)).await.is_ok());
//! assert_eq!(policy.check("short", None).await, Err(PolicyError::TooShort { min: 12 }));
//! assert_eq!(policy.check("password1234", None).await, Err(PolicyError::Common));
//! assert_eq!(
//!     policy.check("margaret-tidal-quartz", Some(&email)).await,
//!     Err(PolicyError::ContainsEmail)
//! );
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```

use std::cmp::Ordering;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead as _, BufReader, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha1::{Digest as _, Sha1};
use zxcvbn::feedback::Warning;

use crate::auth::email::Email;
pub use crate::auth::password::MAX_PASSWORD_BYTES;
use crate::auth::password::normalize;

/// The default and the smallest allowed minimum length, in characters.
pub const DEFAULT_MIN_CHARS: usize = 12;

/// No minimum below this is accepted (NIST SP 800-63B's floor).
pub const LOWEST_MIN_CHARS: usize = 8;

/// How many leading characters the strength estimate looks at.
const ESTIMATE_CHARS: usize = 128;

/// The lowest zxcvbn score accepted (0 to 4).
const MIN_SCORE: u8 = 3;

/// Why a new password was refused. The message can be shown to the user as it is.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Fewer characters than the minimum.
    #[error(
        "Use at least {min} characters. A few unrelated words make a long password that is easy to remember."
    )]
    TooShort {
        /// The minimum, in characters.
        min: usize,
    },
    /// More bytes than [`MAX_PASSWORD_BYTES`].
    #[error("This password is too long; use at most {max} bytes.")]
    TooLong {
        /// The maximum, in bytes.
        max: usize,
    },
    /// Contains the name part of the user's email address.
    #[error("The password must not contain the part of your email address before the @.")]
    ContainsEmail,
    /// On a list of commonly used passwords.
    #[error("This password is on a list of commonly used passwords. Choose another.")]
    Common,
    /// On a list of passwords exposed in data breaches.
    #[error(
        "This password has appeared in a data breach, so attackers try it first. Choose another."
    )]
    Breached,
    /// Estimated as easy to guess.
    #[error("This password is easy to guess.{hint}")]
    Weak {
        /// Advice from the estimator, starting with a space, or empty.
        hint: String,
    },
    /// The breached-password list could not be searched; the password was not accepted.
    #[error("The password could not be checked right now. Try again in a moment.")]
    Unavailable,
}

/// A list of passwords known from breaches, searched by SHA-1 (the format the public lists use).
#[async_trait::async_trait]
pub trait BreachedPasswords: Send + Sync + fmt::Debug {
    /// Whether the password whose SHA-1 digest is `sha1` is on the list.
    ///
    /// # Errors
    ///
    /// When the list cannot be searched.
    async fn contains(&self, sha1: [u8; 20]) -> io::Result<bool>;
}

/// The password policy; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct PasswordPolicy {
    min_chars: usize,
    breached: Option<Arc<dyn BreachedPasswords>>,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl PasswordPolicy {
    /// The default policy: at least 12 characters, no breached list.
    pub fn new() -> Self {
        Self {
            min_chars: DEFAULT_MIN_CHARS,
            breached: None,
        }
    }

    /// Requires at least `min_chars` characters.
    ///
    /// # Errors
    ///
    /// [`PolicyConfigError::MinTooLow`] below [`LOWEST_MIN_CHARS`], and
    /// [`PolicyConfigError::MinTooHigh`] above 128.
    pub fn with_min_chars(mut self, min_chars: usize) -> Result<Self, PolicyConfigError> {
        if min_chars < LOWEST_MIN_CHARS {
            return Err(PolicyConfigError::MinTooLow(min_chars));
        }
        if min_chars > 128 {
            return Err(PolicyConfigError::MinTooHigh(min_chars));
        }
        self.min_chars = min_chars;
        Ok(self)
    }

    /// Also refuses passwords on `list`.
    pub fn with_breached(mut self, list: impl BreachedPasswords + 'static) -> Self {
        self.breached = Some(Arc::new(list));
        self
    }

    /// The minimum length in characters.
    pub fn min_chars(&self) -> usize {
        self.min_chars
    }

    /// Checks a new password for the owner of `email` (when known).
    ///
    /// # Errors
    ///
    /// The first [`PolicyError`] that applies, in the order of the [module docs](self).
    pub async fn check(&self, password: &str, email: Option<&Email>) -> Result<(), PolicyError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(PolicyError::TooLong {
                max: MAX_PASSWORD_BYTES,
            });
        }
        let normalized = normalize(password);
        if normalized.chars().count() < self.min_chars {
            return Err(PolicyError::TooShort {
                min: self.min_chars,
            });
        }
        if let Some(email) = email {
            let local = email.local_part().to_lowercase();
            if local.chars().count() >= 3 && normalized.to_lowercase().contains(&local) {
                return Err(PolicyError::ContainsEmail);
            }
        }

        let weakness = estimate(&normalized, email);
        if weakness == Some(PolicyError::Common) {
            return Err(PolicyError::Common);
        }

        if let Some(list) = &self.breached {
            let digest: [u8; 20] = Sha1::digest(normalized.as_bytes()).into();
            match list.contains(digest).await {
                Ok(true) => return Err(PolicyError::Breached),
                Ok(false) => {}
                Err(err) => {
                    tracing::error!(error = %err, "breached password list could not be searched");
                    return Err(PolicyError::Unavailable);
                }
            }
        }

        match weakness {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

/// A policy setting that cannot be used.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyConfigError {
    /// The minimum length is below NIST's floor.
    #[error("a minimum password length of {0} is below the floor of {LOWEST_MIN_CHARS} characters")]
    MinTooLow(usize),
    /// The minimum length is above what anyone can be asked to type.
    #[error("a minimum password length of {0} is above the ceiling of 128 characters")]
    MinTooHigh(usize),
}

/// zxcvbn's verdict: `Common`, `Weak` with a hint, or `None` when strong enough.
fn estimate(password: &str, email: Option<&Email>) -> Option<PolicyError> {
    let head: String = password.chars().take(ESTIMATE_CHARS).collect();
    let mut inputs: Vec<String> = Vec::new();
    if let Some(email) = email {
        inputs.push(email.local_part().to_lowercase());
        inputs.extend(
            email
                .local_part()
                .split(['.', '_', '-', '+'])
                .map(str::to_lowercase),
        );
        if let Some(first_label) = email.domain().split('.').next() {
            inputs.push(first_label.to_owned());
        }
    }
    let inputs: Vec<&str> = inputs
        .iter()
        .map(String::as_str)
        .filter(|s| s.len() >= 3)
        .collect();

    let entropy = zxcvbn::zxcvbn(&head, &inputs);
    if u8::from(entropy.score()) >= MIN_SCORE {
        return None;
    }
    let feedback = entropy.feedback();
    let warning = feedback.and_then(|f| f.warning());
    if matches!(
        warning,
        Some(
            Warning::ThisIsATop10Password
                | Warning::ThisIsATop100Password
                | Warning::ThisIsACommonPassword
                | Warning::ThisIsSimilarToACommonlyUsedPassword
        )
    ) {
        return Some(PolicyError::Common);
    }

    let mut hint = String::new();
    if let Some(warning) = warning {
        hint.push(' ');
        hint.push_str(&warning.to_string());
    }
    if let Some(suggestion) = feedback.and_then(|f| f.suggestions().first()) {
        hint.push(' ');
        hint.push_str(&suggestion.to_string());
    }
    Some(PolicyError::Weak { hint })
}

/// An offline breached-password list in Have I Been Pwned's SHA-1 format, searched on disk; see
/// the [module docs](self).
#[derive(Clone, Debug)]
pub struct BreachedFile {
    path: PathBuf,
}

impl BreachedFile {
    /// Opens the list at `path`, checking that it is readable and that its first line has the
    /// `SHA1HEX:COUNT` form. The file must be sorted by hash, as the published one is.
    ///
    /// # Errors
    ///
    /// When the file cannot be read, or its first line is not a SHA-1 line.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut reader = BufReader::new(File::open(&path)?);
        let mut first = Vec::new();
        reader.read_until(b'\n', &mut first)?;
        if !first.is_empty() && parse_line(&first).is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not a list of SHA1HEX:COUNT lines", path.display()),
            ));
        }
        Ok(Self { path })
    }

    /// Whether the list holds the SHA-1 digest `sha1`, searching on the calling thread.
    ///
    /// # Errors
    ///
    /// When the file cannot be read.
    pub fn contains_blocking(&self, sha1: &[u8; 20]) -> io::Result<bool> {
        let file = File::open(&self.path)?;
        let len = file.metadata()?.len();
        let mut reader = BufReader::with_capacity(512, file);

        // Invariant: a line holding `sha1`, if any, starts at an offset in [lo, hi).
        let (mut lo, mut hi) = (0u64, len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let Some((start, line)) = line_at_or_after(&mut reader, mid)? else {
                hi = mid;
                continue;
            };
            if start >= hi {
                hi = mid;
                continue;
            }
            let Some(hash) = parse_line(&line) else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "malformed line in breached list",
                ));
            };
            match hash.cmp(sha1) {
                Ordering::Equal => return Ok(true),
                Ordering::Less => lo = start + line.len() as u64,
                Ordering::Greater => hi = mid,
            }
        }
        Ok(false)
    }
}

#[async_trait::async_trait]
impl BreachedPasswords for BreachedFile {
    async fn contains(&self, sha1: [u8; 20]) -> io::Result<bool> {
        let list = self.clone();
        tokio::task::spawn_blocking(move || list.contains_blocking(&sha1))
            .await
            .map_err(io::Error::other)?
    }
}

/// The first whole line that starts at or after `offset`, with its start, or `None` at the end.
fn line_at_or_after(
    reader: &mut BufReader<File>,
    offset: u64,
) -> io::Result<Option<(u64, Vec<u8>)>> {
    let mut start = offset;
    if offset > 0 {
        // The byte before `offset` tells whether a line starts exactly at `offset`.
        reader.seek(SeekFrom::Start(offset - 1))?;
        let mut skipped = Vec::new();
        start = offset - 1 + reader.read_until(b'\n', &mut skipped)? as u64;
    } else {
        reader.seek(SeekFrom::Start(0))?;
    }
    let mut line = Vec::new();
    if reader.read_until(b'\n', &mut line)? == 0 {
        return Ok(None);
    }
    Ok(Some((start, line)))
}

/// The digest at the start of a `SHA1HEX:COUNT` line (any case, CRLF or LF).
fn parse_line(line: &[u8]) -> Option<[u8; 20]> {
    let hex_part = line.get(..40)?;
    if !matches!(line.get(40), None | Some(b':' | b'\r' | b'\n')) {
        return None;
    }
    let mut out = [0u8; 20];
    hex::decode_to_slice(hex_part, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn sha1(text: &str) -> [u8; 20] {
        Sha1::digest(text.as_bytes()).into()
    }

    /// A sorted HIBP-style file holding `passwords` and some filler hashes.
    fn breached_file(passwords: &[&str], filler: usize) -> tempfile::NamedTempFile {
        let mut hashes: Vec<[u8; 20]> = passwords.iter().map(|p| sha1(p)).collect();
        hashes.extend((0..filler).map(|i| sha1(&format!("filler {i}"))));
        hashes.sort();
        let mut file = tempfile::NamedTempFile::new().unwrap();
        for (i, hash) in hashes.iter().enumerate() {
            write!(file, "{}:{}\r\n", hex::encode_upper(hash), i + 1).unwrap();
        }
        file.flush().unwrap();
        file
    }

    #[tokio::test]
    async fn a_long_unpredictable_passphrase_is_accepted() {
        let policy = PasswordPolicy::new();
        for ok in [
            "tidal quartz lantern fog",
            "correct-horse-battery-staple-92",
            "Wm8#qz!Lp2vR",
            "\u{1f512} m\u{f6}we nimmt sieben \u{e4}pfel",
        ] {
            assert_eq!(policy.check(ok, None).await, Ok(()), "{ok}");
        }
    }

    #[tokio::test]
    async fn a_short_password_is_refused_with_the_minimum_in_the_message() {
        let policy = PasswordPolicy::new();
        let err = policy.check("Wm8#qz!Lp2v", None).await.unwrap_err();
        assert_eq!(err, PolicyError::TooShort { min: 12 });
        assert!(err.to_string().starts_with("Use at least 12 characters."));
    }

    #[tokio::test]
    async fn length_counts_characters_not_bytes() {
        let policy = PasswordPolicy::new().with_min_chars(8).unwrap();
        // Seven characters, 21 bytes.
        assert_eq!(
            policy
                .check(
                    "\u{65e5}\u{672c}\u{8a9e}\u{306e}\u{5bc6}\u{7801}\u{3067}",
                    None
                )
                .await,
            Err(PolicyError::TooShort { min: 8 })
        );
    }

    #[tokio::test]
    async fn an_overlong_password_is_refused() {
        let policy = PasswordPolicy::new();
        let long = "x7#k".repeat(300);
        assert_eq!(
            policy.check(&long, None).await,
            Err(PolicyError::TooLong { max: 1024 })
        );
    }

    #[test]
    fn the_minimum_cannot_go_below_nist_floor() {
        assert_eq!(
            PasswordPolicy::new().with_min_chars(7).unwrap_err(),
            PolicyConfigError::MinTooLow(7)
        );
        assert_eq!(
            PasswordPolicy::new()
                .with_min_chars(15)
                .unwrap()
                .min_chars(),
            15
        );
    }

    #[tokio::test]
    async fn common_passwords_are_refused() {
        let policy = PasswordPolicy::new();
        for bad in [
            "password1234",
            "qwertyuiopasdfgh",
            "1234567890123",
            "iloveyou1234",
            "P@ssw0rd1234",
        ] {
            let err = policy.check(bad, None).await.unwrap_err();
            assert!(
                matches!(err, PolicyError::Common | PolicyError::Weak { .. }),
                "{bad}: {err:?}"
            );
        }
        assert_eq!(
            policy.check("password1234", None).await,
            Err(PolicyError::Common)
        );
        assert_eq!(
            PolicyError::Common.to_string(),
            "This password is on a list of commonly used passwords. Choose another."
        );
    }

    #[tokio::test]
    async fn a_password_containing_the_email_name_is_refused_whatever_its_case() {
        let policy = PasswordPolicy::new();
        let email = Email::parse("Margaret@example.com").unwrap();
        let err = policy
            .check("x9 MARGARET tidal quartz", Some(&email))
            .await
            .unwrap_err();
        assert_eq!(err, PolicyError::ContainsEmail);
        assert!(err.to_string().contains("email address"));
    }

    #[tokio::test]
    async fn a_short_email_name_is_not_matched() {
        let policy = PasswordPolicy::new();
        let email = Email::parse("al@example.com").unwrap();
        assert_eq!(
            policy.check("tidal quartz al lantern", Some(&email)).await,
            Ok(())
        );
    }

    #[tokio::test]
    async fn an_easily_guessed_password_is_refused_with_a_hint() {
        let policy = PasswordPolicy::new();
        for bad in [
            "aaaaaaaaaaaaaaaa",
            "abcdefghijklmnop",
            "qazwsxedcrfvtgb",
            "19801980198019",
        ] {
            let err = policy.check(bad, None).await.unwrap_err();
            assert!(
                matches!(err, PolicyError::Weak { .. } | PolicyError::Common),
                "{bad}: {err:?}"
            );
        }
        let err = policy.check("aaaaaaaaaaaaaaaa", None).await.unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("This password is easy to guess."),
            "{message}"
        );
        assert!(
            message.len() > "This password is easy to guess.".len(),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_breached_password_is_refused() {
        let file = breached_file(&["tidal quartz lantern fog", "another breached one"], 500);
        let policy = PasswordPolicy::new().with_breached(BreachedFile::open(file.path()).unwrap());
        assert_eq!(
            policy.check("tidal quartz lantern fog", None).await,
            Err(PolicyError::Breached)
        );
        assert_eq!(policy.check("copper meadow violin ash", None).await, Ok(()));
        assert!(PolicyError::Breached.to_string().contains("data breach"));
    }

    #[test]
    fn the_breached_file_finds_every_entry_and_nothing_else() {
        let passwords: Vec<String> = (0..300).map(|i| format!("breached {i}")).collect();
        let refs: Vec<&str> = passwords.iter().map(String::as_str).collect();
        let file = breached_file(&refs, 0);
        let list = BreachedFile::open(file.path()).unwrap();
        for password in &passwords {
            assert!(
                list.contains_blocking(&sha1(password)).unwrap(),
                "{password}"
            );
        }
        for i in 0..300 {
            assert!(
                !list
                    .contains_blocking(&sha1(&format!("absent {i}")))
                    .unwrap()
            );
        }
        assert!(!list.contains_blocking(&[0u8; 20]).unwrap());
        assert!(!list.contains_blocking(&[0xff; 20]).unwrap());
    }

    #[test]
    fn the_breached_file_handles_tiny_and_lowercase_lists() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "{}:3", hex::encode(sha1("only one"))).unwrap();
        let list = BreachedFile::open(file.path()).unwrap();
        assert!(list.contains_blocking(&sha1("only one")).unwrap());
        assert!(!list.contains_blocking(&sha1("other")).unwrap());

        let empty = tempfile::NamedTempFile::new().unwrap();
        let list = BreachedFile::open(empty.path()).unwrap();
        assert!(!list.contains_blocking(&sha1("anything")).unwrap());
    }

    #[test]
    fn a_file_that_is_not_a_breached_list_is_refused_when_opened() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "password123").unwrap();
        assert!(BreachedFile::open(file.path()).is_err());
        assert!(BreachedFile::open("/nonexistent/pwned.txt").is_err());
    }

    #[derive(Debug)]
    struct Broken;

    #[async_trait::async_trait]
    impl BreachedPasswords for Broken {
        async fn contains(&self, _sha1: [u8; 20]) -> io::Result<bool> {
            Err(io::Error::other("disk gone"))
        }
    }

    #[tokio::test]
    async fn an_unreadable_breached_list_refuses_rather_than_accepts() {
        let policy = PasswordPolicy::new().with_breached(Broken);
        assert_eq!(
            policy.check("tidal quartz lantern fog", None).await,
            Err(PolicyError::Unavailable)
        );
    }
}
