//! The identity model (issue 10, finding 4) in storage, on SQLite and PostgreSQL: migration 0005
//! (fiscal codes become claims; SQLite rebuilds `accounts` with foreign keys off) keeps every row
//! that refers to an account, and a fiscal code is claimed by many but verified for one.

mod common;

use common::TestDb;
use pagopa::{Cents, FiscalCode, NoticeNumber, SegregationCode};
use sportello::clock::Timestamp;
use sportello::config::Config;
use sportello::db::migrate;
use sportello::domain::identity::{IdentitySource, Viewer};
use sportello::domain::position::{
    Debtor, Destination, NewPosition, OptionStatus, Origin, PaymentOption, PositionStatus,
    SubjectType, Transfer,
};
use sportello::store::Store;
use sportello::store::accounts::{AccountState, NewAccount, PersonalData, VerifyError};
use sportello::with_db;

const MARIO: &str = "RSSMRA80A01H501U";

async fn both(scenario: impl AsyncFn(TestDb)) {
    scenario(TestDb::sqlite()).await;
    if let Some(db) = TestDb::postgres().await {
        scenario(db).await;
    }
}

fn demo_config() -> Config {
    Config::load(Some(std::path::Path::new("/dev/null")), Vec::new()).unwrap()
}

async fn new_account(store: &Store, username: &str, fiscal_code: &str) -> i64 {
    let mut tx = store.db().begin().await.unwrap();
    let id = Store::insert_account_in(
        &mut tx,
        &NewAccount {
            username: username.into(),
            password_hash: "$argon2id$stub".into(),
            fiscal_code: fiscal_code.into(),
            email: format!("{username}@example.it"),
            personal: PersonalData {
                first_name: "Mario".into(),
                last_name: "Rossi".into(),
                ..Default::default()
            },
        },
    )
    .await
    .unwrap();
    Store::activate_account_in(&mut tx, id).await.unwrap();
    tx.commit().await.unwrap();
    id
}

fn spontaneous(iupd: &str, nav: &NoticeNumber, creator: i64) -> NewPosition {
    NewPosition {
        iupd: iupd.into(),
        debtor: Debtor {
            kind: SubjectType::F,
            fiscal_code: MARIO.into(),
            full_name: "Mario Rossi".into(),
            street_name: None,
            civic_number: None,
            postal_code: None,
            city: None,
            province: None,
            region: None,
            country: None,
            email: None,
            phone: None,
        },
        company_name: "Comune di Piacenza".into(),
        office_name: None,
        validity_date: None,
        switch_to_expired: false,
        status: PositionStatus::Valid,
        options: vec![PaymentOption {
            iuv: nav.iuv(),
            nav: nav.clone(),
            amount: Cents::new(1000),
            description: "Multa".into(),
            is_partial_payment: false,
            due_date: Timestamp::parse("2030-01-31T22:59:59Z").unwrap(),
            retention_date: None,
            fee: Cents::ZERO,
            status: OptionStatus::Unpaid,
            metadata: "[]".into(),
            transfers: vec![Transfer {
                id_transfer: 1,
                amount: Cents::new(1000),
                organization_fiscal_code: "00229080338".into(),
                remittance_information: "Multa".into(),
                category: "9/0101108TS/".into(),
                destination: Destination::Iban {
                    iban: sportello::config::DEMO_IBAN.into(),
                    postal_iban: None,
                },
                company_name: None,
            }],
        }],
        service_id: None,
        origin: Origin::Portal,
        created_by_account_id: Some(creator),
        abandon_at: None,
    }
}

/// Rows of `table` whose `column` is `id`.
async fn count(store: &Store, table: &str, column: &str, id: i64) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE {column} = $1");
    with_db!(store.db(), |pool| sqlx::query_scalar(&sql)
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap())
}

