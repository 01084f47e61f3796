//! Bulk import of debt positions from a CSV file (`sportello import positions FILE.csv`, or the
//! upload endpoint of the API). The layout is documented in `docs/import.md`: one row per payment
//! option, consecutive rows with the same `iupd` form one position with installments.
//!
//! Made for files saved by an Italian Excel: `;` or `,` separators (detected from the header),
//! UTF-8 with or without BOM (Windows-1252 is read too), amounts in euro as people write them
//! (`12,50`), dates `gg/mm/aaaa`. Refused rows are reported with their line number and an
//! Italian reason. The import is all-or-nothing per file unless `partial`; re-importing the same
//! rows changes nothing (each position keeps a fingerprint of the rows it came from).
//!
//! Memory stays flat in the file size: rows are streamed, and positions are written in batches
//! with a few multi-row statements inside the transaction.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};

use pagopa::{Cents, Iban, NoticeNumber, SegregationCode};
use serde::Serialize;
use time::Date;
use utoipa::ToSchema;

use crate::clock::{Timestamp, parse_date};
use crate::db::{Dialect, Tx};
use crate::domain::position::{
    Debtor, Destination, NewPosition, OptionStatus, Origin, PaymentOption, PositionStatus,
    SubjectType, Transfer, is_past_due, publication,
};
use crate::gpd::validate::{self, MAX_AMOUNT};
use crate::store::audit::AuditEvent;
use crate::store::ente::Ente;
use crate::store::positions::PositionExtras;
use crate::store::{Store, StoreError};

/// Positions written per batch.
pub const BATCH_POSITIONS: usize = 500;

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Write the good positions even when other rows are refused.
    pub partial: bool,
    /// Publish the imported positions (VALID) instead of leaving them DRAFT.
    pub publish: bool,
    /// Client address for the audit log (empty for the command line).
    pub actor_ip: String,
}

/// One refused row (or position).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RowError {
    /// Line of the file (the header is line 1).
    pub row: u64,
    /// The row's iupd, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iupd: Option<String>,
    /// The column at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// Why, in Italian.
    pub message: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ImportReport {
    /// Data rows read (header excluded).
    pub rows_read: u64,
    /// Positions written.
    pub positions_created: u64,
    /// Positions already present with the same rows: left as they are.
    pub positions_unchanged: u64,
    /// Positions refused.
    pub positions_refused: u64,
    /// Rows not imported because they, or another row of their position, were refused.
    pub rows_refused: u64,
    /// Whether anything was written (false: the file was refused as a whole, or it only held
    /// unchanged positions).
    pub committed: bool,
    /// Why rows were refused, in file order.
    pub errors: Vec<RowError>,
}

/// An import that could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The header lacks a required column, or the file is not CSV.
    #[error("{0}")]
    Format(String),
    /// The file could not be read.
    #[error("lettura del file non riuscita: {0}")]
    Read(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ImportError> for crate::gpd::service::GpdError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Store(e) => crate::gpd::service::GpdError::Internal(e),
            other => crate::gpd::service::GpdError::bad_request(other.to_string()),
        }
    }
}

/// The columns of the layout (lower case; headers are matched ignoring case and spaces).
const REQUIRED: [&str; 7] = [
    "iupd",
    "codice_fiscale",
    "nominativo",
    "causale",
    "importo",
    "scadenza",
    "tassonomia",
];
const OPTIONAL: [&str; 14] = [
    "tipo",
    "iuv",
    "rata",
    "iban",
    "indirizzo",
    "civico",
    "cap",
    "comune",
    "provincia",
    "nazione",
    "email",
    "telefono",
    "scade",
    "ufficio",
];

/// Column positions found in the header.
struct Columns {
    index: HashMap<&'static str, usize>,
}

