//! What the pagoPA station needs from storage: notices by number, activations, and the
//! receipt transaction (lock the notice, store the receipt, close the option and the position,
//! settle the checkout).
//!
//! The decisions (is it payable? does this receipt close it?) belong to [`crate::station`];
//! these functions only read and write, inside the caller's transaction where it matters.

use super::{Store, StoreError, StoreResult};
use crate::clock::Timestamp;
use crate::db::batch::{Batch, Val};
use crate::db::{DbRow, Tx};
use crate::domain::position::{OptionStatus, Origin, Position, PositionStatus};
use crate::{with_db, with_tx};

/// A payment option found by its notice number, with its whole position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeOption {
    /// The option's primary key.
    pub option_id: i64,
    /// Index of the option in `position.options`.
    pub index: usize,
    /// The position, with every option and transfer.
    pub position: Position,
}

impl NoticeOption {
    /// The option itself.
    pub fn option(&self) -> &crate::domain::position::PaymentOption {
        &self.position.options[self.index]
    }
}

/// An activation (`paGetPayment[V2]`) to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttempt {
    /// The option activated.
    pub payment_option_id: i64,
    /// Amount in cents.
    pub amount: i64,
    /// The request's payment note (Checkout's cart id).
    pub payment_note: Option<String>,
    /// `POSTAL` or `PAGOPA`.
    pub transfer_type: Option<String>,
}

/// A recorded activation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// What was recorded.
    pub attempt: NewAttempt,
    /// When.
    pub created_at: Timestamp,
}

/// The notice a receipt is for, read under a row lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedNotice {
    /// Option key.
    pub option_id: i64,
    /// Option status.
    pub option_status: OptionStatus,
    /// Option amount in cents.
    pub amount: i64,
    /// Whether the option is an installment.
    pub is_partial_payment: bool,
    /// Position key.
    pub position_id: i64,
    /// Position status.
    pub position_status: PositionStatus,
    /// Debtor e-mail, if known.
    pub debtor_email: Option<String>,
    /// Who created the position (on the portal, its debtor data were typed by its creator).
    pub origin: Origin,
    /// The payment note of the option's latest activation (Checkout's cart id), read in the
    /// same statement: a receipt without a note of its own is linked to that checkout.
    pub latest_note: Option<String>,
}

/// One transfer of a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptTransferRow {
    /// 1 to 5.
    pub id_transfer: i32,
    /// Cents.
    pub amount: i64,
    /// The receiving ente.
    pub fiscal_code_pa: String,
    /// IBAN, when not a stamp.
    pub iban: Option<String>,
    /// Whether it was a digital stamp.
    pub stamp: bool,
    /// Causale.
    pub remittance_information: String,
    /// Taxonomy code.
    pub category: String,
}

