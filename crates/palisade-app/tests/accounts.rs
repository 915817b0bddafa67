//! Drop's accounts through a real server: registration in every mode, the captcha and the
//! honeypot, verification, answers that do not reveal accounts, throttling, safe `next`
//! redirects, password change and reset, two-factor sign-in, and an administrator disabling an
//! account.

mod common;

use common::{
    NEW_PASSWORD, PASSWORD, TestApp, captcha_challenge_in, csrf_token_in, location, normalise,
    set_cookies, solve, totp_code,
};
use palisade_app::Settings;
use reqwest::{Client, Response};

/// Test settings: an easy captcha, and the registration mode given.
fn settings(registration: &str) -> Settings {
    Settings {
        captcha_difficulty: Some(1000),
        registration: Some(registration.to_owned()),
        ..Settings::default()
    }
}

async fn body(resp: Response) -> String {
    resp.text().await.unwrap()
}

/// Whether `client` is signed in: `/account` answers 200, or redirects to the sign-in page.
async fn is_signed_in(app: &TestApp, client: &Client) -> bool {
    let resp = client.get(app.url("/account")).send().await.unwrap();
    match resp.status().as_u16() {
        200 => true,
        303 => {
            assert!(location(&resp).starts_with("/login"), "{}", location(&resp));
            false
        }
        other => panic!("/account answered {other}"),
    }
}

async fn user_exists(app: &TestApp, email: &str) -> bool {
    app.admin()
        .await
        .list_users()
        .await
        .unwrap()
        .iter()
        .any(|u| u.email.eq_ignore_ascii_case(email))
}

// ----- registration -------------------------------------------------------------------------

#[tokio::test]
async fn open_registration_verifies_the_address_before_the_first_sign_in() {
    let app = TestApp::start(settings("open")).await;
    let client = app.client();

    let resp = app.register(&client, "Bob@Example.com", PASSWORD).await;
    assert_eq!(resp.status(), 200);
    assert!(body(resp).await.contains("Check your inbox"));
    let mails = app.mails_to("bob@example.com");
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].subject, "Verify your address for Drop");
    let link = app.link_in_mail("bob@example.com", "/verify/");

    // Unverified: the right password is not enough.
    let browser = app.client();
    let resp = app.sign_in(&browser, "bob@example.com", PASSWORD).await;
    assert_eq!(resp.status(), 403);
    assert!(body(resp).await.contains("Verify your address first"));
    assert!(!is_signed_in(&app, &browser).await);

    let resp = client.get(app.url(&link)).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/login");
    let (_, login) = app.page(&client, "/login").await;
    assert!(login.contains("Your address is verified"), "{login}");

    // The link works once.
    let resp = client.get(app.url(&link)).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(body(resp).await.contains("Link invalid or expired"));

    let resp = app.sign_in(&browser, "bob@example.com", PASSWORD).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/files");
    assert!(is_signed_in(&app, &browser).await);
    app.stop().await;
}

#[tokio::test]
async fn verification_links_that_are_empty_unknown_or_expired_are_refused() {
    let app = TestApp::start(settings("open")).await;
    let client = app.client();
    for path in [
        "/verify/%20",
        "/verify/not-a-token",
        &format!("/verify/{}", "A".repeat(43)),
    ] {
        let resp = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{path}");
    }

    app.register(&client, "carol@example.com", PASSWORD).await;
    let link = app.link_in_mail("carol@example.com", "/verify/");
    let db = palisade::db::connect_sqlite(&app.dir.path().join("palisade.db"))
        .await
        .unwrap();
    sqlx::query("UPDATE palisade_tokens SET expires_at = 1")
        .execute(&db)
        .await
        .unwrap();
    let resp = client.get(app.url(&link)).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let user = app.admin().await.list_users().await.unwrap().remove(0);
    assert!(!user.is_verified());
    app.stop().await;
}

