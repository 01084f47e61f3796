//! The complex and simple types shared by the paForNode messages, with their XSD facets.

use std::fmt;

use super::DecodeError;
use super::xml::{Children, Element, Writer};
use crate::{Cents, EcFiscalCode};

// ---------------------------------------------------------------------------------------------
// Leaf values
// ---------------------------------------------------------------------------------------------

/// The text of a leaf element (one with no child elements).
pub(crate) fn leaf<'a>(el: &'a Element, path: &str) -> Result<&'a str, DecodeError> {
    // A simple type has no child elements at all: any child is one the schema does not define.
    if let Some(child) = el.children.first() {
        return Err(DecodeError::Extra {
            path: format!("{path}/{}", child.display_name()),
        });
    }
    Ok(&el.text)
}

/// A restricted `xsd:string` of `min..=max` characters (whitespace preserved, as xsd:string
/// does).
pub(crate) fn text(
    el: &Element,
    path: &str,
    min: usize,
    max: usize,
) -> Result<String, DecodeError> {
    let value = leaf(el, path)?;
    let n = value.chars().count();
    if n < min || n > max {
        return Err(DecodeError::schema(
            path,
            format!("la lunghezza deve essere tra {min} e {max} caratteri, è {n}"),
        ));
    }
    Ok(value.to_owned())
}

/// A plain `xsd:string` (any length, even empty).
pub(crate) fn any_text(el: &Element, path: &str) -> Result<String, DecodeError> {
    Ok(leaf(el, path)?.to_owned())
}

/// A value of a type whose whitespace facet is `collapse` (decimals, booleans, dates): the
/// schema ignores surrounding whitespace.
fn collapsed<'a>(el: &'a Element, path: &str) -> Result<&'a str, DecodeError> {
    Ok(leaf(el, path)?.trim_matches([' ', '\t', '\r', '\n']))
}

/// Largest `stAmount`: 999999999.99.
const MAX_AMOUNT: i64 = 99_999_999_999;

/// `stAmount` (`\d+\.\d{2}`, up to 999999999.99) or, with `not_zero`, `stAmountNotZero`.
pub(crate) fn amount(el: &Element, path: &str, not_zero: bool) -> Result<Cents, DecodeError> {
    let value = collapsed(el, path)?;
    let bad = || {
        DecodeError::schema(
            path,
            format!("importo non valido {value:?}: servono cifre, un punto e due decimali"),
        )
    };
    if value.starts_with('-') {
        return Err(bad());
    }
    let cents = Cents::parse_xml(value).map_err(|_| bad())?;
    if cents.get() > MAX_AMOUNT {
        return Err(DecodeError::schema(path, "importo oltre 999999999.99"));
    }
    if not_zero && cents.get() == 0 {
        return Err(DecodeError::schema(
            path,
            "l'importo deve essere almeno 0.01",
        ));
    }
    Ok(cents)
}

/// `xsd:boolean`: `true`, `false`, `1`, `0`.
pub(crate) fn boolean(el: &Element, path: &str) -> Result<bool, DecodeError> {
    match collapsed(el, path)? {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(DecodeError::schema(
            path,
            format!("valore booleano non valido {other:?}"),
        )),
    }
}

fn bool_text(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// `stFiscalCodePA`: eleven digits.
pub(crate) fn fiscal_code_pa(el: &Element, path: &str) -> Result<EcFiscalCode, DecodeError> {
    let value = leaf(el, path)?;
    EcFiscalCode::parse(value).map_err(|_| {
        DecodeError::schema(
            path,
            format!("codice fiscale ente non valido {value:?}: servono 11 cifre"),
        )
    })
}

/// `stNoticeNumber`: eighteen digits (the check digit is the station's business, not the
/// schema's).
pub(crate) fn notice_number(el: &Element, path: &str) -> Result<String, DecodeError> {
    let value = leaf(el, path)?;
    if value.len() != 18 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecodeError::schema(
            path,
            format!("numero avviso non valido {value:?}: servono 18 cifre"),
        ));
    }
    Ok(value.to_owned())
}

/// `stNazioneProvincia`: two capital letters.
fn two_letters(el: &Element, path: &str) -> Result<String, DecodeError> {
    let value = leaf(el, path)?;
    if !is_two_letters(value) {
        return Err(DecodeError::schema(
            path,
            format!("valore non valido {value:?}: servono due lettere maiuscole"),
        ));
    }
    Ok(value.to_owned())
}

fn is_two_letters(value: &str) -> bool {
    value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase())
}

/// Whether `value` matches `stEMail`:
/// `[a-zA-Z0-9_\.\+\-]+@[a-zA-Z0-9\-]+(\.[a-zA-Z0-9\-]+)*`, at most 256 characters.
pub fn is_schema_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-'));
    let domain_ok = domain.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    value.len() <= 256 && local_ok && domain_ok
}

/// Whether `value` is in the lexical space of `xsd:base64Binary`: groups of four characters of
/// the base64 alphabet, single spaces allowed between characters, and padding only where the
/// canonical encoding puts it (the character before `=` has its unused bits at zero).
pub(crate) fn is_base64(value: &str) -> bool {
    if value.contains("  ") || value.starts_with(' ') || value.ends_with(' ') {
        return false;
    }
    let compact: Vec<u8> = value.bytes().filter(|b| *b != b' ').collect();
    let padding = compact.iter().rev().take_while(|b| **b == b'=').count();
    let body = &compact[..compact.len() - padding];
    let alphabet = |b: &u8| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/';
    if compact.len() % 4 != 0 || padding > 2 || !body.iter().all(alphabet) {
        return false;
    }
    match (padding, body.last()) {
        (0, _) => true,
        (1, Some(last)) => b"AEIMQUYcgkosw048".contains(last),
        (2, Some(last)) => b"AQgw".contains(last),
        _ => false,
    }
}

/// `xsd:base64Binary`, optionally also `stBase64Binary72` (4 to 72 characters).
pub(crate) fn base64(el: &Element, path: &str, short: bool) -> Result<String, DecodeError> {
    let value = collapsed(el, path)?;
    if !is_base64(value) {
        return Err(DecodeError::schema(path, "valore base64 non valido"));
    }
    if short && !(4..=72).contains(&value.chars().count()) {
        return Err(DecodeError::schema(
            path,
            "valore base64 fuori dai 4-72 caratteri",
        ));
    }
    Ok(value.to_owned())
}

