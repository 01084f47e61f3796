//! The outbox worker against an SMTP server on loopback that refuses: a temporary refusal (4xx)
//! is retried with the backoff schedule and given up after the last attempt, a permanent one
//! (5xx) at once; a lease that runs out is taken over by another worker, and the worker that
//! lost it changes nothing afterwards. On SQLite and on PostgreSQL.
//!
//! Time passing is simulated by moving the row's own times (`next_attempt_at`, `locked_until`)
//! into the past: what a later pass of the worker would find.

mod common;

use std::collections::HashSet;

use common::TestDb;
use common::smtp::SmtpSink;
use sportello::clock::Timestamp;
use sportello::mail::worker::{Delivery, MAX_ATTEMPTS, backoff, deliver_due};
use sportello::store::Store;
use sportello::store::outbox::{NewMessage, OutboxMessage};
use sportello::with_db;

store_suite!(
    temporary_refusals_are_retried_with_backoff_then_given_up,
    a_permanent_refusal_is_given_up_at_once,
    a_retry_after_a_temporary_refusal_delivers_once,
    an_expired_lease_is_taken_over_and_the_late_worker_changes_nothing,
    concurrent_workers_deliver_each_message_once,
);

const TEMPORARY: &str = "451 4.3.0 Servizio temporaneamente non disponibile";
const PERMANENT: &str = "550 5.1.1 Casella inesistente";
/// The lease the serve command gives a claim by default (mail.lease_seconds = 120).
const LEASE: time::Duration = time::Duration::minutes(2);

