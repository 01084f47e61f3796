//! HTTP handlers of the debt-position API under `/gpd/debt-positions-service/v1`, wire-compatible
//! with pagoPA GPD: same paths, query parameters, JSON, status codes and ProblemJson errors, the
//! key in `Ocp-Apim-Subscription-Key`. Handlers only parse and answer; the rules are in
//! [`crate::gpd::service`].

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::path;
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use utoipa::OpenApi;

use super::AppState;
use crate::domain::position::PositionStatus;
use crate::gpd::model::{
    DebtPositionStatus, GatewayError, MetadataModel, OrderBy, Ordering, PageInfo,
    PaymentOptionModel, PaymentOptionModelResponse, PaymentPositionModel,
    PaymentPositionModelBaseResponse, PaymentPositionsInfo, ProblemJson, Stamp, SubjectKind,
    TransferModel, TransferModelResponse, UpdateTransferIbanMassiveModel,
    UpdateTransferIbanMassiveResponse,
};
use crate::gpd::service::{
    Caller, DEFAULT_LIMIT, ErrorBody, Gpd, GpdError, IbanChange, ListRequest, MAX_LIMIT,
    date_interval,
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
    let one = get(get_one).put(update).delete(delete);
    Router::new()
        .route(&format!("{BASE}/openapi.json"), get(openapi))
        .route(&org, post(create).get(list))
        // Two fixed names beside `{iupd}`: a position may still be called so (GPD routes by
        // method), so the position operations answer there too.
        .route(
            &format!("{org}/transfers"),
            patch(update_transfer_iban)
                .get(get_one)
                .put(update)
                .delete(delete),
        )
        .route(
            &format!("{org}/import"),
            post(import).get(get_one).put(update).delete(delete),
        )
        .route(&format!("{org}/{{iupd}}"), one)
        .route(&format!("{org}/{{iupd}}/publish"), post(publish))
        .route(&format!("{org}/{{iupd}}/invalidate"), post(invalidate))
}

impl IntoResponse for GpdError {
    fn into_response(self) -> Response {
        if let GpdError::Internal(cause) = &self {
            tracing::error!(error = %cause, "debt-position API failure");
        }
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // GPD and its gateway answer their errors as application/json.
        match self.body() {
            ErrorBody::Problem(problem) => (status, Json(problem)).into_response(),
            ErrorBody::Gateway(gateway) => (status, Json(gateway)).into_response(),
        }
    }
}

/// The largest JSON body the API reads (axum's usual limit); a larger one is a 400, the answer
/// GPD declares for a malformed request.
pub const MAX_JSON_BODY_BYTES: usize = 2 * 1024 * 1024;

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
        if given.is_empty() {
            tracing::warn!(path = %parts.uri.path(), "debt-position API: missing key");
            return Err(GpdError::MissingKey);
        }
        if !matched {
            tracing::warn!(path = %parts.uri.path(), "debt-position API: wrong key");
            return Err(GpdError::WrongKey);
        }
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_default();
        Ok(ApiClient {
            caller: Caller {
                ip,
                ..Caller::default()
            },
        })
    }
}

fn gpd(state: &AppState) -> Gpd<'_> {
    Gpd::new(state.store(), state.ente())
}

/// The organization of the path, and the position for the routes under it. axum refuses a path
/// parameter that is not UTF-8 once percent-decoded; no organization and no position can have
/// such a name, so the answer is GPD's for an organization the key is not entitled to (403) or
/// for a position that does not exist (404), never a bare 400 the document does not declare.
pub struct Target {
    /// `{organizationfiscalcode}`.
    pub organization: String,
    /// `{iupd}`, or the fixed name of the route (`transfers`, `import`) that stands in its place.
    pub iupd: String,
}

/// The raw segments after `organizations/` and after `debtpositions/` in the path.
fn raw_segments(path: &str) -> (Option<&str>, Option<&str>) {
    let after = |name: &str| path.split('/').skip_while(|s| *s != name).nth(1);
    (after("organizations"), after("debtpositions"))
}