fn digits<const N: usize>(s: &str) -> Option<u32> {
    (s.len() == N && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Parses `YYYY-MM-DD`, returning the rest (the time or the zone).
fn split_date(s: &str) -> Option<((u32, u32, u32), &str)> {
    let (y, rest) = (s.get(0..4)?, s.get(4..)?);
    let rest = rest.strip_prefix('-')?;
    let (m, rest) = (rest.get(0..2)?, rest.get(2..)?);
    let rest = rest.strip_prefix('-')?;
    let (d, rest) = (rest.get(0..2)?, rest.get(2..)?);
    let (y, m, d) = (digits::<4>(y)?, digits::<2>(m)?, digits::<2>(d)?);
    ((1..=12).contains(&m) && (1..=days_in_month(y, m)).contains(&d) && y > 0)
        .then_some(((y, m, d), rest))
}

/// Parses an optional zone: empty, `Z` or `±hh:mm` (up to 14:00). Returns minutes east of UTC.
fn zone(s: &str) -> Option<Option<i32>> {
    match s {
        "" => Some(None),
        "Z" => Some(Some(0)),
        _ => {
            let sign = match s.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let rest = s.get(1..)?;
            let (h, m) = rest.split_once(':')?;
            let (h, m) = (digits::<2>(h)?, digits::<2>(m)?);
            (m < 60 && (h < 14 || (h == 14 && m == 0))).then_some(Some(sign * (h * 60 + m) as i32))
        }
    }
}

/// An `xsd:date` (`stISODate`) as written: `2024-01-31`, optionally with a zone.
///
/// Kept as its text so that a message re-encodes exactly; the parts are at hand.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct XsdDate(String);

impl XsdDate {
    /// Parses the lexical form (four-digit years only).
    pub fn parse(s: &str) -> Option<XsdDate> {
        let (_, rest) = split_date(s)?;
        zone(rest)?;
        Some(XsdDate(s.to_owned()))
    }

    /// A zone-less date.
    pub fn from_ymd(year: u32, month: u32, day: u32) -> Option<XsdDate> {
        XsdDate::parse(&format!("{year:04}-{month:02}-{day:02}"))
    }

    /// Year, month (1–12), day.
    pub fn ymd(&self) -> (u32, u32, u32) {
        split_date(&self.0).expect("validated on construction").0
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn decode(el: &Element, path: &str) -> Result<XsdDate, DecodeError> {
        let value = collapsed(el, path)?;
        XsdDate::parse(value).ok_or_else(|| {
            DecodeError::schema(path, format!("data non valida {value:?}: serve AAAA-MM-GG"))
        })
    }
}

impl fmt::Display for XsdDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An `xsd:dateTime` (`stISODateTime`) as written: `2024-01-31T10:15:00`, optional fraction
/// and zone. pagoPA sends Italian local time without a zone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct XsdDateTime(String);

/// The parts of an [`XsdDateTime`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTimeParts {
    /// Year.
    pub year: u32,
    /// Month, 1–12.
    pub month: u32,
    /// Day of the month.
    pub day: u32,
    /// Hour, 0–23.
    pub hour: u32,
    /// Minute.
    pub minute: u32,
    /// Second.
    pub second: u32,
    /// Microseconds (finer digits are dropped).
    pub micros: u32,
    /// Minutes east of UTC, when the text has a zone.
    pub offset_minutes: Option<i32>,
}

impl XsdDateTime {
    fn split(s: &str) -> Option<DateTimeParts> {
        let ((year, month, day), rest) = split_date(s)?;
        let rest = rest.strip_prefix('T')?;
        let (h, rest) = (rest.get(0..2)?, rest.get(2..)?);
        let rest = rest.strip_prefix(':')?;
        let (mi, rest) = (rest.get(0..2)?, rest.get(2..)?);
        let rest = rest.strip_prefix(':')?;
        let (sec, mut rest) = (rest.get(0..2)?, rest.get(2..)?);
        let (hour, minute, second) = (digits::<2>(h)?, digits::<2>(mi)?, digits::<2>(sec)?);
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let mut micros = 0;
        if let Some(frac) = rest.strip_prefix('.') {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return None;
            }
            let kept: String = frac[..n]
                .chars()
                .chain(std::iter::repeat('0'))
                .take(6)
                .collect();
            micros = kept.parse().ok()?;
            rest = &frac[n..];
        }
        Some(DateTimeParts {
            year,
            month,
            day,
            hour,
            minute,
            second,
            micros,
            offset_minutes: zone(rest)?,
        })
    }

    /// Parses the lexical form (four-digit years, hours 00–23).
    pub fn parse(s: &str) -> Option<XsdDateTime> {
        XsdDateTime::split(s).map(|_| XsdDateTime(s.to_owned()))
    }

    /// The parts.
    pub fn parts(&self) -> DateTimeParts {
        XsdDateTime::split(&self.0).expect("validated on construction")
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn decode(el: &Element, path: &str) -> Result<XsdDateTime, DecodeError> {
        let value = collapsed(el, path)?;
        XsdDateTime::parse(value).ok_or_else(|| {
            DecodeError::schema(
                path,
                format!("data e ora non valide {value:?}: serve AAAA-MM-GGThh:mm:ss"),
            )
        })
    }
}

impl fmt::Display for XsdDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ---------------------------------------------------------------------------------------------
// Enumerations
// ---------------------------------------------------------------------------------------------

/// Which version of a message: V2 adds stamps, payment notes and bundles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// `paGetPayment`, `paSendRT`.
    V1,
    /// `paGetPaymentV2`, `paSendRTV2`.
    V2,
}

/// `stOutcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Done.
    Ok,
    /// Refused; a fault says why.
    Ko,
}

impl Outcome {
    /// `OK` or `KO`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "OK",
            Outcome::Ko => "KO",
        }
    }

    fn decode(el: &Element, path: &str) -> Result<Outcome, DecodeError> {
        match leaf(el, path)? {
            "OK" => Ok(Outcome::Ok),
            "KO" => Ok(Outcome::Ko),
            other => Err(DecodeError::schema(
                path,
                format!("esito non valido {other:?}: OK o KO"),
            )),
        }
    }
}

/// `stAmountOption`: how the amount paid may relate to the one verified. An EC answers `EQ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AmountOption {
    /// Equal.
    Eq,
    /// Less.
    Ls,
    /// Greater.
    Gt,
    /// Any.
    Any,
}

impl AmountOption {
    fn as_str(self) -> &'static str {
        match self {
            AmountOption::Eq => "EQ",
            AmountOption::Ls => "LS",
            AmountOption::Gt => "GT",
            AmountOption::Any => "ANY",
        }
    }

    fn decode(el: &Element, path: &str) -> Result<AmountOption, DecodeError> {
        match leaf(el, path)? {
            "EQ" => Ok(AmountOption::Eq),
            "LS" => Ok(AmountOption::Ls),
            "GT" => Ok(AmountOption::Gt),
            "ANY" => Ok(AmountOption::Any),
            other => Err(DecodeError::schema(
                path,
                format!("valore non valido {other:?}"),
            )),
        }
    }
}

/// `stTransferType`: whether the PSP can credit postal accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferType {
    /// Poste: postal IBANs preferred.
    Postal,
    /// Any pagoPA PSP.
    Pagopa,
}

impl TransferType {
    /// `POSTAL` or `PAGOPA`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferType::Postal => "POSTAL",
            TransferType::Pagopa => "PAGOPA",
        }
    }

    pub(crate) fn decode(el: &Element, path: &str) -> Result<TransferType, DecodeError> {
        match leaf(el, path)? {
            "POSTAL" => Ok(TransferType::Postal),
            "PAGOPA" => Ok(TransferType::Pagopa),
            other => Err(DecodeError::schema(
                path,
                format!("valore non valido {other:?}"),
            )),
        }
    }
}

/// `stEntityUniqueIdentifierType`: natural (F) or legal (G) person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityType {
    /// Persona fisica.
    F,
    /// Persona giuridica.
    G,
}

