//! Restricted uploads: limits enforced while streaming, types decided by content, safe names,
//! random storage names outside any served folder, atomic writes, and safe downloads.
//!
//! An [`UploadPolicy`] says what one route accepts. [`UploadPolicy::receive`] streams a
//! `multipart/form-data` body straight to temporary files in the store, checking every limit as
//! bytes arrive, and returns the text fields and the [`PendingFile`]s. A pending file becomes
//! permanent only when the handler calls [`PendingFile::commit`] (after its database row is
//! written); dropped, refused, oversized or aborted uploads leave nothing behind.
//!
//! The client's declared content type and file name are never trusted: the type comes from the
//! file's first bytes, must be on the route's allow-list, and must agree with the name's
//! extension; the name is kept only as display text ([`display_name`]).
//!
//! ```no_run
//! use palisade::upload::{FileStore, UploadPolicy};
//!
//! # async fn demo(req: axum::extract::Request) -> Result<(), palisade::upload::UploadError> {
//! let store = FileStore::new("./palisade-data/files").unwrap();
//! let policy = UploadPolicy::new(store).allow(&["image/png", "image/jpeg", "text/plain"]);
//! let (parts, body) = req.into_parts();
//! let upload = policy.receive(&parts.headers, body.into_data_stream(), u64::MAX).await?;
//! for file in upload.files {
//!     let stored = file.commit().await?; // keep it; dropping it instead deletes it
//!     println!("{} ({}, {} bytes)", stored.display_name, stored.content_type, stored.size);
//! }
//! # Ok(()) }
//! ```

mod multipart;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::Stream;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

use crate::text::is_bidi_control;

pub use self::multipart::{MultipartReader, PartHeaders, boundary};

/// Size and count limits, all enforced while the body streams in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The whole request body. Default 100 MiB.
    pub max_body: u64,
    /// One file. Default 50 MiB.
    pub max_file: u64,
    /// The number of parts (files and fields). Default 16.
    pub max_parts: usize,
    /// One text field. Default 64 KiB.
    pub max_field: usize,
    /// The headers of one part. Default 8 KiB.
    pub max_part_headers: usize,
    /// The client's file name, in bytes. Default 1024.
    pub max_name_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body: 100 * 1024 * 1024,
            max_file: 50 * 1024 * 1024,
            max_parts: 16,
            max_field: 64 * 1024,
            max_part_headers: 8 * 1024,
            max_name_len: 1024,
        }
    }
}

