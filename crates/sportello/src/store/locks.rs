//! Work that one instance at a time should do, when several share a database: a PostgreSQL
//! session advisory lock held on a dedicated connection. If the instance dies, the connection
//! closes and the lock with it; nothing has to expire. SQLite is one instance's file: the lock
//! is always granted.

use sqlx::pool::PoolConnection;

use super::{Store, StoreResult};
use crate::db::Db;

/// Advisory lock keys (one per kind of exclusive work).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKey {
    /// The periodic jobs (`crate::jobs`).
    Jobs,
}

impl LockKey {
    fn key(self) -> i64 {
        match self {
            // "SPOR" "JOBS" in ASCII: unlikely to meet another application's key.
            LockKey::Jobs => 0x5350_4f52_4a4f_4253,
        }
    }
}

/// A held lock; release it with [`ExclusiveLock::release`]. Its connection is never returned
/// to the pool: dropped (released or not), it is closed, which frees the lock in any case.
pub struct ExclusiveLock {
    conn: Option<(PoolConnection<sqlx::Postgres>, i64)>,
}

impl Store {
    /// Takes `key` if no other instance holds it; `None` when one does.
    pub async fn try_lock(&self, key: LockKey) -> StoreResult<Option<ExclusiveLock>> {
        match self.db() {
            Db::Sqlite(..) => Ok(Some(ExclusiveLock { conn: None })),
            Db::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(key.key())
                    .fetch_one(&mut *conn)
                    .await?;
                if !got {
                    return Ok(None);
                }
                conn.close_on_drop();
                Ok(Some(ExclusiveLock {
                    conn: Some((conn, key.key())),
                }))
            }
        }
    }
}

impl ExclusiveLock {
    /// Releases the lock (its connection is then closed: a lock is taken once a minute at
    /// most, so the pool loses nothing worth keeping).
    pub async fn release(mut self) -> StoreResult<()> {
        if let Some((mut conn, key)) = self.conn.take() {
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(key)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}
