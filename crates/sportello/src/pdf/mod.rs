//! Printable documents: the pagoPA payment notice (avviso di pagamento) and the payment
//! receipt, as tagged A4 PDFs with Titillium Web embedded.
//!
//! Written with `pdf-writer` (small, no transitive dependencies worth the name): the module
//! lays out lines of text, rectangles and 2-D codes itself. Text uses the fonts' WinAnsi
//! encoding, which covers Italian (accented letters, `€`, typographic quotes); other
//! characters print as `?`.
//!
//! Tagging: the catalog carries `/Lang (it-IT)`, `/MarkInfo <</Marked true>>` and a structure
//! tree (`Document` → `H1`/`H2`/`P`/`Figure`); every line of text is marked content with an
//! MCID owned by its element, QR and Data Matrix codes are `Figure`s with alt text, and
//! decorations are `/Artifact`s. The title is in the document info and shown by viewers
//! (`DisplayDocTitle`).

pub mod bulk;
mod notice;
mod receipt;
pub mod zipstream;

use std::path::{Path, PathBuf};

use pdf_writer::types::{FontFlags, StructRole};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

pub use notice::{NoticeDocument, NoticeOption, render_notice};
pub use receipt::{ReceiptDocument, ReceiptParty, ReceiptTransfer, render_receipts};

/// Why a document could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// A font file is missing or unreadable.
    #[error("font {path}: {reason}")]
    Font {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The data cannot be printed on a notice (bad fiscal code, nothing left to pay…).
    #[error("{0}")]
    Data(String),
}

/// One embedded TrueType font, parsed once: WinAnsi widths and the compressed file.
#[derive(Debug)]
struct Face {
    base_name: &'static str,
    /// Advance widths for codes 32..=255, in thousandths of the font size.
    widths: Vec<f32>,
    bbox: Rect,
    ascent: f32,
    descent: f32,
    cap_height: f32,
    /// The whole TTF (50 KB), zlib-compressed once here so every document only copies it.
    file_deflated: Vec<u8>,
    file_len: i32,
}

/// The regular and semibold faces of Titillium Web.
#[derive(Debug)]
pub struct Fonts {
    regular: Face,
    bold: Face,
}

impl Fonts {
    /// The two faces from the application's assets (embedded or `assets_dir`'s), parsed once.
    pub fn from_assets(assets: &crate::assets::Assets) -> Result<Fonts, PdfError> {
        let file = |path: &str| {
            assets
                .get(path)
                .map(|a| a.bytes.clone())
                .ok_or_else(|| PdfError::Font {
                    path: PathBuf::from(path),
                    reason: "not among the assets".into(),
                })
        };
        Ok(Fonts {
            regular: Face::parse(
                &file(crate::assets::PDF_REGULAR)?,
                Path::new(crate::assets::PDF_REGULAR),
                "TitilliumWeb-Regular",
            )?,
            bold: Face::parse(
                &file(crate::assets::PDF_BOLD)?,
                Path::new(crate::assets::PDF_BOLD),
                "TitilliumWeb-SemiBold",
            )?,
        })
    }

    /// Reads and parses the two TTFs under `dist_dir` (a copy of Bootstrap Italia's `dist/`).
    pub fn load(dist_dir: &Path) -> Result<Fonts, PdfError> {
        let read = |path: &str| {
            let path = dist_dir.join(path);
            std::fs::read(&path)
                .map(|data| (data, path.clone()))
                .map_err(|e| PdfError::Font {
                    path,
                    reason: e.to_string(),
                })
        };
        let (regular, regular_path) = read(crate::assets::PDF_REGULAR)?;
        let (bold, bold_path) = read(crate::assets::PDF_BOLD)?;
        Ok(Fonts {
            regular: Face::parse(&regular, &regular_path, "TitilliumWeb-Regular")?,
            bold: Face::parse(&bold, &bold_path, "TitilliumWeb-SemiBold")?,
        })
    }

