//! The debt-position operations with GPD's lifecycle rules, independent of HTTP: every change
//! runs in one transaction with its audit record, and every refusal is a [`GpdError`] carrying
//! GPD's own title and status code.

use pagopa::{Iban, NoticeNumber, SegregationCode};
use serde_json::json;
use time::{Date, Duration};

use super::model::{GatewayError, PageInfo, PaymentPositionModel, ProblemJson};
use super::validate::{self, Context};
use crate::clock::Timestamp;
use crate::db::Tx;
use crate::domain::position::{
    Position, PositionStatus, PublishRefusal, is_being_paid, is_overdue, publication,
};
use crate::store::audit::AuditEvent;
use crate::store::ente::Ente;
use crate::store::positions::{PositionFilter, PositionHead};
use crate::store::{Store, StoreError};

/// The largest page GPD serves.
pub const MAX_LIMIT: u32 = 50;
/// GPD's default page size.
pub const DEFAULT_LIMIT: u32 = 10;
/// When only one end of a date interval is given, the other is this many days away (GPD's
/// `max.days.interval`).
pub const DEFAULT_INTERVAL_DAYS: i64 = 30;

/// Why an operation was refused; each maps to GPD's status code and ProblemJson title.
#[derive(Debug, thiserror::Error)]
pub enum GpdError {
    /// The request itself is wrong (400).
    #[error("{title}: {detail}")]
    BadRequest {
        /// GPD's title.
        title: &'static str,
        /// What is wrong, naming the field.
        detail: String,
    },
    /// No API key (401).
    #[error("missing subscription key")]
    MissingKey,
    /// A key that is not one of ours (401).
    #[error("wrong subscription key")]
    WrongKey,
    /// The key is not entitled to that organization: this deployment serves another one (403).
    #[error("the key is not entitled to organization {0}")]
    Forbidden(String),
    /// No such position (404).
    #[error("debt position {iupd} not found")]
    NotFound {
        /// Organization.
        organization: String,
        /// IUPD.
        iupd: String,
    },
    /// The change is not allowed in the position's state, or a key is taken (409).
    #[error("{title}: {detail}")]
    Conflict {
        /// GPD's title.
        title: &'static str,
        /// Details.
        detail: String,
    },
    /// Anything else (500); the cause is logged, never shown.
    #[error(transparent)]
    Internal(#[from] StoreError),
}

/// The body of an error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorBody {
    /// GPD's own errors.
    Problem(ProblemJson),
    /// The API gateway's 401 and 403.
    Gateway(GatewayError),
}

/// GPD's title for a request data error.
pub const REQUEST_DATA_ERROR: &str = "Error in the debt position request data";

impl GpdError {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            GpdError::BadRequest { .. } => 400,
            GpdError::MissingKey | GpdError::WrongKey => 401,
            GpdError::Forbidden(_) => 403,
            GpdError::NotFound { .. } => 404,
            GpdError::Conflict { .. } => 409,
            GpdError::Internal(_) => 500,
        }
    }

    /// The answer's body: pagoPA's API gateway answers 401 and 403 before GPD is reached, in
    /// its own shape (`{statusCode, message}`, the example `gpd.json` gives for 403); GPD
    /// answers everything else with a ProblemJson.
    pub fn body(&self) -> ErrorBody {
        let gateway = |message: &str| {
            ErrorBody::Gateway(GatewayError {
                status_code: self.status(),
                message: message.to_owned(),
            })
        };
        match self {
            GpdError::MissingKey => gateway(
                "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.",
            ),
            GpdError::WrongKey => gateway(
                "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription.",
            ),
            GpdError::Forbidden(_) => gateway("You are not allowed to access this resource."),
            _ => ErrorBody::Problem(self.problem()),
        }
    }

    /// The ProblemJson of a refusal GPD itself makes (see [`GpdError::body`] for 401 and 403).
    pub fn problem(&self) -> ProblemJson {
        let (title, detail) = match self {
            GpdError::BadRequest { title, detail } => ((*title).to_owned(), detail.clone()),
            GpdError::MissingKey | GpdError::WrongKey | GpdError::Forbidden(_) => {
                ("Forbidden".to_owned(), self.to_string())
            }
            GpdError::NotFound { organization, iupd } => (
                "Not found the debt position".to_owned(),
                format!(
                    "Not found a debt position for Organization Fiscal Code {organization} and IUPD {iupd}"
                ),
            ),
            GpdError::Conflict { title, detail } => ((*title).to_owned(), detail.clone()),
            GpdError::Internal(_) => (
                "INTERNAL SERVER ERROR".to_owned(),
                "The request could not be completed; it has been logged".to_owned(),
            ),
        };
        ProblemJson {
            title,
            status: self.status(),
            detail,
        }
    }

    /// A 400 for an invalid body or parameter.
    pub fn bad_request(detail: impl Into<String>) -> GpdError {
        GpdError::BadRequest {
            title: REQUEST_DATA_ERROR,
            detail: detail.into(),
        }
    }
}

