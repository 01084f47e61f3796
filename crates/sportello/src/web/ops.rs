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

/// The database answers and its schema is the one this binary expects.
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
    let ready = database == "ok" && migrations["status"] == "current";
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