/// A receipt with every column of the `receipts` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationReceipt {
    /// pagoPA receiptId.
    pub receipt_id: String,
    /// The option it pays, when the notice is known.
    pub payment_option_id: Option<i64>,
    /// Notice number.
    pub notice_number: String,
    /// IUV (creditorReferenceId).
    pub iuv: String,
    /// `OK` or `KO`.
    pub outcome: String,
    /// Cents.
    pub amount: i64,
    /// Description.
    pub description: String,
    /// Ente name.
    pub company_name: String,
    /// Office.
    pub office_name: Option<String>,
    /// F or G.
    pub debtor_type: String,
    /// Debtor fiscal code.
    pub debtor_fiscal_code: String,
    /// Debtor name.
    pub debtor_name: String,
    /// F or G.
    pub payer_type: Option<String>,
    /// Payer fiscal code.
    pub payer_fiscal_code: Option<String>,
    /// Payer name.
    pub payer_name: Option<String>,
    /// The account that paid (through a checkout).
    pub payer_account_id: Option<i64>,
    /// The checkout it settles.
    pub checkout_id: Option<String>,
    /// PSP id.
    pub id_psp: String,
    /// PSP fiscal code.
    pub psp_fiscal_code: Option<String>,
    /// PSP VAT number.
    pub psp_partita_iva: Option<String>,
    /// PSP name.
    pub psp_company_name: String,
    /// Channel id.
    pub id_channel: String,
    /// Channel description.
    pub channel_description: Option<String>,
    /// Payment method.
    pub payment_method: Option<String>,
    /// Fee in cents.
    pub fee: Option<i64>,
    /// Fee borne by the ente, in cents.
    pub primary_ci_incurred_fee: Option<i64>,
    /// Bundle id.
    pub id_bundle: Option<String>,
    /// Ente bundle id.
    pub id_ci_bundle: Option<String>,
    /// Payment note.
    pub payment_note: Option<String>,
    /// Legally binding payment time.
    pub payment_date_time: Timestamp,
    /// Application date.
    pub application_date: Option<time::Date>,
    /// Transfer date.
    pub transfer_date: Option<time::Date>,
    /// Taken by the node in stand-in.
    pub stand_in: bool,
    /// Must be refunded.
    pub refund_required: bool,
    /// The raw request as received.
    pub raw_xml: String,
    /// Its transfers.
    pub transfers: Vec<ReceiptTransferRow>,
}

/// A stored receipt, as far as the station's checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReceipt {
    /// Primary key.
    pub id: i64,
    /// pagoPA receiptId.
    pub receipt_id: String,
    /// The option it pays.
    pub payment_option_id: Option<i64>,
    /// `OK` or `KO`.
    pub outcome: String,
    /// Cents.
    pub amount: i64,
    /// Must be refunded.
    pub refund_required: bool,
    /// The checkout it settles.
    pub checkout_id: Option<String>,
    /// The account that paid.
    pub payer_account_id: Option<i64>,
    /// Payer fiscal code.
    pub payer_fiscal_code: Option<String>,
    /// Payment time.
    pub payment_date_time: Timestamp,
    /// Number of transfer rows.
    pub transfer_count: i64,
}

/// A checkout a receipt belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutLink {
    /// The cart id.
    pub id: String,
    /// The account that started it.
    pub account_id: Option<i64>,
    /// Its state.
    pub state: String,
}

/// Whether `err` is the unique (ente, receiptId) constraint, as opposed to another one.
fn is_receipt_id_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            db.constraint().is_some_and(|c| c.contains("receipt_id"))
                || db.message().contains("receipt_id")
        }
        _ => false,
    }
}

fn decode_err(what: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("stored {what} {value:?} is not valid").into())
}

/// A failed batch that stored receipt `receipt_id`: its receiptId already stored is a
/// [`StoreError::Conflict`]; anything else — including the one-closing-receipt index, which is
/// not a retry of this receipt and must not pass for one — is a database error.
pub fn receipt_error(err: sqlx::Error, receipt_id: &str) -> StoreError {
    if is_receipt_id_violation(&err) {
        StoreError::Conflict(format!("receiptId {receipt_id}"))
    } else {
        StoreError::Db(err)
    }
}

/// The position status a settling batch returned.
pub fn position_status(returned: Option<String>) -> StoreResult<PositionStatus> {
    let status = returned.unwrap_or_default();
    PositionStatus::parse(&status)
        .ok_or_else(|| StoreError::Db(decode_err("position status", &status)))
}

/// The status position `$first` takes when its option `$(first + 1)` is paid: PARTIALLY_PAID
/// while other installments of its plan are unpaid, else PAID (a single option paid closes the
/// whole plan). Parameters `$first…$(first + 5)`, valued [`status_after_paying_vals`]. It reads
/// the other options' statuses and the paid option's installment flag, never the paid option's
/// status: the same before and after that option is marked paid.
fn status_after_paying(first: usize) -> String {
    let p = |k: usize| format!("${}", first + k);
    format!(
        "CASE WHEN EXISTS (
             SELECT 1 FROM payment_options o
             WHERE o.position_id = {position} AND o.id <> {option} AND o.status = {unpaid}
               AND o.is_partial_payment = {yes}
               AND EXISTS (SELECT 1 FROM payment_options paid
                           WHERE paid.id = {option} AND paid.is_partial_payment = {yes}))
           THEN {partially} ELSE {paid} END",
        position = p(0),
        option = p(1),
        unpaid = p(2),
        yes = p(3),
        partially = p(4),
        paid = p(5),
    )
}

