//! What a test needs to act like a person with a browser and a mailbox: read a form's CSRF token,
//! solve its captcha, post it, read mail from the outbox, compute TOTP codes.

use std::time::SystemTime;

use palisade::auth::captcha::{self, Challenge};
use reqwest::{Client, Response, StatusCode};

use super::TestApp;

/// A password the policy accepts.
pub const PASSWORD: &str = "tidal quartz lantern fog 42";

/// Another password the policy accepts.
pub const NEW_PASSWORD: &str = "amber violin harbor mist 17";

/// One message of the outbox.
#[derive(Clone, Debug)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    /// The text body, with any transfer encoding undone.
    pub body: String,
    pub written: SystemTime,
}

impl TestApp {
    /// GETs `path`: the status and the body.
    pub async fn page(&self, client: &Client, path: &str) -> (StatusCode, String) {
        let resp = client.get(self.url(path)).send().await.unwrap();
        let status = resp.status();
        (status, resp.text().await.unwrap())
    }

    /// GETs `form_path` and posts `fields` to `action` with the page's CSRF token and, when the
    /// page carries a captcha and `fields` has no `captcha`, its solution.
    pub async fn submit(
        &self,
        client: &Client,
        form_path: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        let (status, html) = self.page(client, form_path).await;
        assert!(status.is_success(), "GET {form_path}: {status}\n{html}");
        let token = csrf_token_in(&html);
        let mut form: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if !fields.iter().any(|(k, _)| *k == "captcha")
            && let Some(challenge) = captcha_challenge_in(&html)
        {
            form.push(("captcha".to_owned(), solve(&challenge)));
        }
        form.push(("csrf_token".to_owned(), token));
        client
            .post(self.url(action))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// Posts `fields` to `action` with `token` as the CSRF token.
    pub async fn post(
        &self,
        client: &Client,
        action: &str,
        token: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf_token", token));
        client
            .post(self.url(action))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// Fills in the registration form.
    pub async fn register(&self, client: &Client, email: &str, password: &str) -> Response {
        self.submit(
            client,
            "/register",
            "/register",
            &[("email", email), ("password", password)],
        )
        .await
    }

    /// Fills in the sign-in form.
    pub async fn sign_in(&self, client: &Client, email: &str, password: &str) -> Response {
        self.submit(
            client,
            "/login",
            "/login",
            &[("email", email), ("password", password)],
        )
        .await
    }

    /// A new browser signed in as `email`.
    pub async fn signed_in(&self, email: &str, password: &str) -> Client {
        let client = self.client();
        let resp = self.sign_in(&client, email, password).await;
        assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
        client
    }

    /// The command line's account tools on this app's data directory.
    pub async fn admin(&self) -> palisade_app::AdminTools {
        palisade_app::admin_tools(self.config.clone())
            .await
            .unwrap()
    }

    /// A verified account made as `palisade user create` makes it.
    pub async fn create_user(
        &self,
        email: &str,
        password: &str,
        admin: bool,
    ) -> palisade::auth::users::User {
        self.admin()
            .await
            .create_user(email, password, admin)
            .await
            .unwrap()
    }

    /// A captcha solution made with the app's own key, as the server would have issued it but
    /// expiring at `expires` (Unix seconds), and solved with `number` (the right one is 7).
    pub fn forged_captcha(&self, expires: i64, number: u64) -> String {
        use sha2::Digest as _;
        let (keys, _) =
            palisade::secret::KeyRing::load_or_create(&self.dir.path().join("secret.key")).unwrap();
        let salt = format!("00112233445566778899aabb?expires={expires}&");
        let challenge = hex::encode(sha2::Sha256::digest(format!("{salt}7")));
        let signature = keys
            .signer(palisade::secret::Purpose::Captcha)
            .sign(challenge.as_bytes());
        let payload = serde_json::json!({
            "algorithm": "SHA-256",
            "challenge": challenge,
            "number": number,
            "salt": salt,
            "signature": hex::encode(signature),
        });
        base64(payload.to_string().as_bytes())
    }

    /// Every message of the outbox, oldest first.
    pub fn mails(&self) -> Vec<Mail> {
        let Ok(entries) = std::fs::read_dir(self.dir.path().join("outbox")) else {
            return Vec::new();
        };
        let mut mails: Vec<Mail> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .map(|p| {
                let written = std::fs::metadata(&p).unwrap().modified().unwrap();
                parse_eml(&std::fs::read_to_string(&p).unwrap(), written)
            })
            .collect();
        mails.sort_by_key(|m| m.written);
        mails
    }

    /// The messages sent to `address` (compared without case), oldest first.
    pub fn mails_to(&self, address: &str) -> Vec<Mail> {
        self.mails()
            .into_iter()
            .filter(|m| m.to.eq_ignore_ascii_case(address))
            .collect()
    }

    /// The path of the link to `path_prefix…` in the newest message to `address`. Every link of
    /// every message must start with the configured public URL.
    pub fn link_in_mail(&self, address: &str, path_prefix: &str) -> String {
        let mails = self.mails_to(address);
        let mail = mails
            .last()
            .unwrap_or_else(|| panic!("no mail to {address}"));
        for word in mail.body.split_whitespace() {
            if word.starts_with("http") {
                assert!(
                    word.starts_with(&format!("{}/", self.base)),
                    "a link not on the public URL: {word}"
                );
            }
        }
        let wanted = format!("{}{path_prefix}", self.base);
        let url = mail
            .body
            .split_whitespace()
            .find(|w| w.starts_with(&wanted))
            .unwrap_or_else(|| panic!("no {wanted} link in:\n{}", mail.body));
        url[self.base.len()..].to_owned()
    }
}

/// A `Location` header.
pub fn location(resp: &Response) -> String {
    resp.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location on a {}", resp.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// Every `Set-Cookie` header.
pub fn set_cookies(resp: &Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The value of the first `name="…"` attribute of `html`, unescaped.
pub fn attribute(html: &str, name: &str) -> Option<String> {
    let marker = format!("{name}=\"");
    let start = html.find(&marker)? + marker.len();
    let end = start + html[start..].find('"')?;
    Some(html_unescape(&html[start..end]))
}

/// The CSRF token of the first form of `html`.
pub fn csrf_token_in(html: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no CSRF field in:\n{html}"))
        + marker.len();
    let end = start + html[start..].find('"').unwrap();
    html_unescape(&html[start..end])
}

/// The captcha challenge of `html`, from its `data-captcha-challenge` attribute.
pub fn captcha_challenge_in(html: &str) -> Option<Challenge> {
    attribute(html, "data-captcha-challenge").map(|json| {
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("challenge {json:?}: {e}"))
    })
}

/// The `captcha` field value a browser would send for `challenge`.
pub fn solve(challenge: &Challenge) -> String {
    captcha::solve(challenge).expect("the challenge is solvable")
}

/// The TOTP code for `secret`, `steps` 30-second steps from now.
pub fn totp_code(secret: &str, steps: i64) -> String {
    let now = palisade::auth::totp::now() as i64;
    palisade::auth::totp::code_at(secret, (now + 30 * steps) as u64).unwrap()
}

/// `html` with what differs on every render (CSRF tokens, CSP nonces, captcha challenges)
/// replaced by placeholders, to compare two pages.
pub fn normalise(html: &str) -> String {
    let mut out = html.to_owned();
    for marker in [
        r#"name="csrf_token" value=""#,
        r#"nonce=""#,
        r#"data-captcha-challenge=""#,
    ] {
        let mut result = String::new();
        let mut rest = out.as_str();
        while let Some(i) = rest.find(marker) {
            result.push_str(&rest[..i + marker.len()]);
            rest = &rest[i + marker.len()..];
            let end = rest.find('"').unwrap_or(rest.len());
            result.push('…');
            rest = &rest[end..];
        }
        result.push_str(rest);
        out = result;
    }
    out
}

/// Undoes HTML character references (named ones templates emit, decimal and hex).
pub fn html_unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn parse_eml(text: &str, written: SystemTime) -> Mail {
    let (head, body) = text
        .split_once("\r\n\r\n")
        .expect("headers, a blank line, a body");
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            headers.last_mut().unwrap().1.push_str(line.trim_start());
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let to = header("to");
    let to = match (to.find('<'), to.find('>')) {
        (Some(a), Some(b)) => to[a + 1..b].to_owned(),
        _ => to,
    };
    let body = match header("content-transfer-encoding")
        .to_ascii_lowercase()
        .as_str()
    {
        "quoted-printable" => decode_quoted_printable(body),
        "7bit" | "8bit" | "" => body.to_owned(),
        other => panic!("unexpected transfer encoding {other}"),
    };
    Mail {
        to,
        subject: header("subject"),
        body: body.replace("\r\n", "\n"),
        written,
    }
}

fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && let Some(hex) = joined.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
