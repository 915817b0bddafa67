//! The catalogue of rules: stable ids, default severities, and the fix for Flask and Palisade.
//!
//! Ids never change meaning once published; retired rules keep their number unused.

use crate::finding::{Practice, Severity};

/// A rule the audit checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Stable identifier, such as `PAL-HDR-001`.
    pub id: &'static str,
    /// Default severity.
    pub severity: Severity,
    /// Practice the rule belongs to.
    pub practice: Practice,
    /// Short title.
    pub title: &'static str,
    /// Whether the rule needs `--active` (it sends crafted requests).
    pub active: bool,
    /// How to fix it in a Flask application.
    pub fix_flask: &'static str,
    /// How to fix it with Palisade.
    pub fix_palisade: &'static str,
}

macro_rules! rules {
    ($($name:ident = $id:literal, $sev:ident, $practice:ident, $active:literal, $title:literal,
        flask: $flask:literal, palisade: $palisade:literal;)*) => {
        $(
            #[doc = $title]
            pub(crate) static $name: Rule = Rule {
                id: $id,
                severity: Severity::$sev,
                practice: Practice::$practice,
                title: $title,
                active: $active,
                fix_flask: $flask,
                fix_palisade: $palisade,
            };
        )*

        /// Every rule, in catalogue order.
        pub(crate) static ALL: &[&Rule] = &[$(&$name),*];
    };
}

