//! The audit log: who did what, when, from which address, with which outcome.

use super::{Store, StoreResult};
use crate::clock::Timestamp;
use crate::db::{DbRow, Tx};
use crate::{with_db, with_tx};

/// One audit event to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// The account concerned, when known.
    pub account_id: Option<i64>,
    /// Who acted: a username, `api:<key id>`, `system`, or the typed login name of a failure.
    pub actor: String,
    /// What happened, e.g. `login`, `register`, `password_reset`.
    pub action: String,
    /// `ok`, or why it failed.
    pub outcome: String,
    /// Client address.
    pub ip: String,
    /// Extra detail, JSON.
    pub detail: String,
}

/// A recorded audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// When.
    pub occurred_at: Timestamp,
    /// The event.
    pub event: AuditEvent,
}

const INSERT: &str = "INSERT INTO audit_log (occurred_at, account_id, actor, action, outcome, ip, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)";

impl Store {
    /// Records an audit event on its own.
    pub async fn audit(&self, e: &AuditEvent) -> StoreResult<()> {
        with_db!(self.db(), |pool| {
            sqlx::query(INSERT)
                .bind(Timestamp::now())
                .bind(e.account_id)
                .bind(&e.actor)
                .bind(&e.action)
                .bind(&e.outcome)
                .bind(&e.ip)
                .bind(&e.detail)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Records an audit event inside the transaction of the change it describes.
    pub async fn audit_in(tx: &mut Tx, e: &AuditEvent) -> StoreResult<()> {
        with_tx!(tx, |conn| {
            sqlx::query(INSERT)
                .bind(Timestamp::now())
                .bind(e.account_id)
                .bind(&e.actor)
                .bind(&e.action)
                .bind(&e.outcome)
                .bind(&e.ip)
                .bind(&e.detail)
                .execute(conn)
                .await?;
        });
        Ok(())
    }

    /// The most recent audit entries, newest first (optionally for one action).
    pub async fn recent_audit(
        &self,
        action: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<AuditEntry>> {
        let sql =
            "SELECT occurred_at, account_id, actor, action, outcome, ip, detail FROM audit_log
                   WHERE ($1 IS NULL OR action = $1) ORDER BY id DESC LIMIT $2";
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(sql)
                .bind(action)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(AuditEntry {
                        occurred_at: r.col("occurred_at")?,
                        event: AuditEvent {
                            account_id: r.col("account_id")?,
                            actor: r.col("actor")?,
                            action: r.col("action")?,
                            outcome: r.col("outcome")?,
                            ip: r.col("ip")?,
                            detail: r.col("detail")?,
                        },
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(Into::into)
        })
    }
}
