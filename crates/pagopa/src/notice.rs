//! Notice numbers (NAV, "codice avviso") and IUV.
//!
//! | aux | NAV | IUV | check digit over |
//! |---|---|---|---|
//! | 0 (legacy) | 0 + application code(2) + base(13) + cd(2) | base+cd (15) | "0"+app+base |
//! | 1 (legacy) | 1 + base(17) | base (17), no check digit | — |
//! | 2 (legacy) | 2 + base(15) + cd(2) | base+cd (17) | "2"+base |
//! | 3 (current) | 3 + segregation code(2) + base(13) + cd(2) | seg+base+cd (17) | "3"+seg+base |
//!
//! The check digit is the first 16 digits, read as an integer, mod 93, as two
//! zero-padded digits. Because 93 = 3 × 31 and 31 is prime to 10, every
//! single-digit substitution changes the remainder: a mistyped digit is always
//! caught (for aux 0, 2 and 3; aux 1 has no check digit).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a text is not a notice number or IUV. The Display is an Italian
/// sentence for the person who typed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoticeError {
    /// Nothing was typed.
    #[error("Inserisci il codice avviso: 18 cifre, per esempio 3010 0000 0000 0001 44")]
    Empty,
    /// Something other than digits, spaces and dashes.
    #[error("Il codice avviso contiene caratteri non numerici")]
    NonNumeric,
    /// Not 18 digits (the count is the number of digits found).
    #[error("Il codice avviso deve contenere 18 cifre: ne contiene {0}")]
    WrongLength(usize),
    /// The first digit is not 0, 1, 2 or 3.
    #[error("La prima cifra del codice avviso deve essere 0, 1, 2 o 3")]
    InvalidAux,
    /// The last two digits do not match the rest.
    #[error(
        "La cifra di controllo del codice avviso non è corretta: verifica di averlo copiato bene"
    )]
    BadCheckDigit,
    /// An IUV is 15 or 17 digits.
    #[error("Il codice IUV deve contenere 15 o 17 cifre")]
    InvalidIuv,
    /// A segregation or application code is two digits.
    #[error("Il codice di segregazione o di applicazione deve essere di 2 cifre")]
    InvalidTwoDigitCode,
    /// The IUV length or the application code does not fit the aux digit.
    #[error("Il codice IUV non è compatibile con il tipo di codice avviso")]
    IuvDoesNotFitAux,
    /// The sequence does not fit the 13-digit IUV base.
    #[error("Il numero progressivo dello IUV supera le 13 cifre disponibili")]
    SequenceTooLarge,
}

/// The first digit of a NAV, which says how the rest is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AuxDigit {
    /// Legacy: application code + 13-digit base + check digit.
    Zero,
    /// Legacy: 17-digit IUV without check digit.
    One,
    /// Legacy: 15-digit base + check digit.
    Two,
    /// Current: segregation code + 13-digit base + check digit.
    Three,
}

impl AuxDigit {
    /// The aux digit for `0..=3`, `None` otherwise.
    pub const fn from_digit(d: u8) -> Option<AuxDigit> {
        match d {
            0 => Some(AuxDigit::Zero),
            1 => Some(AuxDigit::One),
            2 => Some(AuxDigit::Two),
            3 => Some(AuxDigit::Three),
            _ => None,
        }
    }

    /// The digit value, 0 to 3.
    pub const fn digit(self) -> u8 {
        match self {
            AuxDigit::Zero => 0,
            AuxDigit::One => 1,
            AuxDigit::Two => 2,
            AuxDigit::Three => 3,
        }
    }

    /// True for all but aux 1, the only layout without a check digit.
    pub const fn has_check_digit(self) -> bool {
        !matches!(self, AuxDigit::One)
    }

    /// Length of the IUV inside a NAV with this aux digit.
    pub const fn iuv_len(self) -> usize {
        match self {
            AuxDigit::Zero => 15,
            _ => 17,
        }
    }
}

impl fmt::Display for AuxDigit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.digit())
    }
}

/// Parses exactly two ASCII digits.
fn two_digits(s: &str) -> Result<u8, NoticeError> {
    match s.as_bytes() {
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => Ok((a - b'0') * 10 + (b - b'0')),
        _ => Err(NoticeError::InvalidTwoDigitCode),
    }
}

