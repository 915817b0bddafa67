//! Active probes: each test plants one flaw in the otherwise clean app and proves that an
//! `--active` audit reports the rule for it.

mod common;

use common::{Flaws, HttpListener, SIGNED_IN, Tls};

macro_rules! planted {
    ($name:ident, $flaw:ident, [$($rule:literal),+]) => {
        #[tokio::test]
        async fn $name() {
            let flaws = Flaws { $flaw: true, ..Flaws::default() };
            let fixture = common::start(flaws).await;
            let mut flags = vec!["--active"];
            flags.extend(SIGNED_IN);
            let report = common::audit(&fixture, &flags).await;
            $(common::assert_found(&report, $rule);)+
        }
    };
}

planted!(reflected_xss_in_html_is_found, xss_html, ["PAL-XSS-001"]);
planted!(
    reflected_xss_in_an_attribute_is_found,
    xss_attr,
    ["PAL-XSS-002"]
);
planted!(
    reflected_xss_in_a_script_is_found,
    xss_script,
    ["PAL-XSS-003"]
);
planted!(sql_error_leak_is_found, sql_error, ["PAL-SQL-001"]);
planted!(boolean_sql_injection_is_found, sql_boolean, ["PAL-SQL-002"]);
planted!(
    csrf_not_enforced_is_found,
    csrf_not_enforced,
    ["PAL-CSRF-002"]
);
planted!(
    csrf_skipped_for_null_origin_is_found,
    csrf_null_origin,
    ["PAL-CSRF-004"]
);
planted!(
    csrf_without_origin_check_is_found,
    csrf_token_only,
    ["PAL-CSRF-003"]
);
planted!(
    open_redirect_at_sign_in_is_found,
    open_redirect,
    ["PAL-ACC-002"]
);
planted!(
    session_valid_after_sign_out_is_found,
    session_after_logout,
    ["PAL-SES-001"]
);
planted!(
    upload_served_inline_is_found,
    upload_inline,
    ["PAL-UPL-002"]
);
planted!(
    upload_of_active_content_is_found,
    upload_stored_safely,
    ["PAL-UPL-001"]
);

#[tokio::test]
async fn the_sql_error_finding_quotes_the_database_message() {
    let fixture = common::start(Flaws {
        sql_error: true,
        ..Flaws::default()
    })
    .await;
    let report = common::audit(&fixture, &["--active"]).await;
    let finding = report
        .findings
        .iter()
        .find(|f| f.rule == "PAL-SQL-001")
        .unwrap();
    assert!(finding.detail.contains("SQLite"), "{}", finding.detail);
    assert!(
        finding
            .evidence
            .response
            .contains("sqlite3.OperationalError")
    );
    assert!(
        finding.evidence.request.starts_with("GET /items?id=1%27"),
        "{}",
        finding.evidence.request
    );
}

#[tokio::test]
async fn destructive_forms_are_not_replayed() {
    let fixture = common::start(Flaws {
        csrf_not_enforced: true,
        ..Flaws::default()
    })
    .await;
    let mut flags = vec!["--active"];
    flags.extend(SIGNED_IN);
    let report = common::audit(&fixture, &flags).await;
    assert!(
        report.notes.iter().any(|n| n.contains("POST /logout")),
        "{:?}",
        report.notes
    );
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.rule == "PAL-CSRF-002" && f.detail.contains("/logout"))
    );
}

#[tokio::test]
async fn tls_1_2_only_is_reported_as_missing_tls_1_3() {
    let fixture = common::start_with(
        Flaws::default(),
        Tls::Tls12Only,
        HttpListener::RedirectToConfiguredHost,
    )
    .await;
    let report = common::audit(&fixture, &["--active"]).await;
    common::assert_found(&report, "PAL-TLS-011");
    common::assert_not_found(&report, "PAL-TLS-010");
    common::assert_not_found(&report, "PAL-TLS-012");
}

#[tokio::test]
async fn http_without_redirect_is_found() {
    let fixture =
        common::start_with(Flaws::default(), Tls::Modern, HttpListener::ServesContent).await;
    let report = common::audit(&fixture, &["--active"]).await;
    common::assert_found(&report, "PAL-TLS-002");
}

#[tokio::test]
async fn redirect_built_from_the_host_header_is_found() {
    let fixture = common::start_with(
        Flaws::default(),
        Tls::Modern,
        HttpListener::RedirectToHostHeader,
    )
    .await;
    let report = common::audit(&fixture, &["--active"]).await;
    common::assert_found(&report, "PAL-TLS-003");
    common::assert_not_found(&report, "PAL-TLS-002");
}

#[tokio::test]
async fn a_closed_http_port_is_only_information() {
    let mut fixture = common::start(Flaws::default()).await;
    // A port that was free a moment ago: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    fixture.http_url = Some(format!("http://{closed}/"));
    let report = common::audit(&fixture, &["--active"]).await;
    let finding = report
        .findings
        .iter()
        .find(|f| f.rule == "PAL-TLS-004")
        .expect("reported");
    assert_eq!(finding.severity, palisade_audit::Severity::Info);
}

#[tokio::test]
async fn passive_audits_send_no_probe() {
    let fixture = common::start(Flaws {
        xss_html: true,
        sql_error: true,
        ..Flaws::default()
    })
    .await;
    let report = common::audit(&fixture, &[]).await;
    common::assert_not_found(&report, "PAL-XSS-001");
    assert!(!report.active);
    assert!(report.notes.iter().any(|n| n.contains("--active")));
}
