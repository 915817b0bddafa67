//! What every handler shares: the page context (nonce, CSRF token, signed-in user, flash
//! message), rendering, redirects and the refusal pages.

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use palisade::auth::users::User;
use palisade::csrf::{FormContext, PageContext};
use palisade::proxy::{ClientIp, client_ip_of};
use palisade::session::Session;
use palisade::template::RenderContext;
use serde::{Deserialize, Serialize};

use crate::state::AppState;

/// A one-time message shown on the next page.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Flash {
    pub(crate) kind: String,
    pub(crate) text: String,
}

/// The signed-in user as templates see it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct UserView {
    pub(crate) id: i64,
    pub(crate) email: String,
    pub(crate) is_admin: bool,
    pub(crate) totp_enabled: bool,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            email: u.email.clone(),
            is_admin: u.is_admin,
            totp_enabled: u.totp_enabled,
        }
    }
}

/// Everything a page needs from the request. Extracting it never creates a session; use
/// [`Page::for_form`] (or the [`FormPage`] extractor) when the page shows a form.
#[derive(Clone, Debug)]
pub(crate) struct Page {
    pub(crate) state: AppState,
    pub(crate) session: Session,
    pub(crate) user: Option<User>,
    pub(crate) ip: ClientIp,
    pub(crate) user_agent: String,
    pub(crate) render: RenderContext,
    pub(crate) path_and_query: String,
}

impl<S> FromRequestParts<S> for Page
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let session = Session::from_request_parts(parts, &state)
            .await
            .map_err(IntoResponse::into_response)?;
        let cx = PageContext::from_request_parts(parts, &state)
            .await
            .map_err(IntoResponse::into_response)?;
        let user = match session.user_id() {
            Some(id) => match state.users.find_by_id(id).await {
                Ok(Some(user)) if !user.is_disabled() => Some(user),
                Ok(_) => {
                    // The account is gone or disabled: the session must not outlive it.
                    let _ = session.sign_out().await;
                    None
                }
                Err(err) => {
                    tracing::error!(error = %err, "loading the signed-in user failed");
                    return Err(unavailable());
                }
            },
            None => None,
        };
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(200)
            .collect();
        Ok(Self {
            ip: client_ip_of(parts),
            user_agent,
            render: cx.render_context(),
            path_and_query: parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned(),
            session,
            user,
            state,
        })
    }
}

/// A [`Page`] whose render context always carries a CSRF token (a session is started if
/// needed), for pages that show a form to anonymous visitors.
#[derive(Clone, Debug)]
pub(crate) struct FormPage(pub(crate) Page);

impl<S> FromRequestParts<S> for FormPage
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let mut page = Page::from_request_parts(parts, state).await?;
        let app = AppState::from_ref(state);
        let cx = FormContext::from_request_parts(parts, &app)
            .await
            .map_err(IntoResponse::into_response)?;
        page.render = cx.render_context();
        Ok(Self(page))
    }
}

/// A signed-in user's [`Page`]: anonymous visitors are sent to `/login?next=…`.
#[derive(Clone, Debug)]
pub(crate) struct SignedIn(pub(crate) Page, pub(crate) User);

impl<S> FromRequestParts<S> for SignedIn
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let page = Page::from_request_parts(parts, state).await?;
        match page.user.clone() {
            Some(user) => Ok(Self(page, user)),
            None => {
                if page.session.is_expired_arrival() {
                    page.flash("warn", "Your session expired. Please sign in again.");
                }
                Err(to_login(&page.path_and_query))
            }
        }
    }
}

impl<S> OptionalFromRequestParts<S> for SignedIn
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let page = <Page as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        Ok(page.user.clone().map(|u| Self(page, u)))
    }
}

/// The sign-in page, coming back to `path` afterwards.
pub(crate) fn to_login(path: &str) -> Response {
    let next: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
    see_other(&format!("/login?next={next}"))
}