/// Why an upload was refused. Each maps to a status and a message safe to show.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The request is not `multipart/form-data` with a boundary.
    #[error("the request is not a multipart/form-data upload")]
    NotMultipart,
    /// The body, by `Content-Length` or as streamed, exceeds the limit.
    #[error("the upload is larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: u64,
    },
    /// One file exceeds the limit.
    #[error("a file is larger than the limit of {limit} bytes")]
    FileTooLarge {
        /// The limit.
        limit: u64,
    },
    /// The uploader's storage quota would be exceeded.
    #[error("this upload would exceed your storage quota")]
    QuotaExceeded,
    /// Too many parts.
    #[error("the upload has more than {limit} parts")]
    TooManyParts {
        /// The limit.
        limit: usize,
    },
    /// A text field is too long.
    #[error("a form field is longer than {limit} bytes")]
    FieldTooLarge {
        /// The limit.
        limit: usize,
    },
    /// A part's headers are too long or never end.
    #[error("a part's headers are longer than {limit} bytes")]
    HeadersTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The client's file name is too long.
    #[error("a file name is longer than {limit} bytes")]
    NameTooLong {
        /// The limit.
        limit: usize,
    },
    /// The file's content is not of an allowed type.
    #[error("files of this type ({detected}) are not accepted here")]
    TypeNotAllowed {
        /// The type found in the content.
        detected: String,
    },
    /// The file name's extension disagrees with the content.
    #[error("the file name ends in .{extension} but the content is {detected}")]
    ExtensionMismatch {
        /// The extension.
        extension: String,
        /// The type found in the content.
        detected: String,
    },
    /// The body is not valid multipart.
    #[error("the upload is malformed: {0}")]
    Malformed(&'static str),
    /// Reading the body failed (the client went away).
    #[error("the upload was interrupted")]
    Read(String),
    /// The server could not store the file.
    #[error("the file could not be stored")]
    Storage(#[from] std::io::Error),
}

impl UploadError {
    /// The HTTP status for this refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BodyTooLarge { .. }
            | Self::FileTooLarge { .. }
            | Self::QuotaExceeded
            | Self::TooManyParts { .. }
            | Self::FieldTooLarge { .. }
            | Self::HeadersTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TypeNotAllowed { .. } | Self::ExtensionMismatch { .. } => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Self::NotMultipart | Self::NameTooLong { .. } | Self::Malformed(_) | Self::Read(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for UploadError {
    fn into_response(self) -> Response {
        if let Self::Storage(err) = &self {
            tracing::error!(error = %err, "storing an upload failed");
        } else {
            tracing::info!(reason = %self, "upload refused");
        }
        (
            self.status(),
            [(header::CACHE_CONTROL, "no-store")],
            format!("{self}\n"),
        )
            .into_response()
    }
}

/// Where files live: a directory outside any served folder, with a `.tmp` subdirectory for
/// uploads in progress (on the same file system, so the final rename is atomic).
#[derive(Clone, Debug)]
pub struct FileStore {
    root: Arc<PathBuf>,
}

impl FileStore {
    /// Opens (creating, mode 0700) the store at `root`, and removes temporary files left by a
    /// crash.
    ///
    /// # Errors
    ///
    /// When the directories cannot be created.
    pub fn new(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(root.join(".tmp"))?;
        for entry in std::fs::read_dir(root.join(".tmp"))?.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
        Ok(Self {
            root: Arc::new(root),
        })
    }

    /// The path of a stored file, or `None` when `name` is not a name this store makes (so a
    /// name from a database row can never point elsewhere).
    pub fn path(&self, name: &str) -> Option<PathBuf> {
        let valid = name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit());
        valid.then(|| self.root.join(name))
    }

    /// Deletes a stored file; a missing file is not an error.
    ///
    /// # Errors
    ///
    /// An I/O error other than "not found".
    pub async fn delete(&self, name: &str) -> std::io::Result<()> {
        let Some(path) = self.path(name) else {
            return Ok(());
        };
        match tokio::fs::remove_file(path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The number of files in progress (for tests and monitoring).
    pub fn temp_count(&self) -> usize {
        std::fs::read_dir(self.root.join(".tmp")).map_or(0, |d| d.count())
    }

    fn random_name() -> String {
        let mut raw = [0u8; 16];
        rand::rng().fill_bytes(&mut raw);
        hex::encode(raw)
    }
}

/// What one route accepts; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct UploadPolicy {
    /// The limits.
    pub limits: Limits,
    allowed: Vec<String>,
    store: FileStore,
}

/// The fields and files of one upload.
#[derive(Debug, Default)]
pub struct Received {
    /// Text fields by name (the last value wins; `csrf_token` is left out).
    pub fields: HashMap<String, String>,
    /// Files, in order, not yet committed.
    pub files: Vec<PendingFile>,
}

impl UploadPolicy {
    /// A policy with default limits that accepts nothing until [`UploadPolicy::allow`] is called.
    pub fn new(store: FileStore) -> Self {
        Self {
            limits: Limits::default(),
            allowed: Vec::new(),
            store,
        }
    }

    /// Accepts these content types (as detected from content), e.g. `image/png`, `text/plain`.
    pub fn allow(mut self, types: &[&str]) -> Self {
        self.allowed.extend(types.iter().map(|t| (*t).to_owned()));
        self
    }

    /// Replaces the limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The store files go to.
    pub fn store(&self) -> &FileStore {
        &self.store
    }

    /// The allowed types.
    pub fn allowed(&self) -> &[String] {
        &self.allowed
    }

    /// Streams an upload to temporary files; see the [module docs](self). `quota_left` is how
    /// many more bytes the uploader may store.
    ///
    /// # Errors
    ///
    /// [`UploadError`] for the first limit exceeded, malformed input or refused type; every file
    /// written so far is removed before it returns.
    pub async fn receive<S, E>(
        &self,
        headers: &HeaderMap,
        body: S,
        quota_left: u64,
    ) -> Result<Received, UploadError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let boundary = content_type
            .and_then(boundary)
            .ok_or(UploadError::NotMultipart)?;
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.limits.max_body) {
            return Err(UploadError::BodyTooLarge {
                limit: self.limits.max_body,
            });
        }
        let mut reader = MultipartReader::new(body, &boundary, self.limits.clone());
        let mut received = Received::default();
        let mut stored_total = 0u64;
        while let Some(part) = reader.next_part().await? {
            match part.filename {
                None => {
                    let value = reader.read_text().await?;
                    if part.name != "csrf_token" {
                        received.fields.insert(part.name, value);
                    }
                }
                Some(name) => {
                    let file = self
                        .receive_file(
                            &mut reader,
                            part.name,
                            &name,
                            quota_left - stored_total.min(quota_left),
                        )
                        .await?;
                    let Some(file) = file else { continue };
                    stored_total += file.size;
                    received.files.push(file);
                }
            }
        }
        Ok(received)
    }

    async fn receive_file<S, E>(
        &self,
        reader: &mut MultipartReader<S>,
        field: String,
        client_name: &str,
        quota_left: u64,
    ) -> Result<Option<PendingFile>, UploadError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let stored_name = FileStore::random_name();
        let temp_path = self.store.root.join(".tmp").join(&stored_name);
        let mut guard = TempGuard(Some(temp_path.clone()));
        // Chunks arrive as the transport frames them (16 KiB on HTTP/2); every write to a
        // tokio file is a hand-off to a blocking thread, so they are gathered first.
        let mut file =
            tokio::io::BufWriter::with_capacity(WRITE_BUFFER, open_new(&temp_path).await?);
        let mut size = 0u64;
        let mut head: Vec<u8> = Vec::with_capacity(SNIFF_LEN);
        let mut scanner = ActiveContentScanner::default();
        let mut hasher = Sha256::new();
        while let Some(chunk) = reader.read_chunk().await? {
            size += chunk.len() as u64;
            if size > self.limits.max_file {
                return Err(UploadError::FileTooLarge {
                    limit: self.limits.max_file,
                });
            }
            if size > quota_left {
                return Err(UploadError::QuotaExceeded);
            }
            if head.len() < SNIFF_LEN {
                let take = (SNIFF_LEN - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
            }
            scanner.feed(&chunk);
            hasher.update(&chunk);
            file.write_all(&chunk).await?;
        }
        // A file input left empty arrives as a part with an empty name and no content.
        if size == 0 && client_name.is_empty() {
            return Ok(None);
        }
        file.flush().await?;
        file.get_ref().sync_all().await?;
        drop(file);

        let detected = detect(&head);
        if !self.allowed.iter().any(|t| t == detected) {
            return Err(UploadError::TypeNotAllowed {
                detected: detected.to_owned(),
            });
        }
        let display = display_name(client_name);
        if let Some(ext) = extension(&display)
            && !extension_matches(&ext, detected)
        {
            return Err(UploadError::ExtensionMismatch {
                extension: ext,
                detected: detected.to_owned(),
            });
        }
        let inline_safe = is_raster_image(detected) && !scanner.found;
        let temp = guard.0.take();
        Ok(Some(PendingFile {
            field,
            display_name: display,
            content_type: detected.to_owned(),
            size,
            sha256: hex::encode(hasher.finalize()),
            inline_safe,
            stored_name,
            temp: TempGuard(temp),
            store: self.store.clone(),
        }))
    }
}

/// How many bytes of an upload are gathered before each write to its file.
const WRITE_BUFFER: usize = 256 * 1024;

async fn open_new(path: &Path) -> std::io::Result<tokio::fs::File> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path).await
}

