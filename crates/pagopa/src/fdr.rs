//! pagoPA's reporting flows (*flussi di rendicontazione*, FdR): the JSON of the
//! *FdR – Organization* REST API (v1.1.x) an EC reads them through.
//!
//! `GET /organizations/{organizationId}/fdrs` lists published flows ([`FlowsPage`]);
//! `…/fdrs/{fdr}/revisions/{revision}/psps/{pspId}` is one flow's header ([`Flow`]);
//! `…/payments` its lines, paged ([`PaymentsPage`]). Amounts travel as JSON numbers in
//! decimal euro (`12.34`); they are read into [`Cents`] exactly, never through
//! arithmetic on floats (see [`euro`]).

use serde::{Deserialize, Serialize};

use crate::Cents;

/// The page metadata every list carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageMetadata {
    /// Elements per page.
    pub page_size: i64,
    /// This page, from 1.
    pub page_number: i64,
    /// How many pages there are.
    pub tot_page: i64,
}

/// `PaginatedFlowsResponse`: one page of published flows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowsPage {
    /// Paging.
    pub metadata: PageMetadata,
    /// Elements in this page.
    pub count: i64,
    /// The flows.
    #[serde(default)]
    pub data: Vec<FlowRef>,
}

/// `FlowByPSP`: a flow in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowRef {
    /// The flow id (`YYYY-MM-DD<idPSP>-<progressive>`).
    pub fdr: String,
    /// The PSP that published it.
    pub psp_id: String,
    /// Its revision, from 1.
    pub revision: i64,
    /// When it was published (ISO 8601 instant).
    pub published: String,
    /// The flow's date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_date: Option<String>,
}

/// `ReportingFlowStatusEnum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FlowStatus {
    /// Being written by the PSP.
    Created,
    /// Lines being added.
    Inserted,
    /// Published: what an EC reads.
    Published,
}

impl FlowStatus {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowStatus::Created => "CREATED",
            FlowStatus::Inserted => "INSERTED",
            FlowStatus::Published => "PUBLISHED",
        }
    }
}

/// `SenderTypeEnum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SenderType {
    /// A legal person.
    LegalPerson,
    /// An ABI code.
    AbiCode,
    /// A BIC code.
    BicCode,
}

/// `Sender`: the PSP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sender {
    /// Kind of identifier.
    #[serde(rename = "type")]
    pub kind: SenderType,
    /// The sender's identifier.
    pub id: String,
    /// idPSP.
    pub psp_id: String,
    /// PSP name (3–70).
    pub psp_name: String,
    /// The PSP's broker.
    pub psp_broker_id: String,
    /// The channel.
    pub channel_id: String,
}

/// `Receiver`: the EC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receiver {
    /// The receiver's identifier.
    pub id: String,
    /// The EC's fiscal code.
    pub organization_id: String,
    /// The EC's name.
    pub organization_name: String,
}

/// `SingleFlowResponse`: a flow's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Flow {
    /// Status (an EC sees PUBLISHED).
    pub status: FlowStatus,
    /// Revision.
    pub revision: i64,
    /// Created (instant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Updated (instant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    /// Flow id.
    pub fdr: String,
    /// The flow's date (instant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fdr_date: Option<String>,
    /// The settlement's reference (the SEPA transfer's id, *identificativo univoco regolamento*).
    pub regulation: String,
    /// The settlement's date (`YYYY-MM-DD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regulation_date: Option<String>,
    /// BIC of the bank the money is poured into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bic_code_pouring_bank: Option<String>,
    /// The PSP.
    pub sender: Sender,
    /// The EC.
    pub receiver: Receiver,
    /// Published (instant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// Lines pagoPA counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computed_tot_payments: Option<i64>,
    /// Sum pagoPA computed.
    #[serde(
        default,
        with = "euro::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub computed_sum_payments: Option<Cents>,
    /// Lines the PSP declared.
    pub tot_payments: i64,
    /// Sum the PSP declared.
    #[serde(with = "euro")]
    pub sum_payments: Cents,
}

