//! Drop in a real browser: Debian's Chromium, driven through chromedriver, against the app on a
//! fresh data directory.
//!
//! The account journey registers (the page's own proof-of-work script solves the captcha),
//! verifies the address from the outbox, signs in, turns on two-factor sign-in, signs in again
//! with a code, revokes a session held by a second browser profile, is refused by forged
//! cross-site posts, changes the password, signs out, and finds nothing private behind the Back
//! button. The file journey uploads with progress, searches, comments, shares with another
//! account and through a share link.
//!
//! Every step asserts what the user sees, and after every step the browser's console must be
//! empty of errors and of Content-Security-Policy violations. Two independent witnesses are
//! read:
//!
//! - the browser log (`goog:loggingPrefs` `browser: ALL`, drained through chromedriver's
//!   `/se/log` endpoint after each step): Chromium prints every CSP refusal and every uncaught
//!   script error there as a `SEVERE` entry, at once and whatever the page's own reporting does;
//! - the app's `/csp-report` endpoint: a test-only tracing layer counts the warnings it logs, per
//!   document, and the server's own error events. Chromium is started with
//!   `--short-reporting-delay` so reports arrive within a second, not a minute.
//!
//! Nothing is injected into the app's pages; the only scripts the test runs are WebDriver's own
//! `execute` calls that read the navigation's HTTP status.
//!
//! Chromium trusts the development certificate for this run only: its SPKI hash is passed in
//! `--ignore-certificate-errors-spki-list` (with a fresh `--user-data-dir`, which that flag
//! needs); every other certificate error stays fatal.
//!
//! Screenshots go to `$PALISADE_SCREENSHOTS`, or `target/screenshots/` of the workspace.
//! Without `/usr/bin/chromium` or `/usr/bin/chromedriver` the tests print `skipped: …` and pass,
//! unless `PALISADE_REQUIRE_BROWSER` is set (CI sets it), when they fail.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use common::TestApp;
use fantoccini::elements::Element;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use palisade_app::Settings;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use serde_json::{Value as Json, json};
use sha2::{Digest as _, Sha256};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long any one thing the user waits for may take.
const WAIT: Duration = Duration::from_secs(20);
/// The in-browser proof of work, at the small test difficulty, with room for a slow CI machine.
const CAPTCHA_WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

const PASSWORD: &str = "violet tractor harbour lantern 1987";
const NEW_PASSWORD: &str = "copper meadow whistle anchor 2031";
const FORGED_PASSWORD: &str = "forged by another site 4417";