impl Columns {
    fn from_header(header: &[String]) -> Result<Columns, ImportError> {
        let mut index = HashMap::new();
        for (i, name) in header.iter().enumerate() {
            let key: String = name
                .trim()
                .to_lowercase()
                .chars()
                .map(|c| if c == ' ' || c == '-' { '_' } else { c })
                .collect();
            if let Some(known) = REQUIRED.iter().chain(OPTIONAL.iter()).find(|k| **k == key) {
                if index.insert(*known, i).is_some() {
                    return Err(ImportError::Format(format!(
                        "la colonna «{known}» compare due volte nell'intestazione"
                    )));
                }
            }
        }
        let missing: Vec<&str> = REQUIRED
            .iter()
            .filter(|k| !index.contains_key(*k))
            .copied()
            .collect();
        if !missing.is_empty() {
            return Err(ImportError::Format(format!(
                "mancano le colonne obbligatorie: {} (la prima riga deve contenere i nomi delle colonne, vedi docs/import.md)",
                missing.join(", ")
            )));
        }
        Ok(Columns { index })
    }

    fn get<'r>(&self, record: &'r [String], name: &str) -> &'r str {
        self.index
            .get(name)
            .and_then(|i| record.get(*i))
            .map(|s| s.trim())
            .unwrap_or("")
    }
}

/// Decodes one field: UTF-8, or Windows-1252 (what Excel writes for "CSV (delimitato dal
/// separatore di elenco)").
fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| cp1252(b)).collect(),
    }
}

fn cp1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9f => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// Picks the separator from the header line: the more frequent of `;` and `,` outside quotes
/// (Italian Excel writes `;`).
fn detect_delimiter(header: &[u8]) -> u8 {
    let (mut semi, mut comma, mut quoted) = (0, 0, false);
    for &b in header {
        match b {
            b'"' => quoted = !quoted,
            b';' if !quoted => semi += 1,
            b',' if !quoted => comma += 1,
            _ => {}
        }
    }
    if comma > semi { b',' } else { b';' }
}

/// The last second of a day in Rome (23:59:59 local time, as GPD writes a due date), the
/// instant a `gg/mm/aaaa` due date means: payable until that second ends.
fn end_of_day_rome(date: Date) -> Timestamp {
    Timestamp::from_rome(date.with_hms(23, 59, 59).expect("valid time"))
}

/// A `gg/mm/aaaa` date (or ISO `aaaa-mm-gg`).
fn day(text: &str) -> Result<Date, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    parse_date(text)
        .or_else(|e| Date::parse(text.trim(), format).map_err(|_| e))
        .map_err(str::to_owned)
}

fn yes_no(text: &str) -> Option<bool> {
    match text.trim().to_lowercase().as_str() {
        "" | "no" | "n" | "0" | "false" => Some(false),
        "si" | "sì" | "s" | "1" | "true" | "yes" => Some(true),
        _ => None,
    }
}

/// One data row, parsed.
struct Row {
    line: u64,
    /// The debtor and position-level fields, to check every row of a position agrees.
    debtor: Debtor,
    switch_to_expired: bool,
    office_name: Option<String>,
    option: PaymentOption,
    given_iuv: bool,
    /// The normalised fields, for the fingerprint.
    canonical: String,
}

