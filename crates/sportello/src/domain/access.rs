//! "May this person see, pay or print this notice or receipt": the one rule.
//!
//! Every caller — the station (payability), the cart and the "Pagamento per altri" lookup, the
//! history, the documents (notice and receipt PDFs) — asks these functions and nothing else.
//! The store may narrow its queries with the same inputs (a [`Viewer`]'s account and *verified*
//! fiscal code) so that pages stay cheap, but what it returns is checked here before anyone sees
//! it. The contract in words is `docs/identity.md` ("What a viewer sees").
//!
//! - A position the municipality created (API, import) is its debtor's: it is shown to an
//!   account *verified* for the debtor's fiscal code, never to one that merely claims it.
//! - A position created on the portal (a spontaneous payment) belongs to the account that
//!   created it. The fiscal code typed in its debtor field is a claim like any other: it never
//!   puts the position in that person's list.
//! - A notice added by its code ("Pagamento per altri") may be paid by who added it, if its
//!   service allows paying for others; its debtor is shown masked and its PDF is not theirs to
//!   download.
//! - Receipts: see [`receipt_access`].

use crate::clock::Timestamp;
use crate::domain::identity::Viewer;
use crate::domain::position::{
    OptionStatus, Origin, PaymentOption, Position, PositionStatus, is_past_due,
};

/// What the rule needs to know about a debt position and one of its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoticeFacts<'a> {
    /// Who created the position.
    pub origin: Origin,
    /// The debtor's fiscal code as stored on the position.
    pub debtor_fiscal_code: &'a str,
    /// The account that created it on the portal.
    pub created_by_account_id: Option<i64>,
    /// Whether the viewer added this notice to their cart by its code.
    pub added_by_viewer: bool,
    /// Whether its service allows paying for others (true without a service).
    pub pay_for_others: bool,
}

/// How a viewer stands to a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// Verified for the debtor's code of a position the municipality created.
    Debtor,
    /// Created the position on the portal.
    Creator,
    /// Added the notice by its code to pay it for someone else.
    ForOthers,
}

/// How the debtor of a notice or receipt is shown to a viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebtorShown {
    /// It is the viewer ("Tu").
    Viewer,
    /// In full: the viewer typed it (a position they created).
    Full,
    /// Masked: another person.
    Masked,
}

impl Relation {
    /// Whether the viewer may download the notice PDF (it carries the debtor's full name,
    /// fiscal code and address): the debtor and the creator, never who found it by code.
    pub fn may_print_notice(self) -> bool {
        matches!(self, Relation::Debtor | Relation::Creator)
    }

    /// How the debtor is shown.
    pub fn debtor_shown(self) -> DebtorShown {
        match self {
            Relation::Debtor => DebtorShown::Viewer,
            Relation::Creator => DebtorShown::Full,
            Relation::ForOthers => DebtorShown::Masked,
        }
    }

    /// Whether the viewer may take it out of their list (only what they added by code).
    pub fn removable(self) -> bool {
        self == Relation::ForOthers
    }
}

/// How `viewer` stands to a notice, `None` when it is none of their business.
pub fn relation(viewer: &Viewer, notice: &NoticeFacts<'_>) -> Option<Relation> {
    if notice.origin != Origin::Portal && viewer.is_verified_as(notice.debtor_fiscal_code) {
        Some(Relation::Debtor)
    } else if notice.created_by_account_id == Some(viewer.account_id()) {
        Some(Relation::Creator)
    } else if notice.added_by_viewer && notice.pay_for_others {
        Some(Relation::ForOthers)
    } else {
        None
    }
}

/// Why a notice found by its code cannot be added to a viewer's cart "for others".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForOthersRefusal {
    /// The viewer is its verified debtor: it is in their list already.
    Own,
    /// The viewer created it: it is in their list already.
    Created,
    /// Its service does not allow paying for others.
    NotForOthers,
}

/// Whether `viewer` may add a notice they found by its code to their cart.
pub fn may_add_for_others(
    viewer: &Viewer,
    notice: &NoticeFacts<'_>,
) -> Result<(), ForOthersRefusal> {
    match relation(viewer, notice) {
        Some(Relation::Debtor) => Err(ForOthersRefusal::Own),
        Some(Relation::Creator) => Err(ForOthersRefusal::Created),
        _ if !notice.pay_for_others => Err(ForOthersRefusal::NotForOthers),
        _ => Ok(()),
    }
}

