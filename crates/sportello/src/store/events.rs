//! The event log: every message exchanged with pagoPA, raw, with its outcome and duration.

use super::{Store, StoreResult};
use crate::clock::Timestamp;
use crate::db::DbRow;
use crate::db::batch::{Batch, Val};
use crate::with_db;

/// Direction of a message, seen from Sportello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// pagoPA called us.
    In,
    /// We called pagoPA.
    Out,
}

/// One exchange to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// In or out.
    pub direction: Direction,
    /// `soap`, `checkout`, `gpd`…
    pub channel: String,
    /// Operation name, e.g. `paVerifyPaymentNotice`.
    pub operation: String,
    /// A key to find related messages: notice number, IUV, cart id.
    pub correlation: Option<String>,
    /// The raw request.
    pub request: String,
    /// The raw response, if one was produced.
    pub response: Option<String>,
    /// `OK`, `KO`, or an error description.
    pub outcome: String,
    /// pagoPA fault code of a KO.
    pub fault_code: Option<String>,
    /// HTTP status.
    pub http_status: Option<u16>,
    /// How long it took.
    pub duration_ms: u64,
}

/// How much of a refused or undecodable request the log keeps. Real exchanges are kept whole;
/// junk is kept only enough to recognise it, so a flood cannot fill the database.
pub const EXCERPT_BYTES: usize = 2048;

/// Rows deleted per statement by the retention job, so no delete holds the table for long.
const PURGE_BATCH: i64 = 10_000;

impl Exchange {
    /// The first [`EXCERPT_BYTES`] of `raw` (cut at a character boundary) and how much was left
    /// out.
    pub fn excerpt(raw: &str) -> String {
        if raw.len() <= EXCERPT_BYTES {
            return raw.to_owned();
        }
        let mut end = EXCERPT_BYTES;
        while !raw.is_char_boundary(end) {
            end -= 1;
        }
        format!(
            "{}… [estratto: {} byte su {} non conservati]",
            &raw[..end],
            raw.len() - end,
            raw.len()
        )
    }
}

/// The event log's columns an exchange fills, in the order [`Store::push_exchange`] binds them.
const EXCHANGE_COLUMNS: &str = "INSERT INTO event_log (direction, channel, operation, correlation, request, response, outcome, fault_code, http_status, duration_ms, created_at)";

impl Store {
    /// Deletes the exchanges logged before `before` (the retention horizon); returns how many.
    pub async fn purge_event_log(&self, before: Timestamp) -> StoreResult<u64> {
        let mut total = 0;
        loop {
            let deleted = with_db!(self.db(), |pool| {
                sqlx::query(
                    "DELETE FROM event_log WHERE id IN
                       (SELECT id FROM event_log WHERE created_at < $1 ORDER BY id LIMIT $2)",
                )
                .bind(before)
                .bind(PURGE_BATCH)
                .execute(pool)
                .await?
                .rows_affected()
            });
            total += deleted;
            if deleted < PURGE_BATCH as u64 {
                return Ok(total);
            }
        }
    }

    /// Records an exchange. Logging must never lose the business outcome, so callers log after
    /// the fact and only warn when this fails.
    ///
    /// The row is committed with those of concurrent exchanges ([`crate::db::group`]): this
    /// returns once it is durable.
    pub async fn log_exchange(&self, e: &Exchange) -> StoreResult<()> {
        let mut batch = Batch::independent();
        Store::push_exchange(&mut batch, e);
        self.commit_grouped(batch).await
    }

    /// Adds to `batch` the statement that writes an exchange: it is in the log if and only if
    /// the batch's transaction commits.
    pub fn push_exchange(batch: &mut Batch, e: &Exchange) {
        batch.insert_row(
            EXCHANGE_COLUMNS,
            vec![
                Val::Text(
                    match e.direction {
                        Direction::In => "in",
                        Direction::Out => "out",
                    }
                    .to_owned(),
                ),
                Val::Text(e.channel.clone()),
                Val::Text(e.operation.clone()),
                Val::OptText(e.correlation.clone()),
                Val::Text(e.request.clone()),
                Val::OptText(e.response.clone()),
                Val::Text(e.outcome.clone()),
                Val::OptText(e.fault_code.clone()),
                Val::OptInt32(e.http_status.map(i32::from)),
                Val::Int(i64::try_from(e.duration_ms).unwrap_or(i64::MAX)),
                Val::Ts(Timestamp::now()),
            ],
        );
    }

    /// Exchanges with a correlation key, oldest first.
    pub async fn exchanges_for(&self, correlation: &str) -> StoreResult<Vec<Exchange>> {
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(
                "SELECT direction, channel, operation, correlation, request, response, outcome, fault_code, http_status, duration_ms
                 FROM event_log WHERE correlation = $1 ORDER BY id",
            )
            .bind(correlation)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    let direction: String = r.col("direction")?;
                    Ok(Exchange {
                        direction: if direction == "in" {
                            Direction::In
                        } else {
                            Direction::Out
                        },
                        channel: r.col("channel")?,
                        operation: r.col("operation")?,
                        correlation: r.col("correlation")?,
                        request: r.col("request")?,
                        response: r.col("response")?,
                        outcome: r.col("outcome")?,
                        fault_code: r.col("fault_code")?,
                        http_status: r
                            .col::<Option<i32>>("http_status")?
                            .and_then(|s| u16::try_from(s).ok()),
                        duration_ms: u64::try_from(r.col::<i64>("duration_ms")?).unwrap_or(0),
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(Into::into)
        })
    }
}
