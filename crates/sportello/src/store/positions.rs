//! Debt positions, their payment options and transfers.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;

use pagopa::{Cents, Iuv, NoticeNumber};

use super::{Store, StoreError, StoreResult};
use crate::clock::Timestamp;
use crate::db::batch::Val;
use crate::db::{Aliased, DbRow, Tx};
use crate::domain::position::{
    Debtor, Destination, NewPosition, OptionDetails, OptionStatus, Origin, PaymentOption, Position,
    PositionStatus, SubjectType, Transfer, due_cutoff,
};
use crate::{bind_vals, with_db, with_tx};

fn decode_err(what: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("stored {what} {value:?} is not valid").into())
}

pub(super) const POSITION_COLUMNS: &str = "id, ente_id, iupd, debtor_type, debtor_fiscal_code, full_name, street_name, civic_number, postal_code, city, province, region, country, email, phone, company_name, office_name, validity_date, switch_to_expired, status, service_id, origin, created_by_account_id, published_at, payment_date, version, created_at, updated_at, pay_stand_in, content_hash";

pub(super) fn position_from_row(row: &impl DbRow) -> Result<Position, sqlx::Error> {
    let kind: String = row.col("debtor_type")?;
    let status: String = row.col("status")?;
    let origin: String = row.col("origin")?;
    Ok(Position {
        id: row.col("id")?,
        ente_id: row.col("ente_id")?,
        iupd: row.col("iupd")?,
        debtor: Debtor {
            kind: SubjectType::parse(&kind).ok_or_else(|| decode_err("debtor type", &kind))?,
            fiscal_code: row.col("debtor_fiscal_code")?,
            full_name: row.col("full_name")?,
            street_name: row.col("street_name")?,
            civic_number: row.col("civic_number")?,
            postal_code: row.col("postal_code")?,
            city: row.col("city")?,
            province: row.col("province")?,
            region: row.col("region")?,
            country: row.col("country")?,
            email: row.col("email")?,
            phone: row.col("phone")?,
        },
        company_name: row.col("company_name")?,
        office_name: row.col("office_name")?,
        validity_date: row.col("validity_date")?,
        switch_to_expired: row.col("switch_to_expired")?,
        status: PositionStatus::parse(&status).ok_or_else(|| decode_err("status", &status))?,
        service_id: row.col("service_id")?,
        origin: Origin::parse(&origin).ok_or_else(|| decode_err("origin", &origin))?,
        created_by_account_id: row.col("created_by_account_id")?,
        published_at: row.col("published_at")?,
        payment_date: row.col("payment_date")?,
        version: row.col("version")?,
        created_at: row.col("created_at")?,
        updated_at: row.col("updated_at")?,
        options: Vec::new(),
        pay_stand_in: row.col("pay_stand_in")?,
        content_hash: row.col("content_hash")?,
        option_details: Vec::new(),
    })
}

const OPTION_COLUMNS: &str = "id, position_id, iuv, nav, amount, description, is_partial_payment, due_date, retention_date, fee, status, metadata, paid_at, notification_fee";

const TRANSFER_COLUMNS: &str = "payment_option_id, id_transfer, amount, organization_fiscal_code, remittance_information, category, iban, postal_iban, stamp_hash_document, stamp_type, stamp_provincial_residence, company_name, metadata";

