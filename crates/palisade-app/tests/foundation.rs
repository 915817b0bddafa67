//! The foundation through a real server: headers on every kind of response, the redirect
//! listener, TLS versions, and the health check.

mod common;

use std::process::Command;

use common::TestApp;
use palisade_app::Settings;

fn assert_security_headers(resp: &reqwest::Response, what: &str) {
    let h = resp.headers();
    let get = |name: &str| {
        h.get(name)
            .unwrap_or_else(|| panic!("{what}: {name} missing"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        get("strict-transport-security"),
        "max-age=31536000; includeSubDomains",
        "{what}"
    );
    assert_eq!(
        h.get_all("strict-transport-security").iter().count(),
        1,
        "{what}"
    );
    let csp = get("content-security-policy");
    assert!(
        csp.contains("'nonce-") && csp.contains("'strict-dynamic'"),
        "{what}: {csp}"
    );
    assert!(
        csp.contains("object-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{what}"
    );
    assert_eq!(get("x-frame-options"), "DENY", "{what}");
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(
        get("referrer-policy"),
        "strict-origin-when-cross-origin",
        "{what}"
    );
    assert!(
        get("permissions-policy").contains("geolocation=()"),
        "{what}"
    );
    assert_eq!(get("cross-origin-opener-policy"), "same-origin", "{what}");
    assert_eq!(get("cross-origin-resource-policy"), "same-origin", "{what}");
    assert_eq!(get("x-request-id").len(), 16, "{what}");
    assert!(
        h.get("server").is_none() && h.get("x-powered-by").is_none(),
        "{what}"
    );
}

#[tokio::test]
async fn pages_404s_and_405s_carry_every_security_header() {
    let app = TestApp::start(Settings::default()).await;
    let client = app.client();
    let page = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_security_headers(&page, "landing page");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = page.text().await.unwrap();
    assert!(body.contains("Share files with your team"));

    let missing = client.get(app.url("/no/such/page")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_security_headers(&missing, "404");

    // Sign-out takes POST only; a GET reaches the router (an unsafe method would meet the
    // CSRF layer first and get 403).
    let wrong_method = client.get(app.url("/logout")).send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
    assert_security_headers(&wrong_method, "405");

    // An unsafe method without a token stops at the CSRF layer, before routing.
    let forged = client.delete(app.url("/healthz")).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    assert_security_headers(&forged, "403");

    let again = client.get(app.url("/")).send().await.unwrap();
    assert_ne!(
        again.headers()["content-security-policy"].to_str().unwrap(),
        csp
    );
    app.stop().await;
}

#[tokio::test]
async fn healthz_is_plain_text_without_a_session() {
    let app = TestApp::start(Settings::default()).await;
    let resp = app.client().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("set-cookie").is_none());
    assert_eq!(resp.text().await.unwrap(), "ok\n");
    app.stop().await;
}

#[tokio::test]
async fn http_listener_redirects_to_the_public_origin_whatever_the_host() {
    let app = TestApp::start(Settings::default()).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = client
        .get(format!("http://{}/x?y=1", app.http))
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 308);
    assert_eq!(
        resp.headers()["location"],
        format!("{}/x?y=1", app.base).as_str()
    );
    assert!(resp.headers().get("strict-transport-security").is_none());
    assert!(resp.headers().get("set-cookie").is_none());
    let post = client
        .post(format!("http://{}/login", app.http))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 308);
    app.stop().await;
}

/// `openssl s_client` is a real TLS client that can still offer TLS 1.1.
fn openssl_connects(addr: std::net::SocketAddr, version_flag: &str) -> bool {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string(), version_flag])
        .args(["-cipher", "DEFAULT@SECLEVEL=0", "-servername", "localhost"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl must be installed (apt-get install openssl)");
    let text = String::from_utf8_lossy(&out.stdout);
    text.contains("Cipher is") && !text.contains("Cipher is (NONE)")
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_1_1_is_refused_and_1_2_and_1_3_are_accepted() {
    let app = TestApp::start(Settings::default()).await;
    let addr = app.https;
    let results = tokio::task::spawn_blocking(move || {
        (
            openssl_connects(addr, "-tls1_1"),
            openssl_connects(addr, "-tls1_2"),
            openssl_connects(addr, "-tls1_3"),
        )
    })
    .await
    .unwrap();
    assert_eq!(
        results,
        (false, true, true),
        "(TLS 1.1, TLS 1.2, TLS 1.3) handshakes"
    );
    app.stop().await;
}

#[tokio::test]
async fn development_key_and_certificate_are_made_once_and_reused() {
    let app = TestApp::start(Settings::default()).await;
    let dir = app.dir.path().to_owned();
    let key = std::fs::read_to_string(dir.join("secret.key")).unwrap();
    let cert = std::fs::read_to_string(dir.join("tls/dev-cert.pem")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.join("secret.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let TestApp {
        running, dir: tmp, ..
    } = app;
    running.unwrap().stop().await.unwrap();
    // A second start in the same directory reuses both.
    let main = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let settings = Settings {
        data_dir: Some(tmp.path().to_owned()),
        public_url: Some("https://localhost:1".into()),
        ..Settings::default()
    };
    let config = palisade_app::AppConfig::resolve(settings).unwrap();
    let running = palisade_app::start_on(config, main, None).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("secret.key")).unwrap(),
        key
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("tls/dev-cert.pem")).unwrap(),
        cert
    );
    running.stop().await.unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn a_data_directory_open_to_other_users_is_closed_to_them_at_start() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let settings = Settings {
        data_dir: Some(dir.path().to_owned()),
        public_url: Some("https://localhost:1".into()),
        ..Settings::default()
    };
    let config = palisade_app::AppConfig::resolve(settings).unwrap();
    let main = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let running = palisade_app::start_on(config, main, None).await.unwrap();
    let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    running.stop().await.unwrap();
}
