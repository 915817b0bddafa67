//! Serving an app: the HTTPS listener, the plain-HTTP redirect listener, and graceful shutdown.
//!
//! [`Server`] takes listeners that are already bound (so tests can bind `127.0.0.1:0` and read
//! the port back) and serves until the shutdown future resolves, then lets in-flight requests
//! finish within a grace period.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use rustls::ServerConfig;

use crate::https::RedirectToHttps;

/// How long in-flight requests may run on after shutdown begins.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// What the main listener speaks.
#[derive(Clone, Debug)]
pub enum Transport {
    /// TLS terminated here, with this rustls configuration.
    Tls(Arc<ServerConfig>),
    /// Plain HTTP, because a trusted proxy terminates TLS in front of this process.
    BehindTlsProxy,
}

/// The listeners of one app; see the [module docs](self).
#[derive(Debug)]
pub struct Server {
    main: TcpListener,
    transport: Transport,
    redirect: Option<(TcpListener, RedirectToHttps)>,
}

impl Server {
    /// Serves on `main` with `transport`.
    pub fn new(main: TcpListener, transport: Transport) -> Self {
        Self {
            main,
            transport,
            redirect: None,
        }
    }

    /// Also answers plain HTTP on `listener` with redirects.
    pub fn with_redirect(mut self, listener: TcpListener, redirect: RedirectToHttps) -> Self {
        self.redirect = Some((listener, redirect));
        self
    }

    /// The main listener's address.
    ///
    /// # Errors
    ///
    /// When the socket cannot report its address.
    pub fn main_addr(&self) -> std::io::Result<SocketAddr> {
        self.main.local_addr()
    }

    /// The redirect listener's address, if there is one.
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.redirect
            .as_ref()
            .and_then(|(l, _)| l.local_addr().ok())
    }

    /// Serves `app` until `shutdown` resolves, then drains in-flight requests for up to
    /// [`SHUTDOWN_GRACE`].
    ///
    /// # Errors
    ///
    /// An I/O error of a listener.
    pub async fn serve<F>(self, app: Router, shutdown: F) -> std::io::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle: Handle<SocketAddr> = Handle::new();
        let make = app.into_make_service_with_connect_info::<SocketAddr>();
        let main = match self.transport {
            Transport::Tls(config) => {
                let tls = RustlsConfig::from_config(config);
                let server = axum_server::from_tcp_rustls(self.main, tls)?.handle(handle.clone());
                tokio::spawn(async move { server.serve(make).await })
            }
            Transport::BehindTlsProxy => {
                let server = axum_server::from_tcp(self.main)?.handle(handle.clone());
                tokio::spawn(async move { server.serve(make).await })
            }
        };
        let redirect = self.redirect.map(|(listener, redirect)| {
            let handle = handle.clone();
            let make = redirect.router().into_make_service();
            async move {
                let server = axum_server::from_tcp(listener)?.handle(handle);
                server.serve(make).await
            }
        });
        let redirect = redirect.map(tokio::spawn);

        let watcher = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!(grace_secs = SHUTDOWN_GRACE.as_secs(), "shutting down");
            watcher.graceful_shutdown(Some(SHUTDOWN_GRACE));
        });

        let joined = main.await.map_err(std::io::Error::other)?;
        if let Some(redirect) = redirect {
            redirect.await.map_err(std::io::Error::other)??;
        }
        joined
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