/// The values of [`status_after_paying`]'s parameters.
fn status_after_paying_vals(position_id: i64, option_id: i64) -> Vec<Val> {
    vec![
        Val::Int(position_id),
        Val::Int(option_id),
        Val::Text(OptionStatus::Unpaid.as_str().to_owned()),
        Val::Bool(true),
        Val::Text(PositionStatus::PartiallyPaid.as_str().to_owned()),
        Val::Text(PositionStatus::Paid.as_str().to_owned()),
    ]
}

/// The insert of a receipt's row (`$1…$38`, see [`Store::push_station_receipt`]).
const RECEIPT_INSERT: &str = "INSERT INTO receipts (ente_id, receipt_id, payment_option_id, notice_number, iuv, outcome, amount, description, company_name, office_name,
                debtor_type, debtor_fiscal_code, debtor_name, payer_type, payer_fiscal_code, payer_name, payer_account_id, checkout_id,
                id_psp, psp_fiscal_code, psp_partita_iva, psp_company_name, id_channel, channel_description, payment_method,
                fee, primary_ci_incurred_fee, id_bundle, id_ci_bundle, payment_note, payment_date_time, application_date, transfer_date,
                stand_in, refund_required, raw_xml, received_at, recovered)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25,
                $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38)";

impl Store {
    /// The payment option with notice number `nav`, with its position.
    pub async fn notice_option(
        &self,
        ente_id: i64,
        nav: &str,
    ) -> StoreResult<Option<NoticeOption>> {
        // One query for the position, its options and their transfers, decoded by the same row
        // mappers as the rest of the application's.
        let Some((option_id, position)) = self.position_by_nav(ente_id, nav).await? else {
            return Ok(None);
        };
        let Some(index) = position.options.iter().position(|o| o.nav.as_str() == nav) else {
            return Ok(None);
        };
        Ok(Some(NoticeOption {
            option_id,
            index,
            position,
        }))
    }

    /// Records an activation.
    pub async fn insert_attempt(&self, a: &NewAttempt) -> StoreResult<()> {
        let mut batch = Batch::independent();
        Store::push_attempt(&mut batch, a);
        self.commit_grouped(batch).await
    }

    /// Adds to `batch` the statement that records an activation.
    pub fn push_attempt(batch: &mut Batch, a: &NewAttempt) {
        batch.insert_row(
            "INSERT INTO payment_attempts (payment_option_id, amount, payment_note, transfer_type, created_at)",
            vec![
                Val::Int(a.payment_option_id),
                Val::Int(a.amount),
                Val::OptText(a.payment_note.clone()),
                Val::OptText(a.transfer_type.clone()),
                Val::Ts(Timestamp::now()),
            ],
        );
    }

    /// The activations of an option, oldest first.
    pub async fn attempts_for(&self, payment_option_id: i64) -> StoreResult<Vec<Attempt>> {
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(
                "SELECT payment_option_id, amount, payment_note, transfer_type, created_at
                 FROM payment_attempts WHERE payment_option_id = $1 ORDER BY id",
            )
            .bind(payment_option_id)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(Attempt {
                        attempt: NewAttempt {
                            payment_option_id: r.col("payment_option_id")?,
                            amount: r.col("amount")?,
                            payment_note: r.col("payment_note")?,
                            transfer_type: r.col("transfer_type")?,
                        },
                        created_at: r.col("created_at")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(Into::into)
        })
    }

