//! Debt positions, their payment options and transfers.

use pagopa::{Cents, Iuv, NoticeNumber};

use super::{Store, StoreError, StoreResult};
use crate::clock::Timestamp;
use crate::db::{DbRow, Tx};
use crate::domain::position::{
    Debtor, Destination, NewPosition, OptionStatus, Origin, PaymentOption, Position,
    PositionStatus, SubjectType, Transfer,
};
use crate::{with_db, with_tx};

fn decode_err(what: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("stored {what} {value:?} is not valid").into())
}

const POSITION_COLUMNS: &str = "id, ente_id, iupd, debtor_type, debtor_fiscal_code, full_name, street_name, civic_number, postal_code, city, province, region, country, email, phone, company_name, office_name, validity_date, switch_to_expired, status, service_id, origin, created_by_account_id, published_at, payment_date, version, created_at, updated_at";

fn position_from_row(row: &impl DbRow) -> Result<Position, sqlx::Error> {
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
        origin: match origin.as_str() {
            "api" => Origin::Api,
            "import" => Origin::Import,
            "portal" => Origin::Portal,
            _ => return Err(decode_err("origin", &origin)),
        },
        created_by_account_id: row.col("created_by_account_id")?,
        published_at: row.col("published_at")?,
        payment_date: row.col("payment_date")?,
        version: row.col("version")?,
        created_at: row.col("created_at")?,
        updated_at: row.col("updated_at")?,
        options: Vec::new(),
    })
}

/// An option row with the keys needed to attach its transfers.
struct OptionRow {
    id: i64,
    position_id: i64,
    option: PaymentOption,
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
    })
}

fn transfer_from_row(row: &impl DbRow) -> Result<(i64, Transfer), sqlx::Error> {
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
    ))
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
        let now = Timestamp::now();
        let d = &position.debtor;
        let published_at = match position.status {
            PositionStatus::Draft => None,
            _ => Some(now),
        };
        let id: i64 = with_tx!(tx, |conn| {
            sqlx::query_scalar(
                "INSERT INTO debt_positions (ente_id, iupd, debtor_type, debtor_fiscal_code, full_name, street_name, civic_number, postal_code, city, province, region, country, email, phone, company_name, office_name, validity_date, switch_to_expired, status, service_id, origin, created_by_account_id, abandon_at, published_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $25)
                 RETURNING id",
            )
            .bind(ente_id)
            .bind(&position.iupd)
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
            .bind(position.service_id)
            .bind(position.origin.as_str())
            .bind(position.created_by_account_id)
            .bind(position.abandon_at)
            .bind(published_at)
            .bind(now)
            .fetch_one(conn)
            .await
            .map_err(|e| StoreError::from_insert(e, format!("iupd {}", position.iupd)))?
        });
        for option in &position.options {
            Store::insert_option_in(tx, ente_id, id, option, now).await?;
        }
        Ok(id)
    }

    async fn insert_option_in(
        tx: &mut Tx,
        ente_id: i64,
        position_id: i64,
        option: &PaymentOption,
        now: Timestamp,
    ) -> StoreResult<i64> {
        let option_id: i64 = with_tx!(tx, |conn| {
            sqlx::query_scalar(
                "INSERT INTO payment_options (position_id, ente_id, iuv, nav, amount, description, is_partial_payment, due_date, retention_date, fee, status, metadata, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                 RETURNING id",
            )
            .bind(position_id)
            .bind(ente_id)
            .bind(option.iuv.as_str())
            .bind(option.nav.as_str())
            .bind(option.amount.get())
            .bind(&option.description)
            .bind(option.is_partial_payment)
            .bind(option.due_date)
            .bind(option.retention_date)
            .bind(option.fee.get())
            .bind(option.status.as_str())
            .bind(&option.metadata)
            .bind(now)
            .fetch_one(conn)
            .await
            .map_err(|e| StoreError::from_insert(e, format!("IUV {}", option.iuv)))?
        });
        for t in &option.transfers {
            let (iban, postal_iban, hash, stamp_type, residence) = match &t.destination {
                Destination::Iban { iban, postal_iban } => (
                    Some(iban.as_str()),
                    postal_iban.as_deref(),
                    None,
                    None,
                    None,
                ),
                Destination::Stamp {
                    hash_document,
                    stamp_type,
                    provincial_residence,
                } => (
                    None,
                    None,
                    Some(hash_document.as_str()),
                    Some(stamp_type.as_str()),
                    Some(provincial_residence.as_str()),
                ),
            };
            with_tx!(tx, |conn| {
                sqlx::query(
                    "INSERT INTO transfers (payment_option_id, id_transfer, amount, organization_fiscal_code, remittance_information, category, iban, postal_iban, stamp_hash_document, stamp_type, stamp_provincial_residence, company_name)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(option_id)
                .bind(i32::from(t.id_transfer))
                .bind(t.amount.get())
                .bind(&t.organization_fiscal_code)
                .bind(&t.remittance_information)
                .bind(&t.category)
                .bind(iban)
                .bind(postal_iban)
                .bind(hash)
                .bind(stamp_type)
                .bind(residence)
                .bind(&t.company_name)
                .execute(conn)
                .await
                .map_err(|e| StoreError::from_insert(e, format!("transfer {}", t.id_transfer)))?;
            });
        }
        Ok(option_id)
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

    /// Loads the options and transfers of the given positions (two queries, whatever the count).
    async fn attach_options(&self, mut positions: Vec<Position>) -> StoreResult<Vec<Position>> {
        if positions.is_empty() {
            return Ok(positions);
        }
        let ids: Vec<String> = positions.iter().map(|p| p.id.to_string()).collect();
        // The ids are integers we just read, so inlining them is safe; it keeps one SQL text for
        // both dialects (PostgreSQL's `= ANY($1)` has no SQLite twin).
        let in_list = ids.join(",");
        let option_sql = format!(
            "SELECT id, position_id, iuv, nav, amount, description, is_partial_payment, due_date, retention_date, fee, status, metadata FROM payment_options WHERE position_id IN ({in_list}) ORDER BY position_id, due_date, id"
        );
        let transfer_sql = format!(
            "SELECT t.payment_option_id, t.id_transfer, t.amount, t.organization_fiscal_code, t.remittance_information, t.category, t.iban, t.postal_iban, t.stamp_hash_document, t.stamp_type, t.stamp_provincial_residence, t.company_name
             FROM transfers t JOIN payment_options o ON o.id = t.payment_option_id
             WHERE o.position_id IN ({in_list}) ORDER BY t.payment_option_id, t.id_transfer"
        );
        let (options, transfers) = with_db!(self.db(), |pool| {
            let options = sqlx::query(&option_sql)
                .fetch_all(pool)
                .await?
                .iter()
                .map(option_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            let transfers = sqlx::query(&transfer_sql)
                .fetch_all(pool)
                .await?
                .iter()
                .map(transfer_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            (options, transfers)
        });
        let mut options = options;
        for (option_id, transfer) in transfers {
            if let Some(o) = options.iter_mut().find(|o| o.id == option_id) {
                o.option.transfers.push(transfer);
            }
        }
        for o in options {
            if let Some(p) = positions.iter_mut().find(|p| p.id == o.position_id) {
                p.options.push(o.option);
            }
        }
        Ok(positions)
    }
}
