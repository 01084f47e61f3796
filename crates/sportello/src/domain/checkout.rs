//! A checkout: a cart of up to five notices sent to pagoPA Checkout, and where it stands.
//!
//! `Created` (row written, Checkout not yet answered) → `Redirected` (the citizen is on
//! Checkout) → `WaitingReceipt` (back through the ok URL) → `Paid` / `PartiallyPaid` (set by the
//! station when receipts arrive); or `Cancelled` / `Failed`. Only receipts mark anything paid:
//! the citizen's return moves a checkout between waiting states and nothing else.

use std::fmt;

/// pagoPA's cap on notices paid in one transaction (Checkout cart).
pub const MAX_CART: usize = 5;

/// How long a checkout waits for its receipt before its notices are offered again to its
/// owner: a receipt that never came (the PSP gave up) must not hide a debt for ever.
pub const WAIT_LIMIT_MINUTES: i64 = 30;

/// Where a checkout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckoutState {
    /// Stored; Checkout not yet answered.
    Created,
    /// Checkout accepted the cart; the citizen is there.
    Redirected,
    /// The citizen came back through the ok URL; the receipts are on their way.
    WaitingReceipt,
    /// Every notice paid.
    Paid,
    /// Some notices paid.
    PartiallyPaid,
    /// The citizen cancelled on Checkout.
    Cancelled,
    /// Checkout refused the cart, could not be reached, or returned to the error URL.
    Failed,
}

/// How the citizen came back from Checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Return {
    /// `returnOkUrl`: paid on Checkout's side; the receipt is on its way.
    Ok,
    /// `returnCancelUrl`.
    Cancel,
    /// `returnErrorUrl`.
    Error,
}

impl CheckoutState {
    /// Every state.
    pub const ALL: [CheckoutState; 7] = [
        CheckoutState::Created,
        CheckoutState::Redirected,
        CheckoutState::WaitingReceipt,
        CheckoutState::Paid,
        CheckoutState::PartiallyPaid,
        CheckoutState::Cancelled,
        CheckoutState::Failed,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckoutState::Created => "created",
            CheckoutState::Redirected => "redirected",
            CheckoutState::WaitingReceipt => "waiting_receipt",
            CheckoutState::Paid => "paid",
            CheckoutState::PartiallyPaid => "partially_paid",
            CheckoutState::Cancelled => "cancelled",
            CheckoutState::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<CheckoutState> {
        CheckoutState::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether the citizen is (or may still be) on Checkout.
    pub fn is_open(self) -> bool {
        matches!(self, CheckoutState::Created | CheckoutState::Redirected)
    }

    /// Whether nothing was or will be paid through it.
    pub fn is_abandoned(self) -> bool {
        matches!(self, CheckoutState::Cancelled | CheckoutState::Failed)
    }

    /// The state a return moves an open checkout to; `None` when the checkout is no longer
    /// open (receipts may have come first, a reload comes again): nothing changes then.
    pub fn on_return(self, how: Return) -> Option<CheckoutState> {
        if !self.is_open() {
            return None;
        }
        Some(match how {
            Return::Ok => CheckoutState::WaitingReceipt,
            Return::Cancel => CheckoutState::Cancelled,
            Return::Error => CheckoutState::Failed,
        })
    }
}

impl fmt::Display for CheckoutState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip() {
        for s in CheckoutState::ALL {
            assert_eq!(CheckoutState::parse(s.as_str()), Some(s));
        }
        assert_eq!(CheckoutState::parse("done"), None);
    }

    #[test]
    fn only_open_checkouts_move_on_return() {
        use CheckoutState as S;
        assert_eq!(S::Redirected.on_return(Return::Ok), Some(S::WaitingReceipt));
        assert_eq!(S::Created.on_return(Return::Cancel), Some(S::Cancelled));
        assert_eq!(S::Redirected.on_return(Return::Error), Some(S::Failed));
        for s in [
            S::WaitingReceipt,
            S::Paid,
            S::PartiallyPaid,
            S::Cancelled,
            S::Failed,
        ] {
            assert_eq!(s.on_return(Return::Ok), None, "{s}");
        }
    }
}
