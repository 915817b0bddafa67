//! Sending mail: through SMTP when configured, else into a file outbox.
//!
//! Account pages send mail (verification, password reset, invitations). With an SMTP server
//! configured ([`SmtpSettings`]), the [`Mailer`] sends through it with TLS; without one, every
//! message is written as one `.eml` file into `<data-dir>/outbox/` (a directory only the owner
//! can read, since the messages hold sign-in links), where a developer can open it in any mail
//! client. Nothing is ever sent in the clear to another host: a plain `smtp://` URL is accepted
//! only for a relay on this machine (`localhost`, `127.0.0.0/8`, `::1`); for any other host use
//! `smtps://` (TLS from the start) or `smtp://…?tls=required` (STARTTLS, required).
//!
//! **Links.** A message that holds a link must build it from the configured public URL of the
//! site, never from the request's `Host` header, which a client chooses: otherwise anyone could
//! have a reset link for someone else's account point at their own server.
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use palisade::auth::email::Email;
//! use palisade::mail::Mailer;
//!
//! let data_dir = tempfile::tempdir()?;
//! let mailer = Mailer::from_settings(None, data_dir.path(), "Palisade <noreply@example.com>")?;
//! let public_url = "https://files.example.com"; // From configuration, not from the request.
//! let to = Email::parse("bob@example.com")?;
//! let text = format!("Confirm your address: {public_url}/verify?token=…");
//! mailer.send(&to, "Confirm your email address", &text).await?;
//!
//! let outbox = data_dir.path().join("outbox");
//! assert_eq!(std::fs::read_dir(outbox)?.count(), 1);
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor,
};
use rand::RngCore as _;

use crate::auth::email::Email;

/// The longest subject accepted, in characters.
const MAX_SUBJECT_CHARS: usize = 200;

/// Why a message could not be prepared or sent.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The sender or recipient address is not usable in a mail header.
    #[error("invalid mail address {0:?}")]
    Address(String),
    /// The subject is empty, too long or holds control characters.
    #[error("invalid mail subject")]
    Subject,
    /// The SMTP URL is malformed.
    #[error("invalid SMTP URL: {0}")]
    Url(String),
    /// The SMTP URL would send mail unencrypted to another host.
    #[error(
        "the SMTP URL sends mail without TLS to {0}; use smtps://… or smtp://…?tls=required \
         (plain smtp:// is allowed only for a relay on this machine)"
    )]
    InsecureSmtp(String),
    /// The outbox directory could not be created.
    #[error("mail outbox {path}: {source}")]
    Outbox {
        /// The directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The message could not be built.
    #[error("the message could not be built: {0}")]
    Build(String),
    /// The transport refused or failed to deliver the message.
    #[error("the message could not be sent: {0}")]
    Send(String),
}

/// Where the SMTP server is. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// `smtps://user:password@host:465`, `smtp://user:password@host:587?tls=required`, or
    /// `smtp://localhost:25` for a local relay.
    pub url: String,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = match url::Url::parse(&self.url) {
            Ok(mut url) => {
                if url.password().is_some() {
                    let _ = url.set_password(Some("********"));
                }
                url.to_string()
            }
            Err(_) => "<unparseable>".to_owned(),
        };
        f.debug_struct("SmtpSettings").field("url", &shown).finish()
    }
}

