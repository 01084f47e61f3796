//! pagoPA's receipts API for organizations (biz-events, `getOrganizationReceiptIuvIur`):
//! `GET /organizations/{organizationfiscalcode}/receipts/{iur}/paymentoptions/{iuv}` answers
//! a receipt as JSON (`CtReceiptModelResponse`), the same receipt `paSendRT` carries.
//!
//! An EC asks for it when a reporting flow lists a payment whose `paSendRT` never arrived; the
//! answer is turned into the SOAP [`Receipt`] so the station stores it exactly as if the node
//! had delivered it.

use serde::{Deserialize, Serialize};

use crate::fdr::euro;
use crate::soap::{
    EntityType, MapEntry, Outcome, Receipt, Subject, Transfer, TransferDestination, XsdDate,
    XsdDateTime,
};
use crate::{Cents, EcFiscalCode};

/// `Debtor` / `Payer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    /// `F` or `G`.
    pub entity_unique_identifier_type: String,
    /// Fiscal code.
    pub entity_unique_identifier_value: String,
    /// Name.
    pub full_name: String,
    /// Street.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_name: Option<String>,
    /// Civic number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub civic_number: Option<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Province or region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_province_region: Option<String>,
    /// Country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// E-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// `MapEntry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// `TransferPA`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferPa {
    /// 1 to 5.
    pub id_transfer: i64,
    /// Amount in euro.
    #[serde(with = "euro")]
    pub transfer_amount: Cents,
    /// The receiving EC.
    #[serde(rename = "fiscalCodePA")]
    pub fiscal_code_pa: String,
    /// IBAN (empty for a stamp).
    #[serde(default)]
    pub iban: String,
    /// The stamp (base64; empty for an IBAN).
    #[serde(default)]
    pub mbd_attachment: String,
    /// Causale.
    pub remittance_information: String,
    /// Taxonomy code.
    pub transfer_category: String,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metadata: Vec<Entry>,
}

/// `CtReceiptModelResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgReceipt {
    /// receiptId (the IUR).
    pub receipt_id: String,
    /// Notice number.
    pub notice_number: String,
    /// The EC.
    pub fiscal_code: String,
    /// `OK` or `KO`.
    pub outcome: String,
    /// IUV.
    pub creditor_reference_id: String,
    /// Amount in euro.
    #[serde(with = "euro")]
    pub payment_amount: Cents,
    /// Description.
    pub description: String,
    /// EC name.
    pub company_name: String,
    /// Office.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office_name: Option<String>,
    /// Debtor.
    pub debtor: Person,
    /// Transfers.
    pub transfer_list: Vec<TransferPa>,
    /// PSP id.
    #[serde(rename = "idPSP")]
    pub id_psp: String,
    /// PSP fiscal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psp_fiscal_code: Option<String>,
    /// PSP VAT number.
    #[serde(
        default,
        rename = "pspPartitaIVA",
        skip_serializing_if = "Option::is_none"
    )]
    pub psp_partita_iva: Option<String>,
    /// PSP name.
    pub psp_company_name: String,
    /// Channel.
    pub id_channel: String,
    /// Channel description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_description: Option<String>,
    /// Payer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<Person>,
    /// Method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<String>,
    /// Fee in euro.
    #[serde(
        default,
        with = "euro::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub fee: Option<Cents>,
    /// Fee the EC bears, in euro.
    #[serde(
        default,
        with = "euro::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub primary_ci_incurred_fee: Option<Cents>,
    /// Bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_bundle: Option<String>,
    /// EC bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_ci_bundle: Option<String>,
    /// Payment time as the node wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_date_time: Option<String>,
    /// Payment time (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_date_time_formatted: Option<String>,
    /// Application date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_date: Option<String>,
    /// Transfer date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_date: Option<String>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metadata: Vec<Entry>,
}

/// Why a receipt from the API cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ricevuta non valida: {0}")]
pub struct InvalidReceipt(pub String);