impl FromRequestParts<AppState> for Target {
    type Rejection = GpdError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, GpdError> {
        let (raw_organization, raw_iupd) = raw_segments(parts.uri.path());
        // Routes with a fixed name where `{iupd}` stands (`transfers`, `import`) name it so.
        let named = raw_iupd.unwrap_or_default().to_owned();
        let raw_organization = raw_organization.unwrap_or_default().to_owned();
        let params = match Path::<HashMap<String, String>>::from_request_parts(parts, state).await {
            Ok(Path(params)) => params,
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                let key = match e.kind() {
                    path::ErrorKind::InvalidUtf8InPathParam { key } => key.as_str(),
                    _ => "",
                };
                let ente = &state.ente().fiscal_code;
                return Err(if key == "iupd" && raw_organization == *ente {
                    GpdError::NotFound {
                        organization: ente.clone(),
                        iupd: named,
                    }
                } else {
                    GpdError::Forbidden(raw_organization)
                });
            }
            Err(e) => {
                return Err(GpdError::Internal(crate::store::StoreError::Db(
                    sqlx::Error::Protocol(format!("path parameters: {e}")),
                )));
            }
        };
        let organization = params
            .get("organizationfiscalcode")
            .cloned()
            .unwrap_or_default();
        let iupd = params.get("iupd").cloned().unwrap_or(named);
        Ok(Target { organization, iupd })
    }
}

/// The query string as GPD reads it (the last of repeated names wins); one that cannot be
/// decoded is GPD's 400 with a ProblemJson, not axum's plain-text rejection.
pub struct GpdQuery(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for GpdQuery {
    type Rejection = GpdError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, GpdError> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .map(|pairs| GpdQuery(pairs.into_iter().collect()))
            .map_err(|e| GpdError::BadRequest {
                title: "BAD REQUEST",
                detail: format!("query string: {e}"),
            })
    }
}

/// Reads a JSON body of at most [`MAX_JSON_BODY_BYTES`].
async fn read_body(body: Body) -> Result<Bytes, GpdError> {
    axum::body::to_bytes(body, MAX_JSON_BODY_BYTES)
        .await
        .map_err(|_| GpdError::BadRequest {
            title: "BAD REQUEST",
            detail: format!("the request body exceeds {MAX_JSON_BODY_BYTES} bytes"),
        })
}

/// Parses a JSON body into `T`; syntax and type errors name the JSON path.
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, GpdError> {
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

fn answer(model: PaymentPositionModel, status: StatusCode) -> Response {
    (status, Json(model)).into_response()
}

#[utoipa::path(
    post,
    path = "/organizations/{organizationfiscalcode}/debtpositions",
    tag = "Debt Positions API",
    operation_id = "createPosition",
    summary = "The Organization creates a debt Position.",
    description = "Options without `iuv` get an IUV and NAV minted by Sportello (aux digit 3, the station's segregation code), returned in the answer. Date-times are Rome's wall-clock time (GPD's `LocalDateTime`); one with an offset names that instant.",
    params(
        ("organizationfiscalcode" = String, Path, description = "Organization fiscal code."),
        ("toPublish" = Option<bool>, Query, description = "Publish at once (default false)."),
    ),
    request_body = PaymentPositionModel,
    responses(
        (status = 201, description = "Request created.", body = PaymentPositionModel),
        (status = 400, description = "Malformed request.", body = ProblemJson),
        (status = 401, description = "Wrong or missing function key.", body = GatewayError),
        (status = 403, description = "Forbidden: the key is not entitled to the organization.", body = GatewayError),
        (status = 409, description = "Conflict: duplicate debt position found, or a publication the dates do not allow.", body = ProblemJson),
        (status = 500, description = "Service unavailable.", body = ProblemJson),
    ),
    security(("ApiKey" = []))
)]
async fn create(
    client: ApiClient,
    State(state): State<AppState>,
    target: Target,
    GpdQuery(query): GpdQuery,
    body: Body,
) -> Result<Response, GpdError> {
    let service = gpd(&state);
    service.check_organization(&target.organization)?;
    let to_publish = flag(&query, "toPublish")?;
    let model: PaymentPositionModel = parse_json(&read_body(body).await?)?;
    let position = service.create(&model, to_publish, &client.caller).await?;
    Ok(answer(
        PaymentPositionModel::from_position(&position),
        StatusCode::CREATED,
    ))
}

