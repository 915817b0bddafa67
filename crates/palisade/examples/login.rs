//! # Login: accounts, sign-in, sign-out and a protected page
//!
//! ```text
//! cargo run -p palisade --example login
//! ```
//!
//! Then open <https://localhost:8443/account>: you are sent to the sign-in form. The example
//! creates one account at start and prints its address and password.
//!
//! Built from the accounts module and the session layer:
//!
//! - `auth::users::UserStore` keeps accounts in SQLite (in memory here; `db::connect_sqlite` for
//!   a file), after `db::migrate` created the toolkit's tables;
//! - `auth::password::Hasher` hashes with argon2id off the async runtime, verifies, tells when a
//!   hash should be upgraded, and spends the same time on unknown addresses
//!   (`verify_dummy`) so the response time does not reveal who has an account;
//! - `auth::policy::PasswordPolicy` checks new passwords (length, common, guessable);
//! - `session::Session::sign_in` gives the session a new id (a planted id is worthless) and
//!   `sign_out` deletes it on the server, clears the cookie and sends `Clear-Site-Data`;
//! - `auth::next::safe_next_or` keeps `?next=` on this site;
//! - `auth::users::SecurityEvents` logs sign-ins and failures for the user to review.
//!
//! The `CurrentUser` extractor below plays the part of Flask-Login's `login_required`: a
//! handler that takes it only runs for a signed-in, enabled account.
//!
//! Not shown, and needed on a public site: throttling failed sign-ins per account and address
//! (`palisade::ratelimit::Throttle`, which asks for a captcha from `auth::captcha` after a few
//! failures), email verification (`auth::tokens`) and two-factor codes (`auth::totp`).
//!
//! `--self-test` (or `PALISADE_EXAMPLE_SELF_TEST=1`) serves on a random port, signs in and out,
//! and exits; `cargo test -p palisade --examples` runs it.

mod support;

use std::path::Path;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use palisade::auth::email::Email;
use palisade::auth::next::safe_next_or;
use palisade::auth::password::{Hasher, PasswordParams};
use palisade::auth::policy::PasswordPolicy;
use palisade::auth::users::{EventKind, NewEvent, SecurityEvents, User, UserStore};
use palisade::csrf::{CsrfConfig, CsrfLayer, FormContext};
use palisade::headers::{SecureHeadersConfig, SecureHeadersLayer};
use palisade::proxy::{ClientIp, ClientIpLayer, TrustedProxies};
use palisade::secret::{KeyRing, Purpose};
use palisade::session::{Session, SessionConfig, SessionLayer, SqliteSessionStore};
use palisade::template::{RenderContext, Templates};
use serde::Deserialize;
use support::DevServer;

const LOGIN_HTML: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>
<body>
  <h1>Sign in</h1>
  {% if error %}<p role="alert">{{ error }}</p>{% endif %}
  <form method="post" action="/login">
    {{ csrf_field() }}
    <input type="hidden" name="next" value="{{ next }}">
    <label>Email
      <input name="email" type="email" value="{{ email }}" autocomplete="username" required>
    </label>
    <label>Password
      <input name="password" type="password" autocomplete="current-password" required>
    </label>
    <button type="submit">Sign in</button>
  </form>
</body></html>
"#;

const ACCOUNT_HTML: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Your account</title></head>
<body>
  <h1>Signed in as {{ email }}</h1>
  <form method="post" action="/logout">
    {{ csrf_field() }}
    <button type="submit">Sign out</button>
  </form>
  <h2>Recent activity</h2>
  <ul>{% for event in events %}<li>{{ event }}</li>{% endfor %}</ul>
</body></html>
"#;

/// Where a sign-in goes when `next` is missing or points off-site.
const HOME: &str = "/account";

/// What the handlers share. Every field is cheap to clone.
#[derive(Clone)]
struct AppState {
    users: UserStore,
    events: SecurityEvents,
    hasher: Hasher,
    templates: Templates,
}

