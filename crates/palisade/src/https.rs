//! HTTPS: a rustls server configuration that speaks only TLS 1.2 and 1.3, a self-signed
//! development certificate, and the plain-HTTP listener that only redirects.
//!
//! The redirect never trusts the request's `Host` header: it always points at the configured
//! public origin, keeping only the path and query.
//!
//! ```
//! use palisade::https::RedirectToHttps;
//! use url::Url;
//!
//! let redirect = RedirectToHttps::new(Url::parse("https://example.com").unwrap());
//! let app: axum::Router = redirect.router();
//! # let _ = app;
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest as _, Sha256};
use url::Url;

/// Why the TLS setup failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A PEM file held no usable certificate or key.
    #[error("{path}: {what}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was missing.
        what: &'static str,
    },
    /// The certificate could not be generated.
    #[error("generating the development certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate or key.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Installs ring as the process-wide rustls crypto provider, once. Safe to call many times.
pub fn install_crypto_provider() {
    // An error only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A rustls server configuration from PEM files: TLS 1.2 and 1.3 only, ring's default (modern,
/// AEAD-only) cipher suites, ALPN `h2` then `http/1.1`.
///
/// # Errors
///
/// [`TlsError`] when a file is unreadable or holds no certificate or key, or rustls refuses them.
pub fn server_config(cert_path: &Path, key_path: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::File {
            path: path.to_owned(),
            source,
        })
    };
    let cert_pem = read(cert_path)?;
    let key_pem = read(key_path)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::Pem {
            path: cert_path.to_owned(),
            what: "unreadable PEM",
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: cert_path.to_owned(),
            what: "no certificate found",
        });
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::Pem {
        path: key_path.to_owned(),
        what: "no private key found",
    })?;
    server_config_from_der(certs, key)
}

