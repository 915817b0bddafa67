//! The templates and static files compiled into the binary.

use palisade::assets::StaticAssets;

/// The static files, fingerprinted.
pub(crate) fn static_assets() -> StaticAssets {
    StaticAssets::new([
        ("app.css", &include_bytes!("../static/app.css")[..]),
        ("app.js", &include_bytes!("../static/app.js")[..]),
        ("favicon.svg", &include_bytes!("../static/favicon.svg")[..]),
        ("captcha.js", palisade::auth::captcha::CAPTCHA_JS.as_bytes()),
        (
            "captcha-worker.js",
            palisade::auth::captcha::CAPTCHA_WORKER_JS.as_bytes(),
        ),
    ])
}

/// Every template, by name.
pub(crate) fn templates() -> Vec<(&'static str, &'static str)> {
    macro_rules! t {
        ($($name:literal),* $(,)?) => {
            vec![$(($name, include_str!(concat!("../templates/", $name)))),*]
        };
    }
    t![
        "base.html",
        "index.html",
        "error.html",
        "register.html",
        "message.html",
        "login.html",
        "login_2fa.html",
        "forgot.html",
        "reset.html",
        "account.html",
        "sessions.html",
        "two_factor.html",
        "admin.html",
        "files.html",
        "file.html",
    ]
}
