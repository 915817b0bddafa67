//! Drop's files: upload, list and search, the file page with comments and sharing, downloads,
//! deletion, and share links.
//!
//! A file is visible to its owner and to the accounts it was shared with; everyone else gets the
//! same 404 as for a file that does not exist, on every route, so a file id tells nothing. The
//! owner's actions (delete, share, links) answer 404 to recipients too. Ids in URLs are random
//! 128-bit hex strings. Every query binds its values and the search order comes from an
//! allow-list.
//!
//! An upload streams through the toolkit's [`UploadPolicy`] into a temporary file; the file is
//! committed to the store only once its row is inserted, inside the transaction, so a refused or
//! failed upload leaves nothing on disk or in the database.

use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use palisade::auth::email::Email;
use palisade::auth::users::User;
use palisade::secret::Purpose;
use palisade::text::user_text;
use palisade::upload::{Limits, StoredFile, UploadError, UploadPolicy, download_response};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};

use crate::accounts::when;
use crate::state::AppState;
use crate::web::{Page, SignedIn, fault, see_other, ser};

/// The content types Drop accepts, as detected from the file's first bytes.
const ALLOWED_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "application/zip",
];
/// The upload form's `accept` hint for browsers (the server decides by content).
const ACCEPT_HINT: &str = ".png,.jpg,.jpeg,.gif,.webp,.pdf,.txt,.text,.md,.csv,.log,.json,.zip";
const MAX_TITLE: usize = 200;
const MAX_DESCRIPTION: usize = 4000;
const MAX_COMMENT: usize = 4000;
const MAX_QUERY: usize = 200;
const MAX_LINK_DOWNLOADS: u32 = 10_000;
const LIST_LIMIT: i64 = 500;

/// Files the user owns or that were shared with their address. Binds the user id twice.
const VISIBLE: &str = "(f.owner_id = ? OR EXISTS (SELECT 1 FROM drop_shares s \
     JOIN palisade_users me ON me.email_key = s.email_key \
     WHERE s.file_id = f.id AND me.id = ?))";

const FILE_COLUMNS: &str = "f.id, f.owner_id, u.email AS owner_email, f.title, f.description, \
     f.display_name, f.content_type, f.size, f.sha256, f.inline_safe, f.stored_name, f.created_at";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/files", get(list).post(upload))
        .route("/search", get(search))
        .route("/files/{id}", get(show))
        .route("/files/{id}/download", get(download))
        .route("/files/{id}/delete", post(delete))
        .route("/files/{id}/comments", post(comment))
        .route("/files/{id}/share", post(share))
        .route("/files/{id}/links/{link_id}/revoke", post(revoke_link))
        .route("/s/{token}", get(shared_link))
}

// ----- rows and views -----------------------------------------------------------------------

#[derive(Debug, sqlx::FromRow)]
struct FileRow {
    id: String,
    owner_id: i64,
    owner_email: String,
    title: String,
    description: String,
    display_name: String,
    content_type: String,
    size: i64,
    sha256: String,
    inline_safe: bool,
    stored_name: String,
    created_at: i64,
}

impl FileRow {
    fn stored(&self) -> StoredFile {
        StoredFile {
            display_name: self.display_name.clone(),
            content_type: self.content_type.clone(),
            size: u64::try_from(self.size).unwrap_or(0),
            sha256: self.sha256.clone(),
            inline_safe: self.inline_safe,
            stored_name: self.stored_name.clone(),
        }
    }

    fn view(&self, user: &User) -> FileView {
        FileView {
            id: self.id.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            name: self.display_name.clone(),
            content_type: self.content_type.clone(),
            kind: kind_label(&self.content_type),
            size: human_size(u64::try_from(self.size).unwrap_or(0)),
            sha256: self.sha256.clone(),
            inline_safe: self.inline_safe,
            created: when(self.created_at),
            owner: self.owner_email.clone(),
            mine: self.owner_id == user.id,
        }
    }
}

/// A file as templates see it.
#[derive(Debug, Serialize)]
struct FileView {
    id: String,
    title: String,
    description: String,
    name: String,
    content_type: String,
    kind: &'static str,
    size: String,
    sha256: String,
    inline_safe: bool,
    created: String,
    owner: String,
    mine: bool,
}

#[derive(Debug, sqlx::FromRow)]
struct CommentRow {
    author: String,
    body: String,
    created_at: i64,
}