impl EntityType {
    /// `F` or `G`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::F => "F",
            EntityType::G => "G",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------

/// The fault codes an EC answers with (`faultCode` is a free string in the schema, so any other
/// code a peer sends is kept as [`FaultCode::Other`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FaultCode {
    /// The message breaks the schema.
    PaaSintassiXsd,
    /// The message carries elements the schema does not define.
    PaaSintassiExtraxsd,
    /// A semantic error (e.g. an amount that does not match).
    PaaSemantica,
    /// `idPA` is not this ente.
    PaaIdDominioErrato,
    /// `idBrokerPA` is not this ente's broker.
    PaaIdIntermediarioErrato,
    /// `idStation` is not this station.
    PaaStazioneIntErrata,
    /// No such notice.
    PaaPagamentoSconosciuto,
    /// The notice has expired.
    PaaPagamentoScaduto,
    /// The notice was cancelled.
    PaaPagamentoAnnullato,
    /// The notice is already paid.
    PaaPagamentoDuplicato,
    /// A payment of the notice is in progress.
    PaaPagamentoInCorso,
    /// The receipt was already received.
    PaaReceiptDuplicata,
    /// Anything else that went wrong at the EC.
    PaaSystemError,
    /// A code this module does not know.
    Other(String),
}

impl FaultCode {
    const KNOWN: [FaultCode; 13] = [
        FaultCode::PaaSintassiXsd,
        FaultCode::PaaSintassiExtraxsd,
        FaultCode::PaaSemantica,
        FaultCode::PaaIdDominioErrato,
        FaultCode::PaaIdIntermediarioErrato,
        FaultCode::PaaStazioneIntErrata,
        FaultCode::PaaPagamentoSconosciuto,
        FaultCode::PaaPagamentoScaduto,
        FaultCode::PaaPagamentoAnnullato,
        FaultCode::PaaPagamentoDuplicato,
        FaultCode::PaaPagamentoInCorso,
        FaultCode::PaaReceiptDuplicata,
        FaultCode::PaaSystemError,
    ];

    /// The code as written in `faultCode`.
    pub fn as_str(&self) -> &str {
        match self {
            FaultCode::PaaSintassiXsd => "PAA_SINTASSI_XSD",
            FaultCode::PaaSintassiExtraxsd => "PAA_SINTASSI_EXTRAXSD",
            FaultCode::PaaSemantica => "PAA_SEMANTICA",
            FaultCode::PaaIdDominioErrato => "PAA_ID_DOMINIO_ERRATO",
            FaultCode::PaaIdIntermediarioErrato => "PAA_ID_INTERMEDIARIO_ERRATO",
            FaultCode::PaaStazioneIntErrata => "PAA_STAZIONE_INT_ERRATA",
            FaultCode::PaaPagamentoSconosciuto => "PAA_PAGAMENTO_SCONOSCIUTO",
            FaultCode::PaaPagamentoScaduto => "PAA_PAGAMENTO_SCADUTO",
            FaultCode::PaaPagamentoAnnullato => "PAA_PAGAMENTO_ANNULLATO",
            FaultCode::PaaPagamentoDuplicato => "PAA_PAGAMENTO_DUPLICATO",
            FaultCode::PaaPagamentoInCorso => "PAA_PAGAMENTO_IN_CORSO",
            FaultCode::PaaReceiptDuplicata => "PAA_RECEIPT_DUPLICATA",
            FaultCode::PaaSystemError => "PAA_SYSTEM_ERROR",
            FaultCode::Other(code) => code,
        }
    }

    /// Reads a code.
    pub fn parse(code: &str) -> FaultCode {
        FaultCode::KNOWN
            .into_iter()
            .find(|c| c.as_str() == code)
            .unwrap_or_else(|| FaultCode::Other(code.to_owned()))
    }

    /// pagoPA's standard `faultString` for the code.
    pub fn default_string(&self) -> &'static str {
        match self {
            FaultCode::PaaSintassiXsd => "Errore di sintassi XSD.",
            FaultCode::PaaSintassiExtraxsd => "Errore di sintassi extra XSD.",
            FaultCode::PaaSemantica => "Errore semantico.",
            FaultCode::PaaIdDominioErrato => "La PAA non corrisponde al Dominio indicato.",
            FaultCode::PaaIdIntermediarioErrato => {
                "Identificativo intermediario non corrispondente."
            }
            FaultCode::PaaStazioneIntErrata => "Stazione intermediario non corrispondente.",
            FaultCode::PaaPagamentoSconosciuto => {
                "Pagamento in attesa risulta sconosciuto all'Ente Creditore."
            }
            FaultCode::PaaPagamentoScaduto => {
                "Pagamento in attesa risulta scaduto all'Ente Creditore."
            }
            FaultCode::PaaPagamentoAnnullato => {
                "Pagamento in attesa risulta annullato all'Ente Creditore."
            }
            FaultCode::PaaPagamentoDuplicato => {
                "Pagamento in attesa risulta concluso all'Ente Creditore."
            }
            FaultCode::PaaPagamentoInCorso => {
                "Pagamento in attesa risulta in corso all'Ente Creditore."
            }
            FaultCode::PaaReceiptDuplicata => "La ricevuta è già stata accettata.",
            FaultCode::PaaSystemError | FaultCode::Other(_) => "Errore generico.",
        }
    }
}

impl fmt::Display for FaultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `ctFaultBean`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// `faultCode`.
    pub fault_code: FaultCode,
    /// `faultString`.
    pub fault_string: String,
    /// `id`: who raised it (the EC's fiscal code).
    pub id: String,
    /// `description`: the details.
    pub description: Option<String>,
    /// `serial`.
    pub serial: Option<i32>,
    /// `originalFaultCode`.
    pub original_fault_code: Option<String>,
    /// `originalFaultString`.
    pub original_fault_string: Option<String>,
    /// `originalDescription`.
    pub original_description: Option<String>,
}

impl Fault {
    /// A fault with the standard string for `code`, raised by `id`, with a description.
    pub fn new(code: FaultCode, id: &str, description: impl Into<String>) -> Fault {
        Fault {
            fault_string: code.default_string().to_owned(),
            fault_code: code,
            id: id.to_owned(),
            description: Some(description.into()),
            serial: None,
            original_fault_code: None,
            original_fault_string: None,
            original_description: None,
        }
    }

    const NAMES: &'static [&'static str] = &[
        "faultCode",
        "faultString",
        "id",
        "description",
        "serial",
        "originalFaultCode",
        "originalFaultString",
        "originalDescription",
    ];

    pub(crate) fn decode(el: &Element, path: &str) -> Result<Fault, DecodeError> {
        let mut c = Children::new(el, path, Fault::NAMES)?;
        let fault_code = FaultCode::parse(&any_text(c.required("faultCode")?, path)?);
        let fault_string = any_text(c.required("faultString")?, path)?;
        let id = any_text(c.required("id")?, path)?;
        let description = c
            .optional("description")?
            .map(|e| any_text(e, path))
            .transpose()?;
        let serial = c
            .optional("serial")?
            .map(|e| {
                let p = format!("{path}/serial");
                collapsed(e, &p)?
                    .parse::<i32>()
                    .map_err(|_| DecodeError::schema(&p, "intero non valido"))
            })
            .transpose()?;
        let original_fault_code = c
            .optional("originalFaultCode")?
            .map(|e| any_text(e, path))
            .transpose()?;
        let original_fault_string = c
            .optional("originalFaultString")?
            .map(|e| any_text(e, path))
            .transpose()?;
        let original_description = c
            .optional("originalDescription")?
            .map(|e| any_text(e, path))
            .transpose()?;
        c.finish()?;
        Ok(Fault {
            fault_code,
            fault_string,
            id,
            description,
            serial,
            original_fault_code,
            original_fault_string,
            original_description,
        })
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.open("fault");
        w.leaf("faultCode", self.fault_code.as_str());
        w.leaf("faultString", &self.fault_string);
        w.leaf("id", &self.id);
        w.opt_leaf("description", self.description.as_deref());
        w.opt_leaf("serial", self.serial.map(|s| s.to_string()).as_deref());
        w.opt_leaf("originalFaultCode", self.original_fault_code.as_deref());
        w.opt_leaf("originalFaultString", self.original_fault_string.as_deref());
        w.opt_leaf("originalDescription", self.original_description.as_deref());
        w.close("fault");
    }
}

