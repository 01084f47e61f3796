//! The service catalog (tipi dovuto): what a citizen can pay spontaneously, each service with a
//! form defined as data, a causale template and the transfers the money goes to.

use std::collections::BTreeMap;

use pagopa::{Cents, FiscalCode, Iban};
use serde::{Deserialize, Serialize};

use crate::accounts::FieldErrors;
use crate::clock::parse_date;
use crate::config::looks_like_email;

/// The kinds of field a service form can have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Free text.
    Text,
    /// A whole number.
    Integer,
    /// Euro, as a person types it ("12,50").
    Amount,
    /// A date, gg/mm/aaaa.
    Date,
    /// A month or installment number, 01–12.
    Month,
    /// A codice fiscale or a partita IVA.
    FiscalCode,
    /// An Italian vehicle plate.
    Plate,
    /// An e-mail address.
    Email,
    /// One of a list of values.
    Choice,
}

/// What a field means to Sportello beyond the causale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldRole {
    /// The amount to pay.
    Amount,
    /// The debtor's name (cognome e nome o ragione sociale).
    DebtorName,
    /// The debtor's fiscal code or VAT number.
    DebtorFiscalCode,
    /// Where the outcome of the payment is sent.
    Email,
}

/// One field of a service form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDef {
    /// Form key, also the placeholder in the causale template (`{numero_verbale}`).
    pub key: String,
    /// Label shown to the citizen.
    pub label: String,
    /// Kind of value.
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// Whether it must be filled.
    #[serde(default)]
    pub required: bool,
    /// A regular-expression-free pattern: allowed characters and length, checked on the server.
    /// Format: `min..max` characters (e.g. `1..20`); the browser also gets it as `maxlength`.
    #[serde(default)]
    pub length: Option<String>,
    /// Help text under the field.
    #[serde(default)]
    pub help: String,
    /// Values of a `choice` field.
    #[serde(default)]
    pub options: Vec<String>,
    /// Special meaning, if any.
    #[serde(default)]
    pub role: Option<FieldRole>,
}

/// How the amount of a service is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum AmountRule {
    /// Always the same amount.
    Fixed {
        /// The amount, in cents.
        cents: i64,
    },
    /// Typed by the citizen, within bounds.
    Entered {
        /// Minimum, in cents.
        min_cents: i64,
        /// Maximum, in cents.
        max_cents: i64,
    },
}

/// Where a share of the money goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferDef {
    /// IBAN.
    pub iban: String,
    /// pagoPA taxonomy category (e.g. `9/0101108TS/`).
    pub category: String,
    /// Remittance information (causale of the transfer); `{causale}` is replaced.
    pub remittance: String,
    /// Share of the amount in percent (the last transfer takes the rounding rest).
    pub percent: u8,
}

/// A service of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDef {
    /// Code (e.g. `multe`).
    pub code: String,
    /// Name shown to citizens ("Dovuto").
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Whether a citizen can start a payment of it.
    pub spontaneous: bool,
    /// Whether its notices can be paid by someone else.
    pub pay_for_others: bool,
    /// Amount rule.
    pub amount: AmountRule,
    /// Causale template with `{key}` placeholders.
    pub causale: String,
    /// Days from today to the due date of a spontaneous payment.
    #[serde(default = "default_due_days")]
    pub due_days: u16,
    /// Form fields, in order.
    #[serde(rename = "field")]
    pub fields: Vec<FieldDef>,
    /// Transfers (1–5, percentages summing to 100).
    #[serde(rename = "transfer")]
    pub transfers: Vec<TransferDef>,
}

fn default_due_days() -> u16 {
    30
}

/// The catalog file: `[[service]]` tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// Services.
    #[serde(rename = "service")]
    pub services: Vec<ServiceDef>,
}

/// The demo catalog: the two services of the manual and a third.
pub const DEMO_CATALOG: &str = include_str!("../../../../config/catalog.demo.toml");

impl Catalog {
    /// Parses and checks a catalog.
    pub fn parse(text: &str) -> Result<Catalog, String> {
        let catalog: Catalog = toml::from_str(text).map_err(|e| e.to_string())?;
        catalog.check()?;
        Ok(catalog)
    }

