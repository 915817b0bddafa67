//! Offline check of Flask session cookies against known weak secret keys.
//!
//! Flask signs its session cookie with itsdangerous: the cookie is
//! `payload.timestamp.signature`, where `payload` is base64url JSON (prefixed with `.` when it is
//! zlib-compressed), `timestamp` is base64url seconds, and
//! `signature = base64url(HMAC-SHA1(derived_key, payload "." timestamp))` with
//! `derived_key = HMAC-SHA1(secret_key, "cookie-session")`.
//!
//! Anyone who knows the secret key can forge any session, so a cookie that verifies against a
//! key from `data/flask_keys.txt` is a critical finding. Nothing is sent to the server: the
//! check only needs one cookie the site handed out.

use std::io::Read;
use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

/// Salt Flask passes to itsdangerous for session cookies.
const SALT: &[u8] = b"cookie-session";

/// The bundled key list.
const KEY_LIST: &str = include_str!("../data/flask_keys.txt");

/// A key of the bundled list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KnownKey {
    /// The key's bytes.
    pub(crate) bytes: Vec<u8>,
    /// The key as shown in reports (non-printable bytes escaped).
    pub(crate) shown: String,
    /// Where the key comes from.
    pub(crate) source: String,
}

/// Every key of `data/flask_keys.txt`.
pub(crate) static KNOWN_KEYS: LazyLock<Vec<KnownKey>> = LazyLock::new(|| parse_key_list(KEY_LIST));

