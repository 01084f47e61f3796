//! GPD's JSON types, field for field (names, casing, status values), with their OpenAPI schema.
//!
//! Request fields are all optional at the serde level so that a missing one is reported by
//! [`super::validate`] with GPD's message and its JSON path, instead of a parser error. Read-only
//! fields sent back by a client (`status`, `paymentDate`, `nav`…) are accepted and ignored, as
//! GPD does.

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::clock::Timestamp;
use crate::domain::position::{Destination, OptionDetails, PaymentOption, Position, Transfer};

/// Debt position status (GPD `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DebtPositionStatus {
    /// Being prepared.
    Draft,
    /// Published, payable from its validity date.
    Published,
    /// Payable.
    Valid,
    /// Cancelled.
    Invalid,
    /// Past its due date.
    Expired,
    /// Some installments paid.
    PartiallyPaid,
    /// Paid.
    Paid,
    /// Paid and reconciled.
    Reported,
}

impl From<crate::domain::position::PositionStatus> for DebtPositionStatus {
    fn from(s: crate::domain::position::PositionStatus) -> Self {
        use crate::domain::position::PositionStatus as S;
        match s {
            S::Draft => DebtPositionStatus::Draft,
            S::Published => DebtPositionStatus::Published,
            S::Valid => DebtPositionStatus::Valid,
            S::Invalid => DebtPositionStatus::Invalid,
            S::Expired => DebtPositionStatus::Expired,
            S::PartiallyPaid => DebtPositionStatus::PartiallyPaid,
            S::Paid => DebtPositionStatus::Paid,
            S::Reported => DebtPositionStatus::Reported,
        }
    }
}

/// Natural (F) or legal (G) person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum SubjectKind {
    /// Persona fisica.
    F,
    /// Persona giuridica.
    G,
}

/// Accepts any value and keeps nothing: for read-only fields a client may echo back.
fn ignore<'de, D: Deserializer<'de>, T>(d: D) -> Result<Option<T>, D::Error> {
    serde::de::IgnoredAny::deserialize(d)?;
    Ok(None)
}

/// `idTransfer` is a string "1".."5" in GPD; a number is accepted too (Jackson coerces it).
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        S(String),
        N(i64),
    }
    Ok(Option::<Either>::deserialize(d)?.map(|e| match e {
        Either::S(s) => s,
        Either::N(n) => n.to_string(),
    }))
}

/// A key/value metadata pair (`paymentOptionMetadata`, `transferMetadata`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MetadataModel {
    /// Key (required).
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 140, pattern = r"\S")]
    pub key: Option<String>,
    /// Value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 140)]
    pub value: Option<String>,
}

/// A digital revenue stamp (marca da bollo), instead of an IBAN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stamp {
    /// Hash of the document (base64, at most 72 characters).
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 72, pattern = r"\S")]
    pub hash_document: Option<String>,
    /// Stamp type (2 characters).
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 2, max_length = 2, pattern = r"^\S{2}$")]
    pub stamp_type: Option<String>,
    /// Province of residence, two capital letters.
    #[serde(default)]
    #[schema(value_type = String, required = true, pattern = "^[A-Z]{2}$", example = "PC")]
    pub provincial_residence: Option<String>,
}

/// GPD `TransferModel`: one share of a payment option.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransferModel {
    /// "1" to "5".
    #[serde(default, deserialize_with = "string_or_number")]
    #[schema(value_type = String, required = true, pattern = "^[1-5]$", example = "1")]
    pub id_transfer: Option<String>,
    /// Amount in euro cents.
    #[serde(default)]
    #[schema(value_type = i64, required = true, minimum = 1, maximum = 99_999_999_999_i64)]
    pub amount: Option<i64>,
    /// Fiscal code of the ente receiving the transfer (default: the organization of the path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9]{11}$", example = "00229080338")]
    pub organization_fiscal_code: Option<String>,
    /// Remittance information (causale of the transfer).
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 140, pattern = r"\S")]
    pub remittance_information: Option<String>,
    /// Taxonomy category, e.g. `9/0101108TS/`.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 140, pattern = r"\S", example = "9/0101108TS/")]
    pub category: Option<String>,
    /// IBAN (mutually exclusive with `stamp`); it must be a valid one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        max_length = 35,
        pattern = "^[A-Za-z0-9]{1,35}$",
        example = "IT60X0542811101000000123456"
    )]
    pub iban: Option<String>,
    /// Postal IBAN, only together with `iban`; it must be a valid one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 35, pattern = "^$|^[A-Za-z0-9]{1,35}$")]
    pub postal_iban: Option<String>,
    /// Digital stamp (mutually exclusive with `iban`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<Stamp>,
    /// Company name of the receiving ente.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 140)]
    pub company_name: Option<String>,
    /// At most 10 key/value pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 10)]
    pub transfer_metadata: Option<Vec<MetadataModel>>,
}

