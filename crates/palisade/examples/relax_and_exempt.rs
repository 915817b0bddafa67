//! # Relax and exempt: weakening a default for one route, visibly
//!
//! ```text
//! cargo run -p palisade --example relax_and_exempt
//! ```
//!
//! Palisade's defaults are strict everywhere. When one route really needs less, you say so on
//! that route, with a name a reviewer can search for:
//!
//! - `palisade::headers::relax(name, value)` replaces one security header on the routes it
//!   wraps. Here the `/map` page may ask for the visitor's location; every other page keeps
//!   `geolocation=()`.
//! - `CsrfConfig::exempt(method, path, reason)` takes one route out of the CSRF check. Here a
//!   payment provider's webhook, which no browser calls and which proves itself with an HMAC
//!   signature instead. The exemptions are a list you can print; this example prints it at
//!   start, as `palisade routes --csrf-exempt` does for Drop.
//!
//! `--self-test` (or `PALISADE_EXAMPLE_SELF_TEST=1`) serves on a random port, checks both
//! routes and exits; `cargo test -p palisade --examples` runs it.

mod support;

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Html;
use axum::routing::{get, post};
use hmac::{Hmac, Mac as _};
use palisade::csrf::{CsrfConfig, CsrfLayer};
use palisade::headers::{self, DENY_ALL_PERMISSIONS, SecureHeadersConfig, SecureHeadersLayer};
use palisade::proxy::{ClientIpLayer, TrustedProxies};
use palisade::secret::{KeyRing, Purpose};
use palisade::session::{MemorySessionStore, SessionConfig, SessionLayer};
use sha2::Sha256;
use support::DevServer;

/// The header the payment provider signs its calls with: `sha256=<hex HMAC of the body>`.
const SIGNATURE_HEADER: &str = "x-signature";

/// The secret shared with the payment provider (from its dashboard, in real life).
#[derive(Clone)]
struct WebhookSecret(Arc<[u8]>);

/// The CSRF settings, with every exemption and its reason in one place.
fn csrf_config(public_origin: &str) -> anyhow::Result<CsrfConfig> {
    Ok(CsrfConfig::new(public_origin)?.exempt(
        Method::POST,
        "/webhooks/payments",
        "called by the payment provider, not a browser; authenticated by its HMAC signature",
    ))
}

/// The permissions policy of `/map`: the default deny-all list with geolocation allowed for this
/// origin only. `relax` replaces the whole header, so start from the default list rather than
/// writing `geolocation=(self)` alone (which would switch every other feature back on).
fn map_permissions() -> HeaderValue {
    let policy = DENY_ALL_PERMISSIONS.replace("geolocation=()", "geolocation=(self)");
    HeaderValue::from_str(&policy).expect("the policy is ASCII")
}

fn app(csrf: CsrfConfig, webhook_secret: WebhookSecret) -> Router {
    let keys = KeyRing::generate();
    let sessions = SessionLayer::new(
        Arc::new(MemorySessionStore::new()),
        keys.signer(Purpose::Session),
        SessionConfig::default(),
    );
    Router::new()
        .route(
            "/",
            get(|| async { Html("<!doctype html><title>Home</title><p>Strict page.") }),
        )
        .route(
            "/map",
            get(|| async { Html("<!doctype html><title>Map</title><p>May ask where you are.") })
                // Security: only this route may use geolocation.
                .layer(headers::relax(
                    HeaderName::from_static("permissions-policy"),
                    map_permissions(),
                )),
        )
        .route("/settings", post(|| async { "saved" }))
        .route("/webhooks/payments", post(payment_webhook))
        .with_state(webhook_secret)
        .layer(CsrfLayer::new(keys.signer(Purpose::Csrf), csrf))
        .layer(sessions)
        .layer(SecureHeadersLayer::new(SecureHeadersConfig::default()))
        .layer(ClientIpLayer::new(TrustedProxies::none()))
}