#[derive(Debug, Serialize)]
struct CommentView {
    author: String,
    body: String,
    when: String,
}

#[derive(Debug, sqlx::FromRow)]
struct LinkRow {
    id: String,
    created_at: i64,
    expires_at: Option<i64>,
    max_downloads: Option<i64>,
    downloads: i64,
    revoked_at: Option<i64>,
}

#[derive(Debug, Serialize)]
struct LinkView {
    id: String,
    url: String,
    created: String,
    expires: String,
    downloads: String,
    status: &'static str,
    active: bool,
}

/// What a refused form on the file page shows, and the input it keeps.
#[derive(Debug, Default, Serialize)]
struct FileErrors {
    comment: Option<String>,
    share: Option<String>,
    link: Option<String>,
    comment_body: String,
    share_email: String,
}

// ----- list, search, upload -----------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    sort: String,
}

async fn list(SignedIn(page, user): SignedIn) -> Response {
    list_page(
        &page,
        &user,
        StatusCode::OK,
        &SearchQuery::default(),
        false,
        None,
    )
    .await
}

async fn search(SignedIn(page, user): SignedIn, Query(query): Query<SearchQuery>) -> Response {
    list_page(&page, &user, StatusCode::OK, &query, true, None).await
}

/// The ORDER BY clause for a sort key: only these fixed strings ever reach the SQL.
fn order_by(sort: &str) -> Option<&'static str> {
    match sort {
        "" | "date" => Some("f.created_at DESC, f.id"),
        "name" => Some("f.title COLLATE NOCASE, f.id"),
        "size" => Some("f.size DESC, f.id"),
        _ => None,
    }
}

/// A LIKE pattern matching `q` anywhere, with `%`, `_` and the escape character taken literally.
fn like_pattern(q: &str) -> String {
    let mut pattern = String::with_capacity(q.len() + 2);
    pattern.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

async fn list_page(
    page: &Page,
    user: &User,
    status: StatusCode,
    query: &SearchQuery,
    searching: bool,
    error: Option<&str>,
) -> Response {
    let q = query.q.trim();
    let order = order_by(&query.sort);
    let refusal = if order.is_none() {
        Some("Sort by name, date or size.".to_owned())
    } else if q.chars().count() > MAX_QUERY {
        Some(format!("Search for at most {MAX_QUERY} characters."))
    } else if q.chars().any(char::is_control) {
        // SQLite's LIKE stops at NUL, so such text would match everything.
        Some("Search text cannot contain control characters.".to_owned())
    } else {
        None
    };
    let (status, error) = match refusal {
        Some(refusal) => (StatusCode::BAD_REQUEST, Some(refusal)),
        None => (status, error.map(str::to_owned)),
    };
    let files = match (order, status == StatusCode::BAD_REQUEST && searching) {
        (Some(order), false) => {
            match visible_files(&page.state, user.id, &like_pattern(q), order).await {
                Ok(rows) => rows.iter().map(|r| r.view(user)).collect(),
                Err(err) => return fault("listing files failed", &err),
            }
        }
        _ => Vec::new(),
    };
    let used = match stored_bytes(&page.state, user.id).await {
        Ok(used) => used,
        Err(err) => return fault("summing stored bytes failed", &err),
    };
    let config = &page.state.config;
    let sort = match query.sort.as_str() {
        sort @ ("name" | "size") => sort,
        _ => "date",
    };
    page.render(
        status,
        "files.html",
        minijinja::context! {
            files => ser(&files),
            searching,
            q => q,
            sort,
            error,
            used => human_size(used),
            quota => human_size(config.user_quota),
            max_file => human_size(config.upload_max_file),
            accept => ACCEPT_HINT,
        },
    )
}

async fn visible_files(
    state: &AppState,
    user_id: i64,
    pattern: &str,
    order: &'static str,
) -> Result<Vec<FileRow>, sqlx::Error> {
    let sql = format!(
        r"SELECT {FILE_COLUMNS} FROM drop_files f JOIN palisade_users u ON u.id = f.owner_id
          WHERE {VISIBLE}
            AND (f.title LIKE ? ESCAPE '\' OR f.display_name LIKE ? ESCAPE '\'
                 OR f.description LIKE ? ESCAPE '\')
          ORDER BY {order} LIMIT ?"
    );
    sqlx::query_as::<_, FileRow>(&sql)
        .bind(user_id)
        .bind(user_id)
        .bind(pattern)
        .bind(pattern)
        .bind(pattern)
        .bind(LIST_LIMIT)
        .fetch_all(&state.db)
        .await
}

async fn stored_bytes(state: &AppState, user_id: i64) -> Result<u64, sqlx::Error> {
    let used: i64 =
        sqlx::query_scalar("SELECT COALESCE(SUM(size), 0) FROM drop_files WHERE owner_id = ?")
            .bind(user_id)
            .fetch_one(&state.db)
            .await?;
    Ok(u64::try_from(used).unwrap_or(0))
}

/// Why an upload was refused: a status and a message safe to show.
#[derive(Debug)]
struct Refused {
    status: StatusCode,
    message: String,
}

impl Refused {
    fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn fault(what: &str, err: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %err, "{what}");
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "The file could not be stored. Please try again in a moment.".to_owned(),
        }
    }
}

