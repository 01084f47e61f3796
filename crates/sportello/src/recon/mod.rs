//! Reconciliation (*riconciliazione*): pagoPA's reporting flows (FdR) matched to the receipts
//! Sportello stored, receipts the station never got recovered from pagoPA's receipts API, and
//! the flows matched to the treasury's bank credits (camt.053 or CSV).
//!
//! The path of a payment: notice → receipt (`paSendRT`, or recovered) → flow line (FdR) → bank
//! credit. Each step that does not add up is an anomaly ([`AnomalyKind`]); a receipt's place
//! on the path is its [`ReportingState`], kept on the receipt row. See docs/reconciliation.md.
//!
//! - [`sync`]: one round against the FdR API (also the background job, [`job`]);
//! - [`matching`]: the matching rule, pure;
//! - [`treasury`]: the bank statement's import;
//! - [`views`]: what the back office shows and exports.

pub mod client;
pub mod job;
pub mod matching;
pub mod sync;
pub mod treasury;
pub mod views;

/// Why a payment, a flow or a credit needs a person's attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// A flow line with no receipt (IUV, IUR, idTransfer unknown).
    UnknownPayment,
    /// A flow line whose amount differs from the receipt transfer's.
    AmountMismatch,
    /// The same (IUV, IUR, idTransfer) twice in one flow.
    DuplicateLine,
    /// The header's number of payments is not the number of lines.
    HeaderCountMismatch,
    /// The header's total is not the sum of the lines.
    HeaderSumMismatch,
    /// A line with payStatus REVOKED.
    Revoked,
    /// A line paid in stand-in (STAND_IN, STAND_IN_NO_RPT) whose receipt is missing.
    StandIn,
    /// A line with payStatus NO_RPT (paid without a receipt).
    NoRpt,
    /// A receipt no flow reported within `fdr.no_flow_days`.
    NoFlow,
    /// A flow no bank credit settled within `fdr.no_credit_days`.
    NoCredit,
    /// A bank credit naming no known flow.
    CreditWithoutFlow,
    /// A bank credit for a flow, of a different amount.
    CreditAmountMismatch,
}

impl AnomalyKind {
    /// Every kind, in documentation order.
    pub const ALL: [AnomalyKind; 12] = [
        AnomalyKind::UnknownPayment,
        AnomalyKind::AmountMismatch,
        AnomalyKind::DuplicateLine,
        AnomalyKind::HeaderCountMismatch,
        AnomalyKind::HeaderSumMismatch,
        AnomalyKind::Revoked,
        AnomalyKind::StandIn,
        AnomalyKind::NoRpt,
        AnomalyKind::NoFlow,
        AnomalyKind::NoCredit,
        AnomalyKind::CreditWithoutFlow,
        AnomalyKind::CreditAmountMismatch,
    ];

    /// The stored and exported code.
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::UnknownPayment => "unknown_payment",
            AnomalyKind::AmountMismatch => "amount_mismatch",
            AnomalyKind::DuplicateLine => "duplicate_line",
            AnomalyKind::HeaderCountMismatch => "header_count_mismatch",
            AnomalyKind::HeaderSumMismatch => "header_sum_mismatch",
            AnomalyKind::Revoked => "revoked",
            AnomalyKind::StandIn => "stand_in",
            AnomalyKind::NoRpt => "no_rpt",
            AnomalyKind::NoFlow => "no_flow",
            AnomalyKind::NoCredit => "no_credit",
            AnomalyKind::CreditWithoutFlow => "credit_without_flow",
            AnomalyKind::CreditAmountMismatch => "credit_amount_mismatch",
        }
    }

    /// Parses a stored code.
    pub fn parse(code: &str) -> Option<AnomalyKind> {
        AnomalyKind::ALL.into_iter().find(|k| k.as_str() == code)
    }

    /// A label for staff, in Italian.
    pub fn label(self) -> &'static str {
        match self {
            AnomalyKind::UnknownPayment => "Pagamento sconosciuto",
            AnomalyKind::AmountMismatch => "Importo diverso",
            AnomalyKind::DuplicateLine => "Riga duplicata",
            AnomalyKind::HeaderCountMismatch => "Numero pagamenti errato",
            AnomalyKind::HeaderSumMismatch => "Totale del flusso errato",
            AnomalyKind::Revoked => "Pagamento revocato",
            AnomalyKind::StandIn => "Pagamento in stand-in",
            AnomalyKind::NoRpt => "Pagamento senza ricevuta",
            AnomalyKind::NoFlow => "Ricevuta non rendicontata",
            AnomalyKind::NoCredit => "Flusso non riversato",
            AnomalyKind::CreditWithoutFlow => "Accredito senza flusso",
            AnomalyKind::CreditAmountMismatch => "Accredito di importo diverso",
        }
    }

    /// Whether the missing receipt may be fetched from pagoPA's receipts API.
    pub fn recoverable(self) -> bool {
        matches!(self, AnomalyKind::UnknownPayment | AnomalyKind::StandIn)
    }
}