/// `table.col AS <prefix>col, …` for each of `columns`.
fn aliased(columns: &str, table: &str, prefix: &str) -> String {
    columns
        .split(',')
        .map(|c| {
            let c = c.trim();
            format!("{table}.{c} AS {prefix}{c}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The position holding the option with notice number `nav`: every option and transfer of it,
/// one row per transfer (position and option columns repeated), ordered as [`Store::attach_options`]
/// orders them.
static POSITION_BY_NAV_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {}, {}, {} FROM payment_options n
         JOIN debt_positions p ON p.id = n.position_id
         JOIN payment_options o ON o.position_id = p.id
         LEFT JOIN transfers t ON t.payment_option_id = o.id
         WHERE n.ente_id = $1 AND n.nav = $2
         ORDER BY o.due_date, o.id, t.id_transfer",
        aliased(POSITION_COLUMNS, "p", "p_"),
        aliased(OPTION_COLUMNS, "o", "o_"),
        aliased(TRANSFER_COLUMNS, "t", "t_"),
    )
});

/// Builds the position from the rows of [`POSITION_BY_NAV_SQL`]; returns it with the key of
/// the option numbered `nav`.
fn position_from_join<R: DbRow>(
    rows: &[R],
    nav: &str,
) -> Result<Option<(i64, Position)>, sqlx::Error> {
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let mut position = position_from_row(&Aliased::new(first, "p_"))?;
    let mut target = None;
    let mut current = None;
    for row in rows {
        let o = Aliased::new(row, "o_");
        let option_id: i64 = o.col("id")?;
        if current != Some(option_id) {
            let option = option_from_row(&o)?;
            if option.option.nav.as_str() == nav {
                target = Some(option_id);
            }
            position.options.push(option.option);
            position.option_details.push(option.details);
            current = Some(option_id);
        }
        let t = Aliased::new(row, "t_");
        if t.col::<Option<i64>>("payment_option_id")?.is_some() {
            let (_, transfer, metadata) = transfer_from_row(&t)?;
            if let (Some(o), Some(d)) = (
                position.options.last_mut(),
                position.option_details.last_mut(),
            ) {
                o.transfers.push(transfer);
                d.transfer_metadata.push(metadata);
            }
        }
    }
    Ok(target.map(|id| (id, position)))
}

/// An option row with the keys needed to attach its transfers.
struct OptionRow {
    id: i64,
    position_id: i64,
    option: PaymentOption,
    details: OptionDetails,
}

fn option_from_row(row: &impl DbRow) -> Result<OptionRow, sqlx::Error> {
    let iuv: String = row.col("iuv")?;
    let nav: String = row.col("nav")?;
    let status: String = row.col("status")?;
    Ok(OptionRow {
        id: row.col("id")?,
        position_id: row.col("position_id")?,
        option: PaymentOption {
            iuv: Iuv::parse(&iuv).map_err(|_| decode_err("IUV", &iuv))?,
            nav: NoticeNumber::parse(&nav).map_err(|_| decode_err("notice number", &nav))?,
            amount: Cents::new(row.col("amount")?),
            description: row.col("description")?,
            is_partial_payment: row.col("is_partial_payment")?,
            due_date: row.col("due_date")?,
            retention_date: row.col("retention_date")?,
            fee: Cents::new(row.col("fee")?),
            status: OptionStatus::parse(&status)
                .ok_or_else(|| decode_err("option status", &status))?,
            metadata: row.col("metadata")?,
            transfers: Vec::new(),
        },
        details: OptionDetails {
            paid_at: row.col("paid_at")?,
            notification_fee: Cents::new(row.col("notification_fee")?),
            transfer_metadata: Vec::new(),
        },
    })
}

fn transfer_from_row(row: &impl DbRow) -> Result<(i64, Transfer, String), sqlx::Error> {
    let iban: Option<String> = row.col("iban")?;
    let destination = match iban {
        Some(iban) => Destination::Iban {
            iban,
            postal_iban: row.col("postal_iban")?,
        },
        None => Destination::Stamp {
            hash_document: row
                .col::<Option<String>>("stamp_hash_document")?
                .unwrap_or_default(),
            stamp_type: row.col::<Option<String>>("stamp_type")?.unwrap_or_default(),
            provincial_residence: row
                .col::<Option<String>>("stamp_provincial_residence")?
                .unwrap_or_default(),
        },
    };
    let id_transfer: i32 = row.col("id_transfer")?;
    Ok((
        row.col("payment_option_id")?,
        Transfer {
            id_transfer: u8::try_from(id_transfer)
                .map_err(|_| decode_err("idTransfer", &id_transfer.to_string()))?,
            amount: Cents::new(row.col("amount")?),
            organization_fiscal_code: row.col("organization_fiscal_code")?,
            remittance_information: row.col("remittance_information")?,
            category: row.col("category")?,
            destination,
            company_name: row.col("company_name")?,
        },
        row.col("metadata")?,
    ))
}

/// A boxed `Send` future borrowing for `'a`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a GPD position carries beyond [`NewPosition`] (kept apart so that the many places that
/// build a `NewPosition` need not know about it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionExtras {
    /// GPD `payStandIn`.
    pub pay_stand_in: bool,
    /// Fingerprint of the imported CSV rows, for idempotent re-imports.
    pub content_hash: Option<String>,
    /// Transfer metadata (JSON) per option and transfer, parallel to the options and their
    /// transfers; missing entries are stored as `[]`.
    pub transfer_metadata: Vec<Vec<String>>,
}

impl Default for PositionExtras {
    fn default() -> Self {
        PositionExtras {
            pay_stand_in: true,
            content_hash: None,
            transfer_metadata: Vec::new(),
        }
    }
}

impl PositionExtras {
    fn transfer_metadata(&self, option: usize, transfer: usize) -> String {
        self.transfer_metadata
            .get(option)
            .and_then(|t| t.get(transfer))
            .cloned()
            .unwrap_or_else(|| "[]".to_owned())
    }
}

/// The few columns needed to decide a state change, read under a row lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionHead {
    /// Primary key.
    pub id: i64,
    /// Current status.
    pub status: PositionStatus,
    /// Validity date.
    pub validity_date: Option<Timestamp>,
    /// Earliest due date among the options (None when it has no option).
    pub earliest_due_date: Option<Timestamp>,
}

/// Sort key of the position list (GPD `orderby`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PositionOrder {
    /// Creation time (GPD `INSERTED_DATE`, the default).
    #[default]
    InsertedDate,
    /// IUPD.
    Iupd,
    /// Status.
    Status,
    /// Company name.
    CompanyName,
}

/// Filters of the position list (GPD's query parameters, already typed). Date bounds are
/// inclusive instants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PositionFilter {
    /// Only this status.
    pub status: Option<PositionStatus>,
    /// Some option due at or after this instant.
    pub due_from: Option<Timestamp>,
    /// Some option due at or before this instant.
    pub due_to: Option<Timestamp>,
    /// Paid at or after this instant.
    pub paid_from: Option<Timestamp>,
    /// Paid at or before this instant.
    pub paid_to: Option<Timestamp>,
    /// Sort key.
    pub order: PositionOrder,
    /// Descending order (GPD's default).
    pub descending: bool,
}

/// The placeholder sign of a transaction's dialect. SQLite keeps named and numbered parameters
/// (`$N`, `?N`) in a linear list that both parsing and sqlx's binding search, so a statement
/// with thousands of them is quadratic (0.3 s for one batch); anonymous `?` are bound by
/// position in constant time.
fn sign(tx: &Tx) -> char {
    match tx {
        Tx::Sqlite(..) => '?',
        Tx::Postgres(_) => '$',
    }
}

