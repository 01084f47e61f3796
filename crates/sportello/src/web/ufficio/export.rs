//! CSV and XLSX exports of a search's filtered rows, a thousand rows at a time read by keyset.
//! The CSV is streamed as it is read; the XLSX (a ZIP) is written row by row to an anonymous
//! temporary file and then streamed, so neither holds the rows in memory; it stops at
//! [`XLSX_MAX_ROWS`], a worksheet's limit. The XLSX writer is ours: one sheet of inline strings
//! and numbers is a few XML files in a ZIP, and the `zip` crate is already in the tree.

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
/// Most data rows of an XLSX export: a worksheet holds 1 048 576 rows, the header included.
pub const XLSX_MAX_ROWS: usize = 1_048_575;

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

/// The filtered rows as an XLSX workbook (at most [`XLSX_MAX_ROWS`], a worksheet's limit).
/// Rows are read a batch at a time and written to a ZIP in an anonymous temporary file, which
/// is then streamed: memory stays flat whatever the number of rows.
pub async fn xlsx<E: Export>(state: AppState, ctx: Ctx, q: E::Query) -> Response {
    match xlsx_file::<E>(&state, &ctx, &q).await {
        Ok((file, len)) => (
            [
                (
                    header::CONTENT_TYPE,
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}.xlsx\"", E::NAME),
                ),
                (header::CONTENT_LENGTH, len.to_string()),
            ],
            Body::from_stream(file_chunks(file)),
        )
            .into_response(),
        Err(e) => error_response(&state, &ctx, e),
    }
}

/// Writes the workbook of the rows `q` filters to a temporary file; returns it (rewound) and
/// its length.
async fn xlsx_file<E: Export>(
    state: &AppState,
    ctx: &Ctx,
    q: &E::Query,
) -> Result<(std::fs::File, u64), BoError> {
    let blocking = |e: tokio::task::JoinError| BoError::Internal(e.into());
    let mut sheet =
        tokio::task::spawn_blocking(|| SheetWriter::new(tempfile::tempfile()?, E::HEADERS))
            .await
            .map_err(blocking)??;
    let mut after = None;
    loop {
        let batch = {
            let bo = ctx.bo(state);
            E::fetch(&bo, &ctx.op, q, after, BATCH).await?
        };
        let n = batch.len();
        after = batch.last().map(Export::key);
        let cells: Vec<Vec<XCell>> = batch.iter().map(Export::cells).collect();
        sheet = tokio::task::spawn_blocking(move || {
            for row in &cells {
                if sheet.rows() >= XLSX_MAX_ROWS {
                    break;
                }
                sheet.row(row)?;
            }
            Ok::<_, anyhow::Error>(sheet)
        })
        .await
        .map_err(blocking)??;
        if n < usize::try_from(BATCH).unwrap_or(usize::MAX) || sheet.rows() >= XLSX_MAX_ROWS {
            break;
        }
    }
    Ok(tokio::task::spawn_blocking(move || {
        use std::io::Seek;
        let mut file = sheet.finish()?;
        let len = file.seek(std::io::SeekFrom::End(0))?;
        file.rewind()?;
        Ok::<_, anyhow::Error>((file, len))
    })
    .await
    .map_err(blocking)??)
}

/// A file read in 64 KiB chunks, off the async threads.
fn file_chunks(
    file: std::fs::File,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let read = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let n = std::io::Read::read(&mut file, &mut buf)?;
            buf.truncate(n);
            Ok::<_, std::io::Error>((file, buf))
        })
        .await;
        match read {
            Ok(Ok((_, buf))) if buf.is_empty() => None,
            Ok(Ok((file, buf))) => Some((Ok(buf), Some(file))),
            Ok(Err(e)) => Some((Err(e), None)),
            Err(e) => Some((Err(std::io::Error::other(e)), None)),
        }
    })
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

