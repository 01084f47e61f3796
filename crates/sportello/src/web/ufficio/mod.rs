//! The back office's pages under `/ufficio`, server-rendered like the citizens' pages.
//!
//! Every route is a row of [`ROUTES`]: the router is built from it, the navigation bar and the
//! permission tests (`tests/backoffice.rs`) read it. A row declares what the route needs
//! ([`Access`]) and which kind of record its path names ([`Entity`]); the *checks* are made by
//! the service layer (`crate::backoffice`), and the generated tests prove the two agree. To add
//! a page group, see `docs/backoffice.md`.

mod admin;
mod anomalies;
mod export;
mod login;
mod operators;
mod positions;
mod receipts;
mod recon;
pub mod session;
mod views;

use axum::Router;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};

pub use session::OperatorSession;
pub use views::{Block, Cell, Facts, Flash, FormBlock, Input, Page, Pre, Table};

use crate::backoffice::{BackOffice, BoError, Operator};
use crate::web::AppState;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anybody (the login page).
    Public,
    /// Any logged-in operator (reading, within their scope).
    Read,
    /// An operator who is not read-only.
    Write,
    /// An admin.
    Admin,
    /// An admin who is not read-only (pages that only serve to change the admins' own
    /// records, such as the form for a new operator).
    AdminWrite,
}

/// The record a route's `{id}` names: outside the operator's scope it is a 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    /// No record in the path.
    None,
    /// A debt position (`{id}`).
    Position,
    /// A receipt (`{id}`).
    Receipt,
    /// An anomaly, named by the form (`tipo`, `rif`).
    Anomaly,
    /// A reporting flow (`{id}`).
    Flow,
}

/// One route of the back office.
pub struct Route {
    /// `GET` or `POST`.
    pub method: Method,
    /// The axum path.
    pub path: &'static str,
    /// What it needs.
    pub access: Access,
    /// What its `{id}` names.
    pub entity: Entity,
    /// The handler.
    pub handler: fn() -> MethodRouter<AppState>,
}

macro_rules! route {
    (GET $path:literal, $access:ident, $entity:ident, $handler:path) => {
        Route {
            method: Method::GET,
            path: $path,
            access: Access::$access,
            entity: Entity::$entity,
            handler: || get($handler),
        }
    };
    (POST $path:literal, $access:ident, $entity:ident, $handler:path) => {
        Route {
            method: Method::POST,
            path: $path,
            access: Access::$access,
            entity: Entity::$entity,
            handler: || post($handler),
        }
    };
}