/// `($1, $2, …), (…)`: `rows` tuples of `cols` placeholders.
fn values_placeholders(sign: char, rows: usize, cols: usize) -> String {
    let mut sql = String::with_capacity(rows * cols * 7);
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push(sign);
            if sign == '$' {
                sql.push_str(&(r * cols + c + 1).to_string());
            }
        }
        sql.push(')');
    }
    sql
}

/// `$from, $from+1, …` for an IN list of `n` values.
fn in_placeholders(sign: char, from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("{sign}{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows per multi-row INSERT: the widest table has 28 columns, and SQLite accepts at most
/// 32 766 bound values per statement.
const POSITIONS_PER_STATEMENT: usize = 400;
const OPTIONS_PER_STATEMENT: usize = 1000;
const TRANSFERS_PER_STATEMENT: usize = 1000;
const KEYS_PER_LOOKUP: usize = 900;

/// A short list of keys for a conflict message.
fn key_list(what: &str, keys: &[String]) -> String {
    if keys.len() > 5 {
        format!("{what} {}, …", keys[..5].join(", "))
    } else {
        format!("{what} {}", keys.join(", "))
    }
}

const POSITION_INSERT_COLUMNS: &str = "ente_id, iupd, debtor_type, debtor_fiscal_code, full_name, street_name, civic_number, postal_code, city, province, region, country, email, phone, company_name, office_name, validity_date, switch_to_expired, status, service_id, origin, created_by_account_id, abandon_at, published_at, created_at, updated_at, pay_stand_in, content_hash";

fn position_values(
    ente_id: i64,
    p: &NewPosition,
    extras: &PositionExtras,
    now: Timestamp,
    out: &mut Vec<Val>,
) {
    let d = &p.debtor;
    let published_at = match p.status {
        PositionStatus::Draft => None,
        _ => Some(now),
    };
    out.extend([
        Val::Int(ente_id),
        Val::Text(p.iupd.clone()),
        Val::Text(d.kind.as_str().to_owned()),
        Val::Text(d.fiscal_code.clone()),
        Val::Text(d.full_name.clone()),
        Val::OptText(d.street_name.clone()),
        Val::OptText(d.civic_number.clone()),
        Val::OptText(d.postal_code.clone()),
        Val::OptText(d.city.clone()),
        Val::OptText(d.province.clone()),
        Val::OptText(d.region.clone()),
        Val::OptText(d.country.clone()),
        Val::OptText(d.email.clone()),
        Val::OptText(d.phone.clone()),
        Val::Text(p.company_name.clone()),
        Val::OptText(p.office_name.clone()),
        Val::OptTs(p.validity_date),
        Val::Bool(p.switch_to_expired),
        Val::Text(p.status.as_str().to_owned()),
        Val::OptInt(p.service_id),
        Val::Text(p.origin.as_str().to_owned()),
        Val::OptInt(p.created_by_account_id),
        Val::OptTs(p.abandon_at),
        Val::OptTs(published_at),
        Val::Ts(now),
        Val::Ts(now),
        Val::Bool(extras.pay_stand_in),
        Val::OptText(extras.content_hash.clone()),
    ]);
}

/// One option to insert: its position, the option, and its transfers' metadata.
struct OptionToInsert<'a> {
    position_id: i64,
    option: &'a PaymentOption,
    transfer_metadata: Vec<String>,
}

impl Store {
    /// Inserts a position with its options and transfers inside `tx`. A duplicate iupd, IUV or
    /// notice number is a [`StoreError::Conflict`]; nothing is half-written because the caller's
    /// transaction rolls back.
    pub async fn insert_position_in(
        tx: &mut Tx,
        ente_id: i64,
        position: &NewPosition,
    ) -> StoreResult<i64> {
        let extras = PositionExtras::default();
        let ids = Store::insert_positions_in(tx, ente_id, &[(position, &extras)]).await?;
        Ok(ids[0])
    }

    /// Inserts many positions with their options and transfers inside `tx`, with a few
    /// multi-row statements instead of one per row (the bulk import's hot path). Returns the new
    /// ids in input order. A duplicate iupd or IUV is a [`StoreError::Conflict`] naming the
    /// candidates; the caller rolls back.
    ///
    /// The future is boxed (and so checked to be `Send` here, with concrete lifetimes): callers
    /// that loop over batches would otherwise trip rustc's higher-ranked `Send` inference.
    pub fn insert_positions_in<'a>(
        tx: &'a mut Tx,
        ente_id: i64,
        batch: &'a [(&'a NewPosition, &'a PositionExtras)],
    ) -> BoxFuture<'a, StoreResult<Vec<i64>>> {
        Box::pin(async move {
            let now = Timestamp::now();
            let mut ids_by_iupd: HashMap<String, i64> = HashMap::with_capacity(batch.len());
            for chunk in batch.chunks(POSITIONS_PER_STATEMENT) {
                let mut vals = Vec::with_capacity(chunk.len() * 28);
                for (p, extras) in chunk {
                    position_values(ente_id, p, extras, now, &mut vals);
                }
                let sql = format!(
                    "INSERT INTO debt_positions ({POSITION_INSERT_COLUMNS}) VALUES {} RETURNING id, iupd",
                    values_placeholders(sign(tx), chunk.len(), 28)
                );
                let mut keys = Vec::new();
                for (p, _) in chunk.iter().take(6) {
                    keys.push(p.iupd.clone());
                }
                let what = key_list("iupd", &keys);
                let rows: Vec<(i64, String)> = with_tx!(tx, |conn| {
                    bind_vals!(sqlx::query_as(&sql), vals)
                        .fetch_all(conn)
                        .await
                        .map_err(|e| StoreError::from_insert(e, what))?
                });
                ids_by_iupd.extend(rows.into_iter().map(|(id, iupd)| (iupd, id)));
            }
            let ids: Vec<i64> = batch
                .iter()
                .map(|(p, _)| {
                    ids_by_iupd.get(&p.iupd).copied().ok_or_else(|| {
                        StoreError::Conflict(format!("iupd {} appears twice in the batch", p.iupd))
                    })
                })
                .collect::<Result<_, _>>()?;
            // Plain loops, not iterator adaptors: closures returning borrows here would make the
            // future non-`Send` (a known rustc limitation with higher-ranked lifetimes).
            let mut options: Vec<OptionToInsert<'_>> = Vec::new();
            for ((p, extras), id) in batch.iter().zip(&ids) {
                for (i, o) in p.options.iter().enumerate() {
                    let mut transfer_metadata = Vec::with_capacity(o.transfers.len());
                    for t in 0..o.transfers.len() {
                        transfer_metadata.push(extras.transfer_metadata(i, t));
                    }
                    options.push(OptionToInsert {
                        position_id: *id,
                        option: o,
                        transfer_metadata,
                    });
                }
            }
            Store::insert_options_in(tx, ente_id, &options, now).await?;
            Ok(ids)
        })
    }

    async fn insert_options_in(
        tx: &mut Tx,
        ente_id: i64,
        options: &[OptionToInsert<'_>],
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut ids_by_iuv: HashMap<String, i64> = HashMap::with_capacity(options.len());
        for chunk in options.chunks(OPTIONS_PER_STATEMENT) {
            let mut vals = Vec::with_capacity(chunk.len() * 13);
            for o in chunk {
                let option = o.option;
                vals.extend([
                    Val::Int(o.position_id),
                    Val::Int(ente_id),
                    Val::Text(option.iuv.as_str().to_owned()),
                    Val::Text(option.nav.as_str().to_owned()),
                    Val::Int(option.amount.get()),
                    Val::Text(option.description.clone()),
                    Val::Bool(option.is_partial_payment),
                    Val::Ts(option.due_date),
                    Val::OptTs(option.retention_date),
                    Val::Int(option.fee.get()),
                    Val::Text(option.status.as_str().to_owned()),
                    Val::Text(option.metadata.clone()),
                    Val::Ts(now),
                ]);
            }
            let sql = format!(
                "INSERT INTO payment_options (position_id, ente_id, iuv, nav, amount, description, is_partial_payment, due_date, retention_date, fee, status, metadata, created_at) VALUES {} RETURNING id, iuv",
                values_placeholders(sign(tx), chunk.len(), 13)
            );
            let mut keys = Vec::new();
            for o in chunk.iter().take(6) {
                keys.push(o.option.iuv.as_str().to_owned());
            }
            let what = key_list("IUV", &keys);
            let rows: Vec<(i64, String)> = with_tx!(tx, |conn| {
                bind_vals!(sqlx::query_as(&sql), vals)
                    .fetch_all(conn)
                    .await
                    .map_err(|e| StoreError::from_insert(e, what))?
            });
            ids_by_iuv.extend(rows.into_iter().map(|(id, iuv)| (iuv, id)));
        }
        // (option id, transfer, metadata)
        let mut transfers: Vec<(i64, &Transfer, &str)> = Vec::new();
        for o in options {
            let id = ids_by_iuv
                .get(o.option.iuv.as_str())
                .copied()
                .ok_or_else(|| StoreError::Conflict(format!("IUV {}", o.option.iuv)))?;
            for (t, meta) in o.option.transfers.iter().zip(&o.transfer_metadata) {
                transfers.push((id, t, meta));
            }
        }
        for chunk in transfers.chunks(TRANSFERS_PER_STATEMENT) {
            let mut vals = Vec::with_capacity(chunk.len() * 13);
            for (option_id, t, meta) in chunk {
                let (iban, postal_iban, hash, stamp_type, residence) = match &t.destination {
                    Destination::Iban { iban, postal_iban } => {
                        (Some(iban.clone()), postal_iban.clone(), None, None, None)
                    }
                    Destination::Stamp {
                        hash_document,
                        stamp_type,
                        provincial_residence,
                    } => (
                        None,
                        None,
                        Some(hash_document.clone()),
                        Some(stamp_type.clone()),
                        Some(provincial_residence.clone()),
                    ),
                };
                vals.extend([
                    Val::Int(*option_id),
                    Val::Int(i64::from(t.id_transfer)),
                    Val::Int(t.amount.get()),
                    Val::Text(t.organization_fiscal_code.clone()),
                    Val::Text(t.remittance_information.clone()),
                    Val::Text(t.category.clone()),
                    Val::OptText(iban),
                    Val::OptText(postal_iban),
                    Val::OptText(hash),
                    Val::OptText(stamp_type),
                    Val::OptText(residence),
                    Val::OptText(t.company_name.clone()),
                    Val::Text((*meta).to_owned()),
                ]);
            }
            let sql = format!(
                "INSERT INTO transfers (payment_option_id, id_transfer, amount, organization_fiscal_code, remittance_information, category, iban, postal_iban, stamp_hash_document, stamp_type, stamp_provincial_residence, company_name, metadata) VALUES {}",
                values_placeholders(sign(tx), chunk.len(), 13)
            );
            with_tx!(tx, |conn| {
                bind_vals!(sqlx::query(&sql), vals)
                    .execute(conn)
                    .await
                    .map_err(|e| StoreError::from_insert(e, "idTransfer repeated in an option"))?;
            });
        }
        Ok(())
    }

    /// Inserts a position in its own transaction.
    pub async fn insert_position(&self, ente_id: i64, position: &NewPosition) -> StoreResult<i64> {
        let mut tx = self.db().begin().await?;
        let id = Store::insert_position_in(&mut tx, ente_id, position).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// A position by its iupd, with options and transfers.
    pub async fn position_by_iupd(
        &self,
        ente_id: i64,
        iupd: &str,
    ) -> StoreResult<Option<Position>> {
        let sql = format!(
            "SELECT {POSITION_COLUMNS} FROM debt_positions WHERE ente_id = $1 AND iupd = $2"
        );
        let position = with_db!(self.db(), |pool| {
            sqlx::query(&sql)
                .bind(ente_id)
                .bind(iupd)
                .fetch_optional(pool)
                .await?
                .map(|r| position_from_row(&r))
                .transpose()?
        });
        let Some(position) = position else {
            return Ok(None);
        };
        let mut with_options = self.attach_options(vec![position]).await?;
        Ok(with_options.pop())
    }

    /// The position holding the option with notice number `nav`, with every option and
    /// transfer, and that option's key: one query (the station loads a notice on every
    /// verification and activation).
    pub async fn position_by_nav(
        &self,
        ente_id: i64,
        nav: &str,
    ) -> StoreResult<Option<(i64, Position)>> {
        Ok(with_db!(self.db(), |pool| {
            let rows = sqlx::query(POSITION_BY_NAV_SQL.as_str())
                .bind(ente_id)
                .bind(nav)
                .fetch_all(pool)
                .await?;
            position_from_join(&rows, nav)?
        }))
    }

    /// A page of an ente's positions (with options and transfers) matching `filter`, and the
    /// number of positions matching it in all.
    pub async fn list_positions(
        &self,
        ente_id: i64,
        filter: &PositionFilter,
        page: u32,
        limit: u32,
    ) -> StoreResult<(Vec<Position>, i64)> {
        let mut conditions = vec!["ente_id = $1".to_owned()];
        let mut vals = vec![Val::Int(ente_id)];
        if let Some(status) = filter.status {
            vals.push(Val::Text(status.as_str().to_owned()));
            conditions.push(format!("status = ${}", vals.len()));
        }
        if filter.due_from.is_some() || filter.due_to.is_some() {
            let mut due = vec!["o.position_id = debt_positions.id".to_owned()];
            if let Some(from) = filter.due_from {
                vals.push(Val::Ts(from));
                due.push(format!("o.due_date >= ${}", vals.len()));
            }
            if let Some(to) = filter.due_to {
                vals.push(Val::Ts(to));
                due.push(format!("o.due_date <= ${}", vals.len()));
            }
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM payment_options o WHERE {})",
                due.join(" AND ")
            ));
        }
        if let Some(from) = filter.paid_from {
            vals.push(Val::Ts(from));
            conditions.push(format!("payment_date >= ${}", vals.len()));
        }
        if let Some(to) = filter.paid_to {
            vals.push(Val::Ts(to));
            conditions.push(format!("payment_date <= ${}", vals.len()));
        }
        let where_clause = conditions.join(" AND ");
        let column = match filter.order {
            PositionOrder::InsertedDate => "created_at",
            PositionOrder::Iupd => "iupd",
            PositionOrder::Status => "status",
            PositionOrder::CompanyName => "company_name",
        };
        let direction = if filter.descending { "DESC" } else { "ASC" };
        let count_sql = format!("SELECT COUNT(*) FROM debt_positions WHERE {where_clause}");
        let page_sql = format!(
            "SELECT {POSITION_COLUMNS} FROM debt_positions WHERE {where_clause} ORDER BY {column} {direction}, id {direction} LIMIT {} OFFSET {}",
            i64::from(limit),
            i64::from(page) * i64::from(limit)
        );
        // The values are needed twice.
        let count_vals = vals.clone();
        let (total, positions) = with_db!(self.db(), |pool| {
            let total: i64 = bind_vals!(sqlx::query_scalar(&count_sql), count_vals)
                .fetch_one(pool)
                .await?;
            let positions = bind_vals!(sqlx::query(&page_sql), vals)
                .fetch_all(pool)
                .await?
                .iter()
                .map(position_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            (total, positions)
        });
        Ok((self.attach_options(positions).await?, total))
    }

    /// Loads the options and transfers of the given positions (two queries, whatever the count).
    pub(super) async fn attach_options(
        &self,
        mut positions: Vec<Position>,
    ) -> StoreResult<Vec<Position>> {
        if positions.is_empty() {
            return Ok(positions);
        }
        let ids: Vec<String> = positions.iter().map(|p| p.id.to_string()).collect();
        // The ids are integers we just read, so inlining them is safe; it keeps one SQL text for
        // both dialects (PostgreSQL's `= ANY($1)` has no SQLite twin).
        let in_list = ids.join(",");
        let option_sql = format!(
            "SELECT {OPTION_COLUMNS} FROM payment_options WHERE position_id IN ({in_list}) ORDER BY position_id, due_date, id"
        );
        let transfer_sql = format!(
            "SELECT {} FROM transfers t JOIN payment_options o ON o.id = t.payment_option_id
             WHERE o.position_id IN ({in_list}) ORDER BY t.payment_option_id, t.id_transfer",
            aliased(TRANSFER_COLUMNS, "t", "")
        );
        // Not prepared for reuse: the text changes with every page, and each connection would
        // keep up to a hundred of them compiled (the cache is per connection), memory that grew
        // with a bulk export's length.
        let (options, transfers) = with_db!(self.db(), |pool| {
            let options = sqlx::query(&option_sql)
                .persistent(false)
                .fetch_all(pool)
                .await?
                .iter()
                .map(option_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            let transfers = sqlx::query(&transfer_sql)
                .persistent(false)
                .fetch_all(pool)
                .await?
                .iter()
                .map(transfer_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            (options, transfers)
        });
        let mut options = options;
        let index: HashMap<i64, usize> =
            options.iter().enumerate().map(|(i, o)| (o.id, i)).collect();
        for (option_id, transfer, metadata) in transfers {
            if let Some(&i) = index.get(&option_id) {
                options[i].option.transfers.push(transfer);
                options[i].details.transfer_metadata.push(metadata);
            }
        }
        let by_position: HashMap<i64, usize> = positions
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id, i))
            .collect();
        for o in options {
            if let Some(&i) = by_position.get(&o.position_id) {
                positions[i].options.push(o.option);
                positions[i].option_details.push(o.details);
            }
        }
        Ok(positions)
    }

    /// Reads the state of a position inside `tx`, locking its row on PostgreSQL (SQLite's
    /// `BEGIN IMMEDIATE` already holds the write lock), so that the decision taken on it holds
    /// until the transaction ends.
    pub async fn lock_position_in(
        tx: &mut Tx,
        ente_id: i64,
        iupd: &str,
    ) -> StoreResult<Option<PositionHead>> {
        let base =
            "SELECT id, status, validity_date FROM debt_positions WHERE ente_id = $1 AND iupd = $2";
        let sql = match tx {
            Tx::Sqlite(..) => base.to_owned(),
            Tx::Postgres(_) => format!("{base} FOR UPDATE"),
        };
        let row: Option<(i64, String, Option<Timestamp>)> = with_tx!(tx, |conn| {
            sqlx::query_as(&sql)
                .bind(ente_id)
                .bind(iupd)
                .fetch_optional(conn)
                .await?
        });
        let Some((id, status, validity_date)) = row else {
            return Ok(None);
        };
        let earliest_due_date: Option<Timestamp> = with_tx!(tx, |conn| {
            sqlx::query_scalar("SELECT MIN(due_date) FROM payment_options WHERE position_id = $1")
                .bind(id)
                .fetch_one(conn)
                .await?
        });
        Ok(Some(PositionHead {
            id,
            status: PositionStatus::parse(&status).ok_or_else(|| decode_err("status", &status))?,
            validity_date,
            earliest_due_date,
        }))
    }

    /// Replaces a position's data, options and transfers (GPD's PUT) inside `tx`, keeping its
    /// id, iupd and creation time and bumping its version. Options still referenced by a cart or
    /// a receipt cannot be removed: that is a [`StoreError::Referenced`].
    pub async fn replace_position_in(
        tx: &mut Tx,
        ente_id: i64,
        id: i64,
        position: &NewPosition,
        extras: &PositionExtras,
    ) -> StoreResult<()> {
        let now = Timestamp::now();
        let d = &position.debtor;
        let published_at = match position.status {
            PositionStatus::Draft => None,
            _ => Some(now),
        };
        with_tx!(tx, |conn| {
            sqlx::query(
                "UPDATE debt_positions SET debtor_type = $1, debtor_fiscal_code = $2, full_name = $3, street_name = $4, civic_number = $5, postal_code = $6, city = $7, province = $8, region = $9, country = $10, email = $11, phone = $12, company_name = $13, office_name = $14, validity_date = $15, switch_to_expired = $16, status = $17, published_at = $18, pay_stand_in = $19, content_hash = $20, version = version + 1, updated_at = $21
                 WHERE id = $22",
            )
            .bind(d.kind.as_str())
            .bind(&d.fiscal_code)
            .bind(&d.full_name)
            .bind(&d.street_name)
            .bind(&d.civic_number)
            .bind(&d.postal_code)
            .bind(&d.city)
            .bind(&d.province)
            .bind(&d.region)
            .bind(&d.country)
            .bind(&d.email)
            .bind(&d.phone)
            .bind(&position.company_name)
            .bind(&position.office_name)
            .bind(position.validity_date)
            .bind(position.switch_to_expired)
            .bind(position.status.as_str())
            .bind(published_at)
            .bind(extras.pay_stand_in)
            .bind(&extras.content_hash)
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?;
            sqlx::query("DELETE FROM payment_options WHERE position_id = $1")
                .bind(id)
                .execute(conn)
                .await
                .map_err(|e| referenced(e, "a payment option is in a cart or has a receipt"))?;
        });
        let mut options: Vec<OptionToInsert<'_>> = Vec::new();
        for (i, o) in position.options.iter().enumerate() {
            let mut transfer_metadata = Vec::with_capacity(o.transfers.len());
            for t in 0..o.transfers.len() {
                transfer_metadata.push(extras.transfer_metadata(i, t));
            }
            options.push(OptionToInsert {
                position_id: id,
                option: o,
                transfer_metadata,
            });
        }
        Store::insert_options_in(tx, ente_id, &options, now).await
    }

    /// Sets a position's status inside `tx`; a validity date or publication time given here
    /// replaces the stored one.
    pub async fn set_position_status_in(
        tx: &mut Tx,
        id: i64,
        status: PositionStatus,
        validity_date: Option<Timestamp>,
        published_at: Option<Timestamp>,
    ) -> StoreResult<()> {
        with_tx!(tx, |conn| {
            sqlx::query(
                "UPDATE debt_positions SET status = $1, validity_date = COALESCE($2, validity_date), published_at = COALESCE($3, published_at), version = version + 1, updated_at = $4 WHERE id = $5",
            )
            .bind(status.as_str())
            .bind(validity_date)
            .bind(published_at)
            .bind(Timestamp::now())
            .bind(id)
            .execute(conn)
            .await?;
        });
        Ok(())
    }

    /// Deletes a position with its options and transfers inside `tx`. One still referenced by a
    /// cart or a receipt is a [`StoreError::Referenced`].
    pub async fn delete_position_in(tx: &mut Tx, id: i64) -> StoreResult<()> {
        with_tx!(tx, |conn| {
            sqlx::query("DELETE FROM debt_positions WHERE id = $1")
                .bind(id)
                .execute(conn)
                .await
                .map_err(|e| referenced(e, "a payment option is in a cart or has a receipt"))?;
        });
        Ok(())
    }

    /// The last activation (`paGetPayment[V2]`) of any option of a position, read inside `tx`.
    pub async fn last_activation_in(
        tx: &mut Tx,
        position_id: i64,
    ) -> StoreResult<Option<Timestamp>> {
        Ok(with_tx!(tx, |conn| {
            sqlx::query_scalar(
                "SELECT MAX(a.created_at) FROM payment_attempts a
                 JOIN payment_options o ON o.id = a.payment_option_id
                 WHERE o.position_id = $1",
            )
            .bind(position_id)
            .fetch_one(conn)
            .await?
        }))
    }

    /// Replaces the IBAN `old` by `new` on at most `limit` transfers of the ente's unpaid options
    /// in positions still open to payment (DRAFT, PUBLISHED, VALID, PARTIALLY_PAID: GPD's
    /// `updateTransferIbanMassive`), inside `tx`, and touches those positions. Returns how many
    /// transfers changed.
    pub async fn replace_transfer_iban_in(
        tx: &mut Tx,
        ente_id: i64,
        old: &str,
        new: &str,
        limit: u32,
        now: Timestamp,
    ) -> StoreResult<u64> {
        let option_ids: Vec<i64> = with_tx!(tx, |conn| {
            sqlx::query_scalar(
                "UPDATE transfers SET iban = $1 WHERE id IN (
                    SELECT t.id FROM transfers t
                    JOIN payment_options o ON o.id = t.payment_option_id
                    JOIN debt_positions p ON p.id = o.position_id
                    WHERE p.ente_id = $2 AND t.iban = $3 AND o.status = 'PO_UNPAID'
                      AND p.status IN ('DRAFT', 'PUBLISHED', 'VALID', 'PARTIALLY_PAID')
                    ORDER BY t.id LIMIT $4)
                 RETURNING payment_option_id",
            )
            .bind(new)
            .bind(ente_id)
            .bind(old)
            .bind(i64::from(limit))
            .fetch_all(conn)
            .await?
        });
        let mut touched = option_ids.clone();
        touched.sort_unstable();
        touched.dedup();
        for chunk in touched.chunks(KEYS_PER_LOOKUP) {
            let sql = format!(
                "UPDATE debt_positions SET version = version + 1, updated_at = $1
                 WHERE id IN (SELECT position_id FROM payment_options WHERE id IN ({}))",
                in_placeholders('$', 2, chunk.len())
            );
            let mut vals = vec![Val::Ts(now)];
            vals.extend(chunk.iter().map(|id| Val::Int(*id)));
            with_tx!(tx, |conn| {
                bind_vals!(sqlx::query(&sql), vals).execute(conn).await?;
            });
        }
        Ok(option_ids.len() as u64)
    }

    /// Moves to EXPIRED every VALID position with `switch_to_expired` whose unpaid options are
    /// all past due at `now` (GPD's `switchToExpired`). Returns how many changed.
    pub async fn expire_overdue(&self, now: Timestamp) -> StoreResult<u64> {
        self.expire_where(now, None).await
    }

    /// Moves to VALID every PUBLISHED position whose validity date has come. Returns how many
    /// changed.
    pub async fn activate_published(&self, now: Timestamp) -> StoreResult<u64> {
        self.activate_where(now, None).await
    }

    /// Applies both time rules ([`Store::activate_published`], [`Store::expire_overdue`]) to one
    /// position, so that a read never shows a status the clock has already overtaken.
    pub async fn refresh_position_status(
        &self,
        ente_id: i64,
        iupd: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        self.activate_where(now, Some((ente_id, iupd))).await?;
        self.expire_where(now, Some((ente_id, iupd))).await?;
        Ok(())
    }

    async fn expire_where(&self, now: Timestamp, one: Option<(i64, &str)>) -> StoreResult<u64> {
        let base = "UPDATE debt_positions SET status = 'EXPIRED', version = version + 1, updated_at = $1
             WHERE status = 'VALID' AND switch_to_expired = TRUE
               AND EXISTS (SELECT 1 FROM payment_options o WHERE o.position_id = debt_positions.id AND o.status = 'PO_UNPAID')
               AND NOT EXISTS (SELECT 1 FROM payment_options o WHERE o.position_id = debt_positions.id AND o.status = 'PO_UNPAID' AND o.due_date >= $2)";
        self.time_rule(base, now, due_cutoff(now), one).await
    }

    async fn activate_where(&self, now: Timestamp, one: Option<(i64, &str)>) -> StoreResult<u64> {
        let base =
            "UPDATE debt_positions SET status = 'VALID', version = version + 1, updated_at = $1
             WHERE status = 'PUBLISHED' AND validity_date IS NOT NULL AND validity_date <= $2";
        self.time_rule(base, now, now, one).await
    }

    /// Runs `base` with `$1` = `now` (the update time) and `$2` = the instant the rule compares
    /// with, on every position or on one.
    async fn time_rule(
        &self,
        base: &str,
        now: Timestamp,
        threshold: Timestamp,
        one: Option<(i64, &str)>,
    ) -> StoreResult<u64> {
        let result = match one {
            None => with_db!(self.db(), |pool| sqlx::query(base)
                .bind(now)
                .bind(threshold)
                .execute(pool)
                .await?
                .rows_affected()),
            Some((ente_id, iupd)) => {
                let sql = format!("{base} AND ente_id = $3 AND iupd = $4");
                with_db!(self.db(), |pool| sqlx::query(&sql)
                    .bind(now)
                    .bind(threshold)
                    .bind(ente_id)
                    .bind(iupd)
                    .execute(pool)
                    .await?
                    .rows_affected())
            }
        };
        Ok(result)
    }

    /// Which of `iupds` already exist for the ente, with their import fingerprint (None for
    /// positions not created by an import). Runs in `tx` so it sees the import's own writes.
    ///
    /// Not a cached prepared statement: PostgreSQL would keep the generic plan it made while the
    /// table was small (a sequential scan) for the whole import, and each lookup would grow with
    /// the table (100 000 rows: 600 instead of 6 000 positions/s).
    pub fn existing_iupds_in<'a>(
        tx: &'a mut Tx,
        ente_id: i64,
        iupds: &'a [String],
    ) -> BoxFuture<'a, StoreResult<HashMap<String, Option<String>>>> {
        Box::pin(async move {
            let mut found = HashMap::new();
            for chunk in iupds.chunks(KEYS_PER_LOOKUP) {
                let sql = format!(
                    "SELECT iupd, content_hash FROM debt_positions WHERE ente_id = $1 AND iupd IN ({})",
                    in_placeholders('$', 2, chunk.len())
                );
                let mut vals = vec![Val::Int(ente_id)];
                vals.extend(chunk.iter().map(|k| Val::Text(k.clone())));
                let rows: Vec<(String, Option<String>)> = with_tx!(tx, |conn| {
                    bind_vals!(sqlx::query_as(&sql).persistent(false), vals)
                        .fetch_all(conn)
                        .await?
                });
                found.extend(rows);
            }
            Ok(found)
        })
    }

    /// Which of `iuvs` are already used by the ente. Runs in `tx` so it sees the import's own
    /// writes.
    pub fn existing_iuvs_in<'a>(
        tx: &'a mut Tx,
        ente_id: i64,
        iuvs: &'a [String],
    ) -> BoxFuture<'a, StoreResult<HashSet<String>>> {
        Box::pin(async move {
            let mut found = HashSet::new();
            for chunk in iuvs.chunks(KEYS_PER_LOOKUP) {
                let sql = format!(
                    "SELECT iuv FROM payment_options WHERE ente_id = $1 AND iuv IN ({})",
                    in_placeholders('$', 2, chunk.len())
                );
                let mut vals = vec![Val::Int(ente_id)];
                vals.extend(chunk.iter().map(|k| Val::Text(k.clone())));
                let rows: Vec<String> = with_tx!(tx, |conn| {
                    bind_vals!(sqlx::query_scalar(&sql).persistent(false), vals)
                        .fetch_all(conn)
                        .await?
                });
                found.extend(rows);
            }
            Ok(found)
        })
    }

    /// Opens a savepoint inside `tx` (both dialects), so that one failed statement can be undone
    /// without losing the rest of the transaction.
    pub async fn savepoint_in(tx: &mut Tx, name: &str) -> StoreResult<()> {
        Store::raw_in(tx, &format!("SAVEPOINT {}", savepoint_name(name))).await
    }

    /// Keeps what was done since the savepoint.
    pub async fn release_savepoint_in(tx: &mut Tx, name: &str) -> StoreResult<()> {
        Store::raw_in(tx, &format!("RELEASE SAVEPOINT {}", savepoint_name(name))).await
    }

    /// Undoes what was done since the savepoint; the transaction goes on.
    pub async fn rollback_to_savepoint_in(tx: &mut Tx, name: &str) -> StoreResult<()> {
        Store::raw_in(
            tx,
            &format!("ROLLBACK TO SAVEPOINT {}", savepoint_name(name)),
        )
        .await
    }

    fn raw_in<'a>(tx: &'a mut Tx, sql: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            with_tx!(tx, |conn| {
                sqlx::query(sql).execute(conn).await?;
            });
            Ok(())
        })
    }

    /// How many positions an ente has.
    pub async fn count_positions(&self, ente_id: i64) -> StoreResult<i64> {
        with_db!(self.db(), |pool| {
            Ok(
                sqlx::query_scalar("SELECT COUNT(*) FROM debt_positions WHERE ente_id = $1")
                    .bind(ente_id)
                    .fetch_one(pool)
                    .await?,
            )
        })
    }
}

/// A savepoint name is inlined in SQL: keep only letters, digits and underscores.
fn savepoint_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if clean.is_empty() {
        "sp".to_owned()
    } else {
        format!("sp_{clean}")
    }
}

/// A foreign-key violation on delete means the row is still referenced: a conflict.
fn referenced(err: sqlx::Error, what: &str) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::Referenced(what.to_owned())
        }
        _ => StoreError::Db(err),
    }
}
