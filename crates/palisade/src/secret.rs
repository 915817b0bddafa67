//! The secret key: generated or loaded, refused when weak, rotated through a key ring, and never
//! used directly.
//!
//! A [`KeyRing`] holds one or more master keys, newest first. Nothing signs with a master key:
//! each purpose ([`Purpose::Session`], [`Purpose::Csrf`], [`Purpose::Links`],
//! [`Purpose::Captcha`], …) gets its own key derived with HKDF-SHA256, so a token made for one
//! purpose can never be replayed as another. Values are signed with the newest key and verified
//! against every key in the ring, which is how keys rotate: put the new key first, keep the old
//! one second until every value it signed has expired, then remove it.
//!
//! ```
//! use palisade::secret::{KeyRing, Purpose};
//!
//! let old = KeyRing::generate();
//! let tag = old.signer(Purpose::Links).sign(b"file=42");
//!
//! // Rotate: a new key first, the old one still accepted for verification.
//! let rotated = KeyRing::from_keys(vec![KeyRing::generate_key_string(), old.to_config_string()])
//!     .unwrap();
//! assert!(rotated.signer(Purpose::Links).verify(b"file=42", &tag));
//! assert_ne!(rotated.signer(Purpose::Links).sign(b"file=42"), tag);
//! // A tag made for one purpose is worthless for another.
//! assert!(!rotated.signer(Purpose::Session).verify(b"file=42", &tag));
//! ```

use std::fmt;
use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

type HmacSha256 = Hmac<Sha256>;

/// The least entropy, in bits, that a master key must carry.
pub const MIN_KEY_BITS: f64 = 256.0;

/// Keys that appear in tutorials, documentation and sample configurations. Anyone can forge a
/// token signed with one of these, so they are refused whatever their length.
const KNOWN_PLACEHOLDERS: &[&str] = &[
    "top-secret!",
    "top-secret",
    "topsecret",
    "changeme",
    "change-me",
    "change_me",
    "changethis",
    "secret",
    "secret-key",
    "secret_key",
    "secretkey",
    "my-secret-key",
    "mysecretkey",
    "your-secret-key",
    "yoursecretkey",
    "your_secret_key_here",
    "super-secret-key",
    "super secret key",
    "supersecret",
    "dev",
    "development",
    "development key",
    "default",
    "password",
    "test",
    "testing",
    "insecure",
    "not-a-secret",
    "replace-me",
    "xxx",
    "12345",
    "123456",
    "1234567890",
    "palisade",
    "flask",
    "django-insecure",
];

/// What a derived key is for. Each purpose has its own key, so no token crosses purposes.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Authenticating session cookie values.
    Session,
    /// Binding CSRF tokens to sessions.
    Csrf,
    /// Signing share links and other bearer URLs.
    Links,
    /// Signing captcha challenges.
    Captcha,
    /// Signing email verification and password reset tokens.
    Mail,
    /// Encrypting or signing anything else the application defines; the label names it.
    Custom(&'static str),
}

impl Purpose {
    fn label(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Csrf => "csrf",
            Self::Links => "links",
            Self::Captcha => "captcha",
            Self::Mail => "mail",
            Self::Custom(label) => label,
        }
    }
}

/// Why a key was refused.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No key was configured where one is required.
    #[error(
        "no secret key is configured; set PALISADE_SECRET_KEY to the output of \
         `palisade secret generate`"
    )]
    Missing,
    /// The key is one of the well-known placeholders.
    #[error(
        "secret key number {position} is a well-known placeholder that anyone can use to forge \
         sessions; replace it with the output of `palisade secret generate`"
    )]
    Placeholder {
        /// 1-based position of the key in the ring.
        position: usize,
    },
    /// The key carries too little entropy.
    #[error(
        "secret key number {position} is too weak (about {bits:.0} bits of entropy, at least \
         {MIN_KEY_BITS:.0} needed, which is 32 random bytes); use the output of \
         `palisade secret generate`"
    )]
    Weak {
        /// 1-based position of the key in the ring.
        position: usize,
        /// The estimated entropy of the key in bits.
        bits: f64,
    },
    /// The key file could not be read or written.
    #[error("secret key file {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// One master key. Its bytes never leave this module and it prints as `MasterKey(..)`.
#[derive(Clone)]
struct MasterKey {
    text: String,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// The application's master keys, newest first.
///
/// `Debug` never shows key material.
#[derive(Clone, Debug)]
pub struct KeyRing {
    keys: Vec<MasterKey>,
}

impl KeyRing {
    /// Builds a ring from keys in configuration form, newest first, refusing weak ones.
    ///
    /// # Errors
    ///
    /// [`KeyError::Missing`] for an empty list, [`KeyError::Placeholder`] or [`KeyError::Weak`]
    /// for the first key that fails [`check_key`].
    pub fn from_keys(keys: Vec<String>) -> Result<Self, KeyError> {
        let keys: Vec<String> = keys
            .into_iter()
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .collect();
        if keys.is_empty() {
            return Err(KeyError::Missing);
        }
        for (i, key) in keys.iter().enumerate() {
            check_key(key, i + 1)?;
        }
        Ok(Self {
            keys: keys.into_iter().map(|text| MasterKey { text }).collect(),
        })
    }