    fn face(&self, bold: bool) -> &Face {
        if bold { &self.bold } else { &self.regular }
    }
}

impl Face {
    fn parse(data: &[u8], path: &Path, base_name: &'static str) -> Result<Face, PdfError> {
        let err = |reason: String| PdfError::Font {
            path: path.to_path_buf(),
            reason,
        };
        let face = ttf_parser::Face::parse(data, 0).map_err(|e| err(e.to_string()))?;
        let upem = f32::from(face.units_per_em());
        let scale = |v: i16| f32::from(v) * 1000.0 / upem;
        let widths = (32u8..=255)
            .map(|code| {
                let c = winansi_char(code);
                face.glyph_index(c)
                    .and_then(|g| face.glyph_hor_advance(g))
                    .map_or(500.0, |a| f32::from(a) * 1000.0 / upem)
            })
            .collect();
        let b = face.global_bounding_box();
        let embedded =
            without_layout_tables(data).ok_or_else(|| err("not a TrueType font".into()))?;
        Ok(Face {
            base_name,
            widths,
            bbox: Rect::new(
                scale(b.x_min),
                scale(b.y_min),
                scale(b.x_max),
                scale(b.y_max),
            ),
            ascent: scale(face.ascender()),
            descent: scale(face.descender()),
            cap_height: face.capital_height().map_or(700.0, scale),
            file_len: i32::try_from(embedded.len()).map_err(|e| err(e.to_string()))?,
            file_deflated: miniz_oxide::deflate::compress_to_vec_zlib(&embedded, 9),
        })
    }

    /// Width of `text` at `size` points.
    fn width(&self, text: &str, size: f32) -> f32 {
        text.chars()
            .map(|c| {
                let code = winansi_code(c);
                self.widths[usize::from(code - 32)]
            })
            .sum::<f32>()
            * size
            / 1000.0
    }
}

/// OpenType layout tables: the PDF places every glyph itself (Widths, no kerning, no
/// ligatures), so viewers never read them. Dropping them takes a third off Titillium Web.
const DROPPED_TABLES: [&[u8; 4]; 6] = [b"GPOS", b"GSUB", b"GDEF", b"kern", b"DSIG", b"JSTF"];

/// The font file without [`DROPPED_TABLES`], rebuilt as a valid sfnt (table directory sorted
/// by tag, 4-byte aligned, checksums and `head.checkSumAdjustment` recomputed). `None` when
/// the directory is malformed.
fn without_layout_tables(font: &[u8]) -> Option<Vec<u8>> {
    let be16 = |at: usize| Some(u16::from_be_bytes(font.get(at..at + 2)?.try_into().ok()?));
    let be32 = |at: usize| Some(u32::from_be_bytes(font.get(at..at + 4)?.try_into().ok()?));
    let count = usize::from(be16(4)?);
    let mut tables = Vec::with_capacity(count);
    for i in 0..count {
        let entry = 12 + 16 * i;
        let tag: [u8; 4] = font.get(entry..entry + 4)?.try_into().ok()?;
        let offset = usize::try_from(be32(entry + 8)?).ok()?;
        let len = usize::try_from(be32(entry + 12)?).ok()?;
        let body = font.get(offset..offset.checked_add(len)?)?;
        if !DROPPED_TABLES.iter().any(|d| **d == tag) {
            tables.push((tag, body));
        }
    }
    tables.sort_by_key(|t| t.0);
    let checksum = |bytes: &[u8]| {
        bytes.chunks(4).fold(0u32, |sum, c| {
            let mut word = [0u8; 4];
            word[..c.len()].copy_from_slice(c);
            sum.wrapping_add(u32::from_be_bytes(word))
        })
    };
    let n = u16::try_from(tables.len()).ok()?;
    let mut out = Vec::with_capacity(font.len());
    out.extend_from_slice(font.get(0..4)?);
    let log2 = 15 - n.max(1).leading_zeros() as u16;
    let search_range = (1u16 << log2) * 16;
    for v in [n, search_range, log2, n * 16 - search_range] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    let mut offset = 12 + 16 * tables.len();
    let mut head_at = None;
    for (tag, body) in &tables {
        out.extend_from_slice(tag);
        let mut body = body.to_vec();
        if tag == b"head" && body.len() >= 12 {
            // checkSumAdjustment is computed over the whole file with this field at zero.
            body[8..12].fill(0);
            head_at = Some(offset);
        }
        out.extend_from_slice(&checksum(&body).to_be_bytes());
        out.extend_from_slice(&u32::try_from(offset).ok()?.to_be_bytes());
        out.extend_from_slice(&u32::try_from(body.len()).ok()?.to_be_bytes());
        offset += body.len().div_ceil(4) * 4;
    }
    for (tag, body) in &tables {
        let start = out.len();
        out.extend_from_slice(body);
        if tag == b"head" && body.len() >= 12 {
            out[start + 8..start + 12].fill(0);
        }
        out.resize(out.len().div_ceil(4) * 4, 0);
    }
    if let Some(at) = head_at {
        let adjust = 0xB1B0_AFBAu32.wrapping_sub(checksum(&out));
        out[at + 8..at + 12].copy_from_slice(&adjust.to_be_bytes());
    }
    Some(out)
}

