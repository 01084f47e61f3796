//! Rate limits and growing delays whose counters live in the database, so they hold across
//! every instance of the application.

use super::{Store, StoreResult};
use crate::clock::Timestamp;
use crate::db::DbRow;
use crate::with_db;

/// How long a streak of failures is remembered.
const STREAK: time::Duration = time::Duration::hours(1);
/// Longest delay imposed after repeated failures.
const MAX_DELAY_SECONDS: i64 = 15 * 60;

/// The delay after `failures` consecutive failures: none for the first `free`, then doubling
/// (2 s, 4 s, 8 s, …) up to 15 minutes.
pub fn failure_delay_seconds(failures: i64, free: i64) -> i64 {
    if failures <= free {
        0
    } else {
        let exp = u32::try_from(failures - free).unwrap_or(u32::MAX).min(20);
        (1i64 << exp).min(MAX_DELAY_SECONDS)
    }
}

impl Store {
    /// Counts a request against `bucket` in a fixed window; `Err(seconds)` when over `max`
    /// requests in the window (how long until it reopens).
    pub async fn rate_limit_hit(
        &self,
        bucket: &str,
        window: time::Duration,
        max: i64,
    ) -> StoreResult<Result<(), i64>> {
        let now = Timestamp::now();
        let window_open_after = now.plus(-window);
        let (hits, start): (i64, Timestamp) = with_db!(self.db(), |pool| {
            let row = sqlx::query(
                "INSERT INTO rate_limits (bucket, window_start, hits, failures) VALUES ($1, $2, 1, 0)
                 ON CONFLICT (bucket) DO UPDATE SET
                   hits = CASE WHEN rate_limits.window_start <= $3 THEN 1 ELSE rate_limits.hits + 1 END,
                   window_start = CASE WHEN rate_limits.window_start <= $3 THEN $2 ELSE rate_limits.window_start END
                 RETURNING hits, window_start",
            )
            .bind(bucket)
            .bind(now)
            .bind(window_open_after)
            .fetch_one(pool)
            .await?;
            (row.col("hits")?, row.col("window_start")?)
        });
        if hits > max {
            let reopens = start.plus(window);
            Ok(Err((reopens.unix() - now.unix()).max(1)))
        } else {
            Ok(Ok(()))
        }
    }

    /// Seconds the bucket is still blocked after failures, if any.
    pub async fn blocked_for(&self, bucket: &str) -> StoreResult<Option<i64>> {
        let now = Timestamp::now();
        let until: Option<Option<Timestamp>> = with_db!(self.db(), |pool| {
            sqlx::query_scalar("SELECT blocked_until FROM rate_limits WHERE bucket = $1")
                .bind(bucket)
                .fetch_optional(pool)
                .await?
        });
        Ok(until
            .flatten()
            .filter(|u| *u > now)
            .map(|u| (u.unix() - now.unix()).max(1)))
    }

    /// Records a failure (a wrong password): returns the delay now imposed, in seconds; the
    /// first `free` failures of a streak cost nothing. A streak
    /// of failures is forgotten an hour after it started. Use buckets of their own for failures
    /// (their window is the streak), not the ones of [`Store::rate_limit_hit`].
    pub async fn record_failure(&self, bucket: &str, free: i64) -> StoreResult<i64> {
        let now = Timestamp::now();
        let streak_over = now.plus(-STREAK);
        let failures: i64 = with_db!(self.db(), |pool| {
            sqlx::query_scalar(
                "INSERT INTO rate_limits (bucket, window_start, hits, failures) VALUES ($1, $2, 0, 1)
                 ON CONFLICT (bucket) DO UPDATE SET
                   failures = CASE WHEN rate_limits.window_start <= $3 THEN 1 ELSE rate_limits.failures + 1 END,
                   window_start = CASE WHEN rate_limits.window_start <= $3 THEN $2 ELSE rate_limits.window_start END
                 RETURNING failures",
            )
            .bind(bucket)
            .bind(now)
            .bind(streak_over)
            .fetch_one(pool)
            .await?
        });
        let delay = failure_delay_seconds(failures, free);
        if delay > 0 {
            let until = now.plus(time::Duration::seconds(delay));
            with_db!(self.db(), |pool| {
                sqlx::query("UPDATE rate_limits SET blocked_until = $2 WHERE bucket = $1")
                    .bind(bucket)
                    .bind(until)
                    .execute(pool)
                    .await?;
            });
        }
        Ok(delay)
    }

    /// Forgets the failures of a bucket (after a success).
    pub async fn clear_failures(&self, bucket: &str) -> StoreResult<()> {
        with_db!(self.db(), |pool| {
            sqlx::query(
                "UPDATE rate_limits SET failures = 0, blocked_until = NULL WHERE bucket = $1",
            )
            .bind(bucket)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn delay_grows_then_caps() {
        let d = |n| super::failure_delay_seconds(n, 3);
        assert_eq!((d(1), d(3), d(4), d(5), d(6)), (0, 0, 2, 4, 8));
        assert_eq!(d(13), 900);
        assert_eq!(d(1000), 900);
    }
}
