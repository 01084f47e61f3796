//! One storage suite, run unchanged against SQLite and PostgreSQL.
//!
//! Each scenario is an `async fn(Store)`; the `suite!` macro turns it into a test per database.
//! PostgreSQL tests get a fresh database each; they fail when the server is missing, unless
//! `SPORTELLO_TEST_SKIP_POSTGRES=1` leaves PostgreSQL out of the run.

mod common;

use std::collections::HashSet;

use common::TestDb;
use pagopa::{Cents, Iuv, NoticeNumber, SegregationCode};
use sportello::clock::Timestamp;
use sportello::config::Config;
use sportello::db::migrate::MIGRATIONS;
use sportello::domain::position::{
    Debtor, Destination, NewPosition, OptionStatus, Origin, PaymentOption, PositionStatus,
    SubjectType, Transfer,
};
use sportello::store::audit::AuditEvent;
use sportello::store::events::{Direction, Exchange};
use sportello::store::outbox::NewMessage;
use sportello::store::positions::{PositionExtras, PositionFilter, PositionOrder};
use sportello::store::receipts::NewReceipt;
use sportello::store::station::{NewAttempt, ReceiptTransferRow, StationReceipt};
use sportello::store::{Store, StoreError};

store_suite!(
    migrations_are_applied_once,
    ente_is_upserted_from_configuration,
    iuv_sequence_never_repeats_under_concurrency,
    positions_round_trip_with_options_and_transfers,
    duplicate_iupd_or_iuv_is_a_conflict_and_writes_nothing,
    money_constraints_hold_in_the_database,
    receipts_are_unique_per_receipt_id,
    outbox_rows_follow_their_transaction,
    a_batch_is_all_or_nothing,
    grouped_commits_keep_every_batch_and_fail_only_the_bad_one,
    outbox_claims_are_exclusive_and_retries_wait,
    audit_and_event_log_round_trip,
    timestamps_read_back_exactly_and_in_order,
    services_follow_the_configured_catalog,
    batch_insert_keeps_extras_and_lists_with_filters,
    time_rules_expire_overdue_and_activate_published,
    replace_status_and_delete_under_lock,
    import_lookups_savepoints_and_iuv_blocks,
    station_finds_notices_and_records_attempts,
    station_receipts_keep_every_column,
    station_settles_options_positions_and_checkouts,
    station_allows_one_closing_receipt_per_option,
    checkouts_move_through_their_states_for_their_owner_only,
    exclusive_work_is_taken_by_one_holder_at_a_time,
);

fn demo_config() -> Config {
    Config::load(Some(std::path::Path::new("/dev/null")), Vec::new()).unwrap()
}

async fn demo_ente(store: &Store) -> i64 {
    store.upsert_ente(&demo_config().ente).await.unwrap().id
}

fn nav(seq: u64) -> NoticeNumber {
    NoticeNumber::from_aux3(SegregationCode::parse("01").unwrap(), seq).unwrap()
}

fn option(seq: u64, amounts: &[i64]) -> PaymentOption {
    let nav = nav(seq);
    let transfers: Vec<Transfer> = amounts
        .iter()
        .enumerate()
        .map(|(i, a)| Transfer {
            id_transfer: i as u8 + 1,
            amount: Cents::new(*a),
            organization_fiscal_code: "00229080338".into(),
            remittance_information: format!("quota {}", i + 1),
            category: "9/0101108TS/".into(),
            destination: if i == 1 {
                Destination::Stamp {
                    hash_document: "aGFzaA==".into(),
                    stamp_type: "01".into(),
                    provincial_residence: "PC".into(),
                }
            } else {
                Destination::Iban {
                    iban: sportello::config::DEMO_IBAN.into(),
                    postal_iban: None,
                }
            },
            company_name: None,
        })
        .collect();
    PaymentOption {
        iuv: nav.iuv(),
        nav,
        amount: Cents::new(amounts.iter().sum()),
        description: format!("Rata {seq}"),
        is_partial_payment: false,
        due_date: Timestamp::parse("2030-01-31T22:59:59.000000Z").unwrap(),
        retention_date: None,
        fee: Cents::new(0),
        status: OptionStatus::Unpaid,
        metadata: "[]".into(),
        transfers,
    }
}

fn position(iupd: &str, options: Vec<PaymentOption>) -> NewPosition {
    NewPosition {
        iupd: iupd.into(),
        debtor: Debtor {
            kind: SubjectType::F,
            fiscal_code: "RSSMRA80A01H501U".into(),
            full_name: "Mario Rossi".into(),
            street_name: Some("Via Roma".into()),
            civic_number: Some("1".into()),
            postal_code: Some("29121".into()),
            city: Some("Piacenza".into()),
            province: Some("PC".into()),
            region: None,
            country: Some("IT".into()),
            email: Some("mario.rossi@example.it".into()),
            phone: None,
        },
        company_name: "Comune di Piacenza".into(),
        office_name: None,
        validity_date: None,
        switch_to_expired: false,
        status: PositionStatus::Valid,
        options,
        service_id: None,
        origin: Origin::Api,
        created_by_account_id: None,
        abandon_at: None,
    }
}

async fn migrations_are_applied_once(store: Store) {
    let status = store.migration_status().await.unwrap();
    assert!(status.is_current());
    assert_eq!(
        status.applied,
        MIGRATIONS.iter().map(|m| m.version).collect::<Vec<_>>()
    );
    assert!(
        store.migrate().await.unwrap().is_empty(),
        "a second run applies nothing"
    );
}

async fn ente_is_upserted_from_configuration(store: Store) {
    let mut config = demo_config().ente;
    let first = store.upsert_ente(&config).await.unwrap();
    assert_eq!(first.fiscal_code, "00229080338");
    assert_eq!(first.id_station, "00229080338_01");
    assert_eq!(first.segregation_code, "01");
    config.name = "Comune di Piacenza — Servizi".into();
    let second = store.upsert_ente(&config).await.unwrap();
    assert_eq!(second.id, first.id, "the fiscal code is the key");
    assert_eq!(second.name, "Comune di Piacenza — Servizi");
    assert_eq!(store.list_enti().await.unwrap().len(), 1);
    assert!(
        store
            .ente_by_fiscal_code("01234567890")
            .await
            .unwrap()
            .is_none()
    );
    // Notice numbers are minted for the ente, and the record of those minted survives the
    // update (a number is never handed out twice).
    let a = store.mint_iuv_base(first.id).await.unwrap();
    store.upsert_ente(&config).await.unwrap();
    let b = store.mint_iuv_base(first.id).await.unwrap();
    assert_ne!(a, b);
    let minted: Vec<i64> = sportello::with_db!(store.db(), |pool| {
        sqlx::query_scalar("SELECT base FROM iuv_minted WHERE ente_id = $1 ORDER BY minted_at")
            .bind(first.id)
            .fetch_all(pool)
            .await
            .unwrap()
    });
    assert_eq!(minted.len(), 2);
}

