//! CSV and XLSX exports of a search's filtered rows. The CSV is streamed, a thousand rows at a
//! time read by keyset; the XLSX (a ZIP, written in memory) stops at [`XLSX_MAX_ROWS`]. The
//! XLSX writer is ours: one sheet of inline strings and numbers is a few XML files in a ZIP,
//! and the `zip` crate is already in the tree.

use std::future::Future;
use std::io::Write;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::positions::Errors;
use super::{Ctx, error_response};
use crate::backoffice::{BackOffice, BoError, Operator};
use crate::web::AppState;

/// Rows read per query while exporting.
const BATCH: i64 = 1000;
/// Most rows of an XLSX export.
pub const XLSX_MAX_ROWS: usize = 100_000;

/// A value of an exported cell.
pub enum XCell {
    /// Text.
    Text(String),
    /// An amount in cents (a number in euro in the XLSX, `1234,56` in the CSV).
    Amount(i64),
}

/// Rows a search can export.
pub trait Export: Sized + Send + 'static {
    /// The search form as typed.
    type Form: serde::de::DeserializeOwned + Send + 'static;
    /// The search's filters.
    type Query: Clone + Send + Sync + 'static;
    /// Column headers.
    const HEADERS: &'static [&'static str];
    /// File name without extension.
    const NAME: &'static str;
    /// The row's cells, in the order of the headers.
    fn cells(&self) -> Vec<XCell>;
    /// The keyset key (rows come in decreasing key order).
    fn key(&self) -> i64;
    /// The filters of a typed form, or the errors to show.
    fn parse<'a>(
        bo: &'a BackOffice<'a>,
        op: &'a Operator,
        form: &'a Self::Form,
    ) -> impl Future<Output = Result<(Self::Query, Errors), BoError>> + Send + 'a;
    /// A batch of rows after `after`.
    fn fetch<'a>(
        bo: &'a BackOffice<'a>,
        op: &'a Operator,
        q: &'a Self::Query,
        after: Option<i64>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Self>, BoError>> + Send + 'a;
}

fn csv_line(cells: impl Iterator<Item = String>) -> String {
    let mut line = cells
        .map(|c| crate::web::pages::csv_cell(&c))
        .collect::<Vec<_>>()
        .join(";");
    line.push_str("\r\n");
    line
}

async fn query<E: Export>(
    state: &AppState,
    ctx: &Ctx,
    form: &E::Form,
) -> Result<E::Query, Response> {
    let bo = ctx.bo(state);
    match E::parse(&bo, &ctx.op, form).await {
        Ok((q, errors)) => match errors.into_iter().next() {
            None => Ok(q),
            Some((field, message)) => {
                Err(error_response(state, ctx, BoError::Invalid(field, message)))
            }
        },
        Err(e) => Err(error_response(state, ctx, e)),
    }
}

/// `GET ….csv` of a search: the rows its form filters.
pub async fn csv_route<E: Export>(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(form): Query<E::Form>,
) -> Response {
    match query::<E>(&state, &ctx, &form).await {
        Ok(q) => csv::<E>(state, ctx, q).await,
        Err(r) => r,
    }
}

/// `GET ….xlsx` of a search.
pub async fn xlsx_route<E: Export>(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(form): Query<E::Form>,
) -> Response {
    match query::<E>(&state, &ctx, &form).await {
        Ok(q) => xlsx::<E>(state, ctx, q).await,
        Err(r) => r,
    }
}