async fn enqueue(store: &Store, to: &str) -> i64 {
    let mut tx = store.db().begin().await.unwrap();
    let id = Store::enqueue_in(
        &mut tx,
        &NewMessage {
            kind: "test".into(),
            recipient: to.into(),
            subject: "Avviso di prova".into(),
            body_text: "Testo di prova".into(),
            body_html: None,
            attachment: None,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

/// The stored message and its schedule: when it is next due and who holds it until when.
struct Row {
    message: OutboxMessage,
    next_attempt_at: Timestamp,
    locked_by: Option<String>,
}

async fn row(store: &Store, id: i64) -> Row {
    let message = store
        .outbox_for(None, 1000)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.id == id)
        .expect("the message is kept");
    let (next_attempt_at, locked_by): (Timestamp, Option<String>) = with_db!(store.db(), |pool| {
        sqlx::query_as("SELECT next_attempt_at, locked_by FROM outbox WHERE id = $1")
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap()
    });
    Row {
        message,
        next_attempt_at,
        locked_by,
    }
}

/// Moves `column` of message `id` (when set) a second into the past; how many rows changed.
async fn into_the_past(store: &Store, column: &str, id: i64) -> u64 {
    let past = Timestamp::now().plus(time::Duration::seconds(-1));
    let sql = format!("UPDATE outbox SET {column} = $1 WHERE id = $2 AND {column} IS NOT NULL");
    with_db!(store.db(), |pool| {
        sqlx::query(&sql)
            .bind(past)
            .bind(id)
            .execute(pool)
            .await
            .unwrap()
            .rows_affected()
    })
}

/// The retry time of `id` comes: its next attempt is due now.
async fn retry_time_comes(store: &Store, id: i64) {
    into_the_past(store, "next_attempt_at", id).await;
}

/// The lease on `id` runs out (its worker died or hung).
async fn lease_runs_out(store: &Store, id: i64) {
    assert_eq!(
        into_the_past(store, "locked_until", id).await,
        1,
        "message {id} was leased"
    );
}

fn smtp(sink: &SmtpSink) -> Delivery {
    Delivery::smtp(
        &sink.url(),
        "Comune di Piacenza <noreply@comune.piacenza.it>",
    )
    .unwrap()
}

async fn temporary_refusals_are_retried_with_backoff_then_given_up(store: Store) {
    let sink = SmtpSink::start().await;
    sink.refuse_with(Some(TEMPORARY));
    let delivery = smtp(&sink);
    let id = enqueue(&store, "mario.rossi@example.it").await;
    for attempt in 1..=MAX_ATTEMPTS {
        let before = Timestamp::now();
        let delivered = deliver_due(&store, &delivery, "worker-a", LEASE)
            .await
            .unwrap();
        let after = Timestamp::now();
        assert_eq!(delivered, 0);
        assert_eq!(
            sink.rcpt_commands(),
            attempt as usize,
            "attempt {attempt} reached the server once"
        );
        let r = row(&store, id).await;
        assert_eq!(r.message.attempts, attempt);
        assert!(
            r.message
                .last_error
                .as_deref()
                .unwrap_or("")
                .contains("451"),
            "the server's answer is kept: {:?}",
            r.message.last_error
        );
        if attempt < MAX_ATTEMPTS {
            assert_eq!(r.message.state, "pending", "attempt {attempt}");
            // The next attempt waits for the backoff of this one.
            let wait = backoff(attempt);
            assert!(
                r.next_attempt_at >= before.plus(wait) && r.next_attempt_at <= after.plus(wait),
                "attempt {attempt}: next at {:?}, expected {wait} after {:?}",
                r.next_attempt_at,
                before
            );
            // Not due yet: another pass does not knock again.
            assert_eq!(
                deliver_due(&store, &delivery, "worker-b", LEASE)
                    .await
                    .unwrap(),
                0
            );
            assert_eq!(sink.rcpt_commands(), attempt as usize, "backoff respected");
            retry_time_comes(&store, id).await;
        }
    }
    // The last attempt failed: given up, and visibly so.
    let r = row(&store, id).await;
    assert_eq!(r.message.state, "failed");
    assert_eq!(r.message.attempts, MAX_ATTEMPTS);
    // Never tried again, even when the server would now accept and the time has come.
    sink.refuse_with(None);
    retry_time_comes(&store, id).await;
    assert_eq!(
        deliver_due(&store, &delivery, "worker-a", LEASE)
            .await
            .unwrap(),
        0
    );
    assert_eq!(sink.rcpt_commands(), MAX_ATTEMPTS as usize);
    assert!(sink.received().is_empty());
    assert_eq!(row(&store, id).await.message.state, "failed");
}

async fn a_permanent_refusal_is_given_up_at_once(store: Store) {
    let sink = SmtpSink::start().await;
    sink.refuse_with(Some(PERMANENT));
    let delivery = smtp(&sink);
    let id = enqueue(&store, "nessuno@example.it").await;
    assert_eq!(
        deliver_due(&store, &delivery, "worker-a", LEASE)
            .await
            .unwrap(),
        0
    );
    let r = row(&store, id).await;
    assert_eq!(
        (r.message.state.as_str(), r.message.attempts),
        ("failed", 1),
        "a 5xx answer will not change by asking again"
    );
    assert!(r.message.last_error.unwrap().contains("550"));
    sink.refuse_with(None);
    retry_time_comes(&store, id).await;
    assert_eq!(
        deliver_due(&store, &delivery, "worker-a", LEASE)
            .await
            .unwrap(),
        0
    );
    assert_eq!(sink.rcpt_commands(), 1);
}

async fn a_retry_after_a_temporary_refusal_delivers_once(store: Store) {
    let sink = SmtpSink::start().await;
    sink.refuse_with(Some(TEMPORARY));
    let delivery = smtp(&sink);
    let id = enqueue(&store, "anna.bianchi@example.it").await;
    assert_eq!(
        deliver_due(&store, &delivery, "worker-a", LEASE)
            .await
            .unwrap(),
        0
    );
    assert_eq!(row(&store, id).await.message.state, "pending");
    sink.refuse_with(None);
    retry_time_comes(&store, id).await;
    assert_eq!(
        deliver_due(&store, &delivery, "worker-a", LEASE)
            .await
            .unwrap(),
        1
    );
    let r = row(&store, id).await;
    assert_eq!((r.message.state.as_str(), r.message.attempts), ("sent", 2));
    assert_eq!(r.message.last_error, None);
    retry_time_comes(&store, id).await;
    assert_eq!(
        deliver_due(&store, &delivery, "worker-a", LEASE)
            .await
            .unwrap(),
        0
    );
    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].rcpt, ["anna.bianchi@example.it"]);
    assert_eq!(received[0].subject(), "Avviso di prova");
}

