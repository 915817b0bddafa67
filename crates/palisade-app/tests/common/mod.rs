//! Starting Drop on 127.0.0.1 with a fresh data directory, and clients that trust its
//! development certificate.

#![allow(dead_code, unreachable_pub)]

use std::net::{SocketAddr, TcpListener};

use palisade_app::{AppConfig, Running, Settings};

/// A running app in a temporary data directory.
pub struct TestApp {
    pub running: Option<Running>,
    pub https: SocketAddr,
    pub http: SocketAddr,
    pub dir: tempfile::TempDir,
    pub base: String,
}

impl TestApp {
    /// Starts the app with `settings` over test defaults.
    pub async fn start(settings: Settings) -> TestApp {
        palisade::https::install_crypto_provider();
        let main = TcpListener::bind("127.0.0.1:0").unwrap();
        let redirect = TcpListener::bind("127.0.0.1:0").unwrap();
        let https = main.local_addr().unwrap();
        let http = redirect.local_addr().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let base = format!("https://localhost:{}", https.port());
        let defaults = Settings {
            data_dir: Some(dir.path().to_owned()),
            public_url: Some(base.clone()),
            ..Settings::default()
        };
        let config = AppConfig::resolve(settings.over(defaults)).unwrap();
        let running = palisade_app::start_on(config, main, Some(redirect))
            .await
            .unwrap();
        TestApp {
            running: Some(running),
            https,
            http,
            dir,
            base,
        }
    }

    /// A client trusting the app's certificate, resolving `localhost` to the app, with a cookie
    /// store and no automatic redirects.
    pub fn client(&self) -> reqwest::Client {
        let pem = std::fs::read(self.dir.path().join("tls/dev-cert.pem")).unwrap();
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .resolve("localhost", self.https)
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.unwrap();
        }
    }
}