const SHEET_START: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>";
const SHEET_END: &str = "</sheetData></worksheet>";

/// The workbook's fixed parts: content types, relationships, the workbook and its one style.
const PARTS: [(&str, &str); 5] = [
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

/// A one-sheet workbook written row by row into a ZIP (a bold-less header row, then the rows;
/// amounts are numbers in euro): only the compressor's window is held in memory.
pub struct SheetWriter<W: Write + std::io::Seek> {
    zip: zip::ZipWriter<W>,
    /// Rows written, the header included.
    written: usize,
}

impl<W: Write + std::io::Seek> SheetWriter<W> {
    /// Starts the workbook in `out` and writes the header row.
    pub fn new(out: W, headers: &[&str]) -> anyhow::Result<SheetWriter<W>> {
        let mut zip = zip::ZipWriter::new(out);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, text) in PARTS {
            zip.start_file(name, options)?;
            zip.write_all(text.as_bytes())?;
        }
        zip.start_file("xl/worksheets/sheet1.xml", options)?;
        zip.write_all(SHEET_START.as_bytes())?;
        let mut sheet = SheetWriter { zip, written: 0 };
        let header: Vec<XCell> = headers
            .iter()
            .map(|h| XCell::Text((*h).to_owned()))
            .collect();
        sheet.row(&header)?;
        Ok(sheet)
    }

    /// Data rows written so far.
    pub fn rows(&self) -> usize {
        self.written.saturating_sub(1)
    }

    /// Appends a row.
    pub fn row(&mut self, cells: &[XCell]) -> std::io::Result<()> {
        let r = self.written + 1;
        let mut line = format!("<row r=\"{r}\">");
        for (c, cell) in cells.iter().enumerate() {
            let at = format!("{}{r}", column(c));
            match cell {
                XCell::Text(t) => line.push_str(&format!(
                    "<c r=\"{at}\" t=\"inlineStr\"><is><t xml:space=\"preserve\">{}</t></is></c>",
                    xml_escape(t)
                )),
                XCell::Amount(cents) => {
                    let sign = if *cents < 0 { "-" } else { "" };
                    let abs = cents.unsigned_abs();
                    line.push_str(&format!(
                        "<c r=\"{at}\" s=\"1\"><v>{sign}{}.{:02}</v></c>",
                        abs / 100,
                        abs % 100
                    ));
                }
            }
        }
        line.push_str("</row>");
        self.zip.write_all(line.as_bytes())?;
        self.written += 1;
        Ok(())
    }

    /// Closes the sheet and the ZIP; returns the output.
    pub fn finish(mut self) -> anyhow::Result<W> {
        self.zip.write_all(SHEET_END.as_bytes())?;
        Ok(self.zip.finish()?)
    }
}

/// A one-sheet workbook in memory.
#[cfg(test)]
fn workbook(headers: &[&str], rows: &[Vec<XCell>]) -> anyhow::Result<Vec<u8>> {
    let mut sheet = SheetWriter::new(std::io::Cursor::new(Vec::new()), headers)?;
    for row in rows {
        sheet.row(row)?;
    }
    Ok(sheet.finish()?.into_inner())
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

    #[test]
    fn sheet_writer_streams_rows_to_a_file() {
        let mut sheet = SheetWriter::new(tempfile::tempfile().unwrap(), &["N"]).unwrap();
        for i in 0..5_000 {
            sheet.row(&[XCell::Amount(i)]).unwrap();
        }
        assert_eq!(sheet.rows(), 5_000);
        let mut zip = zip::ZipArchive::new(sheet.finish().unwrap()).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut zip.by_name("xl/worksheets/sheet1.xml").unwrap(),
            &mut text,
        )
        .unwrap();
        assert!(text.contains("<row r=\"5001\"><c r=\"A5001\" s=\"1\"><v>49.99</v>"));
        assert!(text.ends_with("</sheetData></worksheet>"));
    }
}