// ----- the account journey -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_journey_in_chromium() {
    let Some(run) = Run::start("account").await else {
        return;
    };
    let app = &run.app;
    let email = "ada@example.com";
    let alice = run.browser("first profile").await;

    // The landing page, anonymous.
    alice.goto(&app.url("/")).await;
    alice
        .wait_text("h1", "Share files with your team, safely.")
        .await;
    alice.wait_for("nav a[href='/login']").await;
    alice.screenshot("landing").await;
    run.step(&[&alice], "landing page").await;

    // Register: the page's captcha script solves the proof of work in the browser.
    register(&run, &alice, email, PASSWORD, Some("register")).await;
    run.step(&[&alice], "register with the in-browser captcha")
        .await;

    // The link in the outbox verifies the address.
    let link = run.mail_link(email, "/verify/");
    alice.goto(&link).await;
    alice.wait_text("h1", "Sign in").await;
    alice
        .wait_text(".flash.ok", "Your address is verified")
        .await;
    run.step(&[&alice], "verify the address from the outbox")
        .await;

    // A private page asks for sign-in and comes back; the session cookie is what the browser
    // stores.
    open_account_signed_out(app, &alice).await;
    sign_in(&alice, email, PASSWORD).await;
    alice.assert_path("/account").await;
    alice.wait_text("h1", "Your account").await;
    alice.wait_text("main", email).await;
    alice.wait_text("main", "Two-factor sign-in is off").await;
    alice.assert_session_cookie().await;
    alice.screenshot("account").await;
    run.step(&[&alice], "sign in").await;

    // Turn on two-factor sign-in with the secret the page shows.
    alice.goto(&app.url("/account/2fa")).await;
    let secret = alice.wait_for("#totp-secret").await.text().await.unwrap();
    let mut totp = Authenticator::new(secret.trim());
    alice.fill("#code", &totp.next_code()).await;
    alice
        .click("form[action='/account/2fa'] button[type=submit]")
        .await;
    alice
        .wait_text(".flash.ok", "Two-factor sign-in is on")
        .await;
    let recovery = alice.texts("#recovery-codes li").await;
    assert_eq!(recovery.len(), 10, "ten recovery codes are shown once");
    alice.screenshot("two-factor").await;
    run.step(&[&alice], "turn on two-factor sign-in").await;

    // Sign out, and in again with a code from the authenticator.
    sign_out(app, &alice).await;
    open_account_signed_out(app, &alice).await;
    alice.fill("#email", email).await;
    alice.fill("#password", PASSWORD).await;
    alice.click("#login-form button[type=submit]").await;
    alice.wait_text("h1", "Enter your code").await;
    alice.fill("#code", &totp.next_code()).await;
    alice
        .click("form[action='/login/2fa'] button[type=submit]")
        .await;
    alice.wait_for("nav a[href='/account']").await;
    alice.assert_path("/account").await;
    alice.wait_text("main", "Two-factor sign-in is on").await;
    alice.assert_session_cookie().await;
    run.step(&[&alice], "sign out, then in again with a TOTP code")
        .await;

    // A second profile signs in as the same user, with a recovery code.
    let bob = run.browser("second profile").await;
    open_account_signed_out(app, &bob).await;
    bob.fill("#email", email).await;
    bob.fill("#password", PASSWORD).await;
    bob.click("#login-form button[type=submit]").await;
    bob.wait_text("h1", "Enter your code").await;
    bob.fill("#code", &recovery[0]).await;
    bob.click("form[action='/login/2fa'] button[type=submit]")
        .await;
    bob.wait_for("nav a[href='/account']").await;
    bob.assert_path("/account").await;
    bob.wait_text("main", email).await;
    run.step(
        &[&alice, &bob],
        "second profile signs in with a recovery code",
    )
    .await;

    // The first profile sees both sessions and revokes the other one.
    alice.goto(&app.url("/account/sessions")).await;
    alice.wait_text("h1", "Your sessions").await;
    alice
        .wait_count("tbody tr", 2, "both sessions are listed")
        .await;
    alice.wait_text("tbody", "this browser").await;
    alice.screenshot("sessions").await;
    alice.click("button[data-session-id]").await;
    alice
        .wait_text(".flash.ok", "The session was signed out.")
        .await;
    alice
        .wait_count("tbody tr", 1, "only this session is left")
        .await;
    run.step(&[&alice], "revoke the other session").await;

    // The second profile is signed out: its next page asks it to sign in.
    bob.goto(&app.url("/account")).await;
    bob.wait_text("h1", "Sign in").await;
    bob.assert_path("/login").await;
    bob.assert_not_in_page(email).await;
    run.step(&[&bob], "the revoked profile is signed out").await;
    bob.close().await;

    // Forged posts from another origin are refused with 403 and change nothing.
    let forger = Forger::start(app, PASSWORD, FORGED_PASSWORD).await;
    for (attack, what) in [
        ("password", "change the password"),
        ("logout", "sign the user out"),
    ] {
        alice.goto(&forger.url(attack)).await;
        alice.wait_text("h1", "Please try again").await;
        alice.wait_text("main", "came from another site").await;
        alice
            .assert_path(&format!("/{}", forger.target(attack)))
            .await;
        assert_eq!(
            alice.navigation_status().await,
            Some(403),
            "a cross-site form trying to {what} is refused with 403"
        );
        alice.goto(&app.url("/account")).await;
        alice.wait_text("h1", "Your account").await;
        alice.wait_text("main", email).await;
        let refused = format!(
            "{} - Failed to load resource: the server responded with a status of 403",
            app.url(&format!("/{}", forger.target(attack)))
        );
        run.step_expecting(
            &[&alice],
            &format!("a cross-site form cannot {what}"),
            &[refused],
        )
        .await;
    }
    forger.stop();

    // Change the password: the current one is still the original, so the forgery changed
    // nothing.
    alice.fill("#current_password", PASSWORD).await;
    alice.fill("#password", NEW_PASSWORD).await;
    alice
        .click("form[action='/account/password'] button[type=submit]")
        .await;
    alice.wait_text(".flash.ok", "Password changed.").await;
    alice.assert_path("/account").await;
    run.step(&[&alice], "change the password").await;

    // Sign out; Back shows no private page.
    sign_out(app, &alice).await;
    alice.back().await;
    alice.wait_text("h1", "Sign in").await;
    alice.assert_path("/login").await;
    alice.assert_not_in_page(email).await;
    alice.assert_not_in_page("Security events").await;
    run.step(&[&alice], "Back after signing out shows the sign-in page")
        .await;

    // The new password is the one that works now.
    alice.fill("#email", email).await;
    alice.fill("#password", NEW_PASSWORD).await;
    alice.click("#login-form button[type=submit]").await;
    alice.wait_text("h1", "Enter your code").await;
    run.step(&[&alice], "the new password is accepted").await;

    alice.close().await;
    run.finish().await;
}

// ----- the file journey ----------------------------------------------------------------------

