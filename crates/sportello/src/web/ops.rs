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

/// The process is up and serving.
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// The database answers, its schema is the one this binary expects, and every front-end asset
/// and PDF font is in memory.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let store = state.store();
    let database = match store.db().ping().await {
        Ok(()) => "ok".to_owned(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            "unreachable".to_owned()
        }
    };
    let migrations = match store.migration_status().await {
        Ok(s) if s.is_current() => json!({ "status": "current", "applied": s.applied }),
        Ok(s) => json!({ "status": "pending", "applied": s.applied, "pending": s.pending }),
        Err(_) => json!({ "status": "unknown" }),
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
