//! The outbox worker: claims due messages and delivers them over SMTP, with retries and
//! backoff. Several instances may run it at once: claims are exclusive leases.
//!
//! Delivery is at least once: a worker that dies after the SMTP server accepted a message and
//! before it is marked sent leaves it claimed until the lease runs out, and then it is sent
//! again. Every message carries a `Message-ID` derived from its outbox row, the same on every
//! attempt, so the copy is recognisable as the same message (mail clients and archives fold
//! duplicates by it). See docs/resilience.md.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Attachment, MultiPart, SinglePart, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::{Notify, watch};

use crate::clock::Timestamp;
use crate::store::Store;
use crate::store::outbox::OutboxMessage;

/// Attempts before a message is given up (marked failed).
pub const MAX_ATTEMPTS: i64 = 8;

/// An SMTP connection pool and the sender address.
#[derive(Clone)]
pub struct Smtp {
    /// The transport (connection pool).
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// The From address.
    from: lettre::message::Mailbox,
}

/// Where messages go.
#[derive(Clone)]
pub enum Delivery {
    /// A real SMTP server.
    Smtp(Box<Smtp>),
    /// The demo without SMTP: messages stay in the database and are read on the development
    /// mailbox page.
    DevMailbox,
}

impl Delivery {
    /// Builds the delivery from `smtp://host:port` (plain, for local relays), `smtps://…`
    /// (TLS) or `smtp://…?tls=required` (STARTTLS), with optional `user:password@`.
    pub fn smtp(url: &str, from: &str) -> anyhow::Result<Delivery> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("invalid SMTP URL: {e}"))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let from = from
            .parse()
            .map_err(|e| anyhow::anyhow!("invalid sender address {from:?}: {e}"))?;
        Ok(Delivery::Smtp(Box::new(Smtp { transport, from })))
    }
}

/// Delay before retry number `attempts` (1-based): 30 s, 2 min, 8 min, 32 min, then hourly.
pub fn backoff(attempts: i64) -> time::Duration {
    let minutes = match attempts {
        ..=1 => return time::Duration::seconds(30),
        2 => 2,
        3 => 8,
        4 => 32,
        _ => 60,
    };
    time::Duration::minutes(minutes)
}

/// The `Message-ID` of an outbox message: the same on every attempt (the idempotency key a
/// receiver can fold duplicates by), unique across databases thanks to the creation time.
pub fn message_id(m: &OutboxMessage, domain: &str) -> String {
    format!(
        "<sportello.{}.{}@{domain}>",
        m.id,
        m.created_at.get().unix_timestamp_nanos() / 1000
    )
}

/// Why a delivery failed, and whether asking again can change the answer.
struct Failure {
    error: String,
    /// The server refused for good (5xx), or the message cannot be built (a malformed
    /// address): retrying would only repeat the refusal.
    permanent: bool,
}

impl Failure {
    fn permanent(e: impl std::fmt::Display) -> Failure {
        Failure {
            error: e.to_string(),
            permanent: true,
        }
    }
}

async fn send(delivery: &Delivery, m: &OutboxMessage) -> Result<(), Failure> {
    match delivery {
        Delivery::DevMailbox => Ok(()),
        Delivery::Smtp(smtp) => {
            let Smtp { transport, from } = smtp.as_ref();
            let to: lettre::message::Mailbox =
                m.message.recipient.parse().map_err(Failure::permanent)?;
            let builder = Message::builder()
                .from(from.clone())
                .to(to)
                .subject(&m.message.subject)
                .message_id(Some(message_id(m, from.email.domain())));
            let email = match (&m.message.body_html, &m.message.attachment) {
                (Some(html), None) => builder.multipart(MultiPart::alternative_plain_html(
                    m.message.body_text.clone(),
                    html.clone(),
                )),
                (None, None) => builder
                    .header(ContentType::TEXT_PLAIN)
                    .body(m.message.body_text.clone()),
                (html, Some(file)) => {
                    let body = match html {
                        Some(html) => MultiPart::alternative_plain_html(
                            m.message.body_text.clone(),
                            html.clone(),
                        ),
                        None => MultiPart::mixed()
                            .singlepart(SinglePart::plain(m.message.body_text.clone())),
                    };
                    let content_type =
                        ContentType::parse(&file.content_type).map_err(Failure::permanent)?;
                    builder.multipart(MultiPart::mixed().multipart(body).singlepart(
                        Attachment::new(file.name.clone()).body(file.bytes.clone(), content_type),
                    ))
                }
            }
            .map_err(Failure::permanent)?;
            // 4xx answers, timeouts and broken connections may pass; a 5xx answer will not.
            transport.send(email).await.map_err(|e| Failure {
                permanent: e.is_permanent(),
                error: e.to_string(),
            })?;
            Ok(())
        }
    }
}