/// The state of an option and its position, as payability needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoticeState {
    /// The position's status.
    pub position_status: PositionStatus,
    /// When a published position becomes valid.
    pub validity_date: Option<Timestamp>,
    /// Whether the position expires after its due date.
    pub switch_to_expired: bool,
    /// The option's status.
    pub option_status: OptionStatus,
    /// Whether the option is an installment.
    pub is_partial_payment: bool,
    /// The option's due date.
    pub due_date: Timestamp,
}

impl NoticeState {
    /// The state of `option` of `position`.
    pub fn of(position: &Position, option: &PaymentOption) -> NoticeState {
        NoticeState {
            position_status: position.status,
            validity_date: position.validity_date,
            switch_to_expired: position.switch_to_expired,
            option_status: option.status,
            is_partial_payment: option.is_partial_payment,
            due_date: option.due_date,
        }
    }
}

/// Why a notice cannot be paid now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unpayable {
    /// A draft: the municipality has not published it.
    NotPublished,
    /// Published for a later date.
    NotYetValid,
    /// Cancelled by the municipality.
    Cancelled,
    /// Already paid (the position or the option).
    Paid,
    /// An installment plan has begun: the single payment is no longer offered.
    InstallmentsStarted,
    /// Past its due date.
    Expired,
}

impl Unpayable {
    /// The reason in Italian, for people and for the fault description sent to the node.
    pub fn reason(self) -> &'static str {
        match self {
            Unpayable::NotPublished => "la posizione non è pubblicata",
            Unpayable::NotYetValid => "la posizione non è ancora valida",
            Unpayable::Cancelled => "la posizione è stata annullata",
            Unpayable::Paid => "l'avviso è già pagato",
            Unpayable::InstallmentsStarted => {
                "il pagamento a rate è già iniziato: l'avviso per l'importo intero non è più pagabile"
            }
            Unpayable::Expired => "l'avviso è scaduto",
        }
    }
}

/// Whether a notice can be paid at `now` (by anyone: at the node, on the portal, at a PSP).
pub fn payability(n: &NoticeState, now: Timestamp) -> Result<(), Unpayable> {
    use PositionStatus as S;
    match n.position_status {
        S::Draft => return Err(Unpayable::NotPublished),
        S::Published if n.validity_date.is_some_and(|v| v > now) => {
            return Err(Unpayable::NotYetValid);
        }
        S::Invalid => return Err(Unpayable::Cancelled),
        S::Paid | S::Reported => return Err(Unpayable::Paid),
        _ => {}
    }
    if n.option_status != OptionStatus::Unpaid {
        return Err(Unpayable::Paid);
    }
    if n.position_status == S::PartiallyPaid && !n.is_partial_payment {
        return Err(Unpayable::InstallmentsStarted);
    }
    if n.position_status == S::Expired || (n.switch_to_expired && is_past_due(n.due_date, now)) {
        return Err(Unpayable::Expired);
    }
    Ok(())
}

/// Position statuses whose paper notice is worth printing: published and neither fully paid
/// nor cancelled (the bulk ZIP of the back office uses the same list).
pub const PRINTABLE: [PositionStatus; 3] = [
    PositionStatus::Published,
    PositionStatus::Valid,
    PositionStatus::PartiallyPaid,
];

/// Whether `viewer` may download the notice PDF of a position in `status`.
pub fn may_print_notice(viewer: &Viewer, notice: &NoticeFacts<'_>, status: PositionStatus) -> bool {
    PRINTABLE.contains(&status) && relation(viewer, notice).is_some_and(Relation::may_print_notice)
}

/// Whether a checkout that is waiting for its receipt hides a notice from `viewer`: only from
/// the citizen whose checkout it is. Nobody can hold someone else's notice by starting one.
pub fn waiting_hides(viewer: &Viewer, checkout_account_id: Option<i64>) -> bool {
    checkout_account_id == Some(viewer.account_id())
}

/// What the rule needs to know about a stored receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptFacts<'a> {
    /// `OK` outcome.
    pub ok: bool,
    /// Flagged for refund (a second payment, or a notice no longer payable).
    pub refund_required: bool,
    /// The account that paid it on the portal (its checkout), if any.
    pub payer_account_id: Option<i64>,
    /// The debtor's fiscal code on the receipt.
    pub debtor_fiscal_code: &'a str,
    /// The payer's fiscal code on the receipt, if any.
    pub payer_fiscal_code: Option<&'a str>,
    /// The position it paid: its origin and creator (`None` for an unknown notice).
    pub position: Option<(Origin, Option<i64>)>,
}

/// How a viewer may see a receipt: the same answer for the history list, the detail, the CSV
/// and the receipt PDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptAccess {
    /// How the debtor is shown.
    pub debtor: DebtorShown,
    /// How the payer is shown (when the receipt names one).
    pub payer: DebtorShown,
}

