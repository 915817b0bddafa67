//! Drop, the Palisade showcase app: a small team file-sharing app built only on the toolkit.
//!
//! [`prepare`] turns an [`AppConfig`] into everything the app needs on disk (data directory,
//! key ring, certificate, database); [`router`] builds the full request path; [`run`] serves it
//! until SIGTERM or Ctrl-C.

mod accounts;
mod admin;
mod assets;
pub mod config;
mod files;
mod pages;
mod state;
mod web;

use std::net::TcpListener;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use axum::Router;
use palisade::csrf::{CsrfConfig, CsrfLayer};
use palisade::headers::{Hsts, SecureHeadersConfig, SecureHeadersLayer};
use palisade::https::{self, RedirectToHttps};
use palisade::proxy::ClientIpLayer;
use palisade::request_log::RequestLogLayer;
use palisade::secret::{KeyRing, Purpose};
use palisade::server::{Server, Transport};
use palisade::session::SessionLayer;
use tower_http::catch_panic::CatchPanicLayer;

pub use crate::config::{AppConfig, Mode, Settings};
pub use crate::state::{AppState, Services};

/// Everything [`run`] needs, prepared from the configuration.
#[derive(Debug)]
pub struct Prepared {
    /// The shared state of the handlers.
    pub state: AppState,
    /// What the main listener speaks.
    pub transport: Transport,
}

/// Creates the data directory, loads or generates the key ring and the certificate, and opens
/// and migrates the database.
///
/// # Errors
///
/// A message saying what is wrong and how to fix it: a weak or missing key in production,
/// unreadable certificate files, an unwritable data directory.
pub async fn prepare(config: AppConfig) -> anyhow::Result<Prepared> {
    https::install_crypto_provider();
    create_private_dir(&config.data_dir)?;

    let keys = match (&config.secret_key, config.mode) {
        (Some(list), _) => KeyRing::parse(list).context("PALISADE_SECRET_KEY refused")?,
        (None, Mode::Production) => {
            bail!(palisade::secret::KeyError::Missing)
        }
        (None, Mode::Development) => {
            let path = config.data_dir.join("secret.key");
            let (ring, created) = KeyRing::load_or_create(&path)?;
            if created {
                tracing::info!(path = %path.display(), "generated a development secret key");
            }
            ring
        }
    };

    let transport = if config.tls_terminated_by_proxy {
        tracing::info!("TLS is terminated by a trusted proxy; serving plain HTTP behind it");
        Transport::BehindTlsProxy
    } else if let Some((cert, key)) = &config.tls_files {
        Transport::Tls(https::server_config(cert, key)?)
    } else {
        let dev = https::dev_certificate(&config.data_dir)?;
        tracing::info!(
            cert = %dev.cert_path.display(),
            sha256 = %dev.fingerprint,
            created = dev.created,
            "using the self-signed development certificate for localhost and 127.0.0.1"
        );
        Transport::Tls(https::server_config(&dev.cert_path, &dev.key_path)?)
    };

    let db_path = config.data_dir.join("palisade.db");
    let db = palisade::db::connect_sqlite(&db_path)
        .await
        .with_context(|| format!("opening the database {}", db_path.display()))?;
    palisade::db::migrate(&db)
        .await
        .context("migrating the database")?;
    migrate_app(&db).await.context("migrating Drop's tables")?;

    // A lookup waits mostly for the hand-off to its connection's thread, not for a core, so
    // more connections than cores keep more requests' lookups in flight (measured with
    // bench/run.sh on 2 cores: 2 connections 9.9k signed-in pages/s, 8 gave 12.4k, 16 no more).
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let reads = palisade::db::ReadConnections::open(&db, (cores * 4).clamp(4, 16))
        .await
        .context("opening the read connections")?;
    let state = AppState::new(Arc::new(config), keys, db, reads)?;
    Ok(Prepared { state, transport })
}

/// Creates or updates Drop's own tables (files, comments, shares, share links), numbered from
/// 1000 so they never collide with the toolkit's; each set ignores the other's versions.
async fn migrate_app(db: &sqlx::SqlitePool) -> Result<(), sqlx::migrate::MigrateError> {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator.run(db).await
}