impl From<UploadError> for Refused {
    fn from(err: UploadError) -> Self {
        let message = match &err {
            UploadError::Storage(io) => return Self::fault("storing an upload failed", io),
            UploadError::BodyTooLarge { limit } | UploadError::FileTooLarge { limit } => {
                format!(
                    "The file is too large: the limit is {}.",
                    human_size(*limit)
                )
            }
            UploadError::QuotaExceeded => {
                "This upload would exceed your storage quota. Delete some files first.".to_owned()
            }
            UploadError::TypeNotAllowed { detected } => format!(
                "Files of this type ({detected}) are not accepted. Upload PNG, JPEG, GIF, \
                 WebP, PDF, plain text or ZIP files."
            ),
            other => format!("The upload was refused: {other}."),
        };
        tracing::info!(reason = %err, "upload refused");
        Self {
            status: err.status(),
            message,
        }
    }
}

impl From<sqlx::Error> for Refused {
    fn from(err: sqlx::Error) -> Self {
        Self::fault("recording an upload failed", &err)
    }
}

/// `POST /files`: a multipart body with `csrf_token` (first), `title`, `description`, `file`.
async fn upload(SignedIn(page, user): SignedIn, headers: HeaderMap, body: Body) -> Response {
    let json = wants_json(&headers);
    match receive(&page.state, &user, &headers, body).await {
        Ok(id) => {
            let url = format!("/files/{id}");
            if json {
                let mut response =
                    (StatusCode::CREATED, Json(serde_json::json!({ "url": url }))).into_response();
                no_store(&mut response);
                return response;
            }
            page.flash("ok", "Your file is uploaded.");
            see_other(&url)
        }
        Err(refused) if json => {
            let body = serde_json::json!({ "error": refused.message });
            let mut response = (refused.status, Json(body)).into_response();
            no_store(&mut response);
            response
        }
        Err(refused) => {
            let query = SearchQuery::default();
            list_page(
                &page,
                &user,
                refused.status,
                &query,
                false,
                Some(&refused.message),
            )
            .await
        }
    }
}