impl SmtpSettings {
    /// Checks that the URL parses and does not send mail unencrypted to another host.
    ///
    /// # Errors
    ///
    /// [`MailError::Url`] and [`MailError::InsecureSmtp`].
    pub fn validate(&self) -> Result<(), MailError> {
        let url = url::Url::parse(&self.url).map_err(|err| MailError::Url(err.to_string()))?;
        let host = url
            .host_str()
            .ok_or_else(|| MailError::Url("no host".to_owned()))?
            .to_owned();
        match url.scheme() {
            "smtps" => Ok(()),
            "smtp" => {
                let tls = url
                    .query_pairs()
                    .find(|(k, _)| k == "tls")
                    .map(|(_, v)| v.into_owned());
                if tls.as_deref() == Some("required") || is_loopback(&host) {
                    Ok(())
                } else {
                    Err(MailError::InsecureSmtp(host))
                }
            }
            other => Err(MailError::Url(format!("unsupported scheme {other:?}"))),
        }
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// One message: a plain-text body, and optionally an HTML alternative.
#[derive(Clone, Copy, Debug)]
pub struct OutgoingMail<'a> {
    /// The recipient.
    pub to: &'a Email,
    /// The subject line.
    pub subject: &'a str,
    /// The plain-text body (always sent).
    pub text: &'a str,
    /// An HTML alternative of the same content.
    pub html: Option<&'a str>,
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox {
        transport: AsyncFileTransport<Tokio1Executor>,
        dir: PathBuf,
    },
}

/// Sends mail through SMTP or into the file outbox; see the [module docs](self). Cheap to
/// clone.
#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    transport: std::sync::Arc<Transport>,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let transport = match &*self.transport {
            Transport::Smtp(_) => "smtp".to_owned(),
            Transport::Outbox { dir, .. } => format!("outbox {}", dir.display()),
        };
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .field("transport", &transport)
            .finish()
    }
}

impl Mailer {
    /// SMTP when `smtp` is given, else the outbox in `data_dir`. `from` is the sender, as
    /// `noreply@example.com` or `Name <noreply@example.com>`.
    ///
    /// # Errors
    ///
    /// As [`Mailer::smtp`] and [`Mailer::outbox`].
    pub fn from_settings(
        smtp: Option<&SmtpSettings>,
        data_dir: &Path,
        from: &str,
    ) -> Result<Self, MailError> {
        match smtp {
            Some(settings) => Self::smtp(settings, from),
            None => Self::outbox(data_dir, from),
        }
    }

    /// Sends through the SMTP server of `settings`. Nothing connects until the first message.
    ///
    /// # Errors
    ///
    /// [`MailError::Address`] for a bad sender, and the errors of [`SmtpSettings::validate`].
    pub fn smtp(settings: &SmtpSettings, from: &str) -> Result<Self, MailError> {
        let from = parse_mailbox(from)?;
        settings.validate()?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.url)
            .map_err(|err| MailError::Url(err.to_string()))?
            .build();
        tracing::debug!(smtp = ?settings, "mail goes through SMTP");
        Ok(Self {
            from,
            transport: std::sync::Arc::new(Transport::Smtp(transport)),
        })
    }

    /// Writes each message as `<id>.eml` into `<data_dir>/outbox/`, created (mode 0700) if
    /// needed.
    ///
    /// # Errors
    ///
    /// [`MailError::Address`] for a bad sender and [`MailError::Outbox`] when the directory
    /// cannot be created.
    pub fn outbox(data_dir: &Path, from: &str) -> Result<Self, MailError> {
        let from = parse_mailbox(from)?;
        let dir = data_dir.join("outbox");
        create_private_dir(&dir).map_err(|source| MailError::Outbox {
            path: dir.clone(),
            source,
        })?;
        tracing::debug!(outbox = %dir.display(), "mail goes to the outbox directory");
        let transport = AsyncFileTransport::<Tokio1Executor>::new(&dir);
        Ok(Self {
            from,
            transport: std::sync::Arc::new(Transport::Outbox { transport, dir }),
        })
    }

    /// The outbox directory, when mail goes there.
    pub fn outbox_dir(&self) -> Option<&Path> {
        match &*self.transport {
            Transport::Outbox { dir, .. } => Some(dir),
            Transport::Smtp(_) => None,
        }
    }

    /// Sends a plain-text message.
    ///
    /// # Errors
    ///
    /// As [`Mailer::send_mail`].
    pub async fn send(&self, to: &Email, subject: &str, text: &str) -> Result<(), MailError> {
        self.send_mail(&OutgoingMail {
            to,
            subject,
            text,
            html: None,
        })
        .await
    }

    /// Sends `mail`.
    ///
    /// # Errors
    ///
    /// [`MailError::Subject`] for an empty, overlong or multi-line subject,
    /// [`MailError::Address`], [`MailError::Build`], and [`MailError::Send`] when delivery
    /// fails.
    pub async fn send_mail(&self, mail: &OutgoingMail<'_>) -> Result<(), MailError> {
        let message = self.build(mail)?;
        let outcome = match &*self.transport {
            Transport::Smtp(smtp) => smtp
                .send(message)
                .await
                .map(|_| ())
                .map_err(|err| err.to_string()),
            Transport::Outbox { transport, .. } => transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|err| err.to_string()),
        };
        let via = match &*self.transport {
            Transport::Smtp(_) => "smtp",
            Transport::Outbox { .. } => "outbox",
        };
        match outcome {
            Ok(()) => {
                tracing::info!(via, to_domain = mail.to.domain(), "mail sent");
                Ok(())
            }
            Err(err) => {
                tracing::error!(via, to_domain = mail.to.domain(), error = %err, "mail not sent");
                Err(MailError::Send(err))
            }
        }
    }

    fn build(&self, mail: &OutgoingMail<'_>) -> Result<Message, MailError> {
        let subject = mail.subject.trim();
        if subject.is_empty()
            || subject.chars().count() > MAX_SUBJECT_CHARS
            || subject.chars().any(char::is_control)
        {
            return Err(MailError::Subject);
        }
        let to = parse_mailbox(mail.to.as_str())?;
        let mut random = [0u8; 16];
        rand::rng().fill_bytes(&mut random);
        let message_id = format!("<{}@{}>", hex::encode(random), self.from.email.domain());
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(message_id));
        let built = match mail.html {
            None => builder.singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(mail.text.to_owned()),
            ),
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                mail.text.to_owned(),
                html.to_owned(),
            )),
        };
        built.map_err(|err| MailError::Build(err.to_string()))
    }
}