/// Every route of the back office.
pub const ROUTES: &[Route] = &[
    route!(GET "/ufficio/login", Public, None, login::page),
    route!(POST "/ufficio/login", Public, None, login::submit),
    route!(POST "/ufficio/logout", Read, None, login::logout),
    route!(GET "/ufficio/password", Read, None, login::password_page),
    route!(POST "/ufficio/password", Read, None, login::password_submit),
    route!(GET "/ufficio", Read, None, positions::dashboard),
    route!(GET "/ufficio/posizioni", Read, None, positions::search),
    route!(GET "/ufficio/posizioni.csv", Read, None, export::csv_route::<positions::PositionExport>),
    route!(GET "/ufficio/posizioni.xlsx", Read, None, export::xlsx_route::<positions::PositionExport>),
    route!(GET "/ufficio/posizioni/nuova", Write, None, positions::new_page),
    route!(POST "/ufficio/posizioni/nuova", Write, None, positions::create),
    route!(GET "/ufficio/posizioni/{id}", Read, Position, positions::detail),
    route!(GET "/ufficio/posizioni/{id}/avviso.pdf", Read, Position, positions::notice_pdf),
    route!(POST "/ufficio/posizioni/{id}/pubblica", Write, Position, positions::publish),
    route!(POST "/ufficio/posizioni/{id}/annulla", Write, Position, positions::invalidate),
    route!(POST "/ufficio/posizioni/{id}/rata", Write, Position, positions::change_option),
    route!(POST "/ufficio/posizioni/{id}/invia-avviso", Write, Position, positions::email_notice),
    route!(GET "/ufficio/ricevute", Read, None, receipts::search),
    route!(GET "/ufficio/ricevute.csv", Read, None, export::csv_route::<receipts::ReceiptExport>),
    route!(GET "/ufficio/ricevute.xlsx", Read, None, export::xlsx_route::<receipts::ReceiptExport>),
    route!(GET "/ufficio/ricevute/{id}", Read, Receipt, receipts::detail),
    route!(GET "/ufficio/ricevute/{id}/ricevuta.pdf", Read, Receipt, receipts::pdf),
    route!(GET "/ufficio/anomalie", Read, None, anomalies::list),
    route!(POST "/ufficio/anomalie/risolvi", Write, Anomaly, anomalies::resolve),
    route!(GET "/ufficio/rendicontazione", Admin, None, recon::flows),
    route!(GET "/ufficio/rendicontazione.csv", Admin, None, export::csv_route::<recon::FlowExport>),
    route!(GET "/ufficio/rendicontazione.xlsx", Admin, None, export::xlsx_route::<recon::FlowExport>),
    route!(POST "/ufficio/rendicontazione/sincronizza", Admin, None, recon::sync_now),
    route!(GET "/ufficio/rendicontazione/{id}", Admin, Flow, recon::flow),
    route!(GET "/ufficio/rendicontazione/{id}/righe.csv", Admin, Flow, recon::lines_csv),
    route!(GET "/ufficio/rendicontazione/{id}/righe.xlsx", Admin, Flow, recon::lines_xlsx),
    route!(GET "/ufficio/tesoreria", Admin, None, recon::credits),
    route!(GET "/ufficio/tesoreria.csv", Admin, None, export::csv_route::<recon::CreditExport>),
    route!(GET "/ufficio/tesoreria.xlsx", Admin, None, export::xlsx_route::<recon::CreditExport>),
    route!(POST "/ufficio/tesoreria/estratto", Admin, None, recon::import),
    route!(GET "/ufficio/riconciliazione/anomalie", Admin, None, recon::anomalies),
    route!(GET "/ufficio/riconciliazione/anomalie.csv", Admin, None, export::csv_route::<recon::AnomalyExport>),
    route!(GET "/ufficio/riconciliazione/anomalie.xlsx", Admin, None, export::xlsx_route::<recon::AnomalyExport>),
    route!(POST "/ufficio/riconciliazione/anomalie/risolvi", Admin, None, recon::resolve),
    route!(GET "/ufficio/riconciliazione/ricevute", Admin, None, recon::receipts),
    route!(GET "/ufficio/riconciliazione/ricevute.csv", Admin, None, export::csv_route::<recon::ReceiptStateExport>),
    route!(GET "/ufficio/riconciliazione/ricevute.xlsx", Admin, None, export::xlsx_route::<recon::ReceiptStateExport>),
    route!(GET "/ufficio/servizi", Read, None, admin::services),
    route!(GET "/ufficio/cittadini", Write, None, admin::citizens),
    route!(POST "/ufficio/cittadini/conferma", Write, None, admin::confirm_identity),
    route!(GET "/ufficio/operatori", Admin, None, operators::list),
    route!(GET "/ufficio/operatori/nuovo", AdminWrite, None, operators::new_page),
    route!(POST "/ufficio/operatori/nuovo", Admin, None, operators::create),
    route!(GET "/ufficio/operatori/modifica", Admin, None, operators::edit),
    route!(POST "/ufficio/operatori/accesso", Admin, None, operators::change_access),
    route!(POST "/ufficio/operatori/stato", Admin, None, operators::set_state),
    route!(POST "/ufficio/operatori/password", Admin, None, operators::reset_password),
    route!(POST "/ufficio/operatori/totp", Admin, None, operators::reset_totp),
    route!(GET "/ufficio/registro", Admin, None, admin::audit),
];

