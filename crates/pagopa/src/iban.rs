//! IBAN (ISO 13616), with the Italian structure checked in full: transfers in
//! a pagoPA payment are credited to the ente's Italian accounts.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a text is not an IBAN. The Display is an Italian sentence for the
/// person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IbanError {
    /// Nothing was typed.
    #[error("Inserisci l'IBAN")]
    Empty,
    /// Something other than letters, digits and spaces.
    #[error("L'IBAN contiene caratteri non ammessi: solo lettere e cifre")]
    InvalidCharacter,
    /// Does not start with two letters.
    #[error("L'IBAN deve iniziare con le due lettere del paese, per esempio IT")]
    InvalidCountry,
    /// The third and fourth characters are not digits.
    #[error("Il terzo e il quarto carattere dell'IBAN devono essere cifre")]
    InvalidCheckDigitsFormat,
    /// Wrong length for a country whose length is known.
    #[error("Un IBAN {country} deve avere {expected} caratteri: ne ha {found}")]
    WrongLength {
        /// The two-letter country code.
        country: String,
        /// The length for that country.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// Outside 15–34 characters for other countries.
    #[error("L'IBAN deve avere da 15 a 34 caratteri: ne ha {0}")]
    LengthOutOfRange(usize),
    /// An Italian (or San Marino) IBAN whose BBAN is not CIN + ABI + CAB +
    /// account.
    #[error(
        "L'IBAN italiano non ha la struttura corretta: dopo IT e due cifre devono seguire una lettera (CIN), 5 cifre (ABI), 5 cifre (CAB) e 12 caratteri di conto"
    )]
    InvalidItalianStructure,
    /// The mod-97 check fails.
    #[error("Le cifre di controllo dell'IBAN non sono corrette: verifica di averlo copiato bene")]
    BadCheckDigits,
}

/// Known lengths for the SEPA countries Sportello is likely to meet.
const LENGTHS: &[(&str, usize)] = &[
    ("IT", 27),
    ("SM", 27),
    ("DE", 22),
    ("FR", 27),
    ("ES", 24),
    ("AT", 20),
    ("BE", 16),
    ("NL", 18),
    ("CH", 21),
    ("GB", 22),
    ("LU", 20),
    ("IE", 22),
    ("PT", 25),
];

/// Adds the characters' ISO 13616 values (digits as they are, A = 10 ...
/// Z = 35) to a running mod-97 remainder, one or two digits at a time so the
/// number never grows beyond a u32.
fn mod97_feed(mut r: u32, s: &[u8]) -> u32 {
    for &c in s {
        r = if c.is_ascii_digit() {
            (r * 10 + u32::from(c - b'0')) % 97
        } else {
            (r * 100 + u32::from(c - b'A') + 10) % 97
        };
    }
    r
}

/// Mod 97 of the rearranged IBAN (BBAN, then country and check digits).
fn iban_mod97(iban: &[u8]) -> u32 {
    mod97_feed(mod97_feed(0, &iban[4..]), &iban[..4])
}

/// An IBAN in electronic form: upper case, no spaces, valid.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Iban(String);

impl Iban {
    /// Parses an IBAN as typed or pasted: whitespace is removed and letters
    /// upper-cased. Checks the country, length (per country where known,
    /// otherwise 15–34), the Italian structure for IT and SM, and mod 97.
    pub fn parse(input: &str) -> Result<Iban, IbanError> {
        let s: String = input
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if s.is_empty() {
            return Err(IbanError::Empty);
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(IbanError::InvalidCharacter);
        }
        let b = s.as_bytes();
        if b.len() < 2 || !b[0].is_ascii_uppercase() || !b[1].is_ascii_uppercase() {
            return Err(IbanError::InvalidCountry);
        }
        if b.len() < 4 || !b[2].is_ascii_digit() || !b[3].is_ascii_digit() {
            return Err(IbanError::InvalidCheckDigitsFormat);
        }
        let country = &s[..2];
        match LENGTHS.iter().find(|(c, _)| *c == country) {
            Some(&(_, expected)) if expected != b.len() => {
                return Err(IbanError::WrongLength {
                    country: country.to_owned(),
                    expected,
                    found: b.len(),
                });
            }
            None if !(15..=34).contains(&b.len()) => {
                return Err(IbanError::LengthOutOfRange(b.len()));
            }
            _ => {}
        }
        if (country == "IT" || country == "SM") && !italian_bban_ok(&b[4..]) {
            return Err(IbanError::InvalidItalianStructure);
        }
        // ISO 13616 check digits are 02..=98: 00, 01 and 99 can satisfy mod
        // 97 too (00 ≡ 97, 01 ≡ 98) but are never issued, and accepting them
        // would give one account two spellings.
        let check = (b[2] - b'0') * 10 + (b[3] - b'0');
        if !(2..=98).contains(&check) || iban_mod97(b) != 1 {
            return Err(IbanError::BadCheckDigits);
        }
        Ok(Iban(s))
    }