fn parse_mailbox(text: &str) -> Result<Mailbox, MailError> {
    if text.chars().any(char::is_control) {
        return Err(MailError::Address(text.to_owned()));
    }
    text.trim()
        .parse()
        .map_err(|_| MailError::Address(text.to_owned()))
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox_files(dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    }

    /// The headers of an .eml file (unfolded) and its body.
    fn parse_eml(text: &str) -> (Vec<(String, String)>, String) {
        let (head, body) = text
            .split_once("\r\n\r\n")
            .expect("headers end with a blank line");
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                headers
                    .last_mut()
                    .expect("continuation after a header")
                    .1
                    .push_str(line);
            } else {
                let (name, value) = line.split_once(':').expect("header name");
                headers.push((name.to_owned(), value.trim().to_owned()));
            }
        }
        (headers, body.to_owned())
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[tokio::test]
    async fn the_outbox_gets_one_parseable_eml_with_recipient_subject_and_body() {
        let data_dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::outbox(data_dir.path(), "Palisade <noreply@example.com>").unwrap();
        let to = Email::parse("Bob@Example.com").unwrap();
        mailer
            .send(
                &to,
                "Confirm your email address",
                "Open https://files.example.com/verify?token=abc to confirm.",
            )
            .await
            .unwrap();

        let files = outbox_files(&data_dir.path().join("outbox"));
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].extension().unwrap(), "eml");
        let text = std::fs::read_to_string(&files[0]).unwrap();
        let (headers, body) = parse_eml(&text);
        assert_eq!(header(&headers, "To"), Some("Bob@example.com"));
        assert_eq!(
            header(&headers, "From"),
            Some("Palisade <noreply@example.com>")
        );
        assert_eq!(
            header(&headers, "Subject"),
            Some("Confirm your email address")
        );
        assert!(header(&headers, "Date").is_some(), "{text}");
        let message_id = header(&headers, "Message-ID").unwrap();
        assert!(
            message_id.starts_with('<') && message_id.ends_with("@example.com>"),
            "{message_id}"
        );
        assert!(
            header(&headers, "Content-Type")
                .unwrap()
                .starts_with("text/plain")
        );
        assert_eq!(
            body.trim_end(),
            "Open https://files.example.com/verify?token=abc to confirm."
        );
    }

    #[tokio::test]
    async fn an_html_alternative_is_sent_beside_the_text() {
        let data_dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::outbox(data_dir.path(), "noreply@example.com").unwrap();
        let to = Email::parse("bob@example.com").unwrap();
        let mail = OutgoingMail {
            to: &to,
            subject: "Reset",
            text: "Plain body",
            html: Some("<p>HTML body</p>"),
        };
        mailer.send_mail(&mail).await.unwrap();
        let files = outbox_files(mailer.outbox_dir().unwrap());
        let text = std::fs::read_to_string(&files[0]).unwrap();
        let (headers, body) = parse_eml(&text);
        assert!(
            header(&headers, "Content-Type")
                .unwrap()
                .starts_with("multipart/alternative")
        );
        assert!(body.contains("text/plain") && body.contains("Plain body"));
        assert!(body.contains("text/html") && body.contains("<p>HTML body</p>"));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_outbox_is_private_to_the_owner() {
        use std::os::unix::fs::PermissionsExt as _;
        let data_dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::outbox(data_dir.path(), "noreply@example.com").unwrap();
        let mode = std::fs::metadata(mailer.outbox_dir().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[tokio::test]
    async fn header_injection_through_the_subject_is_refused() {
        let data_dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::outbox(data_dir.path(), "noreply@example.com").unwrap();
        let to = Email::parse("bob@example.com").unwrap();
        for subject in [
            "Hi\r\nBcc: eve@evil.test",
            "Hi\nX: y",
            "",
            "   ",
            &"x".repeat(201),
        ] {
            assert!(
                matches!(
                    mailer.send(&to, subject, "body").await,
                    Err(MailError::Subject)
                ),
                "{subject:?}"
            );
        }
        assert!(outbox_files(mailer.outbox_dir().unwrap()).is_empty());
    }

    #[test]
    fn a_bad_sender_is_refused() {
        let data_dir = tempfile::tempdir().unwrap();
        for from in ["not an address", "a@b\r\nBcc: x@y.z", ""] {
            assert!(
                matches!(
                    Mailer::outbox(data_dir.path(), from),
                    Err(MailError::Address(_))
                ),
                "{from:?}"
            );
        }
    }

    #[test]
    fn smtp_without_tls_is_refused_except_to_this_machine() {
        let ok = |url: &str| {
            SmtpSettings {
                url: url.to_owned(),
            }
            .validate()
        };
        assert!(ok("smtps://user:pw@mail.example.com:465").is_ok());
        assert!(ok("smtp://user:pw@mail.example.com:587?tls=required").is_ok());
        assert!(ok("smtp://localhost:25").is_ok());
        assert!(ok("smtp://127.0.0.1:2525").is_ok());
        assert!(ok("smtp://[::1]:25").is_ok());
        assert!(matches!(
            ok("smtp://mail.example.com:25"),
            Err(MailError::InsecureSmtp(_))
        ));
        assert!(matches!(
            ok("smtp://mail.example.com:587?tls=opportunistic"),
            Err(MailError::InsecureSmtp(_))
        ));
        assert!(matches!(
            ok("http://mail.example.com"),
            Err(MailError::Url(_))
        ));
        assert!(matches!(ok("not a url"), Err(MailError::Url(_))));
    }

    #[test]
    fn an_smtp_mailer_is_built_without_connecting() {
        let settings = SmtpSettings {
            url: "smtps://user:hunter2@mail.example.com:465".to_owned(),
        };
        let mailer = Mailer::from_settings(
            Some(&settings),
            Path::new("/nonexistent"),
            "noreply@example.com",
        )
        .unwrap();
        assert!(mailer.outbox_dir().is_none());
    }

    #[test]
    fn debug_output_hides_the_smtp_password() {
        let settings = SmtpSettings {
            url: "smtps://user:hunter2@mail.example.com:465".to_owned(),
        };
        let text = format!("{settings:?}");
        assert!(
            !text.contains("hunter2") && text.contains("mail.example.com"),
            "{text}"
        );
        let mailer = Mailer::smtp(&settings, "noreply@example.com").unwrap();
        assert!(!format!("{mailer:?}").contains("hunter2"));
    }
}