/// Streams the upload, checks the fields, then inserts the row and commits the file in one
/// transaction. Returns the new file's id.
async fn receive(
    state: &AppState,
    user: &User,
    headers: &HeaderMap,
    body: Body,
) -> Result<String, Refused> {
    let used = stored_bytes(state, user.id).await?;
    let quota_left = state.config.user_quota.saturating_sub(used);
    let policy = upload_policy(state);
    let received = policy
        .receive(headers, body.into_data_stream(), quota_left)
        .await?;

    // Anything in other fields is dropped here, which deletes it.
    let mut files = received.files.into_iter().filter(|f| f.field == "file");
    let (Some(file), None) = (files.next(), files.next()) else {
        return Err(Refused::bad_request("Choose one file to upload."));
    };
    let field = |name: &str| {
        received
            .fields
            .get(name)
            .map_or("", |v| v.trim())
            .to_owned()
    };
    let mut title = user_text(&field("title"), false);
    let description = user_text(&field("description"), true);
    if title.chars().count() > MAX_TITLE {
        return Err(Refused::bad_request(format!(
            "The title is at most {MAX_TITLE} characters."
        )));
    }
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(Refused::bad_request(format!(
            "The description is at most {MAX_DESCRIPTION} characters."
        )));
    }
    if title.is_empty() {
        title = file.display_name.clone();
    }

    let id = random_id();
    let size = i64::try_from(file.size).unwrap_or(i64::MAX);
    let quota = i64::try_from(state.config.user_quota).unwrap_or(i64::MAX);
    let mut tx = state.db.begin().await?;
    // The quota is checked again in the insert itself, so concurrent uploads cannot pass it.
    let inserted = sqlx::query(
        "INSERT INTO drop_files (id, owner_id, title, description, display_name, content_type,
             size, sha256, inline_safe, stored_name, created_at)
         SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
         WHERE (SELECT COALESCE(SUM(size), 0) FROM drop_files WHERE owner_id = ?) + ? <= ?",
    )
    .bind(&id)
    .bind(user.id)
    .bind(&title)
    .bind(&description)
    .bind(&file.display_name)
    .bind(&file.content_type)
    .bind(size)
    .bind(&file.sha256)
    .bind(file.inline_safe)
    .bind(&file.stored_name)
    .bind(unix_now())
    .bind(user.id)
    .bind(size)
    .bind(quota)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() != 1 {
        return Err(UploadError::QuotaExceeded.into());
    }
    let stored = file.commit().await?;
    if let Err(err) = tx.commit().await {
        if let Err(io) = state.files.delete(&stored.stored_name).await {
            tracing::error!(error = %io, "removing a file whose row was not saved failed");
        }
        return Err(err.into());
    }
    tracing::info!(
        user_id = user.id,
        file_id = %id,
        size = stored.size,
        content_type = %stored.content_type,
        "file uploaded"
    );
    Ok(id)
}

fn upload_policy(state: &AppState) -> UploadPolicy {
    let max_file = state.config.upload_max_file;
    let limits = Limits {
        max_file,
        // Room for the token, the title, the description and the part headers.
        max_body: max_file.saturating_add(64 * 1024),
        max_parts: 8,
        max_field: 16 * 1024,
        ..Limits::default()
    };
    UploadPolicy::new(state.files.clone())
        .allow(ALLOWED_TYPES)
        .limits(limits)
}

/// Scripts (`fetch`, `XMLHttpRequest`) that ask for JSON get JSON answers.
fn wants_json(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let xhr = headers
        .get("x-requested-with")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"XMLHttpRequest"));
    xhr || accept.contains("application/json")
}

fn no_store(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

// ----- one file -----------------------------------------------------------------------------

async fn show(SignedIn(page, user): SignedIn, Path(id): Path<String>) -> Response {
    file_page(&page, &user, &id, StatusCode::OK, FileErrors::default()).await
}

/// The file if `user` may see it; `Ok(None)` for a malformed id, a missing file, or a file of
/// someone else that was not shared with them.
async fn visible_file(
    state: &AppState,
    user: &User,
    id: &str,
) -> Result<Option<FileRow>, sqlx::Error> {
    if !is_id(id) {
        return Ok(None);
    }
    let sql = format!(
        "SELECT {FILE_COLUMNS} FROM drop_files f JOIN palisade_users u ON u.id = f.owner_id
         WHERE f.id = ? AND {VISIBLE}"
    );
    sqlx::query_as::<_, FileRow>(&sql)
        .bind(id)
        .bind(user.id)
        .bind(user.id)
        .fetch_optional(&state.db)
        .await
}

/// The file if `user` owns it; recipients and everyone else get `Ok(None)`.
async fn owned_file(
    state: &AppState,
    user: &User,
    id: &str,
) -> Result<Option<FileRow>, sqlx::Error> {
    Ok(visible_file(state, user, id)
        .await?
        .filter(|f| f.owner_id == user.id))
}

fn not_found(page: &Page) -> Response {
    page.error(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is nothing at this address.",
    )
}

async fn file_page(
    page: &Page,
    user: &User,
    id: &str,
    status: StatusCode,
    errors: FileErrors,
) -> Response {
    let state = &page.state;
    let file = match visible_file(state, user, id).await {
        Ok(Some(file)) => file,
        Ok(None) => return not_found(page),
        Err(err) => return fault("loading a file failed", &err),
    };
    let comments = match comments(state, &file.id).await {
        Ok(comments) => comments,
        Err(err) => return fault("loading comments failed", &err),
    };
    let mine = file.owner_id == user.id;
    let (shares, links) = if mine {
        match (shares(state, &file.id).await, links(state, &file.id).await) {
            (Ok(shares), Ok(links)) => (shares, links),
            (Err(err), _) | (_, Err(err)) => return fault("loading shares failed", &err),
        }
    } else {
        (Vec::new(), Vec::new())
    };
    page.render(
        status,
        "file.html",
        minijinja::context! {
            file => ser(file.view(user)),
            comments => ser(&comments),
            shares => ser(&shares),
            links => ser(&links),
            errors => ser(&errors),
        },
    )
}

async fn comments(state: &AppState, file_id: &str) -> Result<Vec<CommentView>, sqlx::Error> {
    let rows = sqlx::query_as::<_, CommentRow>(
        "SELECT u.email AS author, c.body, c.created_at FROM drop_comments c
         JOIN palisade_users u ON u.id = c.author_id
         WHERE c.file_id = ? ORDER BY c.created_at, c.id",
    )
    .bind(file_id)
    .fetch_all(&state.db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| CommentView {
            author: r.author,
            body: r.body,
            when: when(r.created_at),
        })
        .collect())
}

