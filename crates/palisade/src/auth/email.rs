//! Email addresses: validated and normalised once, at the edge, into an [`Email`]; and who may
//! register, as a [`RegistrationMode`].
//!
//! [`Email::parse`] trims surrounding whitespace and then refuses anything a mail system or a
//! person could read two ways:
//!
//! - control characters anywhere, and whitespace inside the address;
//! - anything but exactly one `@`;
//! - a local part that is empty, longer than 64 bytes, or not a dot-atom (letters, digits,
//!   ``!#$%&'*+-/=?^_`{|}~``, non-ASCII letters, and dots that neither start, end nor double);
//!   quoted local parts are refused;
//! - a domain that is not a host name with at least one dot: labels of 1 to 63 letters, digits
//!   and hyphens (not at either end), at most 253 bytes, and a last label that is not numeric.
//!   Address literals (`[192.0.2.1]`) are refused.
//!
//! International domain names are converted to their ASCII (punycode) form with IDNA (UTS #46),
//! which also lower-cases them. The local part keeps the case it was typed in, since it is what
//! the user recognises, but two addresses that differ only in case are the same account:
//! [`Email::key`] is the lower-cased address used for lookups and uniqueness.
//!
//! ```
//! use palisade::auth::email::{Email, RegistrationMode};
//!
//! let email = Email::parse("  Bob@EXAMPLE.com ").unwrap();
//! assert_eq!(email.as_str(), "Bob@example.com");
//! assert_eq!(email.key(), "bob@example.com");
//! assert!(Email::parse("bob@exa mple.com").is_err());
//!
//! let mode: RegistrationMode = "domains:example.com,example.org".parse().unwrap();
//! assert!(mode.check(&email, false).is_ok());
//! let outsider = Email::parse("eve@elsewhere.test").unwrap();
//! assert!(mode.check(&outsider, false).is_err());
//! ```

use std::fmt;
use std::str::FromStr;

/// The longest local part accepted, in bytes (RFC 5321).
pub const MAX_LOCAL_LEN: usize = 64;

/// The longest domain accepted, in bytes, after conversion to ASCII.
pub const MAX_DOMAIN_LEN: usize = 253;

/// The longest address accepted, in bytes (RFC 5321 path limit less the angle brackets).
pub const MAX_EMAIL_LEN: usize = 254;

/// Why an address was refused. The message can be shown to the user as it is.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing but whitespace was given.
    #[error("Enter an email address.")]
    Empty,
    /// The address is longer than [`MAX_EMAIL_LEN`].
    #[error("This email address is too long.")]
    TooLong,
    /// The address holds a control character.
    #[error("The email address contains an invisible control character.")]
    ControlCharacter,
    /// The address holds whitespace between its first and last characters.
    #[error("The email address must not contain spaces.")]
    Whitespace,
    /// There is no `@`, or more than one.
    #[error("The email address must contain exactly one @.")]
    AtSign,
    /// The part before the `@` is empty, too long or holds characters not allowed there.
    #[error("The part of the email address before the @ is not valid.")]
    LocalPart,
    /// The part after the `@` is not a valid domain name.
    #[error("The part of the email address after the @ is not a valid domain name.")]
    Domain,
}

/// A validated, normalised email address; see the [module docs](self).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email {
    address: String,
    at: usize,
}

impl Email {
    /// Validates and normalises `raw`.
    ///
    /// # Errors
    ///
    /// An [`EmailError`] naming the first rule that `raw` breaks.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.len() > MAX_EMAIL_LEN * 4 {
            return Err(EmailError::TooLong);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(EmailError::ControlCharacter);
        }
        if trimmed.chars().any(char::is_whitespace) {
            return Err(EmailError::Whitespace);
        }

        let mut parts = trimmed.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(EmailError::AtSign);
        };
        if !is_valid_local_part(local) {
            return Err(EmailError::LocalPart);
        }
        let domain = normalize_domain(domain)?;

        let address = format!("{local}@{domain}");
        if address.len() > MAX_EMAIL_LEN {
            return Err(EmailError::TooLong);
        }
        Ok(Self {
            at: local.len(),
            address,
        })
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.address
    }

    /// The part before the `@`, as typed.
    pub fn local_part(&self) -> &str {
        &self.address[..self.at]
    }

    /// The domain, lower-cased ASCII.
    pub fn domain(&self) -> &str {
        &self.address[self.at + 1..]
    }

    /// The lower-cased address: the identity of an account, used for lookups and uniqueness.
    pub fn key(&self) -> String {
        self.address.to_lowercase()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.address)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Email").field(&self.address).finish()
    }
}

