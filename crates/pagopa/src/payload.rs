//! The machine-readable codes printed on a paper notice: the pagoPA QR code
//! and, where the ente has a postal account, the Poste Data Matrix.

use std::fmt;

use crate::cents::Cents;
use crate::fiscal_code::{EcFiscalCode, FiscalCode, FiscalCodeError};
use crate::notice::{NoticeError, NoticeNumber};

/// Why a payload cannot be built or read. The Display is an Italian
/// sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Not `PAGOPA|002|<NAV>|<CF>|<cents>`.
    #[error(
        "Il contenuto del QR code non è nel formato pagoPA: PAGOPA|002|codice avviso|codice fiscale ente|importo in centesimi"
    )]
    QrFormat,
    /// Not the 256-character Poste layout.
    #[error(
        "Il contenuto del Data Matrix non è nel formato di Poste Italiane: 256 caratteri che iniziano con codfase=NBPA;"
    )]
    DataMatrixFormat,
    /// The notice number inside is invalid.
    #[error(transparent)]
    Notice(#[from] NoticeError),
    /// A fiscal code inside is invalid.
    #[error(transparent)]
    FiscalCode(#[from] FiscalCodeError),
    /// Zero, negative or not written as integer cents.
    #[error("L'importo nel codice deve essere un numero intero di centesimi maggiore di zero")]
    InvalidAmount,
    /// More than the ten digits of the Data Matrix amount field.
    #[error("L'importo supera il massimo del bollettino postale (99.999.999,99 €)")]
    AmountTooLarge,
    /// Not 1 to 12 digits, or all zeros.
    #[error("Il numero di conto corrente postale deve avere da 1 a 12 cifre")]
    InvalidPostalAccount,
}

/// The pagoPA QR code payload:
/// `PAGOPA|002|<NAV>|<EC fiscal code>|<amount in cents, at least 2 digits>`.
///
/// The fields are public for convenience; [`QrPayload::new`] also checks
/// that the amount is positive, which [`QrPayload::parse`] requires.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QrPayload {
    /// The notice number.
    pub notice: NoticeNumber,
    /// The fiscal code of the ente (EC) the notice belongs to.
    pub ec_fiscal_code: EcFiscalCode,
    /// The amount due.
    pub amount: Cents,
}

/// True for a non-empty string of ASCII digits.
fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Strict NAV: exactly 18 ASCII digits (no spaces or dashes) and valid.
fn strict_nav(s: &str) -> Result<NoticeNumber, PayloadError> {
    if s.len() != 18 || !all_digits(s) {
        return Err(
            NoticeError::WrongLength(s.chars().filter(char::is_ascii_digit).count()).into(),
        );
    }
    Ok(NoticeNumber::parse(s)?)
}

/// EC fiscal code: exactly 11 ASCII digits (check digit not enforced, see
/// [`EcFiscalCode`]).
fn strict_ec(s: &str) -> Result<EcFiscalCode, PayloadError> {
    Ok(EcFiscalCode::parse(s)?)
}

/// Value of an all-digit field, `None` on overflow.
fn digits_i64(s: &str) -> Option<i64> {
    s.bytes().try_fold(0i64, |acc, b| {
        acc.checked_mul(10)?.checked_add(i64::from(b - b'0'))
    })
}

impl QrPayload {
    /// A payload, refusing amounts that are not positive.
    pub fn new(
        notice: NoticeNumber,
        ec_fiscal_code: EcFiscalCode,
        amount: Cents,
    ) -> Result<Self, PayloadError> {
        if !amount.is_positive() {
            return Err(PayloadError::InvalidAmount);
        }
        Ok(QrPayload {
            notice,
            ec_fiscal_code,
            amount,
        })
    }

    /// Strict inverse of `to_string()`: exactly five `|`-separated fields,
    /// `PAGOPA`, `002`, 18 digits with a valid check digit, 11 digits with a
    /// valid check digit, and the amount as at least two digits without
    /// further leading zeros (so the text round-trips byte for byte),
    /// positive.
    pub fn parse(s: &str) -> Result<Self, PayloadError> {
        let mut parts = s.split('|');
        let (Some("PAGOPA"), Some("002"), Some(nav), Some(cf), Some(amount), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(PayloadError::QrFormat);
        };
        let notice = strict_nav(nav)?;
        let ec_fiscal_code = strict_ec(cf)?;
        if amount.len() < 2 || !all_digits(amount) {
            return Err(PayloadError::InvalidAmount);
        }
        let cents = digits_i64(amount).ok_or(PayloadError::InvalidAmount)?;
        if format!("{cents:02}") != amount {
            return Err(PayloadError::InvalidAmount);
        }
        QrPayload::new(notice, ec_fiscal_code, Cents::new(cents))
    }
}

