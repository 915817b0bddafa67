//! Scope and budgets: nothing outside the audited origin is ever requested, and the page and
//! time limits hold.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::get;
use common::Flaws;

/// A server on another port that counts every request it gets.
async fn canary() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let router = Router::new().fallback(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { "canary" }
    });
    (common::serve_http(router).await, hits)
}

#[tokio::test]
async fn links_forms_and_redirects_to_other_origins_are_never_requested() {
    let (canary_url, hits) = canary().await;
    let page = format!(
        "<!doctype html><a href=\"{canary_url}page\">out</a><a href=\"/go?next={canary_url}\">go</a>\
         <form method=post action=\"{canary_url}submit\"><input name=q></form>\
         <form action=\"{canary_url}search\"><input name=q></form>\
         <img src=\"{canary_url}img.png\"><a href=\"/bounce\">bounce</a>"
    );
    let target = canary_url.clone();
    let router = Router::new()
        .route("/", get(move || async move { Html(page) }))
        .route(
            "/bounce",
            get(move || async move { Redirect::to(&target).into_response() }),
        )
        .route("/go", get(|| async { Html("<p>go</p>") }));
    let url = common::serve_http(router).await;
    let fixture = common::Fixture {
        url,
        http_url: None,
    };
    let report = common::audit(&fixture, &["--active"]).await;
    assert!(report.pages_crawled >= 2);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a request left the audited origin"
    );
}

#[tokio::test]
async fn the_page_limit_holds() {
    let fixture = common::start(Flaws::default()).await;
    let report = common::audit(&fixture, &["--max-pages", "2"]).await;
    assert_eq!(report.pages_crawled, 2);
}

#[tokio::test]
async fn the_time_budget_ends_the_audit_with_a_note() {
    let fixture = common::start(Flaws::default()).await;
    let mut args = common::args(&fixture, &["--active"]);
    args.rate = "20/s".parse().unwrap();
    args.max_time = std::time::Duration::from_millis(600);
    let started = std::time::Instant::now();
    let report = palisade_audit::audit(&args).await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        report.notes.iter().any(|n| n.contains("time budget")),
        "{:?}",
        report.notes
    );
}

#[tokio::test]
async fn the_rate_limit_paces_requests() {
    let fixture = common::start(Flaws::default()).await;
    let mut args = common::args(&fixture, &["--max-pages", "3"]);
    args.rate = "40/s".parse().unwrap();
    let started = std::time::Instant::now();
    let report = palisade_audit::audit(&args).await.unwrap();
    let minimum = (report.requests_sent as f64 - 1.0) / 40.0;
    assert!(
        started.elapsed().as_secs_f64() >= minimum * 0.9,
        "{} requests in {:?}",
        report.requests_sent,
        started.elapsed()
    );
}
