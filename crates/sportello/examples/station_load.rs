//! Load driver for the station: full payment cycles (`paVerifyPaymentNotice` →
//! `paGetPaymentV2` → `paSendRTV2`) against Sportello on loopback, with latency percentiles.
//!
//! ```text
//! cargo run --release -p sportello --example station_load -- [sqlite|postgres] [cycles] [concurrency] [max_seconds]
//! ```
//!
//! It starts Sportello in-process on 127.0.0.1 with a scratch database (a temporary SQLite
//! file, or a new PostgreSQL database on `SPORTELLO_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`, dropped at the end), seeds one notice per
//! cycle, and runs the cycles with `concurrency` workers. It stops after `cycles` cycles or
//! `max_seconds`, whichever comes first. Only loopback is ever contacted.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pagopa::soap::{Outcome, Response};
use sportello::app::App;
use sportello::config::Config;

#[allow(dead_code, reason = "each driver uses part of the fixtures")]
mod support;

use support::{position, requests};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kind = args
        .first()
        .map(String::as_str)
        .unwrap_or("sqlite")
        .to_owned();
    let cycles: u64 = args.get(1).map_or(Ok(500), |a| a.parse())?;
    let concurrency: usize = args.get(2).map_or(Ok(8), |a| a.parse())?;
    let max_seconds: u64 = args.get(3).map_or(Ok(60), |a| a.parse())?;
    anyhow::ensure!((1..=100_000).contains(&cycles), "cycles: 1 to 100000");
    anyhow::ensure!((1..=64).contains(&concurrency), "concurrency: 1 to 64");
    anyhow::ensure!((1..=600).contains(&max_seconds), "max_seconds: 1 to 600");

    let dir = tempfile::tempdir()?;
    let admin = std::env::var("SPORTELLO_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    anyhow::ensure!(
        admin.contains("@127.0.0.1") || admin.contains("@localhost") || admin.contains("@[::1]"),
        "loopback PostgreSQL only"
    );
    let pg_name = format!("sportello_load_{}", std::process::id());
    let database_url = match kind.as_str() {
        "sqlite" => format!("sqlite://{}/load.db", dir.path().display()),
        "postgres" => {
            let pool = sqlx::PgPool::connect(&admin).await?;
            sqlx::query(&format!("CREATE DATABASE {pg_name}"))
                .execute(&pool)
                .await?;
            pool.close().await;
            format!(
                "{}/{pg_name}",
                admin.rsplit_once('/').map_or(&*admin, |(b, _)| b)
            )
        }
        other => anyhow::bail!("unknown database {other}: sqlite or postgres"),
    };
    let env = vec![
        ("SPORTELLO_DATABASE_URL".to_owned(), database_url),
        ("SPORTELLO_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
    ];
    let app = App::build(Config::load(Some(Path::new("/dev/null")), env)?).await?;
    let url = format!("http://{}/pagopa/paForNode", app.addr);
    let store = app.state.store().clone();
    let ente = app.state.ente().id;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));

    // The notices, and every request encoded beforehand: what is timed is the station's work,
    // not the driver's (a node does not share the station's cores).
    let seeding = Instant::now();
    let mut bodies = Vec::with_capacity(cycles as usize);
    for seq in 1..=cycles {
        store.insert_position(ente, &position(seq)).await?;
        bodies.push(requests(seq).map(|r| (r.operation().name(), r.encode())));
    }
    let bodies = Arc::new(bodies);
    eprintln!(
        "seeded {cycles} notices in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let next = Arc::new(AtomicUsize::new(1));
    let deadline = Instant::now() + Duration::from_secs(max_seconds);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, url, next) = (client.clone(), url.clone(), next.clone());
        let bodies = bodies.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies: [Vec<Duration>; 3] = Default::default();
            let mut failures = 0usize;
            loop {
                let seq = next.fetch_add(1, Ordering::Relaxed) as u64;
                if seq > cycles || Instant::now() >= deadline {
                    break;
                }
                for (i, (action, body)) in bodies[seq as usize - 1].iter().enumerate() {
                    let t = Instant::now();
                    let res = client
                        .post(&url)
                        .header("SOAPAction", *action)
                        .header("content-type", "text/xml; charset=utf-8")
                        .body(body.clone())
                        .send()
                        .await;
                    let ok = match res {
                        Ok(r) => r
                            .text()
                            .await
                            .ok()
                            .and_then(|b| Response::decode(&b).ok())
                            .is_some_and(|r| r.outcome() == Outcome::Ok),
                        Err(_) => false,
                    };
                    latencies[i].push(t.elapsed());
                    if !ok {
                        failures += 1;
                    }
                }
            }
            (latencies, failures)
        }));
    }
    let mut all: [Vec<Duration>; 3] = Default::default();
    let mut failures = 0;
    for w in workers {
        let (lat, f) = w.await?;
        for (a, l) in all.iter_mut().zip(lat) {
            a.extend(l);
        }
        failures += f;
    }
    let elapsed = started.elapsed();
    let done = all[2].len();
    println!(
        "database={kind} cycles={done} concurrency={concurrency} elapsed={:.2}s cycles_per_second={:.1} requests_per_second={:.1} failures={failures}",
        elapsed.as_secs_f64(),
        done as f64 / elapsed.as_secs_f64(),
        (3 * done) as f64 / elapsed.as_secs_f64(),
    );
    for (name, lat) in ["paVerifyPaymentNotice", "paGetPaymentV2", "paSendRTV2"]
        .iter()
        .zip(all.iter_mut())
    {
        lat.sort();
        println!(
            "{name:<22} p50={} p99={} max={}",
            ms(percentile(lat, 50.0)),
            ms(percentile(lat, 99.0)),
            ms(lat.last().copied().unwrap_or_default())
        );
    }

    let _ = stop.send(());
    server.await??;
    store.close().await;
    if kind == "postgres" {
        let pool = sqlx::PgPool::connect(&admin).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)"))
            .execute(&pool)
            .await?;
        pool.close().await;
    }
    anyhow::ensure!(failures == 0, "{failures} requests did not answer OK");
    Ok(())
}
