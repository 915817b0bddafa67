//! Accounts: registration, verification, sign-in with throttling and two-factor, sign-out,
//! password change and reset, sessions, two-factor enrolment.
//!
//! Every answer that could tell whether an address has an account is the same either way:
//! registration, resending verification and password reset always say "check your inbox", and a
//! failed sign-in is one message with the same work done (a dummy hash for unknown addresses).

use std::time::Duration;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use palisade::auth::captcha::{self, CaptchaError};
use palisade::auth::email::Email;
use palisade::auth::next::safe_next;
use palisade::auth::tokens::{Subject, TokenKind};
use palisade::auth::users::{EventKind, NewEvent, User};
use palisade::ratelimit::{Quota, ip_key};
use serde::{Deserialize, Serialize};

use crate::state::AppState;
use crate::web::{FormPage, Page, SignedIn, fault, see_other, ser};

/// How long a password-checked sign-in waits for its second factor.
const TWO_FACTOR_WINDOW: Duration = Duration::from_secs(5 * 60);

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/register", get(register_form).post(register))
        .route("/verify/{token}", get(verify))
        .route("/verify/resend", post(resend_verification))
        .route("/login", get(login_form).post(login))
        .route("/login/2fa", post(login_two_factor))
        .route("/logout", post(logout))
        .route("/password/forgot", get(forgot_form).post(forgot))
        .route("/password/reset/{token}", get(reset_form).post(reset))
        .route("/account", get(account))
        .route("/account/password", post(change_password))
        .route("/account/sessions", get(sessions))
        .route("/account/sessions/{id}/revoke", post(revoke_session))
        .route(
            "/account/sessions/revoke-others",
            post(revoke_other_sessions),
        )
        .route("/account/2fa", get(two_factor_page).post(two_factor_change))
}

fn event<'a>(page: &'a Page, kind: EventKind) -> NewEvent<'a> {
    NewEvent::new(kind)
        .ip(page.ip.0)
        .user_agent(&page.user_agent)
}

async fn record(page: &Page, event: NewEvent<'_>) {
    if let Err(err) = page.state.events.record(event).await {
        tracing::error!(error = %err, "recording a security event failed");
    }
}

pub(crate) fn link(state: &AppState, path: &str) -> String {
    // Every link in every mail is built from the configured public URL, never from the request.
    let base = state.config.public_url.as_str().trim_end_matches('/');
    format!("{base}{path}")
}

// ----- registration -------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct InviteQuery {
    #[serde(default)]
    invite: String,
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct RegisterForm {
    #[serde(default)]
    email: String,
    #[serde(default, skip_serializing)]
    password: String,
    #[serde(default, skip_serializing)]
    captcha: String,
    #[serde(default, skip_serializing)]
    website: String,
    #[serde(default)]
    invite: String,
}

async fn register_form(FormPage(page): FormPage, Query(q): Query<InviteQuery>) -> Response {
    let form = RegisterForm {
        invite: q.invite,
        ..RegisterForm::default()
    };
    render_register(&page, StatusCode::OK, &form, None)
}

pub(crate) fn render_register(
    page: &Page,
    status: StatusCode,
    form: &RegisterForm,
    error: Option<&str>,
) -> Response {
    let state = &page.state;
    let mode = &state.registration;
    let closed = matches!(mode, palisade::auth::email::RegistrationMode::Closed);
    let challenge = state.captcha.challenge().to_json();
    page.render(
        status,
        "register.html",
        minijinja::context! {
            form => ser(form), error, closed, challenge,
            min_chars => state.policy.min_chars(),
            invite_only => matches!(mode, palisade::auth::email::RegistrationMode::Invite),
        },
    )
}

fn check_email_sent(page: &Page) -> Response {
    page.render(
        StatusCode::OK,
        "message.html",
        minijinja::context! {
            title => "Check your inbox",
            message => "If the address can be registered, we have sent it a link to verify it. \
                        The link works once and expires in 24 hours.",
        },
    )
}

