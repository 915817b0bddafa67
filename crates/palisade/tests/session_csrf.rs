//! Sessions and CSRF protection end to end: a real server on 127.0.0.1:0 with the full layer
//! stack (client address, security headers, sessions, CSRF), driven over HTTP by reqwest.
//!
//! Over plain HTTP the `Secure` session cookie would not be sent by a browser, so these tests
//! carry it by hand in a `Cookie` header; one test at the end runs over HTTPS with reqwest's
//! own cookie store, as a browser would.

use rustls::pki_types::pem::PemObject as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{Multipart, Path};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use http::{HeaderMap, Method, StatusCode};
use palisade::csrf::{CsrfConfig, CsrfLayer, CsrfRejection, FormContext, PageContext};
use palisade::headers::{SecureHeadersConfig, SecureHeadersLayer};
use palisade::proxy::{ClientIpLayer, TrustedProxies};
use palisade::secret::{KeyRing, Purpose};
use palisade::session::{
    MemorySessionStore, Session, SessionConfig, SessionKey, SessionLayer, SessionManager,
    SessionStore,
};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const ORIGIN: &str = "https://localhost:8443";

struct Site {
    base: String,
    http: reqwest::Client,
    store: Arc<MemorySessionStore>,
    actions: Arc<AtomicUsize>,
}

fn app(store: Arc<MemorySessionStore>, keys: &KeyRing, actions: Arc<AtomicUsize>) -> Router {
    let csrf = CsrfConfig::new(ORIGIN)
        .unwrap()
        .trust_origin("https://admin.localhost:8443")
        .unwrap()
        .exempt(
            Method::POST,
            "/webhook",
            "authenticated by its own HMAC signature",
        )
        .form_limit(64 * 1024);
    let hook = Arc::new(
        |r: CsrfRejection| -> futures_util::future::BoxFuture<'static, Response> {
            Box::pin(async move {
                let cx = r.render_context();
                let kept: Vec<String> = r.fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let body = json!({
                    "reason": r.reason.as_str(),
                    "kept": kept,
                    "fresh_token": cx.csrf_token,
                    "nonce": !cx.nonce.is_empty(),
                });
                // The hook's own status is overridden with 403.
                (StatusCode::OK, body.to_string()).into_response()
            })
        },
    );
    let action = {
        let actions = actions.clone();
        move || {
            let actions = actions.clone();
            async move {
                actions.fetch_add(1, Ordering::SeqCst);
                "done"
            }
        }
    };

    Router::new()
        .route(
            "/form",
            get(|cx: FormContext| async move { cx.csrf_token().to_owned() }),
        )
        .route(
            "/page",
            get(|cx: PageContext| async move {
                cx.render_context()
                    .csrf_token
                    .unwrap_or_else(|| "none".to_owned())
            }),
        )
        .route(
            "/whoami",
            get(|s: Session| async move {
                format!("user={:?} expired={}", s.user_id(), s.is_expired_arrival())
            }),
        )
        .route(
            "/login",
            post(
                |s: Session, Form(f): Form<Vec<(String, String)>>| async move {
                    let uid = f
                        .iter()
                        .find(|(k, _)| k == "user_id")
                        .unwrap()
                        .1
                        .parse()
                        .unwrap();
                    s.sign_in(uid).await.unwrap();
                    "signed in"
                },
            ),
        )
        .route(
            "/logout",
            post(|s: Session| async move { s.sign_out().await.unwrap() }),
        )
        .route(
            "/action",
            post(action.clone())
                .put(action.clone())
                .patch(action.clone())
                .delete(action),
        )
        .route(
            "/echo",
            post(|Form(f): Form<Vec<(String, String)>>| async move { Json(f) }),
        )
        .route("/upload", post(upload))
        .route("/json", post(|Json(v): Json<Value>| async move { Json(v) }))
        .route("/text", post(|body: String| async move { body }))
        .route("/webhook", post(|| async { "hook ran" }))
        .route("/account/sessions", get(list_sessions))
        .route(
            "/account/sessions/{public_id}/revoke",
            post(
                |s: Session, m: SessionManager, Path(id): Path<String>| async move {
                    m.revoke(s.user_id().unwrap(), &id)
                        .await
                        .unwrap()
                        .to_string()
                },
            ),
        )
        .route(
            "/account/sessions/revoke-others",
            post(|s: Session, m: SessionManager| async move {
                m.revoke_others(s.user_id().unwrap(), &s.key().unwrap())
                    .await
                    .unwrap()
                    .to_string()
            }),
        )
        .route(
            "/account/sessions/revoke-all",
            post(|s: Session, m: SessionManager| async move {
                let n = m.revoke_all(s.user_id().unwrap()).await.unwrap();
                n.to_string()
            }),
        )
        .layer(CsrfLayer::new(keys.signer(Purpose::Csrf), csrf).on_rejection(hook))
        .layer(SessionLayer::new(
            store,
            keys.signer(Purpose::Session),
            SessionConfig::default(),
        ))
        .layer(SecureHeadersLayer::new(
            SecureHeadersConfig::default().without_hsts(),
        ))
        .layer(ClientIpLayer::new(TrustedProxies::none()))
}