async fn shares(state: &AppState, file_id: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT email FROM drop_shares WHERE file_id = ? ORDER BY created_at")
        .bind(file_id)
        .fetch_all(&state.db)
        .await
}

async fn links(state: &AppState, file_id: &str) -> Result<Vec<LinkView>, sqlx::Error> {
    let rows = sqlx::query_as::<_, LinkRow>(
        "SELECT id, created_at, expires_at, max_downloads, downloads, revoked_at
         FROM drop_share_links WHERE file_id = ? ORDER BY created_at DESC, rowid DESC",
    )
    .bind(file_id)
    .fetch_all(&state.db)
    .await?;
    let now = unix_now();
    let signer = state.keys.signer(Purpose::Links);
    let base = state.config.public_url.as_str().trim_end_matches('/');
    Ok(rows
        .into_iter()
        .map(|r| {
            let status = if r.revoked_at.is_some() {
                "revoked"
            } else if r.expires_at.is_some_and(|t| t <= now) {
                "expired"
            } else if r.max_downloads.is_some_and(|m| r.downloads >= m) {
                "used up"
            } else {
                "active"
            };
            LinkView {
                url: format!("{base}/s/{}", signer.sign_to_string(&r.id)),
                created: when(r.created_at),
                expires: r.expires_at.map_or_else(|| "never".to_owned(), when),
                downloads: match r.max_downloads {
                    Some(max) => format!("{} of {max}", r.downloads),
                    None => r.downloads.to_string(),
                },
                active: status == "active",
                status,
                id: r.id,
            }
        })
        .collect())
}

#[derive(Debug, Default, Deserialize)]
struct DownloadQuery {
    #[serde(default)]
    inline: String,
}

/// `GET /files/{id}/download`: an attachment, or inline (`?inline=1`) for images that are safe
/// to show.
async fn download(
    SignedIn(page, user): SignedIn,
    Path(id): Path<String>,
    Query(query): Query<DownloadQuery>,
) -> Response {
    let file = match visible_file(&page.state, &user, &id).await {
        Ok(Some(file)) => file,
        Ok(None) => return not_found(&page),
        Err(err) => return fault("loading a file failed", &err),
    };
    serve(&page, &file, query.inline == "1").await
}

async fn serve(page: &Page, file: &FileRow, inline: bool) -> Response {
    match download_response(&page.state.files, &file.stored(), inline).await {
        Ok(response) => response,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            tracing::error!(file_id = %file.id, "a stored file is missing");
            not_found(page)
        }
        Err(err) => fault("opening a stored file failed", &err),
    }
}

/// `POST /files/{id}/delete`: the owner removes the rows, then the stored file.
async fn delete(SignedIn(page, user): SignedIn, Path(id): Path<String>) -> Response {
    let state = page.state.clone();
    let file = match owned_file(&state, &user, &id).await {
        Ok(Some(file)) => file,
        Ok(None) => return not_found(&page),
        Err(err) => return fault("loading a file failed", &err),
    };
    if let Err(err) = delete_rows(&state, &file.id).await {
        return fault("deleting a file failed", &err);
    }
    if let Err(err) = state.files.delete(&file.stored_name).await {
        // The rows are gone, so nothing can reach the file any more; it only takes space.
        tracing::error!(error = %err, file_id = %file.id, "removing a stored file failed");
    }
    tracing::info!(user_id = user.id, file_id = %file.id, "file deleted");
    page.flash("ok", &format!("“{}” is deleted.", file.title));
    see_other("/files")
}

