//! Money as an integer number of euro cents.
//!
//! pagoPA carries amounts as integer cents (Checkout, GPD, QR code) or as
//! decimals with exactly two digits (SOAP). Floats never appear: every
//! conversion goes through integers so that 0,10 + 0,20 is exactly 0,30.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An amount in euro cents: `Cents::new(110)` is 1,10 €.
///
/// Negative values exist (a revoked payment in a reconciliation flow carries
/// a negative amount) but nothing a person types can produce one:
/// [`Cents::parse`] refuses them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
// Serialised as the bare integer because that is what Checkout and GPD send.
#[serde(transparent)]
pub struct Cents(i64);

/// Why a text is not an amount. The Display is an Italian sentence for the
/// person who typed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CentsError {
    /// Nothing was typed.
    #[error("Inserisci un importo, per esempio 12,50")]
    Empty,
    /// A minus sign: amounts to pay are never negative.
    #[error("L'importo non può essere negativo")]
    Negative,
    /// Three or more digits after the decimal separator.
    #[error("L'importo può avere al massimo due decimali, per esempio 12,50")]
    TooManyDecimals,
    /// Letters, misplaced separators or other characters.
    #[error("L'importo deve essere un numero con al massimo due decimali, per esempio 12,50")]
    Invalid,
    /// More than an `i64` of cents can hold.
    #[error("L'importo è troppo grande")]
    TooLarge,
    /// Not in the SOAP form `123.45` (see [`Cents::parse_xml`]).
    #[error("L'importo deve avere il formato 123.45: cifre, un punto e due decimali")]
    InvalidXml,
}

impl Cents {
    /// Zero euro.
    pub const ZERO: Cents = Cents(0);

    /// An amount of `cents` euro cents.
    pub const fn new(cents: i64) -> Self {
        Cents(cents)
    }

    /// The amount in cents.
    pub const fn get(self) -> i64 {
        self.0
    }

    /// True if the amount is more than zero (the only amounts pagoPA accepts
    /// for a payment).
    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// Sum, or `None` on overflow.
    pub const fn checked_add(self, other: Cents) -> Option<Cents> {
        match self.0.checked_add(other.0) {
            Some(v) => Some(Cents(v)),
            None => None,
        }
    }

    /// Difference, or `None` on overflow.
    pub const fn checked_sub(self, other: Cents) -> Option<Cents> {
        match self.0.checked_sub(other.0) {
            Some(v) => Some(Cents(v)),
            None => None,
        }
    }

    /// Product by an integer (e.g. a quantity), or `None` on overflow.
    pub const fn checked_mul(self, factor: i64) -> Option<Cents> {
        match self.0.checked_mul(factor) {
            Some(v) => Some(Cents(v)),
            None => None,
        }
    }

    /// Sum of many amounts, or `None` on overflow. An empty iterator sums to
    /// zero. (Not `std::iter::Sum`, which cannot report overflow.)
    pub fn checked_sum<I: IntoIterator<Item = Cents>>(iter: I) -> Option<Cents> {
        iter.into_iter()
            .try_fold(Cents::ZERO, |acc, c| acc.checked_add(c))
    }