/// Whether `viewer` may see a receipt, and how. A successful receipt not flagged for refund is
/// visible to the account that paid it on the portal; one paid outside the portal (no paying
/// account) to the verified debtor of a municipality-created position and to the creator of a
/// portal position. A payment another citizen made on the portal belongs to the payer's
/// history only. Other people's names and codes are shown masked.
pub fn receipt_access(viewer: &Viewer, r: &ReceiptFacts<'_>) -> Option<ReceiptAccess> {
    if !r.ok || r.refund_required {
        return None;
    }
    let creator =
        matches!(r.position, Some((Origin::Portal, Some(by))) if by == viewer.account_id());
    let verified_debtor = !matches!(r.position, Some((Origin::Portal, _)))
        && viewer.is_verified_as(r.debtor_fiscal_code);
    let visible = match r.payer_account_id {
        Some(payer) => payer == viewer.account_id(),
        None => verified_debtor || creator,
    };
    if !visible {
        return None;
    }
    let shown = |code: Option<&str>| match code {
        Some(c) if viewer.is_verified_as(c) => DebtorShown::Viewer,
        _ => DebtorShown::Masked,
    };
    Some(ReceiptAccess {
        debtor: if creator {
            DebtorShown::Full
        } else {
            shown(Some(r.debtor_fiscal_code))
        },
        // The payer of a portal payment is the viewer: what they gave Checkout is theirs.
        payer: if r.payer_account_id == Some(viewer.account_id()) {
            DebtorShown::Full
        } else {
            shown(r.payer_fiscal_code)
        },
    })
}

