//! The background reconciliation round: every `fdr.interval_seconds`, when `fdr.url` is set.
//! Every instance may run it: a flow revision is stored once (a unique key), so two rounds at
//! once only waste a few calls.

use std::time::Duration;

use tokio::sync::watch;

use crate::web::AppState;

/// Starts the round on the runtime, or does nothing when reconciliation is off. It stops when
/// `shutdown` turns true (or its sender is dropped).
pub fn spawn(
    state: AppState,
    mut shutdown: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    state.config().recon.fdr_url.as_ref()?;
    let every = Duration::from_secs(state.config().recon.interval_seconds);
    Some(tokio::spawn(async move {
        // The first round after one interval: `sportello fdr sync` runs one at once.
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    match super::sync::sync_round(state.store(), state.ente(), &state.config().recon).await {
                        Ok(r) if r.flows.is_empty() && r.recovered == 0 && r.overdue == 0 => {}
                        Ok(r) => tracing::info!(flows = r.flows.len(), recovered = r.recovered, overdue = r.overdue, "reconciliation round"),
                        Err(e) => tracing::warn!(error = %e, "reconciliation round failed; retrying at the next tick"),
                    }
                }
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        return;
                    }
                }
            }
        }
    }))
}
