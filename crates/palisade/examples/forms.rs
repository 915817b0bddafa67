//! # Forms: sessions and CSRF protection for a form and a JSON endpoint
//!
//! ```text
//! cargo run -p palisade --example forms
//! ```
//!
//! Then open <https://localhost:8443/> and add a few notes, with the form or with the button
//! that posts JSON through `fetch()`.
//!
//! The layers, outermost first (in axum, the layer added **last** runs **first**):
//!
//! 1. `ClientIpLayer`: who the client is (the TCP peer; no forwarded header is believed unless
//!    you name trusted proxies);
//! 2. `SecureHeadersLayer`: security headers and the CSP nonce, so even a CSRF refusal carries
//!    them;
//! 3. `SessionLayer`: the server-side session behind the `__Host-palisade` cookie;
//! 4. `CsrfLayer`: on every POST, PUT, PATCH and DELETE, checks where the request comes from
//!    (`Sec-Fetch-Site`, `Origin`) and then a token bound to the session;
//! 5. your routes.
//!
//! A form carries the token in a hidden field (`{{ csrf_field() }}` in the template); a script
//! reads it from `{{ csrf_meta() }}` and sends it in the `X-CSRF-Token` header. A refused form
//! post is shown again with what the user typed (the `on_rejection` hook), not as a bare error.
//!
//! `--self-test` (or `PALISADE_EXAMPLE_SELF_TEST=1`) serves on a random port, posts with and
//! without tokens, and exits; `cargo test -p palisade --examples` runs it.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use futures_util::future::BoxFuture;
use palisade::csrf::{CsrfConfig, CsrfLayer, CsrfRejection, FormContext, RejectionHook};
use palisade::headers::{SecureHeadersConfig, SecureHeadersLayer};
use palisade::proxy::{ClientIpLayer, TrustedProxies};
use palisade::secret::{KeyRing, Purpose};
use palisade::session::{MemorySessionStore, Session, SessionConfig, SessionLayer};
use palisade::template::{RenderContext, Templates};
use serde::Deserialize;
use support::DevServer;

/// The page. Every template autoescapes, so a note containing `<script>` shows as text.
const NOTES_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Notes</title>
  {{ csrf_meta() }}
</head>
<body>
  <h1>Notes</h1>
  {% if error %}<p role="alert">{{ error }}</p>{% endif %}
  <form method="post" action="/notes">
    {{ csrf_field() }}
    <label>Note <input id="text" name="text" value="{{ text }}" maxlength="200"></label>
    <button type="submit">Add</button>
    <button type="button" id="add-json">Add with fetch()</button>
  </form>
  <ul>{% for note in notes %}<li>{{ note }}</li>{% endfor %}</ul>
  <script nonce="{{ csp_nonce }}">
    // No inline handlers (the CSP forbids them): this script carries the page's nonce.
    document.getElementById("add-json").addEventListener("click", async () => {
      const token = document.querySelector('meta[name="csrf-token"]').content;
      const response = await fetch("/api/notes", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
        body: JSON.stringify({ text: document.getElementById("text").value }),
      });
      if (response.ok) location.reload();
    });
  </script>
</body>
</html>
"#;

/// At most this many notes are kept per session.
const MAX_NOTES: usize = 20;