/// Parses a row; every problem is reported with its column.
fn parse_row(
    columns: &Columns,
    record: &[String],
    line: u64,
    ente: &Ente,
    seg: SegregationCode,
    now: Timestamp,
    errors: &mut Vec<RowError>,
) -> Option<Row> {
    let before = errors.len();
    let iupd_text = columns.get(record, "iupd").to_owned();
    let iupd = (!iupd_text.is_empty()).then(|| iupd_text.clone());
    let mut fail = |column: &str, message: String| {
        errors.push(RowError {
            row: line,
            iupd: iupd.clone(),
            column: Some(column.to_owned()),
            message,
        });
    };
    if iupd_text.is_empty() {
        fail(
            "iupd",
            "L'identificativo della posizione (iupd) è obbligatorio".into(),
        );
    } else if iupd_text.chars().count() > 140 || iupd_text.contains('/') {
        fail(
            "iupd",
            "L'iupd può avere al massimo 140 caratteri e non può contenere /".into(),
        );
    }
    let fiscal_code = match validate::debtor_fiscal_code(columns.get(record, "codice_fiscale")) {
        Ok(c) => c,
        Err(e) => {
            fail("codice_fiscale", e);
            String::new()
        }
    };
    let kind = match columns.get(record, "tipo").to_uppercase().as_str() {
        "F" => SubjectType::F,
        "G" => SubjectType::G,
        "" if fiscal_code.len() == 11 => SubjectType::G,
        "" => SubjectType::F,
        other => {
            fail(
                "tipo",
                format!("Il tipo di debitore deve essere F o G, non «{other}»"),
            );
            SubjectType::F
        }
    };
    let text = |name: &str, max: usize, fail: &mut dyn FnMut(&str, String)| -> Option<String> {
        let v = columns.get(record, name);
        if v.is_empty() {
            return None;
        }
        if v.chars().count() > max {
            fail(name, format!("Al massimo {max} caratteri"));
        }
        Some(v.to_owned())
    };
    let full_name = text("nominativo", 140, &mut fail);
    if full_name.is_none() {
        fail(
            "nominativo",
            "Il nominativo del debitore è obbligatorio".into(),
        );
    }
    let email = text("email", 256, &mut fail);
    if email
        .as_deref()
        .is_some_and(|e| !crate::config::looks_like_email(e))
    {
        fail("email", "L'indirizzo e-mail non è valido".into());
    }
    let country = text("nazione", 2, &mut fail).map(|c| c.to_uppercase());
    if country
        .as_deref()
        .is_some_and(|c| c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()))
    {
        fail(
            "nazione",
            "La nazione va indicata con due lettere, per esempio IT".into(),
        );
    }
    let debtor = Debtor {
        kind,
        fiscal_code,
        full_name: full_name.unwrap_or_default(),
        street_name: text("indirizzo", 140, &mut fail),
        civic_number: text("civico", 16, &mut fail),
        postal_code: text("cap", 16, &mut fail),
        city: text("comune", 140, &mut fail),
        province: text("provincia", 140, &mut fail).map(|p| p.to_uppercase()),
        region: None,
        country,
        email,
        phone: text("telefono", 32, &mut fail),
    };
    let switch_to_expired = yes_no(columns.get(record, "scade")).unwrap_or_else(|| {
        fail("scade", "Scrivi «si» o «no»".into());
        false
    });
    let office_name = text("ufficio", 140, &mut fail).or_else(|| Some(ente.office_name.clone()));
    let description = text("causale", 140, &mut fail);
    if description.is_none() {
        fail("causale", "La causale è obbligatoria".into());
    }
    let amount = match Cents::parse(columns.get(record, "importo")) {
        Ok(a) if !a.is_positive() => {
            fail("importo", "L'importo deve essere maggiore di zero".into());
            None
        }
        Ok(a) if a > MAX_AMOUNT => {
            fail("importo", "L'importo supera 999.999.999,99 €".into());
            None
        }
        Ok(a) => Some(a),
        Err(e) => {
            fail("importo", e.to_string());
            None
        }
    };
    let due_date = match day(columns.get(record, "scadenza")) {
        Ok(d) => {
            let due = end_of_day_rome(d);
            if is_past_due(due, now) {
                fail("scadenza", "La scadenza è già passata".into());
            }
            Some(due)
        }
        Err(e) => {
            fail("scadenza", e);
            None
        }
    };
    let category = text("tassonomia", 140, &mut fail);
    if category.is_none() {
        fail(
            "tassonomia",
            "La tassonomia (codice della tipologia di entrata, per esempio 9/0101108TS/) è obbligatoria".into(),
        );
    }
    let iban = match columns.get(record, "iban") {
        "" => Some(ente.iban.clone()),
        v => match Iban::parse(v) {
            Ok(i) => Some(i.as_str().to_owned()),
            Err(e) => {
                fail("iban", e.to_string());
                None
            }
        },
    };
    let installment = match columns.get(record, "rata") {
        "" | "0" => Some(false),
        v if v.parse::<u32>().is_ok_and(|n| n >= 1) => Some(true),
        _ => {
            fail(
                "rata",
                "Il numero della rata deve essere un numero da 1 in su (vuoto o 0 per il pagamento in unica soluzione)".into(),
            );
            None
        }
    };
    let iuv_text = columns.get(record, "iuv");
    let nav = if iuv_text.is_empty() {
        None
    } else {
        match validate::iuv_for_station(iuv_text, seg) {
            Ok(nav) => Some(nav),
            Err(e) => {
                fail("iuv", e);
                None
            }
        }
    };
    if errors.len() > before {
        return None;
    }
    let (amount, due_date, iban, description, category, installment) = (
        amount?,
        due_date?,
        iban?,
        description?,
        category?,
        installment?,
    );
    let given_iuv = nav.is_some();
    let nav = nav.unwrap_or_else(|| NoticeNumber::from_aux3(seg, 0).expect("zero fits"));
    let canonical = record
        .iter()
        .map(|f| f.trim())
        .collect::<Vec<_>>()
        .join("\u{1f}");
    Some(Row {
        line,
        debtor,
        switch_to_expired,
        office_name,
        option: PaymentOption {
            iuv: nav.iuv(),
            nav,
            amount,
            description: description.clone(),
            is_partial_payment: installment,
            due_date,
            retention_date: None,
            fee: Cents::ZERO,
            status: OptionStatus::Unpaid,
            metadata: "[]".to_owned(),
            transfers: vec![Transfer {
                id_transfer: 1,
                amount,
                organization_fiscal_code: ente.fiscal_code.clone(),
                remittance_information: description,
                category,
                destination: Destination::Iban {
                    iban,
                    postal_iban: None,
                },
                company_name: None,
            }],
        },
        given_iuv,
        canonical,
    })
}

