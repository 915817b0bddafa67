//! Passive rules: each test plants one flaw in the otherwise clean app and proves the audit,
//! without `--active`, reports the rule for it.

mod common;

use common::{Flaws, SIGNED_IN};

/// `planted!(test_name, flaw_field, [extra flags], [expected rule ids])`
macro_rules! planted {
    ($name:ident, $flaw:ident, [$($flag:expr),*], [$($rule:literal),+]) => {
        #[tokio::test]
        async fn $name() {
            let flaws = Flaws { $flaw: true, ..Flaws::default() };
            let fixture = common::start(flaws).await;
            let flags: Vec<&str> = vec![$($flag),*];
            let report = common::audit(&fixture, &flags).await;
            $(common::assert_found(&report, $rule);)+
        }
    };
}

planted!(missing_hsts_is_found, missing_hsts, [], ["PAL-HDR-001"]);
planted!(short_hsts_is_found, short_hsts, [], ["PAL-HDR-002"]);
planted!(duplicate_hsts_is_found, duplicate_hsts, [], ["PAL-HDR-003"]);
planted!(
    preload_without_subdomains_is_found,
    preload_without_subdomains,
    [],
    ["PAL-HDR-004"]
);
planted!(missing_csp_is_found, no_csp, [], ["PAL-XSS-010"]);
planted!(
    weak_csp_is_found,
    weak_csp,
    [],
    [
        "PAL-XSS-011",
        "PAL-XSS-012",
        "PAL-XSS-013",
        "PAL-XSS-014",
        "PAL-XSS-015"
    ]
);
planted!(
    missing_framing_protection_is_found,
    no_framing_protection,
    [],
    ["PAL-HDR-010"]
);
planted!(
    invalid_x_frame_options_is_found,
    xfo_allow_from,
    [],
    ["PAL-HDR-011", "PAL-HDR-010"]
);
planted!(
    missing_misc_headers_are_found,
    missing_misc_headers,
    [],
    [
        "PAL-HDR-012",
        "PAL-HDR-013",
        "PAL-HDR-014",
        "PAL-HDR-015",
        "PAL-HDR-016"
    ]
);
planted!(mixed_content_is_found, mixed_content, [], ["PAL-TLS-020"]);
planted!(
    weak_cookie_flags_are_found,
    cookie_flags,
    [],
    [
        "PAL-CKE-001",
        "PAL-CKE-002",
        "PAL-CKE-003",
        "PAL-CKE-004",
        "PAL-CKE-005",
        "PAL-CKE-006",
        "PAL-CKE-008"
    ]
);
planted!(
    cookie_on_cacheable_response_is_found,
    cacheable_cookie,
    [],
    ["PAL-CKE-007"]
);
planted!(
    flask_cookie_with_guide_key_is_found,
    flask_cookie,
    [],
    ["PAL-KEY-001", "PAL-KEY-002"]
);
planted!(werkzeug_debugger_is_found, debugger, [], ["PAL-DIS-003"]);
planted!(
    django_debug_page_is_found,
    django_debug,
    [],
    ["PAL-DIS-004"]
);
planted!(
    server_version_is_found,
    server_version,
    [],
    ["PAL-DIS-001", "PAL-DIS-002"]
);
planted!(
    form_without_csrf_token_is_found,
    form_without_token,
    [],
    ["PAL-CSRF-001"]
);
planted!(
    personal_page_without_no_store_is_found,
    personal_cacheable,
    [SIGNED_IN[0], SIGNED_IN[1], SIGNED_IN[2], SIGNED_IN[3]],
    ["PAL-HDR-020"]
);
planted!(
    session_not_rotated_at_sign_in_is_found,
    no_rotation,
    [SIGNED_IN[0], SIGNED_IN[1], SIGNED_IN[2], SIGNED_IN[3]],
    ["PAL-SES-002"]
);

#[tokio::test]
async fn exposed_files_are_found_and_catch_all_pages_are_not() {
    let fixture = common::start(Flaws {
        exposed_files: true,
        ..Flaws::default()
    })
    .await;
    let report = common::audit(&fixture, &[]).await;
    for rule in ["PAL-DIS-010", "PAL-DIS-011", "PAL-DIS-012", "PAL-DIS-013"] {
        common::assert_found(&report, rule);
    }
    // The app answers 200 to every other path: content checks keep those out of the report.
    for path in ["/dump.sql", "/.env.local", "/db.sqlite3", "/.git/HEAD"] {
        assert!(
            !report.findings.iter().any(|f| f.url.ends_with(path)),
            "{path} reported"
        );
    }
    let git = report
        .findings
        .iter()
        .find(|f| f.rule == "PAL-DIS-010")
        .unwrap();
    assert!(git.evidence.response.contains("[core]"));
}

#[tokio::test]
async fn the_flask_finding_names_the_key_and_masks_the_cookie() {
    let fixture = common::start(Flaws {
        flask_cookie: true,
        ..Flaws::default()
    })
    .await;
    let report = common::audit(&fixture, &[]).await;
    let finding = report
        .findings
        .iter()
        .find(|f| f.rule == "PAL-KEY-001")
        .unwrap();
    assert_eq!(finding.severity, palisade_audit::Severity::Critical);
    assert!(
        finding.detail.contains("\"top-secret!\""),
        "{}",
        finding.detail
    );
    assert!(finding.detail.contains("guide"), "{}", finding.detail);
    let value = common::app::flask_cookie(b"top-secret!", r#"{"cart":[1,2]}"#);
    let json = report.render(palisade_audit::Format::Json);
    assert!(
        !json.contains(&value),
        "the cookie value leaked into the report"
    );
    assert!(
        finding
            .evidence
            .response
            .contains("__Host-session=[masked:")
    );
}

#[tokio::test]
async fn plain_http_and_its_password_form_are_found() {
    let fixture = common::start_plain(Flaws::default()).await;
    let report = common::audit(&fixture, &[]).await;
    common::assert_found(&report, "PAL-TLS-001");
    common::assert_found(&report, "PAL-ACC-001");
    // HSTS is only judged on HTTPS responses.
    common::assert_not_found(&report, "PAL-HDR-001");
}

#[tokio::test]
async fn a_weak_secret_key_in_a_given_cookie_is_found() {
    let fixture = common::start(Flaws::default()).await;
    let cookie = format!(
        "session={}",
        common::app::flask_cookie(b"dev", r#"{"user_id":1}"#)
    );
    let report = common::audit(&fixture, &["--cookie", &cookie]).await;
    let finding = report
        .findings
        .iter()
        .find(|f| f.rule == "PAL-KEY-001")
        .expect("found");
    assert!(finding.detail.contains("\"dev\""));
}