/// The exempt route must authenticate its caller itself: here, a signature over the body,
/// compared in constant time. No cookie is involved, so there is nothing to forge cross-site.
async fn payment_webhook(
    State(secret): State<WebhookSecret>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let Some(signature) = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(|hex_tag| hex::decode(hex_tag).ok())
    else {
        return StatusCode::UNAUTHORIZED;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret.0).expect("HMAC takes any key length");
    mac.update(&body);
    if mac.verify_slice(&signature).is_err() {
        return StatusCode::UNAUTHORIZED;
    }
    // … record the payment …
    StatusCode::NO_CONTENT
}

/// What the provider sends in `X-Signature` for `body`.
fn sign(secret: &WebhookSecret, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret.0).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn random_secret() -> WebhookSecret {
    let key = KeyRing::generate_key_string();
    WebhookSecret(Arc::from(key.as_bytes()))
}

/// Prints what a reviewer should look at: every route that skips the CSRF check, and why.
fn print_exemptions(csrf: &CsrfConfig) {
    println!("CSRF exemptions ({}):", csrf.exemptions().len());
    for exemption in csrf.exemptions() {
        println!("  {exemption}");
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if support::self_test_requested() {
        return self_test().await;
    }
    let server = DevServer::bind("127.0.0.1:8443", Path::new("example-data"))?;
    let csrf = csrf_config(&server.origin)?;
    print_exemptions(&csrf);

    let secret = random_secret();
    let body = r#"{"paid":true}"#;
    println!("Try the webhook (-k: the certificate is self-signed):");
    println!(
        "  curl -k -i -X POST {}/webhooks/payments -H '{SIGNATURE_HEADER}: {}' -d '{body}'",
        server.origin,
        sign(&secret, body.as_bytes())
    );
    server.serve(app(csrf, secret)).await
}

async fn self_test() -> anyhow::Result<()> {
    use anyhow::ensure;

    let dir = tempfile::tempdir()?;
    let server = DevServer::bind("127.0.0.1:0", dir.path())?;
    let csrf = csrf_config(&server.origin)?;
    ensure!(csrf.exemptions().len() == 1 && csrf.exemptions()[0].path == "/webhooks/payments");
    print_exemptions(&csrf);
    let secret = random_secret();
    let site = server.spawn(app(csrf, secret.clone()))?;

    // Every page denies geolocation, except the relaxed one; the rest of the policy stays.
    let permissions = |r: &reqwest::Response| {
        r.headers()["permissions-policy"]
            .to_str()
            .unwrap_or_default()
            .to_owned()
    };
    let home = site.client.get(site.url("/")).send().await?;
    ensure!(home.status() == 200 && permissions(&home).contains("geolocation=()"));
    let map = site.client.get(site.url("/map")).send().await?;
    let policy = permissions(&map);
    ensure!(
        map.status() == 200 && policy.contains("geolocation=(self)"),
        "{policy}"
    );
    ensure!(
        policy.contains("camera=()"),
        "relaxing one feature re-enabled others: {policy}"
    );
    ensure!(map.headers().contains_key("content-security-policy"));

    // The exempt webhook needs no session and no token, only its signature.
    let body = r#"{"paid":true}"#;
    let signed = site
        .client
        .post(site.url("/webhooks/payments"))
        .header(SIGNATURE_HEADER, sign(&secret, body.as_bytes()))
        .body(body)
        .send()
        .await?;
    ensure!(
        signed.status() == 204,
        "signed webhook answered {}",
        signed.status()
    );
    let forged = site
        .client
        .post(site.url("/webhooks/payments"))
        .header(SIGNATURE_HEADER, sign(&random_secret(), body.as_bytes()))
        .body(body)
        .send()
        .await?;
    ensure!(
        forged.status() == 401,
        "forged webhook answered {}",
        forged.status()
    );

    // Any other POST is still checked.
    let settings = site
        .client
        .post(site.url("/settings"))
        .body("x=1")
        .send()
        .await?;
    ensure!(
        settings.status() == 403,
        "unexempt POST answered {}",
        settings.status()
    );

    site.stop().await?;
    println!("relax_and_exempt self-test passed");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn self_test_passes() {
        super::self_test().await.unwrap();
    }
}