async fn register(FormPage(page): FormPage, Form(form): Form<RegisterForm>) -> Response {
    let state = page.state.clone();
    // A filled honeypot is a bot: tell it what a person would see, and do nothing.
    if !captcha::honeypot_ok(Some(&form.website)) {
        tracing::warn!(ip = %page.ip.0, "registration honeypot filled");
        return check_email_sent(&page);
    }
    if let Err(err) = state.captcha.verify(Some(&form.captcha)).await {
        tracing::info!(reason = ?err, "registration captcha refused");
        let status = if matches!(err, CaptchaError::Missing) {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::FORBIDDEN
        };
        return render_register(&page, status, &form, Some(err.user_message()));
    }
    // Counted after the captcha, so that each counted attempt cost a proof of work: requests
    // without one cannot use up the quota of everyone behind the same address.
    match Quota::REGISTRATIONS_PER_IP
        .allow(&*state.limiter, &format!("register:{}", ip_key(page.ip.0)))
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return render_register(
                &page,
                StatusCode::TOO_MANY_REQUESTS,
                &form,
                Some("Too many registrations from your network. Please try again later."),
            );
        }
        Err(err) => return fault("rate limiter failed", &err),
    }
    let email = match Email::parse(&form.email) {
        Ok(email) => email,
        Err(err) => {
            return render_register(
                &page,
                StatusCode::BAD_REQUEST,
                &form,
                Some(&err.to_string()),
            );
        }
    };
    let invite_ok = !form.invite.is_empty() && invite_matches(&state, &form.invite, &email).await;
    if let Err(err) = state.registration.check(&email, invite_ok) {
        return render_register(&page, StatusCode::FORBIDDEN, &form, Some(&err.to_string()));
    }
    if let Err(err) = state.policy.check(&form.password, Some(&email)).await {
        return render_register(
            &page,
            StatusCode::BAD_REQUEST,
            &form,
            Some(&err.to_string()),
        );
    }
    // Hash before looking the address up, so both paths cost the same.
    let hash = match state.hasher.hash(&form.password).await {
        Ok(hash) => hash,
        Err(err) => return fault("hashing a password failed", &err),
    };
    match state.users.find_by_email(&email).await {
        Ok(Some(existing)) => {
            let text = format!(
                "Someone tried to register a Drop account with this address, which already has \
                 one. If it was you, sign in at {} or reset your password at {}.\n\nIf it was \
                 not you, you can ignore this message.",
                link(&state, "/login"),
                link(&state, "/password/forgot"),
            );
            send_mail(&state, &email, "Your Drop account", &text).await;
            tracing::info!(
                user_id = existing.id,
                "registration attempt for an existing account"
            );
        }
        Ok(None) => {
            let user = match state.users.create(&email, Some(&hash)).await {
                Ok(user) => user,
                Err(palisade::auth::users::UserError::Duplicate) => return check_email_sent(&page),
                Err(err) => return fault("creating an account failed", &err),
            };
            if invite_ok {
                let _ = state.tokens.consume(TokenKind::Invite, &form.invite).await;
            }
            record(&page, event(&page, EventKind::Registered).user(user.id)).await;
            send_verification(&state, &user, &email).await;
        }
        Err(err) => return fault("looking up an account failed", &err),
    }
    check_email_sent(&page)
}

async fn invite_matches(state: &AppState, token: &str, email: &Email) -> bool {
    // Invitations are checked by peeking: the token is consumed only when the account exists.
    match state.tokens.peek(TokenKind::Invite, token).await {
        Ok(Subject::Email(invited)) => invited.is_empty() || invited == email.key(),
        _ => false,
    }
}

async fn send_verification(state: &AppState, user: &User, email: &Email) {
    let token = match state
        .tokens
        .issue(
            TokenKind::EmailVerification,
            &Subject::User(user.id),
            TokenKind::EmailVerification.default_ttl(),
        )
        .await
    {
        Ok(token) => token,
        Err(err) => {
            tracing::error!(error = %err, "issuing a verification token failed");
            return;
        }
    };
    let text = format!(
        "Welcome to Drop.\n\nOpen this link to verify your address (it works once and expires in \
         24 hours):\n\n{}\n\nIf you did not register, ignore this message.",
        link(state, &format!("/verify/{token}"))
    );
    send_mail(state, email, "Verify your address for Drop", &text).await;
}

async fn send_mail(state: &AppState, to: &Email, subject: &str, text: &str) {
    if let Err(err) = state.mailer.send(to, subject, text).await {
        tracing::error!(error = %err, "sending mail failed");
    }
}

async fn verify(page: Page, Path(token): Path<String>) -> Response {
    let state = page.state.clone();
    match state
        .tokens
        .consume(TokenKind::EmailVerification, &token)
        .await
    {
        Ok(Subject::User(id)) => {
            if let Err(err) = state.users.mark_verified(id).await {
                return fault("marking an account verified failed", &err);
            }
            record(&page, event(&page, EventKind::Verified).user(id)).await;
            page.flash("ok", "Your address is verified. You can sign in now.");
            see_other("/login")
        }
        Ok(Subject::Email(_)) | Err(palisade::auth::tokens::TokenError::Db(_)) => page.error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again",
            "The link could not be checked right now.",
        ),
        Err(err) => {
            tracing::info!(reason = %err, "verification link refused");
            page.error(
                StatusCode::BAD_REQUEST,
                "Link invalid or expired",
                "This verification link is invalid, was used already, or has expired. Sign in to get a new one.",
            )
        }
    }
}