/// The text to encode in the QR code (ECC level M).
impl fmt::Display for QrPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PAGOPA|002|{}|{}|{:02}",
            self.notice,
            self.ec_fiscal_code,
            self.amount.get()
        )
    }
}

impl std::str::FromStr for QrPayload {
    type Err = PayloadError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        QrPayload::parse(s)
    }
}

/// The Poste Italiane Data Matrix of the postal bollettino section.
///
/// Layout (256 characters): `codfase=NBPA;` `18`+NAV `12`+postal account
/// (12, zero-padded) `10`+cents (10, zero-padded) `3896` `1P1` + EC fiscal
/// code (11) + debtor fiscal code (16, space-padded) + debtor name (40) +
/// subject (110) + 12 spaces + `A`.
///
/// Name and subject are written in printable ASCII, the only safe alphabet
/// for the scanners: accented letters lose the accent and keep their case
/// (`à` → `a`, `È` → `E`), typographic quotes and dashes become their ASCII
/// forms, control characters become spaces and anything else becomes `?`.
/// Then they are cut or space-padded to their width.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PosteDataMatrixPayload {
    /// The notice number.
    pub notice: NoticeNumber,
    /// The ente's postal account number: 1 to 12 digits.
    pub postal_account: String,
    /// The amount due: 0,01 € to 99.999.999,99 € (ten digits of cents).
    pub amount: Cents,
    /// The ente's fiscal code.
    pub ec_fiscal_code: EcFiscalCode,
    /// The debtor's fiscal code.
    pub debtor_fiscal_code: FiscalCode,
    /// The debtor's name, cut to 40 characters.
    pub debtor_name: String,
    /// What the payment is for, cut to 110 characters.
    pub subject: String,
}

/// `codfase=NBPA;` and its fixed-width fields, in order.
const DM_PREFIX: &str = "codfase=NBPA;";
const DM_NAME_WIDTH: usize = 40;
const DM_SUBJECT_WIDTH: usize = 110;
const DM_FILLER_WIDTH: usize = 12;
/// 13 + 20 + 14 + 12 + 4 + 3 + 11 + 16 + 40 + 110 + 12 + 1.
const DM_LEN: usize = 256;

/// ASCII stand-in for one character (see [`PosteDataMatrixPayload`]).
fn transliterate_char(c: char, out: &mut String) {
    let s: &str = match c {
        ' '..='~' => {
            out.push(c);
            return;
        }
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' | 'Ā' | 'Ă' | 'Ą' => "A",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'È' | 'É' | 'Ê' | 'Ë' | 'Ē' | 'Ė' | 'Ę' | 'Ě' => "E",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' => "i",
        'Ì' | 'Í' | 'Î' | 'Ï' | 'Ī' | 'Į' => "I",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' | 'Ō' | 'Ő' => "O",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => "u",
        'Ù' | 'Ú' | 'Û' | 'Ü' | 'Ū' | 'Ů' | 'Ű' => "U",
        'ç' | 'ć' | 'č' => "c",
        'Ç' | 'Ć' | 'Č' => "C",
        'ñ' | 'ń' | 'ň' => "n",
        'Ñ' | 'Ń' | 'Ň' => "N",
        'š' | 'ś' => "s",
        'Š' | 'Ś' => "S",
        'ž' | 'ź' | 'ż' => "z",
        'Ž' | 'Ź' | 'Ż' => "Z",
        'ý' | 'ÿ' => "y",
        'Ý' | 'Ÿ' => "Y",
        'ł' => "l",
        'Ł' => "L",
        'đ' => "d",
        'Đ' => "D",
        'ř' => "r",
        'Ř' => "R",
        'ß' => "ss",
        'æ' => "ae",
        'Æ' => "AE",
        'œ' => "oe",
        'Œ' => "OE",
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{00B4}' => "'",
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '«' | '»' => "\"",
        '\u{2010}'..='\u{2015}' => "-",
        '€' => "EUR",
        '…' => "...",
        c if c.is_control() || c.is_whitespace() => " ",
        _ => "?",
    };
    out.push_str(s);
}

