//! The public pages: landing, health check, and error pages.

use std::any::Any;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use palisade::headers::CspNonce;
use palisade::template::RenderContext;

use crate::state::AppState;

pub(crate) fn routes(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(healthz))
        .route(
            palisade::headers::CSP_REPORT_PATH,
            post(palisade::headers::csp_report),
        )
        .merge(state.assets.router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(axum::middleware::from_fn(
            palisade::request_log::remember_route,
        ))
        .with_state(state)
}

async fn index(State(state): State<AppState>, nonce: CspNonce) -> Response {
    render(
        &state,
        &nonce,
        StatusCode::OK,
        "index.html",
        minijinja::context! {},
    )
}

async fn healthz() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], "ok\n")
}

async fn not_found(State(state): State<AppState>, nonce: CspNonce) -> Response {
    error_page(
        &state,
        &nonce,
        StatusCode::NOT_FOUND,
        "Not found",
        "There is nothing at this address.",
    )
}

async fn method_not_allowed(State(state): State<AppState>, nonce: CspNonce) -> Response {
    error_page(
        &state,
        &nonce,
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
        "This address does not accept that kind of request.",
    )
}

pub(crate) fn error_page(
    state: &AppState,
    nonce: &CspNonce,
    status: StatusCode,
    title: &str,
    message: &str,
) -> Response {
    render(
        state,
        nonce,
        status,
        "error.html",
        minijinja::context! { title, message },
    )
}

pub(crate) fn render<S: serde::Serialize>(
    state: &AppState,
    nonce: &CspNonce,
    status: StatusCode,
    template: &str,
    context: S,
) -> Response {
    let cx = RenderContext {
        nonce: nonce.as_str().to_owned(),
        csrf_token: None,
    };
    let ctx = minijinja::context! { user => (), flash => (), ..minijinja::Value::from(minijinja::value::Serde(context)) };
    match state.templates.render(template, &cx, ctx) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => {
            tracing::error!(template, error = %err, "template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal error.\n").into_response()
        }
    }
}

/// The response for a handler that panicked: a plain page with no detail of the panic.
pub(crate) fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %detail, "handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CACHE_CONTROL, "no-store")],
        Html("<!doctype html><title>Error</title><h1>Something went wrong</h1><p>The error was logged.</p>"),
    )
        .into_response()
}
