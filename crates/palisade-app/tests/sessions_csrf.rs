//! Sessions and CSRF through Drop's own forms: refused posts shown again, expiry, rotation,
//! sign-out, hostile cookie headers, caching of private pages, the sessions page, and a session
//! store that is down.

mod common;

use std::time::Duration;

use common::{PASSWORD, TestApp, csrf_token_in, location, set_cookies};
use palisade_app::Settings;
use reqwest::{Client, Response};

const COOKIE: &str = "__Host-palisade";

fn settings() -> Settings {
    Settings {
        captcha_difficulty: Some(1000),
        ..Settings::default()
    }
}

async fn body(resp: Response) -> String {
    resp.text().await.unwrap()
}

/// The value the response sets for the session cookie, if it sets one.
fn session_cookie(resp: &Response) -> Option<String> {
    set_cookies(resp).iter().find_map(|c| {
        let value = c.strip_prefix(&format!("{COOKIE}="))?;
        let value = value.split(';').next().unwrap();
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// GETs `path` with exactly these `Cookie` headers.
async fn get_with_cookies(app: &TestApp, path: &str, cookies: &[impl AsRef<str>]) -> Response {
    let mut req = app.raw_client().get(app.url(path));
    for cookie in cookies {
        req = req.header("cookie", cookie.as_ref());
    }
    req.send().await.unwrap()
}

/// True when `/account` answers 200 to these cookie headers.
async fn signed_in_with(app: &TestApp, cookies: &[impl AsRef<str>]) -> bool {
    let resp = get_with_cookies(app, "/account", cookies).await;
    match resp.status().as_u16() {
        200 => true,
        303 => false,
        other => panic!("/account answered {other}"),
    }
}

/// Signs in with a raw client, returning the pre-sign-in and the signed-in cookie values.
async fn sign_in_raw(app: &TestApp, email: &str) -> (String, String) {
    let client = app.raw_client();
    let form = client.get(app.url("/login")).send().await.unwrap();
    let before = session_cookie(&form).expect("the form starts a session");
    let token = csrf_token_in(&body(form).await);
    let resp = client
        .post(app.url("/login"))
        .header("cookie", format!("{COOKIE}={before}"))
        .form(&[
            ("email", email),
            ("password", PASSWORD),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let after = session_cookie(&resp).expect("sign-in sets a new cookie");
    (before, after)
}

// ----- CSRF on the app's forms --------------------------------------------------------------

/// What a refused post is, its token and its extra headers.
type RefusedPost<'a> = (&'a str, Option<&'a str>, Vec<(&'a str, &'a str)>);

/// Posts the sign-in form with a token (or not) and extra headers.
async fn post_login(
    app: &TestApp,
    client: &Client,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> Response {
    let mut form = vec![
        ("email", "wendy@example.com"),
        ("password", PASSWORD),
        ("next", "/account"),
    ];
    if let Some(token) = token {
        form.push(("csrf_token", token));
    }
    let mut req = client.post(app.url("/login")).form(&form);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn a_refused_sign_in_form_is_shown_again_with_the_address_and_never_the_password() {
    let app = TestApp::start(settings()).await;
    app.create_user("wendy@example.com", PASSWORD, false).await;
    let client = app.client();
    let (_, form) = app.page(&client, "/login").await;
    let token = csrf_token_in(&form);

    let cases: [RefusedPost<'_>; 4] = [
        ("no token", None, vec![]),
        (
            "foreign origin",
            Some(&token),
            vec![("origin", "https://evil.example")],
        ),
        ("origin null", Some(&token), vec![("origin", "null")]),
        (
            "cross-site fetch",
            Some(&token),
            vec![("sec-fetch-site", "cross-site")],
        ),
    ];
    for (what, token, headers) in &cases {
        let resp = post_login(&app, &client, *token, headers).await;
        assert_eq!(resp.status(), 403, "{what}");
        let html = body(resp).await;
        assert!(html.contains("could not be verified"), "{what}: {html}");
        assert!(
            html.contains(r#"name="email" value="wendy@example.com""#),
            "{what}: the address is kept"
        );
        assert!(
            common::html_unescape(&html).contains(r#"name="next" value="/account""#),
            "{what}"
        );
        assert!(
            !html.contains(PASSWORD),
            "{what}: the password is never echoed"
        );
        // The form shown again works.
        assert!(!csrf_token_in(&html).is_empty());
    }
    let resp = client.get(app.url("/account")).send().await.unwrap();
    assert_eq!(resp.status(), 303, "nothing signed in");

    // The same post from our own origin goes through.
    let public_origin = app.base.clone();
    let resp = post_login(
        &app,
        &client,
        Some(&token),
        &[
            ("origin", public_origin.as_str()),
            ("sec-fetch-site", "same-origin"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/account");
    app.stop().await;
}

#[tokio::test]
async fn a_refused_registration_form_is_shown_again_with_the_address() {
    let app = TestApp::start(settings()).await;
    let client = app.client();
    app.page(&client, "/register").await;
    let resp = client
        .post(app.url("/register"))
        .form(&[("email", "xena@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let html = body(resp).await;
    assert!(html.contains(r#"name="email" value="xena@example.com""#));
    assert!(!html.contains(PASSWORD));
    assert!(common::captcha_challenge_in(&html).is_some());
    app.stop().await;
}

#[tokio::test]
async fn signed_in_forms_without_a_token_change_nothing() {
    let app = TestApp::start(settings()).await;
    app.create_user("yves@example.com", PASSWORD, false).await;
    let client = app.signed_in("yves@example.com", PASSWORD).await;
    for (path, form) in [
        ("/logout", vec![]),
        (
            "/account/password",
            vec![
                ("current_password", PASSWORD),
                ("password", "amber violin harbor mist 17"),
            ],
        ),
        ("/account/sessions/revoke-others", vec![]),
    ] {
        let resp = client.post(app.url(path)).form(&form).send().await.unwrap();
        assert_eq!(resp.status(), 403, "{path}");
    }
    let resp = client.get(app.url("/account")).send().await.unwrap();
    assert_eq!(resp.status(), 200, "still signed in");
    app.signed_in("yves@example.com", PASSWORD).await;
    app.stop().await;
}

// ----- expiry -------------------------------------------------------------------------------

async fn assert_sent_to_login_as_expired(app: &TestApp, client: &Client) {
    let resp = client.get(app.url("/account")).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/login?next=%2Faccount");
    let (_, html) = app.page(client, "/login?next=%2Faccount").await;
    assert!(html.contains("Your session expired"), "{html}");
}

#[tokio::test]
async fn an_idle_session_ends_and_the_user_is_told_why() {
    let app = TestApp::start(Settings {
        session_idle_timeout: Some("2s".into()),
        ..settings()
    })
    .await;
    app.create_user("zoe@example.com", PASSWORD, false).await;
    let client = app.signed_in("zoe@example.com", PASSWORD).await;
    assert_eq!(app.page(&client, "/account").await.0, 200);
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert_sent_to_login_as_expired(&app, &client).await;
    app.stop().await;
}

#[tokio::test]
async fn an_active_session_still_ends_at_the_absolute_timeout() {
    let app = TestApp::start(Settings {
        session_idle_timeout: Some("2s".into()),
        session_absolute_timeout: Some("4s".into()),
        ..settings()
    })
    .await;
    app.create_user("abe@example.com", PASSWORD, false).await;
    let client = app.signed_in("abe@example.com", PASSWORD).await;
    let start = std::time::Instant::now();
    let mut requests = 0;
    // A request every 0.9 s: never idle for 2 s.
    while start.elapsed() < Duration::from_millis(3000) {
        tokio::time::sleep(Duration::from_millis(900)).await;
        if start.elapsed() < Duration::from_millis(3500) {
            assert_eq!(app.page(&client, "/account").await.0, 200, "active");
            requests += 1;
        }
    }
    assert!(requests >= 3);
    tokio::time::sleep(Duration::from_millis(4300).saturating_sub(start.elapsed())).await;
    assert_sent_to_login_as_expired(&app, &client).await;
    app.stop().await;
}

// ----- rotation and sign-out ----------------------------------------------------------------

#[tokio::test]
async fn sign_in_gives_a_new_session_id_and_the_old_cookie_is_worthless() {
    let app = TestApp::start(settings()).await;
    app.create_user("bea@example.com", PASSWORD, false).await;
    let (before, after) = sign_in_raw(&app, "bea@example.com").await;
    assert_ne!(before, after);
    assert!(!signed_in_with(&app, &[&format!("{COOKIE}={before}")]).await);
    assert!(signed_in_with(&app, &[&format!("{COOKIE}={after}")]).await);
    app.stop().await;
}

#[tokio::test]
async fn sign_out_ends_the_session_on_the_server_and_clears_the_browser() {
    let app = TestApp::start(settings()).await;
    app.create_user("cid@example.com", PASSWORD, false).await;
    let client = app.raw_client();
    let form = client.get(app.url("/login")).send().await.unwrap();
    let first = session_cookie(&form).unwrap();
    let token = csrf_token_in(&body(form).await);
    let signed_in = client
        .post(app.url("/login"))
        .header("cookie", format!("{COOKIE}={first}"))
        .form(&[
            ("email", "cid@example.com"),
            ("password", PASSWORD),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    let set = set_cookies(&signed_in)
        .into_iter()
        .find(|c| c.starts_with(COOKIE))
        .unwrap();
    let cookie = session_cookie(&signed_in).unwrap();
    let header = format!("{COOKIE}={cookie}");

    let page = get_with_cookies(&app, "/account", &[&header]).await;
    let token = csrf_token_in(&body(page).await);
    let resp = client
        .post(app.url("/logout"))
        .header("cookie", &header)
        .form(&[("csrf_token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/");
    assert_eq!(
        resp.headers()["clear-site-data"].to_str().unwrap(),
        r#""cookies", "storage""#
    );
    let deleted = set_cookies(&resp);
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    let set_attributes = set.split_once(';').unwrap().1;
    assert_eq!(deleted[0], format!("{COOKIE}=;{set_attributes}; Max-Age=0"));
    assert!(set.contains("Secure") && set.contains("HttpOnly") && set.contains("SameSite=Lax"));

    // The old cookie, replayed, is not signed in.
    assert!(!signed_in_with(&app, &[&header]).await);
    app.stop().await;
}

#[tokio::test]
async fn malformed_and_duplicated_cookie_headers_are_never_signed_in_by_guess() {
    let app = TestApp::start(settings()).await;
    app.create_user("dora@example.com", PASSWORD, false).await;
    app.create_user("eli@example.com", PASSWORD, false).await;
    let (_, dora) = sign_in_raw(&app, "dora@example.com").await;
    let (_, eli) = sign_in_raw(&app, "eli@example.com").await;
    let dora_cookie = format!("{COOKIE}={dora}");
    let eli_cookie = format!("{COOKIE}={eli}");

    // A different id under the same tag.
    let first = if dora.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{first}{}", &dora[1..]);
    for cookies in [
        vec![format!("{COOKIE}=garbage")],
        vec![format!("{COOKIE}={tampered}")],
        vec![format!("{COOKIE}=")],
        vec![format!(";;; ==; =x; {COOKIE}")],
        vec![format!("{COOKIE}=\"{}\"", "A".repeat(5000))],
        vec![format!("{dora_cookie}; {eli_cookie}")],
        vec![dora_cookie.clone(), eli_cookie.clone()],
    ] {
        let resp = get_with_cookies(&app, "/account", &cookies).await;
        assert_eq!(resp.status(), 303, "{cookies:?}");
        assert_eq!(location(&resp), "/login?next=%2Faccount", "{cookies:?}");
    }
    // The same valid cookie twice, or beside junk, is still that one session.
    assert!(signed_in_with(&app, &[&format!("{dora_cookie}; {dora_cookie}")]).await);
    assert!(signed_in_with(&app, &[format!("{COOKIE}=junk"), dora_cookie.clone()]).await);
    // A planted second session did not end the real ones.
    assert!(signed_in_with(&app, &[&eli_cookie]).await);
    app.stop().await;
}

// ----- caching ------------------------------------------------------------------------------

#[tokio::test]
async fn private_pages_are_never_stored_and_vary_on_the_cookie() {
    let app = TestApp::start(settings()).await;
    app.create_user("fay@example.com", PASSWORD, true).await;
    let client = app.signed_in("fay@example.com", PASSWORD).await;
    for path in [
        "/account",
        "/account/sessions",
        "/account/2fa",
        "/admin",
        "/",
        "/login",
        "/no-such-page",
    ] {
        let resp = client.get(app.url(path)).send().await.unwrap();
        let h = resp.headers();
        assert_eq!(h["cache-control"], "no-store", "{path}");
        let vary: Vec<&str> = h
            .get_all("vary")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert!(
            vary.iter().any(|v| v
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("cookie"))),
            "{path}: {vary:?}"
        );
    }
    // The sign-in form starts a session, so it is private too.
    let resp = app.client().get(app.url("/login")).send().await.unwrap();
    assert_eq!(resp.headers()["cache-control"], "no-store");
    app.stop().await;
}

// ----- the sessions page --------------------------------------------------------------------

/// Signs in with a browser naming itself `agent`.
async fn browser_named(app: &TestApp, agent: &str, email: &str) -> Client {
    let client = app
        .client_builder()
        .cookie_store(true)
        .user_agent(agent)
        .default_headers(
            [(
                reqwest::header::HeaderName::from_static("x-forwarded-for"),
                "203.0.113.9".parse().unwrap(),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .unwrap();
    let resp = app.sign_in(&client, email, PASSWORD).await;
    assert_eq!(resp.status(), 303);
    client
}

/// The session id in the row of the sessions page that names `agent`.
fn session_id_of(html: &str, agent: &str) -> Option<String> {
    let row = html.split("<tr>").find(|row| row.contains(agent))?;
    common::attribute(row, "data-session-id")
}

#[tokio::test]
async fn the_sessions_page_lists_revokes_one_and_signs_out_everywhere_else() {
    let app = TestApp::start(settings()).await;
    app.create_user("gus@example.com", PASSWORD, false).await;
    app.create_user("hal@example.com", PASSWORD, false).await;
    let a = browser_named(&app, "Browser A", "gus@example.com").await;
    let b = browser_named(&app, "Browser B", "gus@example.com").await;
    let c = browser_named(&app, "Browser C", "gus@example.com").await;
    let hal = browser_named(&app, "Hal Laptop", "hal@example.com").await;

    let (status, html) = app.page(&a, "/account/sessions").await;
    assert_eq!(status, 200);
    for agent in ["Browser A", "Browser B", "Browser C"] {
        assert!(html.contains(agent), "{agent}");
    }
    assert!(!html.contains("Hal Laptop"), "only this user's sessions");
    assert_eq!(html.matches("this browser").count(), 1);
    assert!(
        session_id_of(&html, "Browser A").is_none(),
        "no revoke button for this one"
    );
    // The address is the peer's: no proxy is trusted, so X-Forwarded-For was ignored.
    assert!(html.contains("127.0.0.1") && !html.contains("203.0.113.9"));

    let b_id = session_id_of(&html, "Browser B").unwrap();
    let resp = app
        .submit(
            &a,
            "/account/sessions",
            &format!("/account/sessions/{b_id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(app.page(&b, "/account").await.0, 303, "B signed out");
    assert_eq!(app.page(&c, "/account").await.0, 200, "C still in");

    // Another user's session id is not ours to end.
    let hal_phone = browser_named(&app, "Hal Phone", "hal@example.com").await;
    let (_, hal_page) = app.page(&hal, "/account/sessions").await;
    let phone_id = session_id_of(&hal_page, "Hal Phone").unwrap();
    let resp = app
        .submit(
            &a,
            "/account/sessions",
            &format!("/account/sessions/{phone_id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(resp.status(), 404);
    assert_eq!(app.page(&hal_phone, "/account").await.0, 200);

    let resp = app
        .submit(
            &a,
            "/account/sessions",
            "/account/sessions/revoke-others",
            &[],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(app.page(&c, "/account").await.0, 303, "C signed out");
    assert_eq!(app.page(&a, "/account").await.0, 200, "A still in");
    assert_eq!(
        app.page(&hal, "/account").await.0,
        200,
        "other users untouched"
    );
    let (_, html) = app.page(&a, "/account/sessions").await;
    assert_eq!(
        html.matches("<tr>").count(),
        2,
        "a header row and this session"
    );
    app.stop().await;
}

// ----- the store is down --------------------------------------------------------------------

#[tokio::test]
async fn a_session_store_that_is_down_answers_503_and_never_anonymous() {
    let (app, state) = TestApp::start_with_state(settings()).await;
    app.create_user("ian@example.com", PASSWORD, false).await;
    let client = app.signed_in("ian@example.com", PASSWORD).await;
    assert_eq!(app.page(&client, "/account").await.0, 200);

    state.db.close().await;
    for path in ["/account", "/login", "/"] {
        let resp = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 503, "{path}");
        assert_eq!(resp.headers()["cache-control"], "no-store");
        assert!(session_cookie(&resp).is_none());
        let html = body(resp).await;
        assert!(
            !html.contains("Sign in</a>"),
            "{path}: rendered as anonymous"
        );
    }
    app.stop().await;
}