async fn iuv_sequence_never_repeats_under_concurrency(store: Store) {
    let ente = demo_ente(&store).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..25 {
                got.push(store.mint_iuv_base(ente).await.unwrap());
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let distinct: HashSet<u64> = all.iter().copied().collect();
    assert_eq!(distinct.len(), 200, "every number handed out once");
    assert!(all.iter().all(|n| *n >= 1));
    // Bases are drawn at random: a committed one is never handed out again, whatever
    // transaction comes and goes in between.
    let taken = store.mint_iuv_base(ente).await.unwrap();
    let tx = store.db().begin().await.unwrap();
    tx.rollback().await.unwrap();
    let next = store.mint_iuv_base(ente).await.unwrap();
    assert_ne!(next, taken);
    assert!(!distinct.contains(&taken) && !distinct.contains(&next));
}

async fn positions_round_trip_with_options_and_transfers(store: Store) {
    let ente = demo_ente(&store).await;
    let new = position(
        "IUPD-RT-1",
        vec![option(1, &[1000, 1600]), option(2, &[500])],
    );
    store.insert_position(ente, &new).await.unwrap();
    let got = store
        .position_by_iupd(ente, "IUPD-RT-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.iupd, new.iupd);
    assert_eq!(got.debtor, new.debtor);
    assert_eq!(got.status, PositionStatus::Valid);
    assert!(got.published_at.is_some());
    assert_eq!(
        got.options, new.options,
        "options and transfers read back exactly"
    );
    assert_eq!(got.options[0].amount, Cents::new(2600));
    assert!(got.options.iter().all(PaymentOption::is_consistent));
    assert!(
        store
            .position_by_iupd(ente, "missing")
            .await
            .unwrap()
            .is_none()
    );
}

async fn duplicate_iupd_or_iuv_is_a_conflict_and_writes_nothing(store: Store) {
    let ente = demo_ente(&store).await;
    store
        .insert_position(ente, &position("DUP-1", vec![option(10, &[100])]))
        .await
        .unwrap();

    let err = store
        .insert_position(ente, &position("DUP-1", vec![option(11, &[100])]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(ref what) if what.contains("DUP-1")),
        "{err:?}"
    );

    // Same IUV in another position: refused, and the new position is not left half-written.
    let err = store
        .insert_position(
            ente,
            &position("DUP-2", vec![option(12, &[100]), option(10, &[100])]),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(ref what) if what.contains("IUV")),
        "{err:?}"
    );
    assert!(
        store
            .position_by_iupd(ente, "DUP-2")
            .await
            .unwrap()
            .is_none()
    );
    // Option 12 was rolled back with it, so it can be used now.
    store
        .insert_position(ente, &position("DUP-3", vec![option(12, &[100])]))
        .await
        .unwrap();
}

async fn money_constraints_hold_in_the_database(store: Store) {
    let ente = demo_ente(&store).await;
    let mut zero = option(20, &[100]);
    zero.amount = Cents::new(0);
    let err = store
        .insert_position(ente, &position("ZERO", vec![zero]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Db(ref e) if sportello::db::is_constraint_violation(e)),
        "{err:?}"
    );

    let mut negative = option(21, &[100]);
    negative.transfers[0].amount = Cents::new(-100);
    let err = store
        .insert_position(ente, &position("NEG", vec![negative]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Db(ref e) if sportello::db::is_constraint_violation(e)),
        "{err:?}"
    );

    let mut six = option(22, &[100]);
    six.transfers[0].id_transfer = 6;
    assert!(
        store
            .insert_position(ente, &position("SIX", vec![six]))
            .await
            .is_err()
    );

    // A position for an ente that does not exist violates the foreign key.
    let err = store
        .insert_position(ente + 1000, &position("FK", vec![option(23, &[100])]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Db(ref e) if sportello::db::is_constraint_violation(e)),
        "{err:?}"
    );
    for iupd in ["ZERO", "NEG", "SIX", "FK"] {
        assert!(store.position_by_iupd(ente, iupd).await.unwrap().is_none());
    }
}

fn receipt(id: &str, notice: &NoticeNumber, refund: bool) -> NewReceipt {
    NewReceipt {
        receipt_id: id.into(),
        payment_option_id: None,
        notice_number: notice.as_str().into(),
        iuv: notice.iuv().as_str().into(),
        outcome: "OK".into(),
        amount: 110,
        description: "pagamento di test".into(),
        company_name: "Comune di Piacenza".into(),
        debtor_type: "F".into(),
        debtor_fiscal_code: "RSSMRA80A01H501U".into(),
        debtor_name: "Mario Rossi".into(),
        id_psp: "BCITITMM".into(),
        psp_company_name: "Intesa Sanpaolo S.p.A.".into(),
        id_channel: "BCITITMM_01".into(),
        payment_date_time: Timestamp::now(),
        refund_required: refund,
        raw_xml: "<receipt/>".into(),
    }
}

async fn receipts_are_unique_per_receipt_id(store: Store) {
    let ente = demo_ente(&store).await;
    let notice = nav(30);
    let mut tx = store.db().begin().await.unwrap();
    Store::insert_receipt_in(&mut tx, ente, &receipt("r-1", &notice, false))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.db().begin().await.unwrap();
    let err = Store::insert_receipt_in(&mut tx, ente, &receipt("r-1", &notice, false))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    drop(tx);

    // A different receipt for the same notice is kept, flagged for refund.
    let mut tx = store.db().begin().await.unwrap();
    Store::insert_receipt_in(&mut tx, ente, &receipt("r-2", &notice, true))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.receipt_counts(ente, notice.as_str()).await.unwrap(),
        (2, 1)
    );
}

fn mail(to: &str) -> NewMessage {
    NewMessage {
        kind: "test".into(),
        recipient: to.into(),
        subject: "Prova".into(),
        body_text: "Testo".into(),
        body_html: Some("<p>Testo</p>".into()),
        attachment: None,
    }
}

