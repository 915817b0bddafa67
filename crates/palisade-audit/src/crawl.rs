//! The crawl: breadth-first over same-origin links and GET forms, up to `--max-pages`.
//!
//! Links that look destructive (sign out, delete, …) are never followed, so a signed-in crawl
//! does not end its own session. Up to four pages are fetched at once; the client's rate limit
//! paces them.

use std::collections::{HashSet, VecDeque};

use futures_util::stream::{FuturesUnordered, StreamExt};
use url::Url;

use crate::client::{Client, Exchange, Request};
use crate::cookie::Jar;
use crate::error::AuditError;
use crate::html::{self, Document};

/// Pages fetched concurrently.
const CONCURRENCY: usize = 4;

/// File extensions that are never pages.
const SKIP_EXTENSIONS: [&str; 22] = [
    ".png", ".jpg", ".jpeg", ".gif", ".webp", ".ico", ".svg", ".css", ".js", ".map", ".woff",
    ".woff2", ".ttf", ".pdf", ".zip", ".gz", ".tar", ".mp4", ".mp3", ".avi", ".exe", ".dmg",
];

/// Path words of links the crawl never follows.
const DESTRUCTIVE_LINKS: [&str; 9] = [
    "logout", "log-out", "signout", "sign-out", "sign_out", "delete", "remove", "disable",
    "destroy",
];

/// One fetched page.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    /// The URL that was requested.
    pub(crate) url: Url,
    /// Redirects and the final response, in order.
    pub(crate) chain: Vec<Exchange>,
    /// The parsed final response, when it is HTML.
    pub(crate) document: Option<Document>,
}

impl Page {
    /// The final response.
    pub(crate) fn last(&self) -> &Exchange {
        self.chain.last().expect("a page has at least one exchange")
    }
}

/// What a crawl fetched.
#[derive(Debug, Default)]
pub(crate) struct Crawl {
    pub(crate) pages: Vec<Page>,
    /// Whether the crawl stopped because the time budget ran out.
    pub(crate) out_of_time: bool,
    /// Requests that failed, as (URL, message).
    pub(crate) errors: Vec<(String, String)>,
}

/// Whether a link may be followed by the crawl.
pub(crate) fn crawlable(url: &Url) -> bool {
    let path = url.path().to_ascii_lowercase();
    !SKIP_EXTENSIONS.iter().any(|ext| path.ends_with(ext))
        && !DESTRUCTIVE_LINKS.iter().any(|w| path.contains(w))
}

/// Crawls from `start` with the cookies of `jar`.
pub(crate) async fn crawl(client: &Client, start: &[Url], jar: &Jar, max_pages: usize) -> Crawl {
    let mut result = Crawl::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut queue: VecDeque<Url> = VecDeque::new();
    for url in start {
        if seen.insert(key(url)) {
            queue.push_back(url.clone());
        }
    }

    let mut running = FuturesUnordered::new();
    let mut fetched = 0;
    loop {
        while running.len() < CONCURRENCY && fetched < max_pages {
            let Some(url) = queue.pop_front() else { break };
            fetched += 1;
            let client = client.clone();
            let jar = jar.clone();
            running.push(async move {
                let chain = client.follow(Request::get(url.clone()), Some(&jar)).await;
                (url, chain)
            });
        }
        let Some((url, chain)) = running.next().await else {
            break;
        };
        let chain = match chain {
            Ok(chain) => chain,
            Err(AuditError::OutOfTime) => {
                result.out_of_time = true;
                continue;
            }
            Err(e) => {
                result.errors.push((url.to_string(), e.to_string()));
                continue;
            }
        };
        let last = chain.last().expect("follow returns at least one exchange");
        let document = last.is_html().then(|| html::parse(&last.url, &last.body));
        seen.insert(key(&last.url));
        if let Some(doc) = &document {
            for next in discovered(doc) {
                if client.in_scope(&next) && crawlable(&next) && seen.insert(key(&next)) {
                    queue.push_back(next);
                }
            }
        }
        client
            .progress()
            .set_message(format!("crawled {}", result.pages.len() + 1));
        result.pages.push(Page {
            url,
            chain,
            document,
        });
    }
    result
}

/// Links of a page plus the URLs its GET forms submit to.
fn discovered(doc: &Document) -> Vec<Url> {
    let mut urls = doc.links.clone();
    for form in doc
        .forms
        .iter()
        .filter(|f| !f.is_post() && !f.looks_destructive())
    {
        let mut url = form.action.clone();
        url.query_pairs_mut().clear().extend_pairs(form.pairs());
        url.set_fragment(None);
        urls.push(url);
    }
    urls
}

/// Crawl identity of a URL: without fragment.
fn key(url: &Url) -> String {
    let mut url = url.clone();
    url.set_fragment(None);
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destructive_and_static_links_are_not_crawled() {
        for (url, ok) in [
            ("http://a.test/account", true),
            ("http://a.test/logout", false),
            ("http://a.test/posts/3/delete", false),
            ("http://a.test/static/app.js", false),
            ("http://a.test/search?q=x", true),
        ] {
            assert_eq!(crawlable(&Url::parse(url).unwrap()), ok, "{url}");
        }
    }
}
