//! Italian fiscal codes: the 16-character code of a person (DM 12/03/1974)
//! and the 11-digit code of a legal person, which follows the partita IVA
//! rules.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a text is not a fiscal code. The Display is an Italian sentence for
/// the person who typed it; positions are 1-based, as people count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FiscalCodeError {
    /// Nothing was typed.
    #[error("Inserisci il codice fiscale")]
    Empty,
    /// Something other than letters and digits.
    #[error("Il codice fiscale contiene caratteri non ammessi: solo lettere e cifre")]
    InvalidCharacter,
    /// Neither 16 nor 11 characters.
    #[error(
        "Il codice fiscale deve avere 16 caratteri (persona fisica) o 11 cifre (persona giuridica): ne ha {0}"
    )]
    WrongLength(usize),
    /// A digit where the personal code has a letter.
    #[error("Il carattere in posizione {0} del codice fiscale deve essere una lettera")]
    ExpectedLetter(usize),
    /// A letter that is not an omocodia substitute where the personal code
    /// has a digit.
    #[error("Il carattere in posizione {0} del codice fiscale deve essere una cifra")]
    ExpectedDigit(usize),
    /// The month letter is not one of ABCDEHLMPRST.
    #[error("Il mese di nascita nel codice fiscale non è valido")]
    InvalidMonth,
    /// The day is not 01–31 (men) or 41–71 (women).
    #[error("Il giorno di nascita nel codice fiscale non è valido")]
    InvalidDay,
    /// The 16th character does not match the other fifteen.
    #[error(
        "Il carattere di controllo del codice fiscale non è corretto: verifica di averlo copiato bene"
    )]
    BadCheckChar,
    /// A partita IVA that is not 11 characters.
    #[error("La partita IVA deve avere 11 cifre: ne ha {0}")]
    PartitaIvaLength(usize),
    /// An 11-character code with letters.
    #[error("Il codice fiscale di una persona giuridica (o partita IVA) contiene solo cifre")]
    PartitaIvaNotNumeric,
    /// The 11th digit does not match the other ten.
    #[error(
        "La cifra di controllo del codice fiscale numerico (partita IVA) non è corretta: verifica di averlo copiato bene"
    )]
    PartitaIvaBadCheckDigit,
}

/// Removes whitespace anywhere (people paste codes with spaces) and
/// upper-cases.
fn normalise(input: &str) -> String {
    input
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Values of the characters in odd positions (1st, 3rd, ...: index 0, 2,
/// ...), for `0`–`9` and `A`–`Z` alike: digit d is worth what the d-th letter
/// is worth.
const ODD: [u32; 26] = [
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
];

/// Months A B C D E H L M P R S T = January to December.
const MONTHS: &[u8; 12] = b"ABCDEHLMPRST";

/// Omocodia substitutes for digits 0 to 9.
const OMOCODIA: &[u8; 10] = b"LMNPQRSTUV";

/// Indices of the seven numeric positions (year, day, place number).
const NUMERIC_POSITIONS: [usize; 7] = [6, 7, 9, 10, 12, 13, 14];

/// Check character over the first 15 characters (upper-case ASCII
/// alphanumerics; anything else would have been refused before).
fn personal_check_char(first15: &[u8]) -> u8 {
    let sum: u32 = first15
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let v = if c.is_ascii_digit() {
                c - b'0'
            } else {
                c.wrapping_sub(b'A')
            };
            let v = usize::from(v) % 26;
            if i % 2 == 0 { ODD[v] } else { v as u32 }
        })
        .sum();
    // sum % 26 < 26, so the cast cannot truncate.
    b'A' + (sum % 26) as u8
}

/// Digit value at a numeric position, undoing omocodia.
fn numeric_value(c: u8) -> Option<u8> {
    if c.is_ascii_digit() {
        Some(c - b'0')
    } else {
        OMOCODIA.iter().position(|&o| o == c).map(|p| p as u8)
    }
}

/// Birth date as encoded in a personal fiscal code. The year has only two
/// digits: the century cannot be known from the code alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BirthDate {
    /// Last two digits of the year, 0–99.
    pub year: u8,
    /// Month, 1–12.
    pub month: u8,
    /// Day of the month, 1–31 (already without the +40 for women).
    pub day: u8,
}

/// The 16-character fiscal code of a person, upper case, possibly with
/// omocodia substitutions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PersonalFiscalCode(String);