/// Removes its file when dropped, unless taken.
#[derive(Debug)]
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A received file in temporary storage: committed with [`PendingFile::commit`], deleted when
/// dropped.
#[derive(Debug)]
pub struct PendingFile {
    /// The form field it came in.
    pub field: String,
    /// The sanitised client name, for display only.
    pub display_name: String,
    /// The type detected from the content.
    pub content_type: String,
    /// The size in bytes.
    pub size: u64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    /// True when the file may be shown inline: a raster image with no markup anywhere in it.
    pub inline_safe: bool,
    /// The random name it will be stored under.
    pub stored_name: String,
    temp: TempGuard,
    store: FileStore,
}

/// A committed file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFile {
    /// The sanitised client name, for display only.
    pub display_name: String,
    /// The type detected from the content.
    pub content_type: String,
    /// The size in bytes.
    pub size: u64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    /// May be shown inline.
    pub inline_safe: bool,
    /// The random name in the store.
    pub stored_name: String,
}

impl PendingFile {
    /// Moves the file into the store under its random name.
    ///
    /// # Errors
    ///
    /// An I/O error; the temporary file is then removed.
    pub async fn commit(mut self) -> Result<StoredFile, UploadError> {
        let Some(temp) = self.temp.0.clone() else {
            return Err(UploadError::Malformed("file already committed"));
        };
        tokio::fs::rename(&temp, self.store.root.join(&self.stored_name)).await?;
        // Renamed: nothing is left at the temporary path for the guard to remove.
        self.temp.0 = None;
        Ok(StoredFile {
            display_name: std::mem::take(&mut self.display_name),
            content_type: std::mem::take(&mut self.content_type),
            size: self.size,
            sha256: std::mem::take(&mut self.sha256),
            inline_safe: self.inline_safe,
            stored_name: std::mem::take(&mut self.stored_name),
        })
    }
}

