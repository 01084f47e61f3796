//! The paper notice of a debt position for the municipality, beside the GPD routes and behind
//! the same API key: `GET …/debtpositions/{iupd}/notice.pdf`.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use super::gpd::{ApiClient, BASE, Target};
use crate::gpd::model::{GatewayError, ProblemJson};
use crate::gpd::service::{Gpd, GpdError};
use crate::pdf::{Fonts, NoticeDocument, PdfError, render_notice};

/// The notice route.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        &format!(
            "{BASE}/organizations/{{organizationfiscalcode}}/debtpositions/{{iupd}}/notice.pdf"
        ),
        get(notice),
    )
}

/// The paper notice (avviso di pagamento) of a position, as PDF.
#[utoipa::path(
    get,
    path = "/organizations/{organizationfiscalcode}/debtpositions/{iupd}/notice.pdf",
    tag = "Sportello extensions",
    operation_id = "getNoticePdf",
    summary = "The payment notice (avviso di pagamento) of a debt position, as PDF.",
    description = "pagoPA's notice layout: single payment and installments, each with its notice code and QR; the Poste section with its Data Matrix when the ente has a postal account.",
    params(
        ("organizationfiscalcode" = String, Path, description = "Organization fiscal code."),
        ("iupd" = String, Path, description = "Debt position identifier."),
    ),
    responses(
        (status = 200, description = "The notice.", content_type = "application/pdf"),
        (status = 401, description = "Missing or wrong API key.", body = GatewayError),
        (status = 403, description = "The key is not entitled to the organization.", body = GatewayError),
        (status = 404, description = "No such position.", body = ProblemJson),
        (status = 409, description = "Nothing left to pay: no notice to print.", body = ProblemJson),
        (status = 500, description = "Service unavailable.", body = ProblemJson),
    ),
    security(("ApiKey" = []))
)]
pub(crate) async fn notice(
    _client: ApiClient,
    State(state): State<AppState>,
    Target { organization, iupd }: Target,
) -> Result<Response, GpdError> {
    let gpd = Gpd::new(state.store(), state.ente());
    gpd.check_organization(&organization)?;
    let position = gpd.get(&iupd).await?;
    let document = match NoticeDocument::from_position(state.ente(), &position) {
        Ok(d) => d,
        // Nothing left to pay, or data that cannot be printed: the position's state is at
        // fault, as for GPD's other state conflicts.
        Err(e) => {
            return Err(GpdError::Conflict {
                title: "NOT PRINTABLE",
                detail: format!("debt position {iupd}: {e}"),
            });
        }
    };
    Ok(pdf_response(state.fonts(), document).await)
}

/// Renders on the blocking pool (a notice is a few milliseconds of CPU) and answers the PDF.
async fn pdf_response(fonts: std::sync::Arc<Fonts>, document: NoticeDocument) -> Response {
    let name = document
        .single
        .as_ref()
        .or(document.installments.first())
        .map(|o| o.nav.as_str().to_owned())
        .unwrap_or_default();
    let rendered = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, PdfError> {
        render_notice(&fonts, &document)
    })
    .await;
    match rendered {
        Ok(Ok(pdf)) => (
            [
                (header::CONTENT_TYPE, "application/pdf".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"avviso-{name}.pdf\""),
                ),
            ],
            pdf,
        )
            .into_response(),
        Ok(Err(e)) => internal(&e.to_string()),
        Err(e) => internal(&e.to_string()),
    }
}

fn internal(cause: &str) -> Response {
    tracing::error!(error = %cause, "notice PDF failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(ProblemJson {
            title: "INTERNAL SERVER ERROR".to_owned(),
            status: 500,
            detail: "the notice could not be produced".to_owned(),
        }),
    )
        .into_response()
}