#[derive(Debug, Deserialize)]
struct EmailForm {
    #[serde(default)]
    email: String,
}

async fn mail_quota_ok(state: &AppState, page: &Page, email: &Email) -> bool {
    let by_address = Quota::MAILS_PER_ADDRESS
        .allow(&*state.limiter, &format!("mail:{}", email.key()))
        .await;
    let by_ip = Quota {
        max: 10,
        window: Duration::from_secs(3600),
    }
    .allow(&*state.limiter, &format!("mail-ip:{}", ip_key(page.ip.0)))
    .await;
    matches!((by_address, by_ip), (Ok(true), Ok(true)))
}

async fn resend_verification(FormPage(page): FormPage, Form(form): Form<EmailForm>) -> Response {
    let state = page.state.clone();
    if let Ok(email) = Email::parse(&form.email)
        && mail_quota_ok(&state, &page, &email).await
        && let Ok(Some(user)) = state.users.find_by_email(&email).await
        && !user.is_verified()
        && !user.is_disabled()
    {
        send_verification(&state, &user, &email).await;
    }
    check_email_sent(&page)
}

// ----- sign-in ------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default, skip_serializing)]
    password: String,
    #[serde(default)]
    next: String,
    #[serde(default, skip_serializing)]
    captcha: String,
}

async fn login_form(FormPage(page): FormPage, Query(q): Query<NextQuery>) -> Response {
    if page.user.is_some() {
        return see_other(&safe_next(&q.next));
    }
    let form = LoginForm {
        next: q.next,
        ..LoginForm::default()
    };
    let needs_captcha = page.session.get::<bool>("captcha_needed").unwrap_or(false);
    render_login(&page, StatusCode::OK, &form, None, needs_captcha)
}

pub(crate) fn render_login(
    page: &Page,
    status: StatusCode,
    form: &LoginForm,
    error: Option<&str>,
    needs_captcha: bool,
) -> Response {
    let challenge = needs_captcha.then(|| page.state.captcha.challenge().to_json());
    page.render(
        status,
        "login.html",
        minijinja::context! { form => ser(form), error, challenge },
    )
}

const SIGN_IN_FAILED: &str = "That email and password do not match an account that can sign in.";

async fn login(FormPage(page): FormPage, Form(form): Form<LoginForm>) -> Response {
    let state = page.state.clone();
    let email = Email::parse(&form.email).ok();
    let account_key = email
        .as_ref()
        .map_or_else(|| form.email.trim().to_lowercase(), Email::key);
    let decision = match state.throttle.check(&account_key, page.ip.0).await {
        Ok(d) => d,
        Err(err) => return fault("throttle failed", &err),
    };
    if !decision.allowed {
        record(&page, event(&page, EventKind::Throttled).detail("sign-in")).await;
        let wait = format!(
            "Too many failed attempts. Please wait {} seconds and try again.",
            decision.delay.as_secs().max(1)
        );
        let _ = page.session.insert("captcha_needed", true);
        return render_login(
            &page,
            StatusCode::TOO_MANY_REQUESTS,
            &form,
            Some(&wait),
            true,
        );
    }
    if decision.captcha_required {
        let _ = page.session.insert("captcha_needed", true);
        if let Err(err) = state.captcha.verify(Some(&form.captcha)).await {
            tracing::info!(reason = ?err, "sign-in captcha refused");
            return render_login(
                &page,
                StatusCode::FORBIDDEN,
                &form,
                Some("Please complete the check below and try again."),
                true,
            );
        }
    }

    let user = match &email {
        Some(email) => match state.users.find_by_email(email).await {
            Ok(user) => user,
            Err(err) => return fault("looking up an account failed", &err),
        },
        None => None,
    };
    let verified = match user.as_ref().and_then(|u| u.password_hash.as_deref()) {
        Some(hash) => match state.hasher.verify(&form.password, hash).await {
            Ok(v) => v,
            Err(err) => return fault("verifying a password failed", &err),
        },
        None => {
            // Unknown address: the same work, the same answer.
            state.hasher.verify_dummy(&form.password).await;
            palisade::auth::password::Verified {
                ok: false,
                needs_rehash: false,
            }
        }
    };
    let usable = user.as_ref().filter(|u| verified.ok && !u.is_disabled());
    let Some(user) = usable else {
        let _ = state.throttle.record_failure(&account_key, page.ip.0).await;
        let mut failed = event(&page, EventKind::SignInFailed);
        if let Some(u) = &user {
            failed = failed.user(u.id);
        }
        record(&page, failed).await;
        let next = state.throttle.check(&account_key, page.ip.0).await.ok();
        let needs_captcha = next.is_some_and(|d| d.captcha_required || !d.allowed);
        if needs_captcha {
            let _ = page.session.insert("captcha_needed", true);
        }
        return render_login(
            &page,
            StatusCode::UNAUTHORIZED,
            &form,
            Some(SIGN_IN_FAILED),
            needs_captcha,
        );
    };
    if !user.is_verified() {
        return page.render(
            StatusCode::FORBIDDEN,
            "message.html",
            minijinja::context! {
                title => "Verify your address first",
                message => "Open the link we sent when you registered. You can ask for a new one below.",
                resend_email => user.email.clone(),
            },
        );
    }
    if verified.needs_rehash
        && let Ok(hash) = state.hasher.hash(&form.password).await
    {
        let _ = state.users.set_password(user.id, &hash).await;
    }
    let _ = state.throttle.record_success(&account_key, page.ip.0).await;
    if user.totp_enabled {
        let pending = PendingTwoFactor {
            user_id: user.id,
            next: form.next.clone(),
            since: unix_now(),
        };
        if page.session.insert("pending_2fa", &pending).is_err() {
            return fault("storing the pending sign-in failed", &"serialization");
        }
        return page.render(
            StatusCode::OK,
            "login_2fa.html",
            minijinja::context! { error => () },
        );
    }
    complete_sign_in(&page, user, &form.next).await
}

