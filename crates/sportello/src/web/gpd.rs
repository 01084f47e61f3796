//! HTTP handlers of the debt-position API under `/gpd/debt-positions-service/v1`, wire-compatible
//! with pagoPA GPD: same paths, query parameters, JSON, status codes and ProblemJson errors, the
//! key in `Ocp-Apim-Subscription-Key`. Handlers only parse and answer; the rules are in
//! [`crate::gpd::service`].

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use utoipa::OpenApi;

use super::AppState;
use crate::domain::position::PositionStatus;
use crate::gpd::model::{
    DebtPositionStatus, MetadataModel, PageInfo, PaymentOptionModel, PaymentOptionModelResponse,
    PaymentPositionModel, PaymentPositionModelBaseResponse, PaymentPositionsInfo, ProblemJson,
    Stamp, SubjectKind, TransferModel, TransferModelResponse,
};
use crate::gpd::service::{
    Caller, DEFAULT_LIMIT, Gpd, GpdError, ListRequest, MAX_LIMIT, date_interval,
};
use crate::import::{ImportOptions, ImportReport, RowError};
use crate::store::positions::{PositionFilter, PositionOrder};

/// Where the API lives, as in GPD.
pub const BASE: &str = "/gpd/debt-positions-service/v1";

/// The header carrying the API key (Azure API Management's name, which GPD clients send).
pub const KEY_HEADER: &str = "Ocp-Apim-Subscription-Key";

/// GPD's answer to a successful DELETE.
pub const DELETED: &str = "The debt position was successfully deleted";

/// The API's routes.
pub fn routes() -> Router<AppState> {
    let org = format!("{BASE}/organizations/{{organizationfiscalcode}}/debtpositions");
    Router::new()
        .route(&format!("{BASE}/openapi.json"), get(openapi))
        .route(&org, post(create).get(list))
        .route(&format!("{org}/import"), post(import))
        .route(
            &format!("{org}/{{iupd}}"),
            get(get_one).put(update).delete(delete),
        )
        .route(&format!("{org}/{{iupd}}/publish"), post(publish))
        .route(&format!("{org}/{{iupd}}/invalidate"), post(invalidate))
}

impl IntoResponse for GpdError {
    fn into_response(self) -> Response {
        if let GpdError::Internal(cause) = &self {
            tracing::error!(error = %cause, "debt-position API failure");
        }
        let problem = self.problem();
        problem_response(problem)
    }
}

fn problem_response(problem: ProblemJson) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // GPD answers its ProblemJson as application/json.
    (status, Json(problem)).into_response()
}

/// Compares two keys in time independent of where they differ, so that response times do not
/// leak how much of a guessed key is right.
fn same_key(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= std::hint::black_box(x ^ y);
    }
    diff == 0
}

/// An authenticated caller: extracting it checks the API key (401 otherwise).
pub struct ApiClient {
    caller: Caller,
}

impl FromRequestParts<AppState> for ApiClient {
    type Rejection = GpdError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, GpdError> {
        let given = parts
            .headers
            .get(KEY_HEADER)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        let keys = state.config().effective_api_keys();
        // Every key is compared, so the time does not depend on which one matched.
        let matched = keys
            .iter()
            .fold(false, |ok, k| same_key(given, k.as_bytes()) | ok);
        if given.is_empty() || !matched {
            tracing::warn!(path = %parts.uri.path(), "debt-position API: missing or wrong key");
            return Err(GpdError::Unauthorized);
        }
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_default();
        Ok(ApiClient {
            caller: Caller { ip },
        })
    }
}

fn gpd(state: &AppState) -> Gpd<'_> {
    Gpd::new(state.store(), state.ente())
}

/// Parses a JSON body into GPD's model; syntax and type errors name the JSON path.
fn parse_body(body: &[u8]) -> Result<PaymentPositionModel, GpdError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        GpdError::BadRequest {
            title: "BAD REQUEST",
            detail: if path.is_empty() || path == "." {
                format!("JSON parse error: {inner}")
            } else {
                format!("{path}: JSON parse error: {inner}")
            },
        }
    })
}

fn flag(query: &HashMap<String, String>, name: &str) -> Result<bool, GpdError> {
    match query.get(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if v == "true" => Ok(true),
        Some(v) if v == "false" || v.is_empty() => Ok(false),
        Some(v) => Err(GpdError::BadRequest {
            title: "BAD REQUEST",
            detail: format!("Invalid value {v} for property {name}"),
        }),
    }
}

