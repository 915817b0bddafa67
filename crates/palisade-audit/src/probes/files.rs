//! Sensitive files: cheap GETs for `/.git/config`, `/.env`, backups and `.DS_Store`, run on
//! every audit (they change nothing). Each hit is confirmed by the file's content, so a site
//! that answers 200 to every path does not produce findings.

use futures_util::stream::{self, StreamExt};
use url::Url;

use crate::client::{Client, Request};
use crate::finding::Finding;
use crate::rules::catalog::{self, Rule};

/// How a real file of that kind starts or what it contains.
#[derive(Debug, Clone, Copy)]
enum Check {
    GitConfig,
    GitHead,
    Env,
    Zip,
    Gzip,
    Sqlite,
    SqlDump,
    DsStore,
}

const FILES: [(&str, &Rule, Check); 13] = [
    ("/.git/config", &catalog::GIT_EXPOSED, Check::GitConfig),
    ("/.git/HEAD", &catalog::GIT_EXPOSED, Check::GitHead),
    ("/.env", &catalog::ENV_EXPOSED, Check::Env),
    ("/.env.local", &catalog::ENV_EXPOSED, Check::Env),
    ("/.env.production", &catalog::ENV_EXPOSED, Check::Env),
    ("/backup.zip", &catalog::BACKUP_EXPOSED, Check::Zip),
    ("/site.zip", &catalog::BACKUP_EXPOSED, Check::Zip),
    ("/backup.tar.gz", &catalog::BACKUP_EXPOSED, Check::Gzip),
    ("/backup.sql", &catalog::BACKUP_EXPOSED, Check::SqlDump),
    ("/dump.sql", &catalog::BACKUP_EXPOSED, Check::SqlDump),
    ("/db.sqlite3", &catalog::BACKUP_EXPOSED, Check::Sqlite),
    ("/app.db", &catalog::BACKUP_EXPOSED, Check::Sqlite),
    ("/.DS_Store", &catalog::DS_STORE_EXPOSED, Check::DsStore),
];

/// Probes every file; returns the findings.
pub(crate) async fn run(client: &Client, target: &Url) -> Vec<Finding> {
    stream::iter(FILES)
        .map(|(path, rule, check)| async move {
            let url = target.join(path).ok()?;
            let ex = client.send(Request::get(url), None).await.ok()?;
            if ex.status != 200 || !matches(check, &ex.body) {
                return None;
            }
            let detail = format!("{path} is downloadable ({} bytes)", ex.body.len());
            Some(Finding::new(
                rule,
                ex.url.as_str(),
                path,
                detail,
                ex.evidence(&["content-type"], Some("")),
            ))
        })
        .buffer_unordered(4)
        .filter_map(|f| async move { f })
        .collect()
        .await
}

fn matches(check: Check, body: &str) -> bool {
    let html = body.trim_start().starts_with('<');
    match check {
        Check::GitConfig => body.contains("[core]") && !html,
        Check::GitHead => body.starts_with("ref: refs/"),
        Check::Env => {
            !html
                && body.lines().any(|l| {
                    let l = l.trim_start_matches("export ").trim();
                    l.split_once('=').is_some_and(|(k, _)| {
                        !k.is_empty()
                            && k.chars()
                                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                    })
                })
        }
        Check::Zip => body.starts_with("PK\u{3}\u{4}"),
        Check::Gzip => body.starts_with("\u{1f}\u{fffd}"),
        Check::Sqlite => body.starts_with("SQLite format 3\0"),
        Check::SqlDump => !html && (body.contains("CREATE TABLE") || body.contains("INSERT INTO")),
        Check::DsStore => body.starts_with("\0\0\0\u{1}Bud1"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_recognised_by_content_not_status() {
        assert!(matches(
            Check::GitConfig,
            "[core]\n\trepositoryformatversion = 0\n"
        ));
        assert!(!matches(Check::GitConfig, "<html>[core]</html>"));
        assert!(matches(Check::Env, "SECRET_KEY=abc\nDEBUG=1\n"));
        assert!(!matches(Check::Env, "<!doctype html><p>Not found</p>"));
        assert!(matches(Check::Zip, "PK\u{3}\u{4}rest"));
        assert!(matches(Check::DsStore, "\0\0\0\u{1}Bud1\0"));
    }
}
