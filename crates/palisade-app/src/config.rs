//! Configuration: a TOML file, `PALISADE_*` environment variables over it, and flags over those.
//!
//! [`Settings`] is the one list of settings: clap reads it from flags and the environment, serde
//! reads it from the TOML file (keys are the field names), and [`Settings::over`] layers the two.
//! [`AppConfig::resolve`] then applies defaults and refuses unsafe production setups.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use palisade::proxy::TrustedProxies;
use serde::{Deserialize, Serialize};
use url::Url;

/// Every setting of `palisade serve`. Each is optional here; defaults are applied by
/// [`AppConfig::resolve`] and listed in `docs/configuration.md`.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `development` (generates a key and a certificate on first start) or `production`
    /// (requires both, refuses weak keys). Default: development.
    #[arg(long, env = "PALISADE_MODE", value_name = "MODE")]
    pub mode: Option<String>,

    /// Where the database, keys, certificates, files and outbox live. Default: ./palisade-data.
    #[arg(long, env = "PALISADE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// HTTPS listener address. Default: 127.0.0.1:8443.
    #[arg(long, env = "PALISADE_HTTPS_ADDR", value_name = "ADDR")]
    pub https_addr: Option<String>,

    /// Plain-HTTP listener that only redirects to HTTPS; `off` disables it.
    /// Default: 127.0.0.1:8080.
    #[arg(long, env = "PALISADE_HTTP_ADDR", value_name = "ADDR")]
    pub http_addr: Option<String>,

    /// The only origin used for absolute links and redirects.
    /// Default in development: https://localhost:HTTPS_PORT; required in production.
    #[arg(long, env = "PALISADE_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// Secret key, or several separated by commas (newest first; older ones still verify).
    /// Default in development: generated into DATA_DIR/secret.key; required in production.
    #[arg(
        long,
        env = "PALISADE_SECRET_KEY",
        value_name = "KEYS",
        hide_env_values = true
    )]
    pub secret_key: Option<String>,

    /// TLS certificate chain (PEM). Default in development: a generated self-signed certificate.
    #[arg(long, env = "PALISADE_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// TLS private key (PEM).
    #[arg(long, env = "PALISADE_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// Serve plain HTTP on the HTTPS address because a trusted proxy terminates TLS.
    /// Requires trusted proxies. Default: false.
    #[arg(long, env = "PALISADE_TLS_TERMINATED_BY_PROXY", value_name = "BOOL")]
    pub tls_terminated_by_proxy: Option<bool>,

    /// Proxies (CIDR list) whose X-Forwarded-* headers are believed. Default: none, and then no
    /// forwarding header is ever believed.
    #[arg(long, env = "PALISADE_TRUSTED_PROXIES", value_name = "CIDRS")]
    pub trusted_proxies: Option<String>,

    /// Add `preload` to HSTS (only once the domain is ready for the preload list). Default: false.
    #[arg(long, env = "PALISADE_HSTS_PRELOAD", value_name = "BOOL")]
    pub hsts_preload: Option<bool>,

    /// A session ends after this long without a request. Default: 30m.
    #[arg(long, env = "PALISADE_SESSION_IDLE_TIMEOUT", value_name = "DURATION")]
    pub session_idle_timeout: Option<String>,

    /// A session ends this long after sign-in, active or not. Default: 12h.
    #[arg(
        long,
        env = "PALISADE_SESSION_ABSOLUTE_TIMEOUT",
        value_name = "DURATION"
    )]
    pub session_absolute_timeout: Option<String>,

    /// Who may register: `open`, `invite`, `domains:a.example,b.example` or `closed`.
    /// Default: open in development, closed in production.
    #[arg(long, env = "PALISADE_REGISTRATION", value_name = "MODE")]
    pub registration: Option<String>,

    /// Send mail through this SMTP server (`smtps://user:pass@host:465`, or
    /// `smtp://host:587?tls=required`). Default: none, and mail goes to DATA_DIR/outbox/ as .eml
    /// files.
    #[arg(
        long,
        env = "PALISADE_SMTP_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub smtp_url: Option<String>,

    /// The sender of every mail. Default: Drop <noreply@localhost>.
    #[arg(long, env = "PALISADE_MAIL_FROM", value_name = "ADDRESS")]
    pub mail_from: Option<String>,

    /// The shortest password accepted, in characters (8 at the least). Default: 12.
    #[arg(long, env = "PALISADE_PASSWORD_MIN_LENGTH", value_name = "CHARS")]
    pub password_min_length: Option<usize>,

    /// The captcha's proof-of-work size (the largest number the browser may have to try).
    /// Default: 50000.
    #[arg(long, env = "PALISADE_CAPTCHA_DIFFICULTY", value_name = "N")]
    pub captcha_difficulty: Option<u64>,

    /// The largest file one upload may carry, in bytes. Default: 104857600 (100 MiB).
    #[arg(long, env = "PALISADE_UPLOAD_MAX_FILE", value_name = "BYTES")]
    pub upload_max_file: Option<u64>,

    /// How many bytes of files each user may store. Default: 1073741824 (1 GiB).
    #[arg(long, env = "PALISADE_USER_QUOTA", value_name = "BYTES")]
    pub user_quota: Option<u64>,

    /// Log format: `text` or `json`. Default: text.
    #[arg(long, env = "PALISADE_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
}