    fn check(&self) -> Result<(), String> {
        let mut codes = std::collections::BTreeSet::new();
        for s in &self.services {
            if !codes.insert(&s.code) {
                return Err(format!("service `{}` is defined twice", s.code));
            }
            if s.code.is_empty()
                || !s
                    .code
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(format!(
                    "service code `{}`: use letters, digits, - and _",
                    s.code
                ));
            }
            if !(1..=5).contains(&s.transfers.len()) {
                return Err(format!("service `{}`: 1 to 5 transfers", s.code));
            }
            if s.transfers
                .iter()
                .map(|t| u32::from(t.percent))
                .sum::<u32>()
                != 100
            {
                return Err(format!(
                    "service `{}`: transfer percentages must add up to 100",
                    s.code
                ));
            }
            for t in &s.transfers {
                Iban::parse(&t.iban).map_err(|e| format!("service `{}`: {e}", s.code))?;
            }
            let roles = |r: FieldRole| s.fields.iter().filter(|f| f.role == Some(r)).count();
            if matches!(s.amount, AmountRule::Entered { .. }) && roles(FieldRole::Amount) != 1 {
                return Err(format!(
                    "service `{}`: an entered amount needs exactly one field with role = \"amount\"",
                    s.code
                ));
            }
            for r in [FieldRole::DebtorName, FieldRole::DebtorFiscalCode] {
                if roles(r) != 1 {
                    return Err(format!(
                        "service `{}`: exactly one field with role {r:?} is required",
                        s.code
                    ));
                }
            }
            if let AmountRule::Entered {
                min_cents,
                max_cents,
            } = s.amount
            {
                if min_cents <= 0 || min_cents > max_cents {
                    return Err(format!("service `{}`: amount bounds are wrong", s.code));
                }
            }
            let mut keys = std::collections::BTreeSet::new();
            for f in &s.fields {
                if !keys.insert(&f.key) {
                    return Err(format!(
                        "service `{}`: field `{}` is defined twice",
                        s.code, f.key
                    ));
                }
                if f.kind == FieldType::Choice && f.options.is_empty() {
                    return Err(format!(
                        "service `{}`: choice field `{}` has no options",
                        s.code, f.key
                    ));
                }
                if let Some(l) = &f.length {
                    parse_length(l).ok_or_else(|| {
                        format!(
                            "service `{}`: field `{}`: length must be `min..max`",
                            s.code, f.key
                        )
                    })?;
                }
            }
        }
        Ok(())
    }
}

fn parse_length(l: &str) -> Option<(usize, usize)> {
    let (a, b) = l.split_once("..")?;
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

/// A form filled in and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilledForm {
    /// Normalised values by key (dates as gg/mm/aaaa, amounts as Italian euro, codes upper-case).
    pub values: BTreeMap<String, String>,
    /// The amount to pay.
    pub amount: Cents,
    /// Debtor's name.
    pub debtor_name: String,
    /// Debtor's fiscal code or VAT number.
    pub debtor_fiscal_code: FiscalCode,
    /// E-mail for the outcome, if the form has one.
    pub email: Option<String>,
    /// The causale built from the template (at most 140 characters).
    pub causale: String,
}

/// Italian plates: current (AA000AA), older provincial formats, mopeds; letters and digits,
/// 5 to 8 characters, at least one of each.
fn is_plate(p: &str) -> bool {
    (5..=8).contains(&p.len())
        && p.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && p.bytes().any(|b| b.is_ascii_digit())
        && p.bytes().any(|b| b.is_ascii_uppercase())
}

