//! Matching N flow lines against N receipts: the matcher reconciliation runs for every flow
//! (`recon::matching::match_flow`), over an index of N receipt transfers, with a realistic mix
//! (99 % matched, the rest amount mismatches, unknown payments, duplicates and revocations).
//! Prints the time of building the index, of matching, and the peak resident memory.
//!
//! cargo run --release -p sportello --example recon_match -- 100000

use std::time::Instant;

use pagopa::Cents;
use pagopa::fdr::PayStatus;
use sportello::recon::matching::{Candidate, LineIn, LineKey, index, match_flow};

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let baseline = peak_rss_kib().unwrap_or(0);
    let key = |i: usize| LineKey {
        iuv: format!("010{i:014}"),
        iur: format!("{:016x}{:08x}", i.wrapping_mul(2_654_435_761), i),
        id_transfer: 1 + (i % 2) as i64,
    };
    let amount = |i: usize| Cents::new(100 + (i as i64 * 37) % 100_000);
    let started = Instant::now();
    let receipts = index((0..n).map(|i| {
        (
            key(i),
            Candidate {
                receipt_pk: i as i64 + 1,
                amount: amount(i),
            },
        )
    }));
    let built = started.elapsed();
    let mut lines: Vec<LineIn> = (0..n)
        .map(|i| LineIn {
            key: if i % 400 == 7 { key(n + i) } else { key(i) },
            amount: if i % 300 == 5 {
                Cents::new(amount(i).get() + 1)
            } else {
                amount(i)
            },
            pay_status: if i % 1000 == 9 {
                PayStatus::Revoked
            } else {
                PayStatus::Executed
            },
        })
        .collect();
    for i in (0..n).step_by(997) {
        let copy = lines[i].clone();
        lines.push(copy);
    }
    let declared_sum = Cents::checked_sum(lines.iter().map(|l| l.amount)).expect("in range");
    let started = Instant::now();
    let outcome = match_flow((lines.len() as i64, declared_sum), &lines, |k| {
        receipts.get(k).copied()
    });
    let matched = started.elapsed();
    let peak = peak_rss_kib().unwrap_or(0);
    println!(
        "receipts: {n}; lines: {}; index built in {:.1} ms; matched in {:.1} ms ({:.0} lines/s); matched {}, anomalies {}; peak RSS {:.1} MiB (start {:.1} MiB)",
        lines.len(),
        built.as_secs_f64() * 1000.0,
        matched.as_secs_f64() * 1000.0,
        lines.len() as f64 / matched.as_secs_f64(),
        outcome.matched,
        outcome.findings.len(),
        peak as f64 / 1024.0,
        baseline as f64 / 1024.0
    );
}