/// FNV-1a 64 over the rows of a position: enough to recognise the same rows again.
fn fingerprint(rows: &[String]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for row in rows {
        for byte in row.bytes().chain(std::iter::once(0x1e)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("csv1:{hash:016x}")
}

/// The rows of one position being collected.
struct Group {
    iupd: String,
    first_line: u64,
    rows: Vec<Row>,
    canonical: Vec<String>,
    /// Rows of this position that were refused (the position is refused as a whole).
    refused_rows: u64,
}

/// A position ready to be written.
struct Pending {
    first_line: u64,
    rows: u64,
    position: NewPosition,
    extras: PositionExtras,
    /// Options whose IUV Sportello mints.
    missing_iuv: Vec<usize>,
}

struct Importer<'a> {
    store: &'a Store,
    ente: &'a Ente,
    seg: SegregationCode,
    options: &'a ImportOptions,
    now: Timestamp,
    report: ImportReport,
    batch: Vec<Pending>,
    tx: Option<Tx>,
    /// Something was written in the current transaction.
    dirty: bool,
    /// A write failed in all-or-nothing mode: the file is refused, nothing more is written.
    failed: bool,
}

impl Importer<'_> {
    fn refuse(&mut self, line: u64, iupd: &str, column: Option<&str>, message: String, rows: u64) {
        self.report.errors.push(RowError {
            row: line,
            iupd: Some(iupd.to_owned()).filter(|i| !i.is_empty()),
            column: column.map(str::to_owned),
            message,
        });
        self.report.positions_refused += 1;
        self.report.rows_refused += rows;
    }

    /// Turns a complete group into a pending position (or refuses it).
    fn close_group(&mut self, group: Group) {
        let rows = group.rows.len() as u64 + group.refused_rows;
        if group.refused_rows > 0 {
            // The reasons were reported row by row.
            self.report.positions_refused += 1;
            self.report.rows_refused += rows;
            return;
        }
        let first = &group.rows[0];
        for row in &group.rows[1..] {
            if row.debtor != first.debtor
                || row.switch_to_expired != first.switch_to_expired
                || row.office_name != first.office_name
            {
                self.refuse(
                    row.line,
                    &group.iupd,
                    None,
                    format!(
                        "I dati del debitore differiscono da quelli della riga {} della stessa posizione",
                        first.line
                    ),
                    rows,
                );
                return;
            }
        }
        let mut seen = HashSet::new();
        for row in &group.rows {
            if row.given_iuv && !seen.insert(row.option.iuv.clone()) {
                self.refuse(
                    row.line,
                    &group.iupd,
                    Some("iuv"),
                    format!(
                        "Lo IUV {} compare due volte nella stessa posizione",
                        row.option.iuv
                    ),
                    rows,
                );
                return;
            }
        }
        let status = if self.options.publish {
            let earliest = group
                .rows
                .iter()
                .map(|r| r.option.due_date)
                .min()
                .expect("a group has rows");
            match publication(None, earliest, self.now) {
                Ok((status, _)) => status,
                Err(_) => {
                    self.refuse(
                        group.first_line,
                        &group.iupd,
                        Some("scadenza"),
                        "La scadenza è già passata: la posizione non può essere pubblicata".into(),
                        rows,
                    );
                    return;
                }
            }
        } else {
            PositionStatus::Draft
        };
        let missing_iuv = group
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.given_iuv)
            .map(|(i, _)| i)
            .collect();
        let first = &group.rows[0];
        let position = NewPosition {
            iupd: group.iupd.clone(),
            debtor: first.debtor.clone(),
            company_name: self.ente.name.clone(),
            office_name: first.office_name.clone(),
            validity_date: (status == PositionStatus::Valid).then_some(self.now),
            switch_to_expired: first.switch_to_expired,
            status,
            options: group.rows.into_iter().map(|r| r.option).collect(),
            service_id: None,
            origin: Origin::Import,
            created_by_account_id: None,
            abandon_at: None,
        };
        self.batch.push(Pending {
            first_line: group.first_line,
            rows,
            position,
            extras: PositionExtras {
                pay_stand_in: true,
                content_hash: Some(fingerprint(&group.canonical)),
                transfer_metadata: Vec::new(),
            },
            missing_iuv,
        });
    }

    async fn tx(&mut self) -> Result<&mut Tx, StoreError> {
        if self.tx.is_none() {
            self.tx = Some(self.store.db().begin().await?);
        }
        Ok(self.tx.as_mut().expect("just opened"))
    }

    /// Writes the pending batch: drops positions already present (unchanged, or a conflict),
    /// mints missing IUVs, inserts the rest in a few statements.
    async fn flush(&mut self) -> Result<(), StoreError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        if self.failed {
            // The file is refused already and its transaction is gone: only read on.
            return Ok(());
        }
        let ente_id = self.ente.id;
        let iupds: Vec<String> = batch.iter().map(|p| p.position.iupd.clone()).collect();
        let given_iuvs: Vec<String> = batch
            .iter()
            .flat_map(|p| {
                p.position
                    .options
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !p.missing_iuv.contains(i))
                    .map(|(_, o)| o.iuv.as_str().to_owned())
            })
            .collect();
        let tx = self.tx().await?;
        let existing = Store::existing_iupds_in(tx, ente_id, &iupds).await?;
        let used_iuvs = Store::existing_iuvs_in(tx, ente_id, &given_iuvs).await?;
        let mut batch_iupds = HashSet::new();
        let mut batch_iuvs = HashSet::new();
        let mut accepted = Vec::with_capacity(batch.len());
        for p in batch {
            let iupd = p.position.iupd.clone();
            if let Some(hash) = existing.get(&iupd) {
                if hash.is_some() && *hash == p.extras.content_hash {
                    self.report.positions_unchanged += 1;
                } else {
                    self.refuse(
                        p.first_line,
                        &iupd,
                        Some("iupd"),
                        format!(
                            "Esiste già una posizione con iupd {iupd} con dati diversi: non viene modificata (le righe di una posizione devono essere consecutive)"
                        ),
                        p.rows,
                    );
                }
                continue;
            }
            if !batch_iupds.insert(iupd.clone()) {
                self.refuse(
                    p.first_line,
                    &iupd,
                    Some("iupd"),
                    format!("L'iupd {iupd} ricompare in righe non consecutive: le righe di una posizione devono essere consecutive"),
                    p.rows,
                );
                continue;
            }
            let clash = p
                .position
                .options
                .iter()
                .enumerate()
                .filter(|(i, _)| !p.missing_iuv.contains(i))
                .map(|(_, o)| o.iuv.as_str().to_owned())
                .find(|iuv| used_iuvs.contains(iuv) || !batch_iuvs.insert(iuv.clone()));
            if let Some(iuv) = clash {
                self.refuse(
                    p.first_line,
                    &iupd,
                    Some("iuv"),
                    format!("Lo IUV {iuv} è già usato da un'altra posizione"),
                    p.rows,
                );
                continue;
            }
            accepted.push(p);
        }
        let to_mint: u64 = accepted.iter().map(|p| p.missing_iuv.len() as u64).sum();
        if to_mint > 0 {
            // SQLite: one writer at a time, so mint the numbers inside the import's own
            // transaction; PostgreSQL: in a short one of their own.
            let bases = match self.store.dialect() {
                Dialect::Sqlite => {
                    Store::mint_iuv_bases_in(self.tx().await?, ente_id, to_mint).await?
                }
                Dialect::Postgres => self.store.mint_iuv_bases(ente_id, to_mint).await?,
            };
            let mut bases = bases.into_iter();
            for p in &mut accepted {
                for &i in &p.missing_iuv {
                    let base = bases.next().expect("one base per missing IUV");
                    let nav = NoticeNumber::from_aux3(self.seg, base).map_err(|e| {
                        StoreError::Db(sqlx::Error::Protocol(format!("notice number: {e}")))
                    })?;
                    let o = &mut p.position.options[i];
                    o.iuv = nav.iuv();
                    o.nav = nav;
                }
            }
        }
        if accepted.is_empty() {
            return Ok(());
        }
        let mut tx = match self.tx.take() {
            Some(tx) => tx,
            None => self.store.db().begin().await?,
        };
        let result = self.insert_accepted(&mut tx, &accepted).await;
        if self.failed {
            // Dropping the transaction rolls it back.
            drop(tx);
        } else {
            self.tx = Some(tx);
        }
        result
    }

    async fn insert_accepted(
        &mut self,
        tx: &mut Tx,
        accepted: &[Pending],
    ) -> Result<(), StoreError> {
        let ente_id = self.ente.id;
        if !self.options.partial {
            // All or nothing: no savepoint. On PostgreSQL every savepoint that writes is a
            // subtransaction, and past 64 of them in one transaction visibility checks slow
            // down; a 100 000-row file has 167 batches. The checks above catch the expected
            // conflicts; anything else fails the whole file, which is what the mode promises.
            let mut pairs: Vec<(&NewPosition, &PositionExtras)> =
                Vec::with_capacity(accepted.len());
            for p in accepted {
                pairs.push((&p.position, &p.extras));
            }
            match Store::insert_positions_in(tx, ente_id, &pairs).await {
                Ok(_) => {
                    self.report.positions_created += accepted.len() as u64;
                    self.dirty = true;
                }
                Err(e @ (StoreError::Conflict(_) | StoreError::Db(_))) => {
                    self.failed = true;
                    self.report.errors.push(RowError {
                        row: accepted.first().map_or(0, |p| p.first_line),
                        iupd: None,
                        column: None,
                        message: format!(
                            "Le posizioni da questa riga in poi non possono essere salvate ({e}): nulla è stato salvato"
                        ),
                    });
                }
                Err(e) => return Err(e),
            }
            return Ok(());
        }
        Store::savepoint_in(tx, "batch").await?;
        let mut pairs: Vec<(&NewPosition, &PositionExtras)> = Vec::with_capacity(accepted.len());
        for p in accepted {
            pairs.push((&p.position, &p.extras));
        }
        match Store::insert_positions_in(tx, ente_id, &pairs).await {
            Ok(_) => {
                Store::release_savepoint_in(tx, "batch").await?;
                self.report.positions_created += accepted.len() as u64;
                self.dirty = true;
            }
            Err(StoreError::Conflict(_) | StoreError::Db(_)) => {
                // Another writer got in between the checks and the insert (or a constraint
                // the checks do not cover): retry one by one to name the culprits.
                Store::rollback_to_savepoint_in(tx, "batch").await?;
                for p in accepted {
                    Store::savepoint_in(tx, "one").await?;
                    let one = [(&p.position, &p.extras)];
                    let inserted = Store::insert_positions_in(tx, ente_id, &one).await;
                    match inserted {
                        Ok(_) => {
                            Store::release_savepoint_in(tx, "one").await?;
                            self.report.positions_created += 1;
                            self.dirty = true;
                        }
                        Err(e) => {
                            Store::rollback_to_savepoint_in(tx, "one").await?;
                            self.report.errors.push(RowError {
                                row: p.first_line,
                                iupd: Some(p.position.iupd.clone()),
                                column: None,
                                message: format!("La posizione non può essere salvata: {e}"),
                            });
                            self.report.positions_refused += 1;
                            self.report.rows_refused += p.rows;
                        }
                    }
                }
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Partial mode commits each batch, so a long file does not hold the database locked.
    async fn commit_batch(&mut self) -> Result<(), StoreError> {
        if self.options.partial {
            if let Some(tx) = self.tx.take() {
                if self.dirty {
                    self.audit_in_current(tx).await?;
                } else {
                    tx.rollback().await?;
                }
            }
        }
        Ok(())
    }

    async fn audit_in_current(&mut self, mut tx: Tx) -> Result<(), StoreError> {
        Store::audit_in(
            &mut tx,
            &AuditEvent {
                account_id: None,
                actor: if self.options.actor_ip.is_empty() {
                    "import".to_owned()
                } else {
                    "api".to_owned()
                },
                action: "gpd.import".to_owned(),
                outcome: "ok".to_owned(),
                ip: self.options.actor_ip.clone(),
                detail: serde_json::json!({
                    "organization": self.ente.fiscal_code,
                    "created_so_far": self.report.positions_created,
                    "partial": self.options.partial,
                })
                .to_string(),
            },
        )
        .await?;
        tx.commit().await?;
        self.report.committed = true;
        self.dirty = false;
        Ok(())
    }
}

/// Imports the positions of a CSV read from `reader` into `ente`'s debt positions.
pub async fn import_positions<R: Read>(
    store: &Store,
    ente: &Ente,
    reader: R,
    options: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let mut header_line = Vec::new();
    reader
        .read_until(b'\n', &mut header_line)
        .map_err(|e| ImportError::Read(e.to_string()))?;
    let header_bytes = header_line
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(&header_line)
        .to_vec();
    if header_bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ImportError::Format(
            "il file è vuoto: la prima riga deve contenere i nomi delle colonne".into(),
        ));
    }
    let delimiter = detect_delimiter(&header_bytes);
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(true)
        .from_reader(std::io::Cursor::new(header_bytes).chain(reader));
    let header: Vec<String> = csv
        .byte_headers()
        .map_err(|e| ImportError::Read(e.to_string()))?
        .iter()
        .map(decode)
        .collect();
    let columns = Columns::from_header(&header)?;
    let seg = SegregationCode::parse(&ente.segregation_code)
        .expect("the ente's segregation code was validated by the configuration");
    let mut importer = Importer {
        store,
        ente,
        seg,
        options,
        now: Timestamp::now(),
        report: ImportReport::default(),
        batch: Vec::new(),
        tx: None,
        dirty: false,
        failed: false,
    };
    let mut group: Option<Group> = None;
    let mut record = csv::ByteRecord::new();
    loop {
        let more = csv
            .read_byte_record(&mut record)
            .map_err(|e| ImportError::Read(e.to_string()))?;
        if !more {
            break;
        }
        let line = record.position().map_or(0, |p| p.line());
        let fields: Vec<String> = record.iter().map(decode).collect();
        if fields.iter().all(|f| f.trim().is_empty()) {
            continue; // Excel leaves empty rows at the end
        }
        importer.report.rows_read += 1;
        let iupd = columns.get(&fields, "iupd").to_owned();
        if group.as_ref().is_some_and(|g| g.iupd != iupd) {
            importer.close_group(group.take().expect("checked"));
            if importer.batch.len() >= BATCH_POSITIONS {
                importer.flush().await?;
                importer.commit_batch().await?;
            }
        }
        let g = group.get_or_insert_with(|| Group {
            iupd: iupd.clone(),
            first_line: line,
            rows: Vec::new(),
            canonical: Vec::new(),
            refused_rows: 0,
        });
        let mut errors = Vec::new();
        match parse_row(
            &columns,
            &fields,
            line,
            ente,
            seg,
            importer.now,
            &mut errors,
        ) {
            Some(row) => {
                g.canonical.push(row.canonical.clone());
                g.rows.push(row);
            }
            None => g.refused_rows += 1,
        }
        importer.report.errors.extend(errors);
    }
    if let Some(g) = group.take() {
        importer.close_group(g);
    }
    importer.flush().await?;
    let all_good = importer.report.errors.is_empty();
    if let Some(tx) = importer.tx.take() {
        if importer.dirty && (options.partial || all_good) {
            importer.audit_in_current(tx).await?;
        } else {
            tx.rollback().await.map_err(StoreError::from)?;
        }
    }
    if !options.partial && !importer.report.committed {
        // Nothing of a refused file is kept (also when a failed write dropped the transaction).
        importer.report.positions_created = 0;
    }
    Ok(importer.report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_and_encodings() {
        assert_eq!(detect_delimiter(b"iupd;importo;causale"), b';');
        assert_eq!(detect_delimiter(b"iupd,importo,causale"), b',');
        assert_eq!(detect_delimiter(b"\"a,b\";c"), b';');
        assert_eq!(decode("Città".as_bytes()), "Città");
        assert_eq!(decode(b"Citt\xe0 \x80"), "Città €");
    }

    #[test]
    fn due_dates_end_in_rome() {
        let winter = end_of_day_rome(time::macros::date!(2026 - 12 - 31));
        assert_eq!(winter.to_utc_text(), "2026-12-31T22:59:59.000000Z");
        let summer = end_of_day_rome(time::macros::date!(2026 - 07 - 31));
        assert_eq!(summer.to_utc_text(), "2026-07-31T21:59:59.000000Z");
        assert_eq!(
            day("2026-07-31").unwrap(),
            time::macros::date!(2026 - 07 - 31)
        );
        assert!(day("31-07-2026").is_err());
    }

    #[test]
    fn fingerprints_differ_with_content() {
        let a = fingerprint(&["x\u{1f}1".into()]);
        assert_eq!(a, fingerprint(&["x\u{1f}1".into()]));
        assert_ne!(a, fingerprint(&["x\u{1f}2".into()]));
        assert_ne!(
            fingerprint(&["ab".into(), "c".into()]),
            fingerprint(&["a".into(), "bc".into()])
        );
    }
}
