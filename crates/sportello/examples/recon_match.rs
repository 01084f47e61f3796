//! Matching N flow lines against N receipts: the matcher reconciliation runs for every flow
//! (`recon::matching::match_flow`), over an index of N receipt transfers, with a realistic mix
//! (99 % matched, the rest amount mismatches, unknown payments, duplicates and revocations).
//! Prints the time of building the index, of matching, and the peak resident memory.
//!
//! With a database URL, also the whole storage path of one round for a flow of N lines
//! against N stored receipts: the receipts' lookup by IUR, the matching, and `store_flow`
//! (lines, anomalies, reporting states in one transaction).
//!
//! cargo run --release -p sportello --example recon_match -- 100000
//! cargo run --release -p sportello --example recon_match -- 100000 sqlite:///tmp/recon.db
//! (the database must be new or empty)

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    in_memory(n);
    if let Some(url) = std::env::args().nth(2) {
        in_database(n, &url).await?;
    }
    Ok(())
}

fn in_memory(n: usize) {
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

async fn in_database(n: usize, url: &str) -> anyhow::Result<()> {
    use sportello::db::Db;
    use sportello::store::Store;
    use sportello::store::recon::{NewFinding, NewFlow, NewLine};
    let store = Store::open(url).await?;
    let config = sportello::config::Config::load(
        Some(std::path::Path::new("/dev/null")),
        Vec::<(String, String)>::new(),
    )?;
    let ente = store.upsert_ente(&config.ente).await?.id;
    let started = Instant::now();
    let (series, text, ts) = match store.db() {
        Db::Sqlite(..) => (
            format!(
                "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {n}) SELECT i FROM g"
            ),
            "CAST(i AS TEXT)",
            "strftime('%Y-%m-%dT%H:%M:%S.000000Z', '2026-01-01', '+' || i || ' seconds')",
        ),
        Db::Postgres(_) => (
            format!("SELECT i FROM generate_series(1, {n}) AS g(i)"),
            "i::text",
            "TIMESTAMPTZ '2026-01-01 00:00:00+00' + i * INTERVAL '1 second'",
        ),
    };
    let receipts = format!(
        "INSERT INTO receipts (ente_id, receipt_id, notice_number, iuv, outcome, amount, description, company_name, debtor_type, debtor_fiscal_code, debtor_name, id_psp, psp_company_name, id_channel, payment_date_time, raw_xml, received_at)
         SELECT {ente}, 'r-' || {text}, '3' || {text}, {text}, 'OK', 100 + (i % 5000), 'Pagamento', 'Comune', 'F', 'RSSMRA80A01H501U', 'Debitore', 'BCITITMM', 'Intesa Sanpaolo S.p.A.', 'PSP_01', {ts}, '<r/>', {ts}
         FROM ({series}) s"
    );
    let transfers = "INSERT INTO receipt_transfers (receipt_pk, id_transfer, amount, fiscal_code_pa, iban, remittance_information, category)
         SELECT id, 1, amount, '00229080338', 'IT60X0542811101000000123456', 'Pagamento', '9/0101108TS/' FROM receipts";
    sportello::with_db!(store.db(), |pool| {
        sqlx::query(&receipts).execute(pool).await?;
        sqlx::query(transfers).execute(pool).await?;
        if let Db::Postgres(_) = store.db() {
            sqlx::query("ANALYZE receipts").execute(pool).await?;
            sqlx::query("ANALYZE receipt_transfers")
                .execute(pool)
                .await?;
        }
    });
    println!(
        "database: {n} receipts stored in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let lines: Vec<NewLine> = (1..=n)
        .map(|i| NewLine {
            idx: i as i64,
            key: LineKey {
                iuv: i.to_string(),
                iur: format!("r-{i}"),
                id_transfer: 1,
            },
            amount: 100 + (i as i64 % 5000),
            pay_status: "EXECUTED".into(),
            pay_date: "2026-01-02T10:00:00Z".into(),
            receipt_pk: None,
        })
        .collect();
    let started = Instant::now();
    let iurs: Vec<&str> = lines.iter().map(|l| l.key.iur.as_str()).collect();
    let candidates = index(store.receipt_candidates(ente, &iurs).await?);
    let looked_up = started.elapsed();
    let input: Vec<LineIn> = lines
        .iter()
        .map(|l| LineIn {
            key: l.key.clone(),
            amount: Cents::new(l.amount),
            pay_status: PayStatus::Executed,
        })
        .collect();
    let sum = Cents::checked_sum(input.iter().map(|l| l.amount)).expect("in range");
    let t = Instant::now();
    let outcome = match_flow((n as i64, sum), &input, |k| candidates.get(k).copied());
    let matched = t.elapsed();
    let lines: Vec<NewLine> = lines
        .into_iter()
        .zip(&outcome.links)
        .map(|(mut l, link)| {
            l.receipt_pk = *link;
            l
        })
        .collect();
    let findings: Vec<NewFinding> = outcome.findings.iter().map(NewFinding::from).collect();
    let t = Instant::now();
    store
        .store_flow(
            ente,
            &NewFlow {
                fdr: "2026-01-02BCITITMM-0001".into(),
                psp_id: "BCITITMM".into(),
                revision: 1,
                status: "PUBLISHED".into(),
                published_at: sportello::clock::Timestamp::now(),
                flow_date: None,
                regulation: "SCT".into(),
                regulation_date: None,
                bic: None,
                psp_name: "Intesa Sanpaolo S.p.A.".into(),
                tot_payments: n as i64,
                sum_payments: sum.get(),
            },
            &lines,
            &findings,
        )
        .await?;
    let stored = t.elapsed();
    println!(
        "database: lookup of {n} receipts by IUR {:.1} s; matching {:.1} ms ({} matched); store_flow (lines, states) {:.1} s; total {:.1} s; peak RSS {:.1} MiB",
        looked_up.as_secs_f64(),
        matched.as_secs_f64() * 1000.0,
        outcome.matched,
        stored.as_secs_f64(),
        (looked_up + matched + stored).as_secs_f64(),
        peak_rss_kib().unwrap_or(0) as f64 / 1024.0
    );
    store.close().await;
    Ok(())
}