/// Transliterates to printable ASCII, then cuts or space-pads to `width`.
fn fixed_width_text(s: &str, width: usize) -> String {
    let mut out = String::with_capacity(width);
    for c in s.chars() {
        transliterate_char(c, &mut out);
        if out.len() >= width {
            break;
        }
    }
    out.truncate(width);
    while out.len() < width {
        out.push(' ');
    }
    out
}

impl PosteDataMatrixPayload {
    /// Builds the 256-character string to encode in the Data Matrix.
    /// Fails if the postal account is not 1–12 digits (or all zeros) or the
    /// amount is not 1 to 9 999 999 999 cents.
    pub fn encode(&self) -> Result<String, PayloadError> {
        let acct = &self.postal_account;
        if acct.is_empty()
            || acct.len() > 12
            || !all_digits(acct)
            || acct.bytes().all(|b| b == b'0')
        {
            return Err(PayloadError::InvalidPostalAccount);
        }
        let cents = self.amount.get();
        if cents <= 0 {
            return Err(PayloadError::InvalidAmount);
        }
        if cents > 9_999_999_999 {
            return Err(PayloadError::AmountTooLarge);
        }
        let mut out = String::with_capacity(DM_LEN);
        out.push_str(DM_PREFIX);
        out.push_str("18");
        out.push_str(self.notice.as_str());
        out.push_str(&format!("12{acct:0>12}10{cents:010}38961P1"));
        out.push_str(&format!("{:<11}", self.ec_fiscal_code.as_str()));
        out.push_str(&format!("{:<16}", self.debtor_fiscal_code.as_str()));
        out.push_str(&fixed_width_text(&self.debtor_name, DM_NAME_WIDTH));
        out.push_str(&fixed_width_text(&self.subject, DM_SUBJECT_WIDTH));
        out.push_str(&" ".repeat(DM_FILLER_WIDTH));
        out.push('A');
        // Every part above has a fixed width; a different length would be a
        // bug here, not bad input.
        debug_assert_eq!(out.len(), DM_LEN);
        Ok(out)
    }