async fn upload(mut multipart: Multipart) -> String {
    let mut parts = Vec::new();
    while let Some(field) = multipart.next_field().await.unwrap() {
        let name = field.name().unwrap_or("").to_owned();
        let bytes = field.bytes().await.unwrap();
        let digest = hex::encode(&Sha256::digest(&bytes)[..4]);
        parts.push(format!("{name}:{}:{digest}", bytes.len()));
    }
    parts.join(",")
}

async fn list_sessions(s: Session, m: SessionManager) -> Json<Value> {
    let list = m
        .list(s.user_id().unwrap(), s.key().as_ref())
        .await
        .unwrap();
    Json(serde_json::to_value(list).unwrap())
}

async fn site() -> Site {
    palisade::https::install_crypto_provider();
    let store = Arc::new(MemorySessionStore::new());
    let actions = Arc::new(AtomicUsize::new(0));
    let app = app(store.clone(), &KeyRing::generate(), actions.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    Site {
        base: format!("http://{addr}"),
        http,
        store,
        actions,
    }
}

/// One response, read whole.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    /// The session cookie the response sets, as `name=value`; `None` when it sets none or
    /// deletes it.
    fn cookie(&self) -> Option<String> {
        let set = self.headers.get("set-cookie")?.to_str().unwrap();
        let pair = set.split(';').next().unwrap();
        (!pair.ends_with('=')).then(|| pair.to_owned())
    }

    fn deletes_cookie(&self) -> bool {
        self.headers
            .get("set-cookie")
            .is_some_and(|v| v.to_str().unwrap().contains("Max-Age=0"))
    }
}