/// Who is calling, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// Client address.
    pub ip: String,
    /// Who acts, for the audit log: None for the API (`api`), `operatore:<username>` for the
    /// back office.
    pub actor: Option<String>,
    /// Why (the back office asks a reason to invalidate), recorded in the audit detail.
    pub reason: Option<String>,
}

/// A validated list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    /// Page, from 0.
    pub page: u32,
    /// Page size, 1 to [`MAX_LIMIT`].
    pub limit: u32,
    /// Filters and order.
    pub filter: PositionFilter,
}

/// Turns GPD's optional `*_from`/`*_to` dates (days in Rome) into inclusive instants, from
/// the first to the last microsecond of those days: a missing end is [`DEFAULT_INTERVAL_DAYS`]
/// away from the other, as in GPD; `from` must not follow `to`.
pub fn date_interval(
    name: &str,
    from: Option<Date>,
    to: Option<Date>,
) -> Result<(Option<Timestamp>, Option<Timestamp>), GpdError> {
    let (from, to) = match (from, to) {
        (None, None) => return Ok((None, None)),
        (Some(f), None) => (f, f.saturating_add(Duration::days(DEFAULT_INTERVAL_DAYS))),
        (None, Some(t)) => (t.saturating_sub(Duration::days(DEFAULT_INTERVAL_DAYS)), t),
        (Some(f), Some(t)) => (f, t),
    };
    if from > to {
        return Err(GpdError::bad_request(format!(
            "{name}_from must not follow {name}_to"
        )));
    }
    Ok((
        Some(Timestamp::rome_day_start(from)),
        Some(Timestamp::rome_day_end(to)),
    ))
}

/// Applies the time rules to a position read from the store, so that an answer never shows a
/// status the clock has overtaken even when the store could not be updated.
fn up_to_date(p: &mut Position, now: Timestamp) {
    if p.status == PositionStatus::Published && p.validity_date.is_some_and(|v| v <= now) {
        p.status = PositionStatus::Valid;
    }
    if is_overdue(p.status, p.switch_to_expired, &p.options, now) {
        p.status = PositionStatus::Expired;
    }
}

/// The debt-position service of one ente.
pub struct Gpd<'a> {
    store: &'a Store,
    ente: &'a Ente,
    segregation_code: SegregationCode,
}

fn conflict(title: &'static str, detail: String) -> GpdError {
    GpdError::Conflict { title, detail }
}