/// The navigation bar: (href, label, who sees it). Another page group adds its entry here.
pub const NAV: &[(&str, &str, Access)] = &[
    ("/ufficio", "Cruscotto", Access::Read),
    ("/ufficio/posizioni", "Posizioni", Access::Read),
    ("/ufficio/ricevute", "Ricevute", Access::Read),
    ("/ufficio/anomalie", "Anomalie", Access::Read),
    ("/ufficio/rendicontazione", "Rendicontazione", Access::Admin),
    ("/ufficio/tesoreria", "Tesoreria", Access::Admin),
    (
        "/ufficio/riconciliazione/anomalie",
        "Anomalie di riconciliazione",
        Access::Admin,
    ),
    (
        "/ufficio/riconciliazione/ricevute",
        "Stato ricevute",
        Access::Admin,
    ),
    ("/ufficio/servizi", "Servizi", Access::Read),
    ("/ufficio/cittadini", "Cittadini", Access::Write),
    ("/ufficio/operatori", "Operatori", Access::Admin),
    ("/ufficio/registro", "Registro attività", Access::Admin),
];

/// Whether a request may go through without an operator (the login page).
pub fn is_public(method: &Method, path: &str) -> bool {
    ROUTES
        .iter()
        .any(|r| r.access == Access::Public && r.method == *method && r.path == path)
}

/// What an operator may still open while the initial password is not changed.
pub fn allowed_before_password_change(path: &str) -> bool {
    matches!(path, "/ufficio/password" | "/ufficio/logout")
}

/// The back office's router (every route through the operator session layer).
pub fn routes(state: AppState) -> Router<AppState> {
    let mut router = Router::new();
    for r in ROUTES {
        router = router.route(r.path, (r.handler)());
    }
    router.layer(axum::middleware::from_fn_with_state(state, session::layer))
}

/// The logged-in operator and the session, for handlers (the layer guarantees an operator on
/// every route that is not public).
pub struct Ctx {
    /// The session.
    pub session: OperatorSession,
    /// The operator.
    pub op: Operator,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let session = OperatorSession::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        match session.operator() {
            Some(op) => Ok(Ctx { session, op }),
            None => Err(axum::response::Redirect::to("/ufficio/login").into_response()),
        }
    }
}

impl Ctx {
    /// The service, for this request.
    pub fn bo<'a>(&self, state: &'a AppState) -> BackOffice<'a> {
        BackOffice::new(
            state.store(),
            state.ente(),
            state.config().backoffice_checkout_overdue_minutes,
            &state.config().public_url,
        )
    }

    /// A page for this operator.
    pub fn page(&self, state: &AppState, current: &str, title: &str) -> Page {
        Page::new(state, &self.session, Some(&self.op), current, title)
    }
}

/// The answer to a service error: 404 and 403 pages, an Italian message for the rest.
pub fn error_response(state: &AppState, ctx: &Ctx, e: BoError) -> Response {
    match e {
        BoError::NotFound => crate::web::pages::error_page(StatusCode::NOT_FOUND),
        BoError::Forbidden => {
            let mut page = ctx.page(state, "", "Operazione non consentita");
            page.flash = Some(Flash::danger(
                "Il tuo profilo non consente questa operazione. Se ti serve, chiedi a un amministratore.",
            ));
            (StatusCode::FORBIDDEN, page.render()).into_response()
        }
        BoError::Invalid(_, message) | BoError::Conflict(message) => {
            let mut page = ctx.page(state, "", "Operazione non eseguita");
            page.flash = Some(Flash::danger(&message));
            page.blocks.push(Block::Links(vec![(
                "/ufficio".to_owned(),
                "Torna al cruscotto".to_owned(),
            )]));
            (StatusCode::UNPROCESSABLE_ENTITY, page.render()).into_response()
        }
        BoError::Internal(e) => {
            tracing::error!(error = format!("{e:#}"), "back office failed");
            crate::web::pages::error_page(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}