/// The two-digit segregation code pagoPA assigns to a station; it starts the
/// IUV of every aux-3 notice, so the node can route a NAV to the right
/// station of an ente.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SegregationCode(u8);

impl SegregationCode {
    /// The code for `0..=99`, `None` otherwise.
    pub const fn new(code: u8) -> Option<Self> {
        if code <= 99 { Some(Self(code)) } else { None }
    }

    /// Parses exactly two digits, e.g. `"01"`.
    pub fn parse(s: &str) -> Result<Self, NoticeError> {
        two_digits(s).map(Self)
    }

    /// The numeric value, 0 to 99.
    pub const fn get(self) -> u8 {
        self.0
    }
}

/// Always two digits, zero-padded: `01`.
impl fmt::Display for SegregationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}", self.0)
    }
}

impl TryFrom<String> for SegregationCode {
    type Error = NoticeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<SegregationCode> for String {
    fn from(c: SegregationCode) -> String {
        c.to_string()
    }
}

/// The two-digit application code of a legacy aux-0 NAV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ApplicationCode(u8);

impl ApplicationCode {
    /// The code for `0..=99`, `None` otherwise.
    pub const fn new(code: u8) -> Option<Self> {
        if code <= 99 { Some(Self(code)) } else { None }
    }

    /// Parses exactly two digits, e.g. `"01"`.
    pub fn parse(s: &str) -> Result<Self, NoticeError> {
        two_digits(s).map(Self)
    }

    /// The numeric value, 0 to 99.
    pub const fn get(self) -> u8 {
        self.0
    }
}

/// Always two digits, zero-padded: `01`.
impl fmt::Display for ApplicationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}", self.0)
    }
}

impl TryFrom<String> for ApplicationCode {
    type Error = NoticeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ApplicationCode> for String {
    fn from(c: ApplicationCode) -> String {
        c.to_string()
    }
}

/// Identificativo Univoco di Versamento: 15 or 17 digits, the
/// `creditorReferenceId` of the SOAP messages.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Iuv(String);

impl Iuv {
    /// Strict parse: exactly 15 or 17 ASCII digits, nothing else (IUVs come
    /// from machines; people type a NAV, see [`NoticeNumber::parse_code_or_iuv`]).
    pub fn parse(s: &str) -> Result<Iuv, NoticeError> {
        if (s.len() == 15 || s.len() == 17) && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Iuv(s.to_owned()))
        } else {
            Err(NoticeError::InvalidIuv)
        }
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Iuv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Iuv {
    type Err = NoticeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Iuv::parse(s)
    }
}

impl TryFrom<String> for Iuv {
    type Error = NoticeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Iuv::parse(&s)
    }
}

impl From<Iuv> for String {
    fn from(i: Iuv) -> String {
        i.0
    }
}

/// An 18-digit notice number (NAV, "codice avviso"), always valid: only
/// digits, aux digit 0–3, correct check digit where the layout has one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NoticeNumber(String);

/// Check digit of the first 16 digits of a NAV: their value mod 93. Callers
/// pass exactly 16 ASCII digits, so the value is below 10^16 and fits a u64.
fn check_digit(first16: &[u8]) -> u64 {
    first16
        .iter()
        .fold(0u64, |acc, &b| acc * 10 + u64::from(b - b'0'))
        % 93
}

