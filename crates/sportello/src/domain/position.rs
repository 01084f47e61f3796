//! Debt positions, GPD's model: a debtor owes one or more payment options, each split into
//! one to five transfers.

use pagopa::{Cents, Iuv, NoticeNumber};

use crate::clock::Timestamp;

/// Lifecycle of a debt position (GPD status values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PositionStatus {
    /// Being prepared; not payable.
    Draft,
    /// Published, payable from its validity date.
    Published,
    /// Payable.
    Valid,
    /// Cancelled by the ente.
    Invalid,
    /// Past its due date (when `switchToExpired`).
    Expired,
    /// Some installments paid.
    PartiallyPaid,
    /// Paid.
    Paid,
    /// Paid and reconciled.
    Reported,
}

impl PositionStatus {
    /// Every status.
    pub const ALL: [PositionStatus; 8] = [
        PositionStatus::Draft,
        PositionStatus::Published,
        PositionStatus::Valid,
        PositionStatus::Invalid,
        PositionStatus::Expired,
        PositionStatus::PartiallyPaid,
        PositionStatus::Paid,
        PositionStatus::Reported,
    ];

    /// The GPD name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            PositionStatus::Draft => "DRAFT",
            PositionStatus::Published => "PUBLISHED",
            PositionStatus::Valid => "VALID",
            PositionStatus::Invalid => "INVALID",
            PositionStatus::Expired => "EXPIRED",
            PositionStatus::PartiallyPaid => "PARTIALLY_PAID",
            PositionStatus::Paid => "PAID",
            PositionStatus::Reported => "REPORTED",
        }
    }

    /// Parses a GPD name.
    pub fn parse(s: &str) -> Option<PositionStatus> {
        PositionStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether money has already moved: such a position can no longer be changed or deleted.
    pub fn is_paid(self) -> bool {
        matches!(
            self,
            PositionStatus::Paid | PositionStatus::PartiallyPaid | PositionStatus::Reported
        )
    }
}

/// Natural (F) or legal (G) person, as pagoPA spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectType {
    /// Persona fisica.
    F,
    /// Persona giuridica.
    G,
}

impl SubjectType {
    /// "F" or "G".
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectType::F => "F",
            SubjectType::G => "G",
        }
    }

    /// Parses "F" or "G".
    pub fn parse(s: &str) -> Option<SubjectType> {
        match s {
            "F" => Some(SubjectType::F),
            "G" => Some(SubjectType::G),
            _ => None,
        }
    }
}

/// Where a position came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The GPD-compatible API.
    Api,
    /// A bulk CSV import.
    Import,
    /// A citizen's spontaneous payment on the portal.
    Portal,
}

impl Origin {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Api => "api",
            Origin::Import => "import",
            Origin::Portal => "portal",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Origin> {
        [Origin::Api, Origin::Import, Origin::Portal]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// The debtor of a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Debtor {
    /// F or G.
    pub kind: SubjectType,
    /// Codice fiscale or partita IVA (validated before it gets here).
    pub fiscal_code: String,
    /// Name (cognome e nome, or ragione sociale).
    pub full_name: String,
    /// Street.
    pub street_name: Option<String>,
    /// Civic number.
    pub civic_number: Option<String>,
    /// CAP.
    pub postal_code: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Province (two letters).
    pub province: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Country (ISO 3166 alpha-2).
    pub country: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
}

/// Where a transfer's money goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A bank (or postal) account.
    Iban {
        /// The IBAN.
        iban: String,
        /// The postal IBAN, when the ente also has one for this transfer.
        postal_iban: Option<String>,
    },
    /// A digital revenue stamp (marca da bollo).
    Stamp {
        /// Hash of the document the stamp is for (base64).
        hash_document: String,
        /// Stamp type code.
        stamp_type: String,
        /// Province of residence (two letters).
        provincial_residence: String,
    },
}

/// One share of a payment option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// 1 to 5.
    pub id_transfer: u8,
    /// Amount.
    pub amount: Cents,
    /// The ente receiving it.
    pub organization_fiscal_code: String,
    /// Remittance information (causale of the transfer).
    pub remittance_information: String,
    /// Taxonomy category (e.g. `9/0101108TS/`).
    pub category: String,
    /// Where the money goes.
    pub destination: Destination,
    /// Company name of the receiving ente, when not the position's.
    pub company_name: Option<String>,
}