fn person(s: &Subject) -> Person {
    Person {
        entity_unique_identifier_type: s.entity_type.as_str().to_owned(),
        entity_unique_identifier_value: s.entity_value.clone(),
        full_name: s.full_name.clone(),
        street_name: s.street_name.clone(),
        civic_number: s.civic_number.clone(),
        postal_code: s.postal_code.clone(),
        city: s.city.clone(),
        state_province_region: s.state_province_region.clone(),
        country: s.country.clone(),
        email: s.email.clone(),
    }
}

fn subject(p: &Person) -> Result<Subject, InvalidReceipt> {
    Ok(Subject {
        entity_type: match p.entity_unique_identifier_type.as_str() {
            "F" => EntityType::F,
            "G" => EntityType::G,
            other => return Err(InvalidReceipt(format!("tipo soggetto {other:?}"))),
        },
        entity_value: p.entity_unique_identifier_value.clone(),
        full_name: p.full_name.clone(),
        street_name: p.street_name.clone(),
        civic_number: p.civic_number.clone(),
        postal_code: p.postal_code.clone(),
        city: p.city.clone(),
        state_province_region: p.state_province_region.clone(),
        country: p.country.clone(),
        email: p.email.clone(),
    })
}

fn entries(m: &[MapEntry]) -> Vec<Entry> {
    m.iter()
        .map(|e| Entry {
            key: e.key.clone(),
            value: e.value.clone(),
        })
        .collect()
}

fn map_entries(m: &[Entry]) -> Vec<MapEntry> {
    m.iter()
        .map(|e| MapEntry {
            key: e.key.clone(),
            value: e.value.clone(),
        })
        .collect()
}