/// Reads `outcome` and the optional `fault` of a `ctResponse`.
pub(crate) fn decode_response_head(
    c: &mut Children<'_>,
    path: &str,
) -> Result<(Outcome, Option<Fault>), DecodeError> {
    let outcome = Outcome::decode(c.required("outcome")?, &format!("{path}/outcome"))?;
    let fault = c
        .optional("fault")?
        .map(|e| Fault::decode(e, &format!("{path}/fault")))
        .transpose()?;
    Ok((outcome, fault))
}

pub(crate) fn encode_response_head(w: &mut Writer, outcome: Outcome, fault: Option<&Fault>) {
    w.leaf("outcome", outcome.as_str());
    if let Some(fault) = fault {
        fault.encode(w);
    }
}

// ---------------------------------------------------------------------------------------------
// Complex types
// ---------------------------------------------------------------------------------------------

/// The three identifiers every request starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationIds {
    /// `idPA`: the EC's fiscal code.
    pub id_pa: String,
    /// `idBrokerPA`: the broker (intermediario).
    pub id_broker_pa: String,
    /// `idStation`: the station.
    pub id_station: String,
}

impl StationIds {
    pub(crate) fn decode(c: &mut Children<'_>) -> Result<StationIds, DecodeError> {
        let mut one = |name: &str| -> Result<String, DecodeError> {
            let el = c.required(name)?;
            text(el, &c.path_of(name), 1, 35)
        };
        Ok(StationIds {
            id_pa: one("idPA")?,
            id_broker_pa: one("idBrokerPA")?,
            id_station: one("idStation")?,
        })
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.leaf("idPA", &self.id_pa);
        w.leaf("idBrokerPA", &self.id_broker_pa);
        w.leaf("idStation", &self.id_station);
    }
}

/// `ctQrCode`: what the paper notice's QR code says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrCode {
    /// The EC's fiscal code.
    pub fiscal_code: EcFiscalCode,
    /// The notice number (18 digits; not checked for its check digit here).
    pub notice_number: String,
}

impl QrCode {
    pub(crate) fn decode(el: &Element, path: &str) -> Result<QrCode, DecodeError> {
        let mut c = Children::new(el, path, &["fiscalCode", "noticeNumber"])?;
        let fiscal_code = fiscal_code_pa(c.required("fiscalCode")?, &c.path_of("fiscalCode"))?;
        let notice_number = notice_number(c.required("noticeNumber")?, &c.path_of("noticeNumber"))?;
        c.finish()?;
        Ok(QrCode {
            fiscal_code,
            notice_number,
        })
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.open("qrCode");
        w.leaf("fiscalCode", self.fiscal_code.as_str());
        w.leaf("noticeNumber", &self.notice_number);
        w.close("qrCode");
    }
}

/// `ctMapEntry`: one key/value of `ctMetadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapEntry {
    /// Key, 1–140 characters.
    pub key: String,
    /// Value, 1–140 characters.
    pub value: String,
}

/// Reads an optional `metadata` (1–15 entries); absent is an empty list.
pub(crate) fn decode_metadata(c: &mut Children<'_>) -> Result<Vec<MapEntry>, DecodeError> {
    let Some(el) = c.optional("metadata")? else {
        return Ok(Vec::new());
    };
    let path = c.path_of("metadata");
    let mut m = Children::new(el, &path, &["mapEntry"])?;
    let entries = m.repeated("mapEntry", 1, 15)?;
    m.finish()?;
    entries
        .into_iter()
        .map(|e| {
            let p = format!("{path}/mapEntry");
            let mut kv = Children::new(e, &p, &["key", "value"])?;
            let key = text(kv.required("key")?, &kv.path_of("key"), 1, 140)?;
            let value = text(kv.required("value")?, &kv.path_of("value"), 1, 140)?;
            kv.finish()?;
            Ok(MapEntry { key, value })
        })
        .collect()
}

pub(crate) fn encode_metadata(w: &mut Writer, entries: &[MapEntry]) {
    if entries.is_empty() {
        return;
    }
    w.open("metadata");
    for e in entries {
        w.open("mapEntry");
        w.leaf("key", &e.key);
        w.leaf("value", &e.value);
        w.close("mapEntry");
    }
    w.close("metadata");
}

/// `ctSubject`: a debtor or a payer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// F or G.
    pub entity_type: EntityType,
    /// Fiscal code or VAT number (2–16 characters; `ANONIMO` for an anonymous payer).
    pub entity_value: String,
    /// Name, 1–70.
    pub full_name: String,
    /// Street, 1–70.
    pub street_name: Option<String>,
    /// Civic number, 1–16.
    pub civic_number: Option<String>,
    /// Postal code, 1–16.
    pub postal_code: Option<String>,
    /// City, 1–35.
    pub city: Option<String>,
    /// Province or region, 1–35.
    pub state_province_region: Option<String>,
    /// Country, two capital letters.
    pub country: Option<String>,
    /// `e-mail`, matching the schema's pattern.
    pub email: Option<String>,
}