/// The demo account, created at start.
const DEMO_EMAIL: &str = "alice@example.com";
const DEMO_PASSWORD: &str = "tidal quartz lantern fog";

/// Builds the application for the site at `public_origin`, with its accounts and sessions in
/// one SQLite database in memory, and creates the demo account.
async fn app(public_origin: &str) -> anyhow::Result<Router> {
    let db = palisade::db::connect_sqlite_memory().await?;
    palisade::db::migrate(&db).await?;

    let state = AppState {
        users: UserStore::new(db.clone()),
        events: SecurityEvents::new(db.clone()),
        // OWASP's minimum argon2id cost (19 MiB, 2 passes). Building the hasher costs one hash.
        hasher: Hasher::new(PasswordParams::default())?,
        templates: Templates::from_sources([
            ("login.html", LOGIN_HTML),
            ("account.html", ACCOUNT_HTML),
        ])?,
    };
    create_demo_account(&state).await?;

    // In production: `KeyRing::parse(&std::env::var("PALISADE_SECRET_KEY")?)?`, so sessions
    // survive a restart and every instance shares the keys.
    let keys = KeyRing::generate();
    let sessions = SessionLayer::new(
        Arc::new(SqliteSessionStore::new(db)),
        keys.signer(Purpose::Session),
        SessionConfig::default(),
    );
    let csrf = CsrfLayer::new(keys.signer(Purpose::Csrf), CsrfConfig::new(public_origin)?);

    Ok(Router::new()
        .route("/", get(|| async { Redirect::to(HOME) }))
        .route("/login", get(login_form).post(sign_in))
        .route("/logout", post(sign_out))
        .route("/account", get(account))
        .with_state(state)
        .layer(csrf)
        .layer(sessions)
        .layer(SecureHeadersLayer::new(SecureHeadersConfig::default()))
        .layer(ClientIpLayer::new(TrustedProxies::none())))
}

/// What a registration page would do: validate the address, check the password against the
/// policy, store only the argon2id hash.
async fn create_demo_account(state: &AppState) -> anyhow::Result<User> {
    let email = Email::parse(DEMO_EMAIL)?;
    PasswordPolicy::new()
        .check(DEMO_PASSWORD, Some(&email))
        .await?;
    let hash = state.hasher.hash(DEMO_PASSWORD).await?;
    let user = state.users.create(&email, Some(&hash)).await?;
    state.users.mark_verified(user.id).await?;
    Ok(user)
}

/// The signed-in account. A handler that takes it runs only for a signed-in, enabled account;
/// anyone else is sent to the sign-in form, which brings them back afterwards.
struct CurrentUser(User);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let here = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let to_login = || {
            let next = url::form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>();
            Redirect::to(&format!("/login?next={next}")).into_response()
        };

        let Some(user_id) = session.user_id() else {
            return Err(to_login());
        };
        match state.users.find_by_id(user_id).await {
            Ok(Some(user)) if !user.is_disabled() => Ok(Self(user)),
            // Deleted or disabled since signing in: end the session.
            Ok(_) => {
                session
                    .sign_out()
                    .await
                    .map_err(IntoResponse::into_response)?;
                Err(to_login())
            }
            Err(err) => {
                eprintln!("loading the signed-in user: {err}");
                Err(StatusCode::INTERNAL_SERVER_ERROR.into_response())
            }
        }
    }
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn login_form(
    State(state): State<AppState>,
    cx: FormContext,
    Query(query): Query<NextQuery>,
) -> Response {
    let next = safe_next_or(query.next.as_deref().unwrap_or(""), HOME);
    let page = minijinja::context! { error => None::<&str>, email => "", next };
    render(
        &state,
        "login.html",
        &cx.render_context(),
        StatusCode::OK,
        page,
    )
}

#[derive(Deserialize)]
struct SignIn {
    email: String,
    password: String,
    #[serde(default)]
    next: String,
}

