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

    /// Settings that open this app's data directory, for [`palisade_app::admin_tools`].
    pub fn config(&self) -> AppConfig {
        let settings = Settings {
            data_dir: Some(self.dir.path().to_owned()),
            public_url: Some(self.base.clone()),
            ..Settings::default()
        };
        AppConfig::resolve(settings).unwrap()
    }

    /// Creates a verified account for each address, with [`PASSWORD`], as `palisade user
    /// create` does. Call it before uploads start: opening the store clears its `.tmp`.
    pub async fn create_users(&self, emails: &[&str]) {
        let tools = palisade_app::admin_tools(self.config()).await.unwrap();
        for email in emails {
            tools.create_user(email, PASSWORD, false).await.unwrap();
        }
    }

    /// A client signed in as `email`, with the CSRF token of its new session (read from the
    /// sign-in form, then from a page after sign-in, since signing in changes the session id).
    pub async fn member(&self, email: &str) -> Member {
        let client = self.client();
        let form = client.get(self.url("/login")).send().await.unwrap();
        let token = csrf_token(&form.text().await.unwrap());
        let resp = client
            .post(self.url("/login"))
            .form(&[
                ("csrf_token", token.as_str()),
                ("email", email),
                ("password", PASSWORD),
                ("next", "/files"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303, "sign-in as {email}");
        let page = client.get(self.url("/files")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let token = csrf_token(&page.text().await.unwrap());
        Member {
            client,
            token,
            email: email.to_owned(),
        }
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

/// The password of every test account.
pub const PASSWORD: &str = "Lantern-Orbit-Quarry-4471";

/// A signed-in client and the CSRF token of its session.
pub struct Member {
    pub client: reqwest::Client,
    pub token: String,
    pub email: String,
}

/// The first `csrf_token` hidden field of a page.
pub fn csrf_token(html: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = html.find(marker).expect("a csrf_token field") + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    unescape(&html[start..end])
}

/// Undoes minijinja's HTML escaping, to read URLs out of attributes.
pub fn unescape(text: &str) -> String {
    text.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}
