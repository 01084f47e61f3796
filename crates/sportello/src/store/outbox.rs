//! The transactional outbox: e-mails written in the same transaction as the change that causes
//! them, delivered later by a worker. Claims are leases, so several instances can run workers
//! at once and a crashed worker's messages are picked up again when its lease runs out.

use super::{Store, StoreResult};
use crate::clock::Timestamp;
use crate::db::batch::{Batch, Val};
use crate::db::{Db, DbRow, Tx};
use crate::{with_db, with_tx};

/// A message to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// What kind of message (`activation`, `password_reset`, `receipt`…), for logs and tests.
    pub kind: String,
    /// Recipient address.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub body_text: String,
    /// HTML body.
    pub body_html: Option<String>,
    /// A file sent with the message (the notice PDF), stored with the row: every attempt
    /// sends the same bytes.
    pub attachment: Option<Attachment>,
}

/// A file attached to a message.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    /// File name (`avviso-….pdf`).
    pub name: String,
    /// MIME type (`application/pdf`).
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("name", &self.name)
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Primary key.
    pub id: i64,
    /// Delivery attempts so far (including the current claim).
    pub attempts: i64,
    /// `pending`, `sent` or `failed`.
    pub state: String,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// The message.
    pub message: NewMessage,
}

const COLUMNS: &str = "id, kind, recipient, subject, body_text, body_html, state, attempts, last_error, created_at, attachment_name, attachment_type, attachment";

fn from_row(r: &impl DbRow) -> Result<OutboxMessage, sqlx::Error> {
    Ok(OutboxMessage {
        id: r.col("id")?,
        attempts: i64::from(r.col::<i32>("attempts")?),
        state: r.col("state")?,
        last_error: r.col("last_error")?,
        created_at: r.col("created_at")?,
        message: NewMessage {
            kind: r.col("kind")?,
            recipient: r.col("recipient")?,
            subject: r.col("subject")?,
            body_text: r.col("body_text")?,
            body_html: r.col("body_html")?,
            attachment: match (
                r.col::<Option<String>>("attachment_name")?,
                r.col::<Option<String>>("attachment_type")?,
                r.col::<Option<Vec<u8>>>("attachment")?,
            ) {
                (Some(name), Some(content_type), Some(bytes)) => Some(Attachment {
                    name,
                    content_type,
                    bytes,
                }),
                _ => None,
            },
        },
    })
}

/// The values of `$1…$9` of an outbox insert (`$6`: now, both when it is due and when it was
/// created).
fn message_vals(m: &NewMessage) -> Vec<Val> {
    vec![
        Val::Text(m.kind.clone()),
        Val::Text(m.recipient.clone()),
        Val::Text(m.subject.clone()),
        Val::Text(m.body_text.clone()),
        Val::OptText(m.body_html.clone()),
        Val::Ts(Timestamp::now()),
        Val::OptText(m.attachment.as_ref().map(|a| a.name.clone())),
        Val::OptText(m.attachment.as_ref().map(|a| a.content_type.clone())),
        Val::OptBytes(m.attachment.as_ref().map(|a| a.bytes.clone())),
    ]
}