fn created(model: PaymentPositionModel, status: StatusCode) -> Response {
    (status, Json(model)).into_response()
}

#[utoipa::path(
    post,
    path = "/organizations/{organizationfiscalcode}/debtpositions",
    tag = "Debt Positions API",
    operation_id = "createPosition",
    summary = "The Organization creates a debt Position.",
    description = "Options without `iuv` get an IUV and NAV minted by Sportello (aux digit 3, the station's segregation code), returned in the answer.",
    params(
        ("organizationfiscalcode" = String, Path, description = "Organization fiscal code."),
        ("toPublish" = Option<bool>, Query, description = "Publish at once (default false)."),
    ),
    request_body = PaymentPositionModel,
    responses(
        (status = 201, description = "Request created.", body = PaymentPositionModel),
        (status = 400, description = "Malformed request.", body = ProblemJson),
        (status = 401, description = "Wrong or missing function key.", body = ProblemJson),
        (status = 404, description = "Organization not served here.", body = ProblemJson),
        (status = 409, description = "Conflict: duplicate debt position found.", body = ProblemJson),
        (status = 500, description = "Service unavailable.", body = ProblemJson),
    ),
    security(("ApiKey" = []))
)]
async fn create(
    client: ApiClient,
    State(state): State<AppState>,
    Path(organization): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, GpdError> {
    let service = gpd(&state);
    service.check_organization(&organization)?;
    let to_publish = flag(&query, "toPublish")?;
    let model = parse_body(&body)?;
    let position = service.create(&model, to_publish, &client.caller).await?;
    Ok(created(
        PaymentPositionModel::from_position(&position),
        StatusCode::CREATED,
    ))
}

fn list_request(query: &HashMap<String, String>) -> Result<ListRequest, GpdError> {
    let bad = |name: &str, v: &str| GpdError::BadRequest {
        title: "BAD REQUEST",
        detail: format!("Invalid value {v} for property {name}"),
    };
    let number = |name: &str, default: u32| -> Result<u32, GpdError> {
        match query.get(name) {
            None => Ok(default),
            Some(v) => v.trim().parse::<u32>().map_err(|_| bad(name, v)),
        }
    };
    let limit = number("limit", DEFAULT_LIMIT)?;
    if limit == 0 || limit > MAX_LIMIT {
        return Err(GpdError::bad_request(format!(
            "limit: must be between 1 and {MAX_LIMIT}"
        )));
    }
    let page = number("page", 0)?;
    let date = |name: &str| -> Result<Option<time::Date>, GpdError> {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        query
            .get(name)
            .map(|v| time::Date::parse(v.trim(), format).map_err(|_| bad(name, v)))
            .transpose()
    };
    let (due_from, due_to) = (date("due_date_from")?, date("due_date_to")?);
    let (paid_from, paid_to) = (date("payment_date_from")?, date("payment_date_to")?);
    if (due_from.is_some() || due_to.is_some()) && (paid_from.is_some() || paid_to.is_some()) {
        return Err(GpdError::bad_request(
            "the due date interval and the payment date interval are mutually exclusive",
        ));
    }
    let (due_from, due_to) = date_interval("due_date", due_from, due_to)?;
    let (paid_from, paid_to) = date_interval("payment_date", paid_from, paid_to)?;
    let status = match query.get("status") {
        None => None,
        Some(v) => Some(PositionStatus::parse(v.trim()).ok_or_else(|| bad("status", v))?),
    };
    let order = match query.get("orderby").map(|v| v.trim()) {
        None | Some("INSERTED_DATE") => PositionOrder::InsertedDate,
        Some("IUPD") => PositionOrder::Iupd,
        Some("STATUS") => PositionOrder::Status,
        Some("COMPANY_NAME") => PositionOrder::CompanyName,
        Some(v) => return Err(bad("orderby", v)),
    };
    let descending = match query.get("ordering").map(|v| v.trim()) {
        None | Some("DESC") => true,
        Some("ASC") => false,
        Some(v) => return Err(bad("ordering", v)),
    };
    Ok(ListRequest {
        page,
        limit,
        filter: PositionFilter {
            status,
            due_from,
            due_to,
            paid_from,
            paid_to,
            order,
            descending,
        },
    })
}

#[utoipa::path(
    get,
    path = "/organizations/{organizationfiscalcode}/debtpositions",
    tag = "Debt Positions API",
    operation_id = "getOrganizationDebtPositions",
    summary = "Return the list of the organization debt positions. The due dates interval is mutually exclusive with the payment dates interval.",
    params(
        ("organizationfiscalcode" = String, Path, description = "Organization fiscal code."),
        ("limit" = Option<i32>, Query, description = "Number of elements on one page (default 10, at most 50)."),
        ("page" = Option<i32>, Query, description = "Page number, from 0."),
        ("due_date_from" = Option<String>, Query, description = "yyyy-MM-dd; without it, 30 days before due_date_to."),
        ("due_date_to" = Option<String>, Query, description = "yyyy-MM-dd; without it, 30 days after due_date_from."),
        ("payment_date_from" = Option<String>, Query, description = "yyyy-MM-dd; without it, 30 days before payment_date_to."),
        ("payment_date_to" = Option<String>, Query, description = "yyyy-MM-dd; without it, 30 days after payment_date_from."),
        ("status" = Option<DebtPositionStatus>, Query, description = "Filter by debt position status."),
        ("orderby" = Option<String>, Query, description = "INSERTED_DATE (default), IUPD, STATUS or COMPANY_NAME."),
        ("ordering" = Option<String>, Query, description = "ASC or DESC (default)."),
    ),
    responses(
        (status = 200, description = "Obtained all organization payment positions.", body = PaymentPositionsInfo),
        (status = 400, description = "Malformed request.", body = ProblemJson),
        (status = 401, description = "Wrong or missing function key.", body = ProblemJson),
        (status = 404, description = "Organization not served here.", body = ProblemJson),
    ),
    security(("ApiKey" = []))
)]
async fn list(
    _client: ApiClient,
    State(state): State<AppState>,
    Path(organization): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<PaymentPositionsInfo>, GpdError> {
    let service = gpd(&state);
    service.check_organization(&organization)?;
    let request = list_request(&query)?;
    let (positions, page_info) = service.list(&request).await?;
    Ok(Json(PaymentPositionsInfo {
        payment_position_list: positions
            .iter()
            .map(|p| PaymentPositionModelBaseResponse::from_position(p, &organization))
            .collect(),
        page_info,
    }))
}

#[utoipa::path(
    get,
    path = "/organizations/{organizationfiscalcode}/debtpositions/{iupd}",
    tag = "Debt Positions API",
    operation_id = "getOrganizationDebtPositionByIUPD",
    summary = "Return the details of a specific debt position.",
    params(
        ("organizationfiscalcode" = String, Path, description = "Organization fiscal code."),
        ("iupd" = String, Path, description = "IUPD (unique identifier of the debt position)."),
    ),
    responses(
        (status = 200, description = "Obtained debt position details.", body = PaymentPositionModelBaseResponse),
        (status = 401, description = "Wrong or missing function key.", body = ProblemJson),
        (status = 404, description = "No debt position found.", body = ProblemJson),
    ),
    security(("ApiKey" = []))
)]
async fn get_one(
    _client: ApiClient,
    State(state): State<AppState>,
    Path((organization, iupd)): Path<(String, String)>,
) -> Result<Json<PaymentPositionModelBaseResponse>, GpdError> {
    let service = gpd(&state);
    service.check_organization(&organization)?;
    let position = service.get(&iupd).await?;
    Ok(Json(PaymentPositionModelBaseResponse::from_position(
        &position,
        &organization,
    )))
}

