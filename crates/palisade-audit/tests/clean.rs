//! The clean fixture does every practice right: a full active, signed-in audit reports nothing
//! at or above low.

mod common;

use common::{Flaws, SIGNED_IN};
use palisade_audit::Severity;

#[tokio::test]
async fn the_clean_app_has_no_finding_at_or_above_low() {
    let fixture = common::start(Flaws::default()).await;
    let mut flags = vec!["--active"];
    flags.extend(SIGNED_IN);
    let report = common::audit(&fixture, &flags).await;
    let serious = common::at_or_above(&report, Severity::Low);
    assert!(
        serious.is_empty(),
        "findings on the clean app: {serious:#?}\n{}",
        report.render(palisade_audit::Format::Text)
    );
    assert!(report.signed_in && report.active && report.passed);
    assert!(
        report.pages_crawled >= 8,
        "crawled only {} pages",
        report.pages_crawled
    );
    assert_eq!(report.exit_code(), 0);
}
