//! Matching a flow's lines to receipt transfers: the rule, with no I/O.
//!
//! A line matches the transfer `idTransfer` of the receipt whose IUV is the line's IUV and
//! whose receiptId is the line's IUR, when the amounts are equal. Everything else is an
//! [`AnomalyKind`]: see docs/reconciliation.md.

use std::collections::{HashMap, HashSet};

use pagopa::Cents;
use pagopa::fdr::PayStatus;

use super::AnomalyKind;

/// What identifies the transfer a line reports.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LineKey {
    /// IUV.
    pub iuv: String,
    /// IUR (the receipt's receiptId).
    pub iur: String,
    /// 1–5.
    pub id_transfer: i64,
}

/// A line as the matcher needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineIn {
    /// Its key.
    pub key: LineKey,
    /// Amount in cents.
    pub amount: Cents,
    /// Outcome.
    pub pay_status: PayStatus,
}

/// A stored receipt transfer a line may match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The receipt's primary key.
    pub receipt_pk: i64,
    /// The transfer's amount in cents.
    pub amount: Cents,
}

/// An anomaly found by the matcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Which.
    pub kind: AnomalyKind,
    /// The line (index in the input), or `None` for the flow's header.
    pub line: Option<usize>,
    /// In Italian, for staff.
    pub detail: String,
}

/// The matcher's verdict on a flow.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// For every line, the receipt it is linked to (also when the amount differs, so staff see
    /// which receipt it was about).
    pub links: Vec<Option<i64>>,
    /// How many lines are matched cleanly (linked, same amount, paid).
    pub matched: usize,
    /// What does not add up.
    pub findings: Vec<Finding>,
}

/// Matches `lines` against `lookup`; `declared` is the header's (count, sum).
pub fn match_flow(
    declared: (i64, Cents),
    lines: &[LineIn],
    lookup: impl Fn(&LineKey) -> Option<Candidate>,
) -> Outcome {
    let mut out = Outcome {
        links: Vec::with_capacity(lines.len()),
        ..Outcome::default()
    };
    let count = i64::try_from(lines.len()).unwrap_or(i64::MAX);
    if count != declared.0 {
        out.findings.push(Finding {
            kind: AnomalyKind::HeaderCountMismatch,
            line: None,
            detail: format!(
                "il flusso dichiara {} pagamenti, ne contiene {count}",
                declared.0
            ),
        });
    }
    let sum = Cents::checked_sum(lines.iter().map(|l| l.amount));
    if sum != Some(declared.1) {
        out.findings.push(Finding {
            kind: AnomalyKind::HeaderSumMismatch,
            line: None,
            detail: format!(
                "il flusso dichiara un totale di {}, la somma delle righe è {}",
                declared.1,
                sum.map_or_else(|| "fuori scala".to_owned(), |s| s.to_string())
            ),
        });
    }
    let mut seen: HashSet<&LineKey> = HashSet::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let mut finding = |kind: AnomalyKind, detail: String| {
            out.findings.push(Finding {
                kind,
                line: Some(i),
                detail,
            })
        };
        if !seen.insert(&line.key) {
            finding(
                AnomalyKind::DuplicateLine,
                "riga ripetuta nel flusso (stessi IUV, IUR e idTransfer)".into(),
            );
            out.links.push(None);
            continue;
        }
        let found = lookup(&line.key);
        out.links.push(found.map(|c| c.receipt_pk));
        match line.pay_status {
            PayStatus::Revoked => {
                finding(
                    AnomalyKind::Revoked,
                    format!("pagamento revocato dal PSP ({})", line.amount),
                );
                continue;
            }
            PayStatus::NoRpt => {
                finding(
                    AnomalyKind::NoRpt,
                    "pagamento eseguito senza ricevuta (esito 9)".into(),
                );
                continue;
            }
            _ => {}
        }
        match found {
            None if matches!(
                line.pay_status,
                PayStatus::StandIn | PayStatus::StandInNoRpt
            ) =>
            {
                finding(
                    AnomalyKind::StandIn,
                    "pagato mentre la stazione non rispondeva (stand-in): ricevuta non pervenuta"
                        .into(),
                )
            }
            None => finding(
                AnomalyKind::UnknownPayment,
                "nessuna ricevuta con questi IUV, IUR e idTransfer".into(),
            ),
            Some(c) if c.amount != line.amount => finding(
                AnomalyKind::AmountMismatch,
                format!(
                    "importo nel flusso {}, nella ricevuta {}",
                    line.amount, c.amount
                ),
            ),
            Some(_) => out.matched += 1,
        }
    }
    out
}

/// A lookup over receipt transfers held in memory (the benchmark, and small flows).
pub fn index(
    transfers: impl IntoIterator<Item = (LineKey, Candidate)>,
) -> HashMap<LineKey, Candidate> {
    transfers.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(iuv: &str, iur: &str, t: i64) -> LineKey {
        LineKey {
            iuv: iuv.into(),
            iur: iur.into(),
            id_transfer: t,
        }
    }

    fn line(iuv: &str, iur: &str, t: i64, cents: i64, s: PayStatus) -> LineIn {
        LineIn {
            key: key(iuv, iur, t),
            amount: Cents::new(cents),
            pay_status: s,
        }
    }

    #[test]
    fn every_kind_is_found_where_it_belongs() {
        let receipts = index([
            (
                key("1", "A", 1),
                Candidate {
                    receipt_pk: 10,
                    amount: Cents::new(500),
                },
            ),
            (
                key("2", "B", 1),
                Candidate {
                    receipt_pk: 11,
                    amount: Cents::new(700),
                },
            ),
        ]);
        let lines = [
            line("1", "A", 1, 500, PayStatus::Executed),
            line("1", "A", 1, 500, PayStatus::Executed),
            line("2", "B", 1, 701, PayStatus::Executed),
            line("3", "C", 1, 100, PayStatus::Executed),
            line("4", "D", 1, 100, PayStatus::StandIn),
            line("5", "E", 1, -100, PayStatus::Revoked),
            line("6", "F", 1, 100, PayStatus::NoRpt),
        ];
        let out = match_flow((8, Cents::new(1)), &lines, |k| receipts.get(k).copied());
        let kinds: Vec<(AnomalyKind, Option<usize>)> =
            out.findings.iter().map(|f| (f.kind, f.line)).collect();
        assert_eq!(
            kinds,
            vec![
                (AnomalyKind::HeaderCountMismatch, None),
                (AnomalyKind::HeaderSumMismatch, None),
                (AnomalyKind::DuplicateLine, Some(1)),
                (AnomalyKind::AmountMismatch, Some(2)),
                (AnomalyKind::UnknownPayment, Some(3)),
                (AnomalyKind::StandIn, Some(4)),
                (AnomalyKind::Revoked, Some(5)),
                (AnomalyKind::NoRpt, Some(6)),
            ]
        );
        assert_eq!(out.matched, 1);
        assert_eq!(
            out.links,
            vec![Some(10), None, Some(11), None, None, None, None]
        );
    }
}