#[derive(Debug, Serialize, Deserialize)]
struct PendingTwoFactor {
    user_id: i64,
    next: String,
    since: i64,
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn complete_sign_in(page: &Page, user: &User, next: &str) -> Response {
    let _ = page.session.remove("captcha_needed");
    let _ = page.session.remove("pending_2fa");
    if let Err(err) = page.session.sign_in(user.id).await {
        return fault("starting a session failed", &err);
    }
    record(page, event(page, EventKind::SignInOk).user(user.id)).await;
    tracing::info!(user_id = user.id, "signed in");
    see_other(&safe_next(next))
}

#[derive(Debug, Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
}

async fn login_two_factor(FormPage(page): FormPage, Form(form): Form<CodeForm>) -> Response {
    let state = page.state.clone();
    let Some(pending) = page.session.get::<PendingTwoFactor>("pending_2fa") else {
        page.flash("warn", "Please sign in again.");
        return see_other("/login");
    };
    if unix_now() - pending.since > TWO_FACTOR_WINDOW.as_secs() as i64 {
        let _ = page.session.remove("pending_2fa");
        page.flash("warn", "That took too long. Please sign in again.");
        return see_other("/login");
    }
    let key = format!("2fa:{}", pending.user_id);
    match state.throttle.check(&key, page.ip.0).await {
        Ok(d) if !d.allowed => {
            let wait = format!(
                "Too many wrong codes. Wait {} seconds.",
                d.delay.as_secs().max(1)
            );
            return page.render(
                StatusCode::TOO_MANY_REQUESTS,
                "login_2fa.html",
                minijinja::context! { error => wait },
            );
        }
        Ok(_) => {}
        Err(err) => return fault("throttle failed", &err),
    }
    let code = form.code.trim();
    let totp_ok = match state.two_factor.verify(pending.user_id, code).await {
        Ok(ok) => ok,
        Err(err) => return fault("checking a TOTP code failed", &err),
    };
    let recovery_ok = !totp_ok
        && code.contains('-')
        && state
            .two_factor
            .use_recovery_code(pending.user_id, code)
            .await
            .unwrap_or(false);
    let user = match state.users.find_by_id(pending.user_id).await {
        Ok(Some(user)) if !user.is_disabled() => user,
        Ok(_) => return see_other("/login"),
        Err(err) => return fault("loading an account failed", &err),
    };
    if !(totp_ok || recovery_ok) {
        let _ = state.throttle.record_failure(&key, page.ip.0).await;
        record(
            &page,
            event(&page, EventKind::SignInFailed)
                .user(user.id)
                .detail("second factor"),
        )
        .await;
        return page.render(
            StatusCode::UNAUTHORIZED,
            "login_2fa.html",
            minijinja::context! { error => "That code is not valid. Codes can be used once." },
        );
    }
    if recovery_ok {
        record(
            &page,
            event(&page, EventKind::RecoveryCodeUsed).user(user.id),
        )
        .await;
    }
    let _ = state.throttle.record_success(&key, page.ip.0).await;
    complete_sign_in(&page, &user, &pending.next).await
}