const SNIFF_LEN: usize = 8192;

/// The content type of a file from its first bytes: a known binary signature, markup (HTML,
/// SVG, XML), UTF-8 text, or `application/octet-stream`.
pub fn detect(head: &[u8]) -> &'static str {
    if let Some(kind) = infer::get(head) {
        let mime = kind.mime_type();
        // infer reports some text formats by content too; markup is decided below.
        if !mime.starts_with("text/") && mime != "image/svg+xml" && mime != "application/xml" {
            return mime;
        }
    }
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    if looks_like_markup(text) {
        return "text/html";
    }
    let valid_utf8 = match std::str::from_utf8(text) {
        Ok(_) => true,
        // A multi-byte character cut at the end of the sniffed window is still text.
        Err(e) => e.error_len().is_none() && text.len() - e.valid_up_to() < 4,
    };
    if valid_utf8
        && !text
            .iter()
            .any(|b| *b == 0 || (*b < 0x20 && !b"\t\n\r\x0c".contains(b)))
    {
        return "text/plain";
    }
    "application/octet-stream"
}

fn looks_like_markup(text: &[u8]) -> bool {
    let start: Vec<u8> = text
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take(512)
        .map(u8::to_ascii_lowercase)
        .collect();
    if start.first() != Some(&b'<') {
        return contains_active_markup(text);
    }
    true
}