/// GPD `PaymentOptionModel`: the single payment or one installment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentOptionModel {
    /// Notice number (read-only: derived from the IUV).
    #[serde(
        default,
        deserialize_with = "ignore",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = String, read_only)]
    pub nav: Option<String>,
    /// IUV (17 digits: the station's segregation code, base and check digit). Sportello
    /// extension: when absent, Sportello mints it (and the NAV).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9]{17}$")]
    pub iuv: Option<String>,
    /// Amount in euro cents (= sum of the transfers).
    #[serde(default)]
    #[schema(value_type = i64, required = true, minimum = 1, maximum = 99_999_999_999_i64)]
    pub amount: Option<i64>,
    /// Description (causale), at most 140 characters.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 140, pattern = r"\S")]
    pub description: Option<String>,
    /// Whether this is an installment.
    #[serde(default)]
    #[schema(value_type = bool, required = true)]
    pub is_partial_payment: Option<bool>,
    /// Due date: Rome's wall-clock time (`2031-05-31T23:59:59`), payable until that second ends.
    #[serde(default)]
    #[schema(value_type = String, required = true, format = DateTime, example = "2031-05-31T23:59:59")]
    pub due_date: Option<String>,
    /// Retention date (≥ due date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub retention_date: Option<String>,
    /// Fee in cents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub fee: Option<i64>,
    /// Notification fee in cents (read-only).
    #[serde(
        default,
        deserialize_with = "ignore",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = i64, read_only)]
    pub notification_fee: Option<i64>,
    /// 1 to 5 transfers.
    #[serde(default)]
    #[schema(value_type = Vec<TransferModel>, required = true, min_items = 1, max_items = 5)]
    pub transfer: Option<Vec<TransferModel>>,
    /// At most 10 key/value pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 10)]
    pub payment_option_metadata: Option<Vec<MetadataModel>>,
}

/// GPD `PaymentPositionModel`: the body of POST and PUT, and their answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPositionModel {
    /// Unique id of the position within the organization (no `/`).
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 140, pattern = r"^[^/\x00-\x1f\x7f-\x9f]*[^/\s\x00-\x1f\x7f-\x9f][^/\x00-\x1f\x7f-\x9f]*$")]
    pub iupd: Option<String>,
    /// F (natural person) or G (legal person).
    #[serde(default, rename = "type")]
    #[schema(value_type = SubjectKind, required = true)]
    pub kind: Option<SubjectKind>,
    /// Whether the node may take payments in stand-in mode (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pay_stand_in: Option<bool>,
    /// Debtor's codice fiscale or partita IVA (or `ANONIMO`), with a valid check character.
    #[serde(default)]
    #[schema(value_type = String, required = true, pattern = r"^\s*([A-Za-z0-9]{16}|[0-9]{11}|[Aa][Nn][Oo][Nn][Ii][Mm][Oo])\s*$", example = "RSSMRA80A01H501U")]
    pub fiscal_code: Option<String>,
    /// Debtor's name.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 140, pattern = r"\S")]
    pub full_name: Option<String>,
    /// Street.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 140)]
    pub street_name: Option<String>,
    /// Civic number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 16)]
    pub civic_number: Option<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 16)]
    pub postal_code: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 140)]
    pub city: Option<String>,
    /// Province.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 140)]
    pub province: Option<String>,
    /// Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 140)]
    pub region: Option<String>,
    /// Country, two capital letters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Z]{2}$", example = "IT")]
    pub country: Option<String>,
    /// E-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256, example = "email@domain.com")]
    pub email: Option<String>,
    /// Phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 32)]
    pub phone: Option<String>,
    /// Whether the position expires after its due date.
    #[serde(default)]
    #[schema(value_type = bool, required = true)]
    pub switch_to_expired: Option<bool>,
    /// Ente name, at most 140 characters.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 140, pattern = r"\S")]
    pub company_name: Option<String>,
    /// Office name, at most 140 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 140)]
    pub office_name: Option<String>,
    /// When it becomes payable (absent: at publication).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub validity_date: Option<String>,
    /// When it was paid (read-only).
    #[serde(
        default,
        deserialize_with = "ignore",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime, read_only)]
    pub payment_date: Option<String>,
    /// Status (read-only).
    #[serde(
        default,
        deserialize_with = "ignore",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(read_only)]
    pub status: Option<DebtPositionStatus>,
    /// Payment options (at least one).
    #[serde(default)]
    #[schema(value_type = Vec<PaymentOptionModel>, required = true, min_items = 1)]
    pub payment_option: Option<Vec<PaymentOptionModel>>,
}