impl NoticeNumber {
    /// Parses a NAV as a person types it: spaces (any whitespace) and dashes
    /// are ignored anywhere, so `3010 0000 0000 0001 44` and
    /// `3010-0000-0000-0001-44` are accepted. The result is validated: only
    /// digits, exactly 18, aux digit 0–3, check digit.
    pub fn parse(input: &str) -> Result<NoticeNumber, NoticeError> {
        let digits: String = input
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if digits.is_empty() {
            return Err(NoticeError::Empty);
        }
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NoticeError::NonNumeric);
        }
        Self::from_digits(digits)
    }

    /// Validates an all-ASCII-digit string.
    fn from_digits(digits: String) -> Result<NoticeNumber, NoticeError> {
        let b = digits.as_bytes();
        if b.len() != 18 {
            return Err(NoticeError::WrongLength(b.len()));
        }
        let aux = AuxDigit::from_digit(b[0] - b'0').ok_or(NoticeError::InvalidAux)?;
        if aux.has_check_digit() {
            let expected = check_digit(&b[..16]);
            let found = u64::from(b[16] - b'0') * 10 + u64::from(b[17] - b'0');
            if expected != found {
                return Err(NoticeError::BadCheckDigit);
            }
        }
        Ok(NoticeNumber(digits))
    }

    /// Builds a new aux-3 NAV: `3` + segregation code + `sequence` as 13
    /// zero-padded digits + check digit. The sequence must come from a
    /// database sequence (IUVs are unique per ente for ever) and be below
    /// 10^13.
    pub fn from_aux3(seg: SegregationCode, sequence: u64) -> Result<NoticeNumber, NoticeError> {
        if sequence >= 10_000_000_000_000 {
            return Err(NoticeError::SequenceTooLarge);
        }
        let first16 = format!("3{seg}{sequence:013}");
        let cd = check_digit(first16.as_bytes());
        Ok(NoticeNumber(format!("{first16}{cd:02}")))
    }

    /// Rebuilds the NAV from its IUV: aux 0 needs a 15-digit IUV and the
    /// application code; aux 1, 2 and 3 need a 17-digit IUV and no application
    /// code. The IUV's own check digit is verified.
    pub fn from_iuv(
        aux: AuxDigit,
        iuv: &Iuv,
        app: Option<ApplicationCode>,
    ) -> Result<NoticeNumber, NoticeError> {
        let digits = match (aux, app) {
            (AuxDigit::Zero, Some(app)) if iuv.as_str().len() == 15 => {
                format!("0{app}{iuv}")
            }
            (AuxDigit::One | AuxDigit::Two | AuxDigit::Three, None) if iuv.as_str().len() == 17 => {
                format!("{aux}{iuv}")
            }
            _ => return Err(NoticeError::IuvDoesNotFitAux),
        };
        Self::from_digits(digits)
    }

    /// Lenient entry for a person who may type either the full NAV or only
    /// the IUV of one of this station's aux-3 notices: 17 digits starting
    /// with `seg` are read as that IUV (the NAV is `3` + IUV, and its check
    /// digit must hold). Anything else is parsed as a NAV, so the errors are
    /// those of [`NoticeNumber::parse`] (17 digits not starting with `seg`
    /// give "deve contenere 18 cifre: ne contiene 17").
    pub fn parse_code_or_iuv(
        input: &str,
        seg: SegregationCode,
    ) -> Result<NoticeNumber, NoticeError> {
        let digits: String = input
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        let seg = seg.to_string();
        if digits.len() == 17
            && digits.starts_with(&seg)
            && digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Self::from_digits(format!("3{digits}"));
        }
        Self::parse(&digits)
    }

    /// The aux digit.
    pub fn aux(&self) -> AuxDigit {
        // The constructor guarantees the first byte is '0'..='3'.
        match self.0.as_bytes()[0] {
            b'0' => AuxDigit::Zero,
            b'1' => AuxDigit::One,
            b'2' => AuxDigit::Two,
            _ => AuxDigit::Three,
        }
    }

    /// The IUV: the last 15 digits for aux 0, the last 17 otherwise.
    pub fn iuv(&self) -> Iuv {
        Iuv(self.0[18 - self.aux().iuv_len()..].to_owned())
    }

    /// The segregation code (aux 3 only).
    pub fn segregation_code(&self) -> Option<SegregationCode> {
        match self.aux() {
            AuxDigit::Three => SegregationCode::parse(&self.0[1..3]).ok(),
            _ => None,
        }
    }

    /// The application code (aux 0 only).
    pub fn application_code(&self) -> Option<ApplicationCode> {
        match self.aux() {
            AuxDigit::Zero => ApplicationCode::parse(&self.0[1..3]).ok(),
            _ => None,
        }
    }

    /// The 18 digits, no separators: the form pagoPA's messages use.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Groups of four for print and screen: `3010 0000 0000 0001 44`.
    pub fn grouped(&self) -> String {
        group4(&self.0)
    }
}

