//! Documents the citizen downloads: the paper notice of a payment they may make.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{error_page, to_login};
use crate::pdf::{Fonts, NoticeDocument, PdfError, render_notice};
use crate::web::AppState;
use crate::web::session::Session;

/// `GET /pagamenti/avviso/{iuv}.pdf`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/pagamenti/avviso/{file}", get(notice))
}

/// The notice of the position holding `iuv`, when the logged-in citizen may pay it (debtor,
/// started it, or it is in their cart). Anything else is 404, never 403: whether a notice
/// exists is not the citizen's business.
async fn notice(
    State(state): State<AppState>,
    session: Session,
    Path(file): Path<String>,
) -> Response {
    let Some(account) = session.account() else {
        return to_login(&format!("/pagamenti/avviso/{file}"));
    };
    let Some(iuv) = file
        .strip_suffix(".pdf")
        .filter(|i| matches!(i.len(), 15 | 17) && i.bytes().all(|b| b.is_ascii_digit()))
    else {
        return error_page(StatusCode::NOT_FOUND);
    };
    let position = match state
        .store()
        .notice_position_for_citizen(state.ente().id, iuv, account.id, &account.fiscal_code)
        .await
    {
        Ok(Some(p)) => p,
        Ok(None) => return error_page(StatusCode::NOT_FOUND),
        Err(e) => {
            tracing::error!(error = %e, "notice lookup failed");
            return error_page(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    // Nothing left to pay: there is no notice to print.
    let Ok(document) = NoticeDocument::from_position(state.ente(), &position) else {
        return error_page(StatusCode::NOT_FOUND);
    };
    let assets = state.config().assets_dir.clone();
    let rendered = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, PdfError> {
        render_notice(&*Fonts::cached(&assets)?, &document)
    })
    .await;
    match rendered {
        Ok(Ok(pdf)) => (
            [
                (header::CONTENT_TYPE, "application/pdf".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"avviso-{iuv}.pdf\""),
                ),
            ],
            pdf,
        )
            .into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "notice PDF failed");
            error_page(StatusCode::INTERNAL_SERVER_ERROR)
        }
        Err(e) => {
            tracing::error!(error = %e, "notice PDF task failed");
            error_page(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}