/// A query parameter whose values are one of GPD's enums (the same names the document lists).
fn enum_param<T: serde::de::DeserializeOwned>(
    query: &HashMap<String, String>,
    name: &str,
) -> Result<Option<T>, GpdError> {
    query
        .get(name)
        .map(|v| {
            serde_json::from_value(serde_json::Value::String(v.trim().to_owned())).map_err(|_| {
                GpdError::BadRequest {
                    title: "BAD REQUEST",
                    detail: format!("Invalid value {v} for property {name}"),
                }
            })
        })
        .transpose()
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
    let order = match enum_param(query, "orderby")? {
        None | Some(OrderBy::InsertedDate) => PositionOrder::InsertedDate,
        Some(OrderBy::Iupd) => PositionOrder::Iupd,
        Some(OrderBy::Status) => PositionOrder::Status,
        Some(OrderBy::CompanyName) => PositionOrder::CompanyName,
    };
    let descending = !matches!(enum_param(query, "ordering")?, Some(Ordering::Asc));
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
        ("limit" = Option<i32>, Query, minimum = 1, maximum = 50, description = "Number of elements on one page (default 10, at most 50)."),
        ("page" = Option<i32>, Query, minimum = 0, description = "Page number, from 0."),
        ("due_date_from" = Option<String>, Query, format = Date, description = "yyyy-MM-dd, a day in Rome; without it, 30 days before due_date_to."),
        ("due_date_to" = Option<String>, Query, format = Date, description = "yyyy-MM-dd, a day in Rome; without it, 30 days after due_date_from."),
        ("payment_date_from" = Option<String>, Query, format = Date, description = "yyyy-MM-dd, a day in Rome; without it, 30 days before payment_date_to."),
        ("payment_date_to" = Option<String>, Query, format = Date, description = "yyyy-MM-dd, a day in Rome; without it, 30 days after payment_date_from."),
        ("status" = Option<DebtPositionStatus>, Query, description = "Filter by debt position status."),
        ("orderby" = Option<OrderBy>, Query, description = "Sort key (default INSERTED_DATE)."),
        ("ordering" = Option<Ordering>, Query, description = "Direction (default DESC)."),
    ),
    responses(
        (status = 200, description = "Obtained all organization payment positions.", body = PaymentPositionsInfo),
        (status = 400, description = "Malformed request.", body = ProblemJson),
        (status = 401, description = "Wrong or missing function key.", body = GatewayError),
        (status = 403, description = "Forbidden: the key is not entitled to the organization.", body = GatewayError),
        (status = 500, description = "Service unavailable.", body = ProblemJson),
    ),
    security(("ApiKey" = []))
)]
async fn list(
    _client: ApiClient,
    State(state): State<AppState>,
    target: Target,
    GpdQuery(query): GpdQuery,
) -> Result<Json<PaymentPositionsInfo>, GpdError> {
    let service = gpd(&state);
    service.check_organization(&target.organization)?;
    let request = list_request(&query)?;
    let (positions, page_info) = service.list(&request).await?;
    Ok(Json(PaymentPositionsInfo {
        payment_position_list: positions
            .iter()
            .map(|p| PaymentPositionModelBaseResponse::from_position(p, &target.organization))
            .collect(),
        page_info,
    }))
}

#[utoipa::path(
    patch,
    path = "/organizations/{organizationfiscalcode}/debtpositions/transfers",
    tag = "Debt Positions API",
    operation_id = "updateTransferIbanMassive",
    summary = "The Organization updates the IBANs of every updatable payment option's transfers",
    description = "Every transfer to `oldIban` of an unpaid payment option, in a debt position that is DRAFT, PUBLISHED, VALID or PARTIALLY_PAID, gets `newIban`; at most `limit` transfers. Both IBANs must be valid.",
    params(
        ("organizationfiscalcode" = String, Path, description = "Organization fiscal code."),
        ("oldIban" = String, Query, min_length = 1, description = "The old iban to replace (a valid IBAN)."),
        ("limit" = Option<i32>, Query, minimum = 0, maximum = 1000, description = "Number of Transfer to update (max = 1000, default = 1000)"),
    ),
    request_body = UpdateTransferIbanMassiveModel,
    responses(
        (status = 200, description = "IBANs updated", body = UpdateTransferIbanMassiveResponse),
        (status = 400, description = "Malformed request.", body = ProblemJson),
        (status = 401, description = "Wrong or missing function key.", body = GatewayError),
        (status = 403, description = "Forbidden: the key is not entitled to the organization.", body = GatewayError),
        (status = 500, description = "Service unavailable.", body = ProblemJson),
    ),
    security(("ApiKey" = []))
)]
async fn update_transfer_iban(
    client: ApiClient,
    State(state): State<AppState>,
    target: Target,
    GpdQuery(query): GpdQuery,
    body: Body,
) -> Result<Json<UpdateTransferIbanMassiveResponse>, GpdError> {
    let service = gpd(&state);
    service.check_organization(&target.organization)?;
    let model: UpdateTransferIbanMassiveModel = parse_json(&read_body(body).await?)?;
    let request = IbanChange::parse(
        query.get("oldIban").map(String::as_str),
        query.get("limit").map(String::as_str),
        model.new_iban.as_deref(),
    )?;
    let updated = service
        .update_transfer_iban(&request, &client.caller)
        .await?;
    Ok(Json(UpdateTransferIbanMassiveResponse::new(updated)))
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
        (status = 401, description = "Wrong or missing function key.", body = GatewayError),
        (status = 403, description = "Forbidden: the key is not entitled to the organization.", body = GatewayError),
        (status = 404, description = "No debt position found.", body = ProblemJson),
        (status = 500, description = "Service unavailable.", body = ProblemJson),
    ),
    security(("ApiKey" = []))
)]
async fn get_one(
    _client: ApiClient,
    State(state): State<AppState>,
    target: Target,
) -> Result<Json<PaymentPositionModelBaseResponse>, GpdError> {
    let service = gpd(&state);
    service.check_organization(&target.organization)?;
    let position = service.get(&target.iupd).await?;
    Ok(Json(PaymentPositionModelBaseResponse::from_position(
        &position,
        &target.organization,
    )))
}

