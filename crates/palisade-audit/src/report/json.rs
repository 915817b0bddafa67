//! JSON rendering, following `schema/report.schema.json`.

use super::Report;

/// Renders the report as pretty-printed JSON.
pub(crate) fn render(report: &Report) -> String {
    let mut out = serde_json::to_string_pretty(report)
        .unwrap_or_else(|e| format!("{{\"error\": \"report could not be serialised: {e}\"}}"));
    out.push('\n');
    out
}