impl<'a> Gpd<'a> {
    /// The service for `ente`.
    pub fn new(store: &'a Store, ente: &'a Ente) -> Gpd<'a> {
        Gpd {
            store,
            ente,
            // The stored value came from a validated configuration.
            segregation_code: SegregationCode::parse(&ente.segregation_code)
                .expect("the ente's segregation code was validated by the configuration"),
        }
    }

    /// 403 unless this deployment serves `organization`: every key of this deployment is
    /// entitled to its ente and to no other, as a pagoPA subscription key is.
    pub fn check_organization(&self, organization: &str) -> Result<(), GpdError> {
        if organization == self.ente.fiscal_code {
            Ok(())
        } else {
            Err(GpdError::Forbidden(organization.to_owned()))
        }
    }

    fn not_found(&self, iupd: &str) -> GpdError {
        GpdError::NotFound {
            organization: self.ente.fiscal_code.clone(),
            iupd: iupd.to_owned(),
        }
    }

    fn context(&self, now: Timestamp) -> Context<'_> {
        Context {
            organization_fiscal_code: &self.ente.fiscal_code,
            segregation_code: self.segregation_code,
            now,
        }
    }

    /// Mints `n` notice numbers from the ente's IUV sequence (aux 3, the station's segregation
    /// code). Each takes its own short transaction, so call it before opening the caller's.
    pub async fn mint_notices(&self, n: usize) -> Result<Vec<NoticeNumber>, GpdError> {
        let mut minted = Vec::with_capacity(n);
        for _ in 0..n {
            let base = self.store.mint_iuv_base(self.ente.id).await?;
            let nav = NoticeNumber::from_aux3(self.segregation_code, base).map_err(|e| {
                GpdError::Internal(StoreError::Db(sqlx::Error::Protocol(format!(
                    "IUV sequence exhausted: {e}"
                ))))
            })?;
            minted.push(nav);
        }
        Ok(minted)
    }

    fn publish_refused(&self, iupd: &str, why: PublishRefusal) -> GpdError {
        let ofc = &self.ente.fiscal_code;
        match why {
            PublishRefusal::DueDatePassed => conflict(
                "Publish request occurred after the due date of a payment options has expired",
                format!(
                    "A publish request occurred after the due date of a payment options has expired for the debt position with Organization Fiscal Code {ofc} and IUPD {iupd}"
                ),
            ),
            PublishRefusal::ValidityDatePassed => conflict(
                "Publish request occurred after the validity date began",
                format!(
                    "A publish request has been made after the validity date began for the debt position with Organization Fiscal Code {ofc} and IUPD {iupd}"
                ),
            ),
        }
    }

    fn unique_violation(&self, what: &str) -> GpdError {
        conflict(
            "The debt position violated constraints of uniqueness",
            format!(
                "Already exists a debt position for the Organization Fiscal Code {} or one of its payment options is not unique ({what})",
                self.ente.fiscal_code
            ),
        )
    }

    async fn audit(
        tx: &mut Tx,
        caller: &Caller,
        action: &str,
        mut detail: serde_json::Value,
    ) -> Result<(), GpdError> {
        if let (Some(reason), Some(map)) = (&caller.reason, detail.as_object_mut()) {
            map.insert("reason".to_owned(), json!(reason));
        }
        Store::audit_in(
            tx,
            &AuditEvent {
                account_id: None,
                actor: caller.actor.clone().unwrap_or_else(|| "api".to_owned()),
                action: action.to_owned(),
                outcome: "ok".to_owned(),
                ip: caller.ip.clone(),
                detail: detail.to_string(),
            },
        )
        .await?;
        Ok(())
    }

    async fn reload(&self, iupd: &str) -> Result<Position, GpdError> {
        self.store
            .position_by_iupd(self.ente.id, iupd)
            .await?
            .ok_or_else(|| self.not_found(iupd))
    }

    /// Creates a position (GPD `createPosition`): DRAFT, or published at once with
    /// `to_publish`. Options without an IUV get one minted.
    pub async fn create(
        &self,
        model: &PaymentPositionModel,
        to_publish: bool,
        caller: &Caller,
    ) -> Result<Position, GpdError> {
        self.create_in_service(model, to_publish, None, caller)
            .await
    }

    /// [`Gpd::create`] for a position of a catalog service (the back office's form).
    pub async fn create_in_service(
        &self,
        model: &PaymentPositionModel,
        to_publish: bool,
        service_id: Option<i64>,
        caller: &Caller,
    ) -> Result<Position, GpdError> {
        let now = Timestamp::now();
        let valid = validate::position(model, &self.context(now))
            .map_err(|e| GpdError::bad_request(e.to_string()))?;
        let iupd = model.iupd.clone().unwrap_or_default().trim().to_owned();
        let (status, validity) = if to_publish {
            publication(valid.validity_date(), valid.earliest_due_date(), now)
                .map(|(s, v)| (s, Some(v)))
                .map_err(|why| self.publish_refused(&iupd, why))?
        } else {
            (PositionStatus::Draft, valid.validity_date())
        };
        let minted = self.mint_notices(valid.missing_iuvs()).await?;
        let (mut position, extras) = valid.with_notices(minted, status, validity);
        position.service_id = service_id;
        let mut tx = self.store.db().begin().await.map_err(StoreError::from)?;
        match Store::insert_positions_in(&mut tx, self.ente.id, &[(&position, &extras)]).await {
            Ok(_) => {}
            Err(StoreError::Conflict(what)) => return Err(self.unique_violation(&what)),
            Err(e) => return Err(e.into()),
        }
        Gpd::audit(
            &mut tx,
            caller,
            "gpd.create",
            json!({ "organization": self.ente.fiscal_code, "iupd": iupd, "status": status.as_str() }),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.reload(&iupd).await
    }

    /// One position (GPD `getOrganizationDebtPositionByIUPD`), its status brought up to date
    /// with the clock first.
    pub async fn get(&self, iupd: &str) -> Result<Position, GpdError> {
        let now = Timestamp::now();
        // Persisting the new status is best effort (SQLite may be busy with an import); the
        // answer is brought up to date in any case.
        if let Err(e) = self
            .store
            .refresh_position_status(self.ente.id, iupd, now)
            .await
        {
            tracing::warn!(error = %e, iupd, "could not bring the position's status up to date");
        }
        let mut position = self.reload(iupd).await?;
        up_to_date(&mut position, now);
        Ok(position)
    }

    /// A page of positions (GPD `getOrganizationDebtPositions`) and its paging info.
    pub async fn list(&self, request: &ListRequest) -> Result<(Vec<Position>, PageInfo), GpdError> {
        let now = Timestamp::now();
        let refreshed = async {
            self.store.activate_published(now).await?;
            self.store.expire_overdue(now).await
        };
        if let Err(e) = refreshed.await {
            tracing::warn!(error = %e, "could not bring the positions' status up to date");
        }
        let (mut positions, total) = self
            .store
            .list_positions(self.ente.id, &request.filter, request.page, request.limit)
            .await?;
        for p in &mut positions {
            up_to_date(p, now);
        }
        let limit = i64::from(request.limit);
        let info = PageInfo {
            page: request.page,
            limit: request.limit,
            items_found: u32::try_from(positions.len()).unwrap_or(u32::MAX),
            total_pages: u32::try_from((total + limit - 1) / limit).unwrap_or(u32::MAX),
        };
        Ok((positions, info))
    }

    async fn locked(&self, tx: &mut Tx, iupd: &str) -> Result<PositionHead, GpdError> {
        Store::lock_position_in(tx, self.ente.id, iupd)
            .await?
            .ok_or_else(|| self.not_found(iupd))
    }

    /// Replaces a position (GPD `updatePosition`): allowed until it is paid or invalidated; it
    /// goes back to DRAFT unless `to_publish`.
    pub async fn update(
        &self,
        iupd: &str,
        model: &PaymentPositionModel,
        to_publish: bool,
        caller: &Caller,
    ) -> Result<Position, GpdError> {
        let body_iupd = model.iupd.as_deref().map(str::trim).unwrap_or_default();
        if body_iupd != iupd {
            return Err(GpdError::bad_request(format!(
                "iupd: IUPD mistmatch error: path variable IUPD [{iupd}] and request body IUPD [{body_iupd}] must be the same"
            )));
        }
        let now = Timestamp::now();
        let valid = validate::position(model, &self.context(now))
            .map_err(|e| GpdError::bad_request(e.to_string()))?;
        // Checked before minting so that a refused update burns no IUV.
        let head = {
            let mut tx = self.store.db().begin().await.map_err(StoreError::from)?;
            let head = self.locked(&mut tx, iupd).await?;
            let being_paid = self.being_paid(&mut tx, &head, now).await?;
            tx.rollback().await.map_err(StoreError::from)?;
            if being_paid {
                return Err(self.not_updatable(iupd));
            }
            head
        };
        if !head.status.is_updatable() {
            return Err(self.not_updatable(iupd));
        }
        let (status, validity) = if to_publish {
            publication(valid.validity_date(), valid.earliest_due_date(), now)
                .map(|(s, v)| (s, Some(v)))
                .map_err(|why| self.publish_refused(iupd, why))?
        } else {
            (PositionStatus::Draft, valid.validity_date())
        };
        let minted = self.mint_notices(valid.missing_iuvs()).await?;
        let (position, extras) = valid.with_notices(minted, status, validity);
        let mut tx = self.store.db().begin().await.map_err(StoreError::from)?;
        // Read again under the lock: the state may have changed since the check above.
        let head = self.locked(&mut tx, iupd).await?;
        if !head.status.is_updatable() || self.being_paid(&mut tx, &head, now).await? {
            return Err(self.not_updatable(iupd));
        }
        match Store::replace_position_in(&mut tx, self.ente.id, head.id, &position, &extras).await {
            Ok(()) => {}
            Err(StoreError::Conflict(what)) => return Err(self.unique_violation(&what)),
            // An option is part of a Checkout cart or has a receipt.
            Err(StoreError::Referenced(_)) => return Err(self.not_updatable(iupd)),
            Err(e) => return Err(e.into()),
        }
        Gpd::audit(
            &mut tx,
            caller,
            "gpd.update",
            json!({ "organization": self.ente.fiscal_code, "iupd": iupd, "status": status.as_str() }),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.reload(iupd).await
    }

    fn not_updatable(&self, iupd: &str) -> GpdError {
        conflict(
            "Existing related payment found or not in updatable state",
            format!(
                "A payment transaction has already been carried out or, the debt position with Organization Fiscal Code {} and IUPD {iupd}, is not in updatable state",
                self.ente.fiscal_code
            ),
        )
    }

    /// Whether the node may be collecting a payment for the position now (see
    /// [`is_being_paid`]), read under the caller's lock.
    async fn being_paid(
        &self,
        tx: &mut Tx,
        head: &PositionHead,
        now: Timestamp,
    ) -> Result<bool, GpdError> {
        let last = Store::last_activation_in(tx, head.id).await?;
        Ok(is_being_paid(last, now))
    }

    /// Deletes a position (GPD `deletePosition`): refused once money has moved or while it may
    /// be moving (an activation in the last [`crate::domain::position::ACTIVATION_HOLD`]).
    pub async fn delete(&self, iupd: &str, caller: &Caller) -> Result<(), GpdError> {
        let now = Timestamp::now();
        let mut tx = self.store.db().begin().await.map_err(StoreError::from)?;
        let head = self.locked(&mut tx, iupd).await?;
        let paid = || {
            conflict(
                "Existing related payment found",
                format!(
                    "A payment transaction has already been carried out on the debt position with Organization Fiscal Code {} and IUPD {iupd}",
                    self.ente.fiscal_code
                ),
            )
        };
        if !head.status.is_deletable() || self.being_paid(&mut tx, &head, now).await? {
            return Err(paid());
        }
        match Store::delete_position_in(&mut tx, head.id).await {
            Ok(()) => {}
            Err(StoreError::Referenced(_)) => return Err(paid()),
            Err(e) => return Err(e.into()),
        }
        Gpd::audit(
            &mut tx,
            caller,
            "gpd.delete",
            json!({ "organization": self.ente.fiscal_code, "iupd": iupd }),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    /// Publishes a draft (GPD `publishPosition`): VALID at once without a validity date,
    /// PUBLISHED until its validity date otherwise.
    pub async fn publish(&self, iupd: &str, caller: &Caller) -> Result<Position, GpdError> {
        let now = Timestamp::now();
        let mut tx = self.store.db().begin().await.map_err(StoreError::from)?;
        let head = self.locked(&mut tx, iupd).await?;
        if !head.status.is_publishable() {
            return Err(conflict(
                "Existing related payment found or not in publishable state",
                format!(
                    "A payment transaction has already been carried out or, the debt position with Organization Fiscal Code {} and IUPD {iupd}, is not in publishable state",
                    self.ente.fiscal_code
                ),
            ));
        }
        let earliest = head.earliest_due_date.unwrap_or(now);
        let (status, validity) = publication(head.validity_date, earliest, now)
            .map_err(|why| self.publish_refused(iupd, why))?;
        Store::set_position_status_in(&mut tx, head.id, status, Some(validity), Some(now)).await?;
        Gpd::audit(
            &mut tx,
            caller,
            "gpd.publish",
            json!({ "organization": self.ente.fiscal_code, "iupd": iupd, "status": status.as_str() }),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.reload(iupd).await
    }

    /// Invalidates (cancels) a published position (GPD `invalidatePosition`), unless a payment
    /// may be under way.
    pub async fn invalidate(&self, iupd: &str, caller: &Caller) -> Result<Position, GpdError> {
        let now = Timestamp::now();
        // An overdue position is EXPIRED, not invalidable: bring the status up to date first.
        self.store
            .refresh_position_status(self.ente.id, iupd, now)
            .await?;
        let mut tx = self.store.db().begin().await.map_err(StoreError::from)?;
        let head = self.locked(&mut tx, iupd).await?;
        if !head.status.is_invalidable() || self.being_paid(&mut tx, &head, now).await? {
            return Err(conflict(
                "Existing related payment found or not in invalidable state",
                format!(
                    "A payment transaction has already been carried out or, the debt position with Organization Fiscal Code {} and IUPD {iupd}, is not in invalidable state",
                    self.ente.fiscal_code
                ),
            ));
        }
        Store::set_position_status_in(&mut tx, head.id, PositionStatus::Invalid, None, None)
            .await?;
        Gpd::audit(
            &mut tx,
            caller,
            "gpd.invalidate",
            json!({ "organization": self.ente.fiscal_code, "iupd": iupd }),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.reload(iupd).await
    }

    /// Replaces an IBAN on the transfers still to be paid (GPD `updateTransferIbanMassive`):
    /// every transfer to `request.old_iban` of an unpaid option, in a position that is DRAFT,
    /// PUBLISHED, VALID or PARTIALLY_PAID, at most `request.limit` of them. Returns how many
    /// changed.
    pub async fn update_transfer_iban(
        &self,
        request: &IbanChange,
        caller: &Caller,
    ) -> Result<u64, GpdError> {
        let now = Timestamp::now();
        let mut tx = self.store.db().begin().await.map_err(StoreError::from)?;
        let updated = Store::replace_transfer_iban_in(
            &mut tx,
            self.ente.id,
            request.old_iban.as_str(),
            request.new_iban.as_str(),
            request.limit,
            now,
        )
        .await?;
        Gpd::audit(
            &mut tx,
            caller,
            "gpd.update_transfer_iban",
            json!({
                "organization": self.ente.fiscal_code,
                "old_iban": request.old_iban.as_str(),
                "new_iban": request.new_iban.as_str(),
                "updated_transfers": updated,
            }),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(updated)
    }
}

/// The most transfers one `updateTransferIbanMassive` changes, and its default (GPD's).
pub const MAX_IBAN_CHANGES: u32 = 1000;

/// A validated `updateTransferIbanMassive` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IbanChange {
    /// The IBAN to replace.
    pub old_iban: Iban,
    /// The IBAN that replaces it.
    pub new_iban: Iban,
    /// At most this many transfers, 0 to [`MAX_IBAN_CHANGES`].
    pub limit: u32,
}

impl IbanChange {
    /// Checks GPD's parameters: `oldIban` (query, required), `limit` (query, at most
    /// [`MAX_IBAN_CHANGES`], the default) and `newIban` (body, required). Both IBANs must be
    /// valid: a transfer can only hold a valid one, so an invalid `oldIban` could match nothing.
    pub fn parse(
        old_iban: Option<&str>,
        limit: Option<&str>,
        new_iban: Option<&str>,
    ) -> Result<IbanChange, GpdError> {
        let iban = |name: &str, value: Option<&str>| match value.map(str::trim) {
            None | Some("") => Err(GpdError::bad_request(format!("{name}: è obbligatorio"))),
            Some(v) => Iban::parse(v).map_err(|e| GpdError::bad_request(format!("{name}: {e}"))),
        };
        let limit = match limit.map(str::trim) {
            None => MAX_IBAN_CHANGES,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if n <= MAX_IBAN_CHANGES => n,
                _ => {
                    return Err(GpdError::bad_request(format!(
                        "limit: must be an integer between 0 and {MAX_IBAN_CHANGES} (was {v})"
                    )));
                }
            },
        };
        Ok(IbanChange {
            old_iban: iban("oldIban", old_iban)?,
            new_iban: iban("newIban", new_iban)?,
            limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn a_missing_end_of_an_interval_is_thirty_days_away() {
        // Days in Rome: 1 January starts at 23:00 UTC on 31 December.
        let (from, to) = date_interval("due_date", Some(date!(2026 - 01 - 01)), None).unwrap();
        assert_eq!(from.unwrap().to_utc_text(), "2025-12-31T23:00:00.000000Z");
        assert_eq!(to.unwrap().to_utc_text(), "2026-01-31T22:59:59.999999Z");
        let (from, _) = date_interval("due_date", None, Some(date!(2026 - 01 - 31))).unwrap();
        assert_eq!(from.unwrap().to_utc_text(), "2025-12-31T23:00:00.000000Z");
        let (_, to) = date_interval("due_date", None, Some(date!(2026 - 07 - 31))).unwrap();
        assert_eq!(to.unwrap().to_utc_text(), "2026-07-31T21:59:59.999999Z");
        assert_eq!(date_interval("x", None, None).unwrap(), (None, None));
        assert!(matches!(
            date_interval(
                "due_date",
                Some(date!(2026 - 02 - 01)),
                Some(date!(2026 - 01 - 01))
            ),
            Err(GpdError::BadRequest { .. })
        ));
    }

    #[test]
    fn errors_carry_gpd_status_codes() {
        assert_eq!(GpdError::MissingKey.status(), 401);
        assert_eq!(GpdError::Forbidden("1".into()).status(), 403);
        assert_eq!(
            GpdError::Forbidden("1".into()).body(),
            ErrorBody::Gateway(GatewayError {
                status_code: 403,
                message: "You are not allowed to access this resource.".into()
            })
        );
        let p = GpdError::bad_request("iupd: x").problem();
        assert_eq!((p.status, p.title.as_str()), (400, REQUEST_DATA_ERROR));
    }
}
