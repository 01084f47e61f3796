//! Back-office position search latency with N positions: fills a fresh database with N
//! positions (one option each) of several debtors and services, plus 300 of one citizen, then
//! times the searches the page makes (50 rows + 1) through the back office's service.
//!
//! cargo run --release -p sportello --example backoffice_search -- sqlite:///tmp/bo.db 1000000
//! cargo run --release -p sportello --example backoffice_search -- postgres://postgres@127.0.0.1/bo 1000000
//! (the PostgreSQL database must exist and be empty)

use std::time::Instant;

use sportello::backoffice::{BackOffice, Operator, Role};
use sportello::config::Config;
use sportello::db::Db;
use sportello::store::Store;
use sportello::store::backoffice::PositionQuery;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "sqlite:///tmp/backoffice.db".into());
    let n: i64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let store = Store::open(&url).await?;
    let config = Config::load(
        Some(std::path::Path::new("/dev/null")),
        Vec::<(String, String)>::new(),
    )?;
    let ente = store.upsert_ente(&config.ente).await?;
    store.sync_services(ente.id, &config.catalog).await?;
    let services = store.services(ente.id).await?;
    let (first_service, last_service) = (services[0].id, services[services.len() - 1].id);
    let me = "RSSMRA80A01H501U";
    let started = Instant::now();
    let fill = |count: i64, debtor: &str, offset: i64| {
        let (series, text, ts, iuv, cf) = match store.db() {
            Db::Sqlite(..) => (
                format!(
                    "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {count}) SELECT i + {offset} AS i FROM g"
                ),
                "CAST(i AS TEXT)",
                "strftime('%Y-%m-%dT%H:%M:%S.000000Z', '2020-01-01', '+' || (i * 37) || ' seconds')",
                "printf('%017d', i)",
                format!(
                    "CASE WHEN '{debtor}' = '' THEN printf('CF%014d', i % 200000) ELSE '{debtor}' END"
                ),
            ),
            Db::Postgres(_) => (
                format!("SELECT i + {offset} AS i FROM generate_series(1, {count}) AS g(i)"),
                "i::text",
                "TIMESTAMPTZ '2020-01-01 00:00:00+00' + (i * 37) * INTERVAL '1 second'",
                "lpad(i::text, 17, '0')",
                format!(
                    "CASE WHEN '{debtor}' = '' THEN 'CF' || lpad((i % 200000)::text, 14, '0') ELSE '{debtor}' END"
                ),
            ),
        };
        let positions = format!(
            "INSERT INTO debt_positions (ente_id, iupd, debtor_type, debtor_fiscal_code, full_name, company_name, status, service_id, origin, created_at, updated_at)
             SELECT {e}, 'B-' || {text}, 'F', {cf}, 'Debitore ' || {text}, 'Comune', CASE WHEN i % 3 = 0 THEN 'PAID' ELSE 'VALID' END,
                    CASE WHEN i % 2 = 0 THEN {first_service} ELSE {last_service} END, 'import', {ts}, {ts}
             FROM ({series}) s",
            e = ente.id
        );
        let options = format!(
            "INSERT INTO payment_options (position_id, ente_id, iuv, nav, amount, description, due_date, created_at)
             SELECT p.id, {e}, {iuv}, '3' || {iuv}, 100 + (i % 5000), 'Rata', {ts}, {ts}
             FROM ({series}) s JOIN debt_positions p ON p.ente_id = {e} AND p.iupd = 'B-' || {text}",
            e = ente.id
        );
        (positions, options)
    };
    // The citizen's positions are the oldest: a scan of the newest first would meet them last.
    let (mine_p, mine_o) = fill(300, me, 0);
    let (others_p, others_o) = fill(n, "", 300);
    sportello::with_db!(store.db(), |pool| {
        for sql in [&mine_p, &mine_o, &others_p, &others_o] {
            sqlx::query(sql).execute(pool).await?;
        }
        sqlx::query("ANALYZE").execute(pool).await?;
    });
    eprintln!(
        "filled {} positions in {:.1} s",
        n + 300,
        started.elapsed().as_secs_f64()
    );
    let admin = Operator {
        id: 0,
        username: "bench".into(),
        password_hash: String::new(),
        must_change_password: false,
        totp_secret: String::new(),
        totp_last_step: 0,
        role: Role::Admin,
        read_only: true,
        disabled: false,
        services: Vec::new(),
        read_only_services: Vec::new(),
    };
    let clerk = Operator {
        role: Role::Operator,
        services: vec![services[0].def.code.clone()],
        ..admin.clone()
    };
    let bo = BackOffice::new(&store, &ente, 60, "http://localhost");
    let by_cf = PositionQuery {
        fiscal_code: Some(me.into()),
        ..PositionQuery::default()
    };
    let by_notice = PositionQuery {
        notice: Some(format!("3{:017}", n / 2)),
        ..PositionQuery::default()
    };
    let everything = PositionQuery::default();
    let (mut cf, mut cf_next, mut notice, mut all, mut scoped) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..50 {
        let t = Instant::now();
        let rows = bo.search_positions(&admin, &by_cf, None, 51).await?;
        cf.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(rows.len(), 51);
        let t = Instant::now();
        bo.search_positions(&admin, &by_cf, Some(rows[49].id), 51)
            .await?;
        cf_next.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let found = bo.search_positions(&admin, &by_notice, None, 51).await?;
        notice.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(found.len(), 1);
        let t = Instant::now();
        bo.search_positions(&admin, &everything, None, 51).await?;
        all.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        bo.search_positions(&clerk, &everything, None, 51).await?;
        scoped.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    timings("by fiscal code, page 1", cf);
    timings("by fiscal code, page 2", cf_next);
    timings("by notice code", notice);
    timings("no filter (admin)", all);
    timings("no filter (one service)", scoped);
    store.close().await;
    Ok(())
}

fn timings(label: &str, mut samples: Vec<f64>) {
    samples.sort_by(f64::total_cmp);
    println!(
        "{label:<28} p50 {:>7.2} ms   p95 {:>7.2} ms",
        samples[samples.len() / 2],
        samples[samples.len() * 95 / 100]
    );
}