/// Drop's file pages as `templates/files.html`, `templates/file.html` and `static/app.js` render
/// them: `GET/POST /files`, `/files/{id}`, `GET /search?q=`, `POST /files/{id}/share` (an address,
/// or `action=link` for a share link) and share links `/s/{token}`.
mod files_ui {
    /// The upload form on `/files`, its file input and submit button.
    pub(super) const UPLOAD_FORM: &str =
        "form[action='/files'][enctype='multipart/form-data'][data-upload]";
    pub(super) const UPLOAD_INPUT: &str = "input[type=file][name=file]";
    /// The progress bar `app.js` drives while the upload runs, and the box holding it (hidden
    /// until the upload starts).
    pub(super) const UPLOAD_PROGRESS: &str = "[data-upload-status] progress[data-upload-progress]";
    pub(super) const UPLOAD_STATUS: &str = "[data-upload-status]";
    /// A file's title on its own page, and its file name there.
    pub(super) const FILE_TITLE: &str = "main h1.file-title";
    pub(super) const FILE_NAME: &str = "main dd.file-name";
    /// A link to a file's own page in a list of files, and a row of that list.
    pub(super) const FILE_LINK: &str = "main .files-list a[href^='/files/']";
    pub(super) const FILE_ROW: &str = "main .files-list tbody tr";
    /// The search form, its query field and the heading of the results.
    pub(super) const SEARCH_INPUT: &str = "form[action='/search'] input[name=q]";
    pub(super) const SEARCH_SUBMIT: &str = "form[action='/search'] button[type=submit]";
    pub(super) const RESULTS_HEADING: &str = "main #files-heading";
    /// The comment form on a file's page, and the comments shown.
    pub(super) const COMMENT_TEXT: &str = "form[action$='/comments'] textarea[name=body]";
    pub(super) const COMMENT_SUBMIT: &str = "form[action$='/comments'] button[type=submit]";
    pub(super) const COMMENT_BODY: &str = "#comments article.comment .comment-body";
    /// Sharing with another user by address: the share form without `action=link`.
    pub(super) const SHARE_FORM: &str = "form[action$='/share']:not(:has(input[name=action]))";
    pub(super) const SHARE_EMAIL: &str =
        "form[action$='/share']:not(:has(input[name=action])) input[type=email][name=email]";
    pub(super) const SHARED_WITH: &str = "main ul.plain li";
    /// Creating a share link (the same route, `action=link`), and where the new link is shown.
    pub(super) const LINK_FORM: &str =
        "form[action$='/share']:has(input[type=hidden][name=action][value=link])";
    pub(super) const SHARE_LINK: &str = "#links input.link-url[readonly][value*='/s/']";
    /// The flash message a redirect leaves.
    pub(super) const FLASH: &str = ".flash";
}

