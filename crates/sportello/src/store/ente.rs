//! The municipality (ente creditore) and its IUV sequence.

use super::{Store, StoreError, StoreResult};
use crate::clock::Timestamp;
use crate::config::EnteConfig;
use crate::db::{DbRow, Tx};
use crate::{with_db, with_tx};

/// An ente as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ente {
    /// Primary key.
    pub id: i64,
    /// 11-digit fiscal code.
    pub fiscal_code: String,
    /// Name.
    pub name: String,
    /// Office name.
    pub office_name: String,
    /// pagoPA broker id.
    pub id_broker_pa: String,
    /// pagoPA station id.
    pub id_station: String,
    /// Segregation code (2 digits).
    pub segregation_code: String,
    /// Default IBAN.
    pub iban: String,
    /// CBILL code.
    pub cbill: String,
    /// Postal account, if any.
    pub postal_account: Option<String>,
    /// Contact e-mail.
    pub contact_email: String,
}

const COLUMNS: &str = "id, fiscal_code, name, office_name, id_broker_pa, id_station, segregation_code, iban, cbill, postal_account, contact_email";

fn from_row(row: &impl DbRow) -> Result<Ente, sqlx::Error> {
    Ok(Ente {
        id: row.col("id")?,
        fiscal_code: row.col("fiscal_code")?,
        name: row.col("name")?,
        office_name: row.col("office_name")?,
        id_broker_pa: row.col("id_broker_pa")?,
        id_station: row.col("id_station")?,
        segregation_code: row.col("segregation_code")?,
        iban: row.col("iban")?,
        cbill: row.col("cbill")?,
        postal_account: row.col("postal_account")?,
        contact_email: row.col("contact_email")?,
    })
}

impl Store {
    /// Inserts the ente described by the configuration, or updates it (the fiscal code is the
    /// key), and makes sure its IUV sequence exists. Configuration is the source of truth.
    pub async fn upsert_ente(&self, config: &EnteConfig) -> StoreResult<Ente> {
        let now = Timestamp::now();
        let mut tx = self.db().begin().await?;
        let id: i64 = with_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
                "INSERT INTO ente (fiscal_code, name, office_name, id_broker_pa, id_station, segregation_code, iban, cbill, postal_account, contact_email, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
                 ON CONFLICT (fiscal_code) DO UPDATE SET
                   name = excluded.name, office_name = excluded.office_name,
                   id_broker_pa = excluded.id_broker_pa, id_station = excluded.id_station,
                   segregation_code = excluded.segregation_code, iban = excluded.iban,
                   cbill = excluded.cbill, postal_account = excluded.postal_account,
                   contact_email = excluded.contact_email, updated_at = excluded.updated_at
                 RETURNING id",
            )
            .bind(config.fiscal_code.as_str())
            .bind(&config.name)
            .bind(&config.office_name)
            .bind(&config.id_broker_pa)
            .bind(&config.id_station)
            .bind(config.segregation_code.to_string())
            .bind(config.iban.as_str())
            .bind(&config.cbill)
            .bind(config.postal_account.as_deref())
            .bind(&config.contact_email)
            .bind(now)
            .fetch_one(conn)
            .await?
        });
        with_tx!(&mut tx, |conn| {
            sqlx::query(
                "INSERT INTO iuv_sequence (ente_id, next_value) VALUES ($1, 1) ON CONFLICT (ente_id) DO NOTHING",
            )
            .bind(id)
            .execute(conn)
            .await?;
        });
        tx.commit().await?;
        self.ente_by_fiscal_code(config.fiscal_code.as_str())
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The ente with this fiscal code, if this deployment serves it.
    pub async fn ente_by_fiscal_code(&self, fiscal_code: &str) -> StoreResult<Option<Ente>> {
        let sql = format!("SELECT {COLUMNS} FROM ente WHERE fiscal_code = $1");
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&sql)
                .bind(fiscal_code)
                .fetch_optional(pool)
                .await?;
            Ok(row.map(|r| from_row(&r)).transpose()?)
        })
    }

    /// Every ente, by fiscal code.
    pub async fn list_enti(&self) -> StoreResult<Vec<Ente>> {
        let sql = format!("SELECT {COLUMNS} FROM ente ORDER BY fiscal_code");
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(&sql).fetch_all(pool).await?;
            Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
        })
    }

    /// A fresh 13-digit base for an aux-3 notice number of the ente, never handed out before
    /// (see [`Store::mint_iuv_bases_in`]), in a short transaction of its own.
    pub async fn mint_iuv_base(&self, ente_id: i64) -> StoreResult<u64> {
        Ok(self.mint_iuv_bases(ente_id, 1).await?[0])
    }

    /// `n` fresh bases, in a short transaction of their own (PostgreSQL: nothing held locked
    /// for the length of an import).
    pub async fn mint_iuv_bases(&self, ente_id: i64, n: u64) -> StoreResult<Vec<u64>> {
        let mut tx = self.db().begin().await?;
        let bases = Store::mint_iuv_bases_in(&mut tx, ente_id, n).await?;
        tx.commit().await?;
        Ok(bases)
    }

    /// `n` fresh 13-digit bases for aux-3 notice numbers of the ente, inside `tx`: each drawn at
    /// random above the old sequence (`crate::domain::iuv`) and recorded in `iuv_minted`, whose
    /// primary key turns a clash into a new draw. If `tx` rolls back, so do the records, and no
    /// base that was ever committed is handed out again. (The bulk import on SQLite mints inside
    /// its own transaction: a second write transaction would wait for it.)
    pub async fn mint_iuv_bases_in(tx: &mut Tx, ente_id: i64, n: u64) -> StoreResult<Vec<u64>> {
        let floor: Option<i64> = with_tx!(tx, |conn| {
            sqlx::query_scalar("SELECT next_value FROM iuv_sequence WHERE ente_id = $1")
                .bind(ente_id)
                .fetch_optional(&mut *conn)
                .await?
        });
        let floor = u64::try_from(floor.ok_or(StoreError::NotFound)?).unwrap_or(1);
        let now = Timestamp::now();
        let mut bases = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        let mut clashes = 0;
        while (bases.len() as u64) < n {
            let Some(base) = crate::domain::iuv::random_base(floor, &mut rand::rng()) else {
                break;
            };
            let inserted = with_tx!(tx, |conn| {
                sqlx::query(
                    "INSERT INTO iuv_minted (ente_id, base, minted_at) VALUES ($1, $2, $3)
                     ON CONFLICT (ente_id, base) DO NOTHING",
                )
                .bind(ente_id)
                .bind(i64::try_from(base).expect("a 13-digit base fits i64"))
                .bind(now)
                .execute(&mut *conn)
                .await?
                .rows_affected()
            });
            if inserted == 1 {
                bases.push(base);
            } else {
                clashes += 1;
                if clashes > 32 {
                    break;
                }
            }
        }
        if (bases.len() as u64) < n {
            return Err(StoreError::Db(sqlx::Error::Protocol(
                "no free notice number base for this ente".into(),
            )));
        }
        Ok(bases)
    }
}