    /// Reads the notice a receipt is for and locks it until the transaction ends: on
    /// PostgreSQL with `FOR UPDATE` on the option and position rows, on SQLite through the
    /// write lock `BEGIN IMMEDIATE` already holds. Receipts for one notice are thus decided one
    /// at a time. The payment note of the option's latest activation comes in the same row.
    pub async fn lock_notice_in(
        tx: &mut Tx,
        ente_id: i64,
        nav: &str,
    ) -> StoreResult<Option<LockedNotice>> {
        let lock = match tx {
            Tx::Sqlite(..) => "",
            Tx::Postgres(_) => " FOR UPDATE",
        };
        // On SQLite the transaction's BEGIN IMMEDIATE, if still to send, goes with this read.
        let opening = tx.opening();
        let sql = format!(
            "{opening}SELECT o.id AS option_id, o.status AS option_status, o.amount, o.is_partial_payment,
                    p.id AS position_id, p.status AS position_status, p.email, p.origin,
                    (SELECT a.payment_note FROM payment_attempts a WHERE a.payment_option_id = o.id
                     ORDER BY a.created_at DESC, a.id DESC LIMIT 1) AS latest_note
             FROM payment_options o JOIN debt_positions p ON p.id = o.position_id
             WHERE o.ente_id = $1 AND o.nav = $2{lock}"
        );
        let row = with_tx!(tx, |conn| {
            let row = sqlx::query(&sql)
                .bind(ente_id)
                .bind(nav)
                .fetch_optional(&mut *conn)
                .await?;
            row.map(|r| -> Result<LockedNotice, sqlx::Error> {
                let option_status: String = r.col("option_status")?;
                let position_status: String = r.col("position_status")?;
                Ok(LockedNotice {
                    option_id: r.col("option_id")?,
                    option_status: OptionStatus::parse(&option_status)
                        .ok_or_else(|| decode_err("option status", &option_status))?,
                    amount: r.col("amount")?,
                    is_partial_payment: r.col("is_partial_payment")?,
                    position_id: r.col("position_id")?,
                    position_status: PositionStatus::parse(&position_status)
                        .ok_or_else(|| decode_err("position status", &position_status))?,
                    debtor_email: r.col("email")?,
                    origin: {
                        let origin: String = r.col("origin")?;
                        Origin::parse(&origin).ok_or_else(|| decode_err("origin", &origin))?
                    },
                    latest_note: r.col("latest_note")?,
                })
            })
            .transpose()?
        });
        Ok(row)
    }

    /// The primary key of the receipt with this receiptId, if stored.
    pub async fn receipt_pk_in(
        tx: &mut Tx,
        ente_id: i64,
        receipt_id: &str,
    ) -> StoreResult<Option<i64>> {
        Ok(with_tx!(tx, |conn| {
            sqlx::query_scalar("SELECT id FROM receipts WHERE ente_id = $1 AND receipt_id = $2")
                .bind(ente_id)
                .bind(receipt_id)
                .fetch_optional(&mut *conn)
                .await?
        }))
    }

