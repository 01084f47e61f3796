//! The treasury's statement: bank credits imported from a camt.053 file or a simple CSV, each
//! once, and linked to the flow its remittance names (`/PUR/LGPE-RIVERSAMENTO/URI/<flow id>`)
//! when the amounts are equal: the flow is then *riversato*.
//!
//! CSV layout (header row, `;` or `,`, UTF-8 with or without BOM): `data_contabile`,
//! `data_valuta` (gg/mm/aaaa or aaaa-mm-gg), `importo` (euro, `1.234,56` or `1234.56`; a
//! negative amount is a debit and is skipped), `causale`, and optionally `ordinante` and
//! `riferimento` (the bank's reference, which makes the row's identity).

use std::collections::HashMap;

use pagopa::Cents;
use pagopa::fdr::flow_id_in_remittance;
use serde::Serialize;

use crate::store::Store;
use crate::store::ente::Ente;
use crate::store::recon::{CreditLink, NewCredit};

/// Why a statement was refused (nothing is imported).
#[derive(Debug, thiserror::Error)]
pub enum TreasuryError {
    /// Neither a camt.053 nor a CSV statement.
    #[error(
        "formato non riconosciuto: serve un estratto conto camt.053 (XML) o un CSV con le colonne importo e causale"
    )]
    UnknownFormat,
    /// Named `.xml`, but not an XML document.
    #[error(
        "il file ha estensione .xml ma non è un documento XML: serve un estratto conto camt.053"
    )]
    NotXml,
    /// The camt.053 document is malformed.
    #[error("estratto conto camt.053 non valido: {0}")]
    Camt(#[from] pagopa::camt053::Camt053Error),
    /// The CSV is malformed.
    #[error("file CSV non valido: {0}")]
    Csv(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TreasuryReport {
    /// Movements read.
    pub movements: usize,
    /// Credits stored now.
    pub imported: usize,
    /// Credits already imported earlier (same bank reference).
    pub already_imported: usize,
    /// Debits and reversals, not credits to reconcile.
    pub skipped: usize,
    /// Flows now *riversati*.
    pub flows_credited: Vec<String>,
    /// Credits naming no known flow.
    pub without_flow: usize,
    /// Credits for a flow with a different total.
    pub amount_mismatch: usize,
}

fn looks_like_xml(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'<')
}

/// A CSV statement's header row names `importo` and `causale`.
fn looks_like_csv(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    std::str::from_utf8(first).is_ok_and(|line| {
        let line = line.to_ascii_lowercase();
        line.contains("importo") && line.contains("causale")
    })
}

/// A statement's formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// ISO 20022 camt.053 (XML).
    Camt053,
    /// The simple CSV.
    Csv,
}

/// Tells a statement's format by its content, and by its name's extension when the content
/// is not clear: XML is a camt.053; a file named `.xml` that is not XML is refused; a header
/// with `importo` and `causale`, or a name ending in `.csv`, is a CSV; anything else is an
/// unknown format.
pub fn format_of(file_name: &str, bytes: &[u8]) -> Result<Format, TreasuryError> {
    let extension = std::path::Path::new(file_name)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    if looks_like_xml(bytes) {
        Ok(Format::Camt053)
    } else if extension.as_deref() == Some("xml") {
        Err(TreasuryError::NotXml)
    } else if looks_like_csv(bytes) || extension.as_deref() == Some("csv") {
        Ok(Format::Csv)
    } else {
        Err(TreasuryError::UnknownFormat)
    }
}

/// Reads a statement (camt.053 or CSV, see [`format_of`]) into credits to store.
pub fn parse_statement(
    file_name: &str,
    bytes: &[u8],
) -> Result<(Vec<NewCredit>, usize, usize), TreasuryError> {
    if format_of(file_name, bytes)? == Format::Camt053 {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            let valid = &bytes[..e.valid_up_to()];
            pagopa::camt053::Camt053Error {
                line: 1 + valid.iter().filter(|b| **b == b'\n').count(),
                message: "il testo non è UTF-8".into(),
            }
        })?;
        let movements = pagopa::camt053::parse(text)?;
        let total = movements.len();
        let mut skipped = 0;
        let credits = movements
            .into_iter()
            .filter(|m| {
                let keep = m.credit && !m.reversal && m.amount.is_positive();
                skipped += usize::from(!keep);
                keep
            })
            .map(|m| NewCredit {
                movement_key: format!("camt053/{}", m.key),
                source: "camt053",
                file_name: file_name.to_owned(),
                booking_date: m.booking_date,
                value_date: m.value_date,
                amount: m.amount.get(),
                currency: m.currency,
                reference: m.reference,
                debtor_name: m.debtor_name,
                fdr: flow_id_in_remittance(&m.remittance),
                remittance: m.remittance,
            })
            .collect();
        Ok((credits, total, skipped))
    } else {
        parse_csv(file_name, bytes)
    }
}

fn csv_date(text: &str) -> Option<String> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(d) = crate::clock::parse_date(t) {
        return Some(format!(
            "{:04}-{:02}-{:02}",
            d.year(),
            u8::from(d.month()),
            d.day()
        ));
    }
    (t.len() == 10 && t.as_bytes()[4] == b'-').then(|| t.to_owned())
}