/// Where a receipt stands on the path notice → receipt → flow line → bank credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportingState {
    /// No flow has reported it yet.
    Pending,
    /// Every transfer is on a line of a current flow.
    Reported,
    /// …and every such flow is settled by a bank credit.
    Credited,
    /// An open anomaly concerns it.
    Anomaly,
}

impl ReportingState {
    /// The stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportingState::Pending => "pending",
            ReportingState::Reported => "reported",
            ReportingState::Credited => "credited",
            ReportingState::Anomaly => "anomaly",
        }
    }

    /// Parses a stored code.
    pub fn parse(code: &str) -> Option<ReportingState> {
        [
            ReportingState::Pending,
            ReportingState::Reported,
            ReportingState::Credited,
            ReportingState::Anomaly,
        ]
        .into_iter()
        .find(|s| s.as_str() == code)
    }

    /// A label for staff and citizens, in Italian.
    pub fn label(self) -> &'static str {
        match self {
            ReportingState::Pending => "In attesa di rendicontazione",
            ReportingState::Reported => "Rendicontata",
            ReportingState::Credited => "Riversata in tesoreria",
            ReportingState::Anomaly => "Anomalia di riconciliazione",
        }
    }
}

/// The reconciliation settings (`fdr.*`).
#[derive(Clone, PartialEq, Eq)]
pub struct ReconConfig {
    /// The FdR organization API base (`…/fdr-org/service/v1`); None: reconciliation is off.
    pub fdr_url: Option<String>,
    /// Whether `fdr_url` is the demo's default (the sandbox's; replaced by its bound address).
    pub fdr_url_is_derived: bool,
    /// Sent in `Ocp-Apim-Subscription-Key` to the FdR API.
    pub fdr_api_key: Option<String>,
    /// The receipts API base (biz-events, `…/bizevents/service/v1`); None: no recovery.
    pub receipts_url: Option<String>,
    /// Sent in `Ocp-Apim-Subscription-Key` to the receipts API.
    pub receipts_api_key: Option<String>,
    /// Lines and flows asked per page (1–1000).
    pub page_size: u32,
    /// Seconds between two background rounds.
    pub interval_seconds: u64,
    /// Days after payment before a receipt no flow reported is an anomaly.
    pub no_flow_days: i64,
    /// Days after a flow's publication before a flow no credit settled is an anomaly.
    pub no_credit_days: i64,
    /// Seconds each call may take.
    pub timeout_seconds: u64,
    /// Largest bank statement the back office's upload accepts, in bytes.
    pub treasury_max_upload_bytes: usize,
}

impl std::fmt::Debug for ReconConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys are secrets: shown only as present or not.
        f.debug_struct("ReconConfig")
            .field("fdr_url", &self.fdr_url)
            .field("fdr_api_key", &self.fdr_api_key.as_ref().map(|_| "***"))
            .field("receipts_url", &self.receipts_url)
            .field(
                "receipts_api_key",
                &self.receipts_api_key.as_ref().map(|_| "***"),
            )
            .field("page_size", &self.page_size)
            .field("interval_seconds", &self.interval_seconds)
            .field("no_flow_days", &self.no_flow_days)
            .field("no_credit_days", &self.no_credit_days)
            .finish()
    }
}

impl ReconConfig {
    /// Points the derived (demo) URLs at a sandbox bound at `sandbox_url`.
    pub fn use_sandbox(&mut self, sandbox_url: &str) {
        if self.fdr_url_is_derived {
            self.fdr_url = Some(format!("{sandbox_url}{}", sandbox::FDR_BASE));
            self.receipts_url = Some(format!("{sandbox_url}{}", sandbox::RECEIPTS_BASE));
        }
    }
}