/// Payment state of one option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionStatus {
    /// Not paid.
    Unpaid,
    /// Paid.
    Paid,
    /// Partially reported.
    PartiallyReported,
    /// Reported.
    Reported,
}

impl OptionStatus {
    /// GPD name.
    pub fn as_str(self) -> &'static str {
        match self {
            OptionStatus::Unpaid => "PO_UNPAID",
            OptionStatus::Paid => "PO_PAID",
            OptionStatus::PartiallyReported => "PO_PARTIALLY_REPORTED",
            OptionStatus::Reported => "PO_REPORTED",
        }
    }

    /// Whether it has been paid: PO_PAID, or paid and since (partially) reported by pagoPA's
    /// reporting flows (GPD's lifecycle: PO_PAID → PO_PARTIALLY_REPORTED → PO_REPORTED, moved
    /// by reconciliation, `store::recon`).
    pub fn is_paid(self) -> bool {
        self != OptionStatus::Unpaid
    }

    /// Parses a GPD name.
    pub fn parse(s: &str) -> Option<OptionStatus> {
        [
            OptionStatus::Unpaid,
            OptionStatus::Paid,
            OptionStatus::PartiallyReported,
            OptionStatus::Reported,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// A way to pay a position (the single payment, or one installment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentOption {
    /// IUV.
    pub iuv: Iuv,
    /// Notice number.
    pub nav: NoticeNumber,
    /// Amount (= sum of the transfers).
    pub amount: Cents,
    /// Description (causale).
    pub description: String,
    /// Whether this is an installment.
    pub is_partial_payment: bool,
    /// Due date.
    pub due_date: Timestamp,
    /// Retention date.
    pub retention_date: Option<Timestamp>,
    /// Fee charged to the citizen.
    pub fee: Cents,
    /// Status.
    pub status: OptionStatus,
    /// Free key/value metadata, JSON.
    pub metadata: String,
    /// 1 to 5 transfers.
    pub transfers: Vec<Transfer>,
}

impl PaymentOption {
    /// Whether amount = sum of the transfers, with 1–5 transfers numbered 1..n.
    pub fn is_consistent(&self) -> bool {
        let n = self.transfers.len();
        (1..=5).contains(&n)
            && Cents::checked_sum(self.transfers.iter().map(|t| t.amount)) == Some(self.amount)
            && self
                .transfers
                .iter()
                .all(|t| (1..=n as u8).contains(&t.id_transfer))
    }
}

/// A debt position to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPosition {
    /// Unique position id within the ente.
    pub iupd: String,
    /// Debtor.
    pub debtor: Debtor,
    /// Ente's company name shown on the notice.
    pub company_name: String,
    /// Office name.
    pub office_name: Option<String>,
    /// When it becomes payable (None: at publication).
    pub validity_date: Option<Timestamp>,
    /// Whether it expires after the due date.
    pub switch_to_expired: bool,
    /// Initial status.
    pub status: PositionStatus,
    /// Payment options.
    pub options: Vec<PaymentOption>,
    /// The catalog service it belongs to, if any.
    pub service_id: Option<i64>,
    /// Where it came from.
    pub origin: Origin,
    /// The citizen who started it (spontaneous payments).
    pub created_by_account_id: Option<i64>,
    /// When an abandoned spontaneous position is removed.
    pub abandon_at: Option<Timestamp>,
}

/// A stored debt position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// Primary key.
    pub id: i64,
    /// Ente primary key.
    pub ente_id: i64,
    /// Unique position id.
    pub iupd: String,
    /// Debtor.
    pub debtor: Debtor,
    /// Company name.
    pub company_name: String,
    /// Office name.
    pub office_name: Option<String>,
    /// Validity date.
    pub validity_date: Option<Timestamp>,
    /// Switch to expired.
    pub switch_to_expired: bool,
    /// Status.
    pub status: PositionStatus,
    /// Service.
    pub service_id: Option<i64>,
    /// Origin.
    pub origin: Origin,
    /// Who started it.
    pub created_by_account_id: Option<i64>,
    /// Publication time.
    pub published_at: Option<Timestamp>,
    /// Payment time.
    pub payment_date: Option<Timestamp>,
    /// Optimistic-lock version.
    pub version: i64,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last update.
    pub updated_at: Timestamp,
    /// Payment options with their transfers.
    pub options: Vec<PaymentOption>,
    /// GPD `payStandIn`: whether the node may take payments in stand-in mode.
    pub pay_stand_in: bool,
    /// Fingerprint of the CSV rows it was imported from (bulk import idempotency).
    pub content_hash: Option<String>,
    /// Stored details of each option that the domain model does not carry, parallel to
    /// `options`.
    pub option_details: Vec<OptionDetails>,
}