impl Settings {
    /// Reads a TOML configuration file.
    ///
    /// # Errors
    ///
    /// When the file is unreadable, not TOML, or has an unknown key.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading configuration file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("in configuration file {}", path.display()))
    }

    /// `self` with every unset setting taken from `lower`.
    pub fn over(self, lower: Settings) -> Settings {
        let upper = serde_json::to_value(self).expect("settings serialize");
        let mut merged = serde_json::to_value(lower).expect("settings serialize");
        if let (serde_json::Value::Object(up), serde_json::Value::Object(low)) =
            (upper, &mut merged)
        {
            for (key, value) in up {
                if !value.is_null() {
                    low.insert(key, value);
                }
            }
        }
        serde_json::from_value(merged).expect("merged settings deserialize")
    }
}

/// Development or production.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Generates what it needs on first start.
    Development,
    /// Requires every secret and certificate to be given.
    Production,
}

/// Resolved configuration with every default applied.
#[derive(Clone, Debug)]
pub struct AppConfig {
    /// Development or production.
    pub mode: Mode,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The HTTPS (or proxied) listener address.
    pub https_addr: SocketAddr,
    /// The redirect listener address, if enabled.
    pub http_addr: Option<SocketAddr>,
    /// The public origin.
    pub public_url: Url,
    /// The secret key setting, if given.
    pub secret_key: Option<String>,
    /// Certificate and key files, if given.
    pub tls_files: Option<(PathBuf, PathBuf)>,
    /// TLS is terminated by a trusted proxy.
    pub tls_terminated_by_proxy: bool,
    /// Trusted proxies.
    pub trusted_proxies: TrustedProxies,
    /// HSTS preload.
    pub hsts_preload: bool,
    /// Session idle timeout.
    pub session_idle_timeout: Duration,
    /// Session absolute timeout.
    pub session_absolute_timeout: Duration,
    /// Emit JSON logs.
    pub log_json: bool,
    /// Who may register.
    pub registration: palisade::auth::email::RegistrationMode,
    /// SMTP, when configured.
    pub smtp: Option<palisade::mail::SmtpSettings>,
    /// The sender of every mail.
    pub mail_from: String,
    /// The shortest password accepted.
    pub password_min_chars: usize,
    /// The captcha's difficulty, when not the default.
    pub captcha_max_number: Option<u64>,
    /// The largest file of an upload.
    pub upload_max_file: u64,
    /// Bytes each user may store.
    pub user_quota: u64,
}