async fn delete_rows(state: &AppState, file_id: &str) -> Result<(), sqlx::Error> {
    let mut tx = state.db.begin().await?;
    for sql in [
        "DELETE FROM drop_comments WHERE file_id = ?",
        "DELETE FROM drop_shares WHERE file_id = ?",
        "DELETE FROM drop_share_links WHERE file_id = ?",
        "DELETE FROM drop_files WHERE id = ?",
    ] {
        sqlx::query(sql).bind(file_id).execute(&mut *tx).await?;
    }
    tx.commit().await
}

#[derive(Debug, Default, Deserialize)]
struct CommentForm {
    #[serde(default)]
    body: String,
}

/// `POST /files/{id}/comments`: the owner or a recipient adds a plain-text comment.
async fn comment(
    SignedIn(page, user): SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CommentForm>,
) -> Response {
    let file = match visible_file(&page.state, &user, &id).await {
        Ok(Some(file)) => file,
        Ok(None) => return not_found(&page),
        Err(err) => return fault("loading a file failed", &err),
    };
    let body = user_text(&form.body, true);
    let body = body.as_str();
    let problem = if body.is_empty() {
        Some("Write something before posting a comment.".to_owned())
    } else if body.chars().count() > MAX_COMMENT {
        Some(format!("A comment is at most {MAX_COMMENT} characters."))
    } else {
        None
    };
    if let Some(problem) = problem {
        let errors = FileErrors {
            comment: Some(problem),
            comment_body: body.chars().take(MAX_COMMENT).collect(),
            ..FileErrors::default()
        };
        return file_page(&page, &user, &file.id, StatusCode::BAD_REQUEST, errors).await;
    }
    let inserted = sqlx::query(
        "INSERT INTO drop_comments (file_id, author_id, body, created_at) VALUES (?, ?, ?, ?)",
    )
    .bind(&file.id)
    .bind(user.id)
    .bind(body)
    .bind(unix_now())
    .execute(&page.state.db)
    .await;
    if let Err(err) = inserted {
        return fault("saving a comment failed", &err);
    }
    page.flash("ok", "Your comment is posted.");
    see_other(&format!("/files/{}#comments", file.id))
}

#[derive(Debug, Default, Deserialize)]
struct ShareForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    expires: String,
    #[serde(default)]
    max_downloads: String,
}

/// `POST /files/{id}/share`: share with an address (`email`), stop sharing with one
/// (`action=unshare`, `email`), or create a share link (`action=link`, optional `expires` and
/// `max_downloads`).
async fn share(
    SignedIn(page, user): SignedIn,
    Path(id): Path<String>,
    Form(form): Form<ShareForm>,
) -> Response {
    let file = match owned_file(&page.state, &user, &id).await {
        Ok(Some(file)) => file,
        Ok(None) => return not_found(&page),
        Err(err) => return fault("loading a file failed", &err),
    };
    match form.action.as_str() {
        "link" => create_link(&page, &user, &file, &form).await,
        "unshare" => unshare(&page, &user, &file, &form).await,
        _ => share_with(&page, &user, &file, &form).await,
    }
}

/// Stops sharing with an address: whoever signs in with it loses the file at once (a 404 on
/// their next request), and an address mistyped when sharing can be taken back before anyone
/// registers it.
async fn unshare(page: &Page, user: &User, file: &FileRow, form: &ShareForm) -> Response {
    let Ok(email) = Email::parse(form.email.trim()) else {
        return not_found(page);
    };
    let removed = sqlx::query("DELETE FROM drop_shares WHERE file_id = ? AND email_key = ?")
        .bind(&file.id)
        .bind(email.key())
        .execute(&page.state.db)
        .await;
    match removed {
        Ok(done) if done.rows_affected() == 0 => return not_found(page),
        Ok(_) => {}
        Err(err) => return fault("removing a share failed", &err),
    }
    tracing::info!(user_id = user.id, file_id = %file.id, "file no longer shared with an address");
    page.flash(
        "ok",
        &format!("{} no longer has access to this file.", email.as_str()),
    );
    see_other(&format!("/files/{}", file.id))
}