/// Inserts a space every four characters (ASCII input).
pub(crate) fn group4(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 4);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push(' ');
        }
        out.push(ch);
    }
    out
}

/// The 18 digits, no separators (use [`NoticeNumber::grouped`] for people).
impl fmt::Display for NoticeNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for NoticeNumber {
    type Err = NoticeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NoticeNumber::parse(s)
    }
}

impl TryFrom<String> for NoticeNumber {
    type Error = NoticeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        NoticeNumber::parse(&s)
    }
}

impl From<NoticeNumber> for String {
    fn from(n: NoticeNumber) -> String {
        n.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(s: &str) -> SegregationCode {
        SegregationCode::parse(s).unwrap()
    }

    #[test]
    fn parses_with_spaces_and_dashes() {
        let n = NoticeNumber::parse("3010 0000 0000 0001 44").unwrap();
        assert_eq!(n.as_str(), "301000000000000144");
        assert_eq!(n.aux(), AuxDigit::Three);
        assert_eq!(n.iuv().as_str(), "01000000000000144");
        assert_eq!(n.segregation_code(), Some(seg("01")));
        assert_eq!(n.application_code(), None);
        assert_eq!(n.grouped(), "3010 0000 0000 0001 44");
        assert_eq!(n.to_string(), "301000000000000144");
        assert_eq!(NoticeNumber::parse(" 3010-0000-0000-0001-44\t").unwrap(), n);
    }

    #[test]
    fn aux0_layout() {
        let n = NoticeNumber::parse("001110000000000164").unwrap();
        assert_eq!(n.aux(), AuxDigit::Zero);
        assert_eq!(n.iuv().as_str(), "110000000000164");
        assert_eq!(n.application_code(), ApplicationCode::new(1));
        assert_eq!(n.segregation_code(), None);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(NoticeNumber::parse(""), Err(NoticeError::Empty));
        assert_eq!(NoticeNumber::parse(" - "), Err(NoticeError::Empty));
        assert_eq!(
            NoticeNumber::parse("31000000000009020"),
            Err(NoticeError::WrongLength(17))
        );
        assert_eq!(
            NoticeError::WrongLength(17).to_string(),
            "Il codice avviso deve contenere 18 cifre: ne contiene 17"
        );
        assert_eq!(
            NoticeNumber::parse("3100000000000902O3"),
            Err(NoticeError::NonNumeric)
        );
        assert_eq!(
            NoticeNumber::parse("3100000000000902٣3"),
            Err(NoticeError::NonNumeric)
        );
        assert_eq!(
            NoticeNumber::parse("410000000000090203"),
            Err(NoticeError::InvalidAux)
        );
        assert_eq!(
            NoticeNumber::parse("301000000000000145"),
            Err(NoticeError::BadCheckDigit)
        );
        assert_eq!(
            NoticeError::BadCheckDigit.to_string(),
            "La cifra di controllo del codice avviso non è corretta: verifica di averlo copiato bene"
        );
    }

    #[test]
    fn aux1_has_no_check_digit() {
        let n = NoticeNumber::parse("112345678901234567").unwrap();
        assert_eq!(n.aux(), AuxDigit::One);
        assert_eq!(n.iuv().as_str(), "12345678901234567");
        assert!(NoticeNumber::parse("112345678901234568").is_ok());
    }

    #[test]
    fn from_aux3_builds_valid_navs() {
        let n = NoticeNumber::from_aux3(seg("01"), 1).unwrap();
        assert_eq!(n.as_str(), "301000000000000144");
        let n = NoticeNumber::from_aux3(seg("10"), 902).unwrap();
        assert_eq!(n.as_str(), "310000000000090203");
        let max = NoticeNumber::from_aux3(seg("99"), 9_999_999_999_999).unwrap();
        assert_eq!(NoticeNumber::parse(max.as_str()), Ok(max));
        assert_eq!(
            NoticeNumber::from_aux3(seg("01"), 10_000_000_000_000),
            Err(NoticeError::SequenceTooLarge)
        );
    }

    #[test]
    fn from_iuv_rebuilds_navs() {
        let iuv = Iuv::parse("01000000000000144").unwrap();
        assert_eq!(
            NoticeNumber::from_iuv(AuxDigit::Three, &iuv, None)
                .unwrap()
                .as_str(),
            "301000000000000144"
        );
        let iuv15 = Iuv::parse("110000000000164").unwrap();
        assert_eq!(
            NoticeNumber::from_iuv(AuxDigit::Zero, &iuv15, ApplicationCode::new(1))
                .unwrap()
                .as_str(),
            "001110000000000164"
        );
        assert_eq!(
            NoticeNumber::from_iuv(AuxDigit::Zero, &iuv15, None),
            Err(NoticeError::IuvDoesNotFitAux)
        );
        assert_eq!(
            NoticeNumber::from_iuv(AuxDigit::Three, &iuv15, None),
            Err(NoticeError::IuvDoesNotFitAux)
        );
        assert_eq!(
            NoticeNumber::from_iuv(AuxDigit::Three, &iuv, ApplicationCode::new(1)),
            Err(NoticeError::IuvDoesNotFitAux)
        );
        let bad = Iuv::parse("01000000000000145").unwrap();
        assert_eq!(
            NoticeNumber::from_iuv(AuxDigit::Three, &bad, None),
            Err(NoticeError::BadCheckDigit)
        );
    }

    #[test]
    fn code_or_iuv() {
        let s = seg("01");
        let nav = NoticeNumber::parse("301000000000000144").unwrap();
        assert_eq!(
            NoticeNumber::parse_code_or_iuv("01000000000000144", s),
            Ok(nav.clone())
        );
        assert_eq!(
            NoticeNumber::parse_code_or_iuv("0100 0000 0000 0014 4", s),
            Ok(nav.clone())
        );
        assert_eq!(
            NoticeNumber::parse_code_or_iuv("3010 0000 0000 0001 44", s),
            Ok(nav)
        );
        assert_eq!(
            NoticeNumber::parse_code_or_iuv("01000000000000145", s),
            Err(NoticeError::BadCheckDigit)
        );
        assert_eq!(
            NoticeNumber::parse_code_or_iuv("47202400000012373", s),
            Err(NoticeError::WrongLength(17))
        );
        assert_eq!(
            NoticeNumber::parse_code_or_iuv("47202400000012373", seg("47")),
            Ok(NoticeNumber::parse("347202400000012373").unwrap())
        );
        assert_eq!(
            NoticeNumber::parse_code_or_iuv("0100000000000014x", s),
            Err(NoticeError::NonNumeric)
        );
    }

    #[test]
    fn two_digit_codes() {
        assert_eq!(SegregationCode::parse("01").unwrap().get(), 1);
        assert_eq!(SegregationCode::parse("01").unwrap().to_string(), "01");
        for bad in ["1", "001", "a1", "", "٣1"] {
            assert_eq!(
                SegregationCode::parse(bad),
                Err(NoticeError::InvalidTwoDigitCode)
            );
            assert!(ApplicationCode::parse(bad).is_err());
        }
        assert_eq!(SegregationCode::new(100), None);
        assert_eq!(ApplicationCode::new(7).unwrap().to_string(), "07");
    }

    #[test]
    fn iuv_is_15_or_17_digits() {
        assert!(Iuv::parse("110000000000164").is_ok());
        assert!(Iuv::parse("01000000000000144").is_ok());
        for bad in [
            "",
            "1100000000001640",
            "0100000000000014",
            " 110000000000164",
            "11000000000016a",
        ] {
            assert_eq!(Iuv::parse(bad), Err(NoticeError::InvalidIuv));
        }
    }

    #[test]
    fn serde_as_strings() {
        let n = NoticeNumber::parse("301000000000000144").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"301000000000000144\"");
        assert_eq!(
            serde_json::from_str::<NoticeNumber>("\"301000000000000144\"").unwrap(),
            n
        );
        assert!(serde_json::from_str::<NoticeNumber>("\"301000000000000145\"").is_err());
        assert_eq!(serde_json::to_string(&seg("01")).unwrap(), "\"01\"");
        assert_eq!(
            serde_json::from_str::<SegregationCode>("\"47\"").unwrap(),
            seg("47")
        );
        assert_eq!(
            serde_json::to_string(&n.iuv()).unwrap(),
            "\"01000000000000144\""
        );
    }
}
