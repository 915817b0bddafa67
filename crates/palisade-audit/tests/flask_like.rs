//! An app shaped like a tutorial Flask app: a `username` sign-in form without CSRF token,
//! Flask's client-side session signed with the guide's key, a GET sign-out that only deletes the
//! cookie, the Werkzeug development server's header.

mod common;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

fn signed_in(headers: &HeaderMap) -> bool {
    let expected = format!("session={}", session_value());
    headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.split("; ").any(|pair| pair == expected))
}

fn session_value() -> String {
    common::app::flask_cookie(b"top-secret!", r#"{"_user_id":"1","username":"alice"}"#)
}

fn werkzeug(
    status: StatusCode,
    headers: &[(header::HeaderName, String)],
    body: String,
) -> Response {
    let mut response = (status, Html(body)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::SERVER,
        "Werkzeug/3.0.1 Python/3.12.1".parse().unwrap(),
    );
    for (name, value) in headers {
        h.append(name.clone(), value.parse().unwrap());
    }
    response
}

fn flask_app() -> Router {
    Router::new()
        .route(
            "/",
            get(|headers: HeaderMap| async move {
                if !signed_in(&headers) {
                    return werkzeug(StatusCode::FOUND, &[(header::LOCATION, "/login?next=%2F".into())], String::new());
                }
                let body = "<h1>Hello alice</h1><a href=\"/logout\">Log out</a>".to_owned();
                werkzeug(StatusCode::OK, &[], body)
            }),
        )
        .route(
            "/login",
            get(|| async {
                let form = "<form method=\"post\"><input name=\"username\"><input type=\"password\" name=\"password\"><input type=\"submit\" value=\"Log in\"></form>";
                werkzeug(StatusCode::OK, &[], form.to_owned())
            })
            .post(|body: String| async move {
                if !body.contains("username=alice") || !body.contains("password=correct") {
                    return werkzeug(StatusCode::OK, &[], "<p>Bad login</p><form method=post><input name=username><input type=password name=password></form>".into());
                }
                let cookie = format!("session={}; HttpOnly; Path=/", session_value());
                werkzeug(StatusCode::FOUND, &[(header::LOCATION, "/".into()), (header::SET_COOKIE, cookie)], String::new())
            }),
        )
        .route(
            "/logout",
            get(|| async {
                let clear = "session=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; Path=/".to_owned();
                werkzeug(StatusCode::FOUND, &[(header::LOCATION, "/login".into()), (header::SET_COOKIE, clear)], String::new())
            }),
        )
}

#[tokio::test]
async fn a_tutorial_flask_app_fails_on_key_session_csrf_and_headers() {
    let url = common::serve_http(flask_app()).await;
    let fixture = common::Fixture {
        url,
        http_url: None,
    };
    let mut args = common::args(
        &fixture,
        &["--active", "--login", "/login", "--user", "alice"],
    );
    args.password = Some("correct horse".to_owned());
    let report = palisade_audit::audit(&args)
        .await
        .expect("signs in with the username field");
    assert!(report.signed_in);
    for rule in [
        "PAL-KEY-001",  // session signed with 'top-secret!'
        "PAL-SES-001",  // the cookie still works after /logout
        "PAL-CSRF-001", // sign-in form without token
        "PAL-CKE-001",  // no Secure
        "PAL-HDR-020",  // personal page without no-store
        "PAL-DIS-001",  // Werkzeug version
        "PAL-TLS-001",  // plain HTTP
        "PAL-ACC-001",  // password over HTTP
        "PAL-XSS-010",  // no CSP
    ] {
        common::assert_found(&report, rule);
    }
    assert_eq!(report.exit_code(), 1);
}