/// "Mario Rossi" → "M**** R****": enough for a payer to recognise the debtor, not enough to
/// learn a stranger's name from a notice code.
pub fn mask_name(name: &str) -> String {
    name.split_whitespace()
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => format!("{first}{}", "*".repeat(chars.count().max(1))),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// "RSSMRA80A01H501U" → "RSS************U".
pub fn mask_fiscal_code(code: &str) -> String {
    let chars: Vec<char> = code.trim().chars().collect();
    if chars.len() < 5 {
        return "*".repeat(chars.len().max(1));
    }
    let mut out: String = chars[..3].iter().collect();
    out.push_str(&"*".repeat(chars.len() - 4));
    out.push(chars[chars.len() - 1]);
    out
}

impl DebtorShown {
    /// A name as this viewer may read it.
    pub fn name(self, name: &str) -> String {
        match self {
            DebtorShown::Viewer | DebtorShown::Full => name.to_owned(),
            DebtorShown::Masked => mask_name(name),
        }
    }

    /// A fiscal code as this viewer may read it.
    pub fn fiscal_code(self, code: &str) -> String {
        match self {
            DebtorShown::Viewer | DebtorShown::Full => code.to_owned(),
            DebtorShown::Masked => mask_fiscal_code(code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARIO: &str = "RSSMRA80A01H501U";

    fn notice(origin: Origin, created_by: Option<i64>, added: bool) -> NoticeFacts<'static> {
        NoticeFacts {
            origin,
            debtor_fiscal_code: MARIO,
            created_by_account_id: created_by,
            added_by_viewer: added,
            pay_for_others: true,
        }
    }

    #[test]
    fn a_claimed_code_shows_nothing() {
        let claim = Viewer::unverified(1);
        assert_eq!(relation(&claim, &notice(Origin::Api, None, false)), None);
        let proven = Viewer::verified(1, MARIO);
        assert_eq!(
            relation(&proven, &notice(Origin::Api, None, false)),
            Some(Relation::Debtor)
        );
        assert_eq!(
            relation(&proven, &notice(Origin::Import, None, false)),
            Some(Relation::Debtor)
        );
    }

    #[test]
    fn a_portal_position_is_its_creators_whatever_code_it_names() {
        let mario = Viewer::verified(2, MARIO);
        let stranger = Viewer::unverified(1);
        let n = notice(Origin::Portal, Some(1), false);
        assert_eq!(relation(&mario, &n), None);
        assert_eq!(relation(&stranger, &n), Some(Relation::Creator));
        assert!(may_print_notice(&stranger, &n, PositionStatus::Valid));
        assert!(!may_print_notice(&stranger, &n, PositionStatus::Paid));
    }

    #[test]
    fn a_notice_found_by_code_is_paid_not_printed() {
        let payer = Viewer::unverified(3);
        let n = notice(Origin::Api, None, true);
        assert_eq!(relation(&payer, &n), Some(Relation::ForOthers));
        assert!(!may_print_notice(&payer, &n, PositionStatus::Valid));
        assert_eq!(Relation::ForOthers.debtor_shown(), DebtorShown::Masked);
        let closed = NoticeFacts {
            pay_for_others: false,
            ..n
        };
        assert_eq!(relation(&payer, &closed), None);
        assert_eq!(
            may_add_for_others(&payer, &closed),
            Err(ForOthersRefusal::NotForOthers)
        );
        assert_eq!(
            may_add_for_others(&Viewer::verified(4, MARIO), &n),
            Err(ForOthersRefusal::Own)
        );
        // A claim is no reason to refuse: the claimant may pay it for the debtor.
        assert_eq!(may_add_for_others(&Viewer::unverified(4), &n), Ok(()));
    }

    #[test]
    fn waiting_hides_only_from_the_checkouts_owner() {
        assert!(waiting_hides(&Viewer::unverified(1), Some(1)));
        assert!(!waiting_hides(&Viewer::unverified(1), Some(2)));
        assert!(!waiting_hides(&Viewer::unverified(1), None));
    }

    fn receipt(
        payer: Option<i64>,
        position: Option<(Origin, Option<i64>)>,
    ) -> ReceiptFacts<'static> {
        ReceiptFacts {
            ok: true,
            refund_required: false,
            payer_account_id: payer,
            debtor_fiscal_code: MARIO,
            payer_fiscal_code: Some("BNCGLI85M41G337L"),
            position,
        }
    }

    #[test]
    fn receipts_follow_one_rule() {
        let mario = Viewer::verified(1, MARIO);
        let claim = Viewer::unverified(2);
        let payer = Viewer::unverified(3);
        let at_psp = receipt(None, Some((Origin::Api, None)));
        let a = receipt_access(&mario, &at_psp).unwrap();
        assert_eq!(
            (a.debtor, a.payer),
            (DebtorShown::Viewer, DebtorShown::Masked)
        );
        assert_eq!(receipt_access(&claim, &at_psp), None);
        // Paid by another citizen on the portal: the payer's only.
        let for_mario = receipt(Some(3), Some((Origin::Api, None)));
        assert_eq!(receipt_access(&mario, &for_mario), None);
        let a = receipt_access(&payer, &for_mario).unwrap();
        assert_eq!(
            (a.debtor, a.payer),
            (DebtorShown::Masked, DebtorShown::Full)
        );
        // Refund-flagged or KO: nobody's.
        for bad in [
            ReceiptFacts {
                refund_required: true,
                ..for_mario
            },
            ReceiptFacts {
                ok: false,
                ..for_mario
            },
        ] {
            assert_eq!(receipt_access(&payer, &bad), None);
        }
        // A portal position paid at a PSP: its creator's, not the named debtor's.
        let portal = receipt(None, Some((Origin::Portal, Some(2))));
        assert!(receipt_access(&claim, &portal).is_some());
        assert_eq!(receipt_access(&mario, &portal), None);
    }

    #[test]
    fn payability_follows_status_and_due_date() {
        let now = Timestamp::parse("2026-06-01T10:00:00Z").unwrap();
        let base = NoticeState {
            position_status: PositionStatus::Valid,
            validity_date: None,
            switch_to_expired: true,
            option_status: OptionStatus::Unpaid,
            is_partial_payment: false,
            due_date: now.plus(time::Duration::days(1)),
        };
        assert_eq!(payability(&base, now), Ok(()));
        let with = |f: &dyn Fn(&mut NoticeState)| {
            let mut n = base;
            f(&mut n);
            payability(&n, now)
        };
        assert_eq!(
            with(&|n| n.position_status = PositionStatus::Draft),
            Err(Unpayable::NotPublished)
        );
        assert_eq!(
            with(&|n| {
                n.position_status = PositionStatus::Published;
                n.validity_date = Some(now.plus(time::Duration::days(1)));
            }),
            Err(Unpayable::NotYetValid)
        );
        assert_eq!(
            with(&|n| n.position_status = PositionStatus::PartiallyPaid),
            Err(Unpayable::InstallmentsStarted)
        );
        assert_eq!(
            with(&|n| n.due_date = now.plus(time::Duration::days(-1))),
            Err(Unpayable::Expired)
        );
        assert_eq!(
            with(&|n| n.option_status = OptionStatus::Paid),
            Err(Unpayable::Paid)
        );
    }

    #[test]
    fn names_and_codes_are_masked() {
        assert_eq!(mask_name("Mario Rossi"), "M**** R****");
        assert_eq!(mask_name("  Lù  De Santis "), "L* D* S*****");
        assert_eq!(mask_name("X"), "X*");
        assert_eq!(mask_fiscal_code(MARIO), "RSS************U");
        assert_eq!(mask_fiscal_code("AB"), "**");
    }
}