rules! {
    // XSS
    XSS_HTML = "PAL-XSS-001", High, Xss, true, "Reflected XSS in HTML content",
        flask: "Render with Jinja2 templates named .html (autoescaped); never mark user input |safe or build HTML with f-strings.",
        palisade: "Render through palisade templates (always autoescaped); never use the `safe` filter on user input.";
    XSS_ATTR = "PAL-XSS-002", High, Xss, true, "Reflected XSS in an HTML attribute",
        flask: "Quote every attribute in templates and let autoescaping encode quotes; validate URLs before rendering them into href/src.",
        palisade: "Use palisade templates: attributes are quoted and escaped, and javascript:/data: URLs are refused.";
    XSS_SCRIPT = "PAL-XSS-003", High, Xss, true, "Reflected XSS inside a script",
        flask: "Pass data to scripts with the |tojson filter (or a data- attribute), never by pasting it into a JavaScript string.",
        palisade: "Use the template `json` filter for values placed in scripts; it escapes for that context.";
    CSP_MISSING = "PAL-XSS-010", Medium, Xss, false, "No Content-Security-Policy",
        flask: "Send a strict CSP (Flask-Talisman content_security_policy with nonces, or an after_request hook).",
        palisade: "Palisade sends a nonce-based strict CSP by default; keep `headers.csp` enabled.";
    CSP_UNSAFE_INLINE = "PAL-XSS-011", Medium, Xss, false, "CSP allows 'unsafe-inline' scripts",
        flask: "Drop 'unsafe-inline' from script-src; use per-request nonces (Talisman content_security_policy_nonce_in) and move inline handlers to files.",
        palisade: "Keep the default nonce + 'strict-dynamic' script-src; no page needs inline handlers.";
    CSP_UNSAFE_EVAL = "PAL-XSS-012", Low, Xss, false, "CSP allows 'unsafe-eval'",
        flask: "Remove 'unsafe-eval' and the eval()/new Function() uses that needed it.",
        palisade: "Do not add 'unsafe-eval' to the CSP.";
    CSP_WILDCARD = "PAL-XSS-013", Medium, Xss, false, "CSP allows scripts from any host or scheme",
        flask: "Replace *, http:, https: and data: in script-src/default-src with 'self' and nonces.",
        palisade: "Keep the default script-src ('nonce-…' 'strict-dynamic'); list exact hosts only when needed.";
    CSP_OBJECT_SRC = "PAL-XSS-014", Low, Xss, false, "CSP does not restrict object-src",
        flask: "Add object-src 'none' to the CSP.",
        palisade: "The default CSP has object-src 'none'; keep it.";
    CSP_BASE_URI = "PAL-XSS-015", Low, Xss, false, "CSP does not restrict base-uri",
        flask: "Add base-uri 'none' (or 'self') to the CSP.",
        palisade: "The default CSP has base-uri 'none'; keep it.";

    // CSRF
    CSRF_NO_TOKEN_FIELD = "PAL-CSRF-001", Medium, Csrf, false, "POST form without a CSRF token field",
        flask: "Enable Flask-WTF CSRFProtect (or Flask-SeaSurf) and render {{ csrf_token() }} in every POST form.",
        palisade: "Render forms with the csrf helper; Palisade rejects unsafe requests without a valid token.";
    CSRF_NOT_ENFORCED = "PAL-CSRF-002", High, Csrf, true, "Form accepted without its token from a foreign origin",
        flask: "Enable CSRFProtect for the whole app (no @csrf.exempt on state-changing views) and check Origin.",
        palisade: "Do not list this route in the CSRF exemptions; Palisade checks Origin/Sec-Fetch-Site and the token.";
    CSRF_NO_ORIGIN_CHECK = "PAL-CSRF-003", Low, Csrf, true, "Foreign Origin accepted when the token is present",
        flask: "Also reject unsafe requests whose Origin (or Sec-Fetch-Site) is cross-site, as Django does.",
        palisade: "Palisade checks Sec-Fetch-Site and Origin before the token; keep trusted origins minimal.";
    CSRF_NULL_ORIGIN = "PAL-CSRF-004", High, Csrf, true, "Form accepted without its token when Origin is null",
        flask: "Treat Origin: null as cross-site; never skip the token check for it.",
        palisade: "Palisade treats Origin: null as cross-site; do not add it to trusted origins.";

    // SQL injection
    SQL_ERROR = "PAL-SQL-001", High, Sqli, false, "Database error message in a response",
        flask: "Bind every value (SQLAlchemy text() with :params, cursor.execute(sql, params)); turn DEBUG off so errors are not shown.",
        palisade: "Use sqlx query macros with bound parameters; identifiers only from allow-lists.";
    SQL_BOOLEAN = "PAL-SQL-002", High, Sqli, true, "Response changes with injected SQL conditions",
        flask: "Bind the parameter instead of formatting it into the SQL string.",
        palisade: "Use sqlx query macros with bound parameters; never format user text into SQL.";

    // Dependencies and disclosure
    SERVER_VERSION = "PAL-DIS-001", Low, Disclosure, false, "Server header discloses software and version",
        flask: "Have the reverse proxy drop or blank the Server header (nginx server_tokens off); run gunicorn, not the Werkzeug dev server.",
        palisade: "Palisade sends no Server header; remove it at the proxy too.";
    POWERED_BY = "PAL-DIS-002", Low, Disclosure, false, "X-Powered-By header discloses the stack",
        flask: "Remove X-Powered-By in an after_request hook or at the proxy.",
        palisade: "Palisade sends no X-Powered-By; remove it at the proxy too.";
    WERKZEUG_DEBUGGER = "PAL-DIS-003", Critical, Disclosure, false, "Werkzeug interactive debugger exposed",
        flask: "Never run with debug=True / FLASK_DEBUG=1 in production; serve with gunicorn or uwsgi.",
        palisade: "Palisade never ships a debugger; error pages show a request id only.";
    STACK_TRACE = "PAL-DIS-004", High, Disclosure, false, "Stack trace or debug page shown to visitors",
        flask: "Set DEBUG=False and PROPAGATE_EXCEPTIONS=False in production; register an errorhandler(500) that shows a generic page.",
        palisade: "Palisade's error handler logs the error and shows a generic page; keep it installed.";
    GIT_EXPOSED = "PAL-DIS-010", High, Disclosure, false, "Git metadata downloadable (/.git/)",
        flask: "Deploy a build artefact without .git, or deny /.git/ at the proxy.",
        palisade: "Serve static files only from the static directory; deploy without .git.";
    ENV_EXPOSED = "PAL-DIS-011", Critical, Disclosure, false, "Environment file downloadable (/.env)",
        flask: "Keep .env outside any served directory, deny dotfiles at the proxy, and rotate every secret it held.",
        palisade: "Palisade's static service refuses dotfiles; rotate every secret the file held.";
    BACKUP_EXPOSED = "PAL-DIS-012", High, Disclosure, false, "Backup or archive downloadable",
        flask: "Remove backups from the web root and deny archive extensions at the proxy.",
        palisade: "Keep backups out of the static directory.";
    DS_STORE_EXPOSED = "PAL-DIS-013", Low, Disclosure, false, "macOS .DS_Store file downloadable",
        flask: "Delete .DS_Store files before deploying and deny dotfiles at the proxy.",
        palisade: "Palisade's static service refuses dotfiles; delete the file.";

    // Secret key
    WEAK_SECRET_KEY = "PAL-KEY-001", Critical, SecretKey, false, "Session cookie signed with a known placeholder key",
        flask: "Set SECRET_KEY from the environment to secrets.token_hex(32); rotating it signs everyone out, which is required now.",
        palisade: "Palisade refuses placeholder and short keys; use `palisade secret generate` and a key ring.";
    FLASK_SESSION_READABLE = "PAL-KEY-002", Info, SecretKey, false, "Client-side session readable by the user",
        flask: "Flask sessions are signed, not encrypted: keep secrets out of session, or use a server-side session store.",
        palisade: "Palisade keeps session data server-side; the cookie holds only an id.";

    // Headers and HTTPS
    HSTS_MISSING = "PAL-HDR-001", Medium, Headers, false, "No Strict-Transport-Security on HTTPS",
        flask: "Send Strict-Transport-Security: max-age=31536000; includeSubDomains (Flask-Talisman does).",
        palisade: "Palisade sends HSTS for one year on HTTPS responses by default.";
    HSTS_SHORT = "PAL-HDR-002", Low, Headers, false, "HSTS max-age shorter than one year",
        flask: "Use max-age=31536000 or more.",
        palisade: "Keep the default HSTS max-age (one year).";
    HSTS_DUPLICATE = "PAL-HDR-003", Low, Headers, false, "Several Strict-Transport-Security headers",
        flask: "Set HSTS in one place only (the app or the proxy, not both).",
        palisade: "Let Palisade set HSTS and remove it from the proxy, or the reverse.";
    HSTS_PRELOAD = "PAL-HDR-004", Low, Headers, false, "HSTS preload without includeSubDomains",
        flask: "Add includeSubDomains when asking for preload, or drop preload.",
        palisade: "Enable preload only with includeSubDomains (Palisade refuses the other combination).";
    FRAMING = "PAL-HDR-010", Medium, Headers, false, "Page can be framed (clickjacking)",
        flask: "Send X-Frame-Options: DENY and CSP frame-ancestors 'none'.",
        palisade: "Palisade sends frame-ancestors 'none' and X-Frame-Options: DENY by default.";
    XFO_INVALID = "PAL-HDR-011", Low, Headers, false, "Invalid X-Frame-Options value",
        flask: "Use DENY or SAMEORIGIN (ALLOW-FROM is ignored by browsers); prefer CSP frame-ancestors.",
        palisade: "Keep Palisade's default DENY.";
    NOSNIFF = "PAL-HDR-012", Low, Headers, false, "No X-Content-Type-Options: nosniff",
        flask: "Send X-Content-Type-Options: nosniff on every response.",
        palisade: "Palisade sends nosniff on every response by default.";
    REFERRER_POLICY = "PAL-HDR-013", Low, Headers, false, "Missing or leaky Referrer-Policy",
        flask: "Send Referrer-Policy: strict-origin-when-cross-origin (or no-referrer).",
        palisade: "Palisade sends a strict Referrer-Policy by default.";
    PERMISSIONS_POLICY = "PAL-HDR-014", Low, Headers, false, "No Permissions-Policy",
        flask: "Send a deny-by-default Permissions-Policy, e.g. camera=(), microphone=(), geolocation=().",
        palisade: "Palisade sends a deny-by-default Permissions-Policy.";
    COOP = "PAL-HDR-015", Low, Headers, false, "No Cross-Origin-Opener-Policy",
        flask: "Send Cross-Origin-Opener-Policy: same-origin.",
        palisade: "Palisade sends COOP same-origin by default.";
    CORP = "PAL-HDR-016", Info, Headers, false, "No Cross-Origin-Resource-Policy",
        flask: "Send Cross-Origin-Resource-Policy: same-origin (or same-site).",
        palisade: "Palisade sends CORP same-origin by default.";
    PERSONAL_CACHEABLE = "PAL-HDR-020", Medium, Headers, false, "Signed-in page can be cached",
        flask: "Send Cache-Control: no-store (and Vary: Cookie) on every page that depends on the user.",
        palisade: "Palisade sends no-store on responses to signed-in requests.";
    PLAIN_HTTP = "PAL-TLS-001", Medium, Headers, false, "Site served over plain HTTP",
        flask: "Serve through HTTPS (a TLS-terminating proxy) and redirect HTTP to HTTPS.",
        palisade: "Run `palisade serve` with TLS (a development certificate is generated).";
    NO_HTTPS_REDIRECT = "PAL-TLS-002", Medium, Headers, true, "HTTP does not redirect to HTTPS",
        flask: "Redirect every HTTP request to HTTPS with 301/308 (Talisman force_https, or the proxy).",
        palisade: "Palisade's HTTP listener answers every request with a 308 to HTTPS.";
    HOST_REDIRECT = "PAL-TLS-003", Medium, Headers, true, "HTTPS redirect trusts the Host header",
        flask: "Redirect to a configured host name, not request.host; set SERVER_NAME / TRUSTED_HOSTS.",
        palisade: "Palisade redirects to the configured public host only.";
    NO_HTTP_LISTENER = "PAL-TLS-004", Info, Headers, true, "No HTTP listener answered",
        flask: "Nothing to fix if HTTP is closed on purpose; otherwise redirect it to HTTPS.",
        palisade: "Nothing to fix; enable the HTTP redirect listener if users type http:// addresses.";
    OLD_TLS = "PAL-TLS-010", High, Headers, true, "TLS 1.0 or 1.1 accepted",
        flask: "Allow only TLS 1.2 and 1.3 at the TLS terminator (ssl_protocols TLSv1.2 TLSv1.3).",
        palisade: "Palisade's rustls listener speaks TLS 1.2 and 1.3 only.";
    NO_TLS13 = "PAL-TLS-011", Low, Headers, true, "TLS 1.3 not offered",
        flask: "Enable TLS 1.3 at the TLS terminator.",
        palisade: "Palisade's rustls listener offers TLS 1.3.";
    TLS12_STATUS = "PAL-TLS-012", Info, Headers, true, "TLS 1.2 not offered",
        flask: "Nothing to fix for modern clients; enable TLS 1.2 if older clients must connect.",
        palisade: "Nothing to fix.";
    MIXED_CONTENT = "PAL-TLS-020", Medium, Headers, false, "HTTPS page loads http:// resources",
        flask: "Load every script, style, image and frame over https:// (or a relative URL).",
        palisade: "Use relative URLs for assets; the CSP blocks mixed content.";

    // Cookies
    COOKIE_SECURE = "PAL-CKE-001", Medium, Cookies, false, "Session cookie without Secure",
        flask: "SESSION_COOKIE_SECURE = True and REMEMBER_COOKIE_SECURE = True.",
        palisade: "Palisade's session cookie is Secure by default.";
    COOKIE_HTTPONLY = "PAL-CKE-002", Medium, Cookies, false, "Session cookie without HttpOnly",
        flask: "SESSION_COOKIE_HTTPONLY = True (the default) and REMEMBER_COOKIE_HTTPONLY = True.",
        palisade: "Palisade's session cookie is HttpOnly by default.";
    COOKIE_SAMESITE = "PAL-CKE-003", Low, Cookies, false, "Session cookie without SameSite=Lax or Strict",
        flask: "SESSION_COOKIE_SAMESITE = 'Lax' (and REMEMBER_COOKIE_SAMESITE).",
        palisade: "Palisade's session cookie is SameSite=Lax by default.";
    COOKIE_PREFIX = "PAL-CKE-004", Low, Cookies, false, "Session cookie without the __Host- prefix",
        flask: "SESSION_COOKIE_NAME = '__Host-session' with Secure, Path=/ and no Domain.",
        palisade: "Palisade names its cookie __Host-palisade by default.";
    COOKIE_PREFIX_BROKEN = "PAL-CKE-005", Medium, Cookies, false, "Cookie prefix rules broken",
        flask: "A __Host- cookie needs Secure, Path=/ and no Domain; a __Secure- cookie needs Secure.",
        palisade: "Keep Palisade's cookie defaults.";
    COOKIE_DOMAIN = "PAL-CKE-006", Low, Cookies, false, "Session cookie shared with subdomains (Domain)",
        flask: "Leave SESSION_COOKIE_DOMAIN unset so the cookie stays on this host.",
        palisade: "Palisade sets no Domain attribute.";
    COOKIE_CACHEABLE = "PAL-CKE-007", Medium, Cookies, false, "Set-Cookie on a cacheable response",
        flask: "Send Cache-Control: no-store (or private) with every response that sets a cookie.",
        palisade: "Palisade marks responses that set cookies no-store.";
    COOKIE_LONG_LIVED = "PAL-CKE-008", Low, Cookies, false, "Session-like cookie lives longer than 30 days",
        flask: "Lower PERMANENT_SESSION_LIFETIME and REMEMBER_COOKIE_DURATION.",
        palisade: "Use Palisade's idle and absolute session timeouts.";

    // Uploads
    UPLOAD_ACTIVE_ACCEPTED = "PAL-UPL-001", Medium, Uploads, true, "Upload accepts HTML or SVG content",
        flask: "Decide the type from the content (magic bytes) against an allow-list; do not trust the name or Content-Type.",
        palisade: "Use palisade's upload extractor with an allow-list of types.";
    UPLOAD_SERVED_INLINE = "PAL-UPL-002", High, Uploads, true, "Uploaded active content served inline",
        flask: "Serve uploads with send_file(as_attachment=True), nosniff and CSP sandbox, from another origin if possible.",
        palisade: "Serve uploads through palisade's download handler (attachment, nosniff, sandbox CSP).";

    // Accounts
    PASSWORD_OVER_HTTP = "PAL-ACC-001", High, Accounts, false, "Password form on plain HTTP",
        flask: "Serve sign-in pages only over HTTPS and redirect HTTP to HTTPS.",
        palisade: "Run Palisade with TLS; it redirects HTTP to HTTPS.";
    OPEN_REDIRECT = "PAL-ACC-002", Medium, Accounts, true, "Open redirect through a next-like parameter",
        flask: "Accept next only when it is a path on this site (urlparse: no scheme, no netloc, no backslash).",
        palisade: "Palisade's redirect helper accepts same-site paths only.";

    // Sessions
    SESSION_AFTER_LOGOUT = "PAL-SES-001", High, Sessions, true, "Session still valid after sign-out",
        flask: "Keep sessions server-side (Flask-Session) and delete the record at logout; Flask's cookie sessions cannot be revoked.",
        palisade: "Palisade deletes the server-side session at logout and sends Clear-Site-Data.";
    SESSION_NOT_ROTATED = "PAL-SES-002", High, Sessions, false, "Session id not changed at sign-in",
        flask: "Call session.clear() before login_user() (or regenerate the server-side session id).",
        palisade: "Palisade rotates the session id at sign-in and privilege change.";
}