fn parse_csv(
    file_name: &str,
    bytes: &[u8],
) -> Result<(Vec<NewCredit>, usize, usize), TreasuryError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if std::str::from_utf8(bytes).is_err() {
        return Err(TreasuryError::Csv(
            "il file non è testo UTF-8 (salvalo come CSV UTF-8)".into(),
        ));
    }
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let delimiter = if first.iter().filter(|b| **b == b';').count()
        >= first.iter().filter(|b| **b == b',').count()
    {
        b';'
    } else {
        b','
    };
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(bytes);
    let header: Vec<String> = csv
        .headers()
        .map_err(|e| TreasuryError::Csv(e.to_string()))?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name);
    let (Some(amount_col), Some(remittance_col)) = (col("importo"), col("causale")) else {
        return Err(TreasuryError::Csv(
            "servono almeno le colonne importo e causale (e di solito data_contabile, data_valuta, ordinante, riferimento)".into(),
        ));
    };
    let (booking_col, value_col, debtor_col, reference_col) = (
        col("data_contabile"),
        col("data_valuta"),
        col("ordinante"),
        col("riferimento"),
    );
    let mut credits = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let (mut total, mut skipped) = (0, 0);
    for (i, record) in csv.records().enumerate() {
        let row = i + 2;
        let record = record.map_err(|e| TreasuryError::Csv(format!("riga {row}: {e}")))?;
        let field = |c: Option<usize>| c.and_then(|c| record.get(c)).unwrap_or("").trim();
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        total += 1;
        let raw_amount = field(Some(amount_col));
        if let Some(debit) = raw_amount.strip_prefix('-') {
            Cents::parse(debit)
                .map_err(|e| TreasuryError::Csv(format!("riga {row}, importo: {e}")))?;
            skipped += 1;
            continue;
        }
        let amount = Cents::parse(raw_amount)
            .map_err(|e| TreasuryError::Csv(format!("riga {row}, importo: {e}")))?;
        if !amount.is_positive() {
            skipped += 1;
            continue;
        }
        let booking = csv_date(field(booking_col));
        let remittance = field(Some(remittance_col)).to_owned();
        let reference = Some(field(reference_col).to_owned()).filter(|r| !r.is_empty());
        let base = match &reference {
            Some(r) => format!("csv/{r}"),
            None => format!(
                "csv/{}/{}/{remittance}",
                booking.clone().unwrap_or_default(),
                amount.get()
            ),
        };
        let n = seen.entry(base.clone()).or_insert(0);
        *n += 1;
        credits.push(NewCredit {
            movement_key: if *n == 1 { base } else { format!("{base}#{n}") },
            source: "csv",
            file_name: file_name.to_owned(),
            value_date: csv_date(field(value_col)).or_else(|| booking.clone()),
            booking_date: booking,
            amount: amount.get(),
            currency: "EUR".into(),
            reference,
            debtor_name: Some(field(debtor_col).to_owned()).filter(|d| !d.is_empty()),
            fdr: flow_id_in_remittance(&remittance),
            remittance,
        });
    }
    Ok((credits, total, skipped))
}

/// Imports a statement: the whole file is read first (a malformed one is refused, naming the
/// line), then every new credit is stored and linked to its flow in one transaction, so a
/// statement is imported whole or not at all. Importing the same file again changes nothing:
/// its movements are counted as `already_imported`. The command `sportello treasury import`
/// and the back office's upload both call this.
pub async fn import_statement(
    store: &Store,
    ente: &Ente,
    file_name: &str,
    bytes: &[u8],
) -> Result<TreasuryReport, TreasuryError> {
    let (credits, movements, skipped) = parse_statement(file_name, bytes)?;
    let mut report = TreasuryReport {
        movements,
        skipped,
        ..TreasuryReport::default()
    };
    for link in store.import_credits(ente.id, &credits).await? {
        match link {
            None => report.already_imported += 1,
            Some(CreditLink::Flow(fdr)) => report.flows_credited.push(fdr),
            Some(CreditLink::NoFlow) => report.without_flow += 1,
            Some(CreditLink::AmountMismatch(_)) => report.amount_mismatch += 1,
        }
    }
    report.imported = credits.len() - report.already_imported;
    tracing::info!(file = %file_name, imported = report.imported, credited = report.flows_credited.len(), "treasury statement imported");
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &[u8] = b"data_contabile;importo;causale\n30/11/2026;1,00;x\n";

    #[test]
    fn the_format_is_told_by_content_then_by_name() {
        let xml = b"\xEF\xBB\xBF  <?xml version=\"1.0\"?><Document/>";
        assert_eq!(format_of("estratto.txt", xml).unwrap(), Format::Camt053);
        assert_eq!(format_of("estratto.csv", xml).unwrap(), Format::Camt053);
        assert_eq!(format_of("estratto", CSV).unwrap(), Format::Csv);
        assert_eq!(format_of("ESTRATTO.CSV", b"a;b\n").unwrap(), Format::Csv);
        assert!(matches!(
            format_of("estratto.XML", CSV),
            Err(TreasuryError::NotXml)
        ));
        assert!(matches!(
            format_of("foto.png", b"\x89PNG\r\n\x1a\n"),
            Err(TreasuryError::UnknownFormat)
        ));
        assert!(matches!(
            format_of("", b""),
            Err(TreasuryError::UnknownFormat)
        ));
    }

    #[test]
    fn bad_files_are_refused_naming_the_line() {
        let e = parse_statement("e.xml", b"<Document>\n<BkToCstmrStmt>\n</Document>").unwrap_err();
        assert!(e.to_string().contains("riga 3"), "{e}");
        let e = parse_statement("e.xml", b"<Document>\n\xff</Document>").unwrap_err();
        assert_eq!(
            e.to_string(),
            "estratto conto camt.053 non valido: riga 2: il testo non è UTF-8"
        );
        let e = parse_statement("e.csv", b"importo;causale\n1,00;caf\xe8\n").unwrap_err();
        assert!(e.to_string().contains("UTF-8"), "{e}");
        let (credits, total, skipped) = parse_statement("e.csv", CSV).unwrap();
        assert_eq!((credits.len(), total, skipped), (1, 1, 0));
    }
}