/// `/files/` followed by 32 lower-case hex digits: a file's own page.
fn is_file_path(path: &str) -> bool {
    path.strip_prefix("/files/").is_some_and(|id| {
        id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sharing_journey_in_chromium() {
    use files_ui::*;

    let Some(run) = Run::start("files").await else {
        return;
    };
    let app = &run.app;

    let owner = ("grace@example.com", "saffron kettle orbit meadow 5512");
    let friend = ("linus@example.com", "marble canyon velvet rocket 7720");
    let alice = run.browser("owner").await;
    let bob = run.browser("friend").await;
    for (browser, (email, password)) in [(&alice, owner), (&bob, friend)] {
        register(&run, browser, email, password, None).await;
        browser.goto(&run.mail_link(email, "/verify/")).await;
        browser.wait_text("h1", "Sign in").await;
        sign_in(browser, email, password).await;
    }
    run.step(&[&alice, &bob], "two users registered and signed in")
        .await;

    // Upload a real PNG (the landing page as this browser renders it). The progress bar is
    // there, hidden, before the upload; app.js shows it, sends the form with XMLHttpRequest and
    // opens the new file's page once the server answers.
    alice.goto(&app.url("/")).await;
    alice.wait_for("h1").await;
    let upload = run.screenshots.join("upload-report.png");
    let png = alice.client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a real PNG");
    std::fs::write(&upload, &png).unwrap();
    let file_name = "upload-report.png";
    alice.goto(&app.url("/files")).await;
    alice.wait_text("main h1", "Files").await;
    let bar = alice
        .wait_for(&format!("{UPLOAD_FORM} {UPLOAD_PROGRESS}"))
        .await;
    assert_eq!(
        bar.attr("max").await.unwrap().as_deref(),
        Some("100"),
        "the progress bar runs to 100"
    );
    let status = alice
        .wait_for(&format!("{UPLOAD_FORM} {UPLOAD_STATUS}"))
        .await;
    assert!(
        !status.is_displayed().await.unwrap(),
        "the progress is hidden until an upload starts"
    );
    let input = alice
        .wait_for(&format!("{UPLOAD_FORM} {UPLOAD_INPUT}"))
        .await;
    input
        .send_keys(upload.canonicalize().unwrap().to_str().unwrap())
        .await
        .unwrap();
    alice
        .click(&format!("{UPLOAD_FORM} button[type=submit]"))
        .await;
    let file_url = alice
        .wait_until("the upload to open the new file's page", || async {
            let url = alice.client.current_url().await.ok()?;
            is_file_path(url.path()).then_some(url)
        })
        .await;
    alice.wait_text(FILE_TITLE, file_name).await;
    alice.wait_text(FILE_NAME, file_name).await;
    alice.wait_text("main", "image/png").await;
    alice
        .wait_text("main .hash", &format!("{:x}", Sha256::digest(&png)))
        .await;
    alice.screenshot("file").await;
    run.step(&[&alice], "upload a file with progress").await;

    // Search finds it, and the result opens the file's page.
    alice.goto(&app.url("/files")).await;
    alice.fill(SEARCH_INPUT, "upload-report").await;
    alice.click(SEARCH_SUBMIT).await;
    alice
        .wait_text(RESULTS_HEADING, "Files matching “upload-report”")
        .await;
    alice.assert_path("/search").await;
    alice.wait_count(FILE_ROW, 1, "one file matches").await;
    alice.wait_text(FILE_ROW, file_name).await;
    alice.click(FILE_LINK).await;
    alice.wait_text(FILE_TITLE, file_name).await;
    alice.assert_path(file_url.path()).await;
    run.step(&[&alice], "search for the file").await;

    // A comment with markup is shown as the text that was typed.
    let markup = "<b>bold</b> <img src=x onerror=alert(1)> <script>alert(2)</script>";
    alice.fill(COMMENT_TEXT, markup).await;
    alice.click(COMMENT_SUBMIT).await;
    alice.wait_text(COMMENT_BODY, markup).await;
    alice.assert_path(file_url.path()).await;
    assert!(
        alice
            .client
            .find_all(Locator::Css(
                "main b, main img, main script, #comments script"
            ))
            .await
            .unwrap()
            .is_empty(),
        "markup in a comment must not become elements"
    );
    run.step(&[&alice], "comment with markup renders as text")
        .await;

    // Share with the second user, who then sees it in their list, marked as shared.
    alice.fill(SHARE_EMAIL, friend.0).await;
    alice
        .click(&format!("{SHARE_FORM} button[type=submit]"))
        .await;
    alice
        .wait_text(FLASH, &format!("Shared with {}", friend.0))
        .await;
    alice.wait_text(SHARED_WITH, friend.0).await;
    alice.assert_path(file_url.path()).await;
    bob.goto(&app.url("/files")).await;
    bob.wait_count(FILE_ROW, 1, "the shared file is listed")
        .await;
    bob.wait_text(FILE_ROW, file_name).await;
    bob.wait_text(FILE_ROW, owner.0).await;
    bob.wait_text(&format!("{FILE_ROW} .badge"), "shared").await;
    bob.click(FILE_LINK).await;
    bob.wait_text(FILE_TITLE, file_name).await;
    bob.assert_path(file_url.path()).await;
    bob.wait_text(COMMENT_BODY, markup).await;
    assert!(
        bob.client
            .find_all(Locator::Css(&format!("{SHARE_FORM}, {LINK_FORM}")))
            .await
            .unwrap()
            .is_empty(),
        "only the owner shares the file"
    );
    run.step(&[&alice, &bob], "share with a second user").await;

    // A share link works for someone who is not signed in: a third, empty profile is sent to
    // sign in on the file's page, yet the link itself downloads the file, as an attachment,
    // with no cookie at all.
    alice
        .click(&format!("{LINK_FORM} button[type=submit]"))
        .await;
    alice.wait_text(FLASH, "The share link is ready").await;
    alice.assert_path(file_url.path()).await;
    let link = alice.wait_for(SHARE_LINK).await;
    let href = link.prop("value").await.unwrap().unwrap_or_default();
    let href = file_url.join(&href).unwrap();
    assert_eq!(
        href.origin(),
        file_url.origin(),
        "the link points at Drop itself: {href}"
    );
    assert!(href.path().starts_with("/s/"), "a share link: {href}");
    let stranger = run.browser("stranger").await;
    stranger.goto(file_url.as_str()).await;
    stranger.wait_text("h1", "Sign in").await;
    stranger.assert_not_in_page(file_name).await;
    let response = app.raw_client().get(href.as_str()).send().await.unwrap();
    assert_eq!(response.status(), 200, "the share link downloads: {href}");
    let disposition = response
        .headers()
        .get(reqwest::header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        disposition.starts_with("attachment"),
        "the share link serves an attachment: {disposition:?}"
    );
    assert!(
        response
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .is_none(),
        "a share link sets no cookie"
    );
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        png.as_slice(),
        "the share link serves the uploaded bytes"
    );
    alice.goto(file_url.as_str()).await;
    alice
        .wait_text("#links tbody tr td:nth-child(3)", "1")
        .await;
    run.step(&[&alice, &bob, &stranger], "create and use a share link")
        .await;

    for b in [alice, bob, stranger] {
        b.close().await;
    }
    run.finish().await;
}

// ----- journey steps shared by both tests ----------------------------------------------------

/// Registers through the form once the page's script has solved the captcha.
async fn register(
    run: &Run,
    browser: &Browser,
    email: &str,
    password: &str,
    screenshot: Option<&str>,
) {
    browser.goto(&run.app.url("/register")).await;
    browser.wait_text("h1", "Create an account").await;
    browser.fill("#email", email).await;
    browser.fill("#password", password).await;
    browser
        .wait_until_for(
            CAPTCHA_WAIT,
            "the captcha status says Verified and the hidden field is filled",
            || async {
                let status = browser
                    .client
                    .find(Locator::Css("[data-captcha-state='verified']"))
                    .await
                    .ok()?;
                let text = status.text().await.ok()?;
                let input = browser
                    .client
                    .find(Locator::Css("#register-form input[name=captcha]"))
                    .await
                    .ok()?;
                let value = input.prop("value").await.ok()??;
                (text.contains("Verified") && !value.is_empty()).then_some(())
            },
        )
        .await;
    if let Some(name) = screenshot {
        browser.screenshot(name).await;
    }
    browser.click("#register-form button[type=submit]").await;
    browser.wait_text("h1", "Check your inbox").await;
}

async fn sign_in(browser: &Browser, email: &str, password: &str) {
    browser.wait_for("#login-form").await;
    browser.fill("#email", email).await;
    browser.fill("#password", password).await;
    browser.click("#login-form button[type=submit]").await;
    browser.wait_for("nav a[href='/account']").await;
}

/// Opens `/account` without a session: the app answers with its sign-in form, which will come
/// back to the account page.
async fn open_account_signed_out(app: &TestApp, browser: &Browser) {
    browser.goto(&app.url("/account")).await;
    browser.wait_text("h1", "Sign in").await;
    let url = browser.client.current_url().await.unwrap();
    assert_eq!(
        (url.path(), url.query()),
        ("/login", Some("next=%2Faccount")),
        "{}: a private page sends to the sign-in form",
        browser.name
    );
}

async fn sign_out(app: &TestApp, browser: &Browser) {
    browser
        .click("nav form[action='/logout'] button[type=submit]")
        .await;
    browser.wait_for("nav a[href='/login']").await;
    browser
        .wait_text("h1", "Share files with your team, safely.")
        .await;
    let cookies = browser.client.get_all_cookies().await.unwrap();
    assert!(
        cookies.iter().all(|c| c.name() != "__Host-palisade"),
        "{}: the session cookie is gone after signing out of {}",
        browser.name,
        app.base
    );
}

/// An authenticator app: codes for the current time step, never reusing a step (the app
/// refuses a replayed step, and a fast test signs in twice within one).
struct Authenticator {
    secret: String,
    last_step: Option<u64>,
}

impl Authenticator {
    fn new(secret: &str) -> Self {
        Self {
            secret: secret.to_owned(),
            last_step: None,
        }
    }

    /// The code of the current step, or of the next one (which the app accepts as clock
    /// drift) when the current one was used already.
    fn next_code(&mut self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let step = match self.last_step {
            Some(last) if last >= now / 30 => last + 1,
            _ => now / 30,
        };
        assert!(
            step <= now / 30 + 1,
            "no unused TOTP step is acceptable now"
        );
        self.last_step = Some(step);
        palisade::auth::totp::code_at(&self.secret, step * 30).unwrap()
    }
}

// ----- the run: app, chromedriver, witnesses -------------------------------------------------

/// One test's app, chromedriver and collected problems. Dropping it kills chromedriver and
/// every browser it started, even when a step panicked.
struct Run {
    app: TestApp,
    driver: Driver,
    spki: String,
    screenshots: PathBuf,
    label: &'static str,
}

impl Run {
    /// `None` (after printing why) when Chromium or chromedriver is not installed.
    async fn start(label: &'static str) -> Option<Run> {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            if !Path::new(tool).exists() {
                // CI installs both and sets this, so a failed install cannot pass as a skip.
                assert!(
                    std::env::var_os("PALISADE_REQUIRE_BROWSER").is_none(),
                    "{tool} is missing and PALISADE_REQUIRE_BROWSER is set"
                );
                println!(
                    "skipped: {tool} is missing; install Debian's chromium and chromium-driver \
                     to run the browser tests"
                );
                return None;
            }
        }
        server_events();
        let app = TestApp::start(Settings {
            captcha_difficulty: Some(5000),
            ..Settings::default()
        })
        .await;
        let spki = spki_sha256(&app.dir.path().join("tls/dev-cert.pem"));
        let driver = Driver::start().await;
        let screenshots = match std::env::var_os("PALISADE_SCREENSHOTS") {
            Some(dir) => PathBuf::from(dir),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots"),
        };
        std::fs::create_dir_all(&screenshots).unwrap();
        Some(Run {
            app,
            driver,
            spki,
            screenshots,
            label,
        })
    }

    /// A new browser with its own, empty profile.
    async fn browser(&self, name: &'static str) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-quic".to_owned(),
            "--password-store=basic".to_owned(),
            "--window-size=1200,800".to_owned(),
            // CSP reports within a second instead of batched once a minute.
            "--short-reporting-delay".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
            // Trust the development certificate only, by its key; nothing else is relaxed.
            format!("--ignore-certificate-errors-spki-list={}", self.spki),
            "--host-resolver-rules=MAP localhost 127.0.0.1".to_owned(),
        ];
        let caps: Capabilities = serde_json::from_value(json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
            "goog:loggingPrefs": { "browser": "ALL" },
        }))
        .unwrap();
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.driver.url)
            .await
            .unwrap_or_else(|e| panic!("{name}: chromedriver did not start Chromium: {e}"));
        Browser {
            client,
            name,
            label: self.label,
            screenshots: self.screenshots.clone(),
            _profile: profile,
        }
    }

    /// Ends a step: no browser logged an error or a CSP violation, and the server received no
    /// CSP report and logged no error.
    async fn step(&self, browsers: &[&Browser], step: &str) {
        self.step_expecting(browsers, step, &[]).await;
    }

    /// Like [`Run::step`], where each of `expected` must have been logged exactly once, as the
    /// start of a console message (Chromium logs a refused navigation's status as an error).
    async fn step_expecting(&self, browsers: &[&Browser], step: &str, expected: &[String]) {
        let mut problems = Vec::new();
        let mut seen = vec![0; expected.len()];
        for b in browsers {
            for entry in b.console().await {
                if let Some(i) = expected.iter().position(|e| entry.message.starts_with(e)) {
                    seen[i] += 1;
                } else if entry.is_problem() {
                    problems.push(format!(
                        "{} console {}: {}",
                        b.name, entry.level, entry.message
                    ));
                }
            }
        }
        for (e, n) in expected.iter().zip(seen) {
            if n != 1 {
                problems.push(format!("expected once in the console, seen {n} times: {e}"));
            }
        }
        problems.extend(server_problems(self.app.https.port()));
        assert!(
            problems.is_empty(),
            "step `{step}`: {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
        println!("ok: {step}");
    }

    /// The last link in the outbox mail to `to` whose path starts with `path`.
    fn mail_link(&self, to: &str, path: &str) -> String {
        let outbox = self.app.dir.path().join("outbox");
        let prefix = format!("{}{path}", self.app.base);
        let mut found: Option<(SystemTime, String)> = None;
        for entry in std::fs::read_dir(&outbox).unwrap() {
            let file = entry.unwrap().path();
            if file.extension().is_none_or(|e| e != "eml") {
                continue;
            }
            let modified = file.metadata().unwrap().modified().unwrap();
            let text = decode_eml(&std::fs::read_to_string(&file).unwrap());
            if !text.to_lowercase().contains(&format!("to: {to}")) {
                continue;
            }
            for word in text.split_whitespace() {
                if word.starts_with(&prefix) && found.as_ref().is_none_or(|(t, _)| *t <= modified) {
                    found = Some((modified, word.to_owned()));
                }
            }
        }
        found
            .unwrap_or_else(|| panic!("no mail to {to} with a {prefix}… link in {outbox:?}"))
            .1
    }

    /// The last check: CSP reports can still be on their way, so wait briefly for stragglers.
    async fn finish(self) {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let problems = server_problems(self.app.https.port());
        assert!(
            problems.is_empty(),
            "after the journey: {}",
            problems.join("\n  ")
        );
        self.app.stop().await;
    }
}