/// `payStatus` of a line (`codiceEsitoSingoloPagamento`: 0, 3, 4, 8, 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PayStatus {
    /// Paid (0).
    Executed,
    /// Revoked (3): the amount is given back.
    Revoked,
    /// Paid while the EC's station was not answering (4).
    StandIn,
    /// Stand-in without an RPT (8).
    StandInNoRpt,
    /// Paid without a receipt (9).
    NoRpt,
}

impl PayStatus {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PayStatus::Executed => "EXECUTED",
            PayStatus::Revoked => "REVOKED",
            PayStatus::StandIn => "STAND_IN",
            PayStatus::StandInNoRpt => "STAND_IN_NO_RPT",
            PayStatus::NoRpt => "NO_RPT",
        }
    }

    /// Parses the API's spelling.
    pub fn parse(text: &str) -> Option<PayStatus> {
        [
            PayStatus::Executed,
            PayStatus::Revoked,
            PayStatus::StandIn,
            PayStatus::StandInNoRpt,
            PayStatus::NoRpt,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// `Payment`: one line of a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowPayment {
    /// Position of the line in the flow, from 1.
    pub index: i64,
    /// IUV.
    pub iuv: String,
    /// IUR: the receipt's receiptId.
    pub iur: String,
    /// The transfer (1–5).
    pub id_transfer: i64,
    /// Amount (negative for a revocation, when a PSP writes it so).
    #[serde(with = "euro")]
    pub pay: Cents,
    /// Outcome.
    pub pay_status: PayStatus,
    /// When it was paid (instant).
    pub pay_date: String,
}

/// `PaginatedPaymentsResponse`: one page of a flow's lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentsPage {
    /// Paging.
    pub metadata: PageMetadata,
    /// Elements in this page.
    pub count: i64,
    /// The lines.
    #[serde(default)]
    pub data: Vec<FlowPayment>,
}

/// `ErrorResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    /// Tracking id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_id: Option<String>,
    /// HTTP status.
    pub http_status_code: i32,
    /// HTTP status text.
    pub http_status_description: String,
    /// `FDR-XXXX`.
    pub app_error_code: String,
    /// Details.
    #[serde(default)]
    pub errors: Vec<ErrorMessage>,
}

/// `ErrorMessage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ErrorMessage {
    /// Where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// What.
    pub message: String,
}

/// The flow id pagoPA prescribes: `YYYY-MM-DD<idPSP>-<progressive>`.
pub fn flow_id(date: (i32, u8, u8), psp_id: &str, progressive: u32) -> String {
    format!(
        "{:04}-{:02}-{:02}{psp_id}-{progressive:04}",
        date.0, date.1, date.2
    )
}