async fn an_expired_lease_is_taken_over_and_the_late_worker_changes_nothing(store: Store) {
    let sink = SmtpSink::start().await;
    let delivery = smtp(&sink);
    let id = enqueue(&store, "giulia.verdi@example.it").await;
    // Worker A claims the message and hangs in the middle of its delivery.
    let claimed = store
        .claim_outbox("worker-a", 10, time::Duration::minutes(2))
        .await
        .unwrap();
    assert_eq!(claimed.iter().map(|m| m.id).collect::<Vec<_>>(), [id]);
    // While A holds the lease nobody else touches the message.
    assert_eq!(
        deliver_due(&store, &delivery, "worker-b", LEASE)
            .await
            .unwrap(),
        0
    );
    assert_eq!(sink.rcpt_commands(), 0);
    assert_eq!(row(&store, id).await.locked_by.as_deref(), Some("worker-a"));
    // A's lease runs out: B takes the message over and delivers it.
    lease_runs_out(&store, id).await;
    assert_eq!(
        deliver_due(&store, &delivery, "worker-b", LEASE)
            .await
            .unwrap(),
        1
    );
    let r = row(&store, id).await;
    assert_eq!((r.message.state.as_str(), r.message.attempts), ("sent", 2));
    assert_eq!(r.locked_by.as_deref(), Some("worker-b"));
    // A wakes up and reports its own attempt as failed: the message is no longer A's to
    // reschedule, and nothing changes.
    let applied = store
        .mark_failed(id, "worker-a", "timeout", Some(Timestamp::now()))
        .await
        .unwrap();
    assert!(!applied, "a worker that lost its lease cannot reschedule");
    let r = row(&store, id).await;
    assert_eq!(r.message.state, "sent");
    assert_eq!(r.message.last_error, None);
    retry_time_comes(&store, id).await;
    assert_eq!(
        deliver_due(&store, &delivery, "worker-c", LEASE)
            .await
            .unwrap(),
        0
    );
    assert_eq!(sink.received().len(), 1, "delivered once");

    // The same while B still holds its own lease: A's late report neither frees the message
    // for a third worker nor changes its schedule.
    let id = enqueue(&store, "lucia.verdi@example.it").await;
    store
        .claim_outbox("worker-a", 10, time::Duration::minutes(2))
        .await
        .unwrap();
    lease_runs_out(&store, id).await;
    let taken = store
        .claim_outbox("worker-b", 10, time::Duration::minutes(2))
        .await
        .unwrap();
    assert_eq!(taken.iter().map(|m| m.id).collect::<Vec<_>>(), [id]);
    assert!(
        !store
            .mark_failed(id, "worker-a", "timeout", Some(Timestamp::now()))
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_outbox("worker-c", 10, time::Duration::minutes(2))
            .await
            .unwrap()
            .is_empty(),
        "still B's"
    );
    // B's own report is applied.
    assert!(
        store
            .mark_failed(id, "worker-b", "timeout", None)
            .await
            .unwrap()
    );
    assert_eq!(row(&store, id).await.message.state, "failed");
}

async fn concurrent_workers_deliver_each_message_once(store: Store) {
    let sink = SmtpSink::start().await;
    let delivery = smtp(&sink);
    let mut expected = HashSet::new();
    for i in 0..24 {
        let to = format!("cittadino{i}@example.it");
        enqueue(&store, &to).await;
        expected.insert(to);
    }
    let mut workers = Vec::new();
    for w in 0..3 {
        let (store, delivery) = (store.clone(), delivery.clone());
        workers.push(tokio::spawn(async move {
            deliver_due(&store, &delivery, &format!("worker-{w}"), LEASE)
                .await
                .unwrap()
        }));
    }
    let mut delivered = 0;
    for w in workers {
        delivered += w.await.unwrap();
    }
    assert_eq!(delivered, 24);
    let received: Vec<String> = sink.received().into_iter().flat_map(|m| m.rcpt).collect();
    assert_eq!(received.len(), 24, "no message delivered twice");
    assert_eq!(received.into_iter().collect::<HashSet<_>>(), expected);
    let all = store.outbox_for(None, 100).await.unwrap();
    assert!(all.iter().all(|m| m.state == "sent" && m.attempts == 1));
}
