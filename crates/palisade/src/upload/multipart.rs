//! A streaming `multipart/form-data` reader that enforces its limits while reading.
//!
//! Nothing is buffered beyond one part's headers (bounded) and a delimiter's length of body, so
//! memory stays flat whatever the upload's size. Every limit is checked as bytes arrive: an
//! oversized body, too many parts, an unterminated part header or an over-long field stops the
//! read at once instead of after the whole body was received.

use bytes::{Buf as _, Bytes, BytesMut};
use futures_util::{Stream, StreamExt as _};

use super::{Limits, UploadError};

/// The headers of one part.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartHeaders {
    /// The form field name.
    pub name: String,
    /// The client's file name, raw, if the part is a file. Display metadata only.
    pub filename: Option<String>,
    /// The client's declared content type. Never trusted.
    pub content_type: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    Preamble,
    Headers,
    Body,
    AfterDelimiter,
    Done,
}

/// Reads parts one at a time from a body stream, enforcing the limits as bytes arrive.
pub struct MultipartReader<S> {
    stream: S,
    buf: BytesMut,
    /// `\r\n--boundary`: what ends a part's body.
    delimiter: Vec<u8>,
    state: State,
    limits: Limits,
    body_bytes: u64,
    parts: usize,
    eof: bool,
}

impl<S> std::fmt::Debug for MultipartReader<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultipartReader")
            .field("state", &self.state)
            .field("parts", &self.parts)
            .field("body_bytes", &self.body_bytes)
            .finish_non_exhaustive()
    }
}