/// chromedriver on a free loopback port, in its own process group so that killing the group
/// also ends the browsers it started.
struct Driver {
    child: Child,
    url: String,
    _log_dir: tempfile::TempDir,
}

impl Driver {
    async fn start() -> Driver {
        let log_dir = tempfile::tempdir().unwrap();
        let log = log_dir.path().join("chromedriver.log");
        // No --allowed-ips: chromedriver then listens on loopback only.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = Command::new(CHROMEDRIVER);
        command
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().expect("starting chromedriver");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _log_dir: log_dir,
        };
        let status = format!("{}/status", driver.url);
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(resp) = client.get(&status).send().await
                && let Ok(body) = resp.json::<Json>().await
                && body["value"]["ready"] == json!(true)
            {
                return driver;
            }
            assert!(
                started.elapsed() < WAIT,
                "chromedriver did not answer on {status} within {WAIT:?}; its log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group holds chromedriver and the browsers it launched; its id is chromedriver's.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ----- one browser profile -------------------------------------------------------------------

struct Browser {
    client: Client,
    name: &'static str,
    label: &'static str,
    screenshots: PathBuf,
    _profile: tempfile::TempDir,
}

/// chromedriver's log endpoint; reading it empties the browser's log buffer.
#[derive(Debug)]
struct ReadBrowserLog;

impl WebDriverCompatibleCommand for ReadBrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

#[derive(Debug)]
struct LogEntry {
    level: String,
    message: String,
}

impl LogEntry {
    /// An error of any kind, or anything about the Content Security Policy.
    fn is_problem(&self) -> bool {
        self.level == "SEVERE" || self.message.contains("Content Security Policy")
    }
}

impl Browser {
    async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("{}: opening {url}: {e}", self.name));
    }