/// What is stored about a payment option besides [`PaymentOption`]: read back for the API.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OptionDetails {
    /// When it was paid.
    pub paid_at: Option<Timestamp>,
    /// Notification fee (SEND), in cents.
    pub notification_fee: Cents,
    /// Each transfer's metadata (JSON), parallel to the option's `transfers`.
    pub transfer_metadata: Vec<String>,
}

/// What the GPD lifecycle allows from each status (pagoPA GPD's rules, kept here so the API and
/// the import agree).
impl PositionStatus {
    /// Whether a PUT may replace the position: not once paid, reported or invalidated (an
    /// EXPIRED position may be updated, e.g. to move its due date).
    pub fn is_updatable(self) -> bool {
        !matches!(
            self,
            PositionStatus::Invalid
                | PositionStatus::PartiallyPaid
                | PositionStatus::Paid
                | PositionStatus::Reported
        )
    }

    /// Whether the position may be deleted: only while no money has moved.
    pub fn is_deletable(self) -> bool {
        !self.is_paid()
    }

    /// Whether it may be published: only a draft.
    pub fn is_publishable(self) -> bool {
        self == PositionStatus::Draft
    }

    /// Whether it may be invalidated (cancelled): only once published and before any payment.
    pub fn is_invalidable(self) -> bool {
        matches!(self, PositionStatus::Published | PositionStatus::Valid)
    }
}

/// Why a position cannot be published now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishRefusal {
    /// No validity date was given and an option is already past its due date.
    DueDatePassed,
    /// The validity date given is already in the past.
    ValidityDatePassed,
}

/// The status and validity date a position gets when published at `now` (GPD's rules): without
/// a validity date it is payable at once (VALID, valid from now) provided no option is already
/// due; with a future validity date it waits as PUBLISHED until then.
pub fn publication(
    validity_date: Option<Timestamp>,
    earliest_due_date: Timestamp,
    now: Timestamp,
) -> Result<(PositionStatus, Timestamp), PublishRefusal> {
    match validity_date {
        None if !is_past_due(earliest_due_date, now) => Ok((PositionStatus::Valid, now)),
        None => Err(PublishRefusal::DueDatePassed),
        Some(v) if v < now => Err(PublishRefusal::ValidityDatePassed),
        Some(v) => Ok((PositionStatus::Published, v)),
    }
}

/// Whether an option due at `due` is past due at `now`. A due date names a second on Rome's
/// clock (GPD's `2031-05-31T23:59:59`): the option is payable until that second *ends*.
pub fn is_past_due(due: Timestamp, now: Timestamp) -> bool {
    due < due_cutoff(now)
}

/// The earliest due date still payable at `now`, for queries: an option is past due exactly
/// when its due date is before this instant (see [`is_past_due`]).
pub fn due_cutoff(now: Timestamp) -> Timestamp {
    // Payable while now < start_of_second(due) + 1 s, i.e. while due >= start_of_second(now).
    now.start_of_second()
}

/// How long after an activation (`paGetPayment[V2]`) the node may still be collecting the money:
/// pagoPA's longest payment-token validity, 30 minutes.
pub const ACTIVATION_HOLD: time::Duration = time::Duration::minutes(30);

/// Whether a payment may be under way at `now`, the last activation of the position's options
/// having been at `last_activation`. Meanwhile the position must stay as the node saw it: it
/// cannot be replaced, deleted or invalidated (the receipt would arrive for a position that is
/// no longer there).
pub fn is_being_paid(last_activation: Option<Timestamp>, now: Timestamp) -> bool {
    last_activation.is_some_and(|at| now < at.plus(ACTIVATION_HOLD))
}

/// Whether a position with `switch_to_expired` has expired at `now`: it is VALID and every
/// option still unpaid is past its due date.
pub fn is_overdue(
    status: PositionStatus,
    switch_to_expired: bool,
    options: &[PaymentOption],
    now: Timestamp,
) -> bool {
    status == PositionStatus::Valid
        && switch_to_expired
        && options.iter().any(|o| o.status == OptionStatus::Unpaid)
        && options
            .iter()
            .filter(|o| o.status == OptionStatus::Unpaid)
            .all(|o| is_past_due(o.due_date, now))
}