fn some_text(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

impl OrgReceipt {
    /// The API's form of a receipt the node delivered (or would have).
    pub fn from_receipt(r: &Receipt) -> OrgReceipt {
        OrgReceipt {
            receipt_id: r.receipt_id.clone(),
            notice_number: r.notice_number.clone(),
            fiscal_code: r.fiscal_code.as_str().to_owned(),
            outcome: r.outcome.as_str().to_owned(),
            creditor_reference_id: r.creditor_reference_id.clone(),
            payment_amount: r.payment_amount,
            description: r.description.clone(),
            company_name: r.company_name.clone(),
            office_name: r.office_name.clone(),
            debtor: person(&r.debtor),
            transfer_list: r
                .transfers
                .iter()
                .map(|t| TransferPa {
                    id_transfer: i64::from(t.id_transfer),
                    transfer_amount: t.transfer_amount,
                    fiscal_code_pa: t.fiscal_code_pa.as_str().to_owned(),
                    iban: match &t.destination {
                        TransferDestination::Iban(i) => i.clone(),
                        _ => String::new(),
                    },
                    mbd_attachment: match &t.destination {
                        TransferDestination::MbdAttachment(a) => a.clone(),
                        _ => String::new(),
                    },
                    remittance_information: t.remittance_information.clone(),
                    transfer_category: t.transfer_category.clone(),
                    metadata: entries(&t.metadata),
                })
                .collect(),
            id_psp: r.id_psp.clone(),
            psp_fiscal_code: r.psp_fiscal_code.clone(),
            psp_partita_iva: r.psp_partita_iva.clone(),
            psp_company_name: r.psp_company_name.clone(),
            id_channel: r.id_channel.clone(),
            channel_description: Some(r.channel_description.clone()),
            payer: r.payer.as_ref().map(person),
            payment_method: r.payment_method.clone(),
            fee: r.fee,
            primary_ci_incurred_fee: r.primary_ci_incurred_fee,
            id_bundle: r.id_bundle.clone(),
            id_ci_bundle: r.id_ci_bundle.clone(),
            payment_date_time: r.payment_date_time.as_ref().map(|d| d.as_str().to_owned()),
            payment_date_time_formatted: r
                .payment_date_time
                .as_ref()
                .map(|d| d.as_str().to_owned()),
            application_date: r.application_date.as_ref().map(|d| d.as_str().to_owned()),
            transfer_date: r.transfer_date.as_ref().map(|d| d.as_str().to_owned()),
            metadata: entries(&r.metadata),
        }
    }

    /// The SOAP receipt this JSON describes, checked as a `paSendRT` would be decoded.
    pub fn to_receipt(&self) -> Result<Receipt, InvalidReceipt> {
        let bad = |what: &str| InvalidReceipt(what.to_owned());
        let fiscal_code =
            EcFiscalCode::parse(&self.fiscal_code).map_err(|_| bad("codice fiscale dell'ente"))?;
        let outcome = match self.outcome.as_str() {
            "OK" => Outcome::Ok,
            "KO" => Outcome::Ko,
            _ => return Err(bad("esito")),
        };
        if self.transfer_list.is_empty() || self.transfer_list.len() > 5 {
            return Err(bad("da 1 a 5 versamenti"));
        }
        let transfers = self
            .transfer_list
            .iter()
            .map(|t| {
                let id_transfer = u8::try_from(t.id_transfer)
                    .ok()
                    .filter(|i| (1..=5).contains(i))
                    .ok_or_else(|| bad("idTransfer"))?;
                let destination = match (some_text(&t.iban), some_text(&t.mbd_attachment)) {
                    (Some(iban), _) => TransferDestination::Iban(iban),
                    (None, Some(a)) => TransferDestination::MbdAttachment(a),
                    (None, None) => return Err(bad("versamento senza IBAN né marca da bollo")),
                };
                Ok(Transfer {
                    id_transfer,
                    transfer_amount: t.transfer_amount,
                    fiscal_code_pa: EcFiscalCode::parse(&t.fiscal_code_pa)
                        .map_err(|_| bad("fiscalCodePA"))?,
                    company_name: None,
                    destination,
                    remittance_information: t.remittance_information.clone(),
                    transfer_category: t.transfer_category.clone(),
                    metadata: map_entries(&t.metadata),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let sum = Cents::checked_sum(transfers.iter().map(|t| t.transfer_amount));
        if sum != Some(self.payment_amount) {
            return Err(bad("l'importo non è la somma dei versamenti"));
        }
        let date = |d: &Option<String>| d.as_deref().and_then(|s| XsdDate::parse(s.get(..10)?));
        let date_time = self
            .payment_date_time_formatted
            .as_deref()
            .and_then(XsdDateTime::parse)
            .or_else(|| {
                self.payment_date_time
                    .as_deref()
                    .and_then(XsdDateTime::parse)
            });
        Ok(Receipt {
            receipt_id: self.receipt_id.clone(),
            notice_number: self.notice_number.clone(),
            fiscal_code,
            outcome,
            creditor_reference_id: self.creditor_reference_id.clone(),
            payment_amount: self.payment_amount,
            description: self.description.clone(),
            company_name: self.company_name.clone(),
            office_name: self.office_name.clone(),
            debtor: subject(&self.debtor)?,
            transfers,
            id_psp: self.id_psp.clone(),
            psp_fiscal_code: self.psp_fiscal_code.clone(),
            psp_partita_iva: self.psp_partita_iva.clone(),
            psp_company_name: self.psp_company_name.clone(),
            id_channel: self.id_channel.clone(),
            channel_description: self
                .channel_description
                .clone()
                .unwrap_or_else(|| "-".to_owned()),
            payer: self.payer.as_ref().map(subject).transpose()?,
            payment_method: self.payment_method.clone(),
            payment_note: None,
            fee: self.fee,
            primary_ci_incurred_fee: self.primary_ci_incurred_fee,
            id_bundle: self.id_bundle.clone(),
            id_ci_bundle: self.id_ci_bundle.clone(),
            payment_date_time: date_time,
            application_date: date(&self.application_date),
            transfer_date: date(&self.transfer_date),
            metadata: map_entries(&self.metadata),
            stand_in: None,
        })
    }
}