    /// Builds an IBAN from a country code and BBAN, computing the check
    /// digits (98 - mod 97 of BBAN + country + "00"), then validates it as
    /// [`Iban::parse`] does. Handy for test data.
    pub fn from_bban(country: &str, bban: &str) -> Result<Iban, IbanError> {
        let country = country.to_ascii_uppercase();
        let bban: String = bban
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let cb = country.as_bytes();
        if cb.len() != 2 || !cb.iter().all(u8::is_ascii_uppercase) {
            return Err(IbanError::InvalidCountry);
        }
        if !bban.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(IbanError::InvalidCharacter);
        }
        let r = mod97_feed(mod97_feed(mod97_feed(0, bban.as_bytes()), cb), b"00");
        Iban::parse(&format!("{country}{:02}{bban}", 98 - r))
    }

    /// The IBAN in electronic form (no spaces).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The two-letter country code.
    pub fn country(&self) -> &str {
        &self.0[..2]
    }

    /// True for an IT IBAN.
    pub fn is_italian(&self) -> bool {
        self.country() == "IT"
    }

    /// The ABI (bank code) of an Italian IBAN.
    pub fn abi(&self) -> Option<&str> {
        self.is_italian().then(|| &self.0[5..10])
    }

    /// The CAB (branch code) of an Italian IBAN.
    pub fn cab(&self) -> Option<&str> {
        self.is_italian().then(|| &self.0[10..15])
    }

    /// True for an Italian IBAN of Poste Italiane (ABI 07601): the ente
    /// then has a postal account and its notices carry the bollettino.
    pub fn is_postal(&self) -> bool {
        self.abi() == Some("07601")
    }

    /// The paper form, in groups of four: `IT60 X054 2811 1010 0000 0123 456`.
    pub fn grouped(&self) -> String {
        crate::notice::group4(&self.0)
    }
}

/// CIN letter, ABI 5 digits, CAB 5 digits, account 12 alphanumerics.
fn italian_bban_ok(bban: &[u8]) -> bool {
    bban.len() == 23
        && bban[0].is_ascii_uppercase()
        && bban[1..11].iter().all(u8::is_ascii_digit)
        && bban[11..].iter().all(u8::is_ascii_alphanumeric)
}

/// The electronic form, no spaces.
impl fmt::Display for Iban {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Iban {
    type Err = IbanError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Iban::parse(s)
    }
}

impl TryFrom<String> for Iban {
    type Error = IbanError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Iban::parse(&s)
    }
}