#[utoipa::path(
    put,
    path = "/organizations/{organizationfiscalcode}/debtpositions/{iupd}",
    tag = "Debt Positions API",
    operation_id = "updatePosition",
    summary = "The Organization updates a debt position",
    params(
        ("organizationfiscalcode" = String, Path, description = "Organization fiscal code."),
        ("iupd" = String, Path, description = "IUPD; must equal the body's."),
        ("toPublish" = Option<bool>, Query, description = "Publish at once (default false: back to DRAFT)."),
    ),
    request_body = PaymentPositionModel,
    responses(
        (status = 200, description = "Debt Position updated.", body = PaymentPositionModel),
        (status = 400, description = "Malformed request.", body = ProblemJson),
        (status = 401, description = "Wrong or missing function key.", body = ProblemJson),
        (status = 404, description = "No debt position found.", body = ProblemJson),
        (status = 409, description = "Conflict: existing related payment found.", body = ProblemJson),
    ),
    security(("ApiKey" = []))
)]
async fn update(
    client: ApiClient,
    State(state): State<AppState>,
    Path((organization, iupd)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, GpdError> {
    let service = gpd(&state);
    service.check_organization(&organization)?;
    let to_publish = flag(&query, "toPublish")?;
    let model = parse_body(&body)?;
    let position = service
        .update(&iupd, &model, to_publish, &client.caller)
        .await?;
    Ok(created(
        PaymentPositionModel::from_position(&position),
        StatusCode::OK,
    ))
}

#[utoipa::path(
    delete,
    path = "/organizations/{organizationfiscalcode}/debtpositions/{iupd}",
    tag = "Debt Positions API",
    operation_id = "deletePosition",
    summary = "The Organization deletes a debt position",
    params(
        ("organizationfiscalcode" = String, Path, description = "Organization fiscal code."),
        ("iupd" = String, Path, description = "IUPD."),
    ),
    responses(
        (status = 200, description = "Operation completed successfully.", body = String),
        (status = 401, description = "Wrong or missing function key.", body = ProblemJson),
        (status = 404, description = "No debt position found.", body = ProblemJson),
        (status = 409, description = "Conflict: existing related payment found.", body = ProblemJson),
    ),
    security(("ApiKey" = []))
)]
async fn delete(
    client: ApiClient,
    State(state): State<AppState>,
    Path((organization, iupd)): Path<(String, String)>,
) -> Result<Response, GpdError> {
    let service = gpd(&state);
    service.check_organization(&organization)?;
    service.delete(&iupd, &client.caller).await?;
    // GPD (Spring) writes its String answer as is, unquoted, under application/json: existing
    // clients expect exactly that.
    Ok(([(header::CONTENT_TYPE, "application/json")], DELETED).into_response())
}

