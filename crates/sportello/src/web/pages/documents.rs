//! Documents the citizen downloads: the paper notice of a payment they may make, and the
//! receipts of their payments (several in one PDF, one per page).

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{error_page, to_login};
use crate::pdf::{NoticeDocument, PdfError, render_notice, render_receipts};
use crate::web::AppState;
use crate::web::session::Session;

/// `GET /pagamenti/avviso/{iuv}.pdf` and `GET /pagamenti/ricevute.pdf?id=<receiptId>&id=…`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/pagamenti/avviso/{file}", get(notice))
        .route("/pagamenti/ricevute.pdf", get(receipts))
}

/// The receipts named by the `id` parameters (receiptId, repeated for several rows), one
/// per page in the order given, if every one concerns the logged-in citizen; 404 otherwise.
async fn receipts(
    State(state): State<AppState>,
    session: Session,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let Some(account) = session.account() else {
        return to_login(&format!("/pagamenti/ricevute.pdf?{query}"));
    };
    let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(&query) else {
        return error_page(StatusCode::NOT_FOUND);
    };
    let ids: Vec<String> = pairs
        .into_iter()
        .filter(|(k, _)| k == "id")
        .map(|(_, v)| v)
        .collect();
    let documents = match state
        .store()
        .receipts_for_viewer(state.ente(), &ids, &account.viewer())
        .await
    {
        Ok(Some(d)) => d,
        Ok(None) => return error_page(StatusCode::NOT_FOUND),
        Err(e) => {
            tracing::error!(error = %e, "receipt lookup failed");
            return error_page(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    let fonts = state.fonts();
    let name = match documents.as_slice() {
        [one] => format!("ricevuta-{}.pdf", one.notice_number.as_str()),
        _ => "ricevute.pdf".to_owned(),
    };
    let rendered = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, PdfError> {
        render_receipts(&fonts, &documents)
    })
    .await;
    pdf_or_error(rendered, &name)
}

type Rendered = Result<Result<Vec<u8>, PdfError>, tokio::task::JoinError>;

/// The PDF as a download, or a logged 500.
fn pdf_or_error(rendered: Rendered, file_name: &str) -> Response {
    match rendered {
        Ok(Ok(pdf)) => (
            [
                (header::CONTENT_TYPE, "application/pdf".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{file_name}\""),
                ),
            ],
            pdf,
        )
            .into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "PDF failed");
            error_page(StatusCode::INTERNAL_SERVER_ERROR)
        }
        Err(e) => {
            tracing::error!(error = %e, "PDF task failed");
            error_page(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// The notice of the position holding `iuv`, when the logged-in citizen may print it
/// (`crate::domain::access::may_print_notice`: its verified debtor or its creator; not who found
/// it by its code, since it carries the debtor's name, fiscal code and address). Anything else is
/// 404, never 403: whether a notice exists is not the citizen's business.
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
    let position = match super::payments::payments(&state)
        .notice_to_print(&account.viewer(), iuv)
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
    let fonts = state.fonts();
    let rendered = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, PdfError> {
        render_notice(&fonts, &document)
    })
    .await;
    pdf_or_error(rendered, &format!("avviso-{iuv}.pdf"))
}