fn parse_key_list(text: &str) -> Vec<KnownKey> {
    let mut keys = Vec::new();
    let mut source = String::from("unknown");
    for line in text.lines() {
        if let Some(s) = line.strip_prefix("# source:") {
            source = s.trim().to_owned();
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let bytes = match line.strip_prefix("hex:") {
            Some(hex) => match decode_hex(hex) {
                Some(bytes) => bytes,
                None => continue,
            },
            None => line.as_bytes().to_vec(),
        };
        let shown = bytes.escape_ascii().to_string();
        keys.push(KnownKey {
            bytes,
            shown,
            source: source.clone(),
        });
    }
    keys
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

/// A cookie value in itsdangerous' timestamped format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignedCookie<'a> {
    /// `payload.timestamp`, the signed part (with the leading `.` when compressed).
    pub(crate) signed: &'a str,
    /// The payload without the compression marker.
    pub(crate) payload: &'a str,
    /// Whether the payload is zlib-compressed.
    pub(crate) compressed: bool,
    /// The signature, base64url.
    pub(crate) signature: &'a str,
}

impl<'a> SignedCookie<'a> {
    /// Recognises a Flask session cookie value; `None` for anything else.
    pub(crate) fn parse(value: &'a str) -> Option<Self> {
        let value = value.trim_matches('"');
        let (signed, signature) = value.rsplit_once('.')?;
        let (payload_part, timestamp) = signed.rsplit_once('.')?;
        let (payload, compressed) = match payload_part.strip_prefix('.') {
            Some(p) => (p, true),
            None => (payload_part, false),
        };
        let b64 = |s: &str, min: usize, max: usize| {
            (min..=max).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        // SHA-1 signatures are 20 bytes: 27 base64url characters. Timestamps are 4-6 bytes.
        if !(b64(signature, 27, 27) && b64(timestamp, 4, 8) && b64(payload, 2, 8192)) {
            return None;
        }
        Some(Self {
            signed,
            payload,
            compressed,
            signature,
        })
    }

    /// Whether `secret_key` produced this cookie's signature.
    pub(crate) fn verifies_with(&self, secret_key: &[u8]) -> bool {
        sign(secret_key, self.signed.as_bytes()) == self.signature
    }

    /// The session's JSON, decoded (and decompressed).
    pub(crate) fn payload_json(&self) -> Option<String> {
        let raw = URL_SAFE_NO_PAD.decode(self.payload).ok()?;
        let bytes = if self.compressed {
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(&raw[..])
                .take(64 * 1024)
                .read_to_end(&mut out)
                .ok()?;
            out
        } else {
            raw
        };
        String::from_utf8(bytes).ok()
    }

    /// The first known key that verifies this cookie.
    pub(crate) fn find_known_key(&self) -> Option<&'static KnownKey> {
        KNOWN_KEYS.iter().find(|k| self.verifies_with(&k.bytes))
    }
}

/// The itsdangerous signature Flask would put on `signed` with `secret_key`.
pub(crate) fn sign(secret_key: &[u8], signed: &[u8]) -> String {
    let mut derive = HmacSha1::new_from_slice(secret_key).expect("HMAC accepts any key length");
    derive.update(SALT);
    let derived = derive.finalize().into_bytes();
    let mut mac = HmacSha1::new_from_slice(&derived).expect("HMAC accepts any key length");
    mac.update(signed);
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// Signs a session exactly as Flask 3 / itsdangerous 2 do, computed here from the
    /// primitives rather than with the code under test.
    fn flask_cookie(secret: &[u8], json: &str, compress: bool) -> String {
        let payload = if compress {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
            z.write_all(json.as_bytes()).unwrap();
            format!(".{}", URL_SAFE_NO_PAD.encode(z.finish().unwrap()))
        } else {
            URL_SAFE_NO_PAD.encode(json)
        };
        let timestamp = URL_SAFE_NO_PAD.encode(1_767_225_600u32.to_be_bytes());
        let signed = format!("{payload}.{timestamp}");

        let mut derive = HmacSha1::new_from_slice(secret).unwrap();
        derive.update(b"cookie-session");
        let key = derive.finalize().into_bytes();
        let mut mac = HmacSha1::new_from_slice(&key).unwrap();
        mac.update(signed.as_bytes());
        format!(
            "{signed}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn a_cookie_signed_with_the_guide_key_is_found() {
        let cookie = flask_cookie(b"top-secret!", r#"{"user_id":1}"#, false);
        let parsed = SignedCookie::parse(&cookie).expect("Flask format");
        let key = parsed.find_known_key().expect("key found");
        assert_eq!(key.shown, "top-secret!");
        assert!(key.source.contains("guide"));
        assert_eq!(parsed.payload_json().as_deref(), Some(r#"{"user_id":1}"#));
    }

    #[test]
    fn compressed_payloads_are_read_and_verified() {
        let json = format!(r#"{{"_fresh":true,"csrf_token":"{}"}}"#, "ab".repeat(40));
        let cookie = flask_cookie(b"dev", &json, true);
        assert!(cookie.starts_with('.'));
        let parsed = SignedCookie::parse(&cookie).unwrap();
        assert!(parsed.compressed);
        assert_eq!(
            parsed.find_known_key().map(|k| k.shown.as_str()),
            Some("dev")
        );
        assert_eq!(parsed.payload_json(), Some(json));
    }

    #[test]
    fn the_documented_byte_key_is_in_the_list() {
        let key = b"_5#y2L\"F4Q8z\n\xec]/";
        let cookie = flask_cookie(key, "{}", false);
        let found = SignedCookie::parse(&cookie)
            .unwrap()
            .find_known_key()
            .unwrap();
        assert_eq!(found.bytes, key);
    }

    #[test]
    fn a_strong_key_is_not_found() {
        let cookie = flask_cookie(b"3f9c1e0b7d4a8e2f6c5b9a1d0e7f3c2b", r#"{"a":1}"#, false);
        let parsed = SignedCookie::parse(&cookie).unwrap();
        assert!(parsed.verifies_with(b"3f9c1e0b7d4a8e2f6c5b9a1d0e7f3c2b"));
        assert!(parsed.find_known_key().is_none());
    }

    #[test]
    fn other_cookie_shapes_are_not_flask_cookies() {
        for value in ["abc", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.eyJhIjoxfQ.short", ""] {
            assert!(SignedCookie::parse(value).is_none(), "{value}");
        }
    }

    #[test]
    fn the_key_list_has_groups_with_sources() {
        assert!(KNOWN_KEYS.len() > 300);
        assert!(
            KNOWN_KEYS
                .iter()
                .all(|k| k.source != "unknown" && !k.bytes.is_empty())
        );
    }
}