fn create_private_dir(path: &std::path::Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(path)
        .with_context(|| format!("creating the data directory {}", path.display()))?;
    restrict_to_owner(path)
}

/// The data directory holds the secret key, password hashes and two-factor secrets, and the
/// files under it are created with the process's umask: a directory that already existed
/// open to other users is closed to them, or the start is refused.
#[cfg(unix)]
fn restrict_to_owner(path: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)
        .with_context(|| format!("reading the data directory {}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).with_context(
            || {
                format!(
                    "the data directory {} is open to other users (mode {:o}) and could not be \
                     restricted; run `chmod 700` on it",
                    path.display(),
                    mode & 0o777
                )
            },
        )?;
        tracing::warn!(
            path = %path.display(),
            was = format!("{:o}", mode & 0o777),
            "the data directory was open to other users; restricted it to its owner (700)"
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict_to_owner(_: &std::path::Path) -> anyhow::Result<()> {
    Ok(())
}

/// The routes that may take an unsafe request without a CSRF token, each with its reason.
/// `palisade routes --csrf-exempt` prints this list for review.
pub fn csrf_config(config: &AppConfig) -> anyhow::Result<CsrfConfig> {
    let origin = config.public_url.origin().ascii_serialization();
    Ok(CsrfConfig::new(&origin)?.exempt(
        http::Method::POST,
        palisade::headers::CSP_REPORT_PATH,
        "browsers send CSP violation reports without cookies or tokens; the endpoint only logs",
    ))
}

/// The full request path, outermost first: request log, client address, security headers,
/// panic page, sessions, CSRF, then the routes.
pub fn router(state: AppState) -> anyhow::Result<Router> {
    // The public URL is always https (checked by the configuration), so HSTS is right even
    // behind a TLS-terminating proxy.
    let hsts = Some(Hsts {
        preload: state.config.hsts_preload,
        ..Hsts::default()
    });
    let headers = SecureHeadersConfig {
        hsts,
        ..SecureHeadersConfig::default()
    };
    let proxies = state.config.trusted_proxies.clone();
    let sessions = SessionLayer::new(
        state.session_store.clone(),
        state.keys.signer(Purpose::Session),
        state.session_config.clone(),
    );
    let hook_state = state.clone();
    let csrf = CsrfLayer::new(
        state.keys.signer(Purpose::Csrf),
        csrf_config(&state.config)?,
    )
    .on_rejection(Arc::new(move |rejection| {
        let state = hook_state.clone();
        Box::pin(async move { web::csrf_rejected(state, rejection).await })
    }));
    let routes = Router::new()
        .merge(pages::routes(&state))
        .merge(accounts::routes())
        .merge(admin::routes())
        .merge(files::routes())
        .fallback(pages::not_found)
        .method_not_allowed_fallback(pages::method_not_allowed)
        .route_layer(axum::middleware::from_fn(
            palisade::request_log::remember_route,
        ))
        .with_state(state);
    Ok(routes
        .layer(csrf)
        .layer(sessions)
        .layer(CatchPanicLayer::custom(pages::panic_response))
        .layer(SecureHeadersLayer::new(headers))
        .layer(ClientIpLayer::new(proxies))
        .layer(RequestLogLayer))
}

/// Account administration for the command line, on the configured data directory.
#[derive(Debug)]
pub struct AdminTools {
    state: AppState,
}

/// Opens the data directory's database for [`AdminTools`].
///
/// # Errors
///
/// As [`prepare`].
pub async fn admin_tools(config: AppConfig) -> anyhow::Result<AdminTools> {
    let prepared = prepare(config).await?;
    Ok(AdminTools {
        state: prepared.state,
    })
}

impl AdminTools {
    /// Creates a verified account, checking the password policy.
    ///
    /// # Errors
    ///
    /// An invalid address, a refused password, or an address already taken.
    pub async fn create_user(
        &self,
        email: &str,
        password: &str,
        admin: bool,
    ) -> anyhow::Result<palisade::auth::users::User> {
        let email = palisade::auth::email::Email::parse(email)?;
        self.state.policy.check(password, Some(&email)).await?;
        let hash = self.state.hasher.hash(password).await?;
        let user = self.state.users.create(&email, Some(&hash)).await?;
        self.state.users.mark_verified(user.id).await?;
        if admin {
            self.state.users.set_admin(user.id, true).await?;
        }
        Ok(self.state.users.find_by_id(user.id).await?.unwrap_or(user))
    }

    /// Every account.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn list_users(&self) -> anyhow::Result<Vec<palisade::auth::users::User>> {
        Ok(self
            .state
            .users
            .list(palisade::auth::users::MAX_PAGE, 0)
            .await?)
    }

    /// Disables (ending every session at once) or enables an account; returns how many
    /// sessions ended.
    ///
    /// # Errors
    ///
    /// An unknown address or a database error.
    pub async fn set_disabled(&self, email: &str, disabled: bool) -> anyhow::Result<u64> {
        let email = palisade::auth::email::Email::parse(email)?;
        let user = self
            .state
            .users
            .find_by_email(&email)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no account uses {}", email.as_str()))?;
        self.state.users.set_disabled(user.id, disabled).await?;
        let ended = if disabled {
            self.state.sessions.revoke_all(user.id).await?
        } else {
            0
        };
        let kind = if disabled {
            palisade::auth::users::EventKind::Disabled
        } else {
            palisade::auth::users::EventKind::Enabled
        };
        let event = palisade::auth::users::NewEvent::new(kind)
            .user(user.id)
            .detail("command line");
        self.state.events.record(event).await?;
        Ok(ended)
    }
}

/// A running app: its addresses and the handle that stops it.
#[derive(Debug)]
pub struct Running {
    /// The HTTPS (or proxied) listener's address.
    pub https_addr: std::net::SocketAddr,
    /// The redirect listener's address.
    pub http_addr: Option<std::net::SocketAddr>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops the app gracefully and waits for it.
    ///
    /// # Errors
    ///
    /// A listener's I/O error.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task.await??;
        Ok(())
    }
}