impl Subject {
    const NAMES: &'static [&'static str] = &[
        "uniqueIdentifier",
        "fullName",
        "streetName",
        "civicNumber",
        "postalCode",
        "city",
        "stateProvinceRegion",
        "country",
        "e-mail",
    ];

    pub(crate) fn decode(el: &Element, path: &str) -> Result<Subject, DecodeError> {
        let mut c = Children::new(el, path, Subject::NAMES)?;
        let uid_path = c.path_of("uniqueIdentifier");
        let mut uid = Children::new(
            c.required("uniqueIdentifier")?,
            &uid_path,
            &["entityUniqueIdentifierType", "entityUniqueIdentifierValue"],
        )?;
        let type_path = uid.path_of("entityUniqueIdentifierType");
        let entity_type = match leaf(uid.required("entityUniqueIdentifierType")?, &type_path)? {
            "F" => EntityType::F,
            "G" => EntityType::G,
            other => {
                return Err(DecodeError::schema(
                    &type_path,
                    format!("tipo soggetto non valido {other:?}: F o G"),
                ));
            }
        };
        let entity_value = text(
            uid.required("entityUniqueIdentifierValue")?,
            &uid.path_of("entityUniqueIdentifierValue"),
            2,
            16,
        )?;
        uid.finish()?;
        let opt = |c: &mut Children<'_>, name: &str, max: usize| {
            c.optional(name)?
                .map(|e| text(e, &c.path_of(name), 1, max))
                .transpose()
        };
        let full_name = text(c.required("fullName")?, &c.path_of("fullName"), 1, 70)?;
        let street_name = opt(&mut c, "streetName", 70)?;
        let civic_number = opt(&mut c, "civicNumber", 16)?;
        let postal_code = opt(&mut c, "postalCode", 16)?;
        let city = opt(&mut c, "city", 35)?;
        let state_province_region = opt(&mut c, "stateProvinceRegion", 35)?;
        let country = c
            .optional("country")?
            .map(|e| two_letters(e, &c.path_of("country")))
            .transpose()?;
        let email = c
            .optional("e-mail")?
            .map(|e| {
                let p = c.path_of("e-mail");
                let v = leaf(e, &p)?;
                if is_schema_email(v) {
                    Ok(v.to_owned())
                } else {
                    Err(DecodeError::schema(
                        &p,
                        format!("indirizzo e-mail non valido {v:?}"),
                    ))
                }
            })
            .transpose()?;
        c.finish()?;
        Ok(Subject {
            entity_type,
            entity_value,
            full_name,
            street_name,
            civic_number,
            postal_code,
            city,
            state_province_region,
            country,
            email,
        })
    }

    pub(crate) fn encode(&self, w: &mut Writer, name: &str) {
        w.open(name);
        w.open("uniqueIdentifier");
        w.leaf("entityUniqueIdentifierType", self.entity_type.as_str());
        w.leaf("entityUniqueIdentifierValue", &self.entity_value);
        w.close("uniqueIdentifier");
        w.leaf("fullName", &self.full_name);
        w.opt_leaf("streetName", self.street_name.as_deref());
        w.opt_leaf("civicNumber", self.civic_number.as_deref());
        w.opt_leaf("postalCode", self.postal_code.as_deref());
        w.opt_leaf("city", self.city.as_deref());
        w.opt_leaf("stateProvinceRegion", self.state_province_region.as_deref());
        w.opt_leaf("country", self.country.as_deref());
        w.opt_leaf("e-mail", self.email.as_deref());
        w.close(name);
    }
}

/// `ctRichiestaMarcaDaBollo`: a digital revenue stamp to buy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarcaDaBollo {
    /// `hashDocumento`: base64, 4–72 characters.
    pub hash_documento: String,
    /// `tipoBollo`: `01`.
    pub tipo_bollo: String,
    /// `provinciaResidenza`: two capital letters.
    pub provincia_residenza: String,
}

/// Where a transfer's money goes: an IBAN, or (V2) a stamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferDestination {
    /// `IBAN` (1–35 characters).
    Iban(String),
    /// `richiestaMarcaDaBollo`: only in a `paGetPaymentV2Response`.
    MarcaDaBollo(MarcaDaBollo),
    /// `MBDAttachment` (base64 of the stamp): only in a `paSendRTV2` receipt.
    MbdAttachment(String),
}

/// Where a transfer list appears: each place allows different destinations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransferContext {
    /// `ctTransferPA`: IBAN only, no company name.
    V1,
    /// `ctTransferPAV2`: IBAN or stamp request.
    PaymentV2,
    /// `ctTransferPAReceiptV2`: IBAN or stamp attachment.
    ReceiptV2,
}

/// One transfer (`ctTransferPA`, `ctTransferPAV2`, `ctTransferPAReceiptV2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// 1 to 5.
    pub id_transfer: u8,
    /// Amount, at least 0.01.
    pub transfer_amount: Cents,
    /// The EC receiving it.
    pub fiscal_code_pa: EcFiscalCode,
    /// Its name (V2 only), 1–140.
    pub company_name: Option<String>,
    /// IBAN or stamp.
    pub destination: TransferDestination,
    /// Causale, 1–140.
    pub remittance_information: String,
    /// Taxonomy code, 1–140.
    pub transfer_category: String,
    /// Metadata, 0–15 entries.
    pub metadata: Vec<MapEntry>,
}

impl Transfer {
    const NAMES_V1: &'static [&'static str] = &[
        "idTransfer",
        "transferAmount",
        "fiscalCodePA",
        "IBAN",
        "remittanceInformation",
        "transferCategory",
        "metadata",
    ];
    const NAMES_PAYMENT_V2: &'static [&'static str] = &[
        "idTransfer",
        "transferAmount",
        "fiscalCodePA",
        "companyName",
        "IBAN",
        "richiestaMarcaDaBollo",
        "remittanceInformation",
        "transferCategory",
        "metadata",
    ];
    const NAMES_RECEIPT_V2: &'static [&'static str] = &[
        "idTransfer",
        "transferAmount",
        "fiscalCodePA",
        "companyName",
        "IBAN",
        "MBDAttachment",
        "remittanceInformation",
        "transferCategory",
        "metadata",
    ];

    fn decode(el: &Element, path: &str, ctx: TransferContext) -> Result<Transfer, DecodeError> {
        let names = match ctx {
            TransferContext::V1 => Transfer::NAMES_V1,
            TransferContext::PaymentV2 => Transfer::NAMES_PAYMENT_V2,
            TransferContext::ReceiptV2 => Transfer::NAMES_RECEIPT_V2,
        };
        let mut c = Children::new(el, path, names)?;
        let id_path = c.path_of("idTransfer");
        let id_transfer = collapsed(c.required("idTransfer")?, &id_path)?
            .trim_start_matches('+')
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=5).contains(n))
            .ok_or_else(|| DecodeError::schema(&id_path, "idTransfer deve essere da 1 a 5"))?
            as u8;
        let transfer_amount = amount(
            c.required("transferAmount")?,
            &c.path_of("transferAmount"),
            true,
        )?;
        let fiscal_code_pa =
            fiscal_code_pa(c.required("fiscalCodePA")?, &c.path_of("fiscalCodePA"))?;
        let company_name = if ctx == TransferContext::V1 {
            None
        } else {
            c.optional("companyName")?
                .map(|e| text(e, &c.path_of("companyName"), 1, 140))
                .transpose()?
        };
        let stamp = if ctx == TransferContext::PaymentV2 {
            "richiestaMarcaDaBollo"
        } else {
            "MBDAttachment"
        };
        let destination = if let Some(iban) = c.optional("IBAN")? {
            TransferDestination::Iban(text(iban, &c.path_of("IBAN"), 1, 35)?)
        } else if let Some(found) = if ctx == TransferContext::V1 {
            None
        } else {
            c.optional(stamp)?
        } {
            if ctx == TransferContext::PaymentV2 {
                let p = c.path_of(stamp);
                let mut s = Children::new(
                    found,
                    &p,
                    &["hashDocumento", "tipoBollo", "provinciaResidenza"],
                )?;
                let hash_documento = base64(
                    s.required("hashDocumento")?,
                    &s.path_of("hashDocumento"),
                    true,
                )?;
                let tipo_path = s.path_of("tipoBollo");
                let tipo_bollo = leaf(s.required("tipoBollo")?, &tipo_path)?.to_owned();
                if tipo_bollo != "01" {
                    return Err(DecodeError::schema(&tipo_path, "tipoBollo deve essere 01"));
                }
                let provincia_residenza = two_letters(
                    s.required("provinciaResidenza")?,
                    &s.path_of("provinciaResidenza"),
                )?;
                s.finish()?;
                TransferDestination::MarcaDaBollo(MarcaDaBollo {
                    hash_documento,
                    tipo_bollo,
                    provincia_residenza,
                })
            } else {
                TransferDestination::MbdAttachment(base64(found, &c.path_of(stamp), false)?)
            }
        } else {
            let what = match ctx {
                TransferContext::V1 => "IBAN",
                TransferContext::PaymentV2 => "IBAN o richiestaMarcaDaBollo",
                TransferContext::ReceiptV2 => "IBAN o MBDAttachment",
            };
            return Err(DecodeError::schema(path, format!("manca {what}")));
        };
        let remittance_information = text(
            c.required("remittanceInformation")?,
            &c.path_of("remittanceInformation"),
            1,
            140,
        )?;
        let transfer_category = text(
            c.required("transferCategory")?,
            &c.path_of("transferCategory"),
            1,
            140,
        )?;
        let metadata = decode_metadata(&mut c)?;
        c.finish()?;
        Ok(Transfer {
            id_transfer,
            transfer_amount,
            fiscal_code_pa,
            company_name,
            destination,
            remittance_information,
            transfer_category,
            metadata,
        })
    }

    fn encode(&self, w: &mut Writer) {
        w.open("transfer");
        w.leaf("idTransfer", &self.id_transfer.to_string());
        w.leaf("transferAmount", &self.transfer_amount.to_xml());
        w.leaf("fiscalCodePA", self.fiscal_code_pa.as_str());
        w.opt_leaf("companyName", self.company_name.as_deref());
        match &self.destination {
            TransferDestination::Iban(iban) => w.leaf("IBAN", iban),
            TransferDestination::MarcaDaBollo(m) => {
                w.open("richiestaMarcaDaBollo");
                w.leaf("hashDocumento", &m.hash_documento);
                w.leaf("tipoBollo", &m.tipo_bollo);
                w.leaf("provinciaResidenza", &m.provincia_residenza);
                w.close("richiestaMarcaDaBollo");
            }
            TransferDestination::MbdAttachment(b) => w.leaf("MBDAttachment", b),
        }
        w.leaf("remittanceInformation", &self.remittance_information);
        w.leaf("transferCategory", &self.transfer_category);
        encode_metadata(w, &self.metadata);
        w.close("transfer");
    }
}

