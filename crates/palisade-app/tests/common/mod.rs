//! Starting Drop on 127.0.0.1 with a fresh data directory, and clients that trust its
//! development certificate.

#![allow(dead_code, unreachable_pub)]

mod browser;

#[allow(unused_imports)]
pub use browser::*;

use std::net::{SocketAddr, TcpListener};

use palisade_app::{AppConfig, Running, Settings};

/// A running app in a temporary data directory.
pub struct TestApp {
    pub running: Option<Running>,
    pub https: SocketAddr,
    pub http: SocketAddr,
    pub dir: tempfile::TempDir,
    pub base: String,
    /// The resolved configuration the app runs with, for [`TestApp::admin`].
    pub config: AppConfig,
    /// The stop signal and task of an app started by [`TestApp::start_with_state`].
    pub manual: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<std::io::Result<()>>,
    )>,
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
        let running = palisade_app::start_on(config.clone(), main, Some(redirect))
            .await
            .unwrap();
        TestApp {
            running: Some(running),
            https,
            http,
            dir,
            base,
            config,
            manual: None,
        }
    }

    /// Like [`TestApp::start`], but serving [`palisade_app::router`] here so that the test keeps
    /// the state (to close the database under the running app, say). No redirect listener.
    pub async fn start_with_state(settings: Settings) -> (TestApp, palisade_app::AppState) {
        palisade::https::install_crypto_provider();
        let main = TcpListener::bind("127.0.0.1:0").unwrap();
        let https = main.local_addr().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let base = format!("https://localhost:{}", https.port());
        let defaults = Settings {
            data_dir: Some(dir.path().to_owned()),
            public_url: Some(base.clone()),
            ..Settings::default()
        };
        let config = AppConfig::resolve(settings.over(defaults)).unwrap();
        let prepared = palisade_app::prepare(config.clone()).await.unwrap();
        let state = prepared.state.clone();
        let app = palisade_app::router(prepared.state).unwrap();
        let server = palisade::server::Server::new(main, prepared.transport);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(app, async move {
            let _ = stopped.await;
        }));
        let app = TestApp {
            running: None,
            https,
            http: https,
            dir,
            base,
            config,
            manual: Some((stop, task)),
        };
        (app, state)
    }

    /// A client trusting the app's certificate, resolving `localhost` to the app, with a cookie
    /// store and no automatic redirects.
    pub fn client(&self) -> reqwest::Client {
        self.client_builder().cookie_store(true).build().unwrap()
    }

    /// A client like [`TestApp::client`] without a cookie store: the test sends `Cookie`
    /// headers itself.
    pub fn raw_client(&self) -> reqwest::Client {
        self.client_builder().build().unwrap()
    }

    /// What [`TestApp::client`] is built from: trusts the app's certificate, resolves
    /// `localhost` to the app, follows no redirect.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        let pem = std::fs::read(self.dir.path().join("tls/dev-cert.pem")).unwrap();
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .resolve("localhost", self.https)
            .redirect(reqwest::redirect::Policy::none())
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.unwrap();
        }
        if let Some((stop, task)) = self.manual.take() {
            let _ = stop.send(());
            task.await.unwrap().unwrap();
        }
    }
}
