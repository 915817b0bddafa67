//! A small application that does every practice right, unless told to plant one flaw.
//!
//! Each field of [`Flaws`] plants one known weakness; `Flaws::default()` is the clean app.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Deserialize;

pub const USER: &str = "alice@example.com";
pub const PASSWORD: &str = "correct horse battery staple";
const COOKIE: &str = "__Host-sid";
const NONCE: &str = "r4nd0mN0nc3";

/// The flaws an app can plant, one per field. All false: the clean app.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flaws {
    pub missing_hsts: bool,
    pub short_hsts: bool,
    pub duplicate_hsts: bool,
    pub preload_without_subdomains: bool,
    pub no_csp: bool,
    pub weak_csp: bool,
    pub no_framing_protection: bool,
    pub xfo_allow_from: bool,
    pub missing_misc_headers: bool,
    pub personal_cacheable: bool,
    pub mixed_content: bool,
    pub cookie_flags: bool,
    pub cacheable_cookie: bool,
    pub flask_cookie: bool,
    pub debugger: bool,
    pub django_debug: bool,
    pub exposed_files: bool,
    pub server_version: bool,
    pub form_without_token: bool,
    pub xss_html: bool,
    pub xss_attr: bool,
    pub xss_script: bool,
    pub sql_error: bool,
    pub sql_boolean: bool,
    pub csrf_not_enforced: bool,
    pub csrf_null_origin: bool,
    pub csrf_token_only: bool,
    pub open_redirect: bool,
    pub session_after_logout: bool,
    pub no_rotation: bool,
    pub upload_inline: bool,
    pub upload_stored_safely: bool,
}

#[derive(Debug, Clone)]
struct Session {
    user: Option<String>,
    csrf: String,
}

#[derive(Debug)]
struct AppState {
    flaws: Flaws,
    scheme: &'static str,
    sessions: Mutex<HashMap<String, Session>>,
    comments: Mutex<Vec<String>>,
    uploads: Mutex<Vec<Upload>>,
}

type Shared = Arc<AppState>;

/// A stored upload: id, client file name, client content type, bytes.
type Upload = (String, String, String, Vec<u8>);

/// The app, served over `scheme` (`http` or `https`).
pub fn app(flaws: Flaws, scheme: &'static str) -> Router {
    let state = Arc::new(AppState {
        flaws,
        scheme,
        sessions: Mutex::new(HashMap::new()),
        comments: Mutex::new(Vec::new()),
        uploads: Mutex::new(Vec::new()),
    });
    let mut router = Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(login))
        .route("/account", get(account))
        .route("/search", get(search))
        .route("/items", get(items))
        .route("/comment", get(comments).post(add_comment))
        .route("/upload", get(upload_form).post(upload))
        .route("/files/{id}/{name}", get(download))
        .route("/logout", axum::routing::post(logout));
    if flaws.debugger {
        router = router.route("/crash", get(werkzeug_debugger));
    }
    if flaws.django_debug {
        router = router.route("/error", get(django_debug_page));
    }
    if flaws.exposed_files {
        router = router
            .route(
                "/.git/config",
                get(|| async { "[core]\n\trepositoryformatversion = 0\n\tbare = false\n" }),
            )
            .route(
                "/.env",
                get(|| async { "SECRET_KEY=top-secret!\nDATABASE_URL=sqlite:///app.db\n" }),
            )
            .route(
                "/backup.zip",
                get(|| async { b"PK\x03\x04\x14\x00\x00\x00backup".to_vec() }),
            )
            .route(
                "/.DS_Store",
                get(|| async { b"\x00\x00\x00\x01Bud1\x00\x00".to_vec() }),
            )
            .fallback(|| async { Html("<!doctype html><p>Welcome to every path</p>") });
    } else {
        router = router.fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                Html("<!doctype html><p>Not found</p>"),
            )
        });
    }
    router
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security_headers,
        ))
        .with_state(state)
}

/// Redirects plain HTTP to `https_origin` (or plants the redirect flaws).
pub fn http_redirect_app(https_origin: String, trust_host: bool, no_redirect: bool) -> Router {
    Router::new().fallback(move |headers: HeaderMap, request: Request| {
        let https_origin = https_origin.clone();
        async move {
            if no_redirect {
                return Html("<!doctype html><p>Plain HTTP welcome</p>").into_response();
            }
            let path = request
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned();
            let target = if trust_host {
                let host = headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("");
                format!("https://{host}{path}")
            } else {
                format!("{https_origin}{path}")
            };
            Redirect::permanent(&target).into_response()
        }
    })
}

