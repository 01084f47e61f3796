//! The service catalog as stored: loaded from configuration at start-up, kept in the database
//! so every instance and every position refers to the same rows.

use super::{Store, StoreResult};
use crate::clock::Timestamp;
use crate::db::DbRow;
use crate::domain::catalog::{AmountRule, Catalog, ServiceDef};
use crate::{with_db, with_tx};

/// A stored service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Primary key.
    pub id: i64,
    /// The definition.
    pub def: ServiceDef,
}

impl Store {
    /// Makes the database catalog of `ente_id` match `catalog`: services are inserted or
    /// updated by code, and services no longer configured are deactivated (never deleted:
    /// positions refer to them).
    pub async fn sync_services(&self, ente_id: i64, catalog: &Catalog) -> StoreResult<()> {
        let now = Timestamp::now();
        let mut tx = self.db().begin().await?;
        with_tx!(&mut tx, |conn| {
            sqlx::query("UPDATE services SET active = FALSE, updated_at = $2 WHERE ente_id = $1")
                .bind(ente_id)
                .bind(now)
                .execute(&mut *conn)
                .await?;
        });
        for s in &catalog.services {
            let (rule, fixed, min, max) = match s.amount {
                AmountRule::Fixed { cents } => ("fixed", Some(cents), None, None),
                AmountRule::Entered {
                    min_cents,
                    max_cents,
                } => ("entered", None, Some(min_cents), Some(max_cents)),
            };
            let form = serde_json::to_string(&s.fields).expect("fields serialise");
            let transfers = serde_json::to_string(&s.transfers).expect("transfers serialise");
            let taxonomy = s
                .transfers
                .first()
                .map(|t| t.category.clone())
                .unwrap_or_default();
            with_tx!(&mut tx, |conn| {
                sqlx::query(
                    "INSERT INTO services (ente_id, code, name, description, spontaneous, pay_for_others, amount_rule, fixed_amount, min_amount, max_amount, form_definition, causale_template, transfers, taxonomy, due_days, active, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $16, TRUE, $15, $15)
                     ON CONFLICT (ente_id, code) DO UPDATE SET name = excluded.name, description = excluded.description,
                       spontaneous = excluded.spontaneous, pay_for_others = excluded.pay_for_others, amount_rule = excluded.amount_rule,
                       fixed_amount = excluded.fixed_amount, min_amount = excluded.min_amount, max_amount = excluded.max_amount,
                       form_definition = excluded.form_definition, causale_template = excluded.causale_template,
                       transfers = excluded.transfers, taxonomy = excluded.taxonomy, due_days = excluded.due_days, active = TRUE, updated_at = excluded.updated_at",
                )
                .bind(ente_id)
                .bind(&s.code)
                .bind(&s.name)
                .bind(&s.description)
                .bind(s.spontaneous)
                .bind(s.pay_for_others)
                .bind(rule)
                .bind(fixed)
                .bind(min)
                .bind(max)
                .bind(form)
                .bind(&s.causale)
                .bind(transfers)
                .bind(taxonomy)
                .bind(now)
                .bind(i32::from(s.due_days))
                .execute(&mut *conn)
                .await?;
            });
        }
        tx.commit().await?;
        Ok(())
    }

    /// The active services of an ente, by name.
    pub async fn services(&self, ente_id: i64) -> StoreResult<Vec<Service>> {
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(
                "SELECT id, code, name, description, spontaneous, pay_for_others, amount_rule, fixed_amount, min_amount, max_amount, form_definition, causale_template, transfers, due_days
                 FROM services WHERE ente_id = $1 AND active = TRUE ORDER BY name",
            )
            .bind(ente_id)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(service_from_row)
                .collect::<Result<Vec<_>, _>>()
                .map_err(Into::into)
        })
    }

    /// One service by id (active or not: old positions still name it).
    pub async fn service_by_id(&self, id: i64) -> StoreResult<Option<Service>> {
        with_db!(self.db(), |pool| {
            let row = sqlx::query(
                "SELECT id, code, name, description, spontaneous, pay_for_others, amount_rule, fixed_amount, min_amount, max_amount, form_definition, causale_template, transfers, due_days
                 FROM services WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?;
            Ok(row.map(|r| service_from_row(&r)).transpose()?)
        })
    }
}

fn service_from_row(r: &impl DbRow) -> Result<Service, sqlx::Error> {
    let bad = |what: &str, e: serde_json::Error| {
        sqlx::Error::Decode(format!("stored service {what}: {e}").into())
    };
    let rule: String = r.col("amount_rule")?;
    let amount = if rule == "fixed" {
        AmountRule::Fixed {
            cents: r.col::<Option<i64>>("fixed_amount")?.unwrap_or_default(),
        }
    } else {
        AmountRule::Entered {
            min_cents: r.col::<Option<i64>>("min_amount")?.unwrap_or(1),
            max_cents: r.col::<Option<i64>>("max_amount")?.unwrap_or(i64::MAX),
        }
    };
    let form: String = r.col("form_definition")?;
    let transfers: String = r.col("transfers")?;
    Ok(Service {
        id: r.col("id")?,
        def: ServiceDef {
            code: r.col("code")?,
            name: r.col("name")?,
            description: r.col("description")?,
            spontaneous: r.col("spontaneous")?,
            pay_for_others: r.col("pay_for_others")?,
            amount,
            causale: r.col("causale_template")?,
            due_days: u16::try_from(r.col::<i32>("due_days")?).unwrap_or(30),
            fields: serde_json::from_str(&form).map_err(|e| bad("form", e))?,
            transfers: serde_json::from_str(&transfers).map_err(|e| bad("transfers", e))?,
        },
    })
}
