//! `multipart/form-data` bodies: the back office's file upload (the treasury statement). The
//! body is read whole, bounded by its route's limit (`web/limits.rs`), and parsed by `multer`.
//! The session layer reads the CSRF token from it before any handler sees the file; the
//! handler then reads the fields again from the same bytes.

use axum::body::Bytes;
use axum::http::{HeaderMap, header};

/// One field of the form.
pub struct Part {
    /// Its name.
    pub name: String,
    /// The file's name, for a file field.
    pub file_name: Option<String>,
    /// Its content.
    pub bytes: Bytes,
}

/// The boundary of a `multipart/form-data` request; None for any other body.
pub fn boundary(headers: &HeaderMap) -> Option<String> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    multer::parse_boundary(content_type).ok()
}

fn reader(boundary: &str, body: Bytes) -> multer::Multipart<'static> {
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    multer::Multipart::new(stream, boundary.to_owned())
}

/// The text of the first field `name`, reading no further than it (None: absent, or the body
/// is not a well-formed form up to there).
pub async fn text_field(boundary: &str, body: Bytes, name: &str) -> Option<String> {
    let mut form = reader(boundary, body);
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some(name) {
            return field.text().await.ok();
        }
    }
    None
}

/// Every field of the form, in order.
pub async fn parts(boundary: &str, body: Bytes) -> Result<Vec<Part>, multer::Error> {
    let mut form = reader(boundary, body);
    let mut parts = Vec::new();
    while let Some(field) = form.next_field().await? {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let bytes = field.bytes().await?;
        parts.push(Part {
            name,
            file_name,
            bytes,
        });
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> (String, Bytes) {
        let b = "XyZ";
        let text = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\nabc\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"estratto\"; filename=\"e.csv\"\r\n\
             Content-Type: text/csv\r\n\r\nimporto;causale\r\n1,00;x\r\n--{b}--\r\n"
        );
        (b.to_owned(), Bytes::from(text))
    }

    #[tokio::test]
    async fn fields_and_files_are_read() {
        let (b, bytes) = body();
        assert_eq!(
            text_field(&b, bytes.clone(), "csrf_token").await.as_deref(),
            Some("abc")
        );
        assert_eq!(text_field(&b, bytes.clone(), "altro").await, None);
        let parts = parts(&b, bytes).await.unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].name, "estratto");
        assert_eq!(parts[1].file_name.as_deref(), Some("e.csv"));
        assert_eq!(&parts[1].bytes[..], b"importo;causale\r\n1,00;x");
    }

    #[tokio::test]
    async fn a_broken_form_is_an_error() {
        let (b, bytes) = body();
        let cut = bytes.slice(..bytes.len() - 20);
        assert!(parts(&b, cut).await.is_err());
    }

    #[test]
    fn only_multipart_forms_have_a_boundary() {
        let mut h = HeaderMap::new();
        assert_eq!(boundary(&h), None);
        h.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        assert_eq!(boundary(&h), None);
        h.insert(
            header::CONTENT_TYPE,
            "multipart/form-data; boundary=abc".parse().unwrap(),
        );
        assert_eq!(boundary(&h).as_deref(), Some("abc"));
    }
}
