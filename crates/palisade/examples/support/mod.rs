//! What the examples share: serving over HTTPS with the development certificate, and the
//! self-test that CI runs. None of this is needed in your application; `hello_secure.rs` shows
//! the same serving code written out in full.

// Each example uses a different part of this module.
#![allow(dead_code)]

use rustls::pki_types::pem::PemObject as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use palisade::https::{self, DevCertificate};
use palisade::server::{Server, Transport};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The environment variable that, set to `1`, runs an example's self-test instead of serving.
pub(crate) const SELF_TEST_ENV: &str = "PALISADE_EXAMPLE_SELF_TEST";

/// True when the example was started with `--self-test` or `PALISADE_EXAMPLE_SELF_TEST=1`.
pub(crate) fn self_test_requested() -> bool {
    std::env::args().skip(1).any(|arg| arg == "--self-test")
        || std::env::var(SELF_TEST_ENV).is_ok_and(|v| v == "1")
}

/// An HTTPS listener with the development certificate, bound but not serving yet.
pub(crate) struct DevServer {
    listener: TcpListener,
    cert: DevCertificate,
    /// `https://localhost:<port>`: the public origin to give `CsrfConfig::new`.
    pub(crate) origin: String,
}

impl DevServer {
    /// Binds `addr` (use port 0 in tests) and loads or creates the self-signed certificate for
    /// `localhost` under `dir/tls/`.
    pub(crate) fn bind(addr: &str, dir: &Path) -> anyhow::Result<Self> {
        https::install_crypto_provider();
        let cert = https::dev_certificate(dir).context("creating the development certificate")?;
        let listener = TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
        let origin = format!("https://localhost:{}", listener.local_addr()?.port());
        Ok(Self {
            listener,
            cert,
            origin,
        })
    }

    /// Serves `app` until Ctrl-C, after printing where.
    pub(crate) async fn serve(self, app: Router) -> anyhow::Result<()> {
        println!(
            "Serving on {}/ (self-signed certificate: your browser will ask once)",
            self.origin
        );
        println!("Certificate SHA-256: {}", self.cert.fingerprint);
        let server = self.server()?;
        server
            .serve(app, palisade::server::shutdown_signal())
            .await?;
        Ok(())
    }

    /// Serves `app` in the background, for a self-test.
    pub(crate) fn spawn(self, app: Router) -> anyhow::Result<Running> {
        let client = client_trusting(&self.cert)?;
        let origin = self.origin.clone();
        let server = self.server()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(app, async move {
            let _ = stopped.await;
        }));
        Ok(Running {
            origin,
            client,
            stop,
            task,
        })
    }

    fn server(self) -> anyhow::Result<Server> {
        let tls = https::server_config(&self.cert.cert_path, &self.cert.key_path)?;
        Ok(Server::new(self.listener, Transport::Tls(tls)))
    }
}

/// An example serving in the background, and a browser-like client for it.
pub(crate) struct Running {
    /// `https://localhost:<port>`.
    pub(crate) origin: String,
    /// Trusts the development certificate, keeps cookies, never follows redirects.
    pub(crate) client: reqwest::Client,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// The absolute URL of `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// Stops the server and waits for it.
    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task.await??;
        Ok(())
    }
}

/// A reqwest client that trusts exactly `cert` (as a browser would after you accept it), keeps
/// cookies like a browser, and does not follow redirects so that tests can check them.
pub(crate) fn client_trusting(cert: &DevCertificate) -> anyhow::Result<reqwest::Client> {
    https::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(&cert.cert_path)?;
    for der in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(der?)?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()?;
    Ok(client)
}

/// Where an example keeps its certificate: `./example-data` when serving, a fresh temporary
/// directory for a self-test (kept alive by the returned guard).
pub(crate) fn data_dir(self_test: bool) -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    if self_test {
        let dir = tempfile::tempdir()?;
        Ok((dir.path().to_owned(), Some(dir)))
    } else {
        Ok((PathBuf::from("example-data"), None))
    }
}

/// The value of the first `attribute="…"` after `marker` in `html`, as a test reads a hidden
/// field or a meta tag. Only for the self-tests: a real client would parse the HTML.
pub(crate) fn attribute_after(html: &str, marker: &str, attribute: &str) -> Option<String> {
    let rest = &html[html.find(marker)? + marker.len()..];
    let start = rest.find(&format!("{attribute}=\""))? + attribute.len() + 2;
    let end = rest[start..].find('"')?;
    Some(rest[start..start + end].to_owned())
}

/// The content type of an HTML form post.
pub(crate) const FORM: &str = "application/x-www-form-urlencoded";

/// `pairs` encoded as an HTML form body.
pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}