async fn migration_keeps_every_row_that_refers_to_an_account(db: TestDb) {
    let store = Store::connect(&db.url).await.unwrap();
    migrate::run_until(store.db(), 4).await.unwrap();
    let ente = store.upsert_ente(&demo_config().ente).await.unwrap();
    let mario = new_account(&store, "mrossi", MARIO).await;
    let other = new_account(&store, "lbianchi", "BNCGLI85M41G337L").await;
    let nav = NoticeNumber::from_aux3(SegregationCode::parse("01").unwrap(), 42).unwrap();
    store
        .insert_position(ente.id, &spontaneous("SPT-1", &nav, mario))
        .await
        .unwrap();
    let option = store
        .option_by_nav(ente.id, nav.as_str(), 0)
        .await
        .unwrap()
        .unwrap()
        .option_id;
    store.add_to_cart(other, option).await.unwrap();
    store
        .create_checkout("cart-1", mario, None, &[(option, 1000)])
        .await
        .unwrap();
    let now = Timestamp::now();
    let later = now.plus(time::Duration::hours(1));
    with_db!(store.db(), |pool| {
        sqlx::query(
            "INSERT INTO sessions (id_hash, account_id, csrf_token, created_at, last_seen_at, expires_at)
             VALUES ('s-mario', $1, 'csrf', $2, $2, $3)",
        )
        .bind(mario)
        .bind(now)
        .bind(later)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO account_tokens (account_id, purpose, token_hash, expires_at, created_at)
             VALUES ($1, 'password_reset', 'h-mario', $2, $3)",
        )
        .bind(mario)
        .bind(later)
        .bind(now)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO receipts (ente_id, receipt_id, payment_option_id, notice_number, iuv, outcome, amount, description,
                company_name, debtor_type, debtor_fiscal_code, debtor_name, payer_account_id, checkout_id, id_psp,
                psp_company_name, id_channel, payment_date_time, raw_xml, received_at)
             VALUES ($1, 'R-1', $2, $3, $4, 'OK', 1000, 'Multa', 'Comune', 'F', $5, 'Mario Rossi', $6, 'cart-1', 'PSP',
                'PSP', 'PSP_01', $7, '<r/>', $7)",
        )
        .bind(ente.id)
        .bind(option)
        .bind(nav.as_str())
        .bind(nav.iuv().as_str())
        .bind(MARIO)
        .bind(mario)
        .bind(now)
        .execute(pool)
        .await
        .unwrap();
    });
    store
        .audit(&sportello::store::audit::AuditEvent {
            account_id: Some(mario),
            actor: "mrossi".into(),
            action: "login".into(),
            outcome: "ok".into(),
            ip: "127.0.0.1".into(),
            detail: "{}".into(),
        })
        .await
        .unwrap();
    // Read as text: the store's account reader already expects the new columns.
    let snapshot = async |store: &Store| -> Vec<String> {
        with_db!(store.db(), |pool| {
            let (a, b, c, d, e, f): (String, String, String, String, String, String) =
                sqlx::query_as(
                    "SELECT username, fiscal_code, email, state, first_name, password_hash FROM accounts WHERE id = $1",
                )
                .bind(mario)
                .fetch_one(pool)
                .await
                .unwrap();
            vec![a, b, c, d, e, f]
        })
    };
    let before = snapshot(&store).await;

    // 0005 and whatever follows it (0006: SPID).
    assert_eq!(store.migrate().await.unwrap().first(), Some(&5));

    for (table, column, id) in [
        ("sessions", "account_id", mario),
        ("account_tokens", "account_id", mario),
        ("cart_entries", "account_id", other),
        ("debt_positions", "created_by_account_id", mario),
        ("checkouts", "account_id", mario),
        ("receipts", "payer_account_id", mario),
        ("audit_log", "account_id", mario),
    ] {
        assert_eq!(
            count(&store, table, column, id).await,
            1,
            "{table}.{column}"
        );
    }
    assert_eq!(snapshot(&store).await, before);
    let after = store.account_by_id(mario).await.unwrap().unwrap();
    assert_eq!(after.state, AccountState::Active);
    assert_eq!(after.identity, None, "every existing code stays a claim");
    // Foreign keys are enforced again on every connection of the pool.
    for _ in 0..10 {
        let orphan = with_db!(store.db(), |pool| {
            sqlx::query(
            "INSERT INTO cart_entries (account_id, payment_option_id, added_at) VALUES (999999, $1, $2)"
        )
        .bind(option)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ())
        });
        assert!(orphan.is_err(), "a reference to no account is refused");
    }
    // Deleting an account still cascades to its sessions (the rebuilt table is the parent).
    with_db!(store.db(), |pool| {
        sqlx::query("DELETE FROM cart_entries WHERE account_id = $1")
            .bind(other)
            .execute(pool)
            .await
            .unwrap();
    });
    let stray = new_account(&store, "stray", MARIO).await;
    with_db!(store.db(), |pool| {
        sqlx::query(
            "INSERT INTO sessions (id_hash, account_id, csrf_token, created_at, last_seen_at, expires_at)
             VALUES ('s-stray', $1, 'csrf', $2, $2, $3)",
        )
        .bind(stray)
        .bind(now)
        .bind(later)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query("DELETE FROM accounts WHERE id = $1")
            .bind(stray)
            .execute(pool)
            .await
            .unwrap();
    });
    assert_eq!(count(&store, "sessions", "account_id", stray).await, 0);
    assert!(store.migration_status().await.unwrap().is_current());
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_identity_migration_keeps_every_row_that_refers_to_an_account() {
    both(migration_keeps_every_row_that_refers_to_an_account).await;
}

#[test]
fn only_the_identity_migration_asks_for_foreign_keys_off() {
    let marked: Vec<&str> = migrate::MIGRATIONS
        .iter()
        .filter(|m| m.sqlite_foreign_keys_off())
        .map(|m| m.name)
        .collect();
    assert_eq!(marked, ["0005_trust"]);
    assert!(
        migrate::MIGRATIONS
            .iter()
            .all(|m| !m.postgres.contains(migrate::FOREIGN_KEYS_OFF)),
        "PostgreSQL alters constraints in place"
    );
}