#[utoipa::path(
    put,
    path = "/organizations/{organizationfiscalcode}/debtpositions/{iupd}",
    tag = "Debt Positions API",
    operation_id = "updatePosition",
    summary = "The Organization updates a debt position",
    description = "Refused (409) once paid, partially paid, reported or invalidated, and for 30 minutes after pagoPA's node activated one of its notices (paGetPayment): a payment may be under way.",
    params(
        ("organizationfiscalcode" = String, Path, description = "Organization fiscal code."),
        ("iupd" = String, Path, description = "IUPD; must equal the body's."),
        ("toPublish" = Option<bool>, Query, description = "Publish at once (default false: back to DRAFT)."),
    ),
    request_body = PaymentPositionModel,
    responses(
        (status = 200, description = "Debt Position updated.", body = PaymentPositionModel),
        (status = 400, description = "Malformed request.", body = ProblemJson),
        (status = 401, description = "Wrong or missing function key.", body = GatewayError),
        (status = 403, description = "Forbidden: the key is not entitled to the organization.", body = GatewayError),
        (status = 404, description = "No debt position found.", body = ProblemJson),
        (status = 409, description = "Conflict: existing related payment found.", body = ProblemJson),
        (status = 500, description = "Service unavailable.", body = ProblemJson),
    ),
    security(("ApiKey" = []))
)]
async fn update(
    client: ApiClient,
    State(state): State<AppState>,
    target: Target,
    GpdQuery(query): GpdQuery,
    body: Body,
) -> Result<Response, GpdError> {
    let service = gpd(&state);
    service.check_organization(&target.organization)?;
    let to_publish = flag(&query, "toPublish")?;
    let model: PaymentPositionModel = parse_json(&read_body(body).await?)?;
    let position = service
        .update(&target.iupd, &model, to_publish, &client.caller)
        .await?;
    Ok(answer(
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
    description = "Refused (409) once money has moved, and for 30 minutes after pagoPA's node activated one of its notices (paGetPayment).",
    params(
        ("organizationfiscalcode" = String, Path, description = "Organization fiscal code."),
        ("iupd" = String, Path, description = "IUPD."),
    ),
    responses(
        (status = 200, description = "Operation completed successfully.", body = String, example = json!(DELETED)),
        (status = 401, description = "Wrong or missing function key.", body = GatewayError),
        (status = 403, description = "Forbidden: the key is not entitled to the organization.", body = GatewayError),
        (status = 404, description = "No debt position found.", body = ProblemJson),
        (status = 409, description = "Conflict: existing related payment found.", body = ProblemJson),
        (status = 500, description = "Service unavailable.", body = ProblemJson),
    ),
    security(("ApiKey" = []))
)]
async fn delete(
    client: ApiClient,
    State(state): State<AppState>,
    target: Target,
) -> Result<Response, GpdError> {
    let service = gpd(&state);
    service.check_organization(&target.organization)?;
    service.delete(&target.iupd, &client.caller).await?;
    // GPD answers a JSON string.
    Ok(Json(DELETED).into_response())
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
        (status = 401, description = "Wrong or missing function key.", body = GatewayError),
        (status = 403, description = "Forbidden: the key is not entitled to the organization.", body = GatewayError),
        (status = 404, description = "No debt position found.", body = ProblemJson),
        (status = 409, description = "Conflict: debt position is not in publishable state.", body = ProblemJson),
        (status = 500, description = "Service unavailable.", body = ProblemJson),
    ),
    security(("ApiKey" = []))
)]
async fn publish(
    client: ApiClient,
    State(state): State<AppState>,
    target: Target,
) -> Result<Json<PaymentPositionModel>, GpdError> {
    let service = gpd(&state);
    service.check_organization(&target.organization)?;
    let position = service.publish(&target.iupd, &client.caller).await?;
    Ok(Json(PaymentPositionModel::from_position(&position)))
}