/// Reads a required `transferList` of 1–5 transfers.
pub(crate) fn decode_transfer_list(
    c: &mut Children<'_>,
    ctx: TransferContext,
) -> Result<Vec<Transfer>, DecodeError> {
    let path = c.path_of("transferList");
    let mut t = Children::new(c.required("transferList")?, &path, &["transfer"])?;
    let items = t.repeated("transfer", 1, 5)?;
    t.finish()?;
    items
        .into_iter()
        .map(|e| Transfer::decode(e, &format!("{path}/transfer"), ctx))
        .collect()
}

pub(crate) fn encode_transfer_list(w: &mut Writer, transfers: &[Transfer]) {
    w.open("transferList");
    for t in transfers {
        t.encode(w);
    }
    w.close("transferList");
}

/// `ctPaymentOptionDescriptionPA`: the one payment option a verification returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentOptionDescription {
    /// The current amount, at least 0.01.
    pub amount: Cents,
    /// How the amount paid may differ: an EC answers `EQ`.
    pub options: AmountOption,
    /// Due date.
    pub due_date: Option<XsdDate>,
    /// Description, 1–140.
    pub detail_description: Option<String>,
    /// Whether every transfer goes to an IBAN that can receive any PSP's credit (`allCCP`).
    pub all_ccp: bool,
}

impl PaymentOptionDescription {
    /// Reads `paymentList` (exactly one option).
    pub(crate) fn decode_list(
        el: &Element,
        path: &str,
    ) -> Result<PaymentOptionDescription, DecodeError> {
        let mut l = Children::new(el, path, &["paymentOptionDescription"])?;
        let p = l.path_of("paymentOptionDescription");
        let item = l.required("paymentOptionDescription")?;
        l.finish()?;
        let mut c = Children::new(
            item,
            &p,
            &[
                "amount",
                "options",
                "dueDate",
                "detailDescription",
                "allCCP",
            ],
        )?;
        let amount = amount(c.required("amount")?, &c.path_of("amount"), true)?;
        let options = AmountOption::decode(c.required("options")?, &c.path_of("options"))?;
        let due_date = c
            .optional("dueDate")?
            .map(|e| XsdDate::decode(e, &c.path_of("dueDate")))
            .transpose()?;
        let detail_description = c
            .optional("detailDescription")?
            .map(|e| text(e, &c.path_of("detailDescription"), 1, 140))
            .transpose()?;
        let all_ccp = boolean(c.required("allCCP")?, &c.path_of("allCCP"))?;
        c.finish()?;
        Ok(PaymentOptionDescription {
            amount,
            options,
            due_date,
            detail_description,
            all_ccp,
        })
    }

    pub(crate) fn encode_list(&self, w: &mut Writer) {
        w.open("paymentList");
        w.open("paymentOptionDescription");
        w.leaf("amount", &self.amount.to_xml());
        w.leaf("options", self.options.as_str());
        w.opt_leaf("dueDate", self.due_date.as_ref().map(XsdDate::as_str));
        w.opt_leaf("detailDescription", self.detail_description.as_deref());
        w.leaf("allCCP", bool_text(self.all_ccp));
        w.close("paymentOptionDescription");
        w.close("paymentList");
    }
}

/// `ctPaymentPA` (V1) / `ctPaymentPAV2` (V2): the payment an activation returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentData {
    /// The IUV, 1–35.
    pub creditor_reference_id: String,
    /// Amount (= sum of the transfers), at least 0.01.
    pub payment_amount: Cents,
    /// Due date.
    pub due_date: XsdDate,
    /// Retention date.
    pub retention_date: Option<XsdDateTime>,
    /// Whether this is the last installment.
    pub last_payment: Option<bool>,
    /// Description, 1–140.
    pub description: String,
    /// The EC's name, 1–140 (required in V2).
    pub company_name: Option<String>,
    /// Office, 1–140.
    pub office_name: Option<String>,
    /// The debtor.
    pub debtor: Subject,
    /// 1–5 transfers.
    pub transfers: Vec<Transfer>,
    /// Metadata, 0–15 entries.
    pub metadata: Vec<MapEntry>,
}