/// Prepares and starts the app on its configured addresses, returning once it listens.
///
/// # Errors
///
/// As [`prepare`], and when an address cannot be bound.
pub async fn start(config: AppConfig) -> anyhow::Result<Running> {
    let main = TcpListener::bind(config.https_addr)
        .with_context(|| format!("binding the HTTPS listener to {}", config.https_addr))?;
    let redirect = match config.http_addr {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .with_context(|| format!("binding the HTTP redirect listener to {addr}"))?,
        ),
        None => None,
    };
    start_on(config, main, redirect).await
}

/// Like [`start`], on listeners the caller bound (tests bind `127.0.0.1:0`).
///
/// # Errors
///
/// As [`prepare`].
pub async fn start_on(
    config: AppConfig,
    main: TcpListener,
    redirect: Option<TcpListener>,
) -> anyhow::Result<Running> {
    let public_url = config.public_url.clone();
    let prepared = prepare(config).await?;
    let mut server = Server::new(main, prepared.transport.clone());
    if let Some(listener) = redirect {
        server = server.with_redirect(listener, RedirectToHttps::new(public_url));
    }
    let https_addr = server.main_addr()?;
    let http_addr = server.redirect_addr();
    let app = router(prepared.state)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        tokio::select! {
            _ = stopped => {},
            () = palisade::server::shutdown_signal() => {},
        }
    };
    let task = tokio::spawn(server.serve(app, shutdown));
    tracing::info!(https = %https_addr, http = ?http_addr, "palisade is listening");
    Ok(Running {
        https_addr,
        http_addr,
        stop,
        task,
    })
}

/// Runs the app until SIGTERM or Ctrl-C.
///
/// # Errors
///
/// As [`start`].
pub async fn run(config: AppConfig) -> anyhow::Result<()> {
    let public = config.public_url.clone();
    let running = start(config).await?;
    tracing::info!(url = %public, "open this address in a browser");
    running.task.await??;
    Ok(())
}