/// Builds the application for the site at `public_origin` (`https://localhost:8443`).
fn app(public_origin: &str) -> anyhow::Result<Router> {
    let templates = Templates::from_sources([("notes.html", NOTES_HTML)])?;

    // One key ring; each layer gets its own derived key. Here a fresh one per start (sessions
    // are in memory anyway); in production use `KeyRing::parse(&secret_from_the_environment)`,
    // with a key made by `palisade secret generate`.
    let keys = KeyRing::generate();

    let sessions = SessionLayer::new(
        Arc::new(MemorySessionStore::new()),
        keys.signer(Purpose::Session),
        SessionConfig::default(), // 30 min idle, 12 h absolute, __Host- cookie
    );
    // Deletes expired sessions from the store every ten minutes.
    let _cleanup = sessions.manager().spawn_cleanup(Duration::from_secs(600));

    let csrf = CsrfLayer::new(keys.signer(Purpose::Csrf), CsrfConfig::new(public_origin)?)
        .on_rejection(show_form_again(templates.clone()));

    Ok(Router::new()
        .route("/", get(show))
        .route("/notes", post(add_note))
        .route("/api/notes", post(add_note_json))
        .with_state(templates)
        // Innermost first: CSRF, sessions, headers, client address.
        .layer(csrf)
        .layer(sessions)
        .layer(SecureHeadersLayer::new(SecureHeadersConfig::default()))
        .layer(ClientIpLayer::new(TrustedProxies::none())))
}

#[derive(Deserialize)]
struct NewNote {
    text: String,
}

/// `FormContext` gives the CSP nonce and a fresh masked token, starting a session if needed.
async fn show(State(templates): State<Templates>, cx: FormContext, session: Session) -> Response {
    let notes = notes_of(&session);
    render(
        &templates,
        &cx.render_context(),
        StatusCode::OK,
        None,
        "",
        &notes,
    )
}

/// Runs only when the origin and the token checked out.
async fn add_note(
    State(templates): State<Templates>,
    cx: FormContext,
    session: Session,
    Form(note): Form<NewNote>,
) -> Response {
    let text = note.text.trim();
    if text.is_empty() {
        let notes = notes_of(&session);
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return render(
            &templates,
            &cx.render_context(),
            status,
            Some("Write something first."),
            "",
            &notes,
        );
    }
    if let Err(status) = push_note(&session, text) {
        return status.into_response();
    }
    // Post/Redirect/Get: reloading the page does not post again.
    Redirect::to("/").into_response()
}

/// The same for scripts: the token came in the `X-CSRF-Token` header.
async fn add_note_json(session: Session, Json(note): Json<NewNote>) -> Response {
    let text = note.text.trim();
    if text.is_empty() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(serde_json::json!({ "error": "empty" })),
        )
            .into_response();
    }
    if let Err(status) = push_note(&session, text) {
        return status.into_response();
    }
    Json(serde_json::json!({ "notes": notes_of(&session) })).into_response()
}

fn notes_of(session: &Session) -> Vec<String> {
    session.get::<Vec<String>>("notes").unwrap_or_default()
}

fn push_note(session: &Session, text: &str) -> Result<(), StatusCode> {
    let mut notes = notes_of(session);
    notes.push(text.chars().take(200).collect());
    let keep_from = notes.len().saturating_sub(MAX_NOTES);
    session
        .insert("notes", &notes[keep_from..])
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)
}

/// The `on_rejection` hook: a refused form post (a stale tab, an expired session) gets the
/// form back with the text kept and a fresh token, and status 403. Fields whose names contain
/// `password`, `token`, `secret` and the like never reach the hook.
fn show_form_again(templates: Templates) -> RejectionHook {
    Arc::new(
        move |rejection: CsrfRejection| -> BoxFuture<'static, Response> {
            let templates = templates.clone();
            Box::pin(async move {
                let text = rejection
                    .fields
                    .iter()
                    .find(|(name, _)| name == "text")
                    .map(|(_, value)| value.clone())
                    .unwrap_or_default();
                let notes = rejection.session().map(notes_of).unwrap_or_default();
                let error = "This form had expired. Please check it and send it again.";
                let cx = rejection.render_context();
                render(
                    &templates,
                    &cx,
                    StatusCode::FORBIDDEN,
                    Some(error),
                    &text,
                    &notes,
                )
            })
        },
    )
}