#[cfg(test)]
mod lifecycle_tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn what_each_status_allows() {
        use PositionStatus::*;
        assert!(Draft.is_publishable());
        assert!(!Valid.is_publishable());
        assert!(Published.is_invalidable() && Valid.is_invalidable());
        assert!(!Draft.is_invalidable() && !Paid.is_invalidable() && !Expired.is_invalidable());
        assert!(Expired.is_updatable() && Valid.is_updatable() && Draft.is_updatable());
        assert!(!Paid.is_updatable() && !PartiallyPaid.is_updatable() && !Invalid.is_updatable());
        assert!(
            Invalid.is_deletable() && !Reported.is_deletable() && !PartiallyPaid.is_deletable()
        );
    }

    #[test]
    fn overdue_means_every_unpaid_option_past_due() {
        let now = at("2026-05-01T10:00:00Z");
        let option = |due: &str, status: OptionStatus| PaymentOption {
            iuv: Iuv::parse("01000000000000144").unwrap(),
            nav: NoticeNumber::parse("301000000000000144").unwrap(),
            amount: Cents::new(100),
            description: "x".into(),
            is_partial_payment: true,
            due_date: at(due),
            retention_date: None,
            fee: Cents::ZERO,
            status,
            metadata: "[]".into(),
            transfers: Vec::new(),
        };
        let past = option("2026-04-30T00:00:00Z", OptionStatus::Unpaid);
        let future = option("2026-06-30T00:00:00Z", OptionStatus::Unpaid);
        let paid_future = option("2026-06-30T00:00:00Z", OptionStatus::Paid);
        use PositionStatus::*;
        assert!(is_overdue(Valid, true, std::slice::from_ref(&past), now));
        assert!(
            !is_overdue(Valid, false, std::slice::from_ref(&past), now),
            "switchToExpired off"
        );
        assert!(
            !is_overdue(Draft, true, std::slice::from_ref(&past), now),
            "only VALID expires"
        );
        assert!(!is_overdue(Valid, true, &[past.clone(), future], now));
        assert!(is_overdue(Valid, true, &[past, paid_future.clone()], now));
        assert!(
            !is_overdue(Valid, true, std::slice::from_ref(&paid_future), now),
            "nothing left to pay"
        );
    }

    #[test]
    fn an_option_is_payable_until_its_due_second_ends() {
        let due = at("2031-05-31T21:59:59Z");
        assert!(!is_past_due(due, at("2031-05-31T21:59:58.999999Z")));
        assert!(!is_past_due(due, due));
        assert!(!is_past_due(due, at("2031-05-31T21:59:59.999999Z")));
        assert!(is_past_due(due, at("2031-05-31T22:00:00Z")));
        // A due date with a fraction names the same second.
        let fraction = at("2031-05-31T21:59:59.5Z");
        assert!(!is_past_due(fraction, at("2031-05-31T21:59:59.9Z")));
        assert!(is_past_due(fraction, at("2031-05-31T22:00:00Z")));
    }

    proptest::proptest! {
        #[test]
        fn past_due_exactly_from_the_end_of_the_due_second(
            due_us in 0i64..4_102_444_800_000_000,
            delta_us in -3_000_000i64..3_000_000,
        ) {
            let due = Timestamp::from(
                time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(due_us) * 1000).unwrap(),
            );
            let now = due.plus(time::Duration::microseconds(delta_us));
            let second_ends = due.start_of_second().plus(time::Duration::SECOND);
            proptest::prop_assert_eq!(is_past_due(due, now), now >= second_ends);
            proptest::prop_assert_eq!(is_past_due(due, now), due < due_cutoff(now));
        }
    }

    #[test]
    fn publication_follows_gpd() {
        let now = at("2026-05-01T10:00:00Z");
        let due = at("2026-06-30T21:59:59Z");
        assert_eq!(
            publication(None, due, now),
            Ok((PositionStatus::Valid, now))
        );
        assert_eq!(
            publication(None, at("2026-04-30T10:00:00Z"), now),
            Err(PublishRefusal::DueDatePassed)
        );
        let later = at("2026-05-10T00:00:00Z");
        assert_eq!(
            publication(Some(later), due, now),
            Ok((PositionStatus::Published, later))
        );
        assert_eq!(
            publication(Some(at("2026-04-01T00:00:00Z")), due, now),
            Err(PublishRefusal::ValidityDatePassed)
        );
    }
}