impl FromStr for Email {
    type Err = EmailError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.address
    }
}

/// A dot-atom local part (RFC 5322 `atext`, extended with non-ASCII letters as RFC 6531 allows).
fn is_valid_local_part(local: &str) -> bool {
    if local.is_empty() || local.len() > MAX_LOCAL_LEN {
        return false;
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return false;
    }
    local.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || "!#$%&'*+-/=?^_`{|}~.".contains(c)
            || (!c.is_ascii() && c.is_alphanumeric())
    })
}

/// Converts `domain` to lower-case ASCII with IDNA and checks it is a host name with a dot.
fn normalize_domain(domain: &str) -> Result<String, EmailError> {
    if domain.is_empty() || domain.starts_with('[') {
        return Err(EmailError::Domain);
    }
    let ascii = if domain.is_ascii() {
        domain.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii_strict(domain).map_err(|_| EmailError::Domain)?
    };
    let ascii = ascii.strip_suffix('.').unwrap_or(&ascii).to_owned();
    if ascii.len() > MAX_DOMAIN_LEN || !ascii.contains('.') {
        return Err(EmailError::Domain);
    }
    let labels_ok = ascii.split('.').all(|label| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    let last_is_numeric = ascii
        .rsplit('.')
        .next()
        .is_some_and(|t| t.bytes().all(|b| b.is_ascii_digit()));
    if !labels_ok || last_is_numeric {
        return Err(EmailError::Domain);
    }
    Ok(ascii)
}

/// Who may create an account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RegistrationMode {
    /// Anyone with a verified address.
    Open,
    /// Only holders of a valid invitation.
    Invite,
    /// Addresses in these domains (exact match, lower-case ASCII), or holders of a valid
    /// invitation.
    Domains(Vec<String>),
    /// Nobody: accounts are made by an administrator. The default.
    #[default]
    Closed,
}

/// Why a registration was refused. The message can be shown to the user as it is.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    /// Registration is closed.
    #[error("Registration is closed on this site.")]
    Closed,
    /// An invitation is needed and none (or an invalid one) was given.
    #[error("Registration on this site needs an invitation.")]
    InviteRequired,
    /// The address is not in an allowed domain.
    #[error("Registration on this site is limited to addresses in certain domains.")]
    DomainNotAllowed,
}

/// A registration mode that could not be parsed.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationModeError {
    /// The mode is not one of `open`, `invite`, `domains:…`, `closed`.
    #[error(
        "unknown registration mode {0:?}; use open, invite, domains:a.example,b.example or closed"
    )]
    Unknown(String),
    /// `domains` was given without any domain.
    #[error("registration mode `domains` needs at least one domain, as in domains:example.com")]
    NoDomains,
    /// A domain of the list is not a valid domain name.
    #[error("registration domain {0:?} is not a valid domain name")]
    BadDomain(String),
}