/// The characters of WinAnsiEncoding 0x80–0x9F (the rest is Latin-1); `\0` where undefined.
const WINANSI_80: [char; 32] = [
    '€', '\0', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\0', 'Ž', '\0', '\0', '‘',
    '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\0', 'ž', 'Ÿ',
];

fn winansi_char(code: u8) -> char {
    match code {
        0x80..=0x9f => WINANSI_80[usize::from(code - 0x80)],
        _ => char::from(code),
    }
}

/// The WinAnsi code of `c`, `?` when it has none (and a space for control characters).
fn winansi_code(c: char) -> u8 {
    match c {
        ' '..='~' | '\u{a0}'..='\u{ff}' => c as u8,
        c if c.is_control() || c.is_whitespace() => b' ',
        c => WINANSI_80
            .iter()
            .position(|&w| w == c && w != '\0')
            .map_or(b'?', |i| 0x80 + i as u8),
    }
}

fn encode(text: &str) -> Vec<u8> {
    text.chars().map(winansi_code).collect()
}

/// A4 in points.
pub(crate) const PAGE_W: f32 = 595.28;
pub(crate) const PAGE_H: f32 = 841.89;
/// One millimetre in points.
pub(crate) const MM: f32 = 72.0 / 25.4;

/// A structure element: its role, the page and MCID of its content, and alt text.
struct Elem {
    role: StructRole,
    page: usize,
    mcid: i32,
    alt: Option<String>,
}

/// A document being laid out: pages of content streams plus the structure they feed.
pub(crate) struct Doc<'f> {
    fonts: &'f Fonts,
    title: String,
    pages: Vec<(Content, i32)>,
    elems: Vec<Elem>,
}

/// Text styles.
#[derive(Clone, Copy)]
pub(crate) struct Style {
    pub size: f32,
    pub bold: bool,
    pub role: StructRole,
    /// Grey level 0 (black) to 1.
    pub grey: f32,
}

impl Style {
    pub const H1: Style = Style {
        size: 18.0,
        bold: true,
        role: StructRole::H1,
        grey: 0.0,
    };
    pub const H2: Style = Style {
        size: 11.0,
        bold: true,
        role: StructRole::H2,
        grey: 0.0,
    };
    pub const BODY: Style = Style {
        size: 9.5,
        bold: false,
        role: StructRole::P,
        grey: 0.0,
    };
    pub const STRONG: Style = Style {
        size: 9.5,
        bold: true,
        role: StructRole::P,
        grey: 0.0,
    };
    pub const LABEL: Style = Style {
        size: 7.5,
        bold: false,
        role: StructRole::P,
        grey: 0.35,
    };