#[utoipa::path(
    post,
    path = "/organizations/{organizationfiscalcode}/debtpositions/{iupd}/publish",
    tag = "Debt Position Actions API",
    operation_id = "publishPosition",
    summary = "The Organization publish a debt Position.",
    params(
        ("organizationfiscalcode" = String, Path, description = "Organization fiscal code."),
        ("iupd" = String, Path, description = "IUPD."),
    ),
    responses(
        (status = 200, description = "Request published.", body = PaymentPositionModel),
        (status = 401, description = "Wrong or missing function key.", body = ProblemJson),
        (status = 404, description = "No debt position found.", body = ProblemJson),
        (status = 409, description = "Conflict: debt position is not in publishable state.", body = ProblemJson),
    ),
    security(("ApiKey" = []))
)]
async fn publish(
    client: ApiClient,
    State(state): State<AppState>,
    Path((organization, iupd)): Path<(String, String)>,
) -> Result<Json<PaymentPositionModel>, GpdError> {
    let service = gpd(&state);
    service.check_organization(&organization)?;
    let position = service.publish(&iupd, &client.caller).await?;
    Ok(Json(PaymentPositionModel::from_position(&position)))
}

#[utoipa::path(
    post,
    path = "/organizations/{organizationfiscalcode}/debtpositions/{iupd}/invalidate",
    tag = "Debt Position Actions API",
    operation_id = "invalidatePosition",
    summary = "The Organization invalidate a debt Position.",
    params(
        ("organizationfiscalcode" = String, Path, description = "Organization fiscal code."),
        ("iupd" = String, Path, description = "IUPD."),
    ),
    responses(
        (status = 200, description = "Request invalidated.", body = PaymentPositionModel),
        (status = 401, description = "Wrong or missing function key.", body = ProblemJson),
        (status = 404, description = "No debt position found.", body = ProblemJson),
        (status = 409, description = "Conflict: debt position is not in invalidable state.", body = ProblemJson),
    ),
    security(("ApiKey" = []))
)]
async fn invalidate(
    client: ApiClient,
    State(state): State<AppState>,
    Path((organization, iupd)): Path<(String, String)>,
) -> Result<Json<PaymentPositionModel>, GpdError> {
    let service = gpd(&state);
    service.check_organization(&organization)?;
    let position = service.invalidate(&iupd, &client.caller).await?;
    Ok(Json(PaymentPositionModel::from_position(&position)))
}

