//! Background jobs: periodic work that must happen even when nobody asks (GET applies the same
//! rules on read, so a client never sees a stale status between two runs).
//!
//! Today: publish positions whose validity date has come (PUBLISHED → VALID), expire overdue
//! ones (VALID → EXPIRED, GPD's `switchToExpired`), remove spontaneous payments started on the
//! portal and abandoned, delete expired sessions, and drop event-log rows older than
//! `event_log.retention_days`. Every instance schedules them, and one at a time runs a pass (a
//! PostgreSQL advisory lock, see `store::locks`): the others skip that tick. The updates are
//! idempotent single statements anyway, so a pass repeated after a crash is harmless.

use std::time::Duration;

use tokio::sync::watch;

use crate::clock::Timestamp;
use crate::web::AppState;

/// Runs the time rules once unless another instance is running them; returns (activated,
/// expired), or `None` when the pass was left to the other instance.
pub async fn run_exclusive(
    state: &AppState,
) -> Result<Option<(u64, u64)>, crate::store::StoreError> {
    let Some(lock) = state
        .store()
        .try_lock(crate::store::locks::LockKey::Jobs)
        .await?
    else {
        return Ok(None);
    };
    let result = run_once(state).await;
    lock.release().await?;
    result.map(Some)
}

/// Runs the time rules once; returns (activated, expired).
pub async fn run_once(state: &AppState) -> Result<(u64, u64), crate::store::StoreError> {
    let now = Timestamp::now();
    let activated = state.store().activate_published(now).await?;
    let expired = state.store().expire_overdue(now).await?;
    let abandoned = state.store().purge_abandoned(now).await?;
    let sessions = state.store().purge_expired_sessions(now).await?;
    state.store().purge_spid_requests(now).await?;
    let horizon = now.plus(-time::Duration::days(
        state.config().event_log_retention_days,
    ));
    let exchanges = state.store().purge_event_log(horizon).await?;
    if exchanges > 0 {
        tracing::info!(
            exchanges,
            days = state.config().event_log_retention_days,
            "event log: exchanges older than the retention horizon removed"
        );
    }
    if abandoned > 0 || sessions > 0 {
        tracing::info!(
            abandoned,
            sessions,
            "abandoned spontaneous payments and expired sessions removed"
        );
    }
    Ok((activated, expired))
}

/// Starts the jobs on the runtime: they run every `jobs.interval_seconds` (one minute by
/// default) until `shutdown` turns true (or its sender is dropped).
pub fn spawn_jobs(
    state: AppState,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let every = Duration::from_secs(state.config().jobs_interval_seconds);
    let recon = crate::recon::job::spawn(state.clone(), shutdown.clone());
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    match run_exclusive(&state).await {
                        Ok(None | Some((0, 0))) => {}
                        Ok(Some((activated, expired))) => {
                            tracing::info!(activated, expired, "debt positions brought up to date with the clock");
                        }
                        Err(e) => tracing::warn!(error = %e, "background job failed; retrying at the next tick"),
                    }
                }
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        if let Some(recon) = recon {
                            let _ = recon.await;
                        }
                        tracing::debug!("background jobs stopped");
                        return;
                    }
                }
            }
        }
    })
}