    pub const fn sized(self, size: f32) -> Style {
        Style { size, ..self }
    }
}

impl<'f> Doc<'f> {
    pub fn new(fonts: &'f Fonts, title: impl Into<String>) -> Doc<'f> {
        Doc {
            fonts,
            title: title.into(),
            pages: Vec::new(),
            elems: Vec::new(),
        }
    }

    /// Starts a new page; drawing goes to the last page.
    pub fn new_page(&mut self) {
        self.pages.push((Content::new(), 0));
    }

    fn current(&mut self) -> (&mut Content, i32, usize) {
        let page = self.pages.len() - 1;
        let (content, next) = self.pages.last_mut().expect("new_page first");
        let mcid = *next;
        *next += 1;
        (content, mcid, page)
    }

    /// Width of `text` in `style`.
    pub fn width(&self, text: &str, style: Style) -> f32 {
        self.fonts.face(style.bold).width(text, style.size)
    }

    /// One line of text with its baseline at (`x`, `y`), tagged with the style's role.
    pub fn text(&mut self, x: f32, y: f32, style: Style, text: &str) {
        let (content, mcid, page) = self.current();
        content
            .begin_marked_content_with_properties(role_tag(style.role))
            .properties()
            .identify(mcid);
        content
            .set_fill_gray(style.grey)
            .begin_text()
            .set_font(Name(if style.bold { b"F2" } else { b"F1" }), style.size)
            .next_line(x, y)
            .show(Str(&encode(text)))
            .end_text()
            .end_marked_content();
        self.elems.push(Elem {
            role: style.role,
            page,
            mcid,
            alt: None,
        });
    }

    /// Text right-aligned on `right`.
    pub fn text_right(&mut self, right: f32, y: f32, style: Style, text: &str) {
        let w = self.width(text, style);
        self.text(right - w, y, style, text);
    }

    /// Word-wrapped text from (`x`, `y`) within `width`, at most `max_lines` lines (the last
    /// one ends with `…` when cut). Returns the baseline below the last line.
    pub fn paragraph(
        &mut self,
        x: f32,
        mut y: f32,
        width: f32,
        style: Style,
        text: &str,
        max_lines: usize,
    ) -> f32 {
        let lines = wrap(self.fonts.face(style.bold), text, style.size, width);
        let cut = lines.len() > max_lines;
        for (i, line) in lines.iter().take(max_lines).enumerate() {
            if cut && i + 1 == max_lines {
                self.text(x, y, style, &format!("{line}…"));
            } else {
                self.text(x, y, style, line);
            }
            y -= style.size * 1.25;
        }
        y
    }

    /// A filled rectangle (decoration, tagged as an artifact).
    pub fn fill_rect(&mut self, x: f32, y: f32, w: f32, h: f32, grey: f32) {
        let (content, _, _) = self.current_artifact();
        content
            .begin_marked_content(Name(b"Artifact"))
            .set_fill_gray(grey)
            .rect(x, y, w, h)
            .fill_nonzero()
            .end_marked_content();
    }

    /// A horizontal rule (artifact).
    pub fn rule(&mut self, x: f32, y: f32, w: f32, grey: f32) {
        let (content, _, _) = self.current_artifact();
        content
            .begin_marked_content(Name(b"Artifact"))
            .set_stroke_gray(grey)
            .set_line_width(0.6)
            .move_to(x, y)
            .line_to(x + w, y)
            .stroke()
            .end_marked_content();
    }

    fn current_artifact(&mut self) -> (&mut Content, (), ()) {
        let (content, _) = self.pages.last_mut().expect("new_page first");
        (content, (), ())
    }

    /// A module matrix (QR or Data Matrix) as black squares, `size` points wide, top-left at
    /// (`x`, `top`); a `Figure` with `alt` text.
    pub fn matrix(&mut self, x: f32, top: f32, size: f32, m: &Modules, alt: &str) {
        let module = size / m.width as f32;
        let (content, mcid, page) = self.current();
        content
            .begin_marked_content_with_properties(Name(b"Figure"))
            .properties()
            .identify(mcid);
        content.set_fill_gray(0.0);
        for row in 0..m.height {
            // Runs of dark modules become one rectangle each: fewer operators, and no
            // hairline seams between neighbours when rasterised.
            let mut col = 0;
            while col < m.width {
                if m.dark[row * m.width + col] {
                    let start = col;
                    while col < m.width && m.dark[row * m.width + col] {
                        col += 1;
                    }
                    content.rect(
                        x + start as f32 * module,
                        top - (row + 1) as f32 * module,
                        (col - start) as f32 * module,
                        module,
                    );
                } else {
                    col += 1;
                }
            }
        }
        content.fill_nonzero().end_marked_content();
        self.elems.push(Elem {
            role: StructRole::Figure,
            page,
            mcid,
            alt: Some(alt.to_owned()),
        });
    }

    /// The finished PDF.
    pub fn finish(self) -> Vec<u8> {
        let mut alloc = Ref::new(1);
        let mut next = || alloc.bump();
        let catalog_id = next();
        let tree_id = next();
        let info_id = next();
        let struct_root_id = next();
        let document_id = next();
        let font_ids: Vec<(Ref, Ref, Ref)> = (0..2).map(|_| (next(), next(), next())).collect();
        let page_ids: Vec<(Ref, Ref, Ref)> = self
            .pages
            .iter()
            .map(|_| (next(), next(), next()))
            .collect();
        let elem_ids: Vec<Ref> = self.elems.iter().map(|_| next()).collect();

        let mut pdf = Pdf::new();
        pdf.set_version(1, 7);
        {
            let mut catalog = pdf.catalog(catalog_id);
            catalog.pages(tree_id);
            catalog.lang(TextStr("it-IT"));
            catalog.mark_info().marked(true);
            catalog.viewer_preferences().display_doc_title(true);
            catalog.pair(Name(b"StructTreeRoot"), struct_root_id);
        }
        pdf.document_info(info_id)
            .title(TextStr(&self.title))
            .producer(TextStr("Sportello"));
        pdf.pages(tree_id)
            .kids(page_ids.iter().map(|p| p.0))
            .count(page_ids.len() as i32);

        for (face, (font_id, desc_id, file_id)) in [&self.fonts.regular, &self.fonts.bold]
            .iter()
            .zip(&font_ids)
        {
            let mut font = pdf.indirect(*font_id).dict();
            font.pair(Name(b"Type"), Name(b"Font"))
                .pair(Name(b"Subtype"), Name(b"TrueType"))
                .pair(Name(b"BaseFont"), Name(face.base_name.as_bytes()))
                .pair(Name(b"FirstChar"), 32)
                .pair(Name(b"LastChar"), 255)
                .pair(Name(b"Encoding"), Name(b"WinAnsiEncoding"))
                .pair(Name(b"FontDescriptor"), *desc_id);
            font.insert(Name(b"Widths"))
                .array()
                .items(face.widths.iter().copied());
            font.finish();
            pdf.font_descriptor(*desc_id)
                .name(Name(face.base_name.as_bytes()))
                .flags(FontFlags::NON_SYMBOLIC)
                .bbox(face.bbox)
                .italic_angle(0.0)
                .ascent(face.ascent)
                .descent(face.descent)
                .cap_height(face.cap_height)
                .stem_v(80.0)
                .font_file2(*file_id);
            pdf.stream(*file_id, &face.file_deflated)
                .filter(Filter::FlateDecode)
                .pair(Name(b"Length1"), face.file_len);
        }

        for (i, ((content, _), (page_id, content_id, parents_id))) in
            self.pages.into_iter().zip(&page_ids).enumerate()
        {
            let mut page = pdf.page(*page_id);
            page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
                .parent(tree_id)
                .contents(*content_id)
                .struct_parents(i as i32)
                .pair(Name(b"Tabs"), Name(b"S"));
            page.resources()
                .fonts()
                .pair(Name(b"F1"), font_ids[0].0)
                .pair(Name(b"F2"), font_ids[1].0);
            page.finish();
            let data = miniz_oxide::deflate::compress_to_vec_zlib(&content.finish(), 6);
            pdf.stream(*content_id, &data).filter(Filter::FlateDecode);
            // The parent tree entry of this page: MCID n → its structure element.
            let mut parents = pdf.indirect(*parents_id).array();
            for (elem, id) in self.elems.iter().zip(&elem_ids) {
                if elem.page == i {
                    parents.item(*id);
                }
            }
            parents.finish();
        }

        {
            let mut root = pdf
                .indirect(struct_root_id)
                .start::<pdf_writer::writers::StructTreeRoot>();
            root.child(document_id);
            let mut tree = root.parent_tree();
            let mut nums = tree.nums();
            for (i, p) in page_ids.iter().enumerate() {
                nums.insert(i as i32, p.2);
            }
            nums.finish();
            tree.finish();
            root.parent_tree_next_key(page_ids.len() as i32);
        }
        {
            let mut doc = pdf.struct_element(document_id);
            doc.kind(StructRole::Document)
                .parent(struct_root_id)
                .title(TextStr(&self.title));
            doc.children().items(elem_ids.iter().copied());
        }
        for (elem, id) in self.elems.iter().zip(&elem_ids) {
            let mut e = pdf.struct_element(*id);
            e.kind(elem.role)
                .parent(document_id)
                .page(page_ids[elem.page].0);
            if let Some(alt) = &elem.alt {
                e.alt(TextStr(alt));
            }
            e.marked_content_child()
                .marked_content_id(elem.mcid)
                .page(page_ids[elem.page].0);
        }
        pdf.finish()
    }
}

fn role_tag(role: StructRole) -> Name<'static> {
    match role {
        StructRole::H1 => Name(b"H1"),
        StructRole::H2 => Name(b"H2"),
        StructRole::Figure => Name(b"Figure"),
        _ => Name(b"P"),
    }
}

