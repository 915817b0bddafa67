//! # Upload: restricted file uploads and safe downloads, behind sessions and CSRF
//!
//! ```text
//! cargo run -p palisade --example upload
//! ```
//!
//! Then open <https://localhost:8443/> and upload a PNG image or a text file. Files are stored in
//! `./example-data/files/`, under random names, outside anything the server serves as static
//! files.
//!
//! One `palisade::upload::UploadPolicy` says what `POST /upload` accepts, and everything is
//! enforced while the body streams in, before the handler sees a file:
//!
//! - the limits (`Limits`, set explicitly below and far smaller than the defaults): the whole
//!   body, one file, the number of parts, one text field, a part's headers and the file name;
//!   past any of them the upload is refused (`413`) and the partial file is deleted at once;
//! - the type is decided from the file's first bytes, never from the client's name or
//!   `Content-Type`: only `image/png` and `text/plain` are accepted, and an extension that
//!   disagrees with the content (an HTML page named `x.png`) is refused too (`415`);
//! - each file is written under a random name into the store's `.tmp/` directory and becomes
//!   permanent only when the handler calls `PendingFile::commit` (an atomic rename); a refused,
//!   dropped or aborted upload leaves nothing behind;
//! - the client's file name is kept only as display text (`display_name`: last path component,
//!   control and bidirectional characters removed), and the template escapes it.
//!
//! `GET /files/{name}` answers with `download_response`: `Content-Disposition: attachment`,
//! `X-Content-Type-Options: nosniff`, `Content-Security-Policy: sandbox; default-src 'none'` and
//! `no-store`, so even a file that slipped through could not run as a page of this site. A file is
//! served only to the session that uploaded it, and each session may store at most [`QUOTA`].
//!
//! **CSRF and uploads.** The CSRF layer checks uploads like any other POST, without buffering
//! them: it reads the token from the **first** part of the multipart body (at most 8 KiB) and
//! streams the rest to the handler untouched. So `{{ csrf_field() }}` must come before the file
//! input in the form, as below (browsers send parts in document order); a script can send the
//! token in the `X-CSRF-Token` header instead. A token in a later part is refused with `403`.
//!
//! `--self-test` (or `PALISADE_EXAMPLE_SELF_TEST=1`) serves on a random port, uploads a valid
//! image, a disguised HTML page and an oversized file, and exits; `cargo test -p palisade
//! --examples` runs it.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use palisade::csrf::{CsrfConfig, CsrfLayer, FormContext};
use palisade::headers::{SecureHeadersConfig, SecureHeadersLayer};
use palisade::proxy::{ClientIpLayer, TrustedProxies};
use palisade::secret::{KeyRing, Purpose};
use palisade::session::{MemorySessionStore, Session, SessionConfig, SessionLayer};
use palisade::template::Templates;
use palisade::upload::{FileStore, Limits, StoredFile, UploadPolicy, download_response};
use serde::Serialize;
use support::DevServer;

/// The page: the token field first, then the file input.
const PAGE_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Uploads</title>
</head>
<body>
  <h1>Uploads</h1>
  <form method="post" action="/upload" enctype="multipart/form-data">
    {{ csrf_field() }}
    <label>A PNG image or a text file, at most 64 KiB
      <input type="file" name="file" accept=".png,.txt,image/png,text/plain" required></label>
    <button type="submit">Upload</button>
  </form>
  <p>{{ used }} of {{ quota }} bytes used.</p>
  <ul>{% for file in files %}
    <li><a href="/files/{{ file.stored_name }}">{{ file.display_name }}</a>
      ({{ file.content_type }}, {{ file.size }} bytes)</li>{% endfor %}
  </ul>
</body>
</html>
"#;

/// What each session may store in total, in bytes.
const QUOTA: u64 = 256 * 1024;

/// The upload limits of this route, every field written out. The defaults
/// (`Limits::default()`) are larger: 100 MiB body, 50 MiB file, 16 parts.
fn limits() -> Limits {
    Limits {
        max_body: 128 * 1024,
        max_file: 64 * 1024,
        max_parts: 4, // the token, the file, and room for a field or two
        max_field: 1024,
        max_part_headers: 1024,
        max_name_len: 255,
    }
}

/// The session key listing the files a session uploaded (their random names).
const FILES_KEY: &str = "files";

#[derive(Clone)]
struct AppState {
    templates: Templates,
    policy: UploadPolicy,
    /// What the store holds, by random name. A real application keeps this in its database
    /// (with the owner's id), and commits the file only once the row is written.
    catalogue: Arc<Mutex<HashMap<String, StoredFile>>>,
}