async fn logout(page: Page) -> Response {
    if let Some(user) = &page.user {
        tracing::info!(user_id = user.id, "signed out");
    }
    if let Err(err) = page.session.sign_out().await {
        return fault("ending a session failed", &err);
    }
    see_other("/")
}

// ----- password reset -----------------------------------------------------------------------

async fn forgot_form(FormPage(page): FormPage) -> Response {
    page.render(
        StatusCode::OK,
        "forgot.html",
        minijinja::context! { email => "" },
    )
}

async fn forgot(FormPage(page): FormPage, Form(form): Form<EmailForm>) -> Response {
    let state = page.state.clone();
    if let Ok(email) = Email::parse(&form.email)
        && mail_quota_ok(&state, &page, &email).await
        && let Ok(Some(user)) = state.users.find_by_email(&email).await
        && !user.is_disabled()
    {
        match state
            .tokens
            .issue(
                TokenKind::PasswordReset,
                &Subject::User(user.id),
                TokenKind::PasswordReset.default_ttl(),
            )
            .await
        {
            Ok(token) => {
                let text = format!(
                    "Someone asked to reset the password of your Drop account.\n\nOpen this link \
                     to choose a new one (it works once and expires in one hour):\n\n{}\n\nIf it \
                     was not you, ignore this message: your password stays as it is.",
                    link(&state, &format!("/password/reset/{token}"))
                );
                send_mail(&state, &email, "Reset your Drop password", &text).await;
            }
            Err(err) => tracing::error!(error = %err, "issuing a reset token failed"),
        }
    }
    page.render(
        StatusCode::OK,
        "message.html",
        minijinja::context! {
            title => "Check your inbox",
            message => "If an account uses that address, we have sent it a link to reset the password. The link works once and expires in one hour.",
        },
    )
}

/// The new-password form, for a link that still works (checked without using it up): a used,
/// expired or altered link says so at once instead of after a new password is typed.
async fn reset_form(FormPage(page): FormPage, Path(token): Path<String>) -> Response {
    if let Err(refusal) = reset_link_account(&page, &token).await {
        return refusal;
    }
    page.render(
        StatusCode::OK,
        "reset.html",
        minijinja::context! { error => () },
    )
}

#[derive(Debug, Deserialize)]
struct PasswordForm {
    #[serde(default)]
    password: String,
}

async fn reset(
    FormPage(page): FormPage,
    Path(token): Path<String>,
    Form(form): Form<PasswordForm>,
) -> Response {
    let state = page.state.clone();
    let user = match reset_link_account(&page, &token).await {
        Ok(user) => user,
        Err(refusal) => return refusal,
    };
    let email = Email::parse(&user.email).ok();
    if let Err(err) = state.policy.check(&form.password, email.as_ref()).await {
        return page.render(
            StatusCode::BAD_REQUEST,
            "reset.html",
            minijinja::context! { error => err.to_string() },
        );
    }
    let hash = match state.hasher.hash(&form.password).await {
        Ok(hash) => hash,
        Err(err) => return fault("hashing a password failed", &err),
    };
    // Consuming is the single-use step: of two racing submissions only one gets here.
    if state
        .tokens
        .consume(TokenKind::PasswordReset, &token)
        .await
        .is_err()
    {
        return reset_link_invalid(&page);
    }
    if let Err(err) = state.users.set_password(user.id, &hash).await {
        return fault("storing a password failed", &err);
    }
    let _ = state.users.mark_verified(user.id).await;
    if let Err(err) = state.sessions.revoke_all(user.id).await {
        return fault("ending sessions failed", &err);
    }
    // The other links of earlier requests die with the old password: whoever saw one of
    // those mails must not be able to take the account back.
    if let Err(err) = revoke_reset_links(&state, user.id).await {
        return fault("withdrawing reset links failed", &err);
    }
    record(&page, event(&page, EventKind::PasswordReset).user(user.id)).await;
    page.flash(
        "ok",
        "Your password was changed and every session signed out. Sign in with the new password.",
    );
    see_other("/login")
}