/// Greedy word wrap; a word longer than the line is cut.
fn wrap(face: &Face, text: &str, size: f32, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_owned()
        } else {
            format!("{line} {word}")
        };
        if face.width(&candidate, size) <= width || line.is_empty() {
            line = candidate;
        } else {
            lines.push(std::mem::take(&mut line));
            line = word.to_owned();
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// A square or rectangular grid of modules, dark or light, without quiet zone.
pub(crate) struct Modules {
    pub width: usize,
    pub height: usize,
    pub dark: Vec<bool>,
}

impl Modules {
    /// The pagoPA QR code of `payload`, ECC level M.
    pub fn qr(payload: &str) -> Result<Modules, PdfError> {
        let code = qrcode::QrCode::with_error_correction_level(payload, qrcode::EcLevel::M)
            .map_err(|e| PdfError::Data(format!("codice QR: {e}")))?;
        let width = code.width();
        let dark = code
            .to_colors()
            .into_iter()
            .map(|c| c == qrcode::Color::Dark)
            .collect();
        Ok(Modules {
            width,
            height: width,
            dark,
        })
    }

    /// A square ECC 200 Data Matrix of `payload`.
    pub fn data_matrix(payload: &str) -> Result<Modules, PdfError> {
        let code = datamatrix::DataMatrix::encode_str(
            payload,
            datamatrix::SymbolList::default().enforce_square(),
        )
        .map_err(|e| PdfError::Data(format!("Data Matrix: {e:?}")))?;
        let bitmap = code.bitmap();
        let (width, height) = (bitmap.width(), bitmap.height());
        let mut dark = vec![false; width * height];
        for (x, y) in bitmap.pixels() {
            dark[y * width + x] = true;
        }
        Ok(Modules {
            width,
            height,
            dark,
        })
    }
}