impl From<Iban> for String {
    fn from(i: Iban) -> String {
        i.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_iban() {
        let i = Iban::from_bban("IT", "X0542811101000000123456").unwrap();
        assert_eq!(i.as_str(), "IT60X0542811101000000123456");
        assert_eq!(i.country(), "IT");
        assert!(i.is_italian());
        assert!(!i.is_postal());
        assert_eq!(i.abi(), Some("05428"));
        assert_eq!(i.cab(), Some("11101"));
        assert_eq!(i.grouped(), "IT60 X054 2811 1010 0000 0123 456");
        assert_eq!(Iban::parse("it60 x054 2811 1010 0000 0123 456"), Ok(i));
    }

    #[test]
    fn postal() {
        let i = Iban::from_bban("IT", "A0760101600000012345678").unwrap();
        assert!(i.is_postal());
        assert_eq!(Iban::parse(i.as_str()), Ok(i));
    }

    #[test]
    fn other_countries() {
        // Published examples of the national formats.
        for s in [
            "DE89370400440532013000",
            "FR1420041010050500013M02606",
            "GB29NWBK60161331926819",
            "ES9121000418450200051332",
            "AT611904300234573201",
            "BE68539007547034",
            "NL91ABNA0417164300",
            "CH9300762011623852957",
            "LU280019400644750000",
            "IE29AIBK93115212345678",
            "PT50000201231234567890154",
            "SM86U0322509800000000270100",
        ] {
            let i = Iban::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert!(!i.is_italian());
            assert_eq!(i.abi(), None);
        }
        // Unknown country: only 15–34 and mod 97.
        assert!(Iban::from_bban("NO", "86011117947").is_ok());
        assert_eq!(
            Iban::from_bban("XX", "1234"),
            Err(IbanError::LengthOutOfRange(8))
        );
    }

    #[test]
    fn errors() {
        assert_eq!(Iban::parse(" "), Err(IbanError::Empty));
        assert_eq!(Iban::parse("IT60-X054"), Err(IbanError::InvalidCharacter));
        assert_eq!(
            Iban::parse("1T60X0542811101000000123456"),
            Err(IbanError::InvalidCountry)
        );
        assert_eq!(Iban::parse("I"), Err(IbanError::InvalidCountry));
        assert_eq!(
            Iban::parse("ITX0X0542811101000000123456"),
            Err(IbanError::InvalidCheckDigitsFormat)
        );
        assert_eq!(Iban::parse("IT"), Err(IbanError::InvalidCheckDigitsFormat));
        let e = Iban::parse("IT60X054281110100000012345").unwrap_err();
        assert_eq!(
            e,
            IbanError::WrongLength {
                country: "IT".into(),
                expected: 27,
                found: 26
            }
        );
        assert_eq!(
            e.to_string(),
            "Un IBAN IT deve avere 27 caratteri: ne ha 26"
        );
        assert_eq!(
            Iban::parse("IT6010542811101000000123456"),
            Err(IbanError::InvalidItalianStructure)
        );
        assert_eq!(
            Iban::parse("IT61X0542811101000000123456"),
            Err(IbanError::BadCheckDigits)
        );
        assert_eq!(
            Iban::parse("DE89370400440532013001"),
            Err(IbanError::BadCheckDigits)
        );
    }

    /// Found by the `parsers` fuzz target (artifact
    /// crash-352311336ffa4bcc99885da8ec8f3420f2bad32f): check digits 00
    /// passed mod 97 because 00 ≡ 97, so `from_bban` rebuilt a different
    /// IBAN (`RS97...`) from the same BBAN.
    #[test]
    fn fuzz_regression_check_digits_out_of_range() {
        assert_eq!(
            Iban::parse("RS0000000MSRHSRA0VL6SSA"),
            Err(IbanError::BadCheckDigits)
        );
        let canonical = Iban::from_bban("RS", "00000MSRHSRA0VL6SSA").unwrap();
        assert_eq!(canonical.as_str(), "RS9700000MSRHSRA0VL6SSA");
        // Same for 01 ≡ 98 on Italian IBANs.
        let i98 = Iban::from_bban("IT", "X0542811101000000000067").unwrap();
        assert_eq!(i98.as_str(), "IT98X0542811101000000000067");
        assert_eq!(
            Iban::parse("IT01X0542811101000000000067"),
            Err(IbanError::BadCheckDigits)
        );
        let i97 = Iban::from_bban("IT", "X0542811101000000000085").unwrap();
        assert_eq!(i97.as_str(), "IT97X0542811101000000000085");
        assert_eq!(
            Iban::parse("IT00X0542811101000000000085"),
            Err(IbanError::BadCheckDigits)
        );
    }

    #[test]
    fn serde_as_string() {
        let i = Iban::parse("IT60X0542811101000000123456").unwrap();
        assert_eq!(
            serde_json::to_string(&i).unwrap(),
            "\"IT60X0542811101000000123456\""
        );
        assert!(serde_json::from_str::<Iban>("\"IT61X0542811101000000123456\"").is_err());
    }
}