/// GPD `TransferModelResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransferModelResponse {
    /// Receiving ente.
    pub organization_fiscal_code: String,
    /// Receiving ente's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    /// "1" to "5".
    pub id_transfer: String,
    /// Cents.
    pub amount: i64,
    /// Remittance information.
    pub remittance_information: String,
    /// Taxonomy category.
    pub category: String,
    /// IBAN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iban: Option<String>,
    /// Postal IBAN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_iban: Option<String>,
    /// Stamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stamp: Option<Stamp>,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    pub inserted_date: String,
    /// `T_UNREPORTED` or `T_REPORTED`.
    pub status: String,
    /// Last change.
    #[schema(value_type = String, format = DateTime)]
    pub last_updated_date: String,
    /// Metadata.
    pub transfer_metadata: Vec<MetadataModel>,
}

/// GPD `PaymentOptionModelResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentOptionModelResponse {
    /// Notice number.
    pub nav: String,
    /// IUV.
    pub iuv: String,
    /// The organization.
    pub organization_fiscal_code: String,
    /// Cents.
    pub amount: i64,
    /// Description.
    pub description: String,
    /// Installment or not.
    pub is_partial_payment: bool,
    /// Due date.
    #[schema(value_type = String, format = DateTime)]
    pub due_date: String,
    /// Retention date.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub retention_date: Option<String>,
    /// When it was paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub payment_date: Option<String>,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    pub inserted_date: String,
    /// Fee in cents.
    pub fee: i64,
    /// Notification fee in cents.
    pub notification_fee: i64,
    /// `PO_UNPAID`, `PO_PAID`, `PO_PARTIALLY_REPORTED` or `PO_REPORTED`.
    pub status: String,
    /// Last change.
    #[schema(value_type = String, format = DateTime)]
    pub last_updated_date: String,
    /// Metadata.
    pub payment_option_metadata: Vec<MetadataModel>,
    /// Transfers.
    pub transfer: Vec<TransferModelResponse>,
}

/// GPD `PaymentPositionModelBaseResponse`: what GET (one or the list) returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPositionModelBaseResponse {
    /// IUPD.
    pub iupd: String,
    /// The organization.
    pub organization_fiscal_code: String,
    /// F or G.
    #[serde(rename = "type")]
    pub kind: SubjectKind,
    /// Ente name.
    pub company_name: String,
    /// Office name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub office_name: Option<String>,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    pub inserted_date: String,
    /// Publication time.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub publish_date: Option<String>,
    /// Validity date.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub validity_date: Option<String>,
    /// Payment time.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub payment_date: Option<String>,
    /// Status.
    pub status: DebtPositionStatus,
    /// Last change.
    #[schema(value_type = String, format = DateTime)]
    pub last_updated_date: String,
    /// Payment options.
    pub payment_option: Vec<PaymentOptionModelResponse>,
}

/// GPD `PageInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PageInfo {
    /// Page number, from 0.
    pub page: u32,
    /// Requested page size.
    pub limit: u32,
    /// Items on this page.
    pub items_found: u32,
    /// Number of pages.
    pub total_pages: u32,
}

/// GPD `PaymentPositionsInfo`: a page of positions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PaymentPositionsInfo {
    /// The positions.
    pub payment_position_list: Vec<PaymentPositionModelBaseResponse>,
    /// Paging.
    pub page_info: PageInfo,
}

