//! One log line per request, and a request id sent back as `X-Request-Id`.
//!
//! The line carries method, route, status, latency in microseconds and the id. The route is the matched route
//! template (`/verify/{token}`), never the raw path when a route matched, so tokens in paths and
//! query strings never reach the logs. An unmatched path (a token link with a slash appended,
//! say) is logged through [`loggable_path`]: without its query, and with every segment long
//! enough to be a token replaced by `…`.
//!
//! The id is always made here: a client-sent `X-Request-Id` is ignored, so logs cannot be
//! poisoned with forged ids.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::response::Response;
use rand::RngCore as _;
use tower::{Layer, Service};
use tracing::Instrument as _;

/// The request's id, as a request extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Logs each request and tags it with a [`RequestId`]; see the [module docs](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestLogLayer;

impl<S> Layer<S> for RequestLogLayer {
    type Service = RequestLog<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestLog { inner }
    }
}

/// The service made by [`RequestLogLayer`].
#[derive(Clone, Debug)]
pub struct RequestLog<S> {
    inner: S,
}

impl<S> Service<Request> for RequestLog<S>
where
    S: Service<Request, Response = Response> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let start = Instant::now();
        let mut raw = [0u8; 8];
        rand::rng().fill_bytes(&mut raw);
        let id = hex::encode(raw);
        req.extensions_mut().insert(RequestId(id.clone()));
        let method = req.method().clone();
        // Shares the request's buffer; the path is copied only if no route matched.
        let uri = req.uri().clone();
        let span = tracing::info_span!("request", request_id = %id);
        let future = self.inner.call(req);
        Box::pin(
            async move {
                let mut response = future.await?;
                let unmatched;
                let route = match response.extensions().get::<MatchedPath>() {
                    Some(matched) => matched.as_str(),
                    None => {
                        unmatched = loggable_path(uri.path());
                        unmatched.as_str()
                    }
                };
                let status = response.status().as_u16();
                let latency_us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
                tracing::info!(%method, %route, status, latency_us, "request");
                if let Ok(value) = HeaderValue::from_str(&id) {
                    response.headers_mut().insert("x-request-id", value);
                }
                Ok(response)
            }
            .instrument(span),
        )
    }
}

/// Segments this long are taken for tokens by [`loggable_path`].
const TOKEN_LIKE_CHARS: usize = 20;

/// `path` fit for a log line when no route template is known: each segment of 20 characters or
/// more (a token, a signed link) becomes `…`, and the result has at most 200 characters.
pub fn loggable_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.chars().count() >= TOKEN_LIKE_CHARS {
                "…"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
        .chars()
        .take(200)
        .collect()
}

/// Copies the matched route into the response extensions so [`RequestLogLayer`] can log the
/// route template instead of the raw path. Install with `Router::route_layer`.
pub async fn remember_route(req: Request, next: axum::middleware::Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(req).await;
    if let Some(m) = matched {
        response.extensions_mut().insert(m);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_like_segments_never_reach_the_log() {
        let token = "2fab8e4d9c0b.PUvTCPk6NJlmwClFsyMg34NYVh2PQuea9c7FMKSwEWQ";
        assert_eq!(loggable_path(&format!("/s/{token}/")), "/s/…/");
        assert_eq!(
            loggable_path(&format!("/password/reset/{token}/extra")),
            "/password/reset/…/extra"
        );
        assert_eq!(loggable_path("/files/42/delete"), "/files/42/delete");
        assert_eq!(loggable_path("/"), "/");
        assert!(loggable_path(&"/a".repeat(500)).chars().count() <= 200);
    }
}
