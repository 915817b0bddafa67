//! [`SessionLayer`] and its service.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use super::handle::{Arrival, Finish, Session};
use super::manager::SessionManager;
use super::store::{SessionStore, StoreError, now};
use super::{SessionConfig, SessionId, cookie_values};
use crate::proxy::client_ip_of;
use crate::secret::Signer;

/// What every request of one layer shares.
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) signer: Signer,
    pub(crate) config: Arc<SessionConfig>,
    pub(crate) manager: SessionManager,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Loads, saves and expires server-side sessions; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct SessionLayer {
    shared: Arc<Shared>,
}

impl SessionLayer {
    /// A layer keeping sessions in `store`, signing cookies with `signer` (use
    /// `keys.signer(Purpose::Session)`).
    ///
    /// # Panics
    ///
    /// When `config` fails [`SessionConfig::validate`]: a bad session setup must stop the
    /// application at start, not weaken it.
    pub fn new(store: Arc<dyn SessionStore>, signer: Signer, config: SessionConfig) -> Self {
        if let Err(err) = config.validate() {
            panic!("invalid session configuration: {err}");
        }
        let config = Arc::new(config);
        tracing::debug!(
            cookie = %config.cookie_name,
            idle_secs = config.idle_timeout.as_secs_f64(),
            absolute_secs = config.absolute_timeout.as_secs_f64(),
            touch_secs = config.touch_every().as_secs_f64(),
            "session layer configured"
        );
        let manager = SessionManager::from_parts(store.clone(), config.clone());
        Self {
            shared: Arc::new(Shared {
                store,
                signer,
                config,
                manager,
            }),
        }
    }

    /// The manager of this layer's store, for listing and revoking sessions. Handlers can also
    /// extract it.
    pub fn manager(&self) -> SessionManager {
        self.shared.manager.clone()
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service made by [`SessionLayer`]; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct SessionService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Service<Request> for SessionService<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The clone is not ready yet; run the one that is, keep the clone for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();

        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            let wants_json = wants_json(&parts);
            let arrival = match arrive(&shared, &parts).await {
                Ok(arrival) => arrival,
                Err(err) => {
                    tracing::error!(error = %err, "session store failed while loading a session");
                    return Ok(unavailable(wants_json));
                }
            };

            let ip = client_ip_of(&parts).0;
            let user_agent = parts
                .headers
                .get(header::USER_AGENT)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default();
            let session = Session::new(shared.clone(), ip, user_agent, arrival);
            parts.extensions.insert(session.clone());
            parts.extensions.insert(shared.manager.clone());

            let mut response = inner.call(Request::from_parts(parts, body)).await?;
            match session.finish().await {
                Some(finish) => apply(&mut response, finish),
                None => return Ok(unavailable(wants_json)),
            }
            Ok(response)
        })
    }
}

/// Finds the request's session: at most one distinct valid cookie, a live record behind it.
async fn arrive(shared: &Shared, parts: &Parts) -> Result<Arrival, StoreError> {
    let values = cookie_values(&parts.headers, &shared.config.cookie_name);
    if values.is_empty() {
        return Ok(Arrival::Absent);
    }

    let mut ids: Vec<SessionId> = Vec::new();
    for value in &values {
        if let Some(id) = SessionId::from_cookie(value, &shared.signer)
            && !ids.contains(&id)
        {
            ids.push(id);
        }
    }
    let id = match ids.len() {
        0 => {
            tracing::debug!(
                cookies = values.len(),
                "session cookie did not verify; ignored"
            );
            return Ok(Arrival::Stale);
        }
        1 => ids.remove(0),
        n => {
            tracing::warn!(
                sessions = n,
                "request carried several different valid session cookies; using none"
            );
            return Ok(Arrival::Stale);
        }
    };

    let key = id.key();
    let Some(record) = shared.store.load(&key).await? else {
        tracing::debug!(
            public_id = key.public_id(),
            "session cookie names no live session"
        );
        return Ok(Arrival::Stale);
    };
    let config = &shared.config;
    if record.is_expired(now(), config.idle_timeout, config.absolute_timeout) {
        shared.store.delete(&key).await?;
        tracing::info!(
            public_id = key.public_id(),
            user_id = record.user_id,
            "session expired; record deleted"
        );
        return Ok(Arrival::Expired);
    }
    Ok(Arrival::Loaded(id, record))
}

fn apply(response: &mut Response, finish: Finish) {
    let headers = response.headers_mut();
    if let Some(cookie) = finish.cookie
        && let Ok(value) = HeaderValue::from_str(&cookie)
    {
        headers.append(header::SET_COOKIE, value);
    }
    if let Some(value) = finish.clear_site_data {
        headers.insert("clear-site-data", HeaderValue::from_static(value));
    }
    if finish.private {
        mark_private(headers);
    }
}

/// `Cache-Control: no-store`, and `Cookie` added to `Vary` unless it is already there.
pub(crate) fn mark_private(headers: &mut http::HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let varies = headers.get_all(header::VARY).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("cookie") || t.trim() == "*")
        })
    });
    if !varies {
        headers.append(header::VARY, HeaderValue::from_static("Cookie"));
    }
}

fn wants_json(parts: &Parts) -> bool {
    let has_json = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"))
    };
    has_json(header::ACCEPT) || has_json(header::CONTENT_TYPE)
}

/// The answer when the store fails: never a page rendered as if the user were anonymous.
fn unavailable(json: bool) -> Response {
    let (content_type, body) = if json {
        (
            "application/json",
            r#"{"error":"session store unavailable"}"#,
        )
    } else {
        (
            "text/html; charset=utf-8",
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>Service unavailable</title></head><body><h1>Service unavailable</h1>\
             <p>The session store is unavailable. Please try again in a moment.</p>\
             </body></html>",
        )
    };
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CONTENT_TYPE, content_type),
            (header::RETRY_AFTER, "5"),
        ],
        body,
    )
        .into_response();
    mark_private(response.headers_mut());
    response
}