async fn security_headers(
    State(state): State<Shared>,
    mut request: Request,
    next: Next,
) -> Response {
    let f = state.flaws;
    // HTTP/2 carries the host in :authority; the handlers read it from Host.
    if let Some(authority) = request.uri().authority().map(|a| a.to_string())
        && !request.headers().contains_key(header::HOST)
    {
        let host = HeaderValue::from_str(&authority).unwrap();
        request.headers_mut().insert(header::HOST, host);
    }
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if !h.contains_key(name) {
            h.insert(name, HeaderValue::from_str(value).unwrap());
        }
    };
    let hsts = if f.short_hsts {
        "max-age=86400; includeSubDomains"
    } else if f.preload_without_subdomains {
        "max-age=63072000; preload"
    } else {
        "max-age=63072000; includeSubDomains"
    };
    if !f.missing_hsts && state.scheme == "https" {
        set("strict-transport-security", hsts);
    }
    let csp_clean = format!(
        "default-src 'self'; script-src 'nonce-{NONCE}' 'strict-dynamic'; object-src 'none'; \
         base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    );
    let csp = if f.weak_csp {
        "default-src *; script-src 'self' 'unsafe-inline' 'unsafe-eval' https:".to_owned()
    } else if f.no_framing_protection || f.xfo_allow_from {
        csp_clean.replace(" frame-ancestors 'none';", "")
    } else {
        csp_clean
    };
    if !f.no_csp {
        set("content-security-policy", &csp);
    }
    if f.xfo_allow_from {
        set("x-frame-options", "ALLOW-FROM https://example.com");
    } else if !f.no_framing_protection {
        set("x-frame-options", "DENY");
    }
    if f.missing_misc_headers {
        set("referrer-policy", "unsafe-url");
    } else {
        set("x-content-type-options", "nosniff");
        set("referrer-policy", "strict-origin-when-cross-origin");
        set(
            "permissions-policy",
            "camera=(), microphone=(), geolocation=(), payment=()",
        );
        set("cross-origin-opener-policy", "same-origin");
        set("cross-origin-resource-policy", "same-origin");
    }
    set("cache-control", "no-store");
    set("vary", "Cookie");
    if f.server_version {
        set("server", "Werkzeug/3.0.1 Python/3.12.1");
        set("x-powered-by", "Flask");
    }
    if f.duplicate_hsts && state.scheme == "https" {
        h.append(
            "strict-transport-security",
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

// ---- sessions ---------------------------------------------------------------------------

fn random_token() -> String {
    let bytes: [u8; 24] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

fn session_cookie(sid: &str) -> String {
    format!("{COOKIE}={sid}; Path=/; Secure; HttpOnly; SameSite=Lax")
}

impl AppState {
    fn session(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let sid = session_id(headers)?;
        let session = self.sessions.lock().unwrap().get(&sid).cloned()?;
        Some((sid, session))
    }

    /// The session, created when absent; the second value is the Set-Cookie to send.
    fn ensure_session(&self, headers: &HeaderMap) -> (String, Session, Option<String>) {
        if let Some((sid, session)) = self.session(headers) {
            return (sid, session, None);
        }
        let sid = random_token();
        let session = Session {
            user: None,
            csrf: random_token(),
        };
        self.sessions
            .lock()
            .unwrap()
            .insert(sid.clone(), session.clone());
        let cookie = session_cookie(&sid);
        (sid, session, Some(cookie))
    }

    /// The CSRF decision, with the planted weaknesses.
    fn csrf_ok(&self, headers: &HeaderMap, token: Option<&str>) -> bool {
        let f = self.flaws;
        if f.csrf_not_enforced || f.form_without_token {
            return true;
        }
        let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
        if f.csrf_null_origin && origin == Some("null") {
            return true;
        }
        if !f.csrf_token_only {
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let own = format!("{}://{host}", self.scheme);
            if origin.is_some_and(|o| o != own) {
                return false;
            }
            let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
            if site == Some("cross-site") {
                return false;
            }
        }
        match (self.session(headers), token) {
            (Some((_, session)), Some(token)) => session.csrf == token,
            _ => false,
        }
    }
}

fn with_cookies(mut response: Response, cookies: impl IntoIterator<Item = String>) -> Response {
    for cookie in cookies {
        response
            .headers_mut()
            .append(header::SET_COOKIE, HeaderValue::from_str(&cookie).unwrap());
    }
    response
}

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        Html("<!doctype html><p>CSRF check failed</p>"),
    )
        .into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn js_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\u0022"),
            '\'' => out.push_str("\\u0027"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=utf-8><title>{title}</title></head><body>\
         <nav><a href=\"/\">Home</a></nav>{body}</body></html>"
    )
}

fn csrf_field(state: &AppState, session: &Session) -> String {
    if state.flaws.form_without_token {
        String::new()
    } else {
        format!(
            "<input type=\"hidden\" name=\"csrf_token\" value=\"{}\">",
            session.csrf
        )
    }
}

// ---- Flask cookie signed with the guide's key --------------------------------------------

/// A Flask session cookie signed with `secret`, computed as itsdangerous does.
pub fn flask_cookie(secret: &[u8], json: &str) -> String {
    type HmacSha1 = Hmac<sha1::Sha1>;
    let payload = URL_SAFE_NO_PAD.encode(json);
    let timestamp = URL_SAFE_NO_PAD.encode(1_767_225_600u32.to_be_bytes());
    let signed = format!("{payload}.{timestamp}");
    let mut derive = HmacSha1::new_from_slice(secret).unwrap();
    derive.update(b"cookie-session");
    let key = derive.finalize().into_bytes();
    let mut mac = HmacSha1::new_from_slice(&key).unwrap();
    mac.update(signed.as_bytes());
    format!(
        "{signed}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

// ---- handlers ----------------------------------------------------------------------------

async fn home(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let f = state.flaws;
    let mut body = String::from(
        "<h1>Shop</h1><ul><li><a href=\"/login\">Sign in</a></li>\
         <li><a href=\"/search?q=hello\">Search</a></li><li><a href=\"/items?id=1\">Item 1</a></li>\
         <li><a href=\"/comment\">Comments</a></li><li><a href=\"/account\">Account</a></li>\
         <li><a href=\"/upload\">Upload</a></li></ul>",
    );
    if f.debugger {
        body.push_str("<a href=\"/crash\">crash</a>");
    }
    if f.django_debug {
        body.push_str("<a href=\"/error\">error</a>");
    }
    if f.mixed_content {
        body.push_str(&format!(
            "<script nonce=\"{NONCE}\" src=\"http://cdn.example/lib.js\"></script>"
        ));
    }
    if let Some((_, session)) = state.session(&headers).filter(|(_, s)| s.user.is_some()) {
        body.push_str(&format!(
            "<form method=\"post\" action=\"/logout\">{}<button>Sign out</button></form>",
            csrf_field(&state, &session)
        ));
    }
    let mut response = Html(page("Home", &body)).into_response();
    let mut cookies = Vec::new();
    if f.cookie_flags {
        cookies.push(format!("session={}; Path=/", random_token()));
        cookies.push("__Host-theme=dark; Path=/".to_owned());
        cookies.push(format!(
            "remember_token={}; Domain=127.0.0.1; Max-Age=31536000; Path=/; Secure; HttpOnly; SameSite=Lax",
            random_token()
        ));
    }
    if f.cacheable_cookie {
        cookies.push("__Host-pref=compact; Path=/; Secure; HttpOnly; SameSite=Lax".to_owned());
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=600"),
        );
    }
    if f.flask_cookie {
        let value = flask_cookie(b"top-secret!", r#"{"cart":[1,2]}"#);
        cookies.push(format!(
            "__Host-session={value}; Path=/; Secure; HttpOnly; SameSite=Lax"
        ));
    }
    with_cookies(response, cookies)
}

#[derive(Debug, Deserialize, Default)]
struct NextQuery {
    next: Option<String>,
}

fn login_page(state: &AppState, session: &Session, next: &str, error: &str) -> String {
    page(
        "Sign in",
        &format!(
            "<h1>Sign in</h1><p>{}</p><form method=\"post\" action=\"/login\">{}\
             <input type=\"hidden\" name=\"next\" value=\"{}\">\
             <input type=\"email\" name=\"email\"><input type=\"password\" name=\"password\">\
             <button>Sign in</button></form>",
            escape(error),
            csrf_field(state, session),
            escape(next)
        ),
    )
}

async fn login_form(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let (_, session, cookie) = state.ensure_session(&headers);
    let body = login_page(&state, &session, q.next.as_deref().unwrap_or(""), "");
    with_cookies(Html(body).into_response(), cookie)
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    email: Option<String>,
    password: Option<String>,
    csrf_token: Option<String>,
    next: Option<String>,
}

fn safe_next(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.contains("%2f")
        && !next.contains("%2F")
}

async fn login(
    State(state): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !state.csrf_ok(&headers, form.csrf_token.as_deref()) {
        return forbidden();
    }
    let (sid, session, cookie) = state.ensure_session(&headers);
    let next = form.next.unwrap_or_default();
    if form.email.as_deref() != Some(USER) || form.password.as_deref() != Some(PASSWORD) {
        let body = login_page(&state, &session, &next, "Invalid email or password");
        return with_cookies(Html(body).into_response(), cookie);
    }
    let mut sessions = state.sessions.lock().unwrap();
    let new_sid = if state.flaws.no_rotation {
        sid
    } else {
        sessions.remove(&sid);
        random_token()
    };
    sessions.insert(
        new_sid.clone(),
        Session {
            user: Some(USER.to_owned()),
            csrf: random_token(),
        },
    );
    drop(sessions);
    let target = if state.flaws.open_redirect || safe_next(&next) && !next.is_empty() {
        next
    } else {
        "/account".to_owned()
    };
    let target = if target.is_empty() {
        "/account".to_owned()
    } else {
        target
    };
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, target)]).into_response();
    if !state.flaws.no_rotation {
        response = with_cookies(response, [session_cookie(&new_sid)]);
    }
    response
}

async fn account(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let Some((_, session)) = state.session(&headers).filter(|(_, s)| s.user.is_some()) else {
        return Redirect::to("/login?next=/account").into_response();
    };
    let body = format!(
        "<h1>Account</h1><p>Signed in as {}</p><form method=\"post\" action=\"/logout\">{}<button>Sign out</button></form>",
        escape(session.user.as_deref().unwrap_or("")),
        csrf_field(&state, &session)
    );
    let mut response = Html(page("Account", &body)).into_response();
    if state.flaws.personal_cacheable {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=600"),
        );
    }
    response
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

async fn search(State(state): State<Shared>, Query(query): Query<SearchQuery>) -> Html<String> {
    let f = state.flaws;
    let q = query.q.unwrap_or_default();
    let text = if f.xss_html { q.clone() } else { escape(&q) };
    let attr = if f.xss_attr { q.clone() } else { escape(&q) };
    let script = if f.xss_script {
        format!("'{q}'")
    } else {
        js_string(&q)
    };
    Html(page(
        "Search",
        &format!(
            "<form action=\"/search\"><input name=\"q\" value=\"{attr}\"><button>Go</button></form>\
             <p>Results for {text}</p><script nonce=\"{NONCE}\">var q = {script};</script>"
        ),
    ))
}

#[derive(Debug, Deserialize)]
struct ItemQuery {
    id: Option<String>,
}

async fn items(State(state): State<Shared>, Query(query): Query<ItemQuery>) -> Response {
    let f = state.flaws;
    let id = query.id.unwrap_or_default();
    let catalogue = [("1", "Widget"), ("2", "Gadget")];
    if f.sql_error && (id.contains('\'') || id.contains('"')) {
        let body = format!(
            "<pre>sqlite3.OperationalError: unrecognized token: \"{}\"</pre>",
            escape(&id)
        );
        return (StatusCode::INTERNAL_SERVER_ERROR, Html(body)).into_response();
    }
    let mut found = catalogue.iter().find(|(k, _)| *k == id).map(|(_, v)| *v);
    if f.sql_boolean {
        // Emulates `SELECT name FROM items WHERE id = {id}` built with string formatting.
        let parts: Vec<&str> = id.split(" AND ").collect();
        if let [key, condition] = parts[..]
            && let Some((a, b)) = condition.split_once('=')
        {
            let row = catalogue.iter().find(|(k, _)| *k == key);
            found = row.filter(|_| a == b).map(|(_, v)| *v);
        }
    }
    match found {
        Some(name) => {
            Html(page("Item", &format!("<h1>{name}</h1><p>In stock.</p>"))).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Html(page("Item", "<p>No such item</p>")),
        )
            .into_response(),
    }
}

async fn comments(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let (_, session, cookie) = state.ensure_session(&headers);
    let list: String = state
        .comments
        .lock()
        .unwrap()
        .iter()
        .map(|c| format!("<li>{}</li>", escape(c)))
        .collect();
    let body = format!(
        "<h1>Comments</h1><ul>{list}</ul><form method=\"post\" action=\"/comment\">{}\
         <textarea name=\"body\"></textarea><button>Post</button></form>",
        csrf_field(&state, &session)
    );
    with_cookies(Html(page("Comments", &body)).into_response(), cookie)
}

#[derive(Debug, Deserialize)]
struct CommentForm {
    body: Option<String>,
    csrf_token: Option<String>,
}

async fn add_comment(
    State(state): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<CommentForm>,
) -> Response {
    if !state.csrf_ok(&headers, form.csrf_token.as_deref()) {
        return forbidden();
    }
    state
        .comments
        .lock()
        .unwrap()
        .push(form.body.unwrap_or_default());
    Redirect::to("/comment").into_response()
}

async fn upload_form(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let (_, session, cookie) = state.ensure_session(&headers);
    let list: String = state
        .uploads
        .lock()
        .unwrap()
        .iter()
        .map(|(id, name, _, _)| {
            format!(
                "<li><a href=\"/files/{id}/{}\">{}</a></li>",
                escape(name),
                escape(name)
            )
        })
        .collect();
    let body = format!(
        "<h1>Upload</h1><ul>{list}</ul><form method=\"post\" action=\"/upload\" enctype=\"multipart/form-data\">{}\
         <input type=\"file\" name=\"file\"><button>Upload</button></form>",
        csrf_field(&state, &session)
    );
    with_cookies(Html(page("Upload", &body)).into_response(), cookie)
}

async fn upload(
    State(state): State<Shared>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Response {
    let mut token = None;
    let mut file = None;
    while let Ok(Some(field)) = multipart.next_field().await {
        match field.name() {
            Some("csrf_token") => token = field.text().await.ok(),
            Some("file") => {
                let name = field.file_name().unwrap_or("upload").to_owned();
                let content_type = field
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_owned();
                let bytes = field.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                file = Some((name, content_type, bytes));
            }
            _ => {}
        }
    }
    if !state.csrf_ok(&headers, token.as_deref()) {
        return forbidden();
    }
    let Some((name, content_type, bytes)) = file else {
        return (StatusCode::BAD_REQUEST, Html("<p>No file</p>")).into_response();
    };
    let f = state.flaws;
    let accepts_anything = f.upload_inline || f.upload_stored_safely;
    if !accepts_anything && !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return (
            StatusCode::BAD_REQUEST,
            Html("<p>Only PNG images are allowed</p>"),
        )
            .into_response();
    }
    let id = random_token();
    state
        .uploads
        .lock()
        .unwrap()
        .push((id, name, content_type, bytes));
    Redirect::to("/upload").into_response()
}

async fn download(
    State(state): State<Shared>,
    Path((id, _name)): Path<(String, String)>,
) -> Response {
    let uploads = state.uploads.lock().unwrap();
    let Some((_, _, content_type, bytes)) = uploads.iter().find(|(i, ..)| *i == id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if state.flaws.upload_inline {
        return (
            [(header::CONTENT_TYPE, content_type.clone())],
            bytes.clone(),
        )
            .into_response();
    }
    let served_type = if state.flaws.upload_stored_safely {
        "application/octet-stream"
    } else {
        "image/png"
    };
    (
        [
            (header::CONTENT_TYPE, served_type.to_owned()),
            (header::CONTENT_DISPOSITION, "attachment".to_owned()),
            (
                header::CONTENT_SECURITY_POLICY,
                "sandbox; default-src 'none'".to_owned(),
            ),
        ],
        bytes.clone(),
    )
        .into_response()
}

async fn logout(
    State(state): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<CommentForm>,
) -> Response {
    if !state.csrf_ok(&headers, form.csrf_token.as_deref()) {
        return forbidden();
    }
    if !state.flaws.session_after_logout
        && let Some(sid) = session_id(&headers)
    {
        state.sessions.lock().unwrap().remove(&sid);
    }
    let clear = format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0");
    with_cookies(Redirect::to("/").into_response(), [clear])
}

async fn werkzeug_debugger() -> Response {
    let body = "<!doctype html><title>ZeroDivisionError // Werkzeug Debugger</title>\
        <script src=\"?__debugger__=yes&amp;cmd=resource&amp;f=debugger.js\"></script>\
        <h1>ZeroDivisionError</h1><div class=traceback><h3>Traceback (most recent call last):</h3>\
        <pre>File \"app.py\", line 12, in crash</pre></div>\
        <p>The debugger caught an exception in your WSGI application.</p>";
    (StatusCode::INTERNAL_SERVER_ERROR, Html(body)).into_response()
}

async fn django_debug_page() -> Response {
    let body = "<!doctype html><h1>ValueError at /error</h1><p>You're seeing this error because you have \
        <code>DEBUG = True</code> in your Django settings file.</p>";
    (StatusCode::INTERNAL_SERVER_ERROR, Html(body)).into_response()
}
