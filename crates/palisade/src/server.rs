//! Serving an app: the HTTPS listener, the plain-HTTP redirect listener, and graceful shutdown.
//!
//! [`Server`] takes listeners that are already bound (so tests can bind `127.0.0.1:0` and read
//! the port back) and serves until the shutdown future resolves, then lets in-flight requests
//! finish within a grace period.
//!
//! Slow clients are cut off: a new connection's first request must arrive within
//! [`CLIENT_TIMEOUT`] after the TLS handshake (which has its own limit of 10 seconds), and on
//! HTTP/1.1 every later request's headers within [`CLIENT_TIMEOUT`] of the connection being
//! ready for them, which also closes a kept-alive connection idle for that long: a client that
//! opens connections and trickles or withholds its requests cannot hold them open. HTTP/2
//! connections are pinged every [`CLIENT_TIMEOUT`] and closed when a ping goes unanswered; an
//! HTTP/2 client that answers pings may keep an idle connection, at the cost of one socket.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use hyper_util::rt::TokioTimer;
use rustls::ServerConfig;

use crate::https::RedirectToHttps;

/// How long in-flight requests may run on after shutdown begins.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// How long a client may take to send a request's headers, or leave a kept-alive connection
/// idle; see the [module docs](self).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

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
    client_timeout: Duration,
}

impl Server {
    /// Serves on `main` with `transport`.
    pub fn new(main: TcpListener, transport: Transport) -> Self {
        Self {
            main,
            transport,
            redirect: None,
            client_timeout: CLIENT_TIMEOUT,
        }
    }

    /// Uses `timeout` instead of [`CLIENT_TIMEOUT`] (at least one second).
    pub fn with_client_timeout(mut self, timeout: Duration) -> Self {
        self.client_timeout = timeout.max(Duration::from_secs(1));
        self
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
                let server = limit_slow_clients(server, self.client_timeout);
                tokio::spawn(async move { server.serve(make).await })
            }
            Transport::BehindTlsProxy => {
                let server = axum_server::from_tcp(self.main)?.handle(handle.clone());
                let server = limit_slow_clients(server, self.client_timeout);
                tokio::spawn(async move { server.serve(make).await })
            }
        };
        let client_timeout = self.client_timeout;
        let redirect = self.redirect.map(|(listener, redirect)| {
            let handle = handle.clone();
            let make = redirect.router().into_make_service();
            async move {
                let server = axum_server::from_tcp(listener)?.handle(handle);
                limit_slow_clients(server, client_timeout).serve(make).await
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

/// The time limits of [`Server`]'s connections; see the [module docs](self).
fn limit_slow_clients<Acc>(
    server: axum_server::Server<SocketAddr, Acc>,
    timeout: Duration,
) -> axum_server::Server<SocketAddr, Acc> {
    let mut server = server.first_request_timeout(timeout);
    let builder = server.http_builder();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(timeout)
        .keep_alive_timeout(timeout);
    server
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

#[cfg(test)]
mod tests {
    use axum::routing::get;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpStream;

    use super::*;

    /// A plain-HTTP server answering `GET /`, stopped when the returned sender is dropped.
    fn start(client_timeout: Duration) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server =
            Server::new(listener, Transport::BehindTlsProxy).with_client_timeout(client_timeout);
        let addr = server.main_addr().unwrap();
        let app = Router::new().route("/", get(|| async { "ok" }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.serve(app, async move {
            let _ = stopped.await;
        }));
        (addr, stop)
    }

    /// Whether the server closes the connection within `limit` (whatever it sends first).
    async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
        let mut buf = [0u8; 1024];
        tokio::time::timeout(limit, async {
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    return;
                }
            }
        })
        .await
        .is_ok()
    }

    #[tokio::test]
    async fn a_client_withholding_the_end_of_its_headers_is_cut_off() {
        let (addr, _stop) = start(Duration::from_secs(1));
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
            .await
            .unwrap();
        assert!(closed_within(&mut stream, Duration::from_secs(5)).await);
    }

    #[tokio::test]
    async fn a_connection_that_never_sends_a_request_is_cut_off() {
        let (addr, _stop) = start(Duration::from_secs(1));
        let mut stream = TcpStream::connect(addr).await.unwrap();
        assert!(closed_within(&mut stream, Duration::from_secs(5)).await);
    }

    #[tokio::test]
    async fn an_idle_kept_alive_connection_is_closed_and_a_busy_one_is_not() {
        let (addr, _stop) = start(Duration::from_secs(1));
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 1024];
        // Requests closer together than the limit keep the connection, for longer than it.
        for _ in 0..4 {
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .await
                .unwrap();
            let n = stream.read(&mut buf).await.unwrap();
            assert!(
                String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
                "{}",
                String::from_utf8_lossy(&buf[..n])
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        assert!(closed_within(&mut stream, Duration::from_secs(5)).await);
    }

    #[tokio::test]
    async fn with_the_default_limit_a_pause_of_seconds_is_allowed() {
        let (addr, _stop) = start(CLIENT_TIMEOUT);
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        assert!(!closed_within(&mut stream, Duration::from_secs(2)).await);
        stream.write_all(b"Host: localhost\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 1024];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    }
}