/// The account a reset link is for, checked without using the link up; the "invalid or
/// expired" page for a used, expired or altered link or an account that is gone.
async fn reset_link_account(page: &Page, token: &str) -> Result<User, Response> {
    let state = &page.state;
    match state.tokens.peek(TokenKind::PasswordReset, token).await {
        Ok(Subject::User(id)) => match state.users.find_by_id(id).await {
            Ok(Some(user)) => Ok(user),
            Ok(None) => Err(reset_link_invalid(page)),
            Err(err) => Err(fault("loading an account failed", &err)),
        },
        Ok(Subject::Email(_)) => Err(reset_link_invalid(page)),
        Err(palisade::auth::tokens::TokenError::Db(err)) => {
            Err(fault("checking a reset link failed", &err))
        }
        Err(_) => Err(reset_link_invalid(page)),
    }
}

/// Withdraws every unused password-reset link of the account.
async fn revoke_reset_links(state: &AppState, user_id: i64) -> Result<u64, sqlx::Error> {
    let withdrawn = state
        .tokens
        .revoke(TokenKind::PasswordReset, &Subject::User(user_id))
        .await?;
    if withdrawn > 0 {
        tracing::info!(user_id, withdrawn, "unused password reset links withdrawn");
    }
    Ok(withdrawn)
}

fn reset_link_invalid(page: &Page) -> Response {
    page.error(
        StatusCode::BAD_REQUEST,
        "Link invalid or expired",
        "This reset link is invalid, was used already, or has expired. Ask for a new one.",
    )
}

// ----- the account pages --------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub(crate) struct EventView {
    kind: &'static str,
    when: String,
    ip: String,
    detail: String,
}

pub(crate) fn when(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_owned()
        + " UTC"
}

pub(crate) fn event_views(events: Vec<palisade::auth::users::SecurityEvent>) -> Vec<EventView> {
    events
        .into_iter()
        .map(|e| EventView {
            kind: e.kind.as_str(),
            when: when(e.created_at),
            ip: e.ip.unwrap_or_default(),
            detail: e.detail.unwrap_or_default(),
        })
        .collect()
}

async fn account(SignedIn(page, user): SignedIn) -> Response {
    let events = match page.state.events.recent(user.id, 20).await {
        Ok(events) => event_views(events),
        Err(err) => return fault("loading security events failed", &err),
    };
    let page = page.for_form();
    page.render(StatusCode::OK, "account.html", minijinja::context! { events => ser(&events), error => (), min_chars => page.state.policy.min_chars() })
}

#[derive(Debug, Deserialize)]
struct ChangePasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    password: String,
}

/// Why a password typed again on a signed-in page (changing the password, turning two-factor
/// sign-in off) was refused.
enum Refused {
    /// Shown on the page the form is on: the status and the message.
    OnPage(StatusCode, String),
    /// A fault answered on its own.
    Fault(Response),
}

/// Checks `password` against the signed-in user's hash, throttled and recorded exactly like a
/// sign-in and on the same counter, so a stolen session cookie gives no faster way to guess
/// the password than the sign-in form. `wrong` is the page's message for a wrong password.
async fn reauthenticate(
    page: &Page,
    user: &User,
    password: &str,
    what: &'static str,
    wrong: &str,
) -> Result<(), Refused> {
    let state = &page.state;
    let key = Email::parse(&user.email).map_or_else(|_| user.email.to_lowercase(), |e| e.key());
    match state.throttle.check(&key, page.ip.0).await {
        Ok(d) if !d.allowed => {
            record(
                page,
                event(page, EventKind::Throttled).user(user.id).detail(what),
            )
            .await;
            let wait = format!(
                "Too many wrong passwords. Please wait {} seconds and try again.",
                d.delay.as_secs().max(1)
            );
            return Err(Refused::OnPage(StatusCode::TOO_MANY_REQUESTS, wait));
        }
        Ok(_) => {}
        Err(err) => return Err(Refused::Fault(fault("throttle failed", &err))),
    }
    let ok = match user.password_hash.as_deref() {
        Some(hash) => match state.hasher.verify(password, hash).await {
            Ok(v) => v.ok,
            Err(err) => return Err(Refused::Fault(fault("verifying a password failed", &err))),
        },
        None => false,
    };
    if ok {
        let _ = state.throttle.record_success(&key, page.ip.0).await;
        Ok(())
    } else {
        let _ = state.throttle.record_failure(&key, page.ip.0).await;
        record(
            page,
            event(page, EventKind::SignInFailed)
                .user(user.id)
                .detail(what),
        )
        .await;
        Err(Refused::OnPage(StatusCode::FORBIDDEN, wrong.to_owned()))
    }
}