/// GPD `UpdateTransferIbanMassiveModel`: the body of `updateTransferIbanMassive`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateTransferIbanMassiveModel {
    /// The IBAN that replaces `oldIban` (required).
    #[serde(default)]
    #[schema(value_type = String, example = "IT60X0542811101000000123456")]
    pub new_iban: Option<String>,
}

/// GPD `UpdateTransferIbanMassiveResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateTransferIbanMassiveResponse {
    /// `Updated IBAN on N Transfers`, as GPD writes it.
    pub description: String,
    /// How many transfers changed.
    pub updated_transfers: u32,
}

impl UpdateTransferIbanMassiveResponse {
    /// GPD's answer for `n` transfers changed.
    pub fn new(n: u64) -> Self {
        UpdateTransferIbanMassiveResponse {
            description: format!("Updated IBAN on {n} Transfers"),
            updated_transfers: u32::try_from(n).unwrap_or(u32::MAX),
        }
    }
}

/// Sort key of the position list (GPD `orderby`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderBy {
    /// Creation time (the default).
    InsertedDate,
    /// IUPD.
    Iupd,
    /// Status.
    Status,
    /// Company name.
    CompanyName,
}

/// Direction of the position list (GPD `ordering`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Ordering {
    /// Ascending.
    #[serde(rename = "ASC")]
    Asc,
    /// Descending (the default).
    #[serde(rename = "DESC")]
    Desc,
}

/// What pagoPA's API gateway answers for a missing or wrong key (401) and for a key not entitled
/// to the organization (403), before the request reaches GPD (`gpd.json`'s 403 example).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"statusCode": 403, "message": "You are not allowed to access this resource."}))]
pub struct GatewayError {
    /// HTTP status.
    pub status_code: u16,
    /// What happened.
    pub message: String,
}

/// GPD `ProblemJson`: every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProblemJson {
    /// Short summary, in English as GPD writes it.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What happened, naming the field at fault.
    pub detail: String,
}

/// GPD's date-times are Java `LocalDateTime`s: Rome's wall-clock time, without an offset.
fn ts(t: Timestamp) -> String {
    t.to_iso_rome()
}

fn metadata_list(json: &str) -> Vec<MetadataModel> {
    serde_json::from_str(json).unwrap_or_default()
}

fn destination_fields(t: &Transfer) -> (Option<String>, Option<String>, Option<Stamp>) {
    match &t.destination {
        Destination::Iban { iban, postal_iban } => (Some(iban.clone()), postal_iban.clone(), None),
        Destination::Stamp {
            hash_document,
            stamp_type,
            provincial_residence,
        } => (
            None,
            None,
            Some(Stamp {
                hash_document: Some(hash_document.clone()),
                stamp_type: Some(stamp_type.clone()),
                provincial_residence: Some(provincial_residence.clone()),
            }),
        ),
    }
}

fn option_model(o: &PaymentOption, d: &OptionDetails) -> PaymentOptionModel {
    PaymentOptionModel {
        nav: Some(o.nav.as_str().to_owned()),
        iuv: Some(o.iuv.as_str().to_owned()),
        amount: Some(o.amount.get()),
        description: Some(o.description.clone()),
        is_partial_payment: Some(o.is_partial_payment),
        due_date: Some(ts(o.due_date)),
        retention_date: o.retention_date.map(ts),
        fee: Some(o.fee.get()),
        notification_fee: Some(d.notification_fee.get()),
        transfer: Some(
            o.transfers
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let (iban, postal_iban, stamp) = destination_fields(t);
                    let metadata = d
                        .transfer_metadata
                        .get(i)
                        .map(|m| metadata_list(m))
                        .unwrap_or_default();
                    TransferModel {
                        id_transfer: Some(t.id_transfer.to_string()),
                        amount: Some(t.amount.get()),
                        organization_fiscal_code: Some(t.organization_fiscal_code.clone()),
                        remittance_information: Some(t.remittance_information.clone()),
                        category: Some(t.category.clone()),
                        iban,
                        postal_iban,
                        stamp,
                        company_name: t.company_name.clone(),
                        transfer_metadata: Some(metadata),
                    }
                })
                .collect(),
        ),
        payment_option_metadata: Some(metadata_list(&o.metadata)),
    }
}