/// How a test request is built.
#[derive(Default)]
struct Req<'a> {
    cookie: Option<&'a str>,
    headers: Vec<(&'a str, String)>,
    body: Option<(&'a str, Vec<u8>)>,
}

impl Site {
    async fn send(&self, method: Method, path: &str, req: Req<'_>) -> Reply {
        let mut builder = self.http.request(method, format!("{}{path}", self.base));
        if let Some(cookie) = req.cookie {
            builder = builder.header("cookie", cookie);
        }
        for (name, value) in req.headers {
            builder = builder.header(name, value);
        }
        if let Some((content_type, body)) = req.body {
            builder = builder.header("content-type", content_type).body(body);
        }
        let r = builder.send().await.unwrap();
        Reply {
            status: r.status(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        self.send(
            Method::GET,
            path,
            Req {
                cookie,
                ..Req::default()
            },
        )
        .await
    }

    /// A same-origin browser-like POST with a token in the form body.
    async fn post_form(&self, path: &str, cookie: Option<&str>, fields: &[(&str, &str)]) -> Reply {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let req = Req {
            cookie,
            headers: vec![
                ("sec-fetch-site", "same-origin".into()),
                ("origin", ORIGIN.into()),
            ],
            body: Some(("application/x-www-form-urlencoded", body.into_bytes())),
        };
        self.send(Method::POST, path, req).await
    }

    /// A new anonymous session with a token: its cookie and the token.
    async fn visitor(&self) -> (String, String) {
        let r = self.get("/form", None).await;
        assert_eq!(r.status, StatusCode::OK);
        (r.cookie().unwrap(), r.body)
    }

    /// A signed-in session for `uid`, through the login form: its cookie and a token.
    async fn member(&self, uid: i64) -> (String, String) {
        let (cookie, token) = self.visitor().await;
        let uid = uid.to_string();
        let r = self
            .post_form(
                "/login",
                Some(&cookie),
                &[("csrf_token", &token), ("user_id", &uid)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let cookie = r.cookie().unwrap();
        let token = self.get("/form", Some(&cookie)).await.body;
        (cookie, token)
    }

    /// Ages the session behind `cookie` past both timeouts, as if it had been left overnight.
    async fn age(&self, cookie: &str) {
        let id = cookie.split_once('=').unwrap().1.split_once('.').unwrap().0;
        let key = SessionKey::parse(&hex::encode(Sha256::digest(id.as_bytes()))).unwrap();
        let mut record = self.store.load(&key).await.unwrap().unwrap();
        let past = record.created_at - Duration::from_secs(13 * 3600);
        record.created_at = past;
        record.last_seen = past;
        self.store.save(&record).await.unwrap();
    }
}

#[derive(Clone, Copy, Debug)]
enum Token {
    None,
    Wrong,
    OtherSessions,
    ExpiredSessions,
    Valid,
}

#[derive(Clone, Copy, Debug)]
enum Signal {
    SameOriginFetch,
    CrossSiteFetch,
    ForeignOrigin,
    NullOrigin,
    SameOriginReferer,
    ForeignReferer,
    Nothing,
}

impl Signal {
    fn headers(self) -> Vec<(&'static str, String)> {
        let h = |n, v: &str| vec![(n, v.to_owned())];
        match self {
            Self::SameOriginFetch => h("sec-fetch-site", "same-origin"),
            Self::CrossSiteFetch => {
                vec![
                    ("sec-fetch-site", "cross-site".into()),
                    ("origin", "https://evil.example".into()),
                ]
            }
            Self::ForeignOrigin => h("origin", "https://evil.example"),
            Self::NullOrigin => h("origin", "null"),
            Self::SameOriginReferer => h("referer", &format!("{ORIGIN}/form")),
            Self::ForeignReferer => h("referer", "https://evil.example/attack.html"),
            Self::Nothing => Vec::new(),
        }
    }

    fn passes(self) -> bool {
        matches!(
            self,
            Self::SameOriginFetch | Self::SameOriginReferer | Self::Nothing
        )
    }
}

#[tokio::test]
async fn every_unsafe_method_needs_a_same_origin_signal_and_the_sessions_own_token() {
    let site = site().await;
    let (cookie, token) = site.member(1).await;
    let (_, other_token) = site.member(2).await;
    let before = site.actions.load(Ordering::SeqCst);
    let mut allowed = 0;

    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        for kind in [
            Token::None,
            Token::Wrong,
            Token::OtherSessions,
            Token::ExpiredSessions,
            Token::Valid,
        ] {
            for signal in [
                Signal::SameOriginFetch,
                Signal::CrossSiteFetch,
                Signal::ForeignOrigin,
                Signal::NullOrigin,
                Signal::SameOriginReferer,
                Signal::ForeignReferer,
                Signal::Nothing,
            ] {
                let (cell_cookie, cell_token) = match kind {
                    Token::None => (cookie.clone(), None),
                    Token::Wrong => (cookie.clone(), Some("A".repeat(86))),
                    Token::OtherSessions => (cookie.clone(), Some(other_token.clone())),
                    Token::ExpiredSessions => {
                        let (c, t) = site.member(3).await;
                        site.age(&c).await;
                        (c, Some(t))
                    }
                    Token::Valid => (cookie.clone(), Some(token.clone())),
                };
                let mut headers = signal.headers();
                if let Some(t) = cell_token {
                    headers.push(("x-csrf-token", t));
                }
                let req = Req {
                    cookie: Some(&cell_cookie),
                    headers,
                    body: None,
                };
                let r = site.send(method.clone(), "/action", req).await;
                let expected = if signal.passes() && matches!(kind, Token::Valid) {
                    StatusCode::OK
                } else {
                    StatusCode::FORBIDDEN
                };
                assert_eq!(
                    r.status, expected,
                    "{method} token={kind:?} signal={signal:?}: {}",
                    r.body
                );
                if expected == StatusCode::OK {
                    allowed += 1;
                }
            }
        }
    }
    assert_eq!(allowed, 4 * 3);
    // The handler ran exactly for the allowed cells.
    assert_eq!(site.actions.load(Ordering::SeqCst) - before, allowed);
}

#[tokio::test]
async fn json_clients_get_a_json_refusal_with_the_reason() {
    let site = site().await;
    let (cookie, _) = site.member(1).await;
    let req = Req {
        cookie: Some(&cookie),
        headers: vec![
            ("accept", "application/json".into()),
            ("origin", "null".into()),
        ],
        body: None,
    };
    let r = site.send(Method::DELETE, "/action", req).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).unwrap(),
        json!({"error": "csrf", "reason": "null-origin"})
    );
    // Refusals carry the security headers too.
    assert!(r.headers.contains_key("content-security-policy"));
}

#[tokio::test]
async fn the_token_is_accepted_in_a_form_field_and_the_handler_gets_the_same_body() {
    let site = site().await;
    let (cookie, token) = site.member(1).await;
    let fields = [
        ("title", "a & b"),
        ("csrf_token", token.as_str()),
        ("note", "ünïcode"),
    ];
    let r = site.post_form("/echo", Some(&cookie), &fields).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let echoed: Vec<(String, String)> = serde_json::from_str(&r.body).unwrap();
    let sent: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(echoed, sent);
}

fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, content) in parts {
        body.extend_from_slice(b"--BOUNDARY42\r\n");
        let disposition = match filename {
            Some(f) => format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            ),
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"),
        };
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--BOUNDARY42--\r\n");
    body
}

