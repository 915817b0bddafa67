//! The state shared by every handler: configuration, keys, database and the account services.

use std::sync::Arc;

use palisade::assets::StaticAssets;
use palisade::auth::captcha::{Captcha, SqlUsedCaptchas};
use palisade::auth::email::RegistrationMode;
use palisade::auth::password::{Hasher, PasswordParams};
use palisade::auth::policy::PasswordPolicy;
use palisade::auth::tokens::TokenStore;
use palisade::auth::totp::TwoFactor;
use palisade::auth::users::{SecurityEvents, UserStore};
use palisade::db::ReadConnections;
use palisade::mail::Mailer;
use palisade::ratelimit::{MemoryRateLimiter, RateLimiter, Throttle, ThrottleConfig};
use palisade::secret::KeyRing;
use palisade::session::{SessionConfig, SessionManager, SessionStore, SqliteSessionStore};
use palisade::template::Templates;
use palisade::upload::FileStore;
use sqlx::SqlitePool;

use crate::config::AppConfig;

/// The state shared by every handler: one allocation, so a clone per request is a reference
/// count, not twenty.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Services {
    /// The resolved configuration.
    pub config: Arc<AppConfig>,
    /// The key ring.
    pub keys: KeyRing,
    /// The database.
    pub db: SqlitePool,
    /// The templates.
    pub templates: Templates,
    /// The static files.
    pub assets: StaticAssets,
    /// The session store.
    pub session_store: Arc<dyn SessionStore>,
    /// Session settings.
    pub session_config: SessionConfig,
    /// Lists and revokes sessions.
    pub sessions: SessionManager,
    /// Accounts.
    pub users: UserStore,
    /// The security event log.
    pub events: SecurityEvents,
    /// Verification, reset and invitation tokens.
    pub tokens: TokenStore,
    /// TOTP and recovery codes.
    pub two_factor: TwoFactor,
    /// Password hashing off the async runtime.
    pub hasher: Hasher,
    /// The password policy.
    pub policy: Arc<PasswordPolicy>,
    /// The proof-of-work captcha.
    pub captcha: Captcha,
    /// Sign-in throttling.
    pub throttle: Throttle,
    /// Counters for registration and mail quotas.
    pub limiter: Arc<dyn RateLimiter>,
    /// Outgoing mail.
    pub mailer: Mailer,
    /// Who may register.
    pub registration: RegistrationMode,
    /// Uploaded files.
    pub files: FileStore,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Builds the state and compiles the templates.
    ///
    /// # Errors
    ///
    /// A template syntax error, an invalid setting, or an unwritable data directory.
    /// `reads` serve the lookups every request makes (session, user, the account page's
    /// events); see [`ReadConnections`].
    pub fn new(
        config: Arc<AppConfig>,
        keys: KeyRing,
        db: SqlitePool,
        reads: ReadConnections,
    ) -> anyhow::Result<Self> {
        let assets = crate::assets::static_assets();
        let templates = Templates::with_assets(crate::assets::templates(), assets.clone())?;
        let session_store: Arc<dyn SessionStore> =
            Arc::new(SqliteSessionStore::new(db.clone()).with_reads(reads.clone()));
        let session_config = SessionConfig {
            idle_timeout: config.session_idle_timeout,
            absolute_timeout: config.session_absolute_timeout,
            ..SessionConfig::default()
        };
        session_config.validate()?;
        let sessions = SessionManager::new(session_store.clone(), session_config.clone());
        let hasher = Hasher::new(PasswordParams::default())?;
        let mut captcha = Captcha::new(&keys, SqlUsedCaptchas::new(db.clone()));
        if let Some(max) = config.captcha_max_number {
            captcha = captcha.with_max_number(max).map_err(|e| {
                anyhow::anyhow!("PALISADE_CAPTCHA_DIFFICULTY: {} is out of range", e.0)
            })?;
        }
        let mailer = palisade::mail::Mailer::from_settings(
            config.smtp.as_ref(),
            &config.data_dir,
            &config.mail_from,
        )?;
        let policy = PasswordPolicy::new().with_min_chars(config.password_min_chars)?;
        let limiter: Arc<dyn RateLimiter> = Arc::new(MemoryRateLimiter::new());
        let files = FileStore::new(config.data_dir.join("files"))?;
        Ok(Self(Arc::new(Services {
            users: UserStore::new(db.clone()).with_reads(reads.clone()),
            events: SecurityEvents::new(db.clone()).with_reads(reads),
            tokens: TokenStore::new(db.clone()),
            two_factor: TwoFactor::new(db.clone(), "Drop")?,
            throttle: Throttle::new(MemoryRateLimiter::new(), ThrottleConfig::default()),
            registration: config.registration.clone(),
            policy: Arc::new(policy),
            config,
            keys,
            db,
            templates,
            assets,
            session_store,
            session_config,
            sessions,
            hasher,
            captcha,
            limiter,
            mailer,
            files,
        })))
    }
}