async fn sign_in(
    State(state): State<AppState>,
    cx: FormContext,
    session: Session,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Response {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let user = match Email::parse(&form.email) {
        Ok(email) => match state.users.find_by_email(&email).await {
            Ok(user) => user,
            Err(err) => return internal_error(&err),
        },
        Err(_) => None,
    };

    // Always one argon2 verification, whether or not the account exists.
    let verified = match user.as_ref().and_then(|u| u.password_hash.as_deref()) {
        Some(hash) => match state.hasher.verify(&form.password, hash).await {
            Ok(verified) => Some(verified),
            Err(err) => return internal_error(&err),
        },
        None => {
            state.hasher.verify_dummy(&form.password).await;
            None
        }
    };

    let (Some(user), Some(verified)) = (user, verified) else {
        return wrong_credentials(&state, &cx, &form);
    };
    if !verified.ok || user.is_disabled() {
        let event = NewEvent::new(EventKind::SignInFailed)
            .user(user.id)
            .ip(ip)
            .user_agent(user_agent);
        if let Err(err) = state.events.record(event).await {
            return internal_error(&err);
        }
        return wrong_credentials(&state, &cx, &form);
    }

    // The hash was made with older parameters: store one with today's.
    if verified.needs_rehash {
        let rehashed = state.hasher.hash(&form.password).await;
        if let Ok(hash) = rehashed
            && let Err(err) = state.users.set_password(user.id, &hash).await
        {
            return internal_error(&err);
        }
    }

    // A new session id; the CSRF token changes with it.
    if let Err(err) = session.sign_in(user.id).await {
        return err.into_response();
    }
    let event = NewEvent::new(EventKind::SignInOk)
        .user(user.id)
        .ip(ip)
        .user_agent(user_agent);
    if let Err(err) = state.events.record(event).await {
        return internal_error(&err);
    }
    Redirect::to(&safe_next_or(&form.next, HOME)).into_response()
}

/// One message for an unknown address, a wrong password and a disabled account.
fn wrong_credentials(state: &AppState, cx: &FormContext, form: &SignIn) -> Response {
    let page = minijinja::context! {
        error => "Wrong email or password.",
        email => form.email.as_str(),
        next => safe_next_or(&form.next, HOME),
    };
    render(
        state,
        "login.html",
        &cx.render_context(),
        StatusCode::UNAUTHORIZED,
        page,
    )
}

async fn sign_out(session: Session) -> Response {
    match session.sign_out().await {
        Ok(()) => Redirect::to("/login").into_response(),
        Err(err) => err.into_response(),
    }
}

/// The protected page: `CurrentUser` guards it. Responses of signed-in pages are marked
/// `Cache-Control: no-store` by the session layer.
async fn account(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    cx: FormContext,
) -> Response {
    let events = match state.events.recent(user.id, 10).await {
        Ok(events) => events,
        Err(err) => return internal_error(&err),
    };
    let events: Vec<String> = events
        .iter()
        .map(|e| {
            format!(
                "{} from {}",
                e.kind.as_str(),
                e.ip.as_deref().unwrap_or("?")
            )
        })
        .collect();
    let page = minijinja::context! { email => user.email, events };
    render(
        &state,
        "account.html",
        &cx.render_context(),
        StatusCode::OK,
        page,
    )
}

fn render(
    state: &AppState,
    name: &str,
    cx: &RenderContext,
    status: StatusCode,
    page: minijinja::Value,
) -> Response {
    match state.templates.render(name, cx, page) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => internal_error(&err),
    }
}

/// Logs the error and answers a bare 500: internals never go into a response.
fn internal_error(err: &dyn std::error::Error) -> Response {
    eprintln!("internal error: {err}");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if support::self_test_requested() {
        return self_test().await;
    }
    let server = DevServer::bind("127.0.0.1:8443", Path::new("example-data"))?;
    let app = app(&server.origin).await?;
    println!("Demo account: {DEMO_EMAIL} / {DEMO_PASSWORD}");
    server.serve(app).await
}