impl<S, E> MultipartReader<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    /// A reader for a body with this boundary.
    pub fn new(stream: S, boundary: &str, limits: Limits) -> Self {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        // The body starts right after a (virtual) CRLF, so the first boundary line matches too.
        let mut buf = BytesMut::with_capacity(16 * 1024);
        buf.extend_from_slice(b"\r\n");
        Self {
            stream,
            buf,
            delimiter,
            state: State::Preamble,
            limits,
            body_bytes: 0,
            parts: 0,
            eof: false,
        }
    }

    /// Total body bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.body_bytes
    }

    async fn fill(&mut self) -> Result<bool, UploadError> {
        if self.eof {
            return Ok(false);
        }
        match self.stream.next().await {
            Some(Ok(chunk)) => {
                self.body_bytes += chunk.len() as u64;
                if self.body_bytes > self.limits.max_body {
                    return Err(UploadError::BodyTooLarge {
                        limit: self.limits.max_body,
                    });
                }
                self.buf.extend_from_slice(&chunk);
                Ok(true)
            }
            Some(Err(err)) => Err(UploadError::Read(err.to_string())),
            None => {
                self.eof = true;
                Ok(false)
            }
        }
    }

    /// Advances to the next part and returns its headers, or `None` after the closing boundary.
    /// Any unread body of the current part is skipped.
    ///
    /// # Errors
    ///
    /// [`UploadError`] for a malformed body or a limit exceeded.
    pub async fn next_part(&mut self) -> Result<Option<PartHeaders>, UploadError> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Body => while self.read_chunk().await?.is_some() {},
                State::Preamble => {
                    if let Some(pos) = find(&self.buf, &self.delimiter) {
                        self.buf.advance(pos + self.delimiter.len());
                        self.state = State::AfterDelimiter;
                    } else {
                        if self.buf.len() > 4096 {
                            return Err(UploadError::Malformed("no boundary found"));
                        }
                        if !self.fill().await? {
                            return Err(UploadError::Malformed("no boundary found"));
                        }
                    }
                }
                State::AfterDelimiter => {
                    while self.buf.len() < 2 {
                        if !self.fill().await? {
                            return Err(UploadError::Malformed("body ends inside a boundary"));
                        }
                    }
                    if self.buf.starts_with(b"--") {
                        self.state = State::Done;
                        return Ok(None);
                    }
                    // Transport padding after the boundary is allowed before the CRLF.
                    let Some(eol) = self.find_line_end().await? else {
                        return Err(UploadError::Malformed("boundary line not terminated"));
                    };
                    if self.buf[..eol].iter().any(|b| !matches!(b, b' ' | b'\t')) {
                        return Err(UploadError::Malformed("garbage after boundary"));
                    }
                    self.buf.advance(eol + 2);
                    self.state = State::Headers;
                }
                State::Headers => {
                    self.parts += 1;
                    if self.parts > self.limits.max_parts {
                        return Err(UploadError::TooManyParts {
                            limit: self.limits.max_parts,
                        });
                    }
                    let end = loop {
                        if let Some(pos) = find(&self.buf, b"\r\n\r\n") {
                            break pos;
                        }
                        if self.buf.starts_with(b"\r\n") {
                            break 0;
                        }
                        if self.buf.len() > self.limits.max_part_headers {
                            return Err(UploadError::HeadersTooLarge {
                                limit: self.limits.max_part_headers,
                            });
                        }
                        if !self.fill().await? {
                            return Err(UploadError::Malformed("part headers not terminated"));
                        }
                    };
                    if end > self.limits.max_part_headers {
                        return Err(UploadError::HeadersTooLarge {
                            limit: self.limits.max_part_headers,
                        });
                    }
                    let raw = self.buf.split_to(end);
                    self.buf.advance(if end == 0 { 2 } else { 4 });
                    self.state = State::Body;
                    return parse_headers(&raw, &self.limits).map(Some);
                }
            }
        }
    }

    async fn find_line_end(&mut self) -> Result<Option<usize>, UploadError> {
        loop {
            if let Some(pos) = find(&self.buf, b"\r\n") {
                return Ok(Some(pos));
            }
            if self.buf.len() > 256 || !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// The next chunk of the current part's body, or `None` at its end.
    ///
    /// # Errors
    ///
    /// [`UploadError`] for a body that ends early or exceeds the total limit.
    pub async fn read_chunk(&mut self) -> Result<Option<Bytes>, UploadError> {
        if self.state != State::Body {
            return Ok(None);
        }
        loop {
            if let Some(pos) = find(&self.buf, &self.delimiter) {
                if pos > 0 {
                    return Ok(Some(self.buf.split_to(pos).freeze()));
                }
                self.buf.advance(self.delimiter.len());
                self.state = State::AfterDelimiter;
                return Ok(None);
            }
            // Keep what could be the start of a delimiter split across chunks.
            let keep = self.delimiter.len() - 1;
            if self.buf.len() > keep + 8 * 1024 {
                let take = self.buf.len() - keep;
                return Ok(Some(self.buf.split_to(take).freeze()));
            }
            if !self.fill().await? {
                return Err(UploadError::Malformed("body ends inside a part"));
            }
        }
    }

    /// Reads the rest of the current part as a UTF-8 text field of at most `max_field` bytes.
    ///
    /// # Errors
    ///
    /// [`UploadError::FieldTooLarge`] past the limit, [`UploadError::Malformed`] for non-UTF-8.
    pub async fn read_text(&mut self) -> Result<String, UploadError> {
        let mut out = Vec::new();
        while let Some(chunk) = self.read_chunk().await? {
            if out.len() + chunk.len() > self.limits.max_field {
                return Err(UploadError::FieldTooLarge {
                    limit: self.limits.max_field,
                });
            }
            out.extend_from_slice(&chunk);
        }
        String::from_utf8(out).map_err(|_| UploadError::Malformed("a text field is not UTF-8"))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

fn parse_headers(raw: &[u8], limits: &Limits) -> Result<PartHeaders, UploadError> {
    let text = std::str::from_utf8(raw)
        .map_err(|_| UploadError::Malformed("part headers are not UTF-8"))?;
    let mut headers = PartHeaders::default();
    let mut disposition = false;
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or(UploadError::Malformed("a part header has no colon"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-disposition") {
            if disposition {
                return Err(UploadError::Malformed("duplicate Content-Disposition"));
            }
            disposition = true;
            let mut params = split_parameters(value).into_iter();
            if !params
                .next()
                .is_some_and(|kind| kind.eq_ignore_ascii_case("form-data"))
            {
                return Err(UploadError::Malformed("a part is not form-data"));
            }
            for param in params {
                let Some((key, val)) = param.split_once('=') else {
                    continue;
                };
                let val = unquote(val.trim());
                match key.trim().to_ascii_lowercase().as_str() {
                    "name" => headers.name = val,
                    "filename" => {
                        if val.len() > limits.max_name_len {
                            return Err(UploadError::NameTooLong {
                                limit: limits.max_name_len,
                            });
                        }
                        headers.filename = Some(val);
                    }
                    _ => {}
                }
            }
        } else if name.eq_ignore_ascii_case("content-type") {
            headers.content_type = Some(value.to_owned());
        }
    }
    if !disposition || headers.name.is_empty() {
        return Err(UploadError::Malformed("a part has no field name"));
    }
    Ok(headers)
}

/// `value` split at the semicolons outside double-quoted strings (a browser sends a `;` in a
/// file name as it is: `filename="notes; draft.txt"`), each piece trimmed.
fn split_parameters(value: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                pieces.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(value[start..].trim());
    pieces
}

fn unquote(value: &str) -> String {
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => value.to_owned(),
    }
}

/// The boundary of a `multipart/form-data` content type, if it is one.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut params = split_parameters(content_type).into_iter();
    if !params.next()?.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        let v = unquote(v.trim());
        (k.trim().eq_ignore_ascii_case("boundary") && !v.is_empty() && v.len() <= 70).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(
        body: Vec<u8>,
        chunk: usize,
        limits: Limits,
    ) -> MultipartReader<impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin> {
        let chunks: Vec<Result<Bytes, std::io::Error>> = body
            .chunks(chunk)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        MultipartReader::new(futures_util::stream::iter(chunks), "XyZ", limits)
    }

    fn body(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, filename, data) in parts {
            out.extend_from_slice(b"--XyZ\r\n");
            match filename {
                Some(f) => out.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: image/png\r\n\r\n").as_bytes(),
                ),
                None => out.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"--XyZ--\r\n");
        out
    }

    #[tokio::test]
    async fn parts_are_read_whatever_the_chunking() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        let raw = body(&[("title", None, b"Hello"), ("file", Some("a.bin"), &data)]);
        for chunk in [1, 3, 7, 64, 1000, raw.len()] {
            let mut r = reader(raw.clone(), chunk, Limits::default());
            let p = r.next_part().await.unwrap().unwrap();
            assert_eq!(p.name, "title");
            assert_eq!(r.read_text().await.unwrap(), "Hello");
            let p = r.next_part().await.unwrap().unwrap();
            assert_eq!(p.filename.as_deref(), Some("a.bin"));
            let mut got = Vec::new();
            while let Some(c) = r.read_chunk().await.unwrap() {
                got.extend_from_slice(&c);
            }
            assert_eq!(got, data, "chunk size {chunk}");
            assert!(r.next_part().await.unwrap().is_none());
        }
    }

    #[tokio::test]
    async fn too_many_parts_stop_the_read() {
        let parts: Vec<(&str, Option<&str>, &[u8])> =
            (0..50).map(|_| ("f", None, &b"x"[..])).collect();
        let mut r = reader(
            body(&parts),
            512,
            Limits {
                max_parts: 10,
                ..Limits::default()
            },
        );
        let mut n = 0;
        let err = loop {
            match r.next_part().await {
                Ok(Some(_)) => n += 1,
                Ok(None) => panic!("limit not enforced"),
                Err(e) => break e,
            }
        };
        assert_eq!(n, 10);
        assert!(matches!(err, UploadError::TooManyParts { limit: 10 }));
    }

    #[tokio::test]
    async fn unterminated_headers_are_refused_without_reading_everything() {
        let mut raw = b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\nX-Pad: ".to_vec();
        raw.extend(std::iter::repeat_n(b'a', 1_000_000));
        let mut r = reader(raw, 4096, Limits::default());
        assert!(matches!(
            r.next_part().await,
            Err(UploadError::HeadersTooLarge { .. })
        ));
        assert!(r.bytes_read() < 64 * 1024, "read {} bytes", r.bytes_read());
    }

    #[tokio::test]
    async fn long_fields_and_names_are_refused() {
        let big = vec![b'a'; 100_000];
        let mut r = reader(
            body(&[("description", None, &big)]),
            4096,
            Limits::default(),
        );
        r.next_part().await.unwrap();
        assert!(matches!(
            r.read_text().await,
            Err(UploadError::FieldTooLarge { .. })
        ));
        let name = "n".repeat(2000);
        let mut r = reader(
            body(&[("file", Some(&name), b"x")]),
            4096,
            Limits::default(),
        );
        assert!(matches!(
            r.next_part().await,
            Err(UploadError::NameTooLong { .. })
        ));
    }

    #[tokio::test]
    async fn a_body_that_ends_inside_a_part_is_malformed() {
        let mut raw = body(&[("file", Some("a"), &[7u8; 10_000])]);
        raw.truncate(5000);
        let mut r = reader(raw, 1024, Limits::default());
        r.next_part().await.unwrap();
        let mut result = Ok(Some(Bytes::new()));
        while let Ok(Some(_)) = result {
            result = r.read_chunk().await;
        }
        assert!(matches!(result, Err(UploadError::Malformed(_))));
    }

    #[tokio::test]
    async fn total_body_limit_is_enforced_while_streaming() {
        let raw = body(&[("file", Some("a"), &vec![1u8; 200_000])]);
        let mut r = reader(
            raw,
            1024,
            Limits {
                max_body: 50_000,
                ..Limits::default()
            },
        );
        r.next_part().await.unwrap();
        let mut result = Ok(Some(Bytes::new()));
        while let Ok(Some(_)) = result {
            result = r.read_chunk().await;
        }
        assert!(matches!(result, Err(UploadError::BodyTooLarge { .. })));
        assert!(r.bytes_read() <= 51_024);
    }

    #[test]
    fn boundaries_are_read_from_the_content_type() {
        assert_eq!(
            boundary("multipart/form-data; boundary=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            boundary("multipart/form-data; boundary=\"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(boundary("application/json"), None);
        assert_eq!(boundary("multipart/form-data"), None);
    }

    #[test]
    fn a_semicolon_inside_a_quoted_file_name_is_part_of_the_name() {
        let limits = Limits::default();
        let headers = |filename: &str| {
            parse_headers(
                format!(
                    "Content-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
                )
                .as_bytes(),
                &limits,
            )
            .unwrap()
        };
        assert_eq!(headers("a;b.txt").filename.as_deref(), Some("a;b.txt"));
        assert_eq!(
            headers("notes; draft.txt").filename.as_deref(),
            Some("notes; draft.txt")
        );
        assert_eq!(
            headers("evil.png;.exe").filename.as_deref(),
            Some("evil.png;.exe")
        );
        assert_eq!(
            headers(r#"say \"hi\"; x.txt"#).filename.as_deref(),
            Some(r#"say "hi"; x.txt"#)
        );
        assert_eq!(headers("a;b.txt").name, "file");
    }
}