#[utoipa::path(
    post,
    path = "/organizations/{organizationfiscalcode}/debtpositions/import",
    tag = "Sportello extensions",
    operation_id = "importPositions",
    summary = "Bulk import of debt positions from a CSV file (layout in docs/import.md).",
    description = "All or nothing unless `partial=true`. Re-sending the same file changes nothing: its positions are reported as unchanged.",
    params(
        ("organizationfiscalcode" = String, Path, description = "Organization fiscal code."),
        ("partial" = Option<bool>, Query, description = "Write the good positions even when some rows are refused."),
        ("toPublish" = Option<bool>, Query, description = "Publish the imported positions (default: DRAFT)."),
    ),
    request_body(content = String, content_type = "text/csv"),
    responses(
        (status = 200, description = "Imported (see the report).", body = ImportReport),
        (status = 401, description = "Wrong or missing function key.", body = ProblemJson),
        (status = 404, description = "Organization not served here.", body = ProblemJson),
        (status = 413, description = "File too large.", body = ProblemJson),
        (status = 422, description = "Rows refused: nothing written.", body = ImportReport),
    ),
    security(("ApiKey" = []))
)]
async fn import(
    client: ApiClient,
    State(state): State<AppState>,
    Path(organization): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, GpdError> {
    gpd(&state).check_organization(&organization)?;
    let options = ImportOptions {
        partial: flag(&query, "partial")?,
        publish: flag(&query, "toPublish")?,
        actor_ip: client.caller.ip.clone(),
    };
    if let Some(kind) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        let kind = kind.to_ascii_lowercase();
        if kind.starts_with("application/json") {
            return Err(GpdError::bad_request(
                "the import expects a CSV file (Content-Type: text/csv)",
            ));
        }
    }
    let limit = state.config().import_max_upload_bytes;
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return Ok(problem_response(ProblemJson {
            title: "Payload Too Large".to_owned(),
            status: 413,
            detail: format!("the file exceeds {limit} bytes (setting import.max_upload_bytes)"),
        }));
    };
    let report = crate::import::import_positions(
        state.store(),
        state.ente(),
        std::io::Cursor::new(bytes),
        &options,
    )
    .await?;
    let status = if report.committed || report.rows_refused == 0 {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, Json(report)).into_response())
}

/// Adds the `Ocp-Apim-Subscription-Key` security scheme.
struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "ApiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                KEY_HEADER,
                "The API key (setting api_keys; `sportello-demo-key` in the demo).",
            ))),
        );
    }
}

/// The OpenAPI document of this API (GPD's operations plus Sportello's import).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sportello — Debt Positions API (pagoPA GPD compatible)",
        description = "Debt positions of the ente, wire-compatible with pagoPA GPD `openapi/gpd.json` (debt-positions-service v1). Extensions: IUV/NAV minting when `iuv` is absent, the CSV bulk import, and the notice PDF.",
    ),
    servers((url = "/gpd/debt-positions-service/v1")),
    paths(create, list, get_one, update, delete, publish, invalidate, import, super::gpd_documents::notice),
    components(schemas(
        PaymentPositionModel, PaymentOptionModel, TransferModel, Stamp, MetadataModel,
        PaymentPositionModelBaseResponse, PaymentOptionModelResponse, TransferModelResponse,
        PaymentPositionsInfo, PageInfo, ProblemJson, DebtPositionStatus, SubjectKind,
        ImportReport, RowError,
    )),
    modifiers(&SecurityAddon),
    tags(
        (name = "Debt Positions API"),
        (name = "Debt Position Actions API"),
        (name = "Sportello extensions"),
    )
)]
pub struct ApiDoc;

async fn openapi() -> Response {
    match ApiDoc::openapi().to_json() {
        Ok(text) => ([(header::CONTENT_TYPE, "application/json")], text).into_response(),
        Err(e) => GpdError::Internal(crate::store::StoreError::Db(sqlx::Error::Protocol(
            e.to_string(),
        )))
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::same_key;

    #[test]
    fn keys_compare_exactly() {
        assert!(same_key(b"sportello-demo-key", b"sportello-demo-key"));
        assert!(!same_key(b"sportello-demo-kez", b"sportello-demo-key"));
        assert!(!same_key(b"sportello-demo-key-", b"sportello-demo-key"));
        assert!(!same_key(b"", b"x"));
    }
}