    /// Adds to `batch` the statements that store a receipt and its transfers (`recovered`: it
    /// was fetched from pagoPA's receipts API rather than delivered). In the batch's error, a
    /// receiptId already stored is [`is_receipt_id_violation`] (see [`receipt_error`]).
    pub fn push_station_receipt(
        batch: &mut Batch,
        ente_id: i64,
        r: &StationReceipt,
        recovered: bool,
    ) {
        batch.push_named(
            "receipt",
            RECEIPT_INSERT,
            format!("{RECEIPT_INSERT} RETURNING id"),
            vec![
                Val::Int(ente_id),
                Val::Text(r.receipt_id.clone()),
                Val::OptInt(r.payment_option_id),
                Val::Text(r.notice_number.clone()),
                Val::Text(r.iuv.clone()),
                Val::Text(r.outcome.clone()),
                Val::Int(r.amount),
                Val::Text(r.description.clone()),
                Val::Text(r.company_name.clone()),
                Val::OptText(r.office_name.clone()),
                Val::Text(r.debtor_type.clone()),
                Val::Text(r.debtor_fiscal_code.clone()),
                Val::Text(r.debtor_name.clone()),
                Val::OptText(r.payer_type.clone()),
                Val::OptText(r.payer_fiscal_code.clone()),
                Val::OptText(r.payer_name.clone()),
                Val::OptInt(r.payer_account_id),
                Val::OptText(r.checkout_id.clone()),
                Val::Text(r.id_psp.clone()),
                Val::OptText(r.psp_fiscal_code.clone()),
                Val::OptText(r.psp_partita_iva.clone()),
                Val::Text(r.psp_company_name.clone()),
                Val::Text(r.id_channel.clone()),
                Val::OptText(r.channel_description.clone()),
                Val::OptText(r.payment_method.clone()),
                Val::OptInt(r.fee),
                Val::OptInt(r.primary_ci_incurred_fee),
                Val::OptText(r.id_bundle.clone()),
                Val::OptText(r.id_ci_bundle.clone()),
                Val::OptText(r.payment_note.clone()),
                Val::Ts(r.payment_date_time),
                Val::OptDate(r.application_date),
                Val::OptDate(r.transfer_date),
                Val::Bool(r.stand_in),
                Val::Bool(r.refund_required),
                Val::Text(r.raw_xml.clone()),
                Val::Ts(Timestamp::now()),
                Val::Bool(recovered),
            ],
        );
        if r.transfers.is_empty() {
            return;
        }
        // Every transfer in one statement (at most five: the schema's limit), linked to the
        // receipt by its receiptId on SQLite (one statement cannot read the key the one before
        // made), on PostgreSQL by the key the receipt's insert returns in the same statement
        // (where `$1` and `$2` go unused).
        let rows: Vec<String> = (0..r.transfers.len())
            .map(|i| {
                let n = 2 + i * 7;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5,
                    n + 6,
                    n + 7
                )
            })
            .collect();
        let mut vals = vec![Val::Int(ente_id), Val::Text(r.receipt_id.clone())];
        for t in &r.transfers {
            vals.extend([
                Val::Int32(t.id_transfer),
                Val::Int(t.amount),
                Val::Text(t.fiscal_code_pa.clone()),
                Val::OptText(t.iban.clone()),
                Val::Bool(t.stamp),
                Val::Text(t.remittance_information.clone()),
                Val::Text(t.category.clone()),
            ]);
        }
        let rows = rows.join(", ");
        batch.push_joined_reading(
            format!(
                "INSERT INTO receipt_transfers (receipt_pk, id_transfer, amount, fiscal_code_pa, iban, stamp, remittance_information, category)
                 SELECT r.id, v.* FROM receipts r, (VALUES {rows}) AS v
                 WHERE r.ente_id = $1 AND r.receipt_id = $2"
            ),
            format!(
                "INSERT INTO receipt_transfers (receipt_pk, id_transfer, amount, fiscal_code_pa, iban, stamp, remittance_information, category)
                 SELECT r.id, v.* FROM receipt r, (VALUES {rows}) AS v"
            ),
            vals,
        );
    }

    /// Stores a receipt and its transfers in the caller's transaction. A receiptId already
    /// stored is a [`StoreError::Conflict`] (a concurrent retry of the same receipt); a second
    /// closing receipt for one option (see migration 0004) is a plain database error.
    pub async fn insert_station_receipt_in(
        tx: &mut Tx,
        ente_id: i64,
        r: &StationReceipt,
    ) -> StoreResult<i64> {
        let mut batch = Batch::new();
        Store::push_station_receipt(&mut batch, ente_id, r, false);
        batch
            .run(tx)
            .await
            .map_err(|e| receipt_error(e, &r.receipt_id))?;
        Ok(with_tx!(tx, |conn| {
            sqlx::query_scalar("SELECT id FROM receipts WHERE ente_id = $1 AND receipt_id = $2")
                .bind(ente_id)
                .bind(&r.receipt_id)
                .fetch_one(&mut *conn)
                .await?
        }))
    }

    /// Adds to `batch` the statements that mark an option paid and bring its position up to
    /// date: PAID, or PARTIALLY_PAID while other installments are unpaid (a single option paid
    /// closes the whole plan). The last statement returns the position's new status. What each
    /// reads, neither changes (the position's reads only the paid option's installment flag,
    /// which the option's update leaves alone), nor does a receipt's insert: on PostgreSQL they
    /// go with the statement before them ([`Batch::push_joined`]).
    pub fn push_settle_option(
        batch: &mut Batch,
        option_id: i64,
        position_id: i64,
        paid_at: Timestamp,
    ) {
        batch.push_joined(
            "UPDATE payment_options SET status = $2, paid_at = $3 WHERE id = $1",
            vec![
                Val::Int(option_id),
                Val::Text(OptionStatus::Paid.as_str().to_owned()),
                Val::Ts(paid_at),
            ],
        );
        let mut vals = vec![Val::Ts(paid_at), Val::Ts(Timestamp::now())];
        vals.extend(status_after_paying_vals(position_id, option_id));
        batch.push_joined(
            format!(
                "UPDATE debt_positions SET status = {}, payment_date = $1, updated_at = $2,
                   version = version + 1
                 WHERE id = $3 RETURNING status",
                status_after_paying(3)
            ),
            vals,
        );
    }

    /// Adds to `batch` the statement that queues `m` if paying option `option_id` brings its
    /// position `position_id` to `status` (see [`Store::push_settle_option`]), whether it runs
    /// before or after the settling statements: the answer does not depend on the paid
    /// option's own status, which they change. For a message whose wording depends on that
    /// status (are installments left?).
    pub fn push_enqueue_if_settles_to(
        batch: &mut Batch,
        m: &crate::store::outbox::NewMessage,
        option_id: i64,
        position_id: i64,
        status: PositionStatus,
    ) {
        let mut vals = status_after_paying_vals(position_id, option_id);
        vals.push(Val::Text(status.as_str().to_owned()));
        Store::push_enqueue_if(
            batch,
            m,
            &format!("{} = $16", status_after_paying(10)),
            vals,
        );
    }

    /// Marks an option paid and brings its position up to date ([`Store::push_settle_option`]).
    /// Returns the position's new status.
    pub async fn settle_option_in(
        tx: &mut Tx,
        option_id: i64,
        position_id: i64,
        paid_at: Timestamp,
    ) -> StoreResult<PositionStatus> {
        let mut batch = Batch::new();
        Store::push_settle_option(&mut batch, option_id, position_id, paid_at);
        position_status(batch.run(tx).await?)
    }

    /// The checkout a receipt was paid through, and nothing else: the one its payment note
    /// names (Checkout passes its cart id there), else the one named by the payment note of the
    /// notice's latest activation (`paGetPayment`, [`LockedNotice::latest_note`]). Either must
    /// hold the notice the receipt pays (when the notice is known). A receipt with neither is
    /// not linked: an unfinished checkout someone else started for the same notice is not a
    /// reason to move the payment into their history.
    pub async fn checkout_for_receipt_in(
        tx: &mut Tx,
        payment_note: Option<&str>,
        locked: Option<&LockedNotice>,
    ) -> StoreResult<Option<CheckoutLink>> {
        let option_id = locked.map(|l| l.option_id);
        let Some(note) = payment_note.or_else(|| locked.and_then(|l| l.latest_note.as_deref()))
        else {
            return Ok(None);
        };
        let found: Option<(String, Option<i64>, String)> = with_tx!(tx, |conn| {
            sqlx::query_as(
                "SELECT c.id, c.account_id, c.state FROM checkouts c WHERE c.id = $1
                   AND ($2 IS NULL OR EXISTS (SELECT 1 FROM checkout_items i
                                              WHERE i.checkout_id = c.id AND i.payment_option_id = $2))",
            )
            .bind(note)
            .bind(option_id)
            .fetch_optional(&mut *conn)
            .await?
        });
        Ok(found.map(|(id, account_id, state)| CheckoutLink {
            id,
            account_id,
            state,
        }))
    }

    /// Moves a checkout to `paid` when every option in it is paid, else to `partially_paid`.
    /// Returns the new state.
    pub async fn settle_checkout_in(tx: &mut Tx, checkout_id: &str) -> StoreResult<String> {
        let mut batch = Batch::new();
        Store::push_settle_checkout(&mut batch, checkout_id);
        batch.run(tx).await?.ok_or(StoreError::NotFound)
    }

    /// Adds to `batch` the statements of [`Store::settle_checkout_in`]; the last one returns
    /// the checkout's new state.
    pub fn push_settle_checkout(batch: &mut Batch, checkout_id: &str) {
        let now = Timestamp::now();
        // Take the checkout's row lock before counting: receipts for two notices of one cart
        // may arrive together, and on PostgreSQL each must count after the other commits (the
        // second statement's snapshot is taken once the lock is held), or both would see the
        // other's option unpaid and leave the cart partially paid.
        batch.push(
            "UPDATE checkouts SET updated_at = $2 WHERE id = $1",
            vec![Val::Text(checkout_id.to_owned()), Val::Ts(now)],
        );
        // Paid: no option of the cart left unpaid (a paid option may be reported since).
        batch.push(
            "UPDATE checkouts SET updated_at = $2, state = CASE
                 WHEN EXISTS (SELECT 1 FROM checkout_items i WHERE i.checkout_id = $1)
                  AND NOT EXISTS (SELECT 1 FROM checkout_items i JOIN payment_options o ON o.id = i.payment_option_id
                                  WHERE i.checkout_id = $1 AND o.status = $3)
                 THEN $4 ELSE $5 END
             WHERE id = $1 RETURNING state",
            vec![
                Val::Text(checkout_id.to_owned()),
                Val::Ts(now),
                Val::Text(OptionStatus::Unpaid.as_str().to_owned()),
                Val::Text("paid".to_owned()),
                Val::Text("partially_paid".to_owned()),
            ],
        );
    }

    /// The receipts stored for a notice, oldest first.
    pub async fn receipts_for_notice(
        &self,
        ente_id: i64,
        nav: &str,
    ) -> StoreResult<Vec<StoredReceipt>> {
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(
                "SELECT r.id, r.receipt_id, r.payment_option_id, r.outcome, r.amount, r.refund_required, r.checkout_id,
                        r.payer_account_id, r.payer_fiscal_code, r.payment_date_time,
                        (SELECT COUNT(*) FROM receipt_transfers t WHERE t.receipt_pk = r.id) AS transfer_count
                 FROM receipts r WHERE r.ente_id = $1 AND r.notice_number = $2 ORDER BY r.id",
            )
            .bind(ente_id)
            .bind(nav)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(StoredReceipt {
                        id: r.col("id")?,
                        receipt_id: r.col("receipt_id")?,
                        payment_option_id: r.col("payment_option_id")?,
                        outcome: r.col("outcome")?,
                        amount: r.col("amount")?,
                        refund_required: r.col("refund_required")?,
                        checkout_id: r.col("checkout_id")?,
                        payer_account_id: r.col("payer_account_id")?,
                        payer_fiscal_code: r.col("payer_fiscal_code")?,
                        payment_date_time: r.col("payment_date_time")?,
                        transfer_count: r.col("transfer_count")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(Into::into)
        })
    }

    /// The state of a checkout, if it exists.
    pub async fn checkout_state(&self, checkout_id: &str) -> StoreResult<Option<String>> {
        with_db!(self.db(), |pool| {
            Ok(
                sqlx::query_scalar("SELECT state FROM checkouts WHERE id = $1")
                    .bind(checkout_id)
                    .fetch_optional(pool)
                    .await?,
            )
        })
    }
}
