//! Static files embedded in the binary, served with the right type and cached forever only under
//! fingerprinted names.
//!
//! `static_url("app.css")` in a template gives `/static/app.3f2a9c1d0b.css`: that name changes
//! whenever the content does, so it is served with `Cache-Control: public, max-age=31536000,
//! immutable`. The plain name still works, with `no-cache`, for tools that need a stable URL.
//!
//! ```
//! use palisade::assets::StaticAssets;
//!
//! let assets = StaticAssets::new([("app.css", &b"body{}"[..])]);
//! let url = assets.url("app.css").unwrap();
//! assert!(url.starts_with("/static/app.") && url.ends_with(".css"));
//! let router: axum::Router = assets.router();
//! # let _ = router;
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest as _, Sha256};

#[derive(Debug)]
struct Asset {
    bytes: &'static [u8],
    content_type: &'static str,
    immutable: bool,
}

/// A set of embedded static files; see the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct StaticAssets {
    by_name: Arc<HashMap<String, Asset>>,
    urls: Arc<HashMap<String, String>>,
}

impl StaticAssets {
    /// Fingerprints each `(file name, content)` pair.
    pub fn new<I>(files: I) -> Self
    where
        I: IntoIterator<Item = (&'static str, &'static [u8])>,
    {
        let mut by_name = HashMap::new();
        let mut urls = HashMap::new();
        for (name, bytes) in files {
            let content_type = content_type(name);
            let hash = hex::encode(&Sha256::digest(bytes)[..5]);
            let fingerprinted = match name.rsplit_once('.') {
                Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
                None => format!("{name}.{hash}"),
            };
            urls.insert(name.to_owned(), format!("/static/{fingerprinted}"));
            by_name.insert(
                fingerprinted,
                Asset {
                    bytes,
                    content_type,
                    immutable: true,
                },
            );
            by_name.insert(
                name.to_owned(),
                Asset {
                    bytes,
                    content_type,
                    immutable: false,
                },
            );
        }
        Self {
            by_name: Arc::new(by_name),
            urls: Arc::new(urls),
        }
    }

    /// The fingerprinted URL of a file, or `None` for an unknown name.
    pub fn url(&self, name: &str) -> Option<String> {
        self.urls.get(name).cloned()
    }

    /// A router serving `GET /static/{file}`.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let this = self.clone();
        Router::new().route(
            "/static/{file}",
            get(move |Path(file): Path<String>| {
                let this = this.clone();
                async move { this.respond(&file) }
            }),
        )
    }

    fn respond(&self, file: &str) -> Response {
        let Some(asset) = self.by_name.get(file) else {
            return (StatusCode::NOT_FOUND, "Not found.\n").into_response();
        };
        let cache = if asset.immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(asset.content_type),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            ],
            asset.bytes,
        )
            .into_response()
    }
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::extract::Request;
    use tower::ServiceExt as _;

    use super::*;

    #[tokio::test]
    async fn fingerprinted_names_are_immutable_and_plain_names_revalidate() {
        let assets = StaticAssets::new([("app.js", &b"console.log(1)"[..])]);
        let url = assets.url("app.js").unwrap();
        let app: Router = assets.router();
        let r = app
            .clone()
            .oneshot(Request::get(&url).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["content-type"],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            r.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        let r = app
            .clone()
            .oneshot(Request::get("/static/app.js").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(r.headers()["cache-control"], "no-cache");
        let r = app
            .oneshot(
                Request::get("/static/..%2fsecret.key")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }

    #[test]
    fn a_change_of_content_changes_the_url() {
        let a = StaticAssets::new([("a.css", &b"x"[..])]).url("a.css");
        let b = StaticAssets::new([("a.css", &b"y"[..])]).url("a.css");
        assert_ne!(a, b);
    }
}