async fn claimed_by_many_verified_for_one(db: TestDb) {
    let store = db.store().await;
    let code = FiscalCode::parse(MARIO).unwrap();
    // Three accounts claim Mario's code: nothing stops a claim, and none of them is Mario yet.
    let squatter = new_account(&store, "squatter", MARIO).await;
    let mario = new_account(&store, "mario", MARIO).await;
    let third = new_account(&store, "terzo", MARIO).await;
    let claims = store.accounts_claiming(&code).await.unwrap();
    assert_eq!(
        claims.iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![squatter, mario, third]
    );
    assert!(claims.iter().all(|a| a.identity.is_none()));
    assert_eq!(
        claims[0].viewer(),
        Viewer::unverified(squatter),
        "a claim gives no fiscal code to the access rules"
    );
    assert!(
        store
            .account_by_verified_fiscal_code(&code)
            .await
            .unwrap()
            .is_none()
    );

    // An operator confirms the real Mario.
    store
        .verify_identity(mario, &code, IdentitySource::Operator, "operatore1")
        .await
        .unwrap();
    let verified = store.account_by_id(mario).await.unwrap().unwrap();
    let identity = verified.identity.clone().unwrap();
    assert_eq!(
        (identity.source, identity.verified_by.as_str()),
        (IdentitySource::Operator, "operatore1")
    );
    assert_eq!(verified.viewer(), Viewer::verified(mario, MARIO));
    assert_eq!(
        store
            .account_by_verified_fiscal_code(&code)
            .await
            .unwrap()
            .map(|a| a.id),
        Some(mario)
    );
    // Again: nothing changes. For another account: refused, naming the holder.
    store
        .verify_identity(mario, &code, IdentitySource::Spid, "https://idp.example")
        .await
        .unwrap();
    assert_eq!(
        store
            .account_by_id(mario)
            .await
            .unwrap()
            .unwrap()
            .identity
            .unwrap()
            .source,
        IdentitySource::Operator
    );
    assert!(matches!(
        store
            .verify_identity(squatter, &code, IdentitySource::Spid, "https://idp.example")
            .await,
        Err(VerifyError::HeldByAnother(Some(id))) if id == mario
    ));
    // A verified account cannot be re-verified for another code, nor can a missing one.
    let other = FiscalCode::parse("BNCGLI85M41G337L").unwrap();
    assert!(matches!(
        store
            .verify_identity(mario, &other, IdentitySource::Cie, "x")
            .await,
        Err(VerifyError::VerifiedOtherwise)
    ));
    assert!(matches!(
        store
            .verify_identity(999_999, &other, IdentitySource::Cie, "x")
            .await,
        Err(VerifyError::NoAccount(999_999))
    ));
    // The database itself keeps one verified holder per code, whatever the code above does.
    let bypass = with_db!(store.db(), |pool| {
        sqlx::query(
        "UPDATE accounts SET fiscal_code_verified_at = $2, identity_source = 'spid', identity_verified_by = 'x' WHERE id = $1"
    )
    .bind(third)
    .bind(Timestamp::now())
    .execute(pool)
    .await
    .map(|_| ())
    });
    assert!(bypass.is_err(), "two verified holders of one code");

    // Verifying with SPID a claim typed differently replaces the claim with the proven code.
    let typo = new_account(&store, "typo", "BNCGLI85M41G337L").await;
    let first15 = "VRDGNN60E10F205";
    let proven_text = format!(
        "{first15}{}",
        pagopa::PersonalFiscalCode::check_char_for(first15).unwrap()
    );
    let proven = FiscalCode::parse(&proven_text).unwrap();
    store
        .verify_identity(typo, &proven, IdentitySource::Spid, "https://idp.example")
        .await
        .unwrap();
    assert_eq!(
        store
            .account_by_id(typo)
            .await
            .unwrap()
            .unwrap()
            .fiscal_code,
        proven_text
    );

    // Revoked: Mario's code is a claim again, and another account may now be verified for it.
    assert!(store.revoke_identity(mario, "operatore1").await.unwrap());
    assert!(!store.revoke_identity(mario, "operatore1").await.unwrap());
    assert_eq!(
        store.account_by_id(mario).await.unwrap().unwrap().viewer(),
        Viewer::unverified(mario)
    );
    store
        .verify_identity(squatter, &code, IdentitySource::Cie, "https://cie.example")
        .await
        .unwrap();
    // Every verification and revocation is in the audit log.
    let audited: i64 = with_db!(store.db(), |pool| {
        sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action IN ('identity_verified', 'identity_revoked')"
    )
    .fetch_one(pool)
    .await
    .unwrap()
    });
    assert_eq!(audited, 4);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fiscal_code_is_claimed_by_many_and_verified_for_one() {
    both(claimed_by_many_verified_for_one).await;
}