async fn change_password(
    SignedIn(page, user): SignedIn,
    Form(form): Form<ChangePasswordForm>,
) -> Response {
    let state = page.state.clone();
    let fail = |page: &Page, status, message: &str| {
        let events = Vec::<EventView>::new();
        page.render(status, "account.html", minijinja::context! { events => ser(&events), error => message, min_chars => page.state.policy.min_chars() })
    };
    match reauthenticate(
        &page,
        &user,
        &form.current_password,
        "password change",
        "The current password is not right.",
    )
    .await
    {
        Ok(()) => {}
        Err(Refused::OnPage(status, message)) => return fail(&page, status, &message),
        Err(Refused::Fault(response)) => return response,
    }
    let email = Email::parse(&user.email).ok();
    if let Err(err) = state.policy.check(&form.password, email.as_ref()).await {
        return fail(&page, StatusCode::BAD_REQUEST, &err.to_string());
    }
    let hash = match state.hasher.hash(&form.password).await {
        Ok(hash) => hash,
        Err(err) => return fault("hashing a password failed", &err),
    };
    if let Err(err) = state.users.set_password(user.id, &hash).await {
        return fault("storing a password failed", &err);
    }
    if let Err(err) = revoke_reset_links(&state, user.id).await {
        return fault("withdrawing reset links failed", &err);
    }
    // A new password ends every other session, and this one gets a new id.
    if let Some(current) = page.session.key()
        && let Err(err) = state.sessions.revoke_others(user.id, &current).await
    {
        return fault("ending sessions failed", &err);
    }
    if let Err(err) = page.session.rotate().await {
        return fault("rotating the session failed", &err);
    }
    record(
        &page,
        event(&page, EventKind::PasswordChanged).user(user.id),
    )
    .await;
    page.flash(
        "ok",
        "Password changed. Your other sessions were signed out.",
    );
    see_other("/account")
}

#[derive(Debug, Serialize)]
struct SessionView {
    id: String,
    created: String,
    last_seen: String,
    ip: String,
    user_agent: String,
    current: bool,
}

async fn sessions(SignedIn(page, user): SignedIn) -> Response {
    let key = page.session.key();
    let list = match page.state.sessions.list(user.id, key.as_ref()).await {
        Ok(list) => list,
        Err(err) => return fault("listing sessions failed", &err),
    };
    let sessions: Vec<SessionView> = list
        .into_iter()
        .map(|s| SessionView {
            id: s.public_id,
            created: when(s.created_at.unix_timestamp()),
            last_seen: when(s.last_seen.unix_timestamp()),
            ip: s.ip.to_string(),
            user_agent: s.user_agent,
            current: s.current,
        })
        .collect();
    page.render(
        StatusCode::OK,
        "sessions.html",
        minijinja::context! { sessions => ser(&sessions) },
    )
}

async fn revoke_session(SignedIn(page, user): SignedIn, Path(id): Path<String>) -> Response {
    let current = page.session.public_id();
    if current.as_deref() == Some(id.as_str()) {
        page.flash("warn", "To end this session, sign out.");
        return see_other("/account/sessions");
    }
    match page.state.sessions.revoke(user.id, &id).await {
        Ok(true) => {
            record(&page, event(&page, EventKind::SessionRevoked).user(user.id)).await;
            page.flash("ok", "The session was signed out.");
            see_other("/account/sessions")
        }
        Ok(false) => page.error(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such session.",
        ),
        Err(err) => fault("revoking a session failed", &err),
    }
}

async fn revoke_other_sessions(SignedIn(page, user): SignedIn) -> Response {
    let Some(current) = page.session.key() else {
        return see_other("/login");
    };
    match page.state.sessions.revoke_others(user.id, &current).await {
        Ok(count) => {
            record(
                &page,
                event(&page, EventKind::SessionsRevoked)
                    .user(user.id)
                    .detail(&format!("{count} sessions")),
            )
            .await;
            page.flash("ok", "Every other session was signed out.");
            see_other("/account/sessions")
        }
        Err(err) => fault("revoking sessions failed", &err),
    }
}

// ----- two-factor ---------------------------------------------------------------------------

