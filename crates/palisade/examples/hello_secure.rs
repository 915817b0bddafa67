//! # Hello, secure: an existing axum app with security headers, over HTTPS
//!
//! ```text
//! cargo run -p palisade --example hello_secure
//! ```
//!
//! Then open <https://localhost:8443/>. The certificate is self-signed (made on first start in
//! `./example-data/tls/`), so the browser asks once. <http://localhost:8080/> answers only with a
//! redirect to the HTTPS address.
//!
//! What changes compared with plain axum:
//!
//! 1. `SecureHeadersLayer` adds HSTS, a strict Content-Security-Policy with a fresh nonce per
//!    response, `X-Frame-Options: DENY`, `nosniff`, a referrer policy, a deny-all
//!    permissions policy and COOP/CORP to every response, 404s included.
//! 2. The app is served by `palisade::server::Server`: TLS 1.2 and 1.3 only (rustls), and a
//!    second, plain-HTTP listener whose only answer is `308 Permanent Redirect` to the HTTPS
//!    origin you configured (it never trusts the request's `Host`).
//!
//! `--self-test` (or `PALISADE_EXAMPLE_SELF_TEST=1`) serves on random ports, checks both
//! listeners with real requests and exits; `cargo test -p palisade --examples` runs it.

mod support;

use std::net::TcpListener;
use std::path::Path;

use anyhow::Context as _;
use axum::Router;
use axum::response::Html;
use axum::routing::get;
use palisade::headers::{SecureHeadersConfig, SecureHeadersLayer};
use palisade::https::{self, DevCertificate, RedirectToHttps};
use palisade::server::{Server, Transport};
use url::Url;

/// Your existing router, unchanged.
fn existing_app() -> Router {
    Router::new()
        .route(
            "/",
            get(|| async {
                Html("<!doctype html><title>Hello</title><h1>Hello, secure world</h1>")
            }),
        )
        .route("/api/health", get(|| async { "ok" }))
}

/// The one line that adds the security headers. Put it outermost (added last), so that every
/// response, including 404s and errors from inner layers, gets them.
fn secure(app: Router) -> Router {
    app.layer(SecureHeadersLayer::new(SecureHeadersConfig::default()))
}

/// The HTTPS listener, the redirect listener, and the certificate behind them.
struct Listening {
    server: Server,
    cert: DevCertificate,
    public_url: Url,
}

/// Binds both listeners and prepares TLS with the development certificate in `data_dir`.
///
/// In production you would pass your own certificate files to `https::server_config` instead
/// of calling `https::dev_certificate`.
fn listen(https_addr: &str, http_addr: &str, data_dir: &Path) -> anyhow::Result<Listening> {
    // rustls needs a crypto provider; Palisade uses ring. Installing it twice is harmless.
    https::install_crypto_provider();
    let cert = https::dev_certificate(data_dir).context("creating the development certificate")?;
    let tls = https::server_config(&cert.cert_path, &cert.key_path)?;

    let main = TcpListener::bind(https_addr).with_context(|| format!("binding {https_addr}"))?;
    let redirect = TcpListener::bind(http_addr).with_context(|| format!("binding {http_addr}"))?;

    // The origin every redirect points at. Use your real domain in production.
    let public_url = Url::parse(&format!("https://localhost:{}", main.local_addr()?.port()))?;
    let server = Server::new(main, Transport::Tls(tls))
        .with_redirect(redirect, RedirectToHttps::new(public_url.clone()));
    Ok(Listening {
        server,
        cert,
        public_url,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if support::self_test_requested() {
        return self_test().await;
    }

    let Listening {
        server,
        cert,
        public_url,
    } = listen(
        "127.0.0.1:8443",
        "127.0.0.1:8080",
        Path::new("example-data"),
    )?;
    println!("HTTPS:    {public_url}");
    if let Some(addr) = server.redirect_addr() {
        println!(
            "Redirect: http://localhost:{}/ -> {public_url}",
            addr.port()
        );
    }
    println!(
        "Certificate: {} (SHA-256 {})",
        cert.cert_path.display(),
        cert.fingerprint
    );
    println!("Press Ctrl-C to stop.");

    // Serves until Ctrl-C or SIGTERM, then lets in-flight requests finish.
    server
        .serve(secure(existing_app()), palisade::server::shutdown_signal())
        .await?;
    Ok(())
}

/// Serves on random loopback ports and checks one page over HTTPS and one redirect over HTTP.
async fn self_test() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let Listening {
        server,
        cert,
        public_url,
    } = listen("127.0.0.1:0", "127.0.0.1:0", dir.path())?;
    let redirect_port = server.redirect_addr().context("redirect listener")?.port();
    let client = support::client_trusting(&cert)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(secure(existing_app()), async move {
        let _ = stopped.await;
    }));

    // A page over HTTPS carries the security headers.
    let page = client.get(public_url.as_str()).send().await?;
    anyhow::ensure!(page.status() == 200, "home page answered {}", page.status());
    let headers = page.headers();
    anyhow::ensure!(
        headers["strict-transport-security"] == "max-age=31536000; includeSubDomains",
        "HSTS missing"
    );
    let csp = headers["content-security-policy"].to_str()?;
    anyhow::ensure!(
        csp.contains("'nonce-") && csp.contains("frame-ancestors 'none'"),
        "CSP: {csp}"
    );
    anyhow::ensure!(headers["x-frame-options"] == "DENY");
    anyhow::ensure!(headers["x-content-type-options"] == "nosniff");

    // So does a 404.
    let missing = client.get(public_url.join("/nowhere")?).send().await?;
    anyhow::ensure!(
        missing.status() == 404 && missing.headers().contains_key("content-security-policy")
    );

    // Plain HTTP only redirects, keeping the path and query, to the configured origin.
    let plain = client
        .get(format!(
            "http://127.0.0.1:{redirect_port}/api/health?verbose=1"
        ))
        .send()
        .await?;
    anyhow::ensure!(
        plain.status() == 308,
        "redirect listener answered {}",
        plain.status()
    );
    let expected = public_url.join("/api/health?verbose=1")?;
    anyhow::ensure!(
        plain.headers()["location"] == expected.as_str(),
        "location {:?}",
        plain.headers()["location"]
    );

    let _ = stop.send(());
    task.await??;
    println!("hello_secure self-test passed");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn self_test_passes() {
        super::self_test().await.unwrap();
    }
}
