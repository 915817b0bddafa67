//! The state shared by every handler.

use std::sync::Arc;

use palisade::assets::StaticAssets;
use palisade::secret::KeyRing;
use palisade::template::Templates;
use sqlx::SqlitePool;

use crate::config::AppConfig;

/// The state shared by every handler. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
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
    /// True when this process terminates TLS itself.
    pub transport_is_tls: bool,
}

impl AppState {
    /// Builds the state and compiles the templates.
    ///
    /// # Errors
    ///
    /// A template syntax error.
    pub fn new(config: Arc<AppConfig>, keys: KeyRing, db: SqlitePool) -> anyhow::Result<Self> {
        let assets = StaticAssets::new([
            ("app.css", &include_bytes!("../static/app.css")[..]),
            ("favicon.svg", &include_bytes!("../static/favicon.svg")[..]),
        ]);
        let templates = Templates::with_assets(
            [
                ("base.html", include_str!("../templates/base.html")),
                ("index.html", include_str!("../templates/index.html")),
                ("error.html", include_str!("../templates/error.html")),
            ],
            assets.clone(),
        )?;
        Ok(Self {
            config,
            keys,
            db,
            templates,
            assets,
            transport_is_tls: true,
        })
    }
}
