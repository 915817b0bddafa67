//! The administrator's page: users and recent security events, with disable and enable.

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use palisade::auth::tokens::{Subject, TokenKind};
use palisade::auth::users::{EventKind, NewEvent};
use serde::Serialize;

use crate::accounts::{event_views, when};
use crate::state::AppState;
use crate::web::{SignedIn, fault, see_other, ser};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(admin))
        .route("/admin/users/{id}/disable", post(disable))
        .route("/admin/users/{id}/enable", post(enable))
}

#[derive(Debug, Serialize)]
struct UserRow {
    id: i64,
    email: String,
    created: String,
    verified: bool,
    disabled: bool,
    is_admin: bool,
    totp: bool,
}

/// Everyone who is not an administrator sees the same 404 as for a missing page.
fn not_found(page: &crate::web::Page) -> Response {
    page.error(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is nothing at this address.",
    )
}

async fn admin(SignedIn(page, user): SignedIn) -> Response {
    if !user.is_admin {
        return not_found(&page);
    }
    let users = match page.state.users.list(200, 0).await {
        Ok(users) => users,
        Err(err) => return fault("listing users failed", &err),
    };
    let events = match page.state.events.recent_all(50).await {
        Ok(events) => event_views(events),
        Err(err) => return fault("loading events failed", &err),
    };
    let users: Vec<UserRow> = users
        .into_iter()
        .map(|u| UserRow {
            id: u.id,
            created: when(u.created_at),
            verified: u.is_verified(),
            disabled: u.is_disabled(),
            is_admin: u.is_admin,
            totp: u.totp_enabled,
            email: u.email,
        })
        .collect();
    page.render(
        StatusCode::OK,
        "admin.html",
        minijinja::context! { users => ser(&users), events => ser(&events) },
    )
}

async fn disable(SignedIn(page, user): SignedIn, Path(id): Path<i64>) -> Response {
    set_disabled(page, user, id, true).await
}

async fn enable(SignedIn(page, user): SignedIn, Path(id): Path<i64>) -> Response {
    set_disabled(page, user, id, false).await
}

async fn set_disabled(
    page: crate::web::Page,
    admin: palisade::auth::users::User,
    id: i64,
    disabled: bool,
) -> Response {
    if !admin.is_admin {
        return not_found(&page);
    }
    if id == admin.id {
        page.flash("warn", "You cannot disable your own account.");
        return see_other("/admin");
    }
    let state = page.state.clone();
    match state.users.find_by_id(id).await {
        Ok(Some(_)) => {}
        Ok(None) => return not_found(&page),
        Err(err) => return fault("loading an account failed", &err),
    }
    if let Err(err) = state.users.set_disabled(id, disabled).await {
        return fault("changing an account failed", &err);
    }
    if disabled && let Err(err) = state.sessions.revoke_all(id).await {
        return fault("ending sessions failed", &err);
    }
    let kind = if disabled {
        EventKind::Disabled
    } else {
        EventKind::Enabled
    };
    let detail = format!("by admin {}", admin.id);
    let event = NewEvent::new(kind)
        .user(id)
        .ip(page.ip.0)
        .user_agent(&page.user_agent)
        .detail(&detail);
    if let Err(err) = state.events.record(event).await {
        tracing::error!(error = %err, "recording a security event failed");
    }
    tracing::info!(
        user_id = id,
        admin_id = admin.id,
        disabled,
        "account changed by an admin"
    );
    page.flash(
        "ok",
        if disabled {
            "The account is disabled and its sessions ended."
        } else {
            "The account is enabled."
        },
    );
    see_other("/admin")
}

impl crate::AdminTools {
    /// Issues an invitation for `email`, valid for seven days and once, and returns the
    /// registration link to send to its holder, built from the configured public URL.
    ///
    /// # Errors
    ///
    /// An invalid address, an address that already has an account, or a database error.
    pub async fn invite(&self, email: &str) -> anyhow::Result<String> {
        let email = palisade::auth::email::Email::parse(email)?;
        let state = &self.state;
        if state.users.find_by_email(&email).await?.is_some() {
            anyhow::bail!("{} already has an account", email.as_str());
        }
        let token = state
            .tokens
            .issue(
                TokenKind::Invite,
                &Subject::Email(email.key()),
                TokenKind::Invite.default_ttl(),
            )
            .await?;
        tracing::info!(to_domain = email.domain(), "invitation issued");
        Ok(crate::accounts::link(
            state,
            &format!("/register?invite={token}"),
        ))
    }
}
