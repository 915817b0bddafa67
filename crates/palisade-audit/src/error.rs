//! The crate's error type.
//!
//! Errors are either the user's fault (a bad flag, an unreachable target), which `run` turns into
//! exit status 2 with a message on stderr, or a budget that ran out, which only ends the audit
//! early and is noted in the report.

use std::io;

/// Everything that can stop an audit or one of its requests.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A flag or a combination of flags is invalid.
    #[error("{0}")]
    Usage(String),
    /// A request was refused because its URL is outside the audited origin.
    #[error("refusing to send a request outside the audited origin: {0}")]
    OutOfScope(String),
    /// The target could not be reached or answered in a way HTTP does not allow.
    #[error("request to {url} failed: {message}")]
    Connection {
        /// The URL that was requested.
        url: String,
        /// What went wrong, from the HTTP client.
        message: String,
    },
    /// Signing in with the given credentials did not work.
    #[error("sign-in failed: {0}")]
    Login(String),
    /// The `--max-time` budget is spent.
    #[error("the time budget (--max-time) is spent")]
    OutOfTime,
    /// Reading stdin or writing the report failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl AuditError {
    /// Builds a [`AuditError::Usage`] from any message.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }
}

/// Result type of this crate.
pub(crate) type Result<T, E = AuditError> = std::result::Result<T, E>;