/// The flow id a bank credit's remittance carries: `/PUR/LGPE-RIVERSAMENTO/URI/<flow id>`
/// (spaces inside, which banks insert when they wrap the text, are ignored).
pub fn flow_id_in_remittance(remittance: &str) -> Option<String> {
    const MARK: &str = "/PUR/LGPE-RIVERSAMENTO/URI/";
    let compact: String = remittance.chars().filter(|c| !c.is_whitespace()).collect();
    let at = compact.to_ascii_uppercase().find(MARK)?;
    let id: String = compact[at + MARK.len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(35)
        .collect();
    (!id.is_empty()).then_some(id)
}

/// Amounts in decimal euro as JSON numbers, read into exact [`Cents`].
///
/// A JSON number reaches serde as an `f64`; its shortest decimal form (Rust's `Display`,
/// which round-trips) is the text the sender wrote for any amount below 2^53 cents, so parsing
/// that text gives the exact cents. Writing divides by 100 once, which yields the double
/// nearest the decimal, printed back as the same decimal.
pub mod euro {
    use serde::{Deserialize, Deserializer, Serializer, de};

    use crate::Cents;

    /// Reads a decimal-euro text (`12.3`, `-0.05`, `7`) into cents; at most two decimals.
    pub fn parse_decimal(text: &str) -> Option<Cents> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, text),
        };
        let (int, frac) = rest.split_once('.').unwrap_or((rest, ""));
        if int.is_empty()
            || int.len() > 16
            || frac.len() > 2
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let euros: i64 = int.parse().ok()?;
        let mut cents: i64 = if frac.is_empty() {
            0
        } else {
            frac.parse().ok()?
        };
        if frac.len() == 1 {
            cents *= 10;
        }
        let v = euros.checked_mul(100)?.checked_add(cents)?;
        Some(Cents::new(if negative { -v } else { v }))
    }

    fn from_f64(v: f64) -> Option<Cents> {
        if !v.is_finite() || v.abs() >= 9.0e13 {
            return None;
        }
        parse_decimal(&format!("{v}"))
    }

    /// Serializes cents as a JSON number in euro.
    pub fn serialize<S: Serializer>(c: &Cents, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(c.get() as f64 / 100.0)
    }

    /// Deserializes a JSON number in euro into cents.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Cents, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Cents;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an amount in euro with at most two decimals")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Cents, E> {
                from_f64(v).ok_or_else(|| E::custom(format!("importo non valido: {v}")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cents, E> {
                v.checked_mul(100)
                    .map(Cents::new)
                    .ok_or_else(|| E::custom("importo troppo grande"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cents, E> {
                i64::try_from(v)
                    .ok()
                    .and_then(|v| v.checked_mul(100))
                    .map(Cents::new)
                    .ok_or_else(|| E::custom("importo troppo grande"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Cents, E> {
                parse_decimal(v.trim()).ok_or_else(|| E::custom(format!("importo non valido: {v}")))
            }
        }
        d.deserialize_any(V)
    }

    /// The same for an optional amount.
    pub mod option {
        use super::*;

        /// Serializes an optional amount.
        pub fn serialize<S: Serializer>(c: &Option<Cents>, s: S) -> Result<S::Ok, S::Error> {
            match c {
                Some(c) => super::serialize(c, s),
                None => s.serialize_none(),
            }
        }

        /// Deserializes an optional amount.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cents>, D::Error> {
            #[derive(Deserialize)]
            struct W(#[serde(deserialize_with = "super::deserialize")] Cents);
            Ok(Option::<W>::deserialize(d)?.map(|w| w.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_ids_follow_pagopa_format_and_are_found_in_remittances() {
        assert_eq!(
            flow_id((2026, 11, 3), "BCITITMM", 1),
            "2026-11-03BCITITMM-0001"
        );
        assert_eq!(
            flow_id_in_remittance("/PUR/LGPE-RIVERSAMENTO/URI/2026-11-03BCITITMM-0001").as_deref(),
            Some("2026-11-03BCITITMM-0001")
        );
        assert_eq!(
            flow_id_in_remittance("BONIFICO /pur/lgpe-riversamento/URI/2026-11-03BCIT ITMM-0001")
                .as_deref(),
            Some("2026-11-03BCITITMM-0001"),
            "lower case and text wrapped by the bank"
        );
        assert_eq!(flow_id_in_remittance("stipendio"), None);
    }

    #[test]
    fn decimal_euro_is_read_exactly() {
        assert_eq!(euro::parse_decimal("12.3"), Some(Cents::new(1230)));
        assert_eq!(euro::parse_decimal("-0.05"), Some(Cents::new(-5)));
        assert_eq!(euro::parse_decimal("7"), Some(Cents::new(700)));
        assert_eq!(euro::parse_decimal("1.234"), None);
        assert_eq!(euro::parse_decimal("1e3"), None);
        assert_eq!(euro::parse_decimal(""), None);
    }
}
