//! Drop's files through a real server: uploads and every limit, hostile names and contents,
//! downloads, quota, access control, sharing, share links, search probes and comments.

mod common;

use std::time::{Duration, Instant};

use common::{Member, TestApp, unescape};
use palisade_app::Settings;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE, LOCATION};

const B: &str = "DropTestBoundary7d2f";

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const MALLORY: &str = "mallory@example.com";

/// A PNG signature and the start of an IHDR chunk: detected as `image/png`.
const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

// ----- helpers --------------------------------------------------------------------------------

fn field(name: &str, value: &[u8]) -> Vec<u8> {
    let mut part =
        format!("--{B}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").into_bytes();
    part.extend_from_slice(value);
    part.extend_from_slice(b"\r\n");
    part
}

fn file_part(filename: &str, content_type: &str, data: &[u8]) -> Vec<u8> {
    let mut part = format!(
        "--{B}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
         Content-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    part.extend_from_slice(data);
    part.extend_from_slice(b"\r\n");
    part
}

fn closing() -> Vec<u8> {
    format!("--{B}--\r\n").into_bytes()
}

/// A complete upload form body, the token first as the browser sends it.
fn upload_body(m: &Member, title: &str, filename: &str, ctype: &str, data: &[u8]) -> Vec<u8> {
    [
        field("csrf_token", m.token.as_bytes()),
        field("title", title.as_bytes()),
        field("description", b"a test file"),
        file_part(filename, ctype, data),
        closing(),
    ]
    .concat()
}

async fn post_multipart(
    app: &TestApp,
    m: &Member,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    m.client
        .post(app.url("/files"))
        .header(CONTENT_TYPE, format!("multipart/form-data; boundary={B}"))
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn upload(
    app: &TestApp,
    m: &Member,
    title: &str,
    filename: &str,
    data: &[u8],
) -> reqwest::Response {
    post_multipart(app, m, upload_body(m, title, filename, "text/plain", data)).await
}

/// Uploads and returns the new file's id, checking the 303 to its page.
async fn upload_ok(app: &TestApp, m: &Member, title: &str, filename: &str, data: &[u8]) -> String {
    let resp = upload(app, m, title, filename, data).await;
    assert_eq!(resp.status(), 303, "upload of {filename:?}");
    file_id(&resp)
}

fn file_id(resp: &reqwest::Response) -> String {
    let location = resp.headers()[LOCATION].to_str().unwrap();
    let id = location
        .strip_prefix("/files/")
        .expect("a file page")
        .to_owned();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    id
}

async fn get(m: &Member, app: &TestApp, path: &str) -> reqwest::Response {
    m.client.get(app.url(path)).send().await.unwrap()
}

async fn post_form(
    m: &Member,
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![("csrf_token", m.token.as_str())];
    form.extend_from_slice(fields);
    m.client
        .post(app.url(path))
        .form(&form)
        .send()
        .await
        .unwrap()
}

fn temp_dir(app: &TestApp) -> std::path::PathBuf {
    app.dir.path().join("files/.tmp")
}

/// Waits briefly for in-progress uploads to be cleaned up, then insists the temp folder is empty.
async fn assert_no_temp_files(app: &TestApp, what: &str) {
    for _ in 0..100 {
        if std::fs::read_dir(temp_dir(app)).unwrap().count() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what}: a temporary file was left behind");
}

/// The names in the store, `.tmp` excepted.
fn stored_names(app: &TestApp) -> Vec<String> {
    std::fs::read_dir(app.dir.path().join("files"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != ".tmp")
        .collect()
}

async fn file_rows(app: &TestApp) -> i64 {
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        app.dir.path().join("palisade.db").display()
    ))
    .await
    .unwrap();
    let n = sqlx::query_scalar("SELECT COUNT(*) FROM drop_files")
        .fetch_one(&db)
        .await
        .unwrap();
    db.close().await;
    n
}

async fn start_with_users(settings: Settings, emails: &[&str]) -> TestApp {
    let app = TestApp::start(settings).await;
    app.create_users(emails).await;
    app
}

async fn still_serving(app: &TestApp, m: &Member) {
    let health = get(m, app, "/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(get(m, app, "/files").await.status(), 200);
}

// ----- uploads ------------------------------------------------------------------------------

#[tokio::test]
async fn an_upload_is_listed_shown_downloaded_safely_and_deleted_completely() {
    let app = start_with_users(Settings::default(), &[ALICE]).await;
    let alice = app.member(ALICE).await;

    let id = upload_ok(
        &app,
        &alice,
        "Quarterly notes",
        "notes.txt",
        b"hello, team\n",
    )
    .await;
    let list = get(&alice, &app, "/files").await.text().await.unwrap();
    assert!(list.contains("Quarterly notes") && list.contains(&format!("/files/{id}")));
    let page = get(&alice, &app, &format!("/files/{id}")).await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("notes.txt") && page.contains("a test file"));

    let download = get(&alice, &app, &format!("/files/{id}/download")).await;
    assert_eq!(download.status(), 200);
    let h = download.headers().clone();
    assert_eq!(h[CONTENT_TYPE], "text/plain");
    assert_eq!(
        h[CONTENT_DISPOSITION],
        "attachment; filename=\"notes.txt\"; filename*=UTF-8''notes.txt"
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-security-policy"], "sandbox; default-src 'none'");
    assert!(h["cache-control"].to_str().unwrap().contains("no-store"));
    assert_eq!(download.bytes().await.unwrap().as_ref(), b"hello, team\n");

    // A script asking for JSON gets the new page's address.
    let json = alice
        .client
        .post(app.url("/files"))
        .header(CONTENT_TYPE, format!("multipart/form-data; boundary={B}"))
        .header("accept", "application/json")
        .body(upload_body(&alice, "", "second.txt", "text/plain", b"two"))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 201);
    let answer: serde_json::Value = json.json().await.unwrap();
    let url = answer["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("/files/"));
    let second = get(&alice, &app, &url).await.text().await.unwrap();
    assert!(
        second.contains("second.txt"),
        "an empty title falls back to the name"
    );

    assert_eq!(stored_names(&app).len(), 2);
    let deleted = post_form(&alice, &app, &format!("/files/{id}/delete"), &[]).await;
    assert_eq!(deleted.status(), 303);
    assert_eq!(deleted.headers()[LOCATION], "/files");
    assert_eq!(stored_names(&app).len(), 1);
    assert_eq!(file_rows(&app).await, 1);
    assert_eq!(
        get(&alice, &app, &format!("/files/{id}")).await.status(),
        404
    );
    assert_eq!(
        get(&alice, &app, &format!("/files/{id}/download"))
            .await
            .status(),
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn every_upload_limit_answers_quickly_and_leaves_nothing_behind() {
    let settings = Settings {
        upload_max_file: Some(256 * 1024),
        ..Settings::default()
    };
    let app = start_with_users(settings, &[ALICE]).await;
    let alice = app.member(ALICE).await;
    let token = alice.token.clone();

    let mut cases: Vec<(&str, Vec<u8>, u16)> = Vec::new();
    // The body: declared larger than the limit, refused before it is read.
    cases.push((
        "body",
        upload_body(&alice, "big", "big.txt", "text/plain", &vec![b'a'; 2 << 20]),
        413,
    ));
    // One file over the file limit, in a body under the body limit.
    cases.push((
        "file",
        upload_body(
            &alice,
            "big",
            "big.txt",
            "text/plain",
            &vec![b'a'; 256 * 1024 + 1],
        ),
        413,
    ));
    // A text field over the field limit.
    cases.push((
        "field",
        [
            field("csrf_token", token.as_bytes()),
            field("description", &vec![b'd'; 100 * 1024]),
            closing(),
        ]
        .concat(),
        413,
    ));
    // Part headers that go on and on.
    let mut headers = field("csrf_token", token.as_bytes());
    headers.extend(format!("--{B}\r\nContent-Disposition: form-data; name=\"file\"\r\n").bytes());
    for i in 0..2000 {
        headers.extend(format!("X-Filler-{i}: {}\r\n", "h".repeat(20)).bytes());
    }
    cases.push(("header", headers, 413));
    // A part header that never ends before the body does.
    let mut unterminated = field("csrf_token", token.as_bytes());
    unterminated.extend(format!("--{B}\r\nContent-Disposition: form-data; name=\"title\"").bytes());
    cases.push(("unterminated header", unterminated, 400));
    // A file name over the name limit.
    cases.push((
        "name",
        upload_body(
            &alice,
            "n",
            &format!("{}.txt", "n".repeat(2000)),
            "text/plain",
            b"x",
        ),
        400,
    ));

    for (what, body, status) in cases {
        let started = Instant::now();
        let resp = post_multipart(&app, &alice, body).await;
        assert_eq!(resp.status().as_u16(), status, "{what}");
        let text = resp.text().await.unwrap();
        assert!(
            text.contains("flash error"),
            "{what}: the list page explains: {text}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what} took too long"
        );
        assert_no_temp_files(&app, what).await;
        still_serving(&app, &alice).await;
    }

    // Streamed without a length, so only the limits checked while reading can stop them: a
    // 20 MB text field, 50,000 tiny parts, and a file past the file limit.
    let mut many = field("csrf_token", token.as_bytes());
    for i in 0..50_000 {
        many.extend(field(&format!("f{i}"), b"x"));
    }
    many.extend(closing());
    let file_head = format!(
        "--{B}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.txt\"\r\n\r\n"
    );
    let streamed: Vec<(&str, Vec<Vec<u8>>, &str)> = vec![
        (
            "20 MB field",
            [
                vec![
                    field("csrf_token", token.as_bytes()),
                    format!(
                        "--{B}\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\n"
                    )
                    .into_bytes(),
                ],
                vec![vec![b'z'; 64 * 1024]; 320],
            ]
            .concat(),
            "form field is longer",
        ),
        (
            "50,000 parts streamed",
            many.chunks(16 * 1024).map(<[u8]>::to_vec).collect(),
            "more than 8 parts",
        ),
        (
            "file streamed",
            [
                vec![
                    field("csrf_token", token.as_bytes()),
                    file_head.into_bytes(),
                ],
                vec![vec![b'f'; 64 * 1024]; 64],
            ]
            .concat(),
            "too large",
        ),
    ];
    for (what, chunks, message) in streamed {
        let stream = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
        let started = Instant::now();
        let resp = alice
            .client
            .post(app.url("/files"))
            .header(CONTENT_TYPE, format!("multipart/form-data; boundary={B}"))
            .header("accept", "application/json")
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 413, "{what}");
        let answer: serde_json::Value = resp.json().await.unwrap();
        assert!(
            answer["error"].as_str().unwrap().contains(message),
            "{what}: {answer}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what} took too long"
        );
        assert_no_temp_files(&app, what).await;
        still_serving(&app, &alice).await;
    }

    assert!(stored_names(&app).is_empty());
    assert_eq!(file_rows(&app).await, 0);
    still_serving(&app, &alice).await;
    app.stop().await;
}

#[tokio::test]
async fn odd_names_are_stored_under_random_names_or_refused_and_shown_escaped() {
    let app = start_with_users(Settings::default(), &[ALICE]).await;
    let alice = app.member(ALICE).await;
    let text = b"plain text content\n".as_slice();
    let cases: &[(&str, &[u8], Option<&str>)] = &[
        ("../../x", text, Some("x")),
        ("..\\\\x", text, Some("x")),
        ("/etc/passwd", text, Some("passwd")),
        ("C:\\\\x", text, Some("x")),
        ("", text, Some("unnamed")),
        (".", text, Some("unnamed")),
        ("CON.png", PNG, Some("CON.png")),
        ("x.png%00.html", text, None),
        ("invoice\u{202E}txt.exe", text, None),
        ("notes\u{202E}cod.txt", text, Some("notescod.txt")),
        (
            "<img src=x onerror=alert(1)>.txt",
            text,
            Some("<img src=x onerror=alert(1)>.txt"),
        ),
    ];
    for (raw, data, shown) in cases {
        let resp = post_multipart(
            &app,
            &alice,
            upload_body(&alice, "", raw, "text/plain", data),
        )
        .await;
        match shown {
            None => assert_eq!(resp.status(), 415, "{raw:?} is refused"),
            Some(shown) => {
                assert_eq!(resp.status(), 303, "{raw:?} is stored");
                let id = file_id(&resp);
                let download = get(&alice, &app, &format!("/files/{id}/download")).await;
                let disposition = download.headers()[CONTENT_DISPOSITION].to_str().unwrap();
                assert!(disposition.starts_with("attachment; "), "{disposition}");
                assert!(!disposition.contains('/') && !disposition.contains('\\'));
                assert!(
                    !disposition.contains("%E2%80%AE"),
                    "no right-to-left override"
                );
                let page = get(&alice, &app, &format!("/files/{id}"))
                    .await
                    .text()
                    .await
                    .unwrap();
                assert!(
                    unescape(&page).contains(shown),
                    "{raw:?} shown as {shown:?}"
                );
            }
        }
    }
    // Every stored file has a random name inside the store; nothing was written elsewhere.
    let names = stored_names(&app);
    assert_eq!(names.len(), 9);
    assert!(
        names
            .iter()
            .all(|n| n.len() == 32 && n.bytes().all(|b| b.is_ascii_hexdigit()))
    );
    for stray in ["x", "passwd", "etc", "unnamed", "CON.png"] {
        assert!(!app.dir.path().join(stray).exists(), "{stray}");
        assert!(
            !app.dir.path().join("files").join(stray).exists(),
            "{stray}"
        );
    }
    let list = get(&alice, &app, "/files").await.text().await.unwrap();
    assert!(!list.contains("<img src=x"), "names are escaped");
    assert!(list.contains("&lt;img src=x onerror=alert(1)&gt;.txt"));
    assert_no_temp_files(&app, "odd names").await;
    app.stop().await;
}

#[tokio::test]
async fn markup_is_refused_whatever_it_claims_and_polyglots_are_never_inline() {
    let app = start_with_users(Settings::default(), &[ALICE]).await;
    let alice = app.member(ALICE).await;
    let refused: &[(&str, &[u8])] = &[
        ("x.png", b"<html><body><script>alert(1)</script></body></html>"),
        ("x.png", b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>"),
        ("x.png", b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>"),
        ("x.txt", b"  <!doctype html><p>hi"),
        ("x.html", b"<p>hi</p>"),
        ("x.exe", b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0"),
    ];
    for (name, data) in refused {
        let resp = post_multipart(
            &app,
            &alice,
            upload_body(&alice, "", name, "image/png", data),
        )
        .await;
        assert_eq!(
            resp.status(),
            415,
            "{name}: {:?}",
            String::from_utf8_lossy(data)
        );
        let page = resp.text().await.unwrap();
        assert!(
            page.contains("not accepted") || page.contains("refused"),
            "{page}"
        );
    }
    assert!(stored_names(&app).is_empty());
    assert_no_temp_files(&app, "markup").await;

    // A clean PNG may be shown inline; a PNG with a script inside never is.
    let clean = post_multipart(
        &app,
        &alice,
        upload_body(&alice, "", "dot.png", "image/png", PNG),
    )
    .await;
    let clean = file_id(&clean);
    let inline = get(&alice, &app, &format!("/files/{clean}/download?inline=1")).await;
    assert_eq!(inline.headers()[CONTENT_TYPE], "image/png");
    assert!(
        inline.headers()[CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("inline; ")
    );

    let polyglot = [PNG, b"<script>alert(document.cookie)</script>".as_slice()].concat();
    let resp = post_multipart(
        &app,
        &alice,
        upload_body(&alice, "", "poly.png", "image/png", &polyglot),
    )
    .await;
    assert_eq!(resp.status(), 303);
    let poly = file_id(&resp);
    for path in [
        format!("/files/{poly}/download?inline=1"),
        format!("/files/{poly}/download"),
    ] {
        let resp = get(&alice, &app, &path).await;
        let h = resp.headers();
        assert!(
            h[CONTENT_DISPOSITION]
                .to_str()
                .unwrap()
                .starts_with("attachment; "),
            "{path}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["content-security-policy"], "sandbox; default-src 'none'");
        assert_eq!(h[CONTENT_TYPE], "image/png");
    }
    let page = get(&alice, &app, &format!("/files/{poly}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("inline=1"), "no View link for a polyglot");
    app.stop().await;
}

#[tokio::test]
async fn the_quota_counts_stored_bytes_and_a_refusal_leaves_nothing() {
    let settings = Settings {
        user_quota: Some(3000),
        ..Settings::default()
    };
    let app = start_with_users(settings, &[ALICE, BOB]).await;
    let alice = app.member(ALICE).await;
    let first = upload_ok(&app, &alice, "one", "one.txt", &[b'1'; 2000]).await;
    let over = upload(&app, &alice, "two", "two.txt", &[b'2'; 1500]).await;
    assert_eq!(over.status(), 413);
    assert!(over.text().await.unwrap().contains("quota"));
    assert_eq!(stored_names(&app).len(), 1);
    assert_eq!(file_rows(&app).await, 1);
    assert_no_temp_files(&app, "quota").await;

    // Each user has their own quota; deleting frees space.
    let bob = app.member(BOB).await;
    upload_ok(&app, &bob, "bob's", "b.txt", &[b'b'; 2500]).await;
    post_form(&alice, &app, &format!("/files/{first}/delete"), &[]).await;
    upload_ok(&app, &alice, "two", "two.txt", &[b'2'; 2900]).await;
    app.stop().await;
}

// ----- access -------------------------------------------------------------------------------

#[tokio::test]
async fn someone_else_gets_404_on_every_file_route() {
    let app = start_with_users(Settings::default(), &[ALICE, MALLORY]).await;
    let alice = app.member(ALICE).await;
    let mallory = app.member(MALLORY).await;
    let id = upload_ok(&app, &alice, "private plans", "plans.txt", b"secret").await;
    post_form(
        &alice,
        &app,
        &format!("/files/{id}/share"),
        &[("action", "link")],
    )
    .await;
    let page = get(&alice, &app, &format!("/files/{id}"))
        .await
        .text()
        .await
        .unwrap();
    let link_id = link_ids(&page).remove(0);

    let missing = "0123456789abcdef0123456789abcdef";
    for target in [id.as_str(), missing, "1", "..%2f..%2fetc%2fpasswd"] {
        for path in [
            format!("/files/{target}"),
            format!("/files/{target}/download"),
        ] {
            assert_eq!(get(&mallory, &app, &path).await.status(), 404, "{path}");
        }
        for (path, fields) in [
            (format!("/files/{target}/delete"), vec![]),
            (format!("/files/{target}/comments"), vec![("body", "hi")]),
            (format!("/files/{target}/share"), vec![("email", MALLORY)]),
            (format!("/files/{target}/share"), vec![("action", "link")]),
            (format!("/files/{target}/links/{link_id}/revoke"), vec![]),
        ] {
            let resp = post_form(&mallory, &app, &path, &fields).await;
            assert_eq!(resp.status(), 404, "POST {path}");
        }
    }
    // Mallory learned nothing and changed nothing.
    let list = get(&mallory, &app, "/files").await.text().await.unwrap();
    assert!(!list.contains("private plans"));
    let search = get(&mallory, &app, "/search?q=%25")
        .await
        .text()
        .await
        .unwrap();
    assert!(!search.contains("private plans"));
    let page = get(&alice, &app, &format!("/files/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("private plans") && !page.contains("mallory@"));
    assert!(page.contains("active"), "the link was not revoked");
    assert_eq!(stored_names(&app).len(), 1);

    // Signed out, every route sends to the sign-in page.
    let anonymous = app.client();
    let resp = anonymous
        .get(app.url(&format!("/files/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert!(
        resp.headers()[LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/login?next=")
    );
    app.stop().await;
}

#[tokio::test]
async fn a_file_shared_with_a_user_is_theirs_to_see_and_no_answer_reveals_accounts() {
    let app = start_with_users(Settings::default(), &[ALICE, BOB, MALLORY]).await;
    let alice = app.member(ALICE).await;
    let bob = app.member(BOB).await;
    let id = upload_ok(&app, &alice, "design.txt", "design.txt", b"the design").await;

    let share = |email: &'static str| {
        let path = format!("/files/{id}/share");
        let alice = &alice;
        let app = &app;
        async move {
            let resp = post_form(alice, app, &path, &[("email", email)]).await;
            let status = resp.status();
            let location = resp.headers()[LOCATION].to_str().unwrap().to_owned();
            let page = get(alice, app, &location).await.text().await.unwrap();
            let start = page.find("class=\"flash").unwrap();
            let flash = page[start..].split("</p>").next().unwrap().to_owned();
            (status, location, flash.replace(email, "ADDRESS"))
        }
    };
    let to_bob = share("Bob@example.com").await;
    let to_nobody = share("nobody@example.com").await;
    assert_eq!(
        to_bob, to_nobody,
        "the same answer with and without an account"
    );
    assert_eq!(to_bob.0, 303);

    // Bob sees it, opens it, downloads it and comments; he cannot delete or share it.
    let list = get(&bob, &app, "/files").await.text().await.unwrap();
    assert!(list.contains(&format!("/files/{id}")) && list.contains(ALICE));
    let page = get(&bob, &app, &format!("/files/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("design.txt") && !page.contains("/delete"));
    let download = get(&bob, &app, &format!("/files/{id}/download")).await;
    assert_eq!(download.bytes().await.unwrap().as_ref(), b"the design");
    let comment = post_form(
        &bob,
        &app,
        &format!("/files/{id}/comments"),
        &[("body", "Looks good")],
    )
    .await;
    assert_eq!(comment.status(), 303);
    let delete = post_form(&bob, &app, &format!("/files/{id}/delete"), &[]).await;
    assert_eq!(delete.status(), 404);
    let reshare = post_form(
        &bob,
        &app,
        &format!("/files/{id}/share"),
        &[("email", MALLORY)],
    )
    .await;
    assert_eq!(reshare.status(), 404);
    let page = get(&alice, &app, &format!("/files/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Looks good"));

    // Mallory, who was not named, still gets 404.
    let mallory = app.member(MALLORY).await;
    assert_eq!(
        get(&mallory, &app, &format!("/files/{id}")).await.status(),
        404
    );

    // An address that is not an address is a form error, kept for correction.
    let bad = post_form(
        &alice,
        &app,
        &format!("/files/{id}/share"),
        &[("email", "not an address")],
    )
    .await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("Enter an email address"));

    // Bob cannot take another recipient off; Alice takes Bob and the mistyped address off,
    // and Bob loses the file at once.
    let path = format!("/files/{id}/share");
    let unshare = |client, email: &'static str| {
        let path = &path;
        let app = &app;
        async move {
            post_form(
                client,
                app,
                path,
                &[("action", "unshare"), ("email", email)],
            )
            .await
        }
    };
    assert_eq!(unshare(&bob, "nobody@example.com").await.status(), 404);
    let page = get(&alice, &app, &format!("/files/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Stop sharing with bob@example.com")
            || page.contains("Stop sharing with Bob@example.com")
    );
    assert_eq!(unshare(&alice, BOB).await.status(), 303);
    assert_eq!(unshare(&alice, "nobody@example.com").await.status(), 303);
    assert_eq!(
        unshare(&alice, "nobody@example.com").await.status(),
        404,
        "an address not shared with"
    );
    assert_eq!(get(&bob, &app, &format!("/files/{id}")).await.status(), 404);
    assert_eq!(
        get(&bob, &app, &format!("/files/{id}/download"))
            .await
            .status(),
        404
    );
    let list = get(&bob, &app, "/files").await.text().await.unwrap();
    assert!(!list.contains(&format!("/files/{id}")));
    app.stop().await;
}

// ----- share links --------------------------------------------------------------------------

fn link_urls(page: &str) -> Vec<String> {
    let page = unescape(page);
    page.match_indices("/s/")
        .map(|(i, _)| {
            let rest = &page[i..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

fn link_ids(page: &str) -> Vec<String> {
    let page = unescape(page);
    page.match_indices("/links/")
        .map(|(i, _)| page[i + 7..i + 7 + 32].to_owned())
        .collect()
}

#[tokio::test]
async fn share_links_expire_run_out_are_revoked_and_refuse_tampering() {
    let app = start_with_users(Settings::default(), &[ALICE]).await;
    let alice = app.member(ALICE).await;
    let id = upload_ok(&app, &alice, "handout", "handout.txt", b"handout").await;
    let share = format!("/files/{id}/share");
    let create = |fields: Vec<(&'static str, &'static str)>| {
        let alice = &alice;
        let app = &app;
        let share = share.clone();
        let file_page = format!("/files/{id}");
        async move {
            let mut all = vec![("action", "link")];
            all.extend(fields);
            let resp = post_form(alice, app, &share, &all).await;
            assert_eq!(resp.status(), 303);
            let page = get(alice, app, &file_page).await.text().await.unwrap();
            // Newest first.
            (link_urls(&page).remove(0), link_ids(&page).remove(0))
        }
    };
    let anonymous = app.client();
    let fetch = |path: String| {
        let anonymous = anonymous.clone();
        let url = app.url(&path);
        async move { anonymous.get(url).send().await.unwrap() }
    };

    // Limited to two downloads.
    let (twice, _) = create(vec![("max_downloads", "2"), ("expires", "1d")]).await;
    for _ in 0..2 {
        let resp = fetch(twice.clone()).await;
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()[CONTENT_DISPOSITION]
                .to_str()
                .unwrap()
                .starts_with("attachment; ")
        );
        assert_eq!(
            resp.headers()["content-security-policy"],
            "sandbox; default-src 'none'"
        );
        assert_eq!(resp.bytes().await.unwrap().as_ref(), b"handout");
    }
    assert_eq!(fetch(twice.clone()).await.status(), 404);

    // Revoked.
    let (revoked, revoked_id) = create(vec![("expires", "7d")]).await;
    assert_eq!(fetch(revoked.clone()).await.status(), 200);
    let resp = post_form(
        &alice,
        &app,
        &format!("/files/{id}/links/{revoked_id}/revoke"),
        &[],
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(fetch(revoked.clone()).await.status(), 404);

    // Expired: an hour later, as far as the database can tell.
    let (expiring, expiring_id) = create(vec![("expires", "1h")]).await;
    assert_eq!(fetch(expiring.clone()).await.status(), 200);
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        app.dir.path().join("palisade.db").display()
    ))
    .await
    .unwrap();
    sqlx::query("UPDATE drop_share_links SET expires_at = expires_at - 3601 WHERE id = ?")
        .bind(&expiring_id)
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
    assert_eq!(fetch(expiring.clone()).await.status(), 404);

    // Tampered: another id, a changed signature, a bare id, a truncated token.
    let (good, good_id) = create(vec![]).await;
    let token = good.strip_prefix("/s/").unwrap().to_owned();
    let (data, tag) = token.split_once('.').unwrap();
    let mut flipped = tag.to_owned().into_bytes();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let forged_id = format!(
        "{}{}",
        &data[..31],
        if data.ends_with('0') { '1' } else { '0' }
    );
    for bad in [
        format!("/s/{forged_id}.{tag}"),
        format!("/s/{data}.{}", String::from_utf8(flipped).unwrap()),
        format!("/s/{good_id}"),
        format!("/s/{}", &token[..token.len() - 2]),
        format!("/s/{token}x"),
        "/s/..%2f..%2fpalisade.db".to_owned(),
    ] {
        assert_eq!(fetch(bad.clone()).await.status(), 404, "{bad}");
    }
    assert_eq!(fetch(good.clone()).await.status(), 200);

    // Links die with their file.
    post_form(&alice, &app, &format!("/files/{id}/delete"), &[]).await;
    assert_eq!(fetch(good).await.status(), 404);

    // Bad link settings are form errors.
    let other = upload_ok(&app, &alice, "other", "other.txt", b"other").await;
    for fields in [
        vec![("action", "link"), ("expires", "forever")],
        vec![("action", "link"), ("max_downloads", "0")],
        vec![
            ("action", "link"),
            ("max_downloads", "-1; DROP TABLE drop_files"),
        ],
    ] {
        let resp = post_form(&alice, &app, &format!("/files/{other}/share"), &fields).await;
        assert_eq!(resp.status(), 400, "{fields:?}");
    }
    app.stop().await;
}

// ----- search and comments ------------------------------------------------------------------

#[tokio::test]
async fn search_probes_give_normal_results_or_400_and_never_an_sql_error() {
    let app = start_with_users(Settings::default(), &[ALICE, BOB]).await;
    let alice = app.member(ALICE).await;
    let bob = app.member(BOB).await;
    upload_ok(&app, &alice, "alpha report", "a.txt", &[b'a'; 10]).await;
    upload_ok(&app, &alice, "beta 100% done", "b.txt", &[b'b'; 30]).await;
    upload_ok(&app, &alice, "under_score", "c.txt", &[b'c'; 20]).await;
    upload_ok(&app, &bob, "bob 100% private", "d.txt", b"d").await;

    let titles = |html: &str| -> Vec<String> {
        [
            "alpha report",
            "beta 100% done",
            "under_score",
            "bob 100% private",
        ]
        .iter()
        .filter(|t| html.contains(&format!(">{t}</a>")))
        .map(|t| (*t).to_owned())
        .collect()
    };
    let search = |q: &'static str, sort: &'static str| {
        let alice = &alice;
        let url = app.url("/search");
        async move {
            let resp = alice
                .client
                .get(url)
                .query(&[("q", q), ("sort", sort)])
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap())
        }
    };

    let (status, html) = search("' OR 1=1--", "name").await;
    assert_eq!((status, titles(&html)), (200, vec![]));
    let (status, html) = search("%", "name").await;
    assert_eq!(
        (status, titles(&html)),
        (200, vec!["beta 100% done".to_owned()])
    );
    let (status, html) = search("_", "name").await;
    assert_eq!(
        (status, titles(&html)),
        (200, vec!["under_score".to_owned()])
    );
    for q in ["\"", "\\", "'", "%' OR '1'='1", "😀", "a\\%", "[a-z]*"] {
        let (status, html) = search(q, "date").await;
        assert_eq!(status, 200, "{q:?}");
        assert!(titles(&html).is_empty(), "{q:?}");
    }
    let (status, html) = search("", "").await;
    assert_eq!(status, 200);
    assert_eq!(
        titles(&html).len(),
        3,
        "everything of Alice's, nothing of Bob's"
    );

    let order = |html: &str| {
        let mut found: Vec<(usize, String)> = ["alpha report", "beta 100% done", "under_score"]
            .iter()
            .filter_map(|t| {
                html.find(&format!(">{t}</a>"))
                    .map(|i| (i, (*t).to_owned()))
            })
            .collect();
        found.sort();
        found.into_iter().map(|(_, t)| t).collect::<Vec<_>>()
    };
    let (_, html) = search("", "name").await;
    assert_eq!(
        order(&html),
        ["alpha report", "beta 100% done", "under_score"]
    );
    let (_, html) = search("", "size").await;
    assert_eq!(
        order(&html),
        ["beta 100% done", "under_score", "alpha report"]
    );
    let (_, html) = search("", "date").await;
    assert_eq!(order(&html).len(), 3);

    for sort in [
        "name;DROP TABLE files",
        "1",
        "date desc",
        "f.size",
        "NAME",
        "name--",
    ] {
        let (status, html) = search("a", sort).await;
        assert_eq!(status, 400, "{sort}");
        assert!(html.contains("Sort by name, date or size"), "{sort}");
    }
    for q in ["\u{0}", "a\u{0}", "\u{1b}[31m"] {
        let (status, html) = search(q, "date").await;
        assert_eq!(status, 400, "{q:?}");
        assert!(titles(&html).is_empty(), "{q:?}");
    }
    let long = "q".repeat(201);
    let resp = alice
        .client
        .get(app.url("/search"))
        .query(&[("q", long.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = alice
        .client
        .get(app.url("/search?q=a&q=b"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error() || resp.status() == 200);

    // Nothing was harmed.
    assert_eq!(file_rows(&app).await, 4);
    let (status, html) = search("", "").await;
    assert_eq!((status, titles(&html).len()), (200, 3));
    app.stop().await;
}

#[tokio::test]
async fn comments_and_titles_render_inert() {
    let app = start_with_users(Settings::default(), &[ALICE]).await;
    let alice = app.member(ALICE).await;
    let id = upload_ok(
        &app,
        &alice,
        "<script>alert('title')</script>",
        "x.txt",
        b"x",
    )
    .await;
    let path = format!("/files/{id}/comments");
    for body in [
        "<script>alert(1)</script>",
        "\"><img src=x onerror=alert(1)>",
        "<a href=\"javascript:alert(1)\">click</a> javascript:alert(2)",
        // A direction override and control characters, which escaping leaves alone.
        "report\u{202E}gnp.exe\u{0}\u{1b}[31m end",
    ] {
        let resp = post_form(&alice, &app, &path, &[("body", body)]).await;
        assert_eq!(resp.status(), 303, "{body}");
    }
    let page = get(&alice, &app, &format!("/files/{id}")).await;
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("'strict-dynamic'") && !csp.contains("unsafe-inline"));
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>alert"));
    assert!(!html.contains("<img src=x"));
    assert!(!html.contains("href=\"javascript:"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"));
    assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains("&lt;script&gt;alert(&#x27;title&#x27;)"));
    assert!(
        html.contains("reportgnp.exe[31m end"),
        "controls were not removed"
    );
    assert!(!html.contains('\u{202E}') && !html.contains('\u{0}') && !html.contains('\u{1b}'));
    // Every script on the page is the app's own, with the nonce.
    let tags: Vec<&str> = html
        .split("<script")
        .skip(1)
        .map(|rest| rest.split('>').next().unwrap())
        .collect();
    assert!(!tags.is_empty());
    assert!(tags.iter().all(|tag| tag.contains(" nonce=\"")), "{tags:?}");

    // Empty and over-long comments are refused with a message.
    let empty = post_form(&alice, &app, &path, &[("body", "   ")]).await;
    assert_eq!(empty.status(), 400);
    assert!(empty.text().await.unwrap().contains("Write something"));
    let long = "c".repeat(4001);
    let resp = post_form(&alice, &app, &path, &[("body", long.as_str())]).await;
    assert_eq!(resp.status(), 400);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("at most 4000 characters")
    );
    app.stop().await;
}

#[tokio::test]
async fn the_upload_page_loads_the_progress_script_and_keeps_the_token_first() {
    let app = start_with_users(Settings::default(), &[ALICE]).await;
    let alice = app.member(ALICE).await;
    let html = get(&alice, &app, "/files").await.text().await.unwrap();
    let form = &html[html.find("enctype=\"multipart/form-data\"").unwrap()..];
    let token = form.find("name=\"csrf_token\"").unwrap();
    for later in ["name=\"title\"", "name=\"description\"", "name=\"file\""] {
        assert!(form.find(later).unwrap() > token, "{later} after the token");
    }
    assert!(html.contains("<progress"));
    assert!(html.contains("action=\"/search\""));
    // app.js is loaded once (twice would attach its upload handler twice and store every
    // upload twice), with the nonce.
    let srcs: Vec<String> = html
        .split("<script")
        .skip(1)
        .map(|rest| rest.split('>').next().unwrap())
        .filter(|tag| tag.contains(" nonce=\""))
        .filter_map(|tag| tag.split("src=\"").nth(1)?.split('"').next())
        .map(unescape)
        .filter(|src| src.starts_with("/static/app.") && src.ends_with(".js"))
        .collect();
    assert_eq!(srcs.len(), 1, "app.js exactly once: {srcs:?}");
    let js = get(&alice, &app, &srcs[0]).await;
    assert_eq!(js.status(), 200);
    let js = js.text().await.unwrap();
    assert!(js.contains("XMLHttpRequest") && js.contains("X-CSRF-Token"));
    assert!(!js.contains("eval(") && !js.contains("innerHTML"));
    assert!(
        !html.contains(" onclick=") && !html.contains(" onsubmit=") && !html.contains(" style=")
    );

    // Without the token, a multipart upload is refused before anything is stored.
    let body = [
        field("title", b"t"),
        file_part("a.txt", "text/plain", b"a"),
        closing(),
    ]
    .concat();
    let resp = alice
        .client
        .post(app.url("/files"))
        .header(CONTENT_TYPE, format!("multipart/form-data; boundary={B}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(stored_names(&app).is_empty());
    app.stop().await;
}