impl PaymentData {
    const NAMES: &'static [&'static str] = &[
        "creditorReferenceId",
        "paymentAmount",
        "dueDate",
        "retentionDate",
        "lastPayment",
        "description",
        "companyName",
        "officeName",
        "debtor",
        "transferList",
        "metadata",
    ];

    pub(crate) fn decode(
        el: &Element,
        path: &str,
        version: Version,
    ) -> Result<PaymentData, DecodeError> {
        let mut c = Children::new(el, path, PaymentData::NAMES)?;
        let creditor_reference_id = text(
            c.required("creditorReferenceId")?,
            &c.path_of("creditorReferenceId"),
            1,
            35,
        )?;
        let payment_amount = amount(
            c.required("paymentAmount")?,
            &c.path_of("paymentAmount"),
            true,
        )?;
        let due_date = XsdDate::decode(c.required("dueDate")?, &c.path_of("dueDate"))?;
        let retention_date = c
            .optional("retentionDate")?
            .map(|e| XsdDateTime::decode(e, &c.path_of("retentionDate")))
            .transpose()?;
        let last_payment = c
            .optional("lastPayment")?
            .map(|e| boolean(e, &c.path_of("lastPayment")))
            .transpose()?;
        let description = text(
            c.required("description")?,
            &c.path_of("description"),
            1,
            140,
        )?;
        let company_name = match version {
            Version::V1 => c.optional("companyName")?,
            Version::V2 => Some(c.required("companyName")?),
        }
        .map(|e| text(e, &c.path_of("companyName"), 1, 140))
        .transpose()?;
        let office_name = c
            .optional("officeName")?
            .map(|e| text(e, &c.path_of("officeName"), 1, 140))
            .transpose()?;
        let debtor = Subject::decode(c.required("debtor")?, &c.path_of("debtor"))?;
        let ctx = match version {
            Version::V1 => TransferContext::V1,
            Version::V2 => TransferContext::PaymentV2,
        };
        let transfers = decode_transfer_list(&mut c, ctx)?;
        let metadata = decode_metadata(&mut c)?;
        c.finish()?;
        Ok(PaymentData {
            creditor_reference_id,
            payment_amount,
            due_date,
            retention_date,
            last_payment,
            description,
            company_name,
            office_name,
            debtor,
            transfers,
            metadata,
        })
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.open("data");
        w.leaf("creditorReferenceId", &self.creditor_reference_id);
        w.leaf("paymentAmount", &self.payment_amount.to_xml());
        w.leaf("dueDate", self.due_date.as_str());
        w.opt_leaf(
            "retentionDate",
            self.retention_date.as_ref().map(XsdDateTime::as_str),
        );
        w.opt_leaf("lastPayment", self.last_payment.map(bool_text));
        w.leaf("description", &self.description);
        w.opt_leaf("companyName", self.company_name.as_deref());
        w.opt_leaf("officeName", self.office_name.as_deref());
        self.debtor.encode(w, "debtor");
        encode_transfer_list(w, &self.transfers);
        encode_metadata(w, &self.metadata);
        w.close("data");
    }
}

/// `ctReceipt` (V1) / `ctReceiptV2` (V2): proof of payment. The V2-only fields are `None` in
/// V1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Unique id of the receipt (any string; an EC wants it non-empty).
    pub receipt_id: String,
    /// Notice number (18 digits).
    pub notice_number: String,
    /// The EC's fiscal code.
    pub fiscal_code: EcFiscalCode,
    /// `OK` or `KO`.
    pub outcome: Outcome,
    /// The IUV, 1–35.
    pub creditor_reference_id: String,
    /// Amount paid (may be 0.00 in the schema).
    pub payment_amount: Cents,
    /// Description, 1–140.
    pub description: String,
    /// EC name, 1–140.
    pub company_name: String,
    /// Office, 1–140.
    pub office_name: Option<String>,
    /// The debtor.
    pub debtor: Subject,
    /// 1–5 transfers.
    pub transfers: Vec<Transfer>,
    /// PSP id, 1–35.
    pub id_psp: String,
    /// PSP fiscal code, 1–70.
    pub psp_fiscal_code: Option<String>,
    /// PSP VAT number, 1–20.
    pub psp_partita_iva: Option<String>,
    /// PSP name, 1–70.
    pub psp_company_name: String,
    /// Channel id, 1–35.
    pub id_channel: String,
    /// Channel description, 1–35.
    pub channel_description: String,
    /// Who paid.
    pub payer: Option<Subject>,
    /// Payment method, 1–35.
    pub payment_method: Option<String>,
    /// (V2) Payment note, 1–210: Checkout puts its cart id here.
    pub payment_note: Option<String>,
    /// Fee paid by the payer.
    pub fee: Option<Cents>,
    /// (V2) Fee borne by the EC.
    pub primary_ci_incurred_fee: Option<Cents>,
    /// (V2) Bundle id, 1–70.
    pub id_bundle: Option<String>,
    /// (V2) EC bundle id, 1–70.
    pub id_ci_bundle: Option<String>,
    /// When it was paid: the legally binding time.
    pub payment_date_time: Option<XsdDateTime>,
    /// Application date.
    pub application_date: Option<XsdDate>,
    /// Transfer date.
    pub transfer_date: Option<XsdDate>,
    /// Metadata, 0–15 entries.
    pub metadata: Vec<MapEntry>,
    /// Whether the node took the payment in stand-in (without the EC).
    pub stand_in: Option<bool>,
}