    async fn back(&self) {
        self.client.back().await.unwrap();
    }

    /// Polls `check` until it gives a value, failing with `what`, the page and a screenshot.
    async fn wait_until_for<T, F, Fut>(&self, limit: Duration, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let started = Instant::now();
        loop {
            if let Some(value) = check().await {
                return value;
            }
            if started.elapsed() > limit {
                let url = self.client.current_url().await.map(|u| u.to_string());
                let body = self.body_text().await;
                let shot = self.screenshots.join(format!(
                    "failed-{}-{}.png",
                    self.label,
                    self.name.replace(' ', "-")
                ));
                if let Ok(png) = self.client.screenshot().await {
                    let _ = std::fs::write(&shot, png);
                }
                let console: Vec<String> = self
                    .console()
                    .await
                    .into_iter()
                    .map(|e| format!("{} {}", e.level, e.message))
                    .collect();
                panic!(
                    "{}: waited {limit:?} for {what}\n  at {url:?}\n  page: {}\n  console: {console:?}\n  screenshot: {}",
                    self.name,
                    body.chars().take(600).collect::<String>(),
                    shot.display()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn wait_until<T, F, Fut>(&self, what: &str, check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        self.wait_until_for(WAIT, what, check).await
    }

    async fn wait_for(&self, css: &str) -> Element {
        self.wait_until(&format!("an element `{css}`"), || async {
            self.client.find(Locator::Css(css)).await.ok()
        })
        .await
    }

    /// Waits until an element matching `css` shows text containing `needle`.
    async fn wait_text(&self, css: &str, needle: &str) {
        self.wait_until(&format!("`{css}` to show {needle:?}"), || async {
            for element in self.client.find_all(Locator::Css(css)).await.ok()? {
                if element.text().await.ok()?.contains(needle) {
                    return Some(());
                }
            }
            None
        })
        .await;
    }

    async fn wait_count(&self, css: &str, count: usize, what: &str) {
        self.wait_until(&format!("{what} ({count} × `{css}`)"), || async {
            let found = self.client.find_all(Locator::Css(css)).await.ok()?;
            (found.len() == count).then_some(())
        })
        .await;
    }

    async fn fill(&self, css: &str, value: &str) {
        let field = self.wait_for(css).await;
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    async fn click(&self, css: &str) {
        let button = self.wait_for(css).await;
        button
            .click()
            .await
            .unwrap_or_else(|e| panic!("{}: clicking `{css}`: {e}", self.name));
    }

    async fn texts(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for element in self.client.find_all(Locator::Css(css)).await.unwrap() {
            out.push(element.text().await.unwrap().trim().to_owned());
        }
        out
    }

    async fn body_text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    async fn assert_path(&self, path: &str) {
        let url = self.client.current_url().await.unwrap();
        assert_eq!(url.path(), path, "{}: at {url}", self.name);
    }

    async fn assert_not_in_page(&self, text: &str) {
        let source = self.client.source().await.unwrap();
        assert!(
            !source.contains(text),
            "{}: the page must not show {text:?}",
            self.name
        );
    }

    /// The HTTP status of the document now shown, as the browser received it.
    async fn navigation_status(&self) -> Option<u64> {
        self.client
            .execute(
                "const n = performance.getEntriesByType('navigation')[0]; \
                 return n ? n.responseStatus : null;",
                vec![],
            )
            .await
            .unwrap()
            .as_u64()
    }

    /// The session cookie as this browser stores it.
    async fn assert_session_cookie(&self) {
        let cookies = self.client.get_all_cookies().await.unwrap();
        let session = cookies
            .iter()
            .find(|c| c.name() == "__Host-palisade")
            .unwrap_or_else(|| panic!("{}: no __Host-palisade cookie in {cookies:?}", self.name));
        assert_eq!(session.secure(), Some(true), "Secure: {session:?}");
        assert_eq!(session.http_only(), Some(true), "HttpOnly: {session:?}");
        assert_eq!(
            session.same_site().map(|s| s.to_string()).as_deref(),
            Some("Lax"),
            "SameSite: {session:?}"
        );
        assert_eq!(session.path(), Some("/"), "Path: {session:?}");
        assert!(
            session.domain().is_none_or(|d| !d.starts_with('.')),
            "a host-only cookie: {session:?}"
        );
        assert_eq!(
            cookies.len(),
            1,
            "the session cookie is the only cookie: {cookies:?}"
        );
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(self.screenshots.join(format!("{name}.png")), png).unwrap();
    }

    /// Empties and returns the browser's log.
    async fn console(&self) -> Vec<LogEntry> {
        let Ok(Json::Array(entries)) = self.client.issue_cmd(ReadBrowserLog).await else {
            panic!(
                "{}: chromedriver's /se/log endpoint did not answer",
                self.name
            );
        };
        entries
            .iter()
            .map(|e| LogEntry {
                level: e["level"].as_str().unwrap_or_default().to_owned(),
                message: e["message"].as_str().unwrap_or_default().to_owned(),
            })
            .collect()
    }

    async fn close(self) {
        self.client.close().await.unwrap();
    }
}

// ----- the cross-site forger -----------------------------------------------------------------

/// A page on another origin (plain HTTP on another loopback port) whose form posts itself to
/// the app as soon as it loads, as a malicious site would.
struct Forger {
    base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Forger {
    async fn start(app: &TestApp, current: &str, forged: &str) -> Forger {
        let page = |action: String, fields: Vec<(&'static str, String)>| {
            let inputs: String = fields
                .iter()
                .map(|(name, value)| format!("<input type=hidden name={name} value=\"{value}\">"))
                .collect();
            format!(
                "<!doctype html><title>Win a prize</title><form method=post action=\"{action}\">\
                 {inputs}<button>Claim</button></form>\
                 <script>document.forms[0].submit()</script>"
            )
        };
        let password = page(
            app.url("/account/password"),
            vec![
                ("current_password", current.to_owned()),
                ("password", forged.to_owned()),
            ],
        );
        let logout = page(app.url("/logout"), vec![]);
        let router = axum::Router::new()
            .route(
                "/password",
                axum::routing::get(move || async move { axum::response::Html(password) }),
            )
            .route(
                "/logout",
                axum::routing::get(move || async move { axum::response::Html(logout) }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Forger { base, task }
    }

    fn url(&self, attack: &str) -> String {
        format!("{}/{attack}", self.base)
    }

    /// The app path each attack posts to.
    fn target(&self, attack: &str) -> &'static str {
        match attack {
            "password" => "account/password",
            _ => "logout",
        }
    }

    fn stop(self) {
        self.task.abort();
    }
}

// ----- what the server logged ----------------------------------------------------------------

#[derive(Default)]
struct ServerEvents {
    /// The `document` of each CSP report the app logged.
    csp_reports: Vec<String>,
    /// Every ERROR event, as text.
    errors: Vec<String>,
}

fn server_events() -> &'static Arc<Mutex<ServerEvents>> {
    static EVENTS: OnceLock<Arc<Mutex<ServerEvents>>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt as _;
        let events = Arc::new(Mutex::new(ServerEvents::default()));
        let subscriber = tracing_subscriber::registry().with(EventWitness(events.clone()));
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other tracing subscriber in this test binary");
        events
    })
}

/// CSP reports for documents of the app on `port`, and server errors (from any app of this
/// binary: they run in parallel, and an error in either is a failure), taken once.
fn server_problems(port: u16) -> Vec<String> {
    let mut events = server_events().lock().unwrap();
    let origin = format!("https://localhost:{port}");
    let mut problems: Vec<String> = events
        .csp_reports
        .iter()
        .filter(|doc| doc.starts_with(&origin))
        .map(|doc| format!("server received a CSP violation report for {doc}"))
        .collect();
    events.csp_reports.retain(|doc| !doc.starts_with(&origin));
    problems.extend(
        events
            .errors
            .drain(..)
            .map(|e| format!("server error: {e}")),
    );
    problems
}

/// A tracing layer that keeps what the tests must see: the app's CSP report warnings and its
/// errors.
struct EventWitness(Arc<Mutex<ServerEvents>>);

#[derive(Default)]
struct Fields(Vec<(String, String)>);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for EventWitness {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let level = *event.metadata().level();
        if level > tracing::Level::WARN {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let get = |name: &str| {
            fields
                .0
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let mut events = self.0.lock().unwrap();
        if get("message") == "content security policy violation reported" {
            events.csp_reports.push(get("document"));
        } else if level == tracing::Level::ERROR {
            let text: Vec<String> = fields.0.iter().map(|(n, v)| format!("{n}={v}")).collect();
            events
                .errors
                .push(format!("{} {}", event.metadata().target(), text.join(" ")));
        }
    }
}

// ----- certificates and mail -----------------------------------------------------------------

/// The base64 SHA-256 of the certificate's SubjectPublicKeyInfo, as Chromium's
/// `--ignore-certificate-errors-spki-list` wants it.
fn spki_sha256(pem: &Path) -> String {
    let cert = CertificateDer::from_pem_file(pem).unwrap();
    let spki = subject_public_key_info(&cert).expect("a well-formed X.509 certificate");
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(spki))
}

/// The DER of `tbsCertificate.subjectPublicKeyInfo` (RFC 5280 §4.1): the seventh element of the
/// TBS sequence when the explicit `[0]` version is present, the sixth otherwise.
fn subject_public_key_info(cert: &[u8]) -> Option<&[u8]> {
    let (_, certificate) = der_element(cert)?;
    let (_, tbs) = der_element(certificate)?;
    let mut rest = tbs;
    let mut index = 0;
    loop {
        let (whole, _) = der_element(rest)?;
        let tag = rest[0];
        if !(index == 0 && tag == 0xa0) {
            // serial, signature, issuer, validity, subject, then the key.
            if index == 5 {
                return (tag == 0x30).then_some(whole);
            }
            index += 1;
        }
        rest = &rest[whole.len()..];
    }
}

/// Splits one DER element off the front of `input`: (the whole element, its contents).
fn der_element(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let first = *input.get(1)?;
    let (header, len) = if first < 0x80 {
        (2, usize::from(first))
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = input.get(2..2 + n)?;
        (
            2 + n,
            bytes.iter().fold(0, |acc, b| (acc << 8) | usize::from(*b)),
        )
    };
    let whole = input.get(..header + len)?;
    Some((whole, &whole[header..]))
}

/// An .eml file's headers and its text body, quoted-printable or base64 decoded.
fn decode_eml(raw: &str) -> String {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let lower = head.to_lowercase();
    let body = if lower.contains("content-transfer-encoding: quoted-printable") {
        let joined = body.replace("=\r\n", "").replace("=\n", "");
        let mut out = Vec::new();
        let bytes = joined.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'='
                && let Some(hex) = joined.get(i + 1..i + 3)
                && let Ok(byte) = u8::from_str_radix(hex, 16)
            {
                out.push(byte);
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    } else if lower.contains("content-transfer-encoding: base64") {
        let compact: String = body.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        body.to_owned()
    };
    format!("{head}\r\n\r\n{body}")
}