impl RegistrationMode {
    /// The `Domains` mode from a list of domain names, normalised like the domain of an
    /// [`Email`].
    ///
    /// # Errors
    ///
    /// [`RegistrationModeError::NoDomains`] for an empty list, and
    /// [`RegistrationModeError::BadDomain`] for a name that is not a valid domain.
    pub fn domains<I, S>(domains: I) -> Result<Self, RegistrationModeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list = Vec::new();
        for domain in domains {
            let domain = domain.as_ref().trim();
            if domain.is_empty() {
                continue;
            }
            let normalized = normalize_domain(domain.trim_start_matches('@'))
                .map_err(|_| RegistrationModeError::BadDomain(domain.to_owned()))?;
            if !list.contains(&normalized) {
                list.push(normalized);
            }
        }
        if list.is_empty() {
            return Err(RegistrationModeError::NoDomains);
        }
        Ok(Self::Domains(list))
    }

    /// Whether `email` may register, given whether the request carries a valid invitation
    /// (checked by the caller, typically with [`crate::auth::tokens`]).
    ///
    /// # Errors
    ///
    /// A [`RegistrationError`] whose message can be shown to the user.
    pub fn check(&self, email: &Email, invite_valid: bool) -> Result<(), RegistrationError> {
        match self {
            Self::Open => Ok(()),
            Self::Invite if invite_valid => Ok(()),
            Self::Invite => Err(RegistrationError::InviteRequired),
            Self::Domains(_) if invite_valid => Ok(()),
            Self::Domains(domains) if domains.iter().any(|d| d == email.domain()) => Ok(()),
            Self::Domains(_) => Err(RegistrationError::DomainNotAllowed),
            Self::Closed => Err(RegistrationError::Closed),
        }
    }
}

impl FromStr for RegistrationMode {
    type Err = RegistrationModeError;

    /// Parses `open`, `invite`, `closed` or `domains:a.example,b.example` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "open" => Ok(Self::Open),
            "invite" | "invite-only" | "invite_only" => Ok(Self::Invite),
            "closed" => Ok(Self::Closed),
            "domains" => Err(RegistrationModeError::NoDomains),
            _ => match lower.strip_prefix("domains:") {
                Some(list) => Self::domains(list.split(',')),
                None => Err(RegistrationModeError::Unknown(s.to_owned())),
            },
        }
    }
}