fn render(
    templates: &Templates,
    cx: &RenderContext,
    status: StatusCode,
    error: Option<&str>,
    text: &str,
    notes: &[String],
) -> Response {
    let context = minijinja::context! { error, text, notes => notes.to_vec() };
    match templates.render("notes.html", cx, context) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => {
            eprintln!("template error: {err}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if support::self_test_requested() {
        return self_test().await;
    }
    let server = DevServer::bind("127.0.0.1:8443", Path::new("example-data"))?;
    let app = app(&server.origin)?;
    server.serve(app).await
}

/// Posts with and without tokens, as a browser and as a script would.
async fn self_test() -> anyhow::Result<()> {
    use anyhow::{Context as _, ensure};

    let dir = tempfile::tempdir()?;
    let server = DevServer::bind("127.0.0.1:0", dir.path())?;
    let app = app(&server.origin)?;
    let site = server.spawn(app)?;
    let origin = site.origin.clone();

    // The form page starts a session and hands out the token twice: field and meta tag.
    let page = site.client.get(site.url("/")).send().await?;
    ensure!(page.status() == 200, "GET / answered {}", page.status());
    ensure!(page.headers().contains_key("content-security-policy"));
    let html = page.text().await?;
    let field_token = support::attribute_after(&html, r#"name="csrf_token""#, "value")
        .context("no csrf_token field")?;
    let meta_token = support::attribute_after(&html, r#"name="csrf-token""#, "content")
        .context("no csrf-token meta tag")?;

    // A form post without the token is refused, and the form comes back with the text kept.
    let refused = site
        .client
        .post(site.url("/notes"))
        .header("origin", &origin)
        .header("content-type", support::FORM)
        .body(support::form(&[("text", "first note")]))
        .send()
        .await?;
    ensure!(
        refused.status() == 403,
        "POST without token answered {}",
        refused.status()
    );
    ensure!(
        refused.text().await?.contains(r#"value="first note""#),
        "input not kept"
    );

    // With the token it goes through (303 to the page, which now lists the note).
    let accepted = site
        .client
        .post(site.url("/notes"))
        .header("origin", &origin)
        .header("content-type", support::FORM)
        .body(support::form(&[
            ("csrf_token", &field_token),
            ("text", "first note"),
        ]))
        .send()
        .await?;
    ensure!(
        accepted.status() == 303,
        "POST with token answered {}",
        accepted.status()
    );
    let page = site.client.get(site.url("/")).send().await?;
    ensure!(page.status() == 200);
    ensure!(page.text().await?.contains("<li>first note</li>"));

    // A valid token from another site's page is still refused: the origin check comes first.
    let cross_site = site
        .client
        .post(site.url("/api/notes"))
        .header("origin", "https://evil.example")
        .header("x-csrf-token", &meta_token)
        .json(&serde_json::json!({ "text": "forged" }))
        .send()
        .await?;
    ensure!(
        cross_site.status() == 403,
        "cross-site POST answered {}",
        cross_site.status()
    );

    // JSON without the header: 403 with a JSON body. With the header: 200.
    let no_header = site
        .client
        .post(site.url("/api/notes"))
        .header("origin", &origin)
        .json(&serde_json::json!({ "text": "second note" }))
        .send()
        .await?;
    ensure!(
        no_header.status() == 403,
        "JSON without token answered {}",
        no_header.status()
    );
    let body: serde_json::Value = no_header.json().await?;
    ensure!(body["error"] == "csrf", "{body}");

    let with_header = site
        .client
        .post(site.url("/api/notes"))
        .header("origin", &origin)
        .header("x-csrf-token", &meta_token)
        .json(&serde_json::json!({ "text": "second note" }))
        .send()
        .await?;
    ensure!(
        with_header.status() == 200,
        "JSON with token answered {}",
        with_header.status()
    );
    let body: serde_json::Value = with_header.json().await?;
    ensure!(
        body["notes"] == serde_json::json!(["first note", "second note"]),
        "{body}"
    );

    site.stop().await?;
    println!("forms self-test passed");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn self_test_passes() {
        super::self_test().await.unwrap();
    }
}