#[utoipa::path(
    post,
    path = "/organizations/{organizationfiscalcode}/debtpositions/{iupd}/invalidate",
    tag = "Debt Position Actions API",
    operation_id = "invalidatePosition",
    summary = "The Organization invalidate a debt Position.",
    description = "Refused (409) unless PUBLISHED or VALID, and for 30 minutes after pagoPA's node activated one of its notices (paGetPayment).",
    params(
        ("organizationfiscalcode" = String, Path, description = "Organization fiscal code."),
        ("iupd" = String, Path, description = "IUPD."),
    ),
    responses(
        (status = 200, description = "Request invalidated.", body = PaymentPositionModel),
        (status = 401, description = "Wrong or missing function key.", body = GatewayError),
        (status = 403, description = "Forbidden: the key is not entitled to the organization.", body = GatewayError),
        (status = 404, description = "No debt position found.", body = ProblemJson),
        (status = 409, description = "Conflict: debt position is not in invalidable state.", body = ProblemJson),
        (status = 500, description = "Service unavailable.", body = ProblemJson),
    ),
    security(("ApiKey" = []))
)]
async fn invalidate(
    client: ApiClient,
    State(state): State<AppState>,
    target: Target,
) -> Result<Json<PaymentPositionModel>, GpdError> {
    let service = gpd(&state);
    service.check_organization(&target.organization)?;
    let position = service.invalidate(&target.iupd, &client.caller).await?;
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
        (status = 400, description = "Malformed request (a flag, or a JSON body).", body = ProblemJson),
        (status = 401, description = "Wrong or missing function key.", body = GatewayError),
        (status = 403, description = "Forbidden: the key is not entitled to the organization.", body = GatewayError),
        (status = 413, description = "File too large.", body = ProblemJson),
        (status = 422, description = "Rows refused: nothing written.", body = ImportReport),
        (status = 500, description = "Service unavailable.", body = ProblemJson),
    ),
    security(("ApiKey" = []))
)]
async fn import(
    client: ApiClient,
    State(state): State<AppState>,
    target: Target,
    GpdQuery(query): GpdQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, GpdError> {
    gpd(&state).check_organization(&target.organization)?;
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
        let problem = ProblemJson {
            title: "Payload Too Large".to_owned(),
            status: 413,
            detail: format!("the file exceeds {limit} bytes (setting import.max_upload_bytes)"),
        };
        return Ok((StatusCode::PAYLOAD_TOO_LARGE, Json(problem)).into_response());
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

/// What a request may send as a date-time: Rome's wall-clock time (GPD's `LocalDateTime`),
/// seconds and fraction optional, or an instant with its offset.
pub const ACCEPTED_DATE_TIME: &str =
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?$";

/// What an answer carries as a date-time: Rome's wall-clock time, without an offset, as GPD.
pub const ANSWERED_DATE_TIME: &str = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?$";

/// Free text as validation accepts it: no control characters (Unicode `Cc`).
pub const TEXT: &str = r"^[^\x00-\x1f\x7f-\x9f]*$";

/// Required free text: no control characters, and not blank.
pub const REQUIRED_TEXT: &str =
    r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$";

/// Declares the document as the API behaves where the macros cannot say it:
/// - free text cannot hold control characters (and required text cannot be blank);
/// - date-times are GPD's `LocalDateTime` (no offset), not RFC 3339 `date-time`, which needs
///   one: a pattern says what is accepted and what is answered;
/// - every GPD operation takes and echoes `X-Request-Id`, as GPD does;
/// - a created position links to the operations on it (the iupd of the answer), so that a client
///   — and schemathesis's stateful phase — can follow them.
struct GpdDocument;

impl utoipa::Modify for GpdDocument {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{KnownFormat, Schema, SchemaFormat};
        use utoipa::openapi::{RefOr, path::ParameterIn};

        if let Some(components) = openapi.components.as_mut() {
            for (name, schema) in components.schemas.iter_mut() {
                let answered = name.ends_with("Response");
                let RefOr::T(Schema::Object(object)) = schema else {
                    continue;
                };
                for property in object.properties.values_mut() {
                    let RefOr::T(Schema::Object(p)) = property else {
                        continue;
                    };
                    // Free text: validation refuses control characters, and blank required text.
                    if !answered {
                        match p.pattern.as_deref() {
                            Some(r"\S") => p.pattern = Some(REQUIRED_TEXT.to_owned()),
                            None if p.max_length.is_some() => p.pattern = Some(TEXT.to_owned()),
                            _ => {}
                        }
                    }
                    if p.format == Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)) {
                        p.format = None;
                        p.pattern = Some(
                            if answered {
                                ANSWERED_DATE_TIME
                            } else {
                                ACCEPTED_DATE_TIME
                            }
                            .to_owned(),
                        );
                    }
                }
            }
        }

        let request_id = || {
            utoipa::openapi::path::ParameterBuilder::new()
                .name("X-Request-Id")
                .parameter_in(ParameterIn::Header)
                .description(Some(
                    "This header identifies the call, if not passed it is self-generated. This ID is returned in the response.",
                ))
                .schema(Some(utoipa::openapi::ObjectBuilder::new().schema_type(
                    utoipa::openapi::schema::Type::String,
                )))
                .build()
        };
        let request_id_header = || {
            utoipa::openapi::HeaderBuilder::new()
                .schema(
                    utoipa::openapi::ObjectBuilder::new()
                        .schema_type(utoipa::openapi::schema::Type::String),
                )
                .description(Some("This header identifies the call"))
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                operation
                    .parameters
                    .get_or_insert_with(Vec::new)
                    .push(request_id());
                for response in operation.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        response
                            .headers
                            .insert("X-Request-Id".to_owned(), request_id_header());
                    }
                }
                if operation.operation_id.as_deref() == Some("createPosition") {
                    if let Some(RefOr::T(created)) = operation.responses.responses.get_mut("201") {
                        for (name, target) in [
                            ("GetCreatedPosition", "getOrganizationDebtPositionByIUPD"),
                            ("UpdateCreatedPosition", "updatePosition"),
                            ("DeleteCreatedPosition", "deletePosition"),
                            ("PublishCreatedPosition", "publishPosition"),
                            ("InvalidateCreatedPosition", "invalidatePosition"),
                        ] {
                            let link = utoipa::openapi::link::LinkBuilder::new()
                                .operation_id(target)
                                .parameter(
                                    "organizationfiscalcode",
                                    "$request.path.organizationfiscalcode",
                                )
                                .parameter("iupd", "$response.body#/iupd")
                                .build();
                            created.links.insert(name.to_owned(), RefOr::T(link));
                        }
                    }
                }
            }
        }
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
    paths(create, list, update_transfer_iban, get_one, update, delete, publish, invalidate, import, super::gpd_documents::notice),
    components(schemas(
        PaymentPositionModel, PaymentOptionModel, TransferModel, Stamp, MetadataModel,
        PaymentPositionModelBaseResponse, PaymentOptionModelResponse, TransferModelResponse,
        PaymentPositionsInfo, PageInfo, ProblemJson, GatewayError, DebtPositionStatus, SubjectKind,
        OrderBy, Ordering, UpdateTransferIbanMassiveModel, UpdateTransferIbanMassiveResponse,
        ImportReport, RowError,
    )),
    modifiers(&SecurityAddon, &GpdDocument),
    tags(
        (name = "Debt Positions API"),
        (name = "Debt Position Actions API"),
        (name = "Sportello extensions"),
    )
)]
pub struct ApiDoc;

/// The served document: [`ApiDoc`] as JSON, with its links' fields spelled as OpenAPI spells
/// them (utoipa 5 writes `operation_id`, `request_body`).
pub fn document() -> serde_json::Value {
    fn respell_links(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::Object(links)) = map.get_mut("links") {
                    for link in links.values_mut() {
                        if let serde_json::Value::Object(link) = link {
                            for (from, to) in [
                                ("operation_id", "operationId"),
                                ("operation_ref", "operationRef"),
                                ("request_body", "requestBody"),
                            ] {
                                if let Some(v) = link.remove(from) {
                                    link.insert(to.to_owned(), v);
                                }
                            }
                        }
                    }
                }
                map.values_mut().for_each(respell_links);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(respell_links),
            _ => {}
        }
    }
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    respell_links(&mut doc);
    doc
}

async fn openapi() -> Json<serde_json::Value> {
    Json(document())
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