impl Receipt {
    const NAMES_V1: &'static [&'static str] = &[
        "receiptId",
        "noticeNumber",
        "fiscalCode",
        "outcome",
        "creditorReferenceId",
        "paymentAmount",
        "description",
        "companyName",
        "officeName",
        "debtor",
        "transferList",
        "idPSP",
        "pspFiscalCode",
        "pspPartitaIVA",
        "PSPCompanyName",
        "idChannel",
        "channelDescription",
        "payer",
        "paymentMethod",
        "fee",
        "paymentDateTime",
        "applicationDate",
        "transferDate",
        "metadata",
        "standIn",
    ];
    const NAMES_V2: &'static [&'static str] = &[
        "receiptId",
        "noticeNumber",
        "fiscalCode",
        "outcome",
        "creditorReferenceId",
        "paymentAmount",
        "description",
        "companyName",
        "officeName",
        "debtor",
        "transferList",
        "idPSP",
        "pspFiscalCode",
        "pspPartitaIVA",
        "PSPCompanyName",
        "idChannel",
        "channelDescription",
        "payer",
        "paymentMethod",
        "paymentNote",
        "fee",
        "primaryCiIncurredFee",
        "idBundle",
        "idCiBundle",
        "paymentDateTime",
        "applicationDate",
        "transferDate",
        "metadata",
        "standIn",
    ];

    pub(crate) fn decode(
        el: &Element,
        path: &str,
        version: Version,
    ) -> Result<Receipt, DecodeError> {
        let v2 = version == Version::V2;
        let names = if v2 {
            Receipt::NAMES_V2
        } else {
            Receipt::NAMES_V1
        };
        let mut c = Children::new(el, path, names)?;
        let req = |c: &mut Children<'_>, name: &str, max: usize| -> Result<String, DecodeError> {
            let e = c.required(name)?;
            text(e, &c.path_of(name), 1, max)
        };
        let opt =
            |c: &mut Children<'_>, name: &str, max: usize| -> Result<Option<String>, DecodeError> {
                c.optional(name)?
                    .map(|e| text(e, &c.path_of(name), 1, max))
                    .transpose()
            };
        let receipt_id = any_text(c.required("receiptId")?, &c.path_of("receiptId"))?;
        let notice_number = notice_number(c.required("noticeNumber")?, &c.path_of("noticeNumber"))?;
        let fiscal_code = fiscal_code_pa(c.required("fiscalCode")?, &c.path_of("fiscalCode"))?;
        let outcome = Outcome::decode(c.required("outcome")?, &c.path_of("outcome"))?;
        let creditor_reference_id = req(&mut c, "creditorReferenceId", 35)?;
        let payment_amount = amount(
            c.required("paymentAmount")?,
            &c.path_of("paymentAmount"),
            false,
        )?;
        let description = req(&mut c, "description", 140)?;
        let company_name = req(&mut c, "companyName", 140)?;
        let office_name = opt(&mut c, "officeName", 140)?;
        let debtor = Subject::decode(c.required("debtor")?, &c.path_of("debtor"))?;
        let transfers = decode_transfer_list(
            &mut c,
            if v2 {
                TransferContext::ReceiptV2
            } else {
                TransferContext::V1
            },
        )?;
        let id_psp = req(&mut c, "idPSP", 35)?;
        let psp_fiscal_code = opt(&mut c, "pspFiscalCode", 70)?;
        let psp_partita_iva = opt(&mut c, "pspPartitaIVA", 20)?;
        let psp_company_name = req(&mut c, "PSPCompanyName", 70)?;
        let id_channel = req(&mut c, "idChannel", 35)?;
        let channel_description = req(&mut c, "channelDescription", 35)?;
        let payer = c
            .optional("payer")?
            .map(|e| Subject::decode(e, &c.path_of("payer")))
            .transpose()?;
        let payment_method = opt(&mut c, "paymentMethod", 35)?;
        let payment_note = if v2 {
            opt(&mut c, "paymentNote", 210)?
        } else {
            None
        };
        let fee = c
            .optional("fee")?
            .map(|e| amount(e, &c.path_of("fee"), false))
            .transpose()?;
        let (primary_ci_incurred_fee, id_bundle, id_ci_bundle) = if v2 {
            (
                c.optional("primaryCiIncurredFee")?
                    .map(|e| amount(e, &c.path_of("primaryCiIncurredFee"), false))
                    .transpose()?,
                opt(&mut c, "idBundle", 70)?,
                opt(&mut c, "idCiBundle", 70)?,
            )
        } else {
            (None, None, None)
        };
        let payment_date_time = c
            .optional("paymentDateTime")?
            .map(|e| XsdDateTime::decode(e, &c.path_of("paymentDateTime")))
            .transpose()?;
        let application_date = c
            .optional("applicationDate")?
            .map(|e| XsdDate::decode(e, &c.path_of("applicationDate")))
            .transpose()?;
        let transfer_date = c
            .optional("transferDate")?
            .map(|e| XsdDate::decode(e, &c.path_of("transferDate")))
            .transpose()?;
        let metadata = decode_metadata(&mut c)?;
        let stand_in = c
            .optional("standIn")?
            .map(|e| boolean(e, &c.path_of("standIn")))
            .transpose()?;
        c.finish()?;
        Ok(Receipt {
            receipt_id,
            notice_number,
            fiscal_code,
            outcome,
            creditor_reference_id,
            payment_amount,
            description,
            company_name,
            office_name,
            debtor,
            transfers,
            id_psp,
            psp_fiscal_code,
            psp_partita_iva,
            psp_company_name,
            id_channel,
            channel_description,
            payer,
            payment_method,
            payment_note,
            fee,
            primary_ci_incurred_fee,
            id_bundle,
            id_ci_bundle,
            payment_date_time,
            application_date,
            transfer_date,
            metadata,
            stand_in,
        })
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.open("receipt");
        w.leaf("receiptId", &self.receipt_id);
        w.leaf("noticeNumber", &self.notice_number);
        w.leaf("fiscalCode", self.fiscal_code.as_str());
        w.leaf("outcome", self.outcome.as_str());
        w.leaf("creditorReferenceId", &self.creditor_reference_id);
        w.leaf("paymentAmount", &self.payment_amount.to_xml());
        w.leaf("description", &self.description);
        w.leaf("companyName", &self.company_name);
        w.opt_leaf("officeName", self.office_name.as_deref());
        self.debtor.encode(w, "debtor");
        encode_transfer_list(w, &self.transfers);
        w.leaf("idPSP", &self.id_psp);
        w.opt_leaf("pspFiscalCode", self.psp_fiscal_code.as_deref());
        w.opt_leaf("pspPartitaIVA", self.psp_partita_iva.as_deref());
        w.leaf("PSPCompanyName", &self.psp_company_name);
        w.leaf("idChannel", &self.id_channel);
        w.leaf("channelDescription", &self.channel_description);
        if let Some(payer) = &self.payer {
            payer.encode(w, "payer");
        }
        w.opt_leaf("paymentMethod", self.payment_method.as_deref());
        w.opt_leaf("paymentNote", self.payment_note.as_deref());
        w.opt_leaf("fee", self.fee.map(Cents::to_xml).as_deref());
        w.opt_leaf(
            "primaryCiIncurredFee",
            self.primary_ci_incurred_fee.map(Cents::to_xml).as_deref(),
        );
        w.opt_leaf("idBundle", self.id_bundle.as_deref());
        w.opt_leaf("idCiBundle", self.id_ci_bundle.as_deref());
        w.opt_leaf(
            "paymentDateTime",
            self.payment_date_time.as_ref().map(XsdDateTime::as_str),
        );
        w.opt_leaf(
            "applicationDate",
            self.application_date.as_ref().map(XsdDate::as_str),
        );
        w.opt_leaf(
            "transferDate",
            self.transfer_date.as_ref().map(XsdDate::as_str),
        );
        encode_metadata(w, &self.metadata);
        w.opt_leaf("standIn", self.stand_in.map(bool_text));
        w.close("receipt");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_follow_the_xsd_lexical_forms() {
        for ok in [
            "2024-02-29",
            "2023-12-31Z",
            "2023-01-01+01:00",
            "2023-01-01-14:00",
        ] {
            assert!(XsdDate::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "2023-02-29",
            "2023-13-01",
            "23-01-01",
            "2023-1-01",
            "2023-01-01+15:00",
            "2023-01-01 ",
        ] {
            assert!(XsdDate::parse(bad).is_none(), "{bad}");
        }
        let t = XsdDateTime::parse("2024-03-31T02:30:05.1234567+02:00").unwrap();
        let p = t.parts();
        assert_eq!((p.hour, p.minute, p.second, p.micros), (2, 30, 5, 123_456));
        assert_eq!(p.offset_minutes, Some(120));
        assert_eq!(
            XsdDateTime::parse("2024-03-31T10:00:00")
                .unwrap()
                .parts()
                .offset_minutes,
            None
        );
        for bad in [
            "2024-03-31T24:00:00",
            "2024-03-31T10:00",
            "2024-03-31 10:00:00",
            "2024-03-31T10:00:00.",
        ] {
            assert!(XsdDateTime::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn emails_follow_the_schema_pattern() {
        for ok in ["a@b", "mario.rossi+x@example.it", "a_b-c@d-e.f.g"] {
            assert!(is_schema_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "@b", "a@", "a@b.", "a@@b", "à@b.it", "a b@c.it", "a@b..c",
        ] {
            assert!(!is_schema_email(bad), "{bad}");
        }
    }

    #[test]
    fn fault_codes_round_trip() {
        for code in FaultCode::KNOWN {
            assert_eq!(FaultCode::parse(code.as_str()), code);
        }
        assert_eq!(FaultCode::parse("PPT_X"), FaultCode::Other("PPT_X".into()));
    }
}