/// A rustls server configuration from DER certificates and key, with the same policy as
/// [`server_config`].
///
/// # Errors
///
/// [`TlsError::Rustls`] when rustls refuses the certificate or key.
pub fn server_config_from_der(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A development certificate on disk: where it is and its SHA-256 fingerprint.
#[derive(Clone, Debug)]
pub struct DevCertificate {
    /// The PEM certificate.
    pub cert_path: PathBuf,
    /// The PEM private key (mode 0600).
    pub key_path: PathBuf,
    /// SHA-256 of the DER certificate, as colon-separated upper-case hex.
    pub fingerprint: String,
    /// True when this call created the files.
    pub created: bool,
}

/// Loads the self-signed development certificate for `localhost` and `127.0.0.1` from `dir`,
/// generating it on first use.
///
/// # Errors
///
/// [`TlsError`] when the files cannot be written or read back.
pub fn dev_certificate(dir: &Path) -> Result<DevCertificate, TlsError> {
    let cert_path = dir.join("tls").join("dev-cert.pem");
    let key_path = dir.join("tls").join("dev-key.pem");
    let mut created = false;
    if !cert_path.exists() || !key_path.exists() {
        std::fs::create_dir_all(cert_path.parent().expect("has a parent"))
            .map_err(file_error(&cert_path))?;
        let names = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        let certified = rcgen::generate_simple_self_signed(names)?;
        write_private(&key_path, certified.signing_key.serialize_pem().as_bytes())
            .map_err(file_error(&key_path))?;
        std::fs::write(&cert_path, certified.cert.pem()).map_err(file_error(&cert_path))?;
        created = true;
    }
    let pem = std::fs::read(&cert_path).map_err(file_error(&cert_path))?;
    let der = CertificateDer::from_pem_slice(&pem).map_err(|_| TlsError::Pem {
        path: cert_path.clone(),
        what: "no certificate found",
    })?;
    Ok(DevCertificate {
        fingerprint: fingerprint(&der),
        cert_path,
        key_path,
        created,
    })
}

/// The SHA-256 fingerprint of a DER certificate, as `AB:CD:…`.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + use<> {
    let path = path.to_owned();
    move |source| TlsError::File { path, source }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The plain-HTTP side: every request gets a `308 Permanent Redirect` to the same path and query
/// on the public HTTPS origin. It never reads `Host`, sends no HSTS (browsers ignore HSTS over
/// HTTP) and sets no cookie.
#[derive(Clone, Debug)]
pub struct RedirectToHttps {
    origin: Arc<str>,
}

impl RedirectToHttps {
    /// Redirects to `public_url`'s scheme, host and port.
    pub fn new(public_url: Url) -> Self {
        let origin = public_url.origin().ascii_serialization();
        Self {
            origin: origin.into(),
        }
    }

    /// The location for a request target (path and query).
    pub fn location(&self, path_and_query: &str) -> String {
        let target = if path_and_query.starts_with('/') {
            path_and_query
        } else {
            "/"
        };
        format!("{}{}", self.origin, target)
    }

    /// An axum router that redirects every method and path.
    ///
    /// Its answers carry the security headers too, with a policy that allows nothing (they
    /// have no content) and no HSTS (browsers ignore it over plain HTTP).
    pub fn router(self) -> Router {
        let headers = crate::headers::SecureHeadersConfig {
            hsts: None,
            csp: "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
                .to_owned(),
            csp_report_path: None,
            ..crate::headers::SecureHeadersConfig::default()
        };
        Router::new()
            .fallback(move |req: Request| {
                let this = self.clone();
                async move { this.respond(&req) }
            })
            .layer(crate::headers::SecureHeadersLayer::new(headers))
    }

    fn respond(&self, req: &Request) -> Response {
        let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let location = self.location(target);
        match HeaderValue::from_str(&location) {
            Ok(value) => (
                StatusCode::PERMANENT_REDIRECT,
                [
                    (header::LOCATION, value),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                ],
                "Use HTTPS.\n",
            )
                .into_response(),
            Err(_) => (StatusCode::BAD_REQUEST, "Bad request target.\n").into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_keeps_path_and_query_and_uses_configured_origin() {
        let r = RedirectToHttps::new(Url::parse("https://localhost:8443/").unwrap());
        assert_eq!(r.location("/x?y=1"), "https://localhost:8443/x?y=1");
        assert_eq!(r.location("/"), "https://localhost:8443/");
        // An absolute-form target never becomes the redirect host.
        assert_eq!(
            r.location("http://evil.example/x"),
            "https://localhost:8443/"
        );
    }

    #[tokio::test]
    async fn redirects_carry_the_security_headers_without_hsts() {
        use tower::ServiceExt as _;
        let router = RedirectToHttps::new(Url::parse("https://localhost:8443/").unwrap()).router();
        let resp = router
            .oneshot(
                Request::get("/x")
                    .header(header::HOST, "evil.example")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::PERMANENT_REDIRECT);
        let h = resp.headers();
        assert_eq!(h[header::LOCATION], "https://localhost:8443/x");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.starts_with("default-src 'none'") && !csp.contains("nonce"),
            "{csp}"
        );
        assert!(!h.contains_key(header::STRICT_TRANSPORT_SECURITY));
    }

    #[test]
    fn dev_certificate_is_generated_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = dev_certificate(dir.path()).unwrap();
        assert!(first.created);
        let second = dev_certificate(dir.path()).unwrap();
        assert!(!second.created);
        assert_eq!(first.fingerprint, second.fingerprint);
        assert_eq!(first.fingerprint.len(), 32 * 3 - 1);
        install_crypto_provider();
        server_config(&first.cert_path, &first.key_path).unwrap();
    }

    #[test]
    fn a_pem_without_a_key_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dev_certificate(dir.path()).unwrap();
        let err = server_config(&cert.cert_path, &cert.cert_path).unwrap_err();
        assert!(err.to_string().contains("no private key"), "{err}");
    }
}