impl AppState {
    /// The files of this session, in upload order.
    fn files_of(&self, session: &Session) -> Vec<StoredFile> {
        let names = session.get::<Vec<String>>(FILES_KEY).unwrap_or_default();
        let catalogue = self.catalogue.lock().expect("catalogue lock");
        names
            .iter()
            .filter_map(|name| catalogue.get(name).cloned())
            .collect()
    }
}

/// Builds the application for the site at `public_origin`, storing files in `store`.
fn app(public_origin: &str, store: FileStore) -> anyhow::Result<Router> {
    let state = AppState {
        templates: Templates::from_sources([("page.html", PAGE_HTML)])?,
        policy: UploadPolicy::new(store)
            .allow(&["image/png", "text/plain"])
            .limits(limits()),
        catalogue: Arc::default(),
    };
    let keys = KeyRing::generate();
    let sessions = SessionLayer::new(
        Arc::new(MemorySessionStore::new()),
        keys.signer(Purpose::Session),
        SessionConfig::default(),
    );
    let csrf = CsrfLayer::new(keys.signer(Purpose::Csrf), CsrfConfig::new(public_origin)?);

    Ok(Router::new()
        .route("/", get(show))
        .route("/upload", post(upload))
        .route("/files/{name}", get(download))
        .with_state(state)
        // Innermost first: CSRF, sessions, headers, client address.
        .layer(csrf)
        .layer(sessions)
        .layer(SecureHeadersLayer::new(SecureHeadersConfig::default()))
        .layer(ClientIpLayer::new(TrustedProxies::none())))
}

/// What the page shows of a stored file.
#[derive(Serialize)]
struct FileView {
    stored_name: String,
    display_name: String,
    content_type: String,
    size: u64,
}

