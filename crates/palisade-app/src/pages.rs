//! The public pages: landing, health check, and error pages.

use std::any::Any;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use crate::state::AppState;
use crate::web::Page;

pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(healthz))
        .route(
            palisade::headers::CSP_REPORT_PATH,
            post(palisade::headers::csp_report),
        )
        .merge(state.assets.router())
}

async fn index(page: Page) -> Response {
    page.render(StatusCode::OK, "index.html", minijinja::context! {})
}

async fn healthz() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], "ok\n")
}

pub(crate) async fn not_found(page: Page) -> Response {
    page.error(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is nothing at this address.",
    )
}

pub(crate) async fn method_not_allowed(page: Page) -> Response {
    page.error(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
        "This address does not accept that kind of request.",
    )
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
