//! Passive rules: checks of responses the crawl fetched anyway, no extra request needed.
//!
//! Each submodule reads one aspect of a response: [`headers`] the security headers, [`cookies`]
//! the `Set-Cookie` attributes (and Flask keys), [`content`] the body (debug pages, SQL errors,
//! forms, mixed content).

pub(crate) mod catalog;
pub(crate) mod content;
pub(crate) mod cookies;
pub(crate) mod headers;

use crate::client::Exchange;
use crate::finding::Findings;
use crate::html::Document;

/// What the passive rules know about a response beyond the exchange itself.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Context<'a> {
    /// The parsed page, for HTML responses.
    pub(crate) document: Option<&'a Document>,
    /// The page depends on the signed-in user.
    pub(crate) personal: bool,
}

/// Runs every passive rule on one response.
pub(crate) fn check(exchange: &Exchange, context: Context<'_>, out: &mut Findings) {
    headers::check(exchange, context, out);
    cookies::check(exchange, out);
    content::check(exchange, context, out);
}