async fn show(State(app): State<AppState>, cx: FormContext, session: Session) -> Response {
    let files: Vec<FileView> = app
        .files_of(&session)
        .into_iter()
        .map(|f| FileView {
            stored_name: f.stored_name,
            display_name: f.display_name,
            content_type: f.content_type,
            size: f.size,
        })
        .collect();
    let used: u64 = files.iter().map(|f| f.size).sum();
    let context = minijinja::context! {
        files => minijinja::value::Serde(files),
        used,
        quota => QUOTA,
    };
    match app
        .templates
        .render("page.html", &cx.render_context(), context)
    {
        Ok(html) => Html(html).into_response(),
        Err(err) => {
            eprintln!("template error: {err}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Runs only after the CSRF layer found a valid token in the first part. The body is taken
/// as a stream (`Body`, not `Multipart` or `Bytes`), so nothing is buffered in memory.
async fn upload(
    State(app): State<AppState>,
    session: Session,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let used: u64 = app.files_of(&session).iter().map(|f| f.size).sum();
    let received = match app
        .policy
        .receive(
            &headers,
            body.into_data_stream(),
            QUOTA.saturating_sub(used),
        )
        .await
    {
        Ok(received) => received,
        // 413, 415 or 400 with a message that is safe to show; nothing was kept.
        Err(err) => return err.into_response(),
    };

    let mut names = session.get::<Vec<String>>(FILES_KEY).unwrap_or_default();
    for pending in received.files {
        let stored = match pending.commit().await {
            Ok(stored) => stored,
            Err(err) => return err.into_response(),
        };
        names.push(stored.stored_name.clone());
        app.catalogue
            .lock()
            .expect("catalogue lock")
            .insert(stored.stored_name.clone(), stored);
    }
    if session.insert(FILES_KEY, &names).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    Redirect::to("/").into_response()
}

/// Serves a file to the session that uploaded it, as an attachment.
async fn download(
    State(app): State<AppState>,
    session: Session,
    UrlPath(name): UrlPath<String>,
) -> Response {
    let owned = session
        .get::<Vec<String>>(FILES_KEY)
        .unwrap_or_default()
        .contains(&name);
    let file = app
        .catalogue
        .lock()
        .expect("catalogue lock")
        .get(&name)
        .cloned();
    let Some(file) = file.filter(|_| owned) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // `true` would allow `inline` for raster images with no markup in them; attachment is safer.
    match download_response(app.policy.store(), &file, false).await {
        Ok(response) => response,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            StatusCode::NOT_FOUND.into_response()
        }
        Err(err) => {
            eprintln!("download failed: {err}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if support::self_test_requested() {
        return self_test().await;
    }
    let data = Path::new("example-data");
    let server = DevServer::bind("127.0.0.1:8443", data)?;
    let app = app(&server.origin, FileStore::new(data.join("files"))?)?;
    server.serve(app).await
}

/// A 1×1 grey PNG.
const TINY_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x3a, 0x7e, 0x9b,
    0x55, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x01, 0x48, 0xaf, 0xa4, 0x71, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

/// Uploads a valid image, a text file, a disguised HTML page and an oversized file.
async fn self_test() -> anyhow::Result<()> {
    use anyhow::{Context as _, ensure};

    let dir = tempfile::tempdir()?;
    let server = DevServer::bind("127.0.0.1:0", dir.path())?;
    let store = FileStore::new(dir.path().join("files"))?;
    let app = app(&server.origin, store.clone())?;
    let site = server.spawn(app)?;

    // The page starts a session and hands out the token.
    let page = site.client.get(site.url("/")).send().await?;
    ensure!(page.status() == 200, "GET / answered {}", page.status());
    let html = page.text().await?;
    let token = support::attribute_after(&html, r#"name="csrf_token""#, "value")
        .context("no csrf_token field")?;

    // A PNG, with the token as the first part: stored, listed, and downloadable as an attachment.
    let first = [("csrf_token", token.as_str())];
    let sent = post_file(&site, &first, "photo.png", TINY_PNG, &[]).await?;
    ensure!(
        sent.status() == 303,
        "PNG upload answered {}",
        sent.status()
    );
    let html = site.client.get(site.url("/")).send().await?.text().await?;
    let href = support::attribute_after(&html, "<li>", "href").context("PNG not listed")?;
    ensure!(html.contains(">photo.png</a>"), "display name not shown");
    let file = site.client.get(site.url(&href)).send().await?;
    ensure!(file.status() == 200, "download answered {}", file.status());
    let header = |name: &str| {
        file.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    ensure!(
        header("content-type") == "image/png",
        "{}",
        header("content-type")
    );
    ensure!(
        header("content-disposition").starts_with("attachment;"),
        "{}",
        header("content-disposition")
    );
    ensure!(header("x-content-type-options") == "nosniff");
    ensure!(
        header("content-security-policy").starts_with("sandbox"),
        "{}",
        header("content-security-policy")
    );
    ensure!(file.bytes().await?.as_ref() == TINY_PNG, "download differs");

    // Text is on the allow-list too.
    let sent = post_file(&site, &first, "notes.txt", b"hello\n", &[]).await?;
    ensure!(
        sent.status() == 303,
        "text upload answered {}",
        sent.status()
    );

    // An HTML page named like an image: the content decides, and HTML is not allowed.
    let disguised = b"<!doctype html><script>alert(document.cookie)</script>";
    let sent = post_file(&site, &first, "x.png", disguised, &[]).await?;
    ensure!(
        sent.status() == 415,
        "HTML as x.png answered {}",
        sent.status()
    );

    // A PNG padded to 80 KiB: refused while streaming, and nothing is left in .tmp.
    let mut big = TINY_PNG.to_vec();
    big.resize(80 * 1024, 0);
    let before = stored_count(dir.path());
    let sent = post_file(&site, &first, "big.png", &big, &[]).await?;
    ensure!(
        sent.status() == 413,
        "oversized upload answered {}",
        sent.status()
    );
    ensure!(store.temp_count() == 0, "a partial file was left in .tmp");
    ensure!(
        stored_count(dir.path()) == before,
        "an oversized file was stored"
    );

    // A valid token after the file is refused: the CSRF layer only reads the first part.
    let late = post_file(&site, &[], "late.png", TINY_PNG, &first).await?;
    ensure!(
        late.status() == 403,
        "no token first answered {}",
        late.status()
    );

    site.stop().await?;
    println!("upload self-test passed");
    Ok(())
}

/// Posts a multipart body as a browser would: the text fields `before`, one file part, then the
/// text fields `after`.
async fn post_file(
    site: &support::Running,
    before: &[(&str, &str)],
    file_name: &str,
    content: &[u8],
    after: &[(&str, &str)],
) -> anyhow::Result<reqwest::Response> {
    const BOUNDARY: &str = "----palisade-example-7d1f";
    let field = |name: &str, value: &str| {
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        )
    };
    let mut body = Vec::new();
    for (name, value) in before {
        body.extend_from_slice(field(name, value).as_bytes());
    }
    // The client's declared type is ignored by the server; a browser would send this.
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(content);
    body.extend_from_slice(b"\r\n");
    for (name, value) in after {
        body.extend_from_slice(field(name, value).as_bytes());
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    Ok(site
        .client
        .post(site.url("/upload"))
        .header("origin", &site.origin)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await?)
}

/// The number of committed files in the store (its `.tmp/` directory not counted).
fn stored_count(data: &Path) -> usize {
    std::fs::read_dir(data.join("files"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name() != ".tmp")
                .count()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn self_test_passes() {
        super::self_test().await.unwrap();
    }
}