async fn self_test() -> anyhow::Result<()> {
    use anyhow::{Context as _, ensure};

    let dir = tempfile::tempdir()?;
    let server = DevServer::bind("127.0.0.1:0", dir.path())?;
    let app = app(&server.origin).await?;
    let site = server.spawn(app)?;
    let origin = site.origin.clone();
    let token_of = |html: &str| support::attribute_after(html, r#"name="csrf_token""#, "value");

    // The protected page sends strangers to the sign-in form, remembering where they were.
    let account = site.client.get(site.url("/account")).send().await?;
    ensure!(
        account.status() == 303,
        "anonymous /account answered {}",
        account.status()
    );
    ensure!(account.headers()["location"] == "/login?next=%2Faccount");

    let form = site
        .client
        .get(site.url("/login?next=%2Faccount"))
        .send()
        .await?;
    ensure!(form.headers().contains_key("content-security-policy"));
    let token = token_of(&form.text().await?).context("no token on the sign-in form")?;

    // A wrong password and an unknown address get the same answer.
    for (email, password) in [
        (DEMO_EMAIL, "not the password"),
        ("bob@example.com", DEMO_PASSWORD),
    ] {
        let body = [
            ("csrf_token", token.as_str()),
            ("email", email),
            ("password", password),
        ];
        let refused = site
            .client
            .post(site.url("/login"))
            .header("origin", &origin)
            .header("content-type", support::FORM)
            .body(support::form(&body))
            .send()
            .await?;
        ensure!(
            refused.status() == 401,
            "bad sign-in answered {}",
            refused.status()
        );
        ensure!(refused.text().await?.contains("Wrong email or password."));
    }

    // The right password signs in and goes back to `next`; an off-site `next` would not.
    let body = [
        ("csrf_token", token.as_str()),
        ("email", DEMO_EMAIL),
        ("password", DEMO_PASSWORD),
        ("next", "/account"),
    ];
    let signed_in = site
        .client
        .post(site.url("/login"))
        .header("origin", &origin)
        .header("content-type", support::FORM)
        .body(support::form(&body))
        .send()
        .await?;
    ensure!(
        signed_in.status() == 303,
        "sign-in answered {}",
        signed_in.status()
    );
    ensure!(signed_in.headers()["location"] == "/account");

    let account = site.client.get(site.url("/account")).send().await?;
    ensure!(
        account.status() == 200,
        "signed-in /account answered {}",
        account.status()
    );
    ensure!(account.headers()["cache-control"] == "no-store");
    let html = account.text().await?;
    ensure!(
        html.contains(DEMO_EMAIL) && html.contains("sign_in_ok"),
        "{html}"
    );

    // The token changed at sign-in: the old one no longer works, the page's one does.
    let stale = site
        .client
        .post(site.url("/logout"))
        .header("origin", &origin)
        .header("content-type", support::FORM)
        .body(support::form(&[("csrf_token", &token)]))
        .send()
        .await?;
    ensure!(
        stale.status() == 403,
        "sign-out with the pre-login token answered {}",
        stale.status()
    );
    let fresh = token_of(&html).context("no token on the account page")?;
    let signed_out = site
        .client
        .post(site.url("/logout"))
        .header("origin", &origin)
        .header("content-type", support::FORM)
        .body(support::form(&[("csrf_token", &fresh)]))
        .send()
        .await?;
    ensure!(
        signed_out.status() == 303,
        "sign-out answered {}",
        signed_out.status()
    );
    ensure!(signed_out.headers().contains_key("clear-site-data"));

    let account = site.client.get(site.url("/account")).send().await?;
    ensure!(
        account.status() == 303,
        "after sign-out /account answered {}",
        account.status()
    );

    site.stop().await?;
    println!("login self-test passed");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn self_test_passes() {
        super::self_test().await.unwrap();
    }
}