/// Shares with an address. The answer is the same whether or not an account uses it: the share
/// is kept by address and takes effect when a verified account with that address signs in.
async fn share_with(page: &Page, user: &User, file: &FileRow, form: &ShareForm) -> Response {
    let Ok(email) = Email::parse(form.email.trim()) else {
        let errors = FileErrors {
            share: Some("Enter an email address such as name@example.com.".to_owned()),
            share_email: form.email.chars().take(320).collect(),
            ..FileErrors::default()
        };
        return file_page(page, user, &file.id, StatusCode::BAD_REQUEST, errors).await;
    };
    let own = Email::parse(&user.email).is_ok_and(|own| own.key() == email.key());
    if own {
        page.flash("warn", "That is your own address.");
        return see_other(&format!("/files/{}", file.id));
    }
    let inserted = sqlx::query(
        "INSERT INTO drop_shares (file_id, email_key, email, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (file_id, email_key) DO NOTHING",
    )
    .bind(&file.id)
    .bind(email.key())
    .bind(email.as_str())
    .bind(unix_now())
    .execute(&page.state.db)
    .await;
    if let Err(err) = inserted {
        return fault("saving a share failed", &err);
    }
    tracing::info!(user_id = user.id, file_id = %file.id, "file shared with an address");
    page.flash(
        "ok",
        &format!(
            "Shared with {}: whoever signs in with that address can see and download this file.",
            email.as_str()
        ),
    );
    see_other(&format!("/files/{}", file.id))
}

/// The lifetime of a new share link, from the form's allow-list.
fn link_lifetime(expires: &str) -> Option<Option<i64>> {
    const HOUR: i64 = 3600;
    match expires {
        "1h" => Some(Some(HOUR)),
        "1d" => Some(Some(24 * HOUR)),
        "" | "7d" => Some(Some(7 * 24 * HOUR)),
        "30d" => Some(Some(30 * 24 * HOUR)),
        "never" => Some(None),
        _ => None,
    }
}