async fn outbox_rows_follow_their_transaction(store: Store) {
    let mut tx = store.db().begin().await.unwrap();
    Store::enqueue_in(&mut tx, &mail("rolled@back.it"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let mut tx = store.db().begin().await.unwrap();
    Store::enqueue_in(&mut tx, &mail("kept@example.it"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(
        store
            .outbox_for(Some("rolled@back.it"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let kept = store.outbox_for(Some("kept@example.it"), 10).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].state, "pending");
    assert_eq!(kept[0].message, mail("kept@example.it"));
}

/// A batch run on its own (`run_atomic`: on SQLite `BEGIN IMMEDIATE … COMMIT` in one command)
/// or in a transaction either writes every statement or none, and a failure leaves the
/// database and the pool fit for the next write.
async fn a_batch_is_all_or_nothing(store: Store) {
    use sportello::db::batch::Batch;
    let mut failing = Batch::independent();
    Store::push_enqueue(&mut failing, &mail("first@example.it"));
    // id is generated: naming one that exists makes the second insert fail.
    Store::push_enqueue(&mut failing, &mail("second@example.it"));
    failing.push(
        "INSERT INTO outbox (id, kind, recipient, subject, body_text, next_attempt_at, created_at)
         SELECT id, kind, recipient, subject, body_text, next_attempt_at, created_at FROM outbox
         UNION ALL SELECT 1, 'x', 'x', 'x', 'x', $1, $1",
        vec![sportello::db::batch::Val::Ts(Timestamp::now())],
    );
    // Several times: every pooled connection must come back usable (SQLite closes the one
    // whose command failed, with its transaction).
    for _ in 0..10 {
        let mut again = Batch::independent();
        Store::push_enqueue(&mut again, &mail("first@example.it"));
        again.push(
            "INSERT INTO outbox (id, kind, recipient, subject, body_text, next_attempt_at, created_at)
             VALUES (1, 'x', 'x', 'x', 'x', $1, $1), (1, 'x', 'x', 'x', 'x', $1, $1)",
            vec![sportello::db::batch::Val::Ts(Timestamp::now())],
        );
        assert!(store.db().run_atomic(again).await.is_err());
    }
    assert!(store.db().run_atomic(failing).await.is_err());
    assert!(store.outbox_for(None, 10).await.unwrap().is_empty());
    // A transaction dropped half-way (an early return) leaves nothing, and the next writers —
    // more than the pool has connections — find the database and the pool as they were.
    for _ in 0..10 {
        let mut tx = store.db().begin().await.unwrap();
        Store::enqueue_in(&mut tx, &mail("dropped@example.it"))
            .await
            .unwrap();
        drop(tx);
    }
    assert!(store.outbox_for(None, 10).await.unwrap().is_empty());

    let mut tx = store.db().begin().await.unwrap();
    let mut inside = Batch::new();
    Store::push_enqueue(&mut inside, &mail("kept@example.it"));
    inside.run(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    let mut ok = Batch::independent();
    Store::push_enqueue(&mut ok, &mail("one@example.it"));
    Store::push_enqueue(&mut ok, &mail("two@example.it"));
    store.db().run_atomic(ok).await.unwrap();
    let mut all: Vec<String> = store
        .outbox_for(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.message.recipient)
        .collect();
    all.sort();
    assert_eq!(all, ["kept@example.it", "one@example.it", "two@example.it"]);
}

/// Batches committed by concurrent callers through the group committer: each caller is
/// answered for its own batch — every good one is stored whole (rows of one table sent as one
/// multi-row insert read back exactly), a bad one (an activation of an option that does not
/// exist) fails alone and leaves nothing of itself.
async fn grouped_commits_keep_every_batch_and_fail_only_the_bad_one(store: Store) {
    use sportello::db::batch::Batch;
    let ente = demo_ente(&store).await;
    store
        .insert_position(ente, &position("IUPD-GROUP", vec![option(7, &[900])]))
        .await
        .unwrap();
    let option_id = store
        .notice_option(ente, nav(7).as_str())
        .await
        .unwrap()
        .unwrap()
        .option_id;
    let exchange = |i: usize| Exchange {
        direction: if i % 2 == 0 {
            Direction::In
        } else {
            Direction::Out
        },
        channel: "soap".into(),
        operation: "paGetPaymentV2".into(),
        correlation: Some(format!("group-{i}")),
        request: format!("<req n=\"{i}\">{}</req>", "x".repeat(i * 37)),
        response: (i % 3 != 0).then(|| format!("<res n=\"{i}\"/>")),
        outcome: "OK".into(),
        fault_code: (i % 4 == 0).then(|| "PAA_SEMANTICA".to_owned()),
        http_status: (i % 5 != 0).then_some(200),
        duration_ms: i as u64,
    };
    let bad = |i: usize| i % 7 == 3;
    let mut callers = Vec::new();
    for i in 0..60 {
        let store = store.clone();
        let e = exchange(i);
        callers.push(tokio::spawn(async move {
            let mut batch = Batch::independent();
            Store::push_attempt(
                &mut batch,
                &NewAttempt {
                    payment_option_id: if bad(i) {
                        option_id + 1_000_000
                    } else {
                        option_id
                    },
                    amount: 900,
                    payment_note: Some(format!("note-{i}")),
                    transfer_type: None,
                },
            );
            Store::push_exchange(&mut batch, &e);
            store.commit_grouped(batch).await
        }));
    }
    for (i, caller) in callers.into_iter().enumerate() {
        let result = caller.await.unwrap();
        assert_eq!(result.is_err(), bad(i), "caller {i}: {result:?}");
    }
    let mut notes = Vec::new();
    for i in 0..60 {
        let logged = store.exchanges_for(&format!("group-{i}")).await.unwrap();
        if bad(i) {
            assert!(
                logged.is_empty(),
                "caller {i} failed, yet its row is stored"
            );
        } else {
            assert_eq!(logged, [exchange(i)], "caller {i}");
            notes.push(Some(format!("note-{i}")));
        }
    }
    let mut stored: Vec<Option<String>> = store
        .attempts_for(option_id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.attempt.payment_note)
        .collect();
    stored.sort();
    notes.sort();
    assert_eq!(stored, notes);
    // A log row of its own, outside any group, still goes through.
    store.log_exchange(&exchange(61)).await.unwrap();
    assert_eq!(
        store.exchanges_for("group-61").await.unwrap(),
        [exchange(61)]
    );
}

async fn outbox_claims_are_exclusive_and_retries_wait(store: Store) {
    for i in 0..30 {
        let mut tx = store.db().begin().await.unwrap();
        Store::enqueue_in(&mut tx, &mail(&format!("u{i}@example.it")))
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let lease = time::Duration::minutes(5);
    let mut workers = Vec::new();
    for w in 0..3 {
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store
                    .claim_outbox(&format!("w{w}"), 4, lease)
                    .await
                    .unwrap();
                if batch.is_empty() {
                    break mine;
                }
                mine.extend(batch.into_iter().map(|m| (m.id, format!("w{w}"))));
            }
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let holder: std::collections::HashMap<i64, String> = all.iter().cloned().collect();
    let distinct: HashSet<i64> = all.iter().map(|(id, _)| *id).collect();
    assert_eq!(all.len(), 30, "each message claimed exactly once");
    assert_eq!(distinct.len(), 30);

    // Leased messages are not handed out again; a failure with a retry time waits for it.
    assert!(
        store
            .claim_outbox("late", 10, lease)
            .await
            .unwrap()
            .is_empty()
    );
    let first = *distinct.iter().min().unwrap();
    // Only the holder of the claim reschedules it.
    assert!(
        !store
            .mark_failed(first, "late", "connection refused", None)
            .await
            .unwrap()
    );
    assert!(
        store
            .mark_failed(
                first,
                &holder[&first],
                "connection refused",
                Some(Timestamp::now().plus(time::Duration::hours(1))),
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_outbox("late", 10, lease)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .mark_failed(
                first,
                &holder[&first],
                "connection refused",
                Some(Timestamp::now())
            )
            .await
            .unwrap()
    );
    let again = store.claim_outbox("late", 10, lease).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, first);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(again[0].last_error.as_deref(), Some("connection refused"));
    store.mark_sent(&[first]).await.unwrap();
    let sent = store
        .outbox_for(Some(&again[0].message.recipient), 1)
        .await
        .unwrap();
    assert_eq!(sent[0].state, "sent");
    // Giving up leaves it failed and never claimed again.
    let second = *distinct.iter().filter(|i| **i != first).min().unwrap();
    assert!(
        store
            .mark_failed(second, &holder[&second], "mailbox unavailable", None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .mark_failed(second, &holder[&second], "mailbox unavailable", None)
            .await
            .unwrap(),
        "a message given up stays given up"
    );
    assert!(
        store
            .claim_outbox("late", 10, lease)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn audit_and_event_log_round_trip(store: Store) {
    let event = AuditEvent {
        account_id: None,
        actor: "mrossi".into(),
        action: "login".into(),
        outcome: "bad_password".into(),
        ip: "127.0.0.1".into(),
        detail: "{}".into(),
    };
    store.audit(&event).await.unwrap();
    let mut tx = store.db().begin().await.unwrap();
    Store::audit_in(
        &mut tx,
        &AuditEvent {
            action: "logout".into(),
            ..event.clone()
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let logins = store.recent_audit(Some("login"), 10).await.unwrap();
    assert_eq!(logins.len(), 1);
    assert_eq!(logins[0].event, event);
    assert_eq!(store.recent_audit(None, 10).await.unwrap().len(), 2);

    let exchange = Exchange {
        direction: Direction::In,
        channel: "soap".into(),
        operation: "paVerifyPaymentNotice".into(),
        correlation: Some("301000000000000144".into()),
        request: "<req/>".into(),
        response: Some("<resp/>".into()),
        outcome: "KO".into(),
        fault_code: Some("PAA_PAGAMENTO_SCONOSCIUTO".into()),
        http_status: Some(200),
        duration_ms: 3,
    };
    store.log_exchange(&exchange).await.unwrap();
    assert_eq!(
        store.exchanges_for("301000000000000144").await.unwrap(),
        vec![exchange]
    );
}

async fn timestamps_read_back_exactly_and_in_order(store: Store) {
    let ente = demo_ente(&store).await;
    let mut early = option(40, &[100]);
    early.due_date = Timestamp::parse("2026-03-29T00:59:59.123456Z").unwrap();
    let mut late = option(41, &[100]);
    late.due_date = Timestamp::parse("2026-03-29T01:00:00Z").unwrap();
    store
        .insert_position(ente, &position("TS", vec![late.clone(), early.clone()]))
        .await
        .unwrap();
    let got = store.position_by_iupd(ente, "TS").await.unwrap().unwrap();
    // Options come back ordered by due date: the database orders instants, not text quirks.
    assert_eq!(got.options[0].due_date, early.due_date);
    assert_eq!(got.options[1].due_date, late.due_date);
    let _ = Iuv::parse(got.options[0].iuv.as_str()).unwrap();
}

async fn services_follow_the_configured_catalog(store: Store) {
    use sportello::domain::catalog::{Catalog, DEMO_CATALOG};
    let ente = demo_ente(&store).await;
    let catalog = Catalog::parse(DEMO_CATALOG).unwrap();
    store.sync_services(ente, &catalog).await.unwrap();
    let stored = store.services(ente).await.unwrap();
    assert_eq!(stored.len(), catalog.services.len());
    for s in &catalog.services {
        let got = stored.iter().find(|x| x.def.code == s.code).unwrap();
        assert_eq!(&got.def, s, "the definition reads back exactly");
    }
    // A service dropped from the configuration is deactivated, not deleted.
    let mut smaller = catalog.clone();
    let dropped = smaller.services.pop().unwrap();
    store.sync_services(ente, &smaller).await.unwrap();
    let stored = store.services(ente).await.unwrap();
    assert_eq!(stored.len(), smaller.services.len());
    let id = store.services(ente).await.unwrap()[0].id;
    assert!(store.service_by_id(id).await.unwrap().is_some());
    store.sync_services(ente, &catalog).await.unwrap();
    assert!(
        store
            .services(ente)
            .await
            .unwrap()
            .iter()
            .any(|s| s.def.code == dropped.code)
    );
}

async fn batch_insert_keeps_extras_and_lists_with_filters(store: Store) {
    let ente = demo_ente(&store).await;
    let mut a = position("B-1", vec![option(101, &[700, 300]), option(102, &[500])]);
    a.status = PositionStatus::Draft;
    let b = position("B-2", vec![option(103, &[100])]);
    let extras_a = PositionExtras {
        pay_stand_in: false,
        content_hash: Some("csv1:abc".into()),
        transfer_metadata: vec![vec!["[]".into(), r#"[{"key":"k","value":"v"}]"#.into()]],
    };
    let extras_b = PositionExtras::default();
    let mut tx = store.db().begin().await.unwrap();
    let ids = Store::insert_positions_in(&mut tx, ente, &[(&a, &extras_a), (&b, &extras_b)])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    let got = store.position_by_iupd(ente, "B-1").await.unwrap().unwrap();
    assert_eq!(got.id, ids[0]);
    assert_eq!(got.options, a.options);
    assert!(!got.pay_stand_in);
    assert_eq!(got.content_hash.as_deref(), Some("csv1:abc"));
    assert!(got.published_at.is_none(), "a draft is not published");
    assert_eq!(
        got.option_details[0].transfer_metadata[1],
        r#"[{"key":"k","value":"v"}]"#
    );
    assert_eq!(
        got.option_details[1].transfer_metadata,
        vec!["[]".to_owned()]
    );
    assert!(
        store
            .position_by_iupd(ente, "B-2")
            .await
            .unwrap()
            .unwrap()
            .pay_stand_in
    );

    let all = PositionFilter {
        descending: true,
        ..Default::default()
    };
    let (page, total) = store.list_positions(ente, &all, 0, 1).await.unwrap();
    assert_eq!((page.len(), total), (1, 2));
    assert_eq!(page[0].iupd, "B-2", "newest first");
    assert_eq!(page[0].options.len(), 1, "options come with the page");
    let drafts = PositionFilter {
        status: Some(PositionStatus::Draft),
        ..Default::default()
    };
    let (page, total) = store.list_positions(ente, &drafts, 0, 10).await.unwrap();
    assert_eq!((page[0].iupd.as_str(), total), ("B-1", 1));
    let by_iupd = PositionFilter {
        order: PositionOrder::Iupd,
        descending: false,
        ..Default::default()
    };
    let (page, _) = store.list_positions(ente, &by_iupd, 0, 10).await.unwrap();
    assert_eq!(
        page.iter().map(|p| p.iupd.as_str()).collect::<Vec<_>>(),
        ["B-1", "B-2"]
    );
    let due = PositionFilter {
        due_from: Some(Timestamp::parse("2030-01-31T00:00:00Z").unwrap()),
        due_to: Some(Timestamp::parse("2030-01-31T23:59:59Z").unwrap()),
        ..Default::default()
    };
    assert_eq!(store.list_positions(ente, &due, 0, 10).await.unwrap().1, 2);
    let paid = PositionFilter {
        paid_from: Some(Timestamp::parse("2020-01-01T00:00:00Z").unwrap()),
        ..Default::default()
    };
    assert_eq!(store.list_positions(ente, &paid, 0, 10).await.unwrap().1, 0);
    assert_eq!(
        store
            .list_positions(ente, &all, 5, 10)
            .await
            .unwrap()
            .0
            .len(),
        0,
        "past the end"
    );

    // A duplicate in a batch rolls the whole batch back.
    let c = position("B-3", vec![option(104, &[100])]);
    let dup = position("B-1", vec![option(105, &[100])]);
    let mut tx = store.db().begin().await.unwrap();
    let err = Store::insert_positions_in(&mut tx, ente, &[(&c, &extras_b), (&dup, &extras_b)])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(ref w) if w.contains("B-1")),
        "{err:?}"
    );
    tx.rollback().await.unwrap();
    assert!(store.position_by_iupd(ente, "B-3").await.unwrap().is_none());
}

async fn time_rules_expire_overdue_and_activate_published(store: Store) {
    let ente = demo_ente(&store).await;
    let now = Timestamp::parse("2030-02-15T12:00:00Z").unwrap();
    // Due 2030-01-31 (see `option`): overdue at `now`.
    let mut overdue = position("T-1", vec![option(201, &[100])]);
    overdue.switch_to_expired = true;
    let mut not_switched = position("T-2", vec![option(202, &[100])]);
    not_switched.switch_to_expired = false;
    let mut one_left = position("T-3", vec![option(203, &[100]), option(204, &[100])]);
    one_left.switch_to_expired = true;
    one_left.options[1].due_date = Timestamp::parse("2030-03-31T00:00:00Z").unwrap();
    let mut published = position("T-4", vec![option(205, &[100])]);
    published.status = PositionStatus::Published;
    published.validity_date = Some(Timestamp::parse("2030-02-01T00:00:00Z").unwrap());
    let mut later = position("T-5", vec![option(206, &[100])]);
    later.status = PositionStatus::Published;
    later.validity_date = Some(Timestamp::parse("2030-03-01T00:00:00Z").unwrap());
    for p in [&overdue, &not_switched, &one_left, &published, &later] {
        store.insert_position(ente, p).await.unwrap();
    }
    assert_eq!(store.activate_published(now).await.unwrap(), 1);
    assert_eq!(store.expire_overdue(now).await.unwrap(), 1);
    assert_eq!(store.expire_overdue(now).await.unwrap(), 0, "idempotent");
    let status = |iupd: &'static str| {
        let store = store.clone();
        async move {
            store
                .position_by_iupd(ente, iupd)
                .await
                .unwrap()
                .unwrap()
                .status
        }
    };
    assert_eq!(status("T-1").await, PositionStatus::Expired);
    assert_eq!(status("T-2").await, PositionStatus::Valid);
    assert_eq!(
        status("T-3").await,
        PositionStatus::Valid,
        "one option is still payable"
    );
    assert_eq!(status("T-4").await, PositionStatus::Valid);
    assert_eq!(status("T-5").await, PositionStatus::Published);
    // The per-position variant applies both rules to that one only.
    let much_later = Timestamp::parse("2030-04-01T00:00:00Z").unwrap();
    store
        .refresh_position_status(ente, "T-3", much_later)
        .await
        .unwrap();
    assert_eq!(status("T-3").await, PositionStatus::Expired);
    assert_eq!(
        status("T-5").await,
        PositionStatus::Published,
        "others untouched"
    );
}

async fn replace_status_and_delete_under_lock(store: Store) {
    let ente = demo_ente(&store).await;
    let original = position("R-1", vec![option(301, &[100])]);
    store.insert_position(ente, &original).await.unwrap();
    let mut tx = store.db().begin().await.unwrap();
    let head = Store::lock_position_in(&mut tx, ente, "R-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head.status, PositionStatus::Valid);
    assert_eq!(head.earliest_due_date, Some(original.options[0].due_date));
    let mut replacement = position("R-1", vec![option(302, &[250]), option(301, &[50])]);
    replacement.debtor.full_name = "Maria Rossi".into();
    replacement.status = PositionStatus::Draft;
    Store::replace_position_in(
        &mut tx,
        ente,
        head.id,
        &replacement,
        &PositionExtras::default(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let got = store.position_by_iupd(ente, "R-1").await.unwrap().unwrap();
    assert_eq!(got.id, head.id, "same row");
    assert_eq!(got.version, 2);
    assert_eq!(got.debtor.full_name, "Maria Rossi");
    assert_eq!(got.options.len(), 2);
    assert_eq!(got.status, PositionStatus::Draft);

    let mut tx = store.db().begin().await.unwrap();
    let later = Timestamp::parse("2029-12-01T00:00:00Z").unwrap();
    Store::set_position_status_in(
        &mut tx,
        head.id,
        PositionStatus::Published,
        Some(later),
        Some(later),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let got = store.position_by_iupd(ente, "R-1").await.unwrap().unwrap();
    assert_eq!(
        (got.status, got.validity_date, got.published_at),
        (PositionStatus::Published, Some(later), Some(later))
    );

    assert!(
        Store::lock_position_in(&mut store.db().begin().await.unwrap(), ente, "nope")
            .await
            .unwrap()
            .is_none()
    );
    let mut tx = store.db().begin().await.unwrap();
    Store::delete_position_in(&mut tx, head.id).await.unwrap();
    tx.commit().await.unwrap();
    assert!(store.position_by_iupd(ente, "R-1").await.unwrap().is_none());
    // Its IUVs are free again (the options and transfers went with it).
    store
        .insert_position(ente, &position("R-2", vec![option(302, &[100])]))
        .await
        .unwrap();
}

async fn import_lookups_savepoints_and_iuv_blocks(store: Store) {
    let ente = demo_ente(&store).await;
    let extras = PositionExtras {
        content_hash: Some("csv1:1".into()),
        ..Default::default()
    };
    let p = position("I-1", vec![option(401, &[100])]);
    let mut tx = store.db().begin().await.unwrap();
    Store::insert_positions_in(&mut tx, ente, &[(&p, &extras)])
        .await
        .unwrap();
    // Lookups see the transaction's own writes.
    let found = Store::existing_iupds_in(&mut tx, ente, &["I-1".into(), "I-2".into()])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found["I-1"].as_deref(), Some("csv1:1"));
    let iuv_401 = nav(401).iuv().as_str().to_owned();
    let used = Store::existing_iuvs_in(
        &mut tx,
        ente,
        &[iuv_401.clone(), nav(402).iuv().as_str().to_owned()],
    )
    .await
    .unwrap();
    assert_eq!(used.into_iter().collect::<Vec<_>>(), vec![iuv_401]);
    // A failed insert after a savepoint is undone alone.
    Store::savepoint_in(&mut tx, "one").await.unwrap();
    assert!(
        Store::insert_positions_in(&mut tx, ente, &[(&p, &extras)])
            .await
            .is_err()
    );
    Store::rollback_to_savepoint_in(&mut tx, "one")
        .await
        .unwrap();
    Store::savepoint_in(&mut tx, "two").await.unwrap();
    let q = position("I-3", vec![option(403, &[100])]);
    Store::insert_positions_in(&mut tx, ente, &[(&q, &extras)])
        .await
        .unwrap();
    Store::release_savepoint_in(&mut tx, "two").await.unwrap();
    // IUV bases minted in the transaction: random, distinct, recorded with it.
    let mut bases = Store::mint_iuv_bases_in(&mut tx, ente, 10).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.count_positions(ente).await.unwrap(), 2);
    bases.extend(store.mint_iuv_bases(ente, 5).await.unwrap());
    bases.push(store.mint_iuv_base(ente).await.unwrap());
    let mut distinct = bases.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 16, "{bases:?}");
    let recorded: i64 = sportello::with_db!(store.db(), |pool| {
        sqlx::query_scalar("SELECT COUNT(*) FROM iuv_minted WHERE ente_id = $1")
            .bind(ente)
            .fetch_one(pool)
            .await
            .unwrap()
    });
    assert_eq!(recorded, 16);
    // Many keys are looked up in chunks.
    let many: Vec<String> = (0..2_000).map(|i| format!("none-{i}")).collect();
    let mut tx = store.db().begin().await.unwrap();
    assert!(
        Store::existing_iupds_in(&mut tx, ente, &many)
            .await
            .unwrap()
            .is_empty()
    );
}

// ------------------------------------------------------------------------------------------
// Station (store/station.rs)
// ------------------------------------------------------------------------------------------

fn station_receipt(receipt_id: &str, nav: &NoticeNumber, option_id: Option<i64>) -> StationReceipt {
    StationReceipt {
        receipt_id: receipt_id.into(),
        payment_option_id: option_id,
        notice_number: nav.as_str().into(),
        iuv: nav.iuv().as_str().into(),
        outcome: "OK".into(),
        amount: 2600,
        description: "Rata".into(),
        company_name: "Comune di Piacenza".into(),
        office_name: Some("Entrate".into()),
        debtor_type: "F".into(),
        debtor_fiscal_code: "RSSMRA80A01H501U".into(),
        debtor_name: "Mario Rossi".into(),
        payer_type: Some("F".into()),
        payer_fiscal_code: Some("BNCNNA80A41H501X".into()),
        payer_name: Some("Anna Bianchi".into()),
        payer_account_id: None,
        checkout_id: None,
        id_psp: "BCITITMM".into(),
        psp_fiscal_code: Some("00799960158".into()),
        psp_partita_iva: Some("10810700152".into()),
        psp_company_name: "Intesa Sanpaolo".into(),
        id_channel: "00799960158_01".into(),
        channel_description: Some("app".into()),
        payment_method: Some("creditCard".into()),
        fee: Some(100),
        primary_ci_incurred_fee: Some(0),
        id_bundle: Some("bundle".into()),
        id_ci_bundle: Some("ci-bundle".into()),
        payment_note: Some("cart".into()),
        payment_date_time: Timestamp::parse("2030-01-10T10:30:00.123456Z").unwrap(),
        application_date: Some(time::macros::date!(2030 - 01 - 10)),
        transfer_date: Some(time::macros::date!(2030 - 01 - 12)),
        stand_in: true,
        refund_required: false,
        raw_xml: "<receipt/>".into(),
        transfers: vec![
            ReceiptTransferRow {
                id_transfer: 1,
                amount: 1000,
                fiscal_code_pa: "00229080338".into(),
                iban: Some(sportello::config::DEMO_IBAN.into()),
                stamp: false,
                remittance_information: "quota 1".into(),
                category: "9/0101108TS/".into(),
            },
            ReceiptTransferRow {
                id_transfer: 2,
                amount: 1600,
                fiscal_code_pa: "00229080338".into(),
                iban: None,
                stamp: true,
                remittance_information: "bollo".into(),
                category: "9/0101108TS/".into(),
            },
        ],
    }
}

/// Notice `seq` as the receipt transaction reads it (locked, with its latest activation's note).
async fn locked(
    tx: &mut sportello::db::Tx,
    ente: i64,
    seq: u64,
) -> sportello::store::station::LockedNotice {
    Store::lock_notice_in(tx, ente, nav(seq).as_str())
        .await
        .unwrap()
        .unwrap()
}

async fn option_id(store: &Store, ente: i64, seq: u64) -> i64 {
    store
        .notice_option(ente, nav(seq).as_str())
        .await
        .unwrap()
        .unwrap()
        .option_id
}

async fn station_finds_notices_and_records_attempts(store: Store) {
    let ente = demo_ente(&store).await;
    store
        .insert_position(
            ente,
            &position(
                "IUPD-ST-1",
                vec![option(1, &[1000, 1600]), option(2, &[500])],
            ),
        )
        .await
        .unwrap();
    let found = store
        .notice_option(ente, nav(2).as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.position.iupd, "IUPD-ST-1");
    assert_eq!(found.option().nav, nav(2));
    assert_eq!(found.option().amount, Cents::new(500));
    assert!(
        store
            .notice_option(ente, nav(3).as_str())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .notice_option(ente + 1, nav(2).as_str())
            .await
            .unwrap()
            .is_none()
    );

    let attempt = NewAttempt {
        payment_option_id: found.option_id,
        amount: 500,
        payment_note: Some("cart-1".into()),
        transfer_type: Some("POSTAL".into()),
    };
    let before = Timestamp::now();
    store.insert_attempt(&attempt).await.unwrap();
    store
        .insert_attempt(&NewAttempt {
            payment_note: None,
            transfer_type: None,
            ..attempt.clone()
        })
        .await
        .unwrap();
    let attempts = store.attempts_for(found.option_id).await.unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].attempt, attempt);
    assert_eq!(attempts[1].attempt.payment_note, None);
    assert!(attempts[0].created_at >= before);
    assert!(
        store
            .attempts_for(option_id(&store, ente, 1).await)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn station_receipts_keep_every_column(store: Store) {
    let ente = demo_ente(&store).await;
    store
        .insert_position(ente, &position("IUPD-ST-2", vec![option(1, &[1000, 1600])]))
        .await
        .unwrap();
    let option = option_id(&store, ente, 1).await;
    let mut tx = store.db().begin().await.unwrap();
    let locked = Store::lock_notice_in(&mut tx, ente, nav(1).as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(locked.option_id, option);
    assert_eq!(locked.option_status, OptionStatus::Unpaid);
    assert_eq!(locked.position_status, PositionStatus::Valid);
    assert_eq!(locked.amount, 2600);
    assert_eq!(
        locked.debtor_email.as_deref(),
        Some("mario.rossi@example.it")
    );
    assert!(
        Store::lock_notice_in(&mut tx, ente, nav(9).as_str())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        Store::receipt_pk_in(&mut tx, ente, "R-1").await.unwrap(),
        None
    );
    let r = station_receipt("R-1", &nav(1), Some(option));
    let pk = Store::insert_station_receipt_in(&mut tx, ente, &r)
        .await
        .unwrap();
    assert_eq!(
        Store::receipt_pk_in(&mut tx, ente, "R-1").await.unwrap(),
        Some(pk)
    );
    tx.commit().await.unwrap();

    let stored = store
        .receipts_for_notice(ente, nav(1).as_str())
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].payment_option_id, Some(option));
    assert_eq!(stored[0].transfer_count, 2);
    assert_eq!(stored[0].payment_date_time, r.payment_date_time);
    assert_eq!(
        stored[0].payer_fiscal_code.as_deref(),
        Some("BNCNNA80A41H501X")
    );
    // Every column reads back as written.
    type Row = (
        String,
        Option<String>,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<time::Date>,
        Option<time::Date>,
        bool,
        String,
    );
    let row: Row = sportello::with_db!(store.db(), |pool| {
        sqlx::query_as(
            "SELECT psp_partita_iva, channel_description, fee, primary_ci_incurred_fee, id_ci_bundle, application_date, transfer_date, stand_in, raw_xml FROM receipts WHERE id = $1",
        )
        .bind(pk)
        .fetch_one(pool)
        .await
        .unwrap()
    });
    assert_eq!(
        row,
        (
            "10810700152".into(),
            Some("app".into()),
            Some(100),
            Some(0),
            Some("ci-bundle".into()),
            r.application_date,
            r.transfer_date,
            true,
            "<receipt/>".into()
        )
    );
    let stamps: Vec<(i32, Option<String>, bool)> = sportello::with_db!(store.db(), |pool| {
        sqlx::query_as("SELECT id_transfer, iban, stamp FROM receipt_transfers WHERE receipt_pk = $1 ORDER BY id_transfer")
            .bind(pk)
            .fetch_all(pool)
            .await
            .unwrap()
    });
    assert_eq!(
        stamps,
        vec![
            (1, Some(sportello::config::DEMO_IBAN.into()), false),
            (2, None, true)
        ]
    );

    // The same receiptId is a conflict, and the failed transaction leaves nothing behind.
    let mut tx = store.db().begin().await.unwrap();
    let mut again = station_receipt("R-1", &nav(1), None);
    again.refund_required = true;
    let err = Store::insert_station_receipt_in(&mut tx, ente, &again)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    tx.rollback().await.unwrap();
    // A transfer that breaks a constraint rolls the receipt back with it.
    let mut tx = store.db().begin().await.unwrap();
    let mut bad = station_receipt("R-2", &nav(1), None);
    bad.refund_required = true;
    bad.transfers[1].id_transfer = 1;
    assert!(
        Store::insert_station_receipt_in(&mut tx, ente, &bad)
            .await
            .is_err()
    );
    drop(tx);
    assert_eq!(
        store
            .receipts_for_notice(ente, nav(1).as_str())
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn station_settles_options_positions_and_checkouts(store: Store) {
    let ente = demo_ente(&store).await;
    let mut plan = position(
        "IUPD-ST-3",
        vec![option(1, &[2000]), option(2, &[1000]), option(3, &[1000])],
    );
    plan.options[1].is_partial_payment = true;
    plan.options[2].is_partial_payment = true;
    store.insert_position(ente, &plan).await.unwrap();
    store
        .insert_position(ente, &position("IUPD-ST-4", vec![option(4, &[700])]))
        .await
        .unwrap();
    let (single, rata1, rata2, other) = (
        option_id(&store, ente, 1).await,
        option_id(&store, ente, 2).await,
        option_id(&store, ente, 3).await,
        option_id(&store, ente, 4).await,
    );
    sportello::with_db!(store.db(), |pool| {
        for (id, state, created) in [
            ("cart-old", "paid", "2030-01-01T00:00:00.000000Z"),
            ("cart-new", "waiting_receipt", "2030-01-02T00:00:00.000000Z"),
        ] {
            sqlx::query("INSERT INTO checkouts (id, state, total_amount, created_at, updated_at) VALUES ($1, $2, 1700, $3, $3)")
                .bind(id)
                .bind(state)
                .bind(Timestamp::parse(created).unwrap())
                .execute(pool)
                .await
                .unwrap();
            for (pos, o) in [(1, rata1), (2, other)] {
                sqlx::query("INSERT INTO checkout_items (checkout_id, payment_option_id, position, amount) VALUES ($1, $2, $3, 100)")
                    .bind(id)
                    .bind(o)
                    .bind(pos)
                    .execute(pool)
                    .await
                    .unwrap();
            }
        }
    });
    let mut tx = store.db().begin().await.unwrap();
    // The notice as the receipt transaction reads it, with its latest activation's note.
    let (single_seq, rata1_seq) = (1, 2);
    let (single_notice, rata1_notice) = (
        locked(&mut tx, ente, single_seq).await,
        locked(&mut tx, ente, rata1_seq).await,
    );
    assert_eq!(
        (single_notice.option_id, rata1_notice.option_id),
        (single, rata1)
    );
    assert_eq!(rata1_notice.latest_note, None, "no activation yet");
    // By the payment note, when that checkout holds the notice; else by the note of the
    // notice's latest activation; never by guessing among the checkouts that hold it.
    let by_note = Store::checkout_for_receipt_in(&mut tx, Some("cart-old"), Some(&rata1_notice))
        .await
        .unwrap();
    assert_eq!(by_note.unwrap().id, "cart-old");
    for (note, notice) in [
        (Some("cart-old"), &single_notice),
        (Some("no-such-cart"), &rata1_notice),
        (None, &rata1_notice),
        (None, &single_notice),
    ] {
        assert!(
            Store::checkout_for_receipt_in(&mut tx, note, Some(notice))
                .await
                .unwrap()
                .is_none(),
            "{note:?} {}",
            notice.option_id
        );
    }
    async {
        sportello::with_tx!(&mut tx, |conn| {
        sqlx::query("INSERT INTO payment_attempts (payment_option_id, amount, payment_note, created_at) VALUES ($1, 100, 'cart-new', $2)")
            .bind(rata1)
            .bind(Timestamp::now())
            .execute(&mut *conn)
            .await
            .unwrap();
    });
        Ok::<(), sqlx::Error>(())
    }
    .await
    .unwrap();
    let rata1_notice = locked(&mut tx, ente, rata1_seq).await;
    assert_eq!(rata1_notice.latest_note.as_deref(), Some("cart-new"));
    let by_activation = Store::checkout_for_receipt_in(&mut tx, None, Some(&rata1_notice))
        .await
        .unwrap();
    assert_eq!(
        by_activation.as_ref().map(|c| c.state.as_str()),
        Some("waiting_receipt")
    );
    assert!(
        Store::checkout_for_receipt_in(&mut tx, None, None)
            .await
            .unwrap()
            .is_none()
    );

    let paid_at = Timestamp::parse("2030-01-10T10:00:00.000000Z").unwrap();
    let status = Store::settle_option_in(
        &mut tx,
        rata1,
        plan_position_id(&store, ente).await,
        paid_at,
    )
    .await
    .unwrap();
    assert_eq!(status, PositionStatus::PartiallyPaid);
    assert_eq!(
        Store::settle_checkout_in(&mut tx, "cart-new")
            .await
            .unwrap(),
        "partially_paid"
    );
    tx.commit().await.unwrap();
    let p = store
        .position_by_iupd(ente, "IUPD-ST-3")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.status, PositionStatus::PartiallyPaid);
    assert_eq!(p.payment_date, Some(paid_at));
    assert_eq!(p.version, 2);
    assert_eq!(
        p.options.iter().map(|o| o.status).collect::<Vec<_>>(),
        vec![
            OptionStatus::Unpaid,
            OptionStatus::Paid,
            OptionStatus::Unpaid
        ]
    );

    let mut tx = store.db().begin().await.unwrap();
    let position_id = plan_position_id(&store, ente).await;
    assert_eq!(
        Store::settle_option_in(&mut tx, rata2, position_id, paid_at)
            .await
            .unwrap(),
        PositionStatus::Paid
    );
    let other_position = store
        .notice_option(ente, nav(4).as_str())
        .await
        .unwrap()
        .unwrap()
        .position
        .id;
    assert_eq!(
        Store::settle_option_in(&mut tx, other, other_position, paid_at)
            .await
            .unwrap(),
        PositionStatus::Paid
    );
    assert_eq!(
        Store::settle_checkout_in(&mut tx, "cart-new")
            .await
            .unwrap(),
        "paid"
    );
    // Nothing is visible before commit, everything after.
    tx.rollback().await.unwrap();
    assert_eq!(
        store.checkout_state("cart-new").await.unwrap().as_deref(),
        Some("partially_paid")
    );
    assert_eq!(store.checkout_state("nope").await.unwrap(), None);
}

async fn plan_position_id(store: &Store, ente: i64) -> i64 {
    store
        .position_by_iupd(ente, "IUPD-ST-3")
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn station_allows_one_closing_receipt_per_option(store: Store) {
    let ente = demo_ente(&store).await;
    store
        .insert_position(ente, &position("IUPD-ST-5", vec![option(1, &[2600])]))
        .await
        .unwrap();
    let option = option_id(&store, ente, 1).await;
    let insert = |r: StationReceipt| {
        let store = store.clone();
        async move {
            let mut tx = store.db().begin().await.unwrap();
            let result = Store::insert_station_receipt_in(&mut tx, ente, &r).await;
            if result.is_ok() {
                tx.commit().await.unwrap();
            }
            result
        }
    };
    insert(station_receipt("R-1", &nav(1), Some(option)))
        .await
        .unwrap();
    // A second closing receipt for the same option is refused by the database itself, and not
    // as a duplicate receiptId (which the station would acknowledge as a retry)…
    let err = insert(station_receipt("R-2", &nav(1), Some(option)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Db(e) if sportello::db::is_unique_violation(e)),
        "{err:?}"
    );
    // …while a flagged one, a KO one, and one for an unknown notice are all kept.
    let mut flagged = station_receipt("R-3", &nav(1), Some(option));
    flagged.refund_required = true;
    insert(flagged).await.unwrap();
    let mut ko = station_receipt("R-4", &nav(1), Some(option));
    ko.outcome = "KO".into();
    insert(ko).await.unwrap();
    insert(station_receipt("R-5", &nav(7), None)).await.unwrap();
    insert(station_receipt("R-6", &nav(7), None)).await.unwrap();
    assert_eq!(
        store.receipt_counts(ente, nav(1).as_str()).await.unwrap(),
        (3, 1)
    );
}

// ------------------------------------------------------------------------------------------
// Checkouts (store/checkouts.rs)
// ------------------------------------------------------------------------------------------

async fn account(store: &Store, n: u32) -> i64 {
    use sportello::store::accounts::{NewAccount, PersonalData};
    let mut tx = store.db().begin().await.unwrap();
    let id = Store::insert_account_in(
        &mut tx,
        &NewAccount {
            username: format!("checkout{n}"),
            password_hash: "x".into(),
            fiscal_code: format!("CHK{n:013}"),
            email: format!("checkout{n}@example.it"),
            personal: PersonalData::default(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

async fn checkouts_move_through_their_states_for_their_owner_only(store: Store) {
    use sportello::domain::checkout::{CheckoutState, Return};
    use sportello::domain::identity::Viewer;
    let ente = demo_ente(&store).await;
    store
        .insert_position(ente, &position("CK-1", vec![option(701, &[1000])]))
        .await
        .unwrap();
    store
        .insert_position(ente, &position("CK-2", vec![option(702, &[250, 50])]))
        .await
        .unwrap();
    let (a, b) = (
        option_id(&store, ente, 701).await,
        option_id(&store, ente, 702).await,
    );
    let owner = account(&store, 1).await;
    let stranger = account(&store, 2).await;
    store
        .create_checkout(
            "c1",
            owner,
            Some("checkout1@example.it"),
            &[(a, 1000), (b, 300)],
        )
        .await
        .unwrap();
    let c = store
        .checkout_for_account("c1", owner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((c.state.as_str(), c.total_amount), ("created", 1300));
    assert_eq!(c.email_notice.as_deref(), Some("checkout1@example.it"));
    assert_eq!(
        c.items
            .iter()
            .map(|i| (i.option_id, i.position, i.amount))
            .collect::<Vec<_>>(),
        vec![(a, 1, 1000), (b, 2, 300)]
    );
    assert_eq!(c.items[0].nav, nav(701).as_str());
    assert_eq!(c.items[0].receipt, None, "no receipt yet");
    assert!(!c.all_paid());
    assert!(
        store
            .checkout_for_account("c1", stranger)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .checkout_for_account("nope", owner)
            .await
            .unwrap()
            .is_none()
    );

    // Nothing waits until the citizen is back from Checkout through the ok URL.
    let now = Timestamp::now();
    assert!(
        store
            .options_awaiting_receipt(&Viewer::unverified(owner), &[a, b], now)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .checkout_redirected("c1", "http://sandbox/checkout/carts/1")
            .await
            .unwrap()
    );
    assert!(
        !store
            .checkout_redirected("c1", "http://again")
            .await
            .unwrap(),
        "only from created"
    );
    assert!(store.checkout_returned("c1", Return::Ok).await.unwrap());
    let c = store
        .checkout_for_account("c1", owner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.state, CheckoutState::WaitingReceipt);
    assert_eq!(
        c.redirect_url.as_deref(),
        Some("http://sandbox/checkout/carts/1")
    );
    let mut waiting = store
        .options_awaiting_receipt(&Viewer::unverified(owner), &[a, b], Timestamp::now())
        .await
        .unwrap();
    waiting.sort();
    assert_eq!(waiting, vec![a.min(b), a.max(b)]);
    // Someone else's checkout hides nothing from a stranger.
    assert!(
        store
            .options_awaiting_receipt(&Viewer::unverified(stranger), &[a, b], Timestamp::now())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .options_awaiting_receipt(&Viewer::unverified(owner), &[], Timestamp::now())
            .await
            .unwrap()
            .is_empty()
    );
    // A receipt that never comes does not hide the debt for ever.
    let later = Timestamp::now().plus(time::Duration::minutes(
        sportello::domain::checkout::WAIT_LIMIT_MINUTES + 1,
    ));
    assert!(
        store
            .options_awaiting_receipt(&Viewer::unverified(owner), &[a, b], later)
            .await
            .unwrap()
            .is_empty()
    );
    // A late cancel or error does not undo a payment in progress.
    assert!(!store.checkout_returned("c1", Return::Cancel).await.unwrap());
    assert!(!store.checkout_failed("c1", "late").await.unwrap());

    store
        .create_checkout("c2", owner, None, &[(a, 1000)])
        .await
        .unwrap();
    assert!(store.checkout_returned("c2", Return::Cancel).await.unwrap());
    assert_eq!(
        store.checkout_state("c2").await.unwrap().as_deref(),
        Some("cancelled")
    );
    store
        .create_checkout("c3", owner, None, &[(a, 1000)])
        .await
        .unwrap();
    assert!(
        store
            .checkout_failed("c3", "Checkout unreachable")
            .await
            .unwrap()
    );
    let c = store
        .checkout_for_account("c3", owner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (c.state.as_str(), c.failure_reason.as_deref()),
        ("failed", Some("Checkout unreachable"))
    );
    // The same id twice is refused, and writes nothing.
    assert!(
        store
            .create_checkout("c3", owner, None, &[(b, 300)])
            .await
            .is_err()
    );
    let c = store
        .checkout_for_account("c3", owner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.items.len(), 1);
    // An item outside 1..=5 or a zero amount is refused by the schema: nothing half-written.
    let six: Vec<(i64, i64)> = (0..6)
        .map(|i| (if i % 2 == 0 { a } else { b }, 1))
        .collect();
    assert!(
        store
            .create_checkout("c4", owner, None, &six)
            .await
            .is_err()
    );
    assert!(store.checkout_state("c4").await.unwrap().is_none());
}

// ------------------------------------------------------------------------------------------
// The PostgreSQL half is never skipped by accident
// ------------------------------------------------------------------------------------------

#[test]
fn only_skip_postgres_1_leaves_postgres_out() {
    assert!(common::skip_postgres_from(Some("1")));
    for value in [
        None,
        Some(""),
        Some("0"),
        Some("true"),
        Some("TRUE"),
        Some("yes"),
    ] {
        assert!(!common::skip_postgres_from(value), "{value:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_postgres_fails_the_test() {
    // Something listens, but it is no PostgreSQL: it hangs up on every connection.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "postgres://postgres@{}/postgres",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    let attempt = {
        let url = url.clone();
        tokio::spawn(async move { TestDb::postgres_on(&url, false).await.is_some() })
    };
    let failure = attempt
        .await
        .expect_err("a PostgreSQL test without a server must fail, not pass");
    assert!(failure.is_panic());
    // Left out on purpose: no attempt, and the test says so.
    assert!(TestDb::postgres_on(&url, true).await.is_none());
}

/// The jobs' lock (`store::locks`): on PostgreSQL one connection of any instance holds it at a
/// time, and a holder that goes away without releasing it (a crash) frees it; SQLite is one
/// instance, always granted.
async fn exclusive_work_is_taken_by_one_holder_at_a_time(store: Store) {
    use sportello::db::Dialect;
    use sportello::store::locks::LockKey;
    let first = store.try_lock(LockKey::Jobs).await.unwrap().expect("free");
    let second = store.try_lock(LockKey::Jobs).await.unwrap();
    assert_eq!(second.is_none(), store.dialect() == Dialect::Postgres);
    if let Some(second) = second {
        second.release().await.unwrap();
    }
    first.release().await.unwrap();
    let again = store
        .try_lock(LockKey::Jobs)
        .await
        .unwrap()
        .expect("free again");
    // Dropped without release: its connection is closed, which frees the lock.
    drop(again);
    let mut freed = None;
    for _ in 0..100 {
        freed = store.try_lock(LockKey::Jobs).await.unwrap();
        if freed.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    freed
        .expect("freed when its holder went away")
        .release()
        .await
        .unwrap();
}
