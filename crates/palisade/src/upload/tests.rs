use axum::http::HeaderMap;
use bytes::Bytes;

use super::*;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\xff\xff?\0\x05\xfe\x02\xfe\xa7\x35\x81\x84\0\0\0\0IEND\xaeB`\x82";

struct Fixture {
    _dir: tempfile::TempDir,
    policy: UploadPolicy,
}

fn fixture(limits: Limits) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path().join("files")).unwrap();
    let policy = UploadPolicy::new(store)
        .allow(&["image/png", "image/jpeg", "text/plain", "application/pdf"])
        .limits(limits);
    Fixture { _dir: dir, policy }
}

fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (HeaderMap, Vec<u8>) {
    let mut body = Vec::new();
    for (name, filename, data) in parts {
        body.extend_from_slice(b"--B0undary\r\n");
        let disposition = match filename {
            Some(f) => format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: image/png\r\n\r\n"
            ),
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"),
        };
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--B0undary--\r\n");
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        "multipart/form-data; boundary=B0undary".parse().unwrap(),
    );
    (headers, body)
}

fn stream(body: Vec<u8>) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
    let chunks: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(4096)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures_util::stream::iter(chunks)
}

async fn receive(
    f: &Fixture,
    parts: &[(&str, Option<&str>, &[u8])],
) -> Result<Received, UploadError> {
    let (headers, body) = multipart(parts);
    f.policy.receive(&headers, stream(body), u64::MAX).await
}

fn stored_files(f: &Fixture) -> usize {
    std::fs::read_dir(&*f.policy.store().root)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_file())
        .count()
}

#[tokio::test]
async fn a_png_is_stored_under_a_random_name_after_commit() {
    let f = fixture(Limits::default());
    let mut got = receive(
        &f,
        &[("title", None, b"Logo"), ("file", Some("logo.png"), PNG)],
    )
    .await
    .unwrap();
    assert_eq!(got.fields["title"], "Logo");
    assert_eq!(f.policy.store().temp_count(), 1);
    let file = got.files.remove(0).commit().await.unwrap();
    assert_eq!(file.content_type, "image/png");
    assert_eq!(file.display_name, "logo.png");
    assert!(file.inline_safe);
    assert_eq!(file.stored_name.len(), 32);
    assert_ne!(file.stored_name, "logo.png");
    assert_eq!(
        std::fs::read(f.policy.store().path(&file.stored_name).unwrap()).unwrap(),
        PNG
    );
    assert_eq!(f.policy.store().temp_count(), 0);
}

#[tokio::test]
async fn a_dropped_pending_file_leaves_nothing() {
    let f = fixture(Limits::default());
    let got = receive(&f, &[("file", Some("logo.png"), PNG)])
        .await
        .unwrap();
    drop(got);
    assert_eq!(f.policy.store().temp_count(), 0);
    assert_eq!(stored_files(&f), 0);
}

#[tokio::test]
async fn html_or_svg_declared_as_png_is_refused() {
    let f = fixture(Limits::default());
    for (name, content) in [
        ("x.png", &b"<html><script>alert(1)</script></html>"[..]),
        (
            "x.png",
            &b"  <svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>"[..],
        ),
        ("x.png", &b"<?xml version=\"1.0\"?><svg/>"[..]),
        ("x.txt", &b"hello <script>alert(1)</script>"[..]),
    ] {
        let err = receive(&f, &[("file", Some(name), content)])
            .await
            .unwrap_err();
        assert!(
            matches!(err, UploadError::TypeNotAllowed { .. }),
            "{name}: {err:?}"
        );
        assert_eq!(err.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    assert_eq!(f.policy.store().temp_count(), 0);
}

#[tokio::test]
async fn an_extension_that_disagrees_with_the_content_is_refused() {
    let f = fixture(Limits::default());
    for name in ["x.html", "x.png%00.html", "x.svg", "report.pdf"] {
        let err = receive(&f, &[("file", Some(name), PNG)]).await.unwrap_err();
        assert!(
            matches!(err, UploadError::ExtensionMismatch { .. }),
            "{name}: {err:?}"
        );
    }
    assert_eq!(f.policy.store().temp_count(), 0);
}

#[tokio::test]
async fn a_polyglot_is_never_inline_safe() {
    let f = fixture(Limits::default());
    let mut polyglot = PNG.to_vec();
    polyglot.extend(std::iter::repeat_n(b'A', 20_000));
    polyglot.extend_from_slice(b"<script>alert(document.domain)</script>");
    let mut got = receive(&f, &[("file", Some("cat.png"), &polyglot)])
        .await
        .unwrap();
    let file = got.files.remove(0).commit().await.unwrap();
    assert_eq!(file.content_type, "image/png");
    assert!(!file.inline_safe);
}

#[tokio::test]
async fn odd_and_hostile_names_become_display_text_only() {
    let f = fixture(Limits::default());
    let cases = [
        ("../../x.png", "x.png"),
        ("..\\\\x.png", "x.png"),
        ("/etc/passwd.png", "passwd.png"),
        ("C:\\\\x.png", "x.png"),
        ("", "unnamed"),
        (".", "unnamed"),
        ("CON.png", "CON.png"),
        ("evil\u{202E}gnp.exe", "evilgnp.exe"),
    ];
    for (raw, shown) in cases {
        assert_eq!(display_name(&raw.replace("\\\\", "\\")), shown, "{raw:?}");
    }
    for name in ["../../x.png", "/etc/passwd.png", "CON.png"] {
        let mut got = receive(&f, &[("file", Some(name), PNG)]).await.unwrap();
        let file = got.files.remove(0).commit().await.unwrap();
        assert!(
            f.policy
                .store()
                .path(&file.stored_name)
                .unwrap()
                .starts_with(&*f.policy.store().root)
        );
    }
    assert_eq!(stored_files(&f), 3);
}

#[tokio::test]
async fn each_limit_is_enforced_and_leaves_no_temporary_file() {
    let small = Limits {
        max_body: 200_000,
        max_file: 50_000,
        max_parts: 5,
        max_field: 1000,
        ..Limits::default()
    };
    let f = fixture(small);
    let big_text = vec![b'a'; 60_000];
    let err = receive(&f, &[("file", Some("a.txt"), &big_text)])
        .await
        .unwrap_err();
    assert!(matches!(err, UploadError::FileTooLarge { .. }), "{err:?}");
    let huge = vec![b'a'; 300_000];
    let err = receive(&f, &[("file", Some("a.txt"), &huge)])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            UploadError::BodyTooLarge { .. } | UploadError::FileTooLarge { .. }
        ),
        "{err:?}"
    );
    let err = receive(&f, &[("description", None, &vec![b'd'; 2000])])
        .await
        .unwrap_err();
    assert!(matches!(err, UploadError::FieldTooLarge { .. }), "{err:?}");
    let many: Vec<(&str, Option<&str>, &[u8])> = (0..6).map(|_| ("x", None, &b"1"[..])).collect();
    let err = receive(&f, &many).await.unwrap_err();
    assert!(matches!(err, UploadError::TooManyParts { .. }), "{err:?}");
    assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(f.policy.store().temp_count(), 0);
}

#[tokio::test]
async fn content_length_over_the_limit_is_refused_before_reading() {
    let f = fixture(Limits {
        max_body: 1000,
        ..Limits::default()
    });
    let (mut headers, _) = multipart(&[]);
    headers.insert(header::CONTENT_LENGTH, "5000".parse().unwrap());
    let never = futures_util::stream::pending::<Result<Bytes, std::io::Error>>();
    let err = f
        .policy
        .receive(&headers, never, u64::MAX)
        .await
        .unwrap_err();
    assert!(matches!(err, UploadError::BodyTooLarge { .. }));
}

#[tokio::test]
async fn the_quota_counts_every_file_of_the_upload() {
    let f = fixture(Limits::default());
    let text = vec![b'q'; 3000];
    let (headers, body) = multipart(&[
        ("file", Some("a.txt"), &text),
        ("file", Some("b.txt"), &text),
    ]);
    let err = f
        .policy
        .receive(&headers, stream(body), 5000)
        .await
        .unwrap_err();
    assert!(matches!(err, UploadError::QuotaExceeded));
    assert_eq!(f.policy.store().temp_count(), 0);
}

#[tokio::test]
async fn fifty_thousand_tiny_parts_stop_at_the_part_limit() {
    let f = fixture(Limits::default());
    let parts: Vec<(&str, Option<&str>, &[u8])> =
        (0..50_000).map(|_| ("p", None, &b""[..])).collect();
    let err = receive(&f, &parts).await.unwrap_err();
    assert!(matches!(err, UploadError::TooManyParts { .. }));
}

#[tokio::test]
async fn a_twenty_megabyte_text_field_is_refused() {
    let f = fixture(Limits::default());
    let field = vec![b'z'; 20 * 1024 * 1024];
    let err = receive(&f, &[("description", None, &field)])
        .await
        .unwrap_err();
    assert!(matches!(err, UploadError::FieldTooLarge { .. }));
}

#[tokio::test]
async fn downloads_are_attachments_with_a_sandbox() {
    let f = fixture(Limits::default());
    let mut got = receive(
        &f,
        &[("file", Some("naïve \"report\".txt"), b"plain words")],
    )
    .await
    .unwrap();
    let file = got.files.remove(0).commit().await.unwrap();
    let resp = download_response(f.policy.store(), &file, true)
        .await
        .unwrap();
    let h = resp.headers();
    assert_eq!(h["content-type"], "text/plain");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-security-policy"], "sandbox; default-src 'none'");
    let cd = h["content-disposition"].to_str().unwrap();
    assert!(
        cd.starts_with("attachment; filename=\"na_ve _report_.txt\""),
        "{cd}"
    );
    assert!(
        cd.contains("filename*=UTF-8''na%C3%AFve%20%22report%22.txt"),
        "{cd}"
    );
}

#[tokio::test]
async fn only_safe_raster_images_go_inline() {
    let f = fixture(Limits::default());
    let mut got = receive(&f, &[("file", Some("a.png"), PNG)]).await.unwrap();
    let png = got.files.remove(0).commit().await.unwrap();
    let r = download_response(f.policy.store(), &png, true)
        .await
        .unwrap();
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline;")
    );
    let r = download_response(f.policy.store(), &png, false)
        .await
        .unwrap();
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
}

#[test]
fn stored_names_from_elsewhere_cannot_escape_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path()).unwrap();
    for bad in ["../secret.key", "/etc/passwd", "", "abc", &"g".repeat(32)] {
        assert!(store.path(bad).is_none(), "{bad}");
    }
    assert!(store.path(&"a".repeat(32)).is_some());
}

#[test]
fn content_is_detected_by_magic_not_by_name() {
    assert_eq!(detect(PNG), "image/png");
    assert_eq!(detect(b"%PDF-1.7\n"), "application/pdf");
    assert_eq!(detect(b"just words\n"), "text/plain");
    assert_eq!(detect(b"<!DOCTYPE html><p>"), "text/html");
    assert_eq!(detect(b"\x00\x01\x02binary"), "application/octet-stream");
}
