//! The benchmark ceiling: Drop's landing page rendered by plain axum and minijinja, with no
//! security layer (no sessions, CSRF, headers, request log or client-address layer).
//!
//! It renders the same `index.html` and `base.html` as `palisade serve`, with the same
//! autoescaping, the same fingerprinted static URLs and a fixed dummy nonce, so the body is byte
//! for byte the landing page an anonymous visitor gets. What `palisade serve` spends on top of
//! this is the cost of its security.
//!
//! For the upload benchmark it also has `POST /upload-sink`: the request body, unparsed,
//! streamed to a temporary file in 256 KiB writes, fsynced and deleted. That is the transport and the disk with
//! nothing of Drop's upload path (multipart parsing, type check, scan, quota, database).
//!
//! ```text
//! axum-bare 127.0.0.1:9000                      # plain HTTP
//! axum-bare 127.0.0.1:9443 cert.pem key.pem     # HTTPS (rustls, TLS 1.2 and 1.3)
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum_server::tls_rustls::RustlsConfig;
use http_body_util::BodyExt as _;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

/// The templates and static files of Drop, read from the app crate at build time.
macro_rules! app_file {
    ($kind:literal, $name:literal) => {
        include_str!(concat!("../../../crates/palisade-app/", $kind, "/", $name))
    };
}

const TEMPLATES: [(&str, &str); 2] = [
    ("base.html", app_file!("templates", "base.html")),
    ("index.html", app_file!("templates", "index.html")),
];

const STATIC_FILES: [(&str, &str); 3] = [
    ("app.css", app_file!("static", "app.css")),
    ("app.js", app_file!("static", "app.js")),
    ("favicon.svg", app_file!("static", "favicon.svg")),
];

/// The nonce every page carries; a real app makes a fresh one per response.
const DUMMY_NONCE: &str = "bench-dummy-nonce";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (addr, tls) = match args.as_slice() {
        [addr] => (addr, None),
        [addr, cert, key] => (addr, Some((cert, key))),
        _ => bail!("usage: axum-bare ADDR [CERT.pem KEY.pem]"),
    };
    let addr: SocketAddr = addr
        .parse()
        .with_context(|| format!("`{addr}` is not an address like 127.0.0.1:9000"))?;
    if !addr.ip().is_loopback() {
        bail!("axum-bare is a benchmark server and only listens on loopback, not {addr}");
    }

    let app = router(Arc::new(templates()?));
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        match tls {
            None => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding {addr}"))?;
                eprintln!("axum-bare: http://{addr}/");
                axum::serve(listener, app).await?;
            }
            Some((cert, key)) => {
                let config =
                    RustlsConfig::from_config(tls_config(Path::new(cert), Path::new(key))?);
                eprintln!("axum-bare: https://{addr}/");
                axum_server::bind_rustls(addr, config)
                    .serve(app.into_make_service())
                    .await?;
            }
        }
        Ok(())
    })
}

fn router(env: Arc<Environment<'static>>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/upload-sink", post(upload_sink))
        .with_state(env)
}

async fn index(State(env): State<Arc<Environment<'static>>>) -> Response {
    let ctx = minijinja::context! {
        csp_nonce => DUMMY_NONCE,
        user => (),
        flash => (),
    };
    match env.get_template("index.html").and_then(|t| t.render(ctx)) {
        Ok(html) => Html(html).into_response(),
        Err(err) => {
            eprintln!("axum-bare: rendering failed: {err}");
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal error.\n").into_response()
        }
    }
}

/// Streams the body to a file in the temporary directory, fsyncs it, deletes it, and answers
/// `201` with the number of bytes.
async fn upload_sink(body: Body) -> Response {
    match sink(body).await {
        Ok(bytes) => (StatusCode::CREATED, format!("{bytes}\n")).into_response(),
        Err(err) => {
            eprintln!("axum-bare: upload sink failed: {err}");
            (StatusCode::INTERNAL_SERVER_ERROR, "upload failed\n").into_response()
        }
    }
}

async fn sink(mut body: Body) -> anyhow::Result<u64> {
    let path = std::env::temp_dir().join(format!("axum-bare-upload-{}", std::process::id()));
    // Gathered into 256 KiB writes, as Drop does: a tokio file write per 16 KiB HTTP/2 frame
    // would make the thread hand-offs, not the disk, the limit.
    let mut file =
        tokio::io::BufWriter::with_capacity(256 * 1024, tokio::fs::File::create(&path).await?);
    let mut bytes = 0u64;
    let written = async {
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                bytes += data.len() as u64;
                file.write_all(&data).await?;
            }
        }
        file.flush().await?;
        file.get_ref().sync_all().await?;
        anyhow::Ok(())
    }
    .await;
    tokio::fs::remove_file(&path).await?;
    written.map(|()| bytes)
}

/// The same environment settings as `palisade::template`: every template autoescapes as HTML,
/// undefined values are errors, and `static_url` gives the same fingerprinted URLs.
fn templates() -> anyhow::Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)?;
    }
    let urls: HashMap<&str, String> = STATIC_FILES
        .iter()
        .map(|(name, text)| (*name, fingerprinted_url(name, text.as_bytes())))
        .collect();
    env.add_function("static_url", move |name: &str| -> Result<String, Error> {
        urls.get(name).cloned().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("no static asset named {name}"),
            )
        })
    });
    env.add_function("csrf_field", || -> Result<String, Error> {
        Err(Error::new(
            ErrorKind::InvalidOperation,
            "axum-bare has no sessions, so no page of it may show a form",
        ))
    });
    Ok(env)
}

/// `/static/app.<first 5 bytes of SHA-256, hex>.css`, as `palisade::assets` names files.
fn fingerprinted_url(name: &str, bytes: &[u8]) -> String {
    let hash = hex::encode(&Sha256::digest(bytes)[..5]);
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("/static/{stem}.{hash}.{ext}"),
        None => format!("/static/{name}.{hash}"),
    }
}

/// TLS 1.2 and 1.3 with ring's default suites and ALPN `h2`, `http/1.1`: the policy of
/// `palisade serve`, so the HTTPS rows compare like with like.
fn tls_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the private key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_landing_page_renders_with_fingerprinted_assets_and_the_nonce_slot() {
        let env = templates().unwrap();
        let html = env
            .get_template("index.html")
            .unwrap()
            .render(minijinja::context! { csp_nonce => DUMMY_NONCE, user => (), flash => () })
            .unwrap();
        assert!(html.contains("Share files with your team, safely."));
        let css = fingerprinted_url("app.css", STATIC_FILES[0].1.as_bytes());
        // Autoescaping writes `/` as `&#x2f;` inside the attribute, as the app does.
        let escaped = css.replace('/', "&#x2f;");
        assert!(html.contains(&format!("href=\"{escaped}\"")), "{html}");
    }

    #[test]
    fn fingerprints_keep_the_extension_last() {
        let url = fingerprinted_url("app.css", b"x");
        assert!(
            url.starts_with("/static/app.") && url.ends_with(".css"),
            "{url}"
        );
        assert_eq!(url.len(), "/static/app.".len() + 10 + ".css".len());
    }
}
