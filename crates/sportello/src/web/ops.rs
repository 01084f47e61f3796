//! Operational endpoints: liveness, readiness, metrics.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use super::AppState;

/// `/healthz`, `/readyz`, `/metrics`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// How long readiness waits for the database.
const DATABASE_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// The process is up and serving.
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// The database answers, its schema is the one this binary expects, and every front-end asset
/// and PDF font is in memory.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let store = state.store();
    // Bounded: while the database is unreachable (a primary lost, a standby being promoted)
    // the pool would wait its whole acquire timeout, and a load balancer's check gives up first.
    let database = match tokio::time::timeout(DATABASE_CHECK, store.db().ping()).await {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            "unreachable".to_owned()
        }
        Err(_) => {
            tracing::warn!("readiness: database did not answer in time");
            "unreachable".to_owned()
        }
    };
    let status = match database.as_str() {
        "ok" => tokio::time::timeout(DATABASE_CHECK, store.migration_status())
            .await
            .ok(),
        _ => None,
    };
    let migrations = match status {
        Some(Ok(s)) if s.is_current() => json!({ "status": "current", "applied": s.applied }),
        Some(Ok(s)) => json!({ "status": "pending", "applied": s.applied, "pending": s.pending }),
        _ => json!({ "status": "unknown" }),
    };
    let assets = state.assets();
    let assets_ok = assets.complete();
    let assets_json = match assets.source() {
        crate::assets::AssetsSource::Embedded(version) => json!({
            "status": if assets_ok { "ok" } else { "incomplete" },
            "source": "embedded",
            "bootstrap_italia": version,
            "files": assets.len(),
        }),
        crate::assets::AssetsSource::Directory(dir) => json!({
            "status": if assets_ok { "ok" } else { "incomplete" },
            "source": dir.display().to_string(),
            "files": assets.len(),
        }),
    };
    let ready = database == "ok" && migrations["status"] == "current" && assets_ok;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "not ready" },
            "database": { "status": database, "dialect": format!("{:?}", store.dialect()).to_lowercase() },
            "migrations": migrations,
            "assets": assets_json,
        })),
    )
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics().render(),
    )
}