/// True when the bytes contain markup a browser could execute if it ever rendered the file.
fn contains_active_markup(bytes: &[u8]) -> bool {
    const MARKERS: &[&[u8]] = &[
        b"<script",
        b"<html",
        b"<svg",
        b"<!doctype",
        b"<iframe",
        b"<body",
        b"<img",
        b"<object",
        b"<embed",
        b"javascript:",
        b"<?xml",
        b"<meta",
        b"<link",
        b"<style",
        b"onerror=",
        b"onload=",
    ];
    let lower = bytes.to_ascii_lowercase();
    // Vectorised substring search: uploads of any size pass through here chunk by chunk.
    MARKERS
        .iter()
        .any(|m| memchr::memmem::find(&lower, m).is_some())
}

/// Finds markup anywhere in a stream, across chunk boundaries.
#[derive(Debug, Default)]
struct ActiveContentScanner {
    tail: Vec<u8>,
    found: bool,
}

impl ActiveContentScanner {
    fn feed(&mut self, chunk: &[u8]) {
        if self.found {
            return;
        }
        let mut window = std::mem::take(&mut self.tail);
        window.extend_from_slice(chunk);
        self.found = contains_active_markup(&window);
        let keep = window.len().min(16);
        self.tail = window[window.len() - keep..].to_vec();
    }
}

fn is_raster_image(mime: &str) -> bool {
    matches!(
        mime,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp"
    )
}

fn extension(name: &str) -> Option<String> {
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty()).then(|| ext.to_ascii_lowercase())
}

fn extension_matches(ext: &str, detected: &str) -> bool {
    let allowed: &[&str] = match detected {
        "image/png" => &["png"],
        "image/jpeg" => &["jpg", "jpeg", "jpe", "jfif"],
        "image/gif" => &["gif"],
        "image/webp" => &["webp"],
        "application/pdf" => &["pdf"],
        "application/zip" => &["zip"],
        "application/gzip" => &["gz", "tgz"],
        "text/plain" => &[
            "txt", "text", "md", "markdown", "csv", "log", "json", "yaml", "yml", "toml", "rs",
            "py",
        ],
        "audio/mpeg" => &["mp3"],
        "video/mp4" => &["mp4", "m4v"],
        _ => return false,
    };
    allowed.contains(&ext)
}

/// The client's file name made safe to keep as display text: the last path component only,
/// Unicode NFC, control and bidirectional-override characters removed, at most 200 characters,
/// and `unnamed` when nothing is left. Still escape it wherever it is shown.
pub fn display_name(raw: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .nfc()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .collect::<String>()
        .trim()
        .chars()
        .take(200)
        .collect();
    if cleaned.is_empty() || cleaned.chars().all(|c| c == '.') {
        "unnamed".to_owned()
    } else {
        cleaned
    }
}

/// A safe download response for a stored file: `Content-Disposition: attachment` (or `inline`
/// when `inline` is asked and the file is an inline-safe raster image) with an RFC 6266
/// `filename*`, the stored type, `nosniff`, a sandboxing CSP and `no-store`.
///
/// # Errors
///
/// An I/O error opening the file (`NotFound` when it is gone).
pub async fn download_response(
    store: &FileStore,
    file: &StoredFile,
    inline: bool,
) -> std::io::Result<Response> {
    let path = store
        .path(&file.stored_name)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "not a stored name"))?;
    let handle = tokio::fs::File::open(path).await?;
    let stream = tokio_util::io::ReaderStream::new(handle);
    let disposition = content_disposition(
        if inline && file.inline_safe {
            "inline"
        } else {
            "attachment"
        },
        &file.display_name,
    );
    let mut response = Response::new(Body::from_stream(stream));
    let h = response.headers_mut();
    let value = |s: &str| {
        HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static("application/octet-stream"))
    };
    h.insert(header::CONTENT_TYPE, value(&file.content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(file.size));
    h.insert(header::CONTENT_DISPOSITION, value(&disposition));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}

/// A `Content-Disposition` value with an ASCII `filename` fallback and an RFC 5987
/// `filename*` carrying the real name.
pub fn content_disposition(kind: &str, name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '%' | ';') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests;