/// A `303 See Other` to a same-site path.
pub(crate) fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

impl Page {
    /// Queues a message for the next page this session renders.
    pub(crate) fn flash(&self, kind: &'static str, text: &str) {
        let _ = self.session.insert(
            "flash",
            Flash {
                kind: kind.to_owned(),
                text: text.to_owned(),
            },
        );
    }

    /// Renders a template with the page's nonce, token, user and pending flash message.
    pub(crate) fn render<C: Serialize>(
        &self,
        status: StatusCode,
        template: &str,
        context: C,
    ) -> Response {
        let flash: Option<Flash> = if self.session.exists() {
            self.session
                .remove("flash")
                .and_then(|v| serde_json::from_value(v).ok())
        } else {
            None
        };
        let user = self.user.as_ref().map(UserView::from);
        let ctx = minijinja::context! {
            user => ser(user),
            flash => ser(flash),
            ..minijinja::Value::from(minijinja::value::Serde(context))
        };
        match self.state.templates.render(template, &self.render, ctx) {
            Ok(html) => {
                let mut response = (status, Html(html)).into_response();
                if self.user.is_some() {
                    // Private pages are never stored, so Back after sign-out shows nothing.
                    response
                        .headers_mut()
                        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                }
                response
            }
            Err(err) => {
                tracing::error!(template, error = %err, "template failed to render");
                (StatusCode::INTERNAL_SERVER_ERROR, "Internal error.\n").into_response()
            }
        }
    }

    /// The error page with a status.
    pub(crate) fn error(&self, status: StatusCode, title: &str, message: &str) -> Response {
        self.render(status, "error.html", minijinja::context! { title, message })
    }

    /// The same page for a session the handler needs but the store cannot provide.
    pub(crate) fn for_form(self) -> Self {
        self.session.ensure();
        self
    }
}

/// A serialisable value for a template context.
pub(crate) fn ser<T: Serialize>(value: T) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(value))
}

/// `503` for a store that is down: fail closed, never as anonymous.
pub(crate) fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CACHE_CONTROL, "no-store"), (header::RETRY_AFTER, "5")],
        Html("<!doctype html><title>Unavailable</title><h1>Temporarily unavailable</h1><p>Please try again in a moment.</p>"),
    )
        .into_response()
}

/// Logs a server fault and answers 503 without detail.
pub(crate) fn fault(what: &str, err: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %err, "{what}");
    unavailable()
}

/// Shows a refused form again, with what the user typed (secrets removed by the CSRF layer), a
/// fresh token and an explanation. The layer makes the status 403.
pub(crate) async fn csrf_rejected(
    state: AppState,
    mut rejection: palisade::csrf::CsrfRejection,
) -> Response {
    // A post from another site arrives without the user's SameSite cookie. The toolkit never
    // starts a session for such a refusal (a new cookie would replace the user's own and sign
    // them out), so there is no token then, and the answer is the refusal page without a form.
    let render = rejection.render_context();
    let fields: std::collections::HashMap<String, String> =
        rejection.fields.iter().cloned().collect();
    let path = rejection.path.clone();
    let mut page = match Page::from_request_parts(&mut rejection.parts, &state).await {
        Ok(page) => page,
        Err(response) => return response,
    };
    let message = "This form could not be verified, perhaps because it was open for a long time \
                   or came from another site. Please check it and submit it again.";
    if render.csrf_token.is_none() {
        return page.error(StatusCode::FORBIDDEN, "Please try again", message);
    }
    page.render = render;
    let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
    match path.as_str() {
        "/login" => {
            crate::accounts::render_login_again(&page, &field("email"), &field("next"), message)
        }
        "/register" => crate::accounts::render_register_again(
            &page,
            &field("email"),
            &field("invite"),
            message,
        ),
        _ => page.error(StatusCode::FORBIDDEN, "Please try again", message),
    }
}