#[tokio::test]
async fn invite_mode_registers_only_the_invited_address_and_only_once() {
    let app = TestApp::start(settings("invite")).await;
    let client = app.client();

    let resp = app.register(&client, "dave@example.com", PASSWORD).await;
    assert_eq!(resp.status(), 403);
    assert!(body(resp).await.contains("needs an invitation"));
    assert!(app.mails().is_empty());

    let link = app.admin().await.invite("dave@example.com").await.unwrap();
    assert!(
        link.starts_with(&format!("{}/register?invite=", app.base)),
        "{link}"
    );
    let path = &link[app.base.len()..];
    let (_, form) = app.page(&client, path).await;
    let invite = link.split_once("invite=").unwrap().1;
    assert!(form.contains(&format!(r#"name="invite" value="{invite}""#)));

    let resp = app
        .submit(
            &client,
            path,
            "/register",
            &[
                ("email", "eve@example.com"),
                ("password", PASSWORD),
                ("invite", invite),
            ],
        )
        .await;
    assert_eq!(
        resp.status(),
        403,
        "another address cannot use the invitation"
    );
    assert!(!user_exists(&app, "eve@example.com").await);

    let resp = app
        .submit(
            &client,
            path,
            "/register",
            &[
                ("email", "Dave@example.com"),
                ("password", PASSWORD),
                ("invite", invite),
            ],
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(app.mails_to("dave@example.com").len(), 1);
    assert!(user_exists(&app, "dave@example.com").await);

    // Used up.
    let other = app.client();
    let resp = app
        .submit(
            &other,
            path,
            "/register",
            &[
                ("email", "dave@example.com"),
                ("password", NEW_PASSWORD),
                ("invite", invite),
            ],
        )
        .await;
    assert_eq!(resp.status(), 403);
    app.stop().await;
}

#[tokio::test]
async fn domain_mode_registers_only_addresses_in_the_listed_domains() {
    let app = TestApp::start(settings("domains:example.com")).await;
    let client = app.client();
    let resp = app.register(&client, "frank@example.com", PASSWORD).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(app.mails_to("frank@example.com").len(), 1);

    for outsider in [
        "grace@elsewhere.test",
        "grace@sub.example.com",
        "grace@example.com.evil.test",
    ] {
        let resp = app.register(&client, outsider, PASSWORD).await;
        assert_eq!(resp.status(), 403, "{outsider}");
        assert!(
            body(resp)
                .await
                .contains("limited to addresses in certain domains")
        );
        assert!(!user_exists(&app, outsider).await, "{outsider}");
    }
    assert_eq!(app.mails().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn closed_mode_shows_no_form_and_refuses_posts() {
    let app = TestApp::start(settings("closed")).await;
    let client = app.client();
    let (status, html) = app.page(&client, "/register").await;
    assert_eq!(status, 200);
    assert!(html.contains("Registration is closed"));
    assert!(!html.contains(r#"action="/register""#));

    // A post anyway, with a valid token and captcha taken from elsewhere.
    let (_, login) = app.page(&client, "/login").await;
    let token = csrf_token_in(&login);
    let challenge = app.page(&app.client(), "/register").await.1;
    assert!(captcha_challenge_in(&challenge).is_none());
    let resp = app
        .post(
            &client,
            "/register",
            &token,
            &[
                ("email", "henry@example.com"),
                ("password", PASSWORD),
                ("captcha", &app.forged_captcha(i64::MAX / 2, 7)),
            ],
        )
        .await;
    assert_eq!(resp.status(), 403);
    assert!(!user_exists(&app, "henry@example.com").await);
    assert!(app.mails().is_empty());
    app.stop().await;
}

// ----- captcha and honeypot -----------------------------------------------------------------

/// Registers `email` with the captcha field `captcha`; the response.
async fn register_with_captcha(app: &TestApp, email: &str, captcha: &str) -> Response {
    app.submit(
        &app.client(),
        "/register",
        "/register",
        &[
            ("email", email),
            ("password", PASSWORD),
            ("captcha", captcha),
        ],
    )
    .await
}

#[tokio::test]
async fn registration_refuses_a_missing_wrong_forged_expired_or_replayed_captcha() {
    let app = TestApp::start(settings("open")).await;
    let now = palisade::auth::totp::now() as i64;

    let resp = register_with_captcha(&app, "a@example.com", "").await;
    assert_eq!(resp.status(), 400, "missing");
    let html = body(resp).await;
    assert!(html.contains("did not complete"));
    assert!(
        html.contains(r#"value="a@example.com""#),
        "the address is kept"
    );
    assert!(!html.contains(PASSWORD), "the password is never echoed");
    assert!(captcha_challenge_in(&html).is_some(), "a new challenge");

    let cases = [
        ("wrong", app.forged_captcha(now + 600, 8)),
        ("expired", app.forged_captcha(now - 1, 7)),
        ("garbage", "bm90IGpzb24=".to_owned()),
    ];
    for (what, captcha) in &cases {
        let resp = register_with_captcha(&app, "a@example.com", captcha).await;
        assert_eq!(resp.status(), 403, "{what}");
    }
    let mut forged_elsewhere =
        captcha_challenge_in(&app.page(&app.client(), "/register").await.1).unwrap();
    forged_elsewhere.signature = "00".repeat(32);
    let resp = register_with_captcha(&app, "a@example.com", &solve(&forged_elsewhere)).await;
    assert_eq!(resp.status(), 403, "bad signature");
    assert!(app.mails().is_empty());
    assert!(!user_exists(&app, "a@example.com").await);

    // The forged solution is right in every other way: with a future expiry it passes, once.
    let valid = app.forged_captcha(now + 600, 7);
    let resp = register_with_captcha(&app, "a@example.com", &valid).await;
    assert_eq!(resp.status(), 200, "valid");
    assert!(user_exists(&app, "a@example.com").await);
    let resp = register_with_captcha(&app, "b@example.com", &valid).await;
    assert_eq!(resp.status(), 403, "replayed");
    assert!(!user_exists(&app, "b@example.com").await);

    // And a solution of the page's own challenge, as the browser script makes it.
    let resp = app.register(&app.client(), "c@example.com", PASSWORD).await;
    assert_eq!(resp.status(), 200);
    assert!(user_exists(&app, "c@example.com").await);
    app.stop().await;
}

#[tokio::test]
async fn a_filled_honeypot_creates_no_account_and_shows_the_usual_page() {
    let app = TestApp::start(settings("open")).await;
    let bot = app
        .submit(
            &app.client(),
            "/register",
            "/register",
            &[
                ("email", "bot@example.com"),
                ("password", PASSWORD),
                ("website", "https://spam.example"),
            ],
        )
        .await;
    let person = app
        .register(&app.client(), "person@example.com", PASSWORD)
        .await;
    assert_eq!(bot.status(), person.status());
    assert_eq!(normalise(&body(bot).await), normalise(&body(person).await));
    assert!(!user_exists(&app, "bot@example.com").await);
    assert!(app.mails_to("bot@example.com").is_empty());
    app.stop().await;
}

// ----- answers that reveal nothing ----------------------------------------------------------

/// Status, `Set-Cookie` without values, and the normalised body with the address the user
/// typed (which forms show again) replaced.
async fn shape(resp: Response, email: &str) -> (u16, Vec<String>, String) {
    let status = resp.status().as_u16();
    let cookies = set_cookies(&resp)
        .iter()
        .map(|c| {
            let (name, rest) = c.split_once('=').unwrap();
            let attributes = rest.split_once(';').map_or("", |(_, a)| a);
            format!("{name}=…;{attributes}")
        })
        .collect();
    let html = normalise(&body(resp).await).replace(email, "EMAIL");
    (status, cookies, html)
}

#[tokio::test]
async fn known_and_unknown_addresses_get_identical_answers() {
    let app = TestApp::start(settings("open")).await;
    app.create_user("known@example.com", PASSWORD, false).await;

    let sign_in = |email: &'static str| {
        let app = &app;
        async move {
            shape(
                app.sign_in(&app.client(), email, "wrong password 123")
                    .await,
                email,
            )
            .await
        }
    };
    assert_eq!(
        sign_in("known@example.com").await,
        sign_in("unknown@example.com").await,
        "sign-in"
    );

    let forgot = |email: &'static str| {
        let app = &app;
        async move {
            let resp = app
                .submit(
                    &app.client(),
                    "/password/forgot",
                    "/password/forgot",
                    &[("email", email)],
                )
                .await;
            shape(resp, email).await
        }
    };
    assert_eq!(
        forgot("known@example.com").await,
        forgot("unknown@example.com").await,
        "password reset"
    );

    let register = |email: &'static str| {
        let app = &app;
        async move {
            shape(
                app.register(&app.client(), email, NEW_PASSWORD).await,
                email,
            )
            .await
        }
    };
    assert_eq!(
        register("known@example.com").await,
        register("new@example.com").await,
        "registration"
    );

    let resend = |email: &'static str| {
        let app = &app;
        async move {
            let resp = app
                .submit(
                    &app.client(),
                    "/login",
                    "/verify/resend",
                    &[("email", email)],
                )
                .await;
            shape(resp, email).await
        }
    };
    assert_eq!(
        resend("known@example.com").await,
        resend("nobody@example.com").await,
        "resending verification"
    );

    // The owner of the known address hears of the attempts; nobody else gets anything.
    let known = app.mails_to("known@example.com");
    assert_eq!(known.len(), 2, "{known:?}");
    assert!(app.mails_to("unknown@example.com").is_empty());
    assert!(app.mails_to("nobody@example.com").is_empty());
    app.stop().await;
}

// ----- throttling ---------------------------------------------------------------------------

/// A browser whose requests claim to come from `ip` (sent as `X-Forwarded-For`).
fn browser_from(app: &TestApp, ip: &str) -> Client {
    app.client_builder()
        .cookie_store(true)
        .default_headers(
            [(
                reqwest::header::HeaderName::from_static("x-forwarded-for"),
                ip.parse().unwrap(),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .unwrap()
}

/// Signs in from `ip` (sent as `X-Forwarded-For`).
async fn sign_in_from(app: &TestApp, ip: &str, email: &str, password: &str) -> Response {
    app.sign_in(&browser_from(app, ip), email, password).await
}

fn behind_proxy() -> Settings {
    Settings {
        trusted_proxies: Some("127.0.0.1".into()),
        ..settings("open")
    }
}

#[tokio::test]
async fn failed_sign_ins_on_one_account_are_throttled_from_rotating_addresses() {
    let app = TestApp::start(behind_proxy()).await;
    app.create_user("target@example.com", PASSWORD, false).await;
    for i in 1..=5 {
        let resp = sign_in_from(
            &app,
            &format!("198.51.100.{i}"),
            "target@example.com",
            "guess 1234567",
        )
        .await;
        assert_eq!(resp.status(), 401, "attempt {i}");
    }
    // Even the right password from a fresh address must wait now, and then solve a captcha.
    let resp = sign_in_from(&app, "198.51.100.99", "target@example.com", PASSWORD).await;
    assert_eq!(resp.status(), 429);
    let html = body(resp).await;
    assert!(html.contains("Too many failed attempts"));
    assert!(captcha_challenge_in(&html).is_some());

    // Never locked out: after the delay, with the captcha, the owner gets in. A fresh browser
    // is asked for the captcha first; the form shown then carries one.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let browser = browser_from(&app, "198.51.100.100");
    let resp = app.sign_in(&browser, "target@example.com", PASSWORD).await;
    assert_eq!(resp.status(), 403);
    let html = body(resp).await;
    let challenge = captcha_challenge_in(&html).expect("the form asks for the captcha");
    let resp = app
        .post(
            &browser,
            "/login",
            &csrf_token_in(&html),
            &[
                ("email", "target@example.com"),
                ("password", PASSWORD),
                ("captcha", &solve(&challenge)),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303, "{}", body(resp).await);
    app.stop().await;
}

#[tokio::test]
async fn failed_sign_ins_from_one_address_are_throttled_across_accounts() {
    let app = TestApp::start(behind_proxy()).await;
    app.create_user("owner@example.com", PASSWORD, false).await;
    for i in 1..=20 {
        let resp = sign_in_from(
            &app,
            "203.0.113.7",
            &format!("user{i}@example.com"),
            "guess 1234567",
        )
        .await;
        assert_eq!(resp.status(), 401, "attempt {i}");
    }
    let resp = sign_in_from(&app, "203.0.113.7", "owner@example.com", PASSWORD).await;
    assert_eq!(resp.status(), 429);
    // Another address is not slowed down by that one's guesses.
    let resp = sign_in_from(&app, "203.0.113.8", "owner@example.com", PASSWORD).await;
    assert_eq!(resp.status(), 303);
    app.stop().await;
}

#[tokio::test]
async fn x_forwarded_for_from_an_untrusted_peer_changes_nothing() {
    let app = TestApp::start(settings("open")).await;
    app.create_user("target@example.com", PASSWORD, false).await;
    for i in 1..=20 {
        let resp = sign_in_from(
            &app,
            &format!("198.51.100.{i}"),
            &format!("user{i}@example.com"),
            "guess 1234567",
        )
        .await;
        assert_eq!(resp.status(), 401, "attempt {i}");
    }
    // Every attempt counted against 127.0.0.1, whatever the header said.
    let resp = sign_in_from(&app, "198.51.100.200", "target@example.com", PASSWORD).await;
    assert_eq!(resp.status(), 429);
    app.stop().await;
}

// ----- next ---------------------------------------------------------------------------------

#[tokio::test]
async fn every_open_redirect_form_of_next_falls_back_to_files() {
    let app = TestApp::start(settings("open")).await;
    app.create_user("nina@example.com", PASSWORD, false).await;
    let sign_in_with_next = |next: &'static str| {
        let app = &app;
        async move {
            let client = app.client();
            let resp = app
                .submit(
                    &client,
                    "/login",
                    "/login",
                    &[
                        ("email", "nina@example.com"),
                        ("password", PASSWORD),
                        ("next", next),
                    ],
                )
                .await;
            assert_eq!(resp.status(), 303, "{next}");
            (location(&resp), client)
        }
    };
    for next in [
        "//x",
        "/\\x",
        "\\\\x",
        "%2F%2Fx",
        "/%2F%2Fx",
        "/%5Cx",
        " //x",
        "/\t/x",
        "javascript:alert(1)",
        "https://evil.example",
        "",
    ] {
        let (target, _) = sign_in_with_next(next).await;
        assert_eq!(target, "/files", "{next:?}");
    }
    let (target, client) = sign_in_with_next("/account/sessions?x=1").await;
    assert_eq!(target, "/account/sessions?x=1");

    // Signed in already, the sign-in page passes `next` through the same check.
    let resp = client
        .get(app.url("/login?next=%2F%2Fevil.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&resp), "/files");
    app.stop().await;
}

// ----- password change and reset ------------------------------------------------------------

/// A reset link that no longer works: its page says so, and a post to it (with a token from
/// another form) changes nothing.
async fn assert_reset_link_dead(app: &TestApp, client: &Client, link: &str, why: &str) {
    let (status, html) = app.page(client, link).await;
    assert_eq!(status, 400, "{why}: the form of a dead link is shown");
    assert!(html.contains("Link invalid or expired"), "{why}");
    let resp = app
        .submit(
            client,
            "/password/forgot",
            link,
            &[("password", "Taken back by the mail reader 7")],
        )
        .await;
    assert_eq!(resp.status(), 400, "{why}");
}

#[tokio::test]
async fn a_password_reset_ends_every_session_and_its_link_works_once() {
    let app = TestApp::start(settings("open")).await;
    app.create_user("olga@example.com", PASSWORD, false).await;
    let elsewhere = app.signed_in("olga@example.com", PASSWORD).await;

    let client = app.client();
    let resp = app
        .submit(
            &client,
            "/password/forgot",
            "/password/forgot",
            &[("email", "olga@example.com")],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let link = app.link_in_mail("olga@example.com", "/password/reset/");

    // A password the policy refuses keeps the link usable.
    let resp = app
        .submit(&client, &link, &link, &[("password", "short")])
        .await;
    assert_eq!(resp.status(), 400);

    let resp = app
        .submit(&client, &link, &link, &[("password", NEW_PASSWORD)])
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/login");
    assert!(
        !is_signed_in(&app, &elsewhere).await,
        "the other session ended"
    );

    assert_reset_link_dead(&app, &client, &link, "the link works once").await;
    let resp = app
        .sign_in(&app.client(), "olga@example.com", PASSWORD)
        .await;
    assert_eq!(resp.status(), 401);
    let resp = app
        .sign_in(&app.client(), "olga@example.com", NEW_PASSWORD)
        .await;
    assert_eq!(resp.status(), 303);
    app.stop().await;
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions_and_keeps_this_one() {
    let app = TestApp::start(settings("open")).await;
    app.create_user("paul@example.com", PASSWORD, false).await;
    let here = app.signed_in("paul@example.com", PASSWORD).await;
    let there = app.signed_in("paul@example.com", PASSWORD).await;

    let resp = app
        .submit(
            &here,
            "/account",
            "/account/password",
            &[
                ("current_password", "not it at all"),
                ("password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(resp.status(), 403);
    assert!(is_signed_in(&app, &there).await);

    let resp = app
        .submit(
            &here,
            "/account",
            "/account/password",
            &[("current_password", PASSWORD), ("password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/account");
    assert!(is_signed_in(&app, &here).await);
    assert!(!is_signed_in(&app, &there).await);
    let resp = app
        .sign_in(&app.client(), "paul@example.com", NEW_PASSWORD)
        .await;
    assert_eq!(resp.status(), 303);
    app.stop().await;
}

/// Asks for a reset link for rita@example.com and returns it.
async fn request_reset(app: &TestApp, client: &Client) -> String {
    let resp = app
        .submit(
            client,
            "/password/forgot",
            "/password/forgot",
            &[("email", "rita@example.com")],
        )
        .await;
    assert_eq!(resp.status(), 200);
    app.link_in_mail("rita@example.com", "/password/reset/")
}

#[tokio::test]
async fn every_unused_reset_link_dies_with_a_reset_or_a_password_change() {
    let app = TestApp::start(settings("open")).await;
    app.create_user("rita@example.com", PASSWORD, false).await;
    let client = app.client();
    let older = request_reset(&app, &client).await;
    let newer = request_reset(&app, &client).await;
    assert_ne!(older, newer);

    let resp = app
        .submit(&client, &newer, &newer, &[("password", NEW_PASSWORD)])
        .await;
    assert_eq!(resp.status(), 303);
    assert_reset_link_dead(&app, &client, &older, "an older link outlived the reset").await;

    // A link mailed before a password change dies with the change.
    let before_change = request_reset(&app, &app.client()).await;
    let here = app.signed_in("rita@example.com", NEW_PASSWORD).await;
    let resp = app
        .submit(
            &here,
            "/account",
            "/account/password",
            &[("current_password", NEW_PASSWORD), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_reset_link_dead(
        &app,
        &client,
        &before_change,
        "a link outlived the password change",
    )
    .await;
    let resp = app
        .sign_in(&app.client(), "rita@example.com", PASSWORD)
        .await;
    assert_eq!(resp.status(), 303);
    app.stop().await;
}

#[tokio::test]
async fn passwords_typed_on_signed_in_pages_are_throttled_with_the_sign_in_form() {
    let app = TestApp::start(settings("open")).await;
    app.create_user("sven@example.com", PASSWORD, false).await;
    // Someone holding a stolen session cookie guesses the password on the account page.
    let thief = app.signed_in("sven@example.com", PASSWORD).await;
    for i in 1..=5 {
        let resp = app
            .submit(
                &thief,
                "/account",
                "/account/password",
                &[
                    ("current_password", &format!("guess number {i}")),
                    ("password", NEW_PASSWORD),
                ],
            )
            .await;
        assert_eq!(resp.status(), 403, "guess {i}");
    }
    // Now even the right password waits, on this page, on the two-factor page, and at sign-in.
    let resp = app
        .submit(
            &thief,
            "/account",
            "/account/password",
            &[("current_password", PASSWORD), ("password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(resp.status(), 429);
    assert!(body(resp).await.contains("Too many wrong passwords"));
    let resp = app
        .submit(
            &thief,
            "/account/2fa",
            "/account/2fa",
            &[("action", "disable"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(resp.status(), 429);
    let resp = app
        .sign_in(&app.client(), "sven@example.com", PASSWORD)
        .await;
    assert_eq!(resp.status(), 429, "the sign-in form shares the counter");

    // Each wrong guess is in the account's security log.
    let (_, html) = app.page(&thief, "/account").await;
    assert!(
        html.matches("<td>password change</td>").count() >= 5,
        "the failed checks are not in the security log:\n{html}"
    );
    app.stop().await;
}

// ----- two-factor ---------------------------------------------------------------------------

/// The text of the element with `id`.
fn element_text(html: &str, id: &str) -> String {
    let marker = format!(r#"id="{id}">"#);
    let start = html.find(&marker).unwrap_or_else(|| panic!("no #{id}")) + marker.len();
    let end = start + html[start..].find("</").unwrap();
    html[start..end].to_owned()
}

/// Turns two-factor sign-in on for a signed-in browser; the secret, the recovery codes and the
/// page shown after.
async fn enrol(app: &TestApp, client: &Client) -> (String, Vec<String>, String) {
    let (_, page) = app.page(client, "/account/2fa").await;
    let secret = element_text(&page, "totp-secret");
    let resp = app
        .submit(
            client,
            "/account/2fa",
            "/account/2fa",
            &[("action", "enable"), ("code", &totp_code(&secret, 0))],
        )
        .await;
    let resp = if resp.status() == 303 {
        client.get(app.url(&location(&resp))).send().await.unwrap()
    } else {
        resp
    };
    assert_eq!(resp.status(), 200);
    let html = body(resp).await;
    let list = html
        .split(r#"<ul class="mono" id="recovery-codes">"#)
        .nth(1)
        .expect("recovery codes shown")
        .split("</ul>")
        .next()
        .unwrap();
    let codes: Vec<String> = list
        .split("<li>")
        .skip(1)
        .map(|c| c.split("</li>").next().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    (secret, codes, html)
}

/// Signs in with the password in a new browser: the browser and the code form.
async fn password_step(app: &TestApp, email: &str) -> (Client, String) {
    let client = app.client();
    let resp = app.sign_in(&client, email, PASSWORD).await;
    assert_eq!(resp.status(), 200);
    let html = body(resp).await;
    assert!(html.contains(r#"action="/login/2fa""#), "{html}");
    (client, html)
}

#[tokio::test]
async fn two_factor_sign_in_takes_each_code_once() {
    let app = TestApp::start(settings("open")).await;
    app.create_user("quinn@example.com", PASSWORD, false).await;
    let client = app.signed_in("quinn@example.com", PASSWORD).await;
    let (secret, codes, _) = enrol(&app, &client).await;

    let (browser, form) = password_step(&app, "quinn@example.com").await;
    assert!(
        !is_signed_in(&app, &browser).await,
        "not signed in before the code"
    );
    let token = csrf_token_in(&form);
    let wrong = app
        .post(&browser, "/login/2fa", &token, &[("code", "000000")])
        .await;
    assert_eq!(wrong.status(), 401);
    let next_code = totp_code(&secret, 1);
    let resp = app
        .post(&browser, "/login/2fa", &token, &[("code", &next_code)])
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/files");
    assert!(is_signed_in(&app, &browser).await);

    // The same code a second time, as a phishing proxy would replay it.
    let (replay, form) = password_step(&app, "quinn@example.com").await;
    let resp = app
        .post(
            &replay,
            "/login/2fa",
            &csrf_token_in(&form),
            &[("code", &next_code)],
        )
        .await;
    assert_eq!(resp.status(), 401);
    assert!(!is_signed_in(&app, &replay).await);

    // A recovery code works once.
    let (recover, form) = password_step(&app, "quinn@example.com").await;
    let resp = app
        .post(
            &recover,
            "/login/2fa",
            &csrf_token_in(&form),
            &[("code", &codes[3])],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert!(is_signed_in(&app, &recover).await);
    let (again, form) = password_step(&app, "quinn@example.com").await;
    let resp = app
        .post(
            &again,
            "/login/2fa",
            &csrf_token_in(&form),
            &[("code", &codes[3])],
        )
        .await;
    assert_eq!(resp.status(), 401);
    let (_, page) = app.page(&recover, "/account/2fa").await;
    assert!(page.contains("9 recovery codes left"), "{page}");
    app.stop().await;
}

#[tokio::test]
async fn the_page_after_enabling_two_factor_carries_working_tokens() {
    let app = TestApp::start(settings("open")).await;
    app.create_user("rita@example.com", PASSWORD, false).await;
    let client = app.signed_in("rita@example.com", PASSWORD).await;
    let (_, _, page) = enrol(&app, &client).await;
    // Enabling rotates the session id; the forms of the page shown must still be accepted.
    let resp = app
        .post(&client, "/logout", &csrf_token_in(&page), &[])
        .await;
    assert_eq!(resp.status(), 303, "{}", body(resp).await);
    assert!(!is_signed_in(&app, &client).await);
    app.stop().await;
}

// ----- administration -----------------------------------------------------------------------

#[tokio::test]
async fn an_admin_disabling_an_account_on_the_web_ends_its_sessions_at_once() {
    let app = TestApp::start(settings("open")).await;
    app.create_user("admin@example.com", PASSWORD, true).await;
    let victim = app.create_user("sam@example.com", PASSWORD, false).await;
    let sam = app.signed_in("sam@example.com", PASSWORD).await;
    let (status, _) = app.page(&sam, "/admin").await;
    assert_eq!(status, 404, "not an administrator");

    let admin = app.signed_in("admin@example.com", PASSWORD).await;
    let action = format!("/admin/users/{}/disable", victim.id);
    let (status, page) = app.page(&admin, "/admin").await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!(r#"action="{action}""#)));
    let resp = app.submit(&admin, "/admin", &action, &[]).await;
    assert_eq!(resp.status(), 303);

    assert!(!is_signed_in(&app, &sam).await);
    let resp = app
        .sign_in(&app.client(), "sam@example.com", PASSWORD)
        .await;
    assert_eq!(resp.status(), 401);

    // A non-administrator's post is refused like a missing page.
    app.create_user("tess@example.com", PASSWORD, false).await;
    let tess = app.signed_in("tess@example.com", PASSWORD).await;
    let resp = app
        .submit(
            &tess,
            "/account",
            &format!("/admin/users/{}/enable", victim.id),
            &[],
        )
        .await;
    assert_eq!(resp.status(), 404);
    let resp = app
        .sign_in(&app.client(), "sam@example.com", PASSWORD)
        .await;
    assert_eq!(resp.status(), 401, "still disabled");
    app.stop().await;
}

#[tokio::test]
async fn disabling_an_account_from_the_command_line_ends_its_sessions_at_once() {
    let app = TestApp::start(settings("open")).await;
    app.create_user("tom@example.com", PASSWORD, false).await;
    let tom = app.signed_in("tom@example.com", PASSWORD).await;
    let other = app.signed_in("tom@example.com", PASSWORD).await;
    let ended = app
        .admin()
        .await
        .set_disabled("tom@example.com", true)
        .await
        .unwrap();
    assert_eq!(ended, 2);
    assert!(!is_signed_in(&app, &tom).await);
    assert!(!is_signed_in(&app, &other).await);
    app.admin()
        .await
        .set_disabled("tom@example.com", false)
        .await
        .unwrap();
    app.signed_in("tom@example.com", PASSWORD).await;
    app.stop().await;
}

// ----- mail ---------------------------------------------------------------------------------

#[tokio::test]
async fn mail_links_use_the_public_url_whatever_the_host_header() {
    let app = TestApp::start(settings("open")).await;
    app.create_user("uma@example.com", PASSWORD, false).await;
    let hostile = app
        .client_builder()
        .cookie_store(true)
        .http1_only()
        .default_headers(
            [
                ("host", "evil.example"),
                ("x-forwarded-host", "evil.example"),
                ("forwarded", "host=evil.example"),
            ]
            .into_iter()
            .map(|(k, v)| {
                (
                    reqwest::header::HeaderName::from_static(k),
                    v.parse().unwrap(),
                )
            })
            .collect(),
        )
        .build()
        .unwrap();
    let resp = app
        .submit(
            &hostile,
            "/password/forgot",
            "/password/forgot",
            &[("email", "uma@example.com")],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let resp = app.register(&hostile, "vic@example.com", PASSWORD).await;
    assert_eq!(resp.status(), 200);
    // `link_in_mail` checks that every link starts with the public URL.
    app.link_in_mail("uma@example.com", "/password/reset/");
    app.link_in_mail("vic@example.com", "/verify/");
    for mail in app.mails() {
        assert!(!mail.body.contains("evil.example"), "{}", mail.body);
    }
    app.stop().await;
}