impl PersonalFiscalCode {
    /// Parses a personal code: whitespace is removed and letters are
    /// upper-cased; then the structure, month, day and check character are
    /// verified. The day is only checked to be 1–31: refusing 31 April would
    /// add nothing that the check character does not already catch, and
    /// could refuse a code the Agenzia delle Entrate actually issued.
    pub fn parse(input: &str) -> Result<Self, FiscalCodeError> {
        let s = normalise(input);
        if s.is_empty() {
            return Err(FiscalCodeError::Empty);
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(FiscalCodeError::InvalidCharacter);
        }
        if s.len() != 16 {
            return Err(FiscalCodeError::WrongLength(s.chars().count()));
        }
        let b = s.as_bytes();
        for (i, &c) in b.iter().enumerate() {
            if NUMERIC_POSITIONS.contains(&i) {
                if numeric_value(c).is_none() {
                    return Err(FiscalCodeError::ExpectedDigit(i + 1));
                }
            } else if !c.is_ascii_uppercase() {
                return Err(FiscalCodeError::ExpectedLetter(i + 1));
            }
        }
        if !MONTHS.contains(&b[8]) {
            return Err(FiscalCodeError::InvalidMonth);
        }
        let code = PersonalFiscalCode(s);
        let day = code.raw_day();
        if !(1..=31).contains(&day) && !(41..=71).contains(&day) {
            return Err(FiscalCodeError::InvalidDay);
        }
        if personal_check_char(&code.0.as_bytes()[..15]) != code.0.as_bytes()[15] {
            return Err(FiscalCodeError::BadCheckChar);
        }
        Ok(code)
    }

    /// The check character that completes 15 characters, `None` if they
    /// are not upper-case ASCII letters and digits. Useful to build test data.
    pub fn check_char_for(first15: &str) -> Option<char> {
        let b = first15.as_bytes();
        if b.len() != 15
            || !b
                .iter()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        {
            return None;
        }
        Some(char::from(personal_check_char(b)))
    }

    /// Two-digit value at numeric positions `i` and `i + 1`.
    fn pair(&self, i: usize) -> u8 {
        let b = self.0.as_bytes();
        // Validated at construction: both are digits or omocodia letters.
        numeric_value(b[i]).unwrap_or(0) * 10 + numeric_value(b[i + 1]).unwrap_or(0)
    }

    /// Day as written, with +40 for women.
    fn raw_day(&self) -> u8 {
        self.pair(9)
    }

    /// Birth date components, after undoing omocodia.
    pub fn birth_date(&self) -> BirthDate {
        let month_letter = self.0.as_bytes()[8];
        let month = MONTHS
            .iter()
            .position(|&m| m == month_letter)
            .map_or(0, |p| p as u8 + 1);
        let day = self.raw_day();
        BirthDate {
            year: self.pair(6),
            month,
            day: if day > 40 { day - 40 } else { day },
        }
    }

    /// True if the code is a woman's (day + 40).
    pub fn is_female(&self) -> bool {
        self.raw_day() > 40
    }

    /// Place of birth code (cadastral code of the comune, or Z + country),
    /// after undoing omocodia, e.g. `H501` for Rome.
    pub fn place_code(&self) -> String {
        let b = self.0.as_bytes();
        let mut out = String::with_capacity(4);
        out.push(char::from(b[11]));
        for &c in &b[12..15] {
            out.push(char::from(b'0' + numeric_value(c).unwrap_or(0)));
        }
        out
    }

    /// True if any numeric position carries an omocodia letter.
    pub fn is_omocode(&self) -> bool {
        NUMERIC_POSITIONS
            .iter()
            .any(|&i| !self.0.as_bytes()[i].is_ascii_digit())
    }

    /// The code this one derives from: omocodia letters back to digits and
    /// the check character recomputed. Equal to `self` when not an omocode.
    pub fn without_omocodia(&self) -> PersonalFiscalCode {
        let mut b = self.0.as_bytes()[..15].to_vec();
        for &i in &NUMERIC_POSITIONS {
            b[i] = b'0' + numeric_value(b[i]).unwrap_or(0);
        }
        let cc = personal_check_char(&b);
        b.push(cc);
        PersonalFiscalCode(b.into_iter().map(char::from).collect())
    }