impl ServiceDef {
    /// Validates the citizen's input field by field (the browser only helps; this decides).
    pub fn validate(&self, input: &BTreeMap<String, String>) -> Result<FilledForm, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut values = BTreeMap::new();
        let mut amount = None;
        let mut debtor_name = String::new();
        let mut debtor_cf = None;
        let mut email = None;
        for f in &self.fields {
            let key = f.key.as_str();
            let raw = input.get(&f.key).map(|s| s.trim()).unwrap_or_default();
            if raw.is_empty() {
                if f.required {
                    errors.add(key, format!("Il campo «{}» è obbligatorio", f.label));
                }
                continue;
            }
            if let Some((min, max)) = f.length.as_deref().and_then(parse_length) {
                let n = raw.chars().count();
                if n < min || n > max {
                    errors.add(
                        key,
                        format!("«{}» deve avere da {min} a {max} caratteri", f.label),
                    );
                    continue;
                }
            }
            let value = match f.kind {
                FieldType::Text => {
                    if raw.chars().any(char::is_control) || raw.chars().count() > 140 {
                        Err(format!(
                            "«{}» contiene caratteri non ammessi o è troppo lungo",
                            f.label
                        ))
                    } else {
                        Ok(raw.to_owned())
                    }
                }
                FieldType::Integer => raw
                    .parse::<u64>()
                    .map(|n| n.to_string())
                    .map_err(|_| format!("«{}» deve essere un numero intero", f.label)),
                FieldType::Amount => match Cents::parse(raw) {
                    Ok(c) if c.is_positive() => {
                        amount = Some(c);
                        Ok(c.to_italian())
                    }
                    Ok(_) => Err("L'importo deve essere maggiore di zero".to_owned()),
                    Err(e) => Err(e.to_string()),
                },
                FieldType::Date => parse_date(raw)
                    .map(crate::clock::format_date)
                    .map_err(str::to_owned),
                FieldType::Month => match raw.parse::<u8>() {
                    Ok(m @ 1..=12) => Ok(format!("{m:02}")),
                    _ => Err(format!("«{}» deve essere un numero da 01 a 12", f.label)),
                },
                FieldType::FiscalCode => match FiscalCode::parse(raw) {
                    Ok(cf) => {
                        let s = cf.as_str().to_owned();
                        if f.role == Some(FieldRole::DebtorFiscalCode) {
                            debtor_cf = Some(cf);
                        }
                        Ok(s)
                    }
                    Err(e) => Err(e.to_string()),
                },
                FieldType::Plate => {
                    let p: String = raw
                        .chars()
                        .filter(|c| !c.is_whitespace() && *c != '-')
                        .collect::<String>()
                        .to_uppercase();
                    if is_plate(&p) {
                        Ok(p)
                    } else {
                        Err(
                            "La targa deve contenere solo lettere e cifre, per esempio AB123CD"
                                .to_owned(),
                        )
                    }
                }
                FieldType::Email => {
                    if looks_like_email(raw) {
                        Ok(raw.to_owned())
                    } else {
                        Err(
                            "Inserisci un indirizzo e-mail valido, per esempio nome@esempio.it"
                                .to_owned(),
                        )
                    }
                }
                FieldType::Choice => {
                    if f.options.iter().any(|o| o == raw) {
                        Ok(raw.to_owned())
                    } else {
                        Err(format!("Scegli uno dei valori proposti per «{}»", f.label))
                    }
                }
            };
            match value {
                Ok(v) => {
                    match f.role {
                        Some(FieldRole::DebtorName) => debtor_name = v.clone(),
                        Some(FieldRole::Email) => email = Some(v.clone()),
                        _ => {}
                    }
                    values.insert(f.key.clone(), v);
                }
                Err(m) => errors.add(key, m),
            }
        }
        let amount = match self.amount {
            AmountRule::Fixed { cents } => Some(Cents::new(cents)),
            AmountRule::Entered {
                min_cents,
                max_cents,
            } => {
                if let Some(a) = amount {
                    if a.get() < min_cents || a.get() > max_cents {
                        let key = self
                            .fields
                            .iter()
                            .find(|f| f.role == Some(FieldRole::Amount))
                            .map(|f| f.key.clone())
                            .unwrap_or_default();
                        errors.add(
                            key,
                            format!(
                                "L'importo deve essere compreso tra {} e {}",
                                Cents::new(min_cents),
                                Cents::new(max_cents)
                            ),
                        );
                    }
                }
                amount
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let (Some(amount), Some(debtor_fiscal_code)) = (amount, debtor_cf) else {
            let mut e = FieldErrors::default();
            e.add(
                "importo",
                "Il modulo del servizio è incompleto: scrivi all'assistenza",
            );
            return Err(e);
        };
        let mut causale = self.causale.clone();
        for (k, v) in &values {
            causale = causale.replace(&format!("{{{k}}}"), v);
        }
        let causale: String = causale.chars().take(140).collect();
        Ok(FilledForm {
            values,
            amount,
            debtor_name,
            debtor_fiscal_code,
            email,
            causale,
        })
    }

    /// Splits an amount over the transfers by percentage; the last takes the rest, so the sum
    /// is exact.
    pub fn split(&self, amount: Cents) -> Vec<(usize, Cents)> {
        let mut rest = amount.get();
        let n = self.transfers.len();
        self.transfers
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let share = if i + 1 == n {
                    rest
                } else {
                    amount.get() * i64::from(t.percent) / 100
                };
                rest -= share;
                (i, Cents::new(share))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Catalog {
        Catalog::parse(DEMO_CATALOG).expect("the demo catalog is valid")
    }

    fn input(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_demo_catalog_has_the_services_of_the_manual_with_their_fields() {
        let c = demo();
        let multe = c.services.iter().find(|s| s.code == "multe").unwrap();
        let keys: Vec<&str> = multe.fields.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "importo",
                "debitore",
                "codice_fiscale",
                "numero_verbale",
                "data_verbale",
                "targa",
                "email"
            ]
        );
        let nido = c.services.iter().find(|s| s.code == "asilo_nido").unwrap();
        let keys: Vec<&str> = nido.fields.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "importo",
                "debitore",
                "codice_fiscale",
                "numero_rata",
                "data_scadenza",
                "email"
            ]
        );
        assert!(c.services.len() >= 3);
    }

    #[test]
    fn a_traffic_fine_validates_and_builds_its_causale() {
        let c = demo();
        let multe = c.services.iter().find(|s| s.code == "multe").unwrap();
        let f = multe
            .validate(&input(&[
                ("importo", "41,00"),
                ("debitore", "Rossi Mario"),
                ("codice_fiscale", "rssmra80a01h501u"),
                ("numero_verbale", "12345/2026"),
                ("data_verbale", "5/4/2026"),
                ("targa", "ab 123 cd"),
                ("email", "mario@example.it"),
            ]))
            .unwrap();
        assert_eq!(f.amount, Cents::new(4100));
        assert_eq!(f.debtor_fiscal_code.as_str(), "RSSMRA80A01H501U");
        assert_eq!(f.values["targa"], "AB123CD");
        assert_eq!(f.values["data_verbale"], "05/04/2026");
        assert_eq!(
            f.causale,
            "Verbale n. 12345/2026 del 05/04/2026 - targa AB123CD"
        );
        assert_eq!(f.email.as_deref(), Some("mario@example.it"));
    }

    #[test]
    fn every_field_type_refuses_bad_input_with_its_own_message() {
        let c = demo();
        let multe = c.services.iter().find(|s| s.code == "multe").unwrap();
        let e = multe
            .validate(&input(&[
                ("importo", "4,1,0"),
                ("debitore", ""),
                ("codice_fiscale", "RSSMRA80A01H501X"),
                ("numero_verbale", "x\u{7}"),
                ("data_verbale", "31/02/2026"),
                ("targa", "!!"),
                ("email", "mario@"),
            ]))
            .unwrap_err();
        for key in [
            "importo",
            "debitore",
            "codice_fiscale",
            "numero_verbale",
            "data_verbale",
            "targa",
            "email",
        ] {
            assert!(e.get(key).is_some(), "no error for {key}: {e:?}");
        }
        let nido = c.services.iter().find(|s| s.code == "asilo_nido").unwrap();
        let e = nido
            .validate(&input(&[
                ("importo", "0"),
                ("debitore", "Bianchi Anna"),
                ("codice_fiscale", "00229080338"),
                ("numero_rata", "13"),
                ("data_scadenza", "2026-01-01"),
            ]))
            .unwrap_err();
        assert!(e.get("importo").is_some());
        assert_eq!(
            e.get("numero_rata"),
            Some("«Numero rata» deve essere un numero da 01 a 12")
        );
        assert!(e.get("data_scadenza").unwrap().contains("gg/mm/aaaa"));
        assert!(e.get("email").unwrap().contains("obbligatorio"));
    }

    #[test]
    fn amount_bounds_and_splits_are_exact() {
        let c = demo();
        let multe = c.services.iter().find(|s| s.code == "multe").unwrap();
        let AmountRule::Entered { max_cents, .. } = multe.amount else {
            panic!()
        };
        let too_much = Cents::new(max_cents + 1).to_italian();
        let e = multe
            .validate(&input(&[
                ("importo", &too_much),
                ("debitore", "A B"),
                ("codice_fiscale", "00229080338"),
                ("numero_verbale", "1"),
                ("data_verbale", "01/01/2026"),
                ("targa", "AB123CD"),
                ("email", "a@b.it"),
            ]))
            .unwrap_err();
        assert!(e.get("importo").unwrap().contains("compreso tra"));
        let mut s = multe.clone();
        s.transfers = vec![
            TransferDef {
                iban: crate::config::DEMO_IBAN.into(),
                category: "a".into(),
                remittance: "x".into(),
                percent: 33,
            },
            TransferDef {
                iban: crate::config::DEMO_IBAN.into(),
                category: "b".into(),
                remittance: "y".into(),
                percent: 67,
            },
        ];
        let split = s.split(Cents::new(1001));
        assert_eq!(split.iter().map(|(_, c)| c.get()).sum::<i64>(), 1001);
        assert_eq!(split[0].1, Cents::new(330));
    }

    #[test]
    fn a_broken_catalog_is_refused_with_a_reason() {
        let bad = DEMO_CATALOG.replacen("percent = 100", "percent = 90", 1);
        assert!(Catalog::parse(&bad).unwrap_err().contains("100"));
        let twice = format!(
            "{DEMO_CATALOG}\n{}",
            &DEMO_CATALOG[DEMO_CATALOG.find("[[service]]").unwrap()..]
        );
        assert!(Catalog::parse(&twice).unwrap_err().contains("twice"));
    }
}