impl fmt::Display for RegistrationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Open => f.write_str("open"),
            Self::Invite => f.write_str("invite"),
            Self::Domains(domains) => write!(f, "domains:{}", domains.join(",")),
            Self::Closed => f.write_str("closed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surrounding_whitespace_is_trimmed_and_the_domain_lower_cased() {
        let email = Email::parse("  Bob@EXAMPLE.com ").unwrap();
        assert_eq!(email.as_str(), "Bob@example.com");
        assert_eq!(email.local_part(), "Bob");
        assert_eq!(email.domain(), "example.com");
        assert_eq!(email.key(), "bob@example.com");
        assert_eq!(
            Email::parse("\tbob@example.com\n").unwrap().as_str(),
            "bob@example.com"
        );
    }

    #[test]
    fn usual_addresses_are_accepted() {
        for ok in [
            "a@b.co",
            "first.last@example.com",
            "first+tag@sub.example.co.uk",
            "o'brien@example.ie",
            "x_y-z@ex-ample.com",
            "user@example.com.",
            "jos\u{e9}@example.com",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            Email::parse("user@example.com.").unwrap().domain(),
            "example.com"
        );
    }

    #[test]
    fn control_characters_are_refused() {
        for bad in [
            "bob\u{0}@example.com",
            "bob@exa\u{7}mple.com",
            "bob@example.com\u{1b}[0m",
        ] {
            assert_eq!(
                Email::parse(bad),
                Err(EmailError::ControlCharacter),
                "{bad:?}"
            );
        }
        assert_eq!(
            Email::parse("bob@example.com\r\nBcc: eve@evil.test"),
            Err(EmailError::ControlCharacter)
        );
    }

    #[test]
    fn whitespace_inside_is_refused() {
        for bad in [
            "bo b@example.com",
            "bob@exa mple.com",
            "bob @example.com",
            "bob@\u{a0}x.com",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Whitespace), "{bad:?}");
        }
    }

    #[test]
    fn anything_but_one_at_sign_is_refused() {
        for bad in ["bob.example.com", "bob@@example.com", "a@b@example.com"] {
            assert_eq!(Email::parse(bad), Err(EmailError::AtSign), "{bad}");
        }
        assert_eq!(Email::parse("   "), Err(EmailError::Empty));
    }

    #[test]
    fn bad_local_parts_are_refused() {
        let long = format!("{}@example.com", "a".repeat(65));
        for bad in [
            "@example.com",
            ".bob@example.com",
            "bob.@example.com",
            "b..ob@example.com",
            "\"bob\"@example.com",
            "bob(comment)@example.com",
            "bob<x>@example.com",
            "bo,b@example.com",
            "bob\\@example.com",
            long.as_str(),
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::LocalPart), "{bad}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(64))).is_ok());
    }

    #[test]
    fn bad_domains_are_refused() {
        let long_label = format!("bob@{}.com", "a".repeat(64));
        for bad in [
            "bob@",
            "bob@localhost",
            "bob@-example.com",
            "bob@example-.com",
            "bob@exa_mple.com",
            "bob@example..com",
            "bob@.example.com",
            "bob@192.168.0.1",
            "bob@[192.168.0.1]",
            "bob@example.com/x",
            long_label.as_str(),
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Domain), "{bad}");
        }
    }

    #[test]
    fn international_domains_become_punycode() {
        let email = Email::parse("bob@B\u{fc}cher.Example").unwrap();
        assert_eq!(email.domain(), "xn--bcher-kva.example");
        assert_eq!(email.as_str(), "bob@xn--bcher-kva.example");
    }

    #[test]
    fn overlong_addresses_are_refused() {
        let domain = format!(
            "{}.{}.{}.{}.com",
            "a".repeat(60),
            "b".repeat(60),
            "c".repeat(60),
            "d".repeat(60)
        );
        let address = format!("{}@{domain}", "x".repeat(10));
        assert_eq!(Email::parse(&address), Err(EmailError::TooLong));
    }

    #[test]
    fn registration_modes_parse_from_configuration() {
        assert_eq!("open".parse(), Ok(RegistrationMode::Open));
        assert_eq!(" Invite ".parse(), Ok(RegistrationMode::Invite));
        assert_eq!("closed".parse(), Ok(RegistrationMode::Closed));
        assert_eq!(
            "domains:Example.com, @example.org ,".parse(),
            Ok(RegistrationMode::Domains(vec![
                "example.com".into(),
                "example.org".into()
            ]))
        );
        assert_eq!(
            "domains:".parse::<RegistrationMode>(),
            Err(RegistrationModeError::NoDomains)
        );
        assert_eq!(
            "domains".parse::<RegistrationMode>(),
            Err(RegistrationModeError::NoDomains)
        );
        assert!(matches!(
            "domains:not a domain".parse::<RegistrationMode>(),
            Err(RegistrationModeError::BadDomain(_))
        ));
        assert!(matches!(
            "sometimes".parse::<RegistrationMode>(),
            Err(RegistrationModeError::Unknown(_))
        ));
        assert_eq!(RegistrationMode::default(), RegistrationMode::Closed);
    }

    #[test]
    fn registration_modes_round_trip_through_display() {
        for text in ["open", "invite", "closed", "domains:a.example,b.example"] {
            assert_eq!(text.parse::<RegistrationMode>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn registration_modes_decide_who_may_register() {
        let inside = Email::parse("ann@example.com").unwrap();
        let outside = Email::parse("eve@elsewhere.test").unwrap();
        let sub = Email::parse("sam@sub.example.com").unwrap();

        assert_eq!(RegistrationMode::Open.check(&outside, false), Ok(()));

        assert_eq!(
            RegistrationMode::Invite.check(&inside, false),
            Err(RegistrationError::InviteRequired)
        );
        assert_eq!(RegistrationMode::Invite.check(&inside, true), Ok(()));

        let domains = RegistrationMode::domains(["example.com"]).unwrap();
        assert_eq!(domains.check(&inside, false), Ok(()));
        assert_eq!(
            domains.check(&outside, false),
            Err(RegistrationError::DomainNotAllowed)
        );
        assert_eq!(
            domains.check(&sub, false),
            Err(RegistrationError::DomainNotAllowed)
        );
        assert_eq!(domains.check(&outside, true), Ok(()));

        assert_eq!(
            RegistrationMode::Closed.check(&inside, true),
            Err(RegistrationError::Closed)
        );
    }

    #[test]
    fn refusal_messages_are_fit_for_users() {
        assert_eq!(
            EmailError::Whitespace.to_string(),
            "The email address must not contain spaces."
        );
        assert_eq!(
            RegistrationError::Closed.to_string(),
            "Registration is closed on this site."
        );
    }
}