#[tokio::test]
async fn the_token_is_accepted_as_the_first_multipart_part_and_the_upload_arrives_intact() {
    let site = site().await;
    let (cookie, token) = site.member(1).await;
    let file: Vec<u8> = (0..600_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let body = multipart(&[
        ("csrf_token", None, token.as_bytes()),
        ("title", None, b"x"),
        ("file", Some("a.bin"), &file),
    ]);
    let req = Req {
        cookie: Some(&cookie),
        headers: vec![("sec-fetch-site", "same-origin".into())],
        body: Some(("multipart/form-data; boundary=BOUNDARY42", body)),
    };
    let r = site.send(Method::POST, "/upload", req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let digest = hex::encode(&Sha256::digest(&file)[..4]);
    assert_eq!(
        r.body,
        format!(
            "csrf_token:86:{},title:1:2d711642,file:600000:{digest}",
            hex::encode(&Sha256::digest(token.as_bytes())[..4])
        )
    );
}

#[tokio::test]
async fn a_multipart_token_that_is_not_the_first_part_is_refused() {
    let site = site().await;
    let (cookie, token) = site.member(1).await;
    let body = multipart(&[
        ("title", None, b"x"),
        ("csrf_token", None, token.as_bytes()),
    ]);
    let req = Req {
        cookie: Some(&cookie),
        headers: vec![
            ("sec-fetch-site", "same-origin".into()),
            ("accept", "application/json".into()),
        ],
        body: Some(("multipart/form-data; boundary=BOUNDARY42", body)),
    };
    let r = site.send(Method::POST, "/upload", req).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("multipart-token-not-first"), "{}", r.body);
}

#[tokio::test]
async fn no_request_shape_skips_the_token() {
    let site = site().await;
    let (cookie, token) = site.member(1).await;
    let same_origin = || vec![("sec-fetch-site", "same-origin".to_owned())];
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, Option<(&'a str, Vec<u8>)>);
    let cases: Vec<Case<'_>> = vec![
        (
            "/action",
            [
                same_origin(),
                vec![("x-requested-with", "XMLHttpRequest".into())],
            ]
            .concat(),
            None,
        ),
        (
            "/json",
            same_origin(),
            Some(("application/json", br#"{"csrf_token":"x"}"#.to_vec())),
        ),
        (
            "/text",
            same_origin(),
            Some(("text/plain", format!("csrf_token={token}").into_bytes())),
        ),
        (
            "/action",
            same_origin(),
            Some(("application/x-www-form-urlencoded", b"_method=GET".to_vec())),
        ),
        (
            "/action",
            same_origin(),
            Some(("application/octet-stream", token.clone().into_bytes())),
        ),
    ];
    for (path, headers, body) in cases {
        let r = site
            .send(
                Method::POST,
                path,
                Req {
                    cookie: Some(&cookie),
                    headers,
                    body,
                },
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
    }
    // With the header, JSON and text bodies are fine.
    for (path, ct, body) in [
        ("/json", "application/json", r#"{"a":1}"#),
        ("/text", "text/plain", "hi"),
    ] {
        let headers = [same_origin(), vec![("x-csrf-token", token.clone())]].concat();
        let req = Req {
            cookie: Some(&cookie),
            headers,
            body: Some((ct, body.as_bytes().to_vec())),
        };
        let r = site.send(Method::POST, path, req).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        assert_eq!(r.body, body);
    }
}

#[tokio::test]
async fn an_exempt_route_passes_without_token_or_origin_and_others_do_not() {
    let site = site().await;
    let cross = || Req {
        headers: Signal::CrossSiteFetch.headers(),
        ..Req::default()
    };
    let r = site.send(Method::POST, "/webhook", cross()).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "hook ran"));
    // Only the listed method and exact path.
    assert_eq!(
        site.send(Method::PUT, "/webhook", cross()).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        site.send(Method::POST, "/webhook/", cross()).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn the_login_form_is_protected_and_sign_in_rotates_cookie_and_token() {
    let site = site().await;
    // No session, no token: refused, and the hook gets the form back without the password.
    let r = site
        .post_form("/login", None, &[("user_id", "5"), ("password", "hunter2")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let hook: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(hook["reason"], "no-session");
    assert_eq!(hook["kept"], json!(["user_id=5"]));
    assert!(!r.body.contains("hunter2"));

    let (anon_cookie, anon_token) = site.visitor().await;
    let r = site
        .post_form(
            "/login",
            Some(&anon_cookie),
            &[("csrf_token", &anon_token), ("user_id", "5")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let cookie = r.cookie().unwrap();
    assert_ne!(cookie, anon_cookie);
    assert_eq!(
        site.get("/whoami", Some(&cookie)).await.body,
        "user=Some(5) expired=false"
    );

    // The pre-login cookie is dead, and the pre-login token does not fit the new session.
    assert_eq!(
        site.get("/whoami", Some(&anon_cookie)).await.body,
        "user=None expired=false"
    );
    let r = site
        .post_form("/action", Some(&cookie), &[("csrf_token", &anon_token)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = site
        .post_form(
            "/action",
            Some(&anon_cookie),
            &[("csrf_token", &anon_token)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let fresh = site.get("/form", Some(&cookie)).await.body;
    assert_eq!(
        site.post_form("/action", Some(&cookie), &[("csrf_token", &fresh)])
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn after_sign_out_a_kept_cookie_and_token_are_worthless() {
    let site = site().await;
    let (cookie, token) = site.member(4).await;
    let r = site
        .post_form("/logout", Some(&cookie), &[("csrf_token", &token)])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.deletes_cookie());
    assert_eq!(r.headers["clear-site-data"], r#""cookies", "storage""#);
    assert_eq!(r.headers["cache-control"], "no-store");

    // The client kept the cookie anyway.
    assert_eq!(
        site.get("/whoami", Some(&cookie)).await.body,
        "user=None expired=false"
    );
    let r = site
        .post_form("/action", Some(&cookie), &[("csrf_token", &token)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // (The re-shown form started a fresh anonymous session; nothing of user 4 is left.)
    assert!(site.store.list_for_user(4).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_expired_session_gets_its_form_back_with_input_and_a_working_token() {
    let site = site().await;
    let (cookie, token) = site.member(6).await;
    site.age(&cookie).await;
    let r = site
        .post_form(
            "/echo",
            Some(&cookie),
            &[
                ("csrf_token", &token),
                ("title", "long essay"),
                ("totp_code", "123456"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let hook: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(hook["reason"], "session-expired");
    assert_eq!(hook["kept"], json!(["title=long essay"]));
    assert_eq!(hook["nonce"], true);
    // A fresh anonymous session came with the page, and its token works.
    let new_cookie = r.cookie().expect("a new session for the re-shown form");
    let fresh = hook["fresh_token"].as_str().unwrap();
    let r = site
        .post_form(
            "/echo",
            Some(&new_cookie),
            &[("csrf_token", fresh), ("title", "long essay")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The expired arrival is visible to handlers, for a "your session expired" message.
    let (c2, _) = site.member(6).await;
    site.age(&c2).await;
    assert_eq!(
        site.get("/whoami", Some(&c2)).await.body,
        "user=None expired=true"
    );
}

#[tokio::test]
async fn an_oversized_form_is_refused_with_413_before_the_handler() {
    let site = site().await;
    let (cookie, token) = site.member(1).await;
    let big = "x".repeat(70 * 1024);
    let r = site
        .post_form(
            "/echo",
            Some(&cookie),
            &[("csrf_token", &token), ("big", &big)],
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn anonymous_pages_stay_anonymous_and_uncached_pages_stay_cacheable() {
    let site = site().await;
    let r = site.get("/page", None).await;
    assert_eq!(r.body, "none");
    assert!(r.headers.get("set-cookie").is_none());
    assert!(r.headers.get("cache-control").is_none());
    assert!(site.store.is_empty());
    // With a session, the page gets a token and is personal.
    let (cookie, _) = site.visitor().await;
    let r = site.get("/page", Some(&cookie)).await;
    assert_eq!(r.body.len(), 86);
    assert_eq!(r.headers["cache-control"], "no-store");
    assert_eq!(r.headers["vary"], "Cookie");
}

#[tokio::test]
async fn the_sessions_page_lists_and_revokes_through_the_user_index() {
    let site = site().await;
    let (laptop, laptop_token) = site.member(1).await;
    let (phone, _) = site.member(1).await;
    let (tablet, _) = site.member(1).await;
    let (other_user, _) = site.member(2).await;

    let list: Vec<Value> =
        serde_json::from_str(&site.get("/account/sessions", Some(&laptop)).await.body).unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(
        list.iter()
            .all(|s| s["ip"] == "127.0.0.1" && s["public_id"].as_str().unwrap().len() == 16)
    );

    let other_list: Vec<Value> =
        serde_json::from_str(&site.get("/account/sessions", Some(&other_user)).await.body).unwrap();
    let other_public = other_list[0]["public_id"].as_str().unwrap().to_owned();
    let phone_public =
        serde_json::from_str::<Vec<Value>>(&site.get("/account/sessions", Some(&phone)).await.body)
            .unwrap()
            .into_iter()
            .find(|s| s["current"] == true)
            .unwrap()["public_id"]
            .as_str()
            .unwrap()
            .to_owned();

    let revoke = |id: String| {
        let (site, laptop, token) = (&site, laptop.clone(), laptop_token.clone());
        async move {
            site.post_form(
                &format!("/account/sessions/{id}/revoke"),
                Some(&laptop),
                &[("csrf_token", &token)],
            )
            .await
            .body
        }
    };
    assert_eq!(
        revoke(other_public).await,
        "false",
        "another user's session is out of reach"
    );
    assert_eq!(
        site.get("/whoami", Some(&other_user)).await.body,
        "user=Some(2) expired=false"
    );
    assert_eq!(revoke(phone_public).await, "true");
    assert_eq!(
        site.get("/whoami", Some(&phone)).await.body,
        "user=None expired=false"
    );

    let r = site
        .post_form(
            "/account/sessions/revoke-others",
            Some(&laptop),
            &[("csrf_token", &laptop_token)],
        )
        .await;
    assert_eq!(r.body, "1");
    assert_eq!(
        site.get("/whoami", Some(&tablet)).await.body,
        "user=None expired=false"
    );
    assert_eq!(
        site.get("/whoami", Some(&laptop)).await.body,
        "user=Some(1) expired=false"
    );

    let r = site
        .post_form(
            "/account/sessions/revoke-all",
            Some(&laptop),
            &[("csrf_token", &laptop_token)],
        )
        .await;
    assert_eq!(r.body, "1");
    assert_eq!(
        site.get("/whoami", Some(&laptop)).await.body,
        "user=None expired=false"
    );
    assert_eq!(
        site.get("/whoami", Some(&other_user)).await.body,
        "user=Some(2) expired=false"
    );
}

#[tokio::test]
async fn over_https_a_browser_like_client_keeps_the_secure_cookie_and_logs_in_and_out() {
    palisade::https::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let cert = palisade::https::dev_certificate(dir.path()).unwrap();
    let server_config = palisade::https::server_config(&cert.cert_path, &cert.key_path).unwrap();

    let store = Arc::new(MemorySessionStore::new());
    let app = app(
        store.clone(),
        &KeyRing::generate(),
        Arc::new(AtomicUsize::new(0)),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let tls = axum_server::tls_rustls::RustlsConfig::from_config(server_config);
    let server = axum_server::from_tcp_rustls(listener, tls).unwrap();
    tokio::spawn(async move {
        server
            .serve(app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .unwrap();
    });

    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(&cert.cert_path).unwrap();
    for der in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(der.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let browser = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .cookie_store(true)
        .no_proxy()
        .build()
        .unwrap();
    let base = format!("https://localhost:{port}");
    let origin = ("origin", "https://localhost:8443");

    let token = browser
        .get(format!("{base}/form"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = browser
        .post(format!("{base}/login"))
        .header(origin.0, origin.1)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf_token={token}&user_id=12"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let who = browser
        .get(format!("{base}/whoami"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(who, "user=Some(12) expired=false");

    let token = browser
        .get(format!("{base}/form"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = browser
        .post(format!("{base}/logout"))
        .header(origin.0, origin.1)
        .header("x-csrf-token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The client honoured the deletion cookie: it is anonymous again and sends nothing.
    let who = browser
        .get(format!("{base}/whoami"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(who, "user=None expired=false");
    assert!(store.is_empty());
}