impl Store {
    /// Adds to `batch` the statement that queues a message: it exists if and only if the
    /// batch's transaction commits.
    pub fn push_enqueue(batch: &mut Batch, m: &NewMessage) {
        batch.push(
            "INSERT INTO outbox (kind, recipient, subject, body_text, body_html, next_attempt_at, created_at, attachment_name, attachment_type, attachment)
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9)",
            message_vals(m),
        );
    }

    /// Adds to `batch` the statement that queues `m` if `condition` (a boolean SQL
    /// expression whose parameters start at `$10`, valued `vals`) holds when it runs: for a
    /// message whose wording depends on what the same transaction decides.
    pub fn push_enqueue_if(batch: &mut Batch, m: &NewMessage, condition: &str, vals: Vec<Val>) {
        let mut all = message_vals(m);
        all.extend(vals);
        batch.push(
            format!(
                "INSERT INTO outbox (kind, recipient, subject, body_text, body_html, next_attempt_at, created_at, attachment_name, attachment_type, attachment)
                 SELECT $1, $2, $3, $4, $5, $6, $6, $7, $8, $9 WHERE {condition}"
            ),
            all,
        );
    }

    /// Queues a message inside the caller's transaction: it exists if and only if the change
    /// that caused it is committed.
    pub async fn enqueue_in(tx: &mut Tx, m: &NewMessage) -> StoreResult<i64> {
        let now = Timestamp::now();
        Ok(with_tx!(tx, |conn| {
            sqlx::query_scalar(
                "INSERT INTO outbox (kind, recipient, subject, body_text, body_html, next_attempt_at, created_at, attachment_name, attachment_type, attachment)
                 VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9) RETURNING id",
            )
            .bind(&m.kind)
            .bind(&m.recipient)
            .bind(&m.subject)
            .bind(&m.body_text)
            .bind(&m.body_html)
            .bind(now)
            .bind(m.attachment.as_ref().map(|a| a.name.clone()))
            .bind(m.attachment.as_ref().map(|a| a.content_type.clone()))
            .bind(m.attachment.as_ref().map(|a| a.bytes.clone()))
            .fetch_one(conn)
            .await?
        }))
    }

    /// Claims up to `limit` due messages for `worker` for `lease`. A message is handed to one
    /// worker at a time: PostgreSQL skips rows other workers hold, SQLite has a single writer.
    pub async fn claim_outbox(
        &self,
        worker: &str,
        limit: i64,
        lease: time::Duration,
    ) -> StoreResult<Vec<OutboxMessage>> {
        let now = Timestamp::now();
        let until = now.plus(lease);
        let pick = "SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= $1
                    AND (locked_until IS NULL OR locked_until < $1) ORDER BY id LIMIT $2";
        let lock = match self.db() {
            Db::Sqlite(..) => "",
            Db::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE outbox SET locked_until = $3, locked_by = $4, attempts = attempts + 1
             WHERE id IN ({pick}{lock}) RETURNING {COLUMNS}"
        );
        // One statement, atomic on its own: no transaction around it.
        let turn = self.db().write_turn().await;
        let mut claimed = with_db!(self.db(), |pool| {
            sqlx::query(&sql)
                .bind(now)
                .bind(limit)
                .bind(until)
                .bind(worker)
                .fetch_all(pool)
                .await?
                .iter()
                .map(from_row)
                .collect::<Result<Vec<_>, _>>()?
        });
        drop(turn);
        claimed.sort_by_key(|m| m.id);
        Ok(claimed)
    }

    /// Records deliveries: one statement for a worker's whole batch.
    pub async fn mark_sent(&self, ids: &[i64]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "UPDATE outbox SET state = 'sent', sent_at = $1, locked_until = NULL, last_error = NULL
             WHERE id IN ({})",
            list.join(", ")
        );
        let _turn = self.db().write_turn().await;
        with_db!(self.db(), |pool| {
            let mut update = sqlx::query(&sql).bind(Timestamp::now());
            for id in ids {
                update = update.bind(id);
            }
            update.execute(pool).await?;
        });
        Ok(())
    }

    /// Records `worker`'s failed attempt: retried at `retry_at`, or given up when `None`.
    /// Only the worker that holds the claim decides: a worker whose lease ran out and was taken
    /// over (or whose message was delivered meanwhile) changes nothing, and gets `false`.
    pub async fn mark_failed(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> StoreResult<bool> {
        let changed = with_db!(self.db(), |pool| {
            sqlx::query(
                "UPDATE outbox SET state = $2, last_error = $3, next_attempt_at = COALESCE($4, next_attempt_at), locked_until = NULL
                 WHERE id = $1 AND state = 'pending' AND locked_by = $5",
            )
            .bind(id)
            .bind(if retry_at.is_some() { "pending" } else { "failed" })
            .bind(error)
            .bind(retry_at)
            .bind(worker)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(changed == 1)
    }

    /// Messages to one recipient, newest first (the development mailbox and tests).
    pub async fn outbox_for(
        &self,
        recipient: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<OutboxMessage>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM outbox WHERE ($1 IS NULL OR recipient = $1) ORDER BY id DESC LIMIT $2"
        );
        with_db!(self.db(), |pool| {
            Ok(sqlx::query(&sql)
                .bind(recipient)
                .bind(limit)
                .fetch_all(pool)
                .await?
                .iter()
                .map(from_row)
                .collect::<Result<Vec<_>, _>>()?)
        })
    }
}
