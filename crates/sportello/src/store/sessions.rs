//! Server-side sessions. The cookie holds a random secret; the table holds its hash.

use super::{Store, StoreResult};
use crate::clock::Timestamp;
use crate::db::DbRow;
use crate::with_db;

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the cookie secret.
    pub id_hash: String,
    /// The logged-in account, or None for a visitor.
    pub account_id: Option<i64>,
    /// The synchronizer token forms must echo back.
    pub csrf_token: String,
    /// Creation (login) time: the absolute timeout counts from here.
    pub created_at: Timestamp,
    /// Last request: the idle timeout counts from here.
    pub last_seen_at: Timestamp,
    /// Hard expiry.
    pub expires_at: Timestamp,
}

/// A table of sessions: the citizens' (`sessions`, owned by an account) or the back office's
/// (`operator_sessions`, owned by an operator). Same columns, same rules.
#[derive(Debug, Clone, Copy)]
pub struct SessionTable {
    name: &'static str,
    owner: &'static str,
}

/// The citizens' sessions.
pub const CITIZENS: SessionTable = SessionTable {
    name: "sessions",
    owner: "account_id",
};

/// The operators' sessions (`SessionRecord::account_id` holds the operator's id).
pub const OPERATORS: SessionTable = SessionTable {
    name: "operator_sessions",
    owner: "operator_id",
};

impl Store {
    /// Creates a session in table `t`.
    pub async fn create_session_in(
        &self,
        t: SessionTable,
        record: &SessionRecord,
        ip: &str,
        user_agent: &str,
    ) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO {} (id_hash, {}, csrf_token, ip, user_agent, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            t.name, t.owner
        );
        with_db!(self.db(), |pool| {
            sqlx::query(&sql)
                .bind(&record.id_hash)
                .bind(record.account_id)
                .bind(&record.csrf_token)
                .bind(ip)
                .bind(user_agent.chars().take(300).collect::<String>())
                .bind(record.created_at)
                .bind(record.last_seen_at)
                .bind(record.expires_at)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub(super) async fn session_in(
        &self,
        t: SessionTable,
        id_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<SessionRecord>> {
        let sql = format!(
            "SELECT id_hash, {} AS owner, csrf_token, created_at, last_seen_at, expires_at FROM {} WHERE id_hash = $1 AND expires_at > $2",
            t.owner, t.name
        );
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&sql)
                .bind(id_hash)
                .bind(now)
                .fetch_optional(pool)
                .await?;
            Ok(row
                .map(|r| -> Result<SessionRecord, sqlx::Error> {
                    Ok(SessionRecord {
                        id_hash: r.col("id_hash")?,
                        account_id: r.col("owner")?,
                        csrf_token: r.col("csrf_token")?,
                        created_at: r.col("created_at")?,
                        last_seen_at: r.col("last_seen_at")?,
                        expires_at: r.col("expires_at")?,
                    })
                })
                .transpose()?)
        })
    }

    pub(super) async fn touch_session_in(
        &self,
        t: SessionTable,
        id_hash: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        let sql = format!(
            "UPDATE {} SET last_seen_at = $2, expires_at = $3 WHERE id_hash = $1",
            t.name
        );
        with_db!(self.db(), |pool| {
            sqlx::query(&sql)
                .bind(id_hash)
                .bind(now)
                .bind(expires_at)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Ends a session of table `t`.
    pub async fn delete_session_in(&self, t: SessionTable, id_hash: &str) -> StoreResult<()> {
        let sql = format!("DELETE FROM {} WHERE id_hash = $1", t.name);
        with_db!(self.db(), |pool| {
            sqlx::query(&sql).bind(id_hash).execute(pool).await?;
        });
        Ok(())
    }

    /// Creates a session.
    pub async fn create_session(
        &self,
        record: &SessionRecord,
        ip: &str,
        user_agent: &str,
    ) -> StoreResult<()> {
        self.create_session_in(CITIZENS, record, ip, user_agent)
            .await
    }

    /// The session with this hash, if it has not expired.
    pub async fn session(
        &self,
        id_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<SessionRecord>> {
        self.session_in(CITIZENS, id_hash, now).await
    }

    /// Records activity and pushes the idle expiry forward (never past the absolute one, which
    /// the caller folds into `expires_at`).
    pub async fn touch_session(
        &self,
        id_hash: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        self.touch_session_in(CITIZENS, id_hash, now, expires_at)
            .await
    }

    /// Ends one session.
    pub async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        self.delete_session_in(CITIZENS, id_hash).await
    }

    /// Number of live sessions of an account.
    pub async fn session_count(&self, account_id: i64, now: Timestamp) -> StoreResult<i64> {
        with_db!(self.db(), |pool| {
            Ok(sqlx::query_scalar(
                "SELECT COUNT(*) FROM sessions WHERE account_id = $1 AND expires_at > $2",
            )
            .bind(account_id)
            .bind(now)
            .fetch_one(pool)
            .await?)
        })
    }

    /// Removes expired sessions; returns how many.
    pub async fn purge_expired_sessions(&self, now: Timestamp) -> StoreResult<u64> {
        with_db!(self.db(), |pool| {
            Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected())
        })
    }
}