/// Looks a rule up by id.
pub(crate) fn by_id(id: &str) -> Option<&'static Rule> {
    ALL.iter().copied().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn rule_ids_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        for rule in ALL {
            assert!(seen.insert(rule.id), "duplicate id {}", rule.id);
            let parts: Vec<&str> = rule.id.split('-').collect();
            assert_eq!(parts.len(), 3, "{}", rule.id);
            assert_eq!(parts[0], "PAL");
            assert!(
                parts[1].chars().all(|c| c.is_ascii_uppercase()),
                "{}",
                rule.id
            );
            assert!(parts[2].len() == 3 && parts[2].chars().all(|c| c.is_ascii_digit()));
            assert!(!rule.fix_flask.is_empty() && !rule.fix_palisade.is_empty());
        }
    }

    #[test]
    fn the_readme_documents_every_rule_with_its_severity() {
        let readme = include_str!("../../README.md");
        for rule in ALL {
            let row = format!("| `{}` | {} |", rule.id, rule.severity);
            assert!(readme.contains(&row), "README lacks {row}");
        }
    }

    #[test]
    fn rules_can_be_found_by_id() {
        assert_eq!(
            by_id("PAL-HDR-001").map(|r| r.title),
            Some(HSTS_MISSING.title)
        );
        assert!(by_id("PAL-XXX-999").is_none());
    }
}
