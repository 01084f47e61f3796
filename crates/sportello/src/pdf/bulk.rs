//! Thousands of notices in one ZIP, in constant memory: positions are read from the store a
//! page at a time (keyset paging), each PDF is written to the archive as soon as it exists, and
//! the archive's central directory waits in a temporary file (see [`super::zipstream`]).

use std::io::Write;

use super::zipstream::ZipStream;
use super::{Fonts, NoticeDocument, render_notice};
use crate::store::Store;
use crate::store::ente::Ente;

/// Positions read per query.
const PAGE: i64 = 200;

/// What a bulk export did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkReport {
    /// Notices written.
    pub written: u64,
    /// Positions left out, with the reason (`iupd: reason`).
    pub skipped: Vec<String>,
}

/// Writes the notice of every printable position (published, valid or partially paid) of the
/// service `service_code` to `out` as `avviso-<NAV>.pdf` entries, deflated. `progress` is
/// called with the number of positions handled after each one.
pub async fn write_notices_zip<W: Write>(
    store: &Store,
    ente: &Ente,
    fonts: &Fonts,
    service_code: &str,
    out: W,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<(BulkReport, W)> {
    let mut zip = ZipStream::new(out)?;
    let mut report = BulkReport::default();
    let mut after = 0;
    let mut handled = 0;
    loop {
        let positions = store
            .service_positions_after(ente.id, service_code, after, PAGE)
            .await?;
        let Some(last) = positions.last() else {
            break;
        };
        after = last.id;
        for position in &positions {
            let rendered = NoticeDocument::from_position(ente, position).and_then(|doc| {
                let nav = doc
                    .single
                    .as_ref()
                    .or(doc.installments.first())
                    .map(|o| o.nav.as_str().to_owned())
                    .unwrap_or_default();
                render_notice(fonts, &doc).map(|pdf| (nav, pdf))
            });
            match rendered {
                Ok((nav, pdf)) => {
                    zip.add(&format!("avviso-{nav}.pdf"), &pdf)?;
                    report.written += 1;
                }
                Err(e) => report.skipped.push(format!("{}: {e}", position.iupd)),
            }
            handled += 1;
            progress(handled);
        }
    }
    let out = zip.finish()?;
    Ok((report, out))
}