async fn create_link(page: &Page, user: &User, file: &FileRow, form: &ShareForm) -> Response {
    let refuse = |message: &str| FileErrors {
        link: Some(message.to_owned()),
        ..FileErrors::default()
    };
    let Some(lifetime) = link_lifetime(form.expires.trim()) else {
        let errors = refuse("Choose how long the link works: 1 hour, 1 day, 7 or 30 days.");
        return file_page(page, user, &file.id, StatusCode::BAD_REQUEST, errors).await;
    };
    let max_downloads = match form.max_downloads.trim() {
        "" => None,
        n => match n.parse::<u32>() {
            Ok(n) if (1..=MAX_LINK_DOWNLOADS).contains(&n) => Some(i64::from(n)),
            _ => {
                let errors = refuse(&format!(
                    "The download limit is a whole number from 1 to {MAX_LINK_DOWNLOADS}, or \
                     empty for no limit."
                ));
                return file_page(page, user, &file.id, StatusCode::BAD_REQUEST, errors).await;
            }
        },
    };
    let now = unix_now();
    let inserted = sqlx::query(
        "INSERT INTO drop_share_links (id, file_id, created_at, expires_at, max_downloads)
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(random_id())
    .bind(&file.id)
    .bind(now)
    .bind(lifetime.map(|l| now + l))
    .bind(max_downloads)
    .execute(&page.state.db)
    .await;
    if let Err(err) = inserted {
        return fault("saving a share link failed", &err);
    }
    tracing::info!(user_id = user.id, file_id = %file.id, "share link created");
    page.flash(
        "ok",
        "The share link is ready: copy it from the list below.",
    );
    see_other(&format!("/files/{}#links", file.id))
}

/// `POST /files/{id}/links/{link_id}/revoke`.
async fn revoke_link(
    SignedIn(page, user): SignedIn,
    Path((id, link_id)): Path<(String, String)>,
) -> Response {
    let file = match owned_file(&page.state, &user, &id).await {
        Ok(Some(file)) => file,
        Ok(None) => return not_found(&page),
        Err(err) => return fault("loading a file failed", &err),
    };
    let updated = sqlx::query(
        "UPDATE drop_share_links SET revoked_at = COALESCE(revoked_at, ?)
         WHERE id = ? AND file_id = ?",
    )
    .bind(unix_now())
    .bind(&link_id)
    .bind(&file.id)
    .execute(&page.state.db)
    .await;
    match updated {
        Ok(done) if done.rows_affected() == 0 => return not_found(&page),
        Ok(_) => {}
        Err(err) => return fault("revoking a share link failed", &err),
    }
    tracing::info!(user_id = user.id, file_id = %file.id, "share link revoked");
    page.flash("ok", "The share link no longer works.");
    see_other(&format!("/files/{}#links", file.id))
}

/// `GET /s/{token}`: a share link. The token is the link id signed with the links key; a bad
/// signature, an unknown, revoked, expired or used-up link all get the same 404. `HEAD` checks
/// the link without counting a download.
async fn shared_link(page: Page, method: Method, Path(token): Path<String>) -> Response {
    let signer = page.state.keys.signer(Purpose::Links);
    let Some(link_id) = signer.verify_string(&token).filter(|id| is_id(id)) else {
        return link_not_found(&page);
    };
    let usable = "id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
                  AND (max_downloads IS NULL OR downloads < max_downloads)";
    let sql = if method == Method::HEAD {
        format!("SELECT file_id FROM drop_share_links WHERE {usable}")
    } else {
        format!(
            "UPDATE drop_share_links SET downloads = downloads + 1 WHERE {usable} \
             RETURNING file_id"
        )
    };
    let file_id: Option<String> = match sqlx::query_scalar(&sql)
        .bind(link_id)
        .bind(unix_now())
        .fetch_optional(&page.state.db)
        .await
    {
        Ok(id) => id,
        Err(err) => return fault("using a share link failed", &err),
    };
    let Some(file_id) = file_id else {
        return link_not_found(&page);
    };
    let sql = format!(
        "SELECT {FILE_COLUMNS} FROM drop_files f JOIN palisade_users u ON u.id = f.owner_id
         WHERE f.id = ?"
    );
    let file = match sqlx::query_as::<_, FileRow>(&sql)
        .bind(&file_id)
        .fetch_optional(&page.state.db)
        .await
    {
        Ok(Some(file)) => file,
        Ok(None) => return link_not_found(&page),
        Err(err) => return fault("loading a shared file failed", &err),
    };
    serve(&page, &file, false).await
}

fn link_not_found(page: &Page) -> Response {
    page.error(
        StatusCode::NOT_FOUND,
        "Link not found",
        "This link does not work: it may have expired, been revoked or used up. Ask the \
         person who shared it for a new one.",
    )
}

// ----- helpers ------------------------------------------------------------------------------

/// A random 128-bit id, as 32 lower-case hex digits.
fn random_id() -> String {
    let mut raw = [0u8; 16];
    rand::rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

fn is_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A size for people: `512 B`, `1.5 KiB`, `20.0 MiB`, `1.0 GiB`.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A short label for a detected type.
fn kind_label(content_type: &str) -> &'static str {
    match content_type {
        "image/png" => "PNG image",
        "image/jpeg" => "JPEG image",
        "image/gif" => "GIF image",
        "image/webp" => "WebP image",
        "application/pdf" => "PDF",
        "text/plain" => "Text",
        "application/zip" => "ZIP archive",
        _ => "File",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_take_wildcards_literally() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(like_pattern(""), "%%");
        assert_eq!(like_pattern("' OR 1=1--"), "%' OR 1=1--%");
    }

    #[test]
    fn only_known_sort_keys_reach_the_sql() {
        assert!(order_by("name").is_some());
        assert!(order_by("date").is_some());
        assert!(order_by("size").is_some());
        assert!(order_by("").is_some());
        for probe in ["name;DROP TABLE files", "1", "date desc", "NAME", "f.size"] {
            assert_eq!(order_by(probe), None, "{probe}");
        }
    }

    #[test]
    fn ids_are_random_lower_case_hex() {
        let a = random_id();
        assert!(is_id(&a));
        assert_ne!(a, random_id());
        assert!(!is_id("../../etc/passwd"));
        assert!(!is_id(&a.to_uppercase()));
        assert!(!is_id("1"));
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(100 * 1024 * 1024), "100.0 MiB");
        assert_eq!(human_size(1 << 30), "1.0 GiB");
    }

    #[test]
    fn link_lifetimes_come_from_the_list() {
        assert_eq!(link_lifetime("1h"), Some(Some(3600)));
        assert_eq!(link_lifetime(""), Some(Some(7 * 86400)));
        assert_eq!(link_lifetime("never"), Some(None));
        assert_eq!(link_lifetime("-1h"), None);
    }
}