    /// The 16 characters, upper case.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PersonalFiscalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for PersonalFiscalCode {
    type Err = FiscalCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for PersonalFiscalCode {
    type Error = FiscalCodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<PersonalFiscalCode> for String {
    fn from(c: PersonalFiscalCode) -> String {
        c.0
    }
}

/// An 11-digit numeric fiscal code: a partita IVA, or the fiscal code of a
/// legal person such as a comune (same format and check digit). pagoPA
/// identifies every ente (EC) by one of these.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PartitaIva(String);

/// Check digit over the first ten digits: odd positions as they are, even
/// positions doubled (minus 9 above 9), then (10 - sum mod 10) mod 10.
fn partita_iva_check_digit(first10: &[u8]) -> u8 {
    let sum: u32 = first10
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let d = u32::from(c - b'0');
            if i % 2 == 0 {
                d
            } else if d * 2 > 9 {
                d * 2 - 9
            } else {
                d * 2
            }
        })
        .sum();
    // Always below 10.
    ((10 - sum % 10) % 10) as u8
}

impl PartitaIva {
    /// Parses 11 digits (whitespace ignored) and verifies the check digit.
    pub fn parse(input: &str) -> Result<Self, FiscalCodeError> {
        let s = normalise(input);
        if s.is_empty() {
            return Err(FiscalCodeError::Empty);
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(if s.chars().all(char::is_alphanumeric) {
                FiscalCodeError::PartitaIvaNotNumeric
            } else {
                FiscalCodeError::InvalidCharacter
            });
        }
        if s.len() != 11 {
            return Err(FiscalCodeError::PartitaIvaLength(s.len()));
        }
        let b = s.as_bytes();
        if partita_iva_check_digit(&b[..10]) != b[10] - b'0' {
            return Err(FiscalCodeError::PartitaIvaBadCheckDigit);
        }
        Ok(PartitaIva(s))
    }

    /// The check digit that completes ten digits, `None` if they are not ten
    /// ASCII digits. Useful to build test data.
    pub fn check_digit_for(first10: &str) -> Option<char> {
        let b = first10.as_bytes();
        if b.len() != 10 || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(char::from(b'0' + partita_iva_check_digit(b)))
    }