/// Messages of a batch sent at once, each on its own pooled SMTP connection. One at a time, a
/// worker sends about 20 messages a second whatever the server: lettre writes the final
/// `.` of DATA as its own small packet, which Nagle's algorithm holds until the server's
/// delayed ACK (40 ms on Linux). Several in flight hide that wait.
pub const PARALLEL_SENDS: usize = 8;

/// Messages a worker claims at once: what a crash can leave sent but not marked sent, to be
/// sent again when the lease runs out.
pub const CLAIM_BATCH: usize = 2 * PARALLEL_SENDS;

/// Delivers what is due now, holding each claim for `lease`; returns how many messages were
/// delivered. The messages of a batch delivered are marked sent together, after the batch.
pub async fn deliver_due(
    store: &Store,
    delivery: &Delivery,
    worker: &str,
    lease: time::Duration,
) -> anyhow::Result<usize> {
    use futures_util::StreamExt;
    let mut delivered = 0;
    loop {
        let batch = store
            .claim_outbox(worker, CLAIM_BATCH as i64, lease)
            .await?;
        let full = batch.len() == CLAIM_BATCH;
        let results: Vec<anyhow::Result<Option<i64>>> = futures_util::stream::iter(batch)
            .map(|m| deliver_one(store, delivery, worker, m))
            .buffer_unordered(PARALLEL_SENDS)
            .collect()
            .await;
        let mut sent = Vec::with_capacity(results.len());
        let mut failure = None;
        for result in results {
            match result {
                Ok(Some(id)) => sent.push(id),
                Ok(None) => {}
                Err(e) => failure = Some(e),
            }
        }
        store.mark_sent(&sent).await?;
        delivered += sent.len();
        if let Some(e) = failure {
            return Err(e);
        }
        // A batch that was not full took every message due: asking again now would find none.
        if !full {
            return Ok(delivered);
        }
    }
}

/// Sends one claimed message; `Some(id)` when it was delivered (the caller marks it sent), else
/// records the failure.
async fn deliver_one(
    store: &Store,
    delivery: &Delivery,
    worker: &str,
    m: OutboxMessage,
) -> anyhow::Result<Option<i64>> {
    match send(delivery, &m).await {
        Ok(()) => {
            tracing::info!(outbox_id = m.id, kind = %m.message.kind, "mail delivered");
            Ok(Some(m.id))
        }
        Err(f) => {
            let retry = (!f.permanent && m.attempts < MAX_ATTEMPTS)
                .then(|| Timestamp::now().plus(backoff(m.attempts)));
            let applied = store.mark_failed(m.id, worker, &f.error, retry).await?;
            tracing::warn!(
                outbox_id = m.id,
                attempts = m.attempts,
                error = %f.error,
                permanent = f.permanent,
                gave_up = retry.is_none(),
                lease_lost = !applied,
                "mail delivery failed"
            );
            Ok(None)
        }
    }
}

/// Runs until `shutdown` turns true: delivers due messages, then waits for a nudge (a message
/// queued by this instance) or the poll interval (messages queued by other instances, retries,
/// claims of a dead worker whose `lease` ran out).
pub async fn run(
    store: Store,
    delivery: Delivery,
    nudge: Arc<Notify>,
    (poll, lease): (Duration, time::Duration),
    mut shutdown: watch::Receiver<bool>,
) {
    let worker = format!("{}-{:08x}", std::process::id(), rand::random::<u32>());
    loop {
        if let Err(e) = deliver_due(&store, &delivery, &worker, lease).await {
            tracing::warn!(error = %e, "outbox worker pass failed");
        }
        tokio::select! {
            _ = nudge.notified() => {}
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_grows() {
        use super::backoff;
        assert_eq!(backoff(1), time::Duration::seconds(30));
        assert_eq!(backoff(3), time::Duration::minutes(8));
        assert_eq!(backoff(7), time::Duration::hours(1));
    }
}