/// The filtered rows as CSV (BOM and `;`, as an Italian spreadsheet expects), streamed.
pub async fn csv<E: Export>(state: AppState, ctx: Ctx, q: E::Query) -> Response {
    // The first batch is read before answering, so a refusal is still a proper error page.
    let first = {
        let bo = ctx.bo(&state);
        E::fetch(&bo, &ctx.op, &q, None, BATCH).await
    };
    let first = match first {
        Ok(rows) => rows,
        Err(e) => return error_response(&state, &ctx, e),
    };
    let header = format!(
        "\u{feff}{}",
        csv_line(E::HEADERS.iter().map(|h| (*h).to_owned()))
    );
    let op = ctx.op.clone();
    let stream = futures_util::stream::unfold(
        (Some(first), Some(header), None::<i64>, false),
        move |(pending, header, after, done)| {
            let state = state.clone();
            let op = op.clone();
            let q = q.clone();
            async move {
                if done {
                    return None;
                }
                let rows = match pending {
                    Some(rows) => rows,
                    None => {
                        let bo = BackOffice::new(
                            state.store(),
                            state.ente(),
                            state.config().backoffice_checkout_overdue_minutes,
                            &state.config().public_url,
                        );
                        match E::fetch(&bo, &op, &q, after, BATCH).await {
                            Ok(rows) => rows,
                            Err(e) => {
                                tracing::error!(error = %e, "CSV export stopped");
                                return Some((
                                    Err(std::io::Error::other(e.to_string())),
                                    (None, None, None, true),
                                ));
                            }
                        }
                    }
                };
                let mut chunk = header.unwrap_or_default();
                for r in &rows {
                    chunk.push_str(&csv_line(r.cells().into_iter().map(|c| match c {
                        XCell::Text(t) => t,
                        XCell::Amount(cents) => pagopa::Cents::new(cents).to_italian(),
                    })));
                }
                let last = rows.last().map(Export::key);
                let finished = rows.len() < usize::try_from(BATCH).unwrap_or(usize::MAX);
                Some((Ok::<_, std::io::Error>(chunk), (None, None, last, finished)))
            }
        },
    );
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.csv\"", E::NAME),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// The filtered rows as an XLSX workbook (at most [`XLSX_MAX_ROWS`]).
pub async fn xlsx<E: Export>(state: AppState, ctx: Ctx, q: E::Query) -> Response {
    let mut rows: Vec<E> = Vec::new();
    let mut after = None;
    loop {
        let batch = {
            let bo = ctx.bo(&state);
            E::fetch(&bo, &ctx.op, &q, after, BATCH).await
        };
        let batch = match batch {
            Ok(b) => b,
            Err(e) => return error_response(&state, &ctx, e),
        };
        let n = batch.len();
        after = batch.last().map(Export::key);
        rows.extend(batch);
        if n < usize::try_from(BATCH).unwrap_or(usize::MAX) || rows.len() >= XLSX_MAX_ROWS {
            break;
        }
    }
    rows.truncate(XLSX_MAX_ROWS);
    let table: Vec<Vec<XCell>> = rows.iter().map(Export::cells).collect();
    match tokio::task::spawn_blocking(move || workbook(E::HEADERS, &table)).await {
        Ok(Ok(bytes)) => (
            [
                (
                    header::CONTENT_TYPE,
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}.xlsx\"", E::NAME),
                ),
            ],
            bytes,
        )
            .into_response(),
        Ok(Err(e)) => error_response(&state, &ctx, BoError::Internal(e)),
        Err(e) => error_response(&state, &ctx, BoError::Internal(e.into())),
    }
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // XML 1.0 forbids most control characters.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// The column letters of 0-based column `i` (A, B, …, Z, AA…).
fn column(mut i: usize) -> String {
    let mut name = Vec::new();
    loop {
        name.push(b'A' + u8::try_from(i % 26).unwrap_or(0));
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    name.reverse();
    String::from_utf8(name).unwrap_or_default()
}

/// A one-sheet workbook: a bold-less header row, then the rows; amounts are numbers in euro.
pub fn workbook(headers: &[&str], rows: &[Vec<XCell>]) -> anyhow::Result<Vec<u8>> {
    let mut sheet = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>",
    );
    let header_cells: Vec<XCell> = headers
        .iter()
        .map(|h| XCell::Text((*h).to_owned()))
        .collect();
    for (r, cells) in std::iter::once(&header_cells)
        .chain(rows.iter())
        .enumerate()
    {
        sheet.push_str(&format!("<row r=\"{}\">", r + 1));
        for (c, cell) in cells.iter().enumerate() {
            let at = format!("{}{}", column(c), r + 1);
            match cell {
                XCell::Text(t) => sheet.push_str(&format!(
                    "<c r=\"{at}\" t=\"inlineStr\"><is><t xml:space=\"preserve\">{}</t></is></c>",
                    xml_escape(t)
                )),
                XCell::Amount(cents) => {
                    let sign = if *cents < 0 { "-" } else { "" };
                    let abs = cents.unsigned_abs();
                    sheet.push_str(&format!(
                        "<c r=\"{at}\" s=\"1\"><v>{sign}{}.{:02}</v></c>",
                        abs / 100,
                        abs % 100
                    ));
                }
            }
        }
        sheet.push_str("</row>");
    }
    sheet.push_str("</sheetData></worksheet>");
    let files: [(&str, &str); 5] = [
        (
            "[Content_Types].xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"><Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/><Default Extension=\"xml\" ContentType=\"application/xml\"/><Override PartName=\"/xl/workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/><Override PartName=\"/xl/worksheets/sheet1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/><Override PartName=\"/xl/styles.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml\"/></Types>",
        ),
        (
            "_rels/.rels",
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"><Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>",
        ),
        (
            "xl/workbook.xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"><sheets><sheet name=\"Dati\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>",
        ),
        (
            "xl/_rels/workbook.xml.rels",
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"><Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" Target=\"worksheets/sheet1.xml\"/><Relationship Id=\"rId2\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles\" Target=\"styles.xml\"/></Relationships>",
        ),
        (
            "xl/styles.xml",
            // Style 1: the built-in number format 4, "#,##0.00".
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<styleSheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><fonts count=\"1\"><font><sz val=\"11\"/><name val=\"Calibri\"/></font></fonts><fills count=\"2\"><fill><patternFill patternType=\"none\"/></fill><fill><patternFill patternType=\"gray125\"/></fill></fills><borders count=\"1\"><border><left/><right/><top/><bottom/><diagonal/></border></borders><cellStyleXfs count=\"1\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\"/></cellStyleXfs><cellXfs count=\"2\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\"/><xf numFmtId=\"4\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\" applyNumberFormat=\"1\"/></cellXfs></styleSheet>",
        ),
    ];
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, text) in files {
        zip.start_file(name, options)?;
        zip.write_all(text.as_bytes())?;
    }
    zip.start_file("xl/worksheets/sheet1.xml", options)?;
    zip.write_all(sheet.as_bytes())?;
    Ok(zip.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_lettered() {
        assert_eq!(column(0), "A");
        assert_eq!(column(25), "Z");
        assert_eq!(column(26), "AA");
        assert_eq!(column(27), "AB");
        assert_eq!(column(701), "ZZ");
        assert_eq!(column(702), "AAA");
    }

    #[test]
    fn workbook_is_a_zip_with_the_sheet() {
        let bytes = workbook(
            &["Nome", "Importo"],
            &[vec![XCell::Text("A & B <c>".into()), XCell::Amount(-12345)]],
        )
        .unwrap();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut sheet = String::new();
        std::io::Read::read_to_string(
            &mut zip.by_name("xl/worksheets/sheet1.xml").unwrap(),
            &mut sheet,
        )
        .unwrap();
        assert!(sheet.contains("A &amp; B &lt;c&gt;"), "{sheet}");
        assert!(sheet.contains("<v>-123.45</v>"), "{sheet}");
        assert!(zip.by_name("[Content_Types].xml").is_ok());
    }
}