    /// Parses the `PALISADE_SECRET_KEY` form: one key, or several separated by commas, newest
    /// first.
    ///
    /// # Errors
    ///
    /// As [`KeyRing::from_keys`].
    pub fn parse(list: &str) -> Result<Self, KeyError> {
        Self::from_keys(list.split(',').map(str::to_owned).collect())
    }

    /// A ring with one fresh random key.
    pub fn generate() -> Self {
        Self {
            keys: vec![MasterKey {
                text: Self::generate_key_string(),
            }],
        }
    }

    /// A fresh random key in configuration form: 32 random bytes, base64url without padding.
    pub fn generate_key_string() -> String {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Loads the development key from `path`, creating it (mode 0600) with a fresh key when the
    /// file does not exist yet.
    ///
    /// # Errors
    ///
    /// [`KeyError::File`] when the file cannot be read or created, and the errors of
    /// [`KeyRing::parse`] when its content is weak.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), KeyError> {
        let file_error = |source| KeyError::File {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Ok((Self::parse(&text)?, false)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate_key_string();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(file_error)?;
                file.write_all(key.as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(file_error)?;
                Ok((
                    Self {
                        keys: vec![MasterKey { text: key }],
                    },
                    true,
                ))
            }
            Err(err) => Err(file_error(err)),
        }
    }

    /// The ring in configuration form (comma-separated, newest first). This reveals the keys:
    /// write it only where a secret belongs.
    pub fn to_config_string(&self) -> String {
        self.keys
            .iter()
            .map(|k| k.text.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// How many keys the ring holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: a ring holds at least one key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The signer for one purpose: keys derived from every master key, newest first.
    pub fn signer(&self, purpose: Purpose) -> Signer {
        Signer {
            keys: self.keys.iter().map(|k| derive(&k.text, purpose)).collect(),
        }
    }
}

fn derive(master: &str, purpose: Purpose) -> [u8; 32] {
    let hkdf = Hkdf::<Sha256>::new(Some(b"palisade key ring v1"), master.as_bytes());
    let mut out = [0u8; 32];
    hkdf.expand(purpose.label().as_bytes(), &mut out)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

/// HMAC-SHA256 with the keys of one purpose: signs with the newest, verifies with any.
#[derive(Clone)]
pub struct Signer {
    keys: Vec<[u8; 32]>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// The 32-byte HMAC of `data` under the newest key.
    pub fn sign(&self, data: &[u8]) -> [u8; 32] {
        mac(&self.keys[0], data)
    }

    /// The HMAC of `data` under every key of the ring, newest first.
    pub fn candidates(&self, data: &[u8]) -> Vec<[u8; 32]> {
        self.keys.iter().map(|k| mac(k, data)).collect()
    }

    /// True when `tag` is the HMAC of `data` under any key of the ring. Compares in constant
    /// time.
    pub fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        let mut ok = false;
        for candidate in self.candidates(data) {
            ok |= bool::from(candidate.as_slice().ct_eq(tag));
        }
        ok
    }

    /// `data` followed by `.` and its base64url tag: a self-authenticating string.
    pub fn sign_to_string(&self, data: &str) -> String {
        format!(
            "{data}.{}",
            URL_SAFE_NO_PAD.encode(self.sign(data.as_bytes()))
        )
    }

    /// The data of a string made by [`Signer::sign_to_string`], or `None` when the tag does not
    /// verify.
    pub fn verify_string<'a>(&self, signed: &'a str) -> Option<&'a str> {
        let (data, tag) = signed.rsplit_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.verify(data.as_bytes(), &tag).then_some(data)
    }
}

fn mac(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Checks one master key: not a known placeholder, and at least [`MIN_KEY_BITS`] of estimated
/// entropy.
///
/// # Errors
///
/// [`KeyError::Placeholder`] or [`KeyError::Weak`], naming the key by its 1-based `position`.
pub fn check_key(key: &str, position: usize) -> Result<(), KeyError> {
    let lowered = key.trim().to_ascii_lowercase();
    if KNOWN_PLACEHOLDERS.iter().any(|p| lowered == *p)
        || lowered.starts_with("django-insecure")
        || lowered.contains("changeme")
        || lowered.contains("change-me")
        || lowered.contains("replace-me")
        || lowered.contains("your-secret")
    {
        return Err(KeyError::Placeholder { position });
    }
    let bits = estimate_bits(key);
    if bits < MIN_KEY_BITS {
        return Err(KeyError::Weak { position, bits });
    }
    Ok(())
}

/// A conservative entropy estimate for a key string.
///
/// Each character counts for the bits of the smallest usual alphabet that holds all of the key's
/// characters (hex 4, base64 6, printable ASCII 6.5), and repeated patterns count once: the
/// estimate is capped by what the key's distinct characters and its compressibility allow.
pub fn estimate_bits(key: &str) -> f64 {
    let chars: Vec<char> = key.chars().collect();
    if chars.is_empty() {
        return 0.0;
    }
    let per_char: f64 = if chars.iter().all(char::is_ascii_hexdigit) {
        4.0
    } else if chars
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '/' | '='))
    {
        6.0
    } else {
        6.5
    };
    let mut distinct = chars.clone();
    distinct.sort_unstable();
    distinct.dedup();
    // A key drawn from only a handful of characters carries at most log2(handful) bits each.
    let per_char = if distinct.len() < 10 {
        per_char.min((distinct.len() as f64).log2())
    } else {
        per_char
    };
    // A key that repeats a short pattern carries only the pattern's entropy.
    let period = (1..=chars.len() / 2)
        .find(|&p| chars.iter().enumerate().all(|(i, c)| *c == chars[i % p]))
        .unwrap_or(chars.len());
    per_char * period as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_pass_the_check() {
        let key = KeyRing::generate_key_string();
        assert_eq!(key.len(), 43);
        check_key(&key, 1).unwrap();
        assert_ne!(key, KeyRing::generate_key_string());
    }