    /// Strict inverse of [`PosteDataMatrixPayload::encode`]: exactly 256
    /// printable ASCII characters in the layout above, with a valid NAV and
    /// fiscal codes in canonical form. The postal account comes back without
    /// leading zeros, name and subject without trailing spaces, so that
    /// `encode(parse(s)) == s`.
    pub fn parse(s: &str) -> Result<Self, PayloadError> {
        // Printable ASCII only: byte offsets below are then char offsets.
        if s.len() != DM_LEN || !s.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return Err(PayloadError::DataMatrixFormat);
        }
        let fixed = |range: std::ops::Range<usize>, expected: &str| {
            if &s[range] == expected {
                Ok(())
            } else {
                Err(PayloadError::DataMatrixFormat)
            }
        };
        fixed(0..13, DM_PREFIX)?;
        fixed(13..15, "18")?;
        let notice = strict_nav(&s[15..33])?;
        fixed(33..35, "12")?;
        let acct = &s[35..47];
        if !all_digits(acct) {
            return Err(PayloadError::InvalidPostalAccount);
        }
        let postal_account = acct.trim_start_matches('0');
        if postal_account.is_empty() {
            return Err(PayloadError::InvalidPostalAccount);
        }
        fixed(47..49, "10")?;
        let amount = &s[49..59];
        if !all_digits(amount) {
            return Err(PayloadError::InvalidAmount);
        }
        let cents = digits_i64(amount).ok_or(PayloadError::InvalidAmount)?;
        if cents <= 0 {
            return Err(PayloadError::InvalidAmount);
        }
        fixed(59..63, "3896")?;
        fixed(63..66, "1P1")?;
        let ec_fiscal_code = strict_ec(&s[66..77])?;
        let debtor_field = s[77..93].trim_end();
        let debtor_fiscal_code = FiscalCode::parse(debtor_field)?;
        // Canonical form only (upper case, no inner or leading spaces), or
        // the text would not round-trip.
        if debtor_fiscal_code.as_str() != debtor_field {
            return Err(PayloadError::DataMatrixFormat);
        }
        let debtor_name = s[93..133].trim_end().to_owned();
        let subject = s[133..243].trim_end().to_owned();
        fixed(243..255, &" ".repeat(DM_FILLER_WIDTH))?;
        fixed(255..256, "A")?;
        Ok(PosteDataMatrixPayload {
            notice,
            postal_account: postal_account.to_owned(),
            amount: Cents::new(cents),
            ec_fiscal_code,
            debtor_fiscal_code,
            debtor_name,
            subject,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nav() -> NoticeNumber {
        NoticeNumber::parse("301000000000000144").unwrap()
    }

    fn ec() -> EcFiscalCode {
        EcFiscalCode::parse("01234567890").unwrap()
    }

    #[test]
    fn qr_example_from_notes() {
        let q = QrPayload::new(nav(), ec(), Cents::new(12_345)).unwrap();
        let s = q.to_string();
        assert_eq!(s, "PAGOPA|002|301000000000000144|01234567890|12345");
        assert_eq!(QrPayload::parse(&s), Ok(q));
    }

    #[test]
    fn qr_small_amounts_have_two_digits() {
        let q = QrPayload::new(nav(), ec(), Cents::new(5)).unwrap();
        assert_eq!(
            q.to_string(),
            "PAGOPA|002|301000000000000144|01234567890|05"
        );
        assert_eq!(QrPayload::parse(&q.to_string()), Ok(q));
    }

    #[test]
    fn qr_is_strict() {
        let base = "PAGOPA|002|301000000000000144|01234567890";
        for bad_amount in [
            "5",
            "005",
            "0123",
            "00",
            "",
            "1a",
            "-5",
            "+5",
            "99999999999999999999",
        ] {
            assert_eq!(
                QrPayload::parse(&format!("{base}|{bad_amount}")),
                Err(PayloadError::InvalidAmount),
                "{bad_amount:?}"
            );
        }
        for bad in [
            "",
            "PAGOPA|002|301000000000000144|01234567890",
            "PAGOPA|002|301000000000000144|01234567890|12345|",
            "pagopa|002|301000000000000144|01234567890|12345",
            "PAGOPA|001|301000000000000144|01234567890|12345",
            " PAGOPA|002|301000000000000144|01234567890|12345",
        ] {
            assert_eq!(
                QrPayload::parse(bad),
                Err(PayloadError::QrFormat),
                "{bad:?}"
            );
        }
        assert_eq!(
            QrPayload::parse("PAGOPA|002|301000000000000145|01234567890|12345"),
            Err(PayloadError::Notice(NoticeError::BadCheckDigit))
        );
        assert!(matches!(
            QrPayload::parse("PAGOPA|002|3010 0000 0000 0001 44|01234567890|12345"),
            Err(PayloadError::Notice(_))
        ));
        assert_eq!(
            QrPayload::parse("PAGOPA|002|301000000000000144|0123456789|12345"),
            Err(PayloadError::FiscalCode(FiscalCodeError::PartitaIvaLength(
                10
            )))
        );
        assert!(QrPayload::parse("PAGOPA|002|301000000000000144|RSSMRA80A01H501U|12345").is_err());
        assert_eq!(
            QrPayload::new(nav(), ec(), Cents::ZERO),
            Err(PayloadError::InvalidAmount)
        );
    }

    fn dm() -> PosteDataMatrixPayload {
        PosteDataMatrixPayload {
            notice: nav(),
            postal_account: "12345678".into(),
            amount: Cents::new(12_345),
            ec_fiscal_code: ec(),
            debtor_fiscal_code: FiscalCode::parse("RSSMRA80A01H501U").unwrap(),
            debtor_name: "Mario Rossi".into(),
            subject: "TARI 2025 rata 1".into(),
        }
    }

    #[test]
    fn data_matrix_layout() {
        let s = dm().encode().unwrap();
        assert_eq!(s.len(), 256);
        let expected = format!(
            "codfase=NBPA;18301000000000000144120000123456781000000123453896\
             1P101234567890RSSMRA80A01H501U{:<40}{:<110}{}A",
            "Mario Rossi",
            "TARI 2025 rata 1",
            " ".repeat(12)
        );
        assert_eq!(s, expected);
        assert_eq!(PosteDataMatrixPayload::parse(&s), Ok(dm()));
    }

    #[test]
    fn data_matrix_legal_debtor_and_long_text() {
        let mut p = dm();
        p.debtor_fiscal_code = FiscalCode::parse("00229080338").unwrap();
        p.debtor_name = "Società Cooperativa Edilizia «Località Pèrgola» di Niccolò".into();
        p.subject = "x".repeat(200);
        let s = p.encode().unwrap();
        assert_eq!(s.len(), 256);
        assert_eq!(&s[77..93], "00229080338     ");
        assert_eq!(&s[93..133], "Societa Cooperativa Edilizia \"Localita P");
        let back = PosteDataMatrixPayload::parse(&s).unwrap();
        assert_eq!(
            back.debtor_name,
            "Societa Cooperativa Edilizia \"Localita P"
        );
        assert_eq!(back.subject, "x".repeat(110));
        assert_eq!(back.encode().unwrap(), s);
    }

    #[test]
    fn transliteration() {
        assert_eq!(fixed_width_text("àèéìòù ÀÈ", 9), "aeeiou AE");
        assert_eq!(fixed_width_text("D\u{2019}Angelo", 8), "D'Angelo");
        assert_eq!(fixed_width_text("a\tb\nc", 5), "a b c");
        assert_eq!(fixed_width_text("日本", 4), "??  ");
        assert_eq!(fixed_width_text("Straße", 8), "Strasse ");
        assert_eq!(fixed_width_text("ß", 1), "s");
        assert_eq!(fixed_width_text("10 €", 6), "10 EUR");
    }

    #[test]
    fn data_matrix_encode_errors() {
        let mut p = dm();
        for bad in ["", "0", "000", "1234567890123", "12a"] {
            p.postal_account = bad.into();
            assert_eq!(
                p.encode(),
                Err(PayloadError::InvalidPostalAccount),
                "{bad:?}"
            );
        }
        p.postal_account = "123456789012".into();
        assert!(p.encode().is_ok());
        p.amount = Cents::new(10_000_000_000);
        assert_eq!(p.encode(), Err(PayloadError::AmountTooLarge));
        p.amount = Cents::new(9_999_999_999);
        assert!(p.encode().is_ok());
        p.amount = Cents::ZERO;
        assert_eq!(p.encode(), Err(PayloadError::InvalidAmount));
    }

    #[test]
    fn data_matrix_parse_errors() {
        let good = dm().encode().unwrap();
        let with = |range: std::ops::Range<usize>, text: &str| {
            let mut s = good.clone();
            s.replace_range(range, text);
            s
        };
        assert_eq!(
            PosteDataMatrixPayload::parse(&good[..255]),
            Err(PayloadError::DataMatrixFormat)
        );
        assert_eq!(
            PosteDataMatrixPayload::parse(&with(0..1, "C")),
            Err(PayloadError::DataMatrixFormat)
        );
        assert_eq!(
            PosteDataMatrixPayload::parse(&with(255..256, "B")),
            Err(PayloadError::DataMatrixFormat)
        );
        assert_eq!(
            PosteDataMatrixPayload::parse(&with(100..101, "\n")),
            Err(PayloadError::DataMatrixFormat)
        );
        assert_eq!(
            PosteDataMatrixPayload::parse(&with(32..33, "5")),
            Err(PayloadError::Notice(NoticeError::BadCheckDigit))
        );
        assert_eq!(
            PosteDataMatrixPayload::parse(&with(35..47, "000000000000")),
            Err(PayloadError::InvalidPostalAccount)
        );
        assert_eq!(
            PosteDataMatrixPayload::parse(&with(49..59, "0000000000")),
            Err(PayloadError::InvalidAmount)
        );
        assert_eq!(
            PosteDataMatrixPayload::parse(&with(77..93, "rssmra80a01h501u")),
            Err(PayloadError::DataMatrixFormat)
        );
        assert_eq!(
            PosteDataMatrixPayload::parse(&with(77..93, " 00229080338    ")),
            Err(PayloadError::DataMatrixFormat)
        );
        assert_eq!(
            PosteDataMatrixPayload::parse(&with(243..244, "x")),
            Err(PayloadError::DataMatrixFormat)
        );
        // A multi-byte character keeps the byte length at 256 but is refused
        // before any slicing.
        let mut multibyte = good.clone();
        multibyte.replace_range(100..102, "é");
        assert_eq!(multibyte.len(), 256);
        assert_eq!(
            PosteDataMatrixPayload::parse(&multibyte),
            Err(PayloadError::DataMatrixFormat)
        );
    }
}