async fn two_factor_page(SignedIn(page, user): SignedIn) -> Response {
    let state = page.state.clone();
    if user.totp_enabled {
        // Just enabled: the recovery codes are shown once, on this page after the redirect, so
        // that its forms carry tokens for the rotated session.
        if let Some(codes) = page
            .session
            .remove("recovery_codes_once")
            .and_then(|v| serde_json::from_value::<Vec<String>>(v).ok())
        {
            return page.render(
                StatusCode::OK,
                "two_factor.html",
                minijinja::context! {
                    enabled => true, just_enabled => true, remaining => codes.len(), codes,
                    error => (),
                },
            );
        }
        let remaining = state
            .two_factor
            .remaining_recovery_codes(user.id)
            .await
            .unwrap_or(0);
        return page.render(
            StatusCode::OK,
            "two_factor.html",
            minijinja::context! { enabled => true, remaining, error => () },
        );
    }
    let secret = match page.session.get::<String>("totp_pending") {
        Some(secret) => secret,
        None => match state.two_factor.enrol(&user.email) {
            Ok(enrolment) => {
                let _ = page.session.insert("totp_pending", &enrolment.secret);
                enrolment.secret
            }
            Err(err) => return fault("starting TOTP enrolment failed", &err),
        },
    };
    render_enrolment(&page, &user, &secret, None)
}

fn render_enrolment(page: &Page, user: &User, secret: &str, error: Option<&str>) -> Response {
    match page.state.two_factor.enrolment(secret, &user.email) {
        Ok(enrolment) => {
            let qr = minijinja::Value::from_safe_string(enrolment.qr_svg);
            let status = if error.is_some() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            page.render(
                status,
                "two_factor.html",
                minijinja::context! { enabled => false, qr, secret, error },
            )
        }
        Err(err) => fault("rendering TOTP enrolment failed", &err),
    }
}

#[derive(Debug, Deserialize)]
struct TwoFactorForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
}

async fn two_factor_change(
    SignedIn(page, user): SignedIn,
    Form(form): Form<TwoFactorForm>,
) -> Response {
    let state = page.state.clone();
    match form.action.as_str() {
        "enable" => {
            let Some(secret) = page.session.get::<String>("totp_pending") else {
                return see_other("/account/2fa");
            };
            match state
                .two_factor
                .confirm(user.id, &secret, form.code.trim())
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    return render_enrolment(
                        &page,
                        &user,
                        &secret,
                        Some(
                            "That code is not right. Check the time on your device and try the next code.",
                        ),
                    );
                }
                Err(err) => return fault("confirming TOTP failed", &err),
            }
            let _ = page.session.remove("totp_pending");
            let codes = match state.two_factor.generate_recovery_codes(user.id).await {
                Ok(codes) => codes,
                Err(err) => return fault("making recovery codes failed", &err),
            };
            if let Err(err) = page.session.rotate().await {
                return fault("rotating the session failed", &err);
            }
            record(&page, event(&page, EventKind::TotpEnabled).user(user.id)).await;
            // This page's tokens belong to the session id just replaced: show the codes on the
            // next page instead of rendering them here.
            if page.session.insert("recovery_codes_once", &codes).is_err() {
                return fault("keeping the recovery codes failed", &"serialization");
            }
            see_other("/account/2fa")
        }
        "disable" => {
            match reauthenticate(
                &page,
                &user,
                &form.password,
                "turning two-factor off",
                "The password is not right.",
            )
            .await
            {
                Ok(()) => {}
                Err(Refused::OnPage(status, error)) => {
                    let remaining = state
                        .two_factor
                        .remaining_recovery_codes(user.id)
                        .await
                        .unwrap_or(0);
                    return page.render(
                        status,
                        "two_factor.html",
                        minijinja::context! { enabled => true, remaining, error },
                    );
                }
                Err(Refused::Fault(response)) => return response,
            }
            if let Err(err) = state.users.clear_totp(user.id).await {
                return fault("turning TOTP off failed", &err);
            }
            if let Err(err) = page.session.rotate().await {
                return fault("rotating the session failed", &err);
            }
            record(&page, event(&page, EventKind::TotpDisabled).user(user.id)).await;
            page.flash("ok", "Two-factor sign-in is off.");
            see_other("/account")
        }
        _ => page.error(StatusCode::BAD_REQUEST, "Bad request", "Unknown action."),
    }
}

/// The sign-in form shown again after a refused submission, with the address kept.
pub(crate) fn render_login_again(page: &Page, email: &str, next: &str, error: &str) -> Response {
    let form = LoginForm {
        email: email.to_owned(),
        next: next.to_owned(),
        ..LoginForm::default()
    };
    render_login(page, StatusCode::FORBIDDEN, &form, Some(error), false)
}

/// The registration form shown again after a refused submission, with the address kept.
pub(crate) fn render_register_again(
    page: &Page,
    email: &str,
    invite: &str,
    error: &str,
) -> Response {
    let form = RegisterForm {
        email: email.to_owned(),
        invite: invite.to_owned(),
        ..RegisterForm::default()
    };
    render_register(page, StatusCode::FORBIDDEN, &form, Some(error))
}