    /// The 11 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PartitaIva {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for PartitaIva {
    type Err = FiscalCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for PartitaIva {
    type Error = FiscalCodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<PartitaIva> for String {
    fn from(c: PartitaIva) -> String {
        c.0
    }
}

/// The fiscal code of an ente (EC) as pagoPA's messages carry it: exactly 11
/// digits (`stFiscalCodePA` in the XSD, `[0-9]{11}`).
///
/// Unlike [`PartitaIva`], the check digit is *not* enforced: pagoPA does not
/// enforce it, and codes in its own documents fail it (the QR example
/// `01234567890` in the notes and test vectors). Validate the ente's own code
/// with [`PartitaIva::parse`] where it is configured; use this type where a
/// code is only carried through, as in QR and Data Matrix payloads.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EcFiscalCode(String);

impl EcFiscalCode {
    /// Parses exactly 11 ASCII digits (nothing else, not even spaces: these
    /// codes come from configuration and machines).
    pub fn parse(s: &str) -> Result<Self, FiscalCodeError> {
        if s.is_empty() {
            return Err(FiscalCodeError::Empty);
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FiscalCodeError::PartitaIvaNotNumeric);
        }
        if s.len() != 11 {
            return Err(FiscalCodeError::PartitaIvaLength(s.len()));
        }
        Ok(EcFiscalCode(s.to_owned()))
    }

    /// True if the 11th digit matches the partita IVA rule.
    pub fn has_valid_check_digit(&self) -> bool {
        PartitaIva::parse(&self.0).is_ok()
    }

    /// The 11 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EcFiscalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for EcFiscalCode {
    type Err = FiscalCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for EcFiscalCode {
    type Error = FiscalCodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<EcFiscalCode> for String {
    fn from(c: EcFiscalCode) -> String {
        c.0
    }
}

/// Every valid partita IVA is a valid EC code.
impl From<PartitaIva> for EcFiscalCode {
    fn from(c: PartitaIva) -> Self {
        EcFiscalCode(c.0)
    }
}

/// Any Italian fiscal code: a person's (16 characters) or a legal
/// person's (11 digits).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum FiscalCode {
    /// A natural person.
    Personal(PersonalFiscalCode),
    /// A legal person (or a sole trader identified by partita IVA).
    Legal(PartitaIva),
}

impl FiscalCode {
    /// Parses either kind, chosen by length after removing whitespace.
    pub fn parse(input: &str) -> Result<Self, FiscalCodeError> {
        let s = normalise(input);
        if s.is_empty() {
            return Err(FiscalCodeError::Empty);
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(FiscalCodeError::InvalidCharacter);
        }
        match s.len() {
            16 => PersonalFiscalCode::parse(&s).map(FiscalCode::Personal),
            11 => PartitaIva::parse(&s).map(FiscalCode::Legal),
            n => Err(FiscalCodeError::WrongLength(n)),
        }
    }

    /// The code, upper case, no spaces.
    pub fn as_str(&self) -> &str {
        match self {
            FiscalCode::Personal(p) => p.as_str(),
            FiscalCode::Legal(l) => l.as_str(),
        }
    }

    /// True for the 11-digit code of a legal person.
    pub fn is_legal_person(&self) -> bool {
        matches!(self, FiscalCode::Legal(_))
    }
}

impl fmt::Display for FiscalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for FiscalCode {
    type Err = FiscalCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for FiscalCode {
    type Error = FiscalCodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<FiscalCode> for String {
    fn from(c: FiscalCode) -> String {
        match c {
            FiscalCode::Personal(p) => p.into(),
            FiscalCode::Legal(l) => l.into(),
        }
    }
}

impl From<PersonalFiscalCode> for FiscalCode {
    fn from(c: PersonalFiscalCode) -> Self {
        FiscalCode::Personal(c)
    }
}

impl From<PartitaIva> for FiscalCode {
    fn from(c: PartitaIva) -> Self {
        FiscalCode::Legal(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_codes() {
        let c = PersonalFiscalCode::parse("RSSMRA80A01H501U").unwrap();
        assert_eq!(
            c.birth_date(),
            BirthDate {
                year: 80,
                month: 1,
                day: 1
            }
        );
        assert!(!c.is_female());
        assert_eq!(c.place_code(), "H501");
        assert!(!c.is_omocode());
        assert_eq!(c.without_omocodia(), c);

        let w = PersonalFiscalCode::parse("BNCGLI85M41G337L").unwrap();
        assert!(w.is_female());
        assert_eq!(
            w.birth_date(),
            BirthDate {
                year: 85,
                month: 8,
                day: 1
            }
        );

        let o = PersonalFiscalCode::parse("RSSMRA80A01H50MM").unwrap();
        assert!(o.is_omocode());
        assert_eq!(o.place_code(), "H501");
        assert_eq!(o.without_omocodia().as_str(), "RSSMRA80A01H501U");

        let lower = PersonalFiscalCode::parse("  rssmra80a01h501u ").unwrap();
        assert_eq!(lower.as_str(), "RSSMRA80A01H501U");
        assert_eq!(
            PersonalFiscalCode::parse("RSS MRA 80A01 H501U").unwrap(),
            lower
        );
    }

    #[test]
    fn full_omocode_decodes() {
        // Every numeric position substituted: 80 -> UL, 01 -> LM, 501 -> RLM.
        let first15 = "RSSMRAULALMHRLM";
        let cc = PersonalFiscalCode::check_char_for(first15).unwrap();
        let c = PersonalFiscalCode::parse(&format!("{first15}{cc}")).unwrap();
        assert_eq!(
            c.birth_date(),
            BirthDate {
                year: 80,
                month: 1,
                day: 1
            }
        );
        assert_eq!(c.place_code(), "H501");
        assert_eq!(c.without_omocodia().as_str(), "RSSMRA80A01H501U");
    }

    #[test]
    fn personal_errors() {
        use FiscalCodeError as E;
        let p = |s| PersonalFiscalCode::parse(s);
        assert_eq!(p(""), Err(E::Empty));
        assert_eq!(p("RSSMRA80A01H501X"), Err(E::BadCheckChar));
        assert_eq!(p("RSSMRA80A01H501"), Err(E::WrongLength(15)));
        assert_eq!(p("RSSMRA80Z01H501U"), Err(E::InvalidMonth));
        assert_eq!(p("RSSMRA80A32H501U"), Err(E::InvalidDay));
        assert_eq!(p("RSSMRA80A00H501U"), Err(E::InvalidDay));
        assert_eq!(p("RSSMRA80A72H501U"), Err(E::InvalidDay));
        assert_eq!(p("RSSMR180A01H501U"), Err(E::ExpectedLetter(6)));
        assert_eq!(p("RSSMRA8AA01H501U"), Err(E::ExpectedDigit(8)));
        assert_eq!(p("RSSMRA80A01H5O1U"), Err(E::ExpectedDigit(14)));
        assert_eq!(p("RSSMRA80A01H501-"), Err(E::InvalidCharacter));
        assert_eq!(p("RSSMRA80A01H501È"), Err(E::InvalidCharacter));
        assert_eq!(
            E::BadCheckChar.to_string(),
            "Il carattere di controllo del codice fiscale non è corretto: verifica di averlo copiato bene"
        );
        assert_eq!(
            E::InvalidMonth.to_string(),
            "Il mese di nascita nel codice fiscale non è valido"
        );
    }

    #[test]
    fn partita_iva() {
        let p = PartitaIva::parse("00229080338").unwrap();
        assert_eq!(p.as_str(), "00229080338");
        assert_eq!(PartitaIva::check_digit_for("0022908033"), Some('8'));
        assert_eq!(
            PartitaIva::parse("00229080339"),
            Err(FiscalCodeError::PartitaIvaBadCheckDigit)
        );
        assert_eq!(
            PartitaIva::parse("0022908033"),
            Err(FiscalCodeError::PartitaIvaLength(10))
        );
        assert_eq!(
            PartitaIva::parse("0022908033A"),
            Err(FiscalCodeError::PartitaIvaNotNumeric)
        );
        assert_eq!(
            PartitaIva::parse("0022908033-"),
            Err(FiscalCodeError::InvalidCharacter)
        );
        assert_eq!(PartitaIva::parse(""), Err(FiscalCodeError::Empty));
    }

    #[test]
    fn either_kind() {
        let l = FiscalCode::parse("00229080338").unwrap();
        assert!(l.is_legal_person());
        assert_eq!(l.to_string(), "00229080338");
        let p = FiscalCode::parse("rssmra80a01h501u").unwrap();
        assert!(!p.is_legal_person());
        assert_eq!(p.as_str(), "RSSMRA80A01H501U");
        assert_eq!(
            FiscalCode::parse("0022908033"),
            Err(FiscalCodeError::WrongLength(10))
        );
        assert_eq!(
            FiscalCodeError::WrongLength(10).to_string(),
            "Il codice fiscale deve avere 16 caratteri (persona fisica) o 11 cifre (persona giuridica): ne ha 10"
        );
        assert_eq!(
            FiscalCode::parse("RSSMRA80A01"),
            Err(FiscalCodeError::PartitaIvaNotNumeric)
        );
        assert_eq!(
            FiscalCode::parse("RSSMRA80A01H501U."),
            Err(FiscalCodeError::InvalidCharacter)
        );
    }

    #[test]
    fn ec_fiscal_code_is_eleven_digits() {
        let e = EcFiscalCode::parse("01234567890").unwrap();
        assert!(!e.has_valid_check_digit());
        assert_eq!(e.as_str(), "01234567890");
        let p: EcFiscalCode = PartitaIva::parse("00229080338").unwrap().into();
        assert!(p.has_valid_check_digit());
        assert_eq!(EcFiscalCode::parse(""), Err(FiscalCodeError::Empty));
        assert_eq!(
            EcFiscalCode::parse("0123456789"),
            Err(FiscalCodeError::PartitaIvaLength(10))
        );
        for bad in [
            " 0123456789",
            "0123456789a",
            "RSSMRA80A01H501U",
            "٠1234567890",
        ] {
            assert_eq!(
                EcFiscalCode::parse(bad),
                Err(FiscalCodeError::PartitaIvaNotNumeric)
            );
        }
    }

    #[test]
    fn serde_as_strings() {
        let p = FiscalCode::parse("RSSMRA80A01H501U").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"RSSMRA80A01H501U\"");
        assert_eq!(
            serde_json::from_str::<FiscalCode>("\"00229080338\"").unwrap(),
            FiscalCode::parse("00229080338").unwrap()
        );
        assert!(serde_json::from_str::<FiscalCode>("\"00229080339\"").is_err());
        assert!(serde_json::from_str::<PartitaIva>("\"00229080339\"").is_err());
    }
}