impl PaymentPositionModel {
    /// The answer of POST, PUT, publish and invalidate: the stored position in the request's
    /// shape, with the read-only fields filled in.
    pub fn from_position(p: &Position) -> PaymentPositionModel {
        let d = &p.debtor;
        PaymentPositionModel {
            iupd: Some(p.iupd.clone()),
            kind: Some(match d.kind {
                crate::domain::position::SubjectType::F => SubjectKind::F,
                crate::domain::position::SubjectType::G => SubjectKind::G,
            }),
            pay_stand_in: Some(p.pay_stand_in),
            fiscal_code: Some(d.fiscal_code.clone()),
            full_name: Some(d.full_name.clone()),
            street_name: d.street_name.clone(),
            civic_number: d.civic_number.clone(),
            postal_code: d.postal_code.clone(),
            city: d.city.clone(),
            province: d.province.clone(),
            region: d.region.clone(),
            country: d.country.clone(),
            email: d.email.clone(),
            phone: d.phone.clone(),
            switch_to_expired: Some(p.switch_to_expired),
            company_name: Some(p.company_name.clone()),
            office_name: p.office_name.clone(),
            validity_date: p.validity_date.map(ts),
            payment_date: p.payment_date.map(ts),
            status: Some(p.status.into()),
            payment_option: Some(
                p.options
                    .iter()
                    .zip(details(p))
                    .map(|(o, d)| option_model(o, &d))
                    .collect(),
            ),
        }
    }
}

/// The stored details of each option, or defaults when a position was read without them.
fn details(p: &Position) -> Vec<OptionDetails> {
    (0..p.options.len())
        .map(|i| p.option_details.get(i).cloned().unwrap_or_default())
        .collect()
}

impl PaymentPositionModelBaseResponse {
    /// The answer of GET, for `organization_fiscal_code`.
    pub fn from_position(p: &Position, organization_fiscal_code: &str) -> Self {
        let inserted = ts(p.created_at);
        let updated = ts(p.updated_at);
        PaymentPositionModelBaseResponse {
            iupd: p.iupd.clone(),
            organization_fiscal_code: organization_fiscal_code.to_owned(),
            kind: match p.debtor.kind {
                crate::domain::position::SubjectType::F => SubjectKind::F,
                crate::domain::position::SubjectType::G => SubjectKind::G,
            },
            company_name: p.company_name.clone(),
            office_name: p.office_name.clone(),
            inserted_date: inserted.clone(),
            publish_date: p.published_at.map(ts),
            validity_date: p.validity_date.map(ts),
            payment_date: p.payment_date.map(ts),
            status: p.status.into(),
            last_updated_date: updated.clone(),
            payment_option: p
                .options
                .iter()
                .zip(details(p))
                .map(|(o, d)| PaymentOptionModelResponse {
                    nav: o.nav.as_str().to_owned(),
                    iuv: o.iuv.as_str().to_owned(),
                    organization_fiscal_code: organization_fiscal_code.to_owned(),
                    amount: o.amount.get(),
                    description: o.description.clone(),
                    is_partial_payment: o.is_partial_payment,
                    due_date: ts(o.due_date),
                    retention_date: o.retention_date.map(ts),
                    payment_date: d.paid_at.map(ts),
                    inserted_date: inserted.clone(),
                    fee: o.fee.get(),
                    notification_fee: d.notification_fee.get(),
                    status: o.status.as_str().to_owned(),
                    last_updated_date: updated.clone(),
                    payment_option_metadata: metadata_list(&o.metadata),
                    transfer: o
                        .transfers
                        .iter()
                        .enumerate()
                        .map(|(i, t)| {
                            let (iban, postal_iban, stamp) = destination_fields(t);
                            TransferModelResponse {
                                organization_fiscal_code: t.organization_fiscal_code.clone(),
                                company_name: t.company_name.clone(),
                                id_transfer: t.id_transfer.to_string(),
                                amount: t.amount.get(),
                                remittance_information: t.remittance_information.clone(),
                                category: t.category.clone(),
                                iban,
                                postal_iban,
                                stamp,
                                inserted_date: inserted.clone(),
                                status: if o.status
                                    == crate::domain::position::OptionStatus::Reported
                                {
                                    "T_REPORTED".to_owned()
                                } else {
                                    "T_UNREPORTED".to_owned()
                                },
                                last_updated_date: updated.clone(),
                                transfer_metadata: d
                                    .transfer_metadata
                                    .get(i)
                                    .map(|m| metadata_list(m))
                                    .unwrap_or_default(),
                            }
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}