    #[test]
    fn placeholders_are_refused_whatever_their_case() {
        for key in [
            "top-secret!",
            "changeme",
            "secret",
            "dev",
            "Development Key",
            "SECRET",
        ] {
            assert!(
                matches!(
                    check_key(key, 1),
                    Err(KeyError::Placeholder { position: 1 })
                ),
                "{key}"
            );
        }
    }

    #[test]
    fn short_and_repetitive_keys_are_weak() {
        for key in [
            "short-but-random-ish-9f8e7d",
            &"a".repeat(200),
            &"abcd".repeat(40),
            "0123456789abcdef0123456789abcdef",
        ] {
            assert!(
                matches!(check_key(key, 2), Err(KeyError::Weak { position: 2, .. })),
                "{key}"
            );
        }
    }

    #[test]
    fn a_64_digit_hex_key_is_strong_enough() {
        let key = hex::encode(rand::random::<[u8; 32]>());
        check_key(&key, 1).unwrap();
    }

    #[test]
    fn an_empty_ring_is_missing_not_weak() {
        assert!(matches!(
            KeyRing::parse(" , ").unwrap_err(),
            KeyError::Missing
        ));
    }

    #[test]
    fn one_weak_key_in_the_ring_refuses_the_ring() {
        let good = KeyRing::generate_key_string();
        let err = KeyRing::parse(&format!("{good},changeme")).unwrap_err();
        assert!(matches!(err, KeyError::Placeholder { position: 2 }));
    }

    #[test]
    fn ring_signs_with_newest_and_verifies_older() {
        let old = KeyRing::generate();
        let signed_by_old = old.signer(Purpose::Session).sign_to_string("abc");
        let ring = KeyRing::from_keys(vec![KeyRing::generate_key_string(), old.to_config_string()])
            .unwrap();
        let signer = ring.signer(Purpose::Session);
        assert_eq!(signer.verify_string(&signed_by_old), Some("abc"));
        let signed_by_new = signer.sign_to_string("abc");
        assert_ne!(signed_by_new, signed_by_old);
        // The old ring alone does not know the new key.
        assert_eq!(
            old.signer(Purpose::Session).verify_string(&signed_by_new),
            None
        );
        // Once the old key is removed, its values stop verifying.
        let newest_only = KeyRing::from_keys(vec![ring.keys[0].text.clone()]).unwrap();
        assert_eq!(
            newest_only
                .signer(Purpose::Session)
                .verify_string(&signed_by_old),
            None
        );
    }

    #[test]
    fn purposes_have_distinct_keys() {
        let ring = KeyRing::generate();
        let a = ring.signer(Purpose::Session).sign(b"x");
        let b = ring.signer(Purpose::Csrf).sign(b"x");
        let c = ring.signer(Purpose::Links).sign(b"x");
        let d = ring.signer(Purpose::Captcha).sign(b"x");
        assert!(a != b && a != c && a != d && b != c && b != d && c != d);
    }

    #[test]
    fn tampered_values_do_not_verify() {
        let signer = KeyRing::generate().signer(Purpose::Links);
        let signed = signer.sign_to_string("file=1");
        let tampered = signed.replacen("file=1", "file=2", 1);
        assert_eq!(signer.verify_string(&tampered), None);
        assert_eq!(signer.verify_string("no-tag"), None);
        assert_eq!(signer.verify_string("file=1.!!!"), None);
    }

    #[test]
    fn debug_output_never_shows_key_material() {
        let ring = KeyRing::generate();
        let text = ring.to_config_string();
        assert!(!format!("{ring:?}").contains(&text));
        assert!(!format!("{:?}", ring.signer(Purpose::Csrf)).contains(&text));
    }

    #[cfg(unix)]
    #[test]
    fn development_key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let (first, created) = KeyRing::load_or_create(&path).unwrap();
        assert!(created);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (second, created) = KeyRing::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(first.to_config_string(), second.to_config_string());
    }
}