impl AppConfig {
    /// Applies defaults and checks the combination.
    ///
    /// # Errors
    ///
    /// A message naming the setting that is invalid or missing.
    pub fn resolve(s: Settings) -> anyhow::Result<Self> {
        let mode = match s.mode.as_deref().unwrap_or("development") {
            "development" | "dev" => Mode::Development,
            "production" | "prod" => Mode::Production,
            other => bail!("PALISADE_MODE must be `development` or `production`, not `{other}`"),
        };
        let addr =
            |value: Option<String>, default: &str, name: &str| -> anyhow::Result<SocketAddr> {
                let value = value.unwrap_or_else(|| default.to_owned());
                value.parse().with_context(|| {
                    format!("{name}: `{value}` is not an address like 127.0.0.1:8443")
                })
            };
        let https_addr = addr(s.https_addr, "127.0.0.1:8443", "PALISADE_HTTPS_ADDR")?;
        let http_addr = match s.http_addr.as_deref() {
            Some("off" | "none" | "") => None,
            other => Some(addr(
                other.map(str::to_owned),
                "127.0.0.1:8080",
                "PALISADE_HTTP_ADDR",
            )?),
        };
        let public_url = match s.public_url {
            Some(url) => {
                let parsed = Url::parse(&url)
                    .with_context(|| format!("PALISADE_PUBLIC_URL: `{url}` is not a URL"))?;
                if parsed.scheme() != "https" {
                    bail!("PALISADE_PUBLIC_URL must be an https:// URL, not `{url}`");
                }
                if parsed.host_str().is_none() {
                    bail!("PALISADE_PUBLIC_URL must name a host");
                }
                parsed
            }
            None if mode == Mode::Production => {
                bail!(
                    "PALISADE_PUBLIC_URL is required in production (e.g. https://files.example.com)"
                )
            }
            None => Url::parse(&format!("https://localhost:{}", https_addr.port()))?,
        };
        let trusted_proxies = TrustedProxies::parse(s.trusted_proxies.as_deref().unwrap_or(""))
            .map_err(|e| anyhow::anyhow!("PALISADE_TRUSTED_PROXIES: {e}"))?;
        let tls_terminated_by_proxy = s.tls_terminated_by_proxy.unwrap_or(false);
        if tls_terminated_by_proxy && trusted_proxies.is_empty() {
            bail!(
                "PALISADE_TLS_TERMINATED_BY_PROXY needs PALISADE_TRUSTED_PROXIES: name the proxy \
                 that terminates TLS"
            );
        }
        let tls_files = match (s.tls_cert, s.tls_key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => bail!("PALISADE_TLS_CERT and PALISADE_TLS_KEY must be given together"),
        };
        if mode == Mode::Production && tls_files.is_none() && !tls_terminated_by_proxy {
            bail!(
                "production needs PALISADE_TLS_CERT and PALISADE_TLS_KEY, or \
                 PALISADE_TLS_TERMINATED_BY_PROXY=true with PALISADE_TRUSTED_PROXIES"
            );
        }
        let duration =
            |value: Option<String>, default: &str, name: &str| -> anyhow::Result<Duration> {
                let value = value.unwrap_or_else(|| default.to_owned());
                let d = humantime::parse_duration(&value).with_context(|| {
                    format!("{name}: `{value}` is not a duration like 30m or 8h")
                })?;
                if d.is_zero() {
                    bail!("{name} must be longer than zero");
                }
                Ok(d)
            };
        let session_idle_timeout = duration(
            s.session_idle_timeout,
            "30m",
            "PALISADE_SESSION_IDLE_TIMEOUT",
        )?;
        let session_absolute_timeout = duration(
            s.session_absolute_timeout,
            "12h",
            "PALISADE_SESSION_ABSOLUTE_TIMEOUT",
        )?;
        let log_json = match s.log_format.as_deref().unwrap_or("text") {
            "text" => false,
            "json" => true,
            other => bail!("PALISADE_LOG_FORMAT must be `text` or `json`, not `{other}`"),
        };
        let registration = s
            .registration
            .as_deref()
            .unwrap_or(if mode == Mode::Production {
                "closed"
            } else {
                "open"
            })
            .parse()
            .map_err(|e| anyhow::anyhow!("PALISADE_REGISTRATION: {e}"))?;
        let smtp = match s.smtp_url.filter(|u| !u.trim().is_empty()) {
            Some(url) => {
                let settings = palisade::mail::SmtpSettings { url };
                settings
                    .validate()
                    .map_err(|e| anyhow::anyhow!("PALISADE_SMTP_URL: {e}"))?;
                Some(settings)
            }
            None => None,
        };
        Ok(Self {
            registration,
            smtp,
            mail_from: s
                .mail_from
                .unwrap_or_else(|| "Drop <noreply@localhost>".to_owned()),
            password_min_chars: s.password_min_length.unwrap_or(12),
            captcha_max_number: s.captcha_difficulty,
            upload_max_file: s.upload_max_file.unwrap_or(100 * 1024 * 1024),
            user_quota: s.user_quota.unwrap_or(1024 * 1024 * 1024),
            mode,
            data_dir: s
                .data_dir
                .unwrap_or_else(|| PathBuf::from("./palisade-data")),
            https_addr,
            http_addr,
            public_url,
            secret_key: s.secret_key.filter(|k| !k.trim().is_empty()),
            tls_files,
            tls_terminated_by_proxy,
            trusted_proxies,
            hsts_preload: s.hsts_preload.unwrap_or(false),
            session_idle_timeout,
            session_absolute_timeout,
            log_json,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = AppConfig::resolve(Settings::default()).unwrap();
        assert_eq!(c.mode, Mode::Development);
        assert_eq!(c.data_dir, PathBuf::from("./palisade-data"));
        assert_eq!(c.https_addr.to_string(), "127.0.0.1:8443");
        assert_eq!(c.http_addr.unwrap().to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_url.as_str(), "https://localhost:8443/");
        assert!(c.trusted_proxies.is_empty());
        assert_eq!(c.session_idle_timeout, Duration::from_secs(30 * 60));
        assert_eq!(c.session_absolute_timeout, Duration::from_secs(12 * 3600));
    }

    #[test]
    fn flags_beat_environment_which_beats_the_file() {
        let file: Settings = toml::from_str(
            "data_dir = \"/from-file\"\nmode = \"development\"\nhttps_addr = \"127.0.0.1:1\"",
        )
        .unwrap();
        let upper = Settings {
            data_dir: Some("/from-flags".into()),
            ..Settings::default()
        };
        let merged = upper.over(file);
        assert_eq!(merged.data_dir, Some(PathBuf::from("/from-flags")));
        assert_eq!(merged.https_addr.as_deref(), Some("127.0.0.1:1"));
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        assert!(toml::from_str::<Settings>("data_dri = \"x\"").is_err());
    }

    #[test]
    fn production_requires_public_url_and_tls() {
        let s = Settings {
            mode: Some("production".into()),
            ..Settings::default()
        };
        let err = AppConfig::resolve(s.clone()).unwrap_err().to_string();
        assert!(err.contains("PALISADE_PUBLIC_URL"), "{err}");
        let s = Settings {
            public_url: Some("https://x.example".into()),
            ..s
        };
        let err = AppConfig::resolve(s).unwrap_err().to_string();
        assert!(err.contains("PALISADE_TLS_CERT"), "{err}");
    }

    #[test]
    fn proxy_tls_needs_trusted_proxies() {
        let s = Settings {
            tls_terminated_by_proxy: Some(true),
            ..Settings::default()
        };
        assert!(
            AppConfig::resolve(s)
                .unwrap_err()
                .to_string()
                .contains("TRUSTED_PROXIES")
        );
    }

    #[test]
    fn plain_http_public_urls_are_refused() {
        let s = Settings {
            public_url: Some("http://x.example".into()),
            ..Settings::default()
        };
        assert!(AppConfig::resolve(s).is_err());
    }

    #[test]
    fn durations_are_human() {
        let s = Settings {
            session_idle_timeout: Some("2s".into()),
            session_absolute_timeout: Some("45m".into()),
            ..Settings::default()
        };
        let c = AppConfig::resolve(s).unwrap();
        assert_eq!(c.session_idle_timeout, Duration::from_secs(2));
        assert_eq!(c.session_absolute_timeout, Duration::from_secs(45 * 60));
        let bad = Settings {
            session_idle_timeout: Some("soon".into()),
            ..Settings::default()
        };
        assert!(AppConfig::resolve(bad).is_err());
    }
}