    /// Parses an amount as a person types it in euro.
    ///
    /// Accepted: `1`, `1,10`, `1.10`, `1,1` (1,10 €), ` 12,5 `, `1.234,56`,
    /// `1234.56`, `1,234.56`, an optional `€` before or after. With a single
    /// separator, `,` is always decimal; a single `.` followed by exactly three
    /// digits (`1.234`) is the Italian thousands separator, because no valid
    /// amount has three decimals. Refused: negative amounts, more than two
    /// decimals, empty input, letters, badly placed separators, overflow.
    pub fn parse(input: &str) -> Result<Cents, CentsError> {
        let s = input.trim();
        let s = s
            .strip_prefix('€')
            .or_else(|| s.strip_suffix('€'))
            .unwrap_or(s)
            .trim();
        if s.is_empty() {
            return Err(CentsError::Empty);
        }
        if s.starts_with('-') {
            return Err(CentsError::Negative);
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b',')
        {
            return Err(CentsError::Invalid);
        }

        let (int_part, frac_part, thousands) = split_human(s);
        let frac_cents = match frac_part {
            None => 0,
            Some(f) => {
                if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(CentsError::Invalid);
                }
                match f.len() {
                    1 => i128::from(f.as_bytes()[0] - b'0') * 10,
                    2 => {
                        i128::from(f.as_bytes()[0] - b'0') * 10 + i128::from(f.as_bytes()[1] - b'0')
                    }
                    _ => return Err(CentsError::TooManyDecimals),
                }
            }
        };
        if int_part.is_empty() && frac_part.is_none() {
            return Err(CentsError::Invalid);
        }
        let int_digits = match thousands {
            Some(sep) => ungroup(int_part, sep)?,
            None => {
                if !int_part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(CentsError::Invalid);
                }
                int_part.to_owned()
            }
        };
        let euros = digits_value(&int_digits).ok_or(CentsError::TooLarge)?;
        let total = euros
            .checked_mul(100)
            .and_then(|v| v.checked_add(frac_cents))
            .ok_or(CentsError::TooLarge)?;
        i64::try_from(total)
            .map(Cents)
            .map_err(|_| CentsError::TooLarge)
    }

    /// The SOAP form: exactly two decimals, `.` separator, no thousands
    /// separator (`1.10`, `1234.56`, `-0.05`).
    pub fn to_xml(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        // unsigned_abs: i64::MIN has no positive i64 counterpart.
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }

    /// Strict parse of the SOAP form `\d+\.\d{2}` (the XSD pattern, so leading
    /// zeros are allowed), with an optional leading `-` so that every value
    /// [`Cents::to_xml`] prints parses back. Whether an amount must be
    /// positive is the caller's decision.
    pub fn parse_xml(input: &str) -> Result<Cents, CentsError> {
        let (negative, rest) = match input.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, input),
        };
        let (int_part, frac) = rest.split_once('.').ok_or(CentsError::InvalidXml)?;
        if int_part.is_empty()
            || frac.len() != 2
            || !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(CentsError::InvalidXml);
        }
        let euros = digits_value(int_part).ok_or(CentsError::TooLarge)?;
        let frac = digits_value(frac).ok_or(CentsError::TooLarge)?;
        let magnitude = euros
            .checked_mul(100)
            .and_then(|v| v.checked_add(frac))
            .ok_or(CentsError::TooLarge)?;
        let value = if negative { -magnitude } else { magnitude };
        i64::try_from(value)
            .map(Cents)
            .map_err(|_| CentsError::TooLarge)
    }

    /// Italian form without the euro sign (`1.234,56`), for pre-filling an
    /// input field: [`Cents::parse`] reads it back.
    pub fn to_italian(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let euros = (abs / 100).to_string();
        let mut grouped = String::with_capacity(euros.len() + euros.len() / 3);
        for (i, ch) in euros.chars().enumerate() {
            if i > 0 && (euros.len() - i) % 3 == 0 {
                grouped.push('.');
            }
            grouped.push(ch);
        }
        format!("{sign}{grouped},{:02}", abs % 100)
    }
}

/// Italian format with thousands separator and euro sign: `1.234,56 €`.
impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} €", self.to_italian())
    }
}

impl std::str::FromStr for Cents {
    type Err = CentsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cents::parse(s)
    }
}

/// Splits a human amount into (integer part, decimal part, thousands
/// separator), deciding which of `.` and `,` is the decimal separator.
fn split_human(s: &str) -> (&str, Option<&str>, Option<u8>) {
    let dots = s.bytes().filter(|&b| b == b'.').count();
    let commas = s.bytes().filter(|&b| b == b',').count();
    match (dots, commas) {
        (0, 0) => (s, None, None),
        // Both present: the last one is the decimal separator.
        (_, _) if dots > 0 && commas > 0 => {
            let last_dot = s.rfind('.').unwrap_or(0);
            let last_comma = s.rfind(',').unwrap_or(0);
            let (dec, th) = if last_comma > last_dot {
                (last_comma, b'.')
            } else {
                (last_dot, b',')
            };
            (&s[..dec], Some(&s[dec + 1..]), Some(th))
        }
        // The same separator twice or more can only group thousands.
        (0, n) if n >= 2 => (s, None, Some(b',')),
        (n, 0) if n >= 2 => (s, None, Some(b'.')),
        (0, _) => {
            let (i, f) = s.split_once(',').unwrap_or((s, ""));
            (i, Some(f), None)
        }
        _ => {
            let (i, f) = s.split_once('.').unwrap_or((s, ""));
            // "1.234" is Italian for 1234: three decimals would be invalid
            // anyway. A leading zero ("0.500") is not a grouped number.
            let looks_grouped = f.len() == 3
                && (1..=3).contains(&i.len())
                && !i.starts_with('0')
                && f.bytes().all(|b| b.is_ascii_digit());
            if looks_grouped {
                (s, None, Some(b'.'))
            } else {
                (i, Some(f), None)
            }
        }
    }
}

/// Removes thousands separators, checking that they group by three.
fn ungroup(int_part: &str, sep: u8) -> Result<String, CentsError> {
    let mut out = String::with_capacity(int_part.len());
    for (i, group) in int_part.split(sep as char).enumerate() {
        if !group.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CentsError::Invalid);
        }
        let ok = if i == 0 {
            (1..=3).contains(&group.len()) && !group.starts_with('0')
        } else {
            group.len() == 3
        };
        if !ok {
            return Err(CentsError::Invalid);
        }
        out.push_str(group);
    }
    Ok(out)
}

/// Value of an all-digit string, `None` if it does not fit an `i128`.
fn digits_value(digits: &str) -> Option<i128> {
    digits.bytes().try_fold(0i128, |acc, b| {
        acc.checked_mul(10)?.checked_add(i128::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<i64, CentsError> {
        Cents::parse(s).map(Cents::get)
    }

    #[test]
    fn parses_what_people_type() {
        assert_eq!(p("1"), Ok(100));
        assert_eq!(p("1,10"), Ok(110));
        assert_eq!(p("1.10"), Ok(110));
        assert_eq!(p("1,1"), Ok(110));
        assert_eq!(p("1.1"), Ok(110));
        assert_eq!(p(" 12,5 "), Ok(1250));
        assert_eq!(p("1.234,56"), Ok(123_456));
        assert_eq!(p("1234.56"), Ok(123_456));
        assert_eq!(p("1234,56"), Ok(123_456));
        assert_eq!(p("1,234.56"), Ok(123_456));
        assert_eq!(p("1.234"), Ok(123_400));
        assert_eq!(p("1.234.567"), Ok(123_456_700));
        assert_eq!(p("1.234.567,8"), Ok(123_456_780));
        assert_eq!(p("0,05"), Ok(5));
        assert_eq!(p(",5"), Ok(50));
        assert_eq!(p("12,50 €"), Ok(1250));
        assert_eq!(p("€ 12,50"), Ok(1250));
        assert_eq!(p("007"), Ok(700));
    }

    #[test]
    fn refuses_what_is_not_an_amount() {
        assert_eq!(p(""), Err(CentsError::Empty));
        assert_eq!(p("   "), Err(CentsError::Empty));
        assert_eq!(p("€"), Err(CentsError::Empty));
        assert_eq!(p("-1"), Err(CentsError::Negative));
        assert_eq!(p("-1,00"), Err(CentsError::Negative));
        assert_eq!(p("1,234"), Err(CentsError::TooManyDecimals));
        assert_eq!(p("1,001"), Err(CentsError::TooManyDecimals));
        assert_eq!(p("1234.567"), Err(CentsError::TooManyDecimals));
        assert_eq!(p("0.500"), Err(CentsError::TooManyDecimals));
        assert_eq!(p("1.234,567"), Err(CentsError::TooManyDecimals));
        assert_eq!(p("abc"), Err(CentsError::Invalid));
        assert_eq!(p("12a"), Err(CentsError::Invalid));
        assert_eq!(p("1 000"), Err(CentsError::Invalid));
        assert_eq!(p("1e3"), Err(CentsError::Invalid));
        assert_eq!(p("+1"), Err(CentsError::Invalid));
        assert_eq!(p("12,"), Err(CentsError::Invalid));
        assert_eq!(p("."), Err(CentsError::Invalid));
        assert_eq!(p("1.2.3"), Err(CentsError::Invalid));
        assert_eq!(p("12.34.567"), Err(CentsError::Invalid));
        assert_eq!(p("1,2,3"), Err(CentsError::Invalid));
        assert_eq!(p("1.23,4,5"), Err(CentsError::Invalid));
        assert_eq!(p("1,2.3,4"), Err(CentsError::Invalid));
        assert_eq!(p("99999999999999999999"), Err(CentsError::TooLarge));
        assert_eq!(p("92233720368547758,08"), Err(CentsError::TooLarge));
        assert_eq!(p("92233720368547758,07"), Ok(i64::MAX));
    }

    #[test]
    fn error_messages_are_italian_sentences() {
        assert_eq!(
            CentsError::Invalid.to_string(),
            "L'importo deve essere un numero con al massimo due decimali, per esempio 12,50"
        );
        assert_eq!(
            CentsError::Negative.to_string(),
            "L'importo non può essere negativo"
        );
    }

    #[test]
    fn displays_italian_format() {
        assert_eq!(Cents::new(110).to_string(), "1,10 €");
        assert_eq!(Cents::new(123_456).to_string(), "1.234,56 €");
        assert_eq!(Cents::new(5).to_string(), "0,05 €");
        assert_eq!(Cents::new(0).to_string(), "0,00 €");
        assert_eq!(Cents::new(100_000_000).to_string(), "1.000.000,00 €");
        assert_eq!(Cents::new(-12_345).to_string(), "-123,45 €");
        assert_eq!(
            Cents::new(i64::MIN).to_string(),
            "-92.233.720.368.547.758,08 €"
        );
    }

    #[test]
    fn xml_form() {
        assert_eq!(Cents::new(110).to_xml(), "1.10");
        assert_eq!(Cents::new(5).to_xml(), "0.05");
        assert_eq!(Cents::new(123_456).to_xml(), "1234.56");
        assert_eq!(Cents::new(-5).to_xml(), "-0.05");
        assert_eq!(Cents::parse_xml("123.45"), Ok(Cents::new(12_345)));
        assert_eq!(Cents::parse_xml("0.01"), Ok(Cents::new(1)));
        assert_eq!(Cents::parse_xml("-0.05"), Ok(Cents::new(-5)));
        assert_eq!(
            Cents::parse_xml("999999999.99"),
            Ok(Cents::new(99_999_999_999))
        );
        for bad in [
            "", "1", "1.1", "1.100", "1,10", ".10", "1.", "+1.00", "1.0a", " 1.00", "1.00 ",
            "1.234.56", "--1.00", "-",
        ] {
            assert_eq!(
                Cents::parse_xml(bad),
                Err(CentsError::InvalidXml),
                "{bad:?}"
            );
        }
        assert_eq!(
            Cents::parse_xml("92233720368547758.08"),
            Err(CentsError::TooLarge)
        );
        assert_eq!(
            Cents::parse_xml(&Cents::new(i64::MIN).to_xml()),
            Ok(Cents::new(i64::MIN))
        );
    }

    #[test]
    fn arithmetic_is_checked() {
        let a = Cents::new(10);
        assert_eq!(a.checked_add(Cents::new(20)), Some(Cents::new(30)));
        assert_eq!(a.checked_sub(Cents::new(20)), Some(Cents::new(-10)));
        assert_eq!(a.checked_mul(3), Some(Cents::new(30)));
        assert_eq!(Cents::new(i64::MAX).checked_add(Cents::new(1)), None);
        assert_eq!(Cents::new(i64::MIN).checked_sub(Cents::new(1)), None);
        assert_eq!(Cents::new(i64::MAX).checked_mul(2), None);
        assert_eq!(
            Cents::checked_sum([Cents::new(1), Cents::new(2), Cents::new(3)]),
            Some(Cents::new(6))
        );
        assert_eq!(Cents::checked_sum(Vec::new()), Some(Cents::ZERO));
        assert_eq!(
            Cents::checked_sum([Cents::new(i64::MAX), Cents::new(1)]),
            None
        );
        assert!(a.is_positive());
        assert!(!Cents::ZERO.is_positive());
        assert!(!Cents::new(-1).is_positive());
    }

    #[test]
    fn serde_is_a_plain_integer() {
        assert_eq!(serde_json::to_string(&Cents::new(12_345)).unwrap(), "12345");
        assert_eq!(
            serde_json::from_str::<Cents>("110").unwrap(),
            Cents::new(110)
        );
        assert!(serde_json::from_str::<Cents>("1.10").is_err());
        assert!(serde_json::from_str::<Cents>("\"110\"").is_err());
    }
}
