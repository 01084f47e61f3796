//! Citizen accounts and their single-use tokens (activation, password reset, e-mail change).

use pagopa::FiscalCode;

use super::audit::AuditEvent;
use super::{Store, StoreError, StoreResult};
use crate::clock::Timestamp;
use crate::db::{DbRow, Tx};
use crate::domain::identity::{IdentitySource, VerifiedIdentity, Viewer};
use crate::{with_db, with_tx};

/// Account lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountState {
    /// Registered, e-mail not yet confirmed: cannot log in.
    Pending,
    /// Can log in.
    Active,
    /// Locked by an administrator.
    Locked,
}

impl AccountState {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Pending => "pending",
            AccountState::Active => "active",
            AccountState::Locked => "locked",
        }
    }

    fn parse(s: &str) -> Option<AccountState> {
        match s {
            "pending" => Some(AccountState::Pending),
            "active" => Some(AccountState::Active),
            "locked" => Some(AccountState::Locked),
            _ => None,
        }
    }
}

/// Personal data a citizen gives at registration and can change in the profile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersonalData {
    /// Nome.
    pub first_name: String,
    /// Cognome.
    pub last_name: String,
    /// Data di nascita.
    pub birth_date: Option<time::Date>,
    /// Indirizzo.
    pub address: String,
    /// CAP.
    pub postal_code: String,
    /// Comune.
    pub city: String,
    /// Provincia (sigla).
    pub province: String,
    /// Telefono.
    pub phone: String,
    /// Fax.
    pub fax: String,
}

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Primary key.
    pub id: i64,
    /// Username as chosen.
    pub username: String,
    /// argon2id hash (None for SPID-only accounts).
    pub password_hash: Option<String>,
    /// Codice fiscale: a claim, unless `identity` says it was verified.
    pub fiscal_code: String,
    /// E-mail address.
    pub email: String,
    /// When the e-mail was confirmed.
    pub email_confirmed_at: Option<Timestamp>,
    /// State.
    pub state: AccountState,
    /// Personal data.
    pub personal: PersonalData,
    /// Registration time.
    pub created_at: Timestamp,
    /// How `fiscal_code` was proven to be this person's; `None` while it is only claimed.
    pub identity: Option<VerifiedIdentity>,
}

impl Account {
    /// "Nome Cognome".
    pub fn display_name(&self) -> String {
        format!("{} {}", self.personal.first_name, self.personal.last_name)
    }

    /// Who this account is for the access rules: its fiscal code counts only when verified.
    pub fn viewer(&self) -> Viewer {
        match &self.identity {
            Some(_) => Viewer::verified(self.id, self.fiscal_code.clone()),
            None => Viewer::unverified(self.id),
        }
    }
}

/// Why an identity could not be verified.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No such account.
    #[error("no account {0}")]
    NoAccount(i64),
    /// Another account already holds this fiscal code verified (its id, when known: a
    /// concurrent verification is caught by the database's unique index without it).
    #[error("fiscal code already verified for another account ({0:?})")]
    HeldByAnother(Option<i64>),
    /// The account is already verified, for another fiscal code.
    #[error("account already verified for another fiscal code")]
    VerifiedOtherwise,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for VerifyError {
    fn from(e: sqlx::Error) -> Self {
        VerifyError::Store(StoreError::Db(e))
    }
}

/// A new account to insert.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Username.
    pub username: String,
    /// argon2id hash.
    pub password_hash: String,
    /// Codice fiscale (normalised).
    pub fiscal_code: String,
    /// E-mail.
    pub email: String,
    /// Personal data.
    pub personal: PersonalData,
}

/// What a single-use token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// Confirms the e-mail of a new account.
    Activation,
    /// Lets the holder choose a new password.
    PasswordReset,
    /// Confirms a new e-mail address.
    EmailChange,
}

impl TokenPurpose {
    fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Activation => "activation",
            TokenPurpose::PasswordReset => "password_reset",
            TokenPurpose::EmailChange => "email_change",
        }
    }
}

/// A token that was valid and is now used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedToken {
    /// Its account.
    pub account_id: i64,
    /// The new e-mail, for an e-mail change.
    pub new_email: Option<String>,
}

const COLUMNS: &str = "id, username, password_hash, first_name, last_name, fiscal_code, birth_date, address, postal_code, city, province, phone, fax, email, email_confirmed_at, state, created_at, fiscal_code_verified_at, identity_source, identity_verified_by";

fn from_row(r: &impl DbRow) -> Result<Account, sqlx::Error> {
    let state: String = r.col("state")?;
    let identity = match (
        r.col::<Option<Timestamp>>("fiscal_code_verified_at")?,
        r.col::<Option<String>>("identity_source")?,
        r.col::<Option<String>>("identity_verified_by")?,
    ) {
        (Some(verified_at), Some(source), Some(verified_by)) => Some(VerifiedIdentity {
            source: IdentitySource::parse(&source)
                .ok_or_else(|| sqlx::Error::Decode(format!("identity source {source:?}").into()))?,
            verified_at,
            verified_by,
        }),
        _ => None,
    };
    Ok(Account {
        identity,
        id: r.col("id")?,
        username: r.col("username")?,
        password_hash: r.col("password_hash")?,
        fiscal_code: r.col("fiscal_code")?,
        email: r.col("email")?,
        email_confirmed_at: r.col("email_confirmed_at")?,
        state: AccountState::parse(&state)
            .ok_or_else(|| sqlx::Error::Decode(format!("account state {state:?}").into()))?,
        personal: PersonalData {
            first_name: r.col("first_name")?,
            last_name: r.col("last_name")?,
            birth_date: r.col("birth_date")?,
            address: r.col("address")?,
            postal_code: r.col("postal_code")?,
            city: r.col("city")?,
            province: r.col("province")?,
            phone: r.col("phone")?,
            fax: r.col("fax")?,
        },
        created_at: r.col("created_at")?,
    })
}

/// The key usernames are unique on: "MRossi" and "mrossi" are the same account.
pub fn username_key(username: &str) -> String {
    username.trim().to_lowercase()
}

impl Store {
    /// Inserts a pending account. A taken username is a [`StoreError::Conflict`] naming the
    /// column (`username`); a fiscal code is a claim and may be claimed by any number of accounts.
    pub async fn insert_account_in(tx: &mut Tx, a: &NewAccount) -> StoreResult<i64> {
        let now = Timestamp::now();
        let p = &a.personal;
        let result = with_tx!(tx, |conn| {
            sqlx::query_scalar(
                "INSERT INTO accounts (username, username_key, password_hash, first_name, last_name, fiscal_code, birth_date, address, postal_code, city, province, phone, fax, email, state, privacy_accepted_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'pending', $15, $15, $15) RETURNING id",
            )
            .bind(a.username.trim())
            .bind(username_key(&a.username))
            .bind(&a.password_hash)
            .bind(&p.first_name)
            .bind(&p.last_name)
            .bind(&a.fiscal_code)
            .bind(p.birth_date)
            .bind(&p.address)
            .bind(&p.postal_code)
            .bind(&p.city)
            .bind(&p.province)
            .bind(&p.phone)
            .bind(&p.fax)
            .bind(&a.email)
            .bind(now)
            .fetch_one(conn)
            .await
        });
        result.map_err(|e| StoreError::from_insert(e, "username"))
    }

    /// Deletes the account holding `username` if it is still pending (its e-mail never
    /// confirmed) and was created before `created_before`: its activation links have expired, so
    /// it reserves the name no longer. True when one was deleted.
    pub async fn delete_stale_pending_in(
        tx: &mut Tx,
        username: &str,
        created_before: Timestamp,
    ) -> StoreResult<bool> {
        Ok(with_tx!(tx, |conn| {
            sqlx::query(
                "DELETE FROM accounts WHERE username_key = $1 AND state = 'pending'
                   AND email_confirmed_at IS NULL AND created_at < $2",
            )
            .bind(username_key(username))
            .bind(created_before)
            .execute(&mut *conn)
            .await?
            .rows_affected()
                > 0
        }))
    }

    async fn account_where(&self, clause: &str, value: &str) -> StoreResult<Option<Account>> {
        let sql = format!("SELECT {COLUMNS} FROM accounts WHERE {clause}");
        with_db!(self.db(), |pool| {
            Ok(sqlx::query(&sql)
                .bind(value)
                .fetch_optional(pool)
                .await?
                .map(|r| from_row(&r))
                .transpose()?)
        })
    }

    /// The account with this username (case-insensitive).
    pub async fn account_by_username(&self, username: &str) -> StoreResult<Option<Account>> {
        self.account_where("username_key = $1", &username_key(username))
            .await
    }

    /// The account holding this fiscal code *verified*, if any (at most one does). Accounts that
    /// only claim it are not returned: see [`Store::accounts_claiming`].
    pub async fn account_by_verified_fiscal_code(
        &self,
        fiscal_code: &FiscalCode,
    ) -> StoreResult<Option<Account>> {
        self.account_where(
            "fiscal_code = $1 AND fiscal_code_verified_at IS NOT NULL",
            fiscal_code.as_str(),
        )
        .await
    }

    /// Every account that typed this fiscal code, verified or not, oldest first (for an operator
    /// deciding whom to confirm).
    pub async fn accounts_claiming(&self, fiscal_code: &FiscalCode) -> StoreResult<Vec<Account>> {
        let sql = format!("SELECT {COLUMNS} FROM accounts WHERE fiscal_code = $1 ORDER BY id");
        with_db!(self.db(), |pool| {
            Ok(sqlx::query(&sql)
                .bind(fiscal_code.as_str())
                .fetch_all(pool)
                .await?
                .iter()
                .map(from_row)
                .collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Records that `fiscal_code` is proven to belong to the account: SPID/CIE asserted it at
    /// login, or an operator confirmed it (`by` names the operator, or the identity provider's
    /// entity id). The account's fiscal code becomes `fiscal_code` (a claim typed differently is
    /// replaced by the proven code) and the change is audited, in one transaction.
    ///
    /// Idempotent for the same account and code. Refused when another account already holds the
    /// code verified ([`VerifyError::HeldByAnother`]: the caller decides, e.g. an operator
    /// revokes the other first) or when the account is verified for a different code.
    pub async fn verify_identity(
        &self,
        account_id: i64,
        fiscal_code: &FiscalCode,
        source: IdentitySource,
        by: &str,
    ) -> Result<(), VerifyError> {
        let mut tx = self.db().begin().await?;
        Store::verify_identity_in(&mut tx, account_id, fiscal_code, source, by).await?;
        tx.commit().await?;
        Ok(())
    }

    /// [`Store::verify_identity`] inside the caller's transaction (e.g. creating an account at
    /// its first SPID login and verifying it at once).
    pub async fn verify_identity_in(
        tx: &mut Tx,
        account_id: i64,
        fiscal_code: &FiscalCode,
        source: IdentitySource,
        by: &str,
    ) -> Result<(), VerifyError> {
        let code = fiscal_code.as_str();
        let current: Option<(String, Option<Timestamp>)> = with_tx!(tx, |conn| {
            sqlx::query_as(
                "SELECT fiscal_code, fiscal_code_verified_at FROM accounts WHERE id = $1",
            )
            .bind(account_id)
            .fetch_optional(&mut *conn)
            .await?
        });
        let Some((claimed, verified_at)) = current else {
            return Err(VerifyError::NoAccount(account_id));
        };
        match verified_at {
            Some(_) if claimed == code => return Ok(()),
            Some(_) => return Err(VerifyError::VerifiedOtherwise),
            None => {}
        }
        let holder: Option<i64> = with_tx!(tx, |conn| {
            sqlx::query_scalar(
                "SELECT id FROM accounts WHERE fiscal_code = $1 AND fiscal_code_verified_at IS NOT NULL",
            )
            .bind(code)
            .fetch_optional(&mut *conn)
            .await?
        });
        if let Some(other) = holder {
            return Err(VerifyError::HeldByAnother(Some(other)));
        }
        let now = Timestamp::now();
        let updated = with_tx!(tx, |conn| {
            sqlx::query(
                "UPDATE accounts SET fiscal_code = $2, fiscal_code_verified_at = $3, identity_source = $4,
                    identity_verified_by = $5, updated_at = $3
                 WHERE id = $1",
            )
            .bind(account_id)
            .bind(code)
            .bind(now)
            .bind(source.as_str())
            .bind(by)
            .execute(&mut *conn)
            .await
            .map(|_| ())
        });
        match updated {
            Ok(_) => {}
            // Verified concurrently for another account: the partial unique index decided.
            Err(e) if crate::db::is_unique_violation(&e) => {
                return Err(VerifyError::HeldByAnother(None));
            }
            Err(e) => return Err(e.into()),
        }
        Store::audit_in(
            tx,
            &AuditEvent {
                account_id: Some(account_id),
                actor: by.chars().take(100).collect(),
                action: "identity_verified".into(),
                outcome: "ok".into(),
                ip: String::new(),
                detail: serde_json::json!({
                    "source": source.as_str(),
                    "fiscal_code_changed": claimed != code,
                })
                .to_string(),
            },
        )
        .await?;
        Ok(())
    }

    /// Withdraws a verification (an operator's mistake, a disputed identity): the fiscal code
    /// becomes a claim again. Audited with `by`. False when the account was not verified.
    pub async fn revoke_identity(&self, account_id: i64, by: &str) -> StoreResult<bool> {
        let mut tx = self.db().begin().await?;
        let now = Timestamp::now();
        let changed = with_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE accounts SET fiscal_code_verified_at = NULL, identity_source = NULL,
                    identity_verified_by = NULL, updated_at = $2
                 WHERE id = $1 AND fiscal_code_verified_at IS NOT NULL",
            )
            .bind(account_id)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
                > 0
        });
        if changed {
            Store::audit_in(
                &mut tx,
                &AuditEvent {
                    account_id: Some(account_id),
                    actor: by.chars().take(100).collect(),
                    action: "identity_revoked".into(),
                    outcome: "ok".into(),
                    ip: String::new(),
                    detail: "{}".into(),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// The account with this id.
    pub async fn account_by_id(&self, id: i64) -> StoreResult<Option<Account>> {
        let sql = format!("SELECT {COLUMNS} FROM accounts WHERE id = $1");
        with_db!(self.db(), |pool| {
            Ok(sqlx::query(&sql)
                .bind(id)
                .fetch_optional(pool)
                .await?
                .map(|r| from_row(&r))
                .transpose()?)
        })
    }

    /// Accounts registered with this e-mail (a family may share one), oldest first.
    pub async fn accounts_by_email(&self, email: &str) -> StoreResult<Vec<Account>> {
        let sql =
            format!("SELECT {COLUMNS} FROM accounts WHERE lower(email) = lower($1) ORDER BY id");
        with_db!(self.db(), |pool| {
            Ok(sqlx::query(&sql)
                .bind(email.trim())
                .fetch_all(pool)
                .await?
                .iter()
                .map(from_row)
                .collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Stores the hash of a new single-use token, voiding earlier unused ones of the same
    /// purpose (only the newest link works).
    pub async fn insert_token_in(
        tx: &mut Tx,
        account_id: i64,
        purpose: TokenPurpose,
        token_hash: &str,
        expires_at: Timestamp,
        new_email: Option<&str>,
    ) -> StoreResult<()> {
        let now = Timestamp::now();
        with_tx!(tx, |conn| {
            sqlx::query(
                "UPDATE account_tokens SET used_at = $3 WHERE account_id = $1 AND purpose = $2 AND used_at IS NULL",
            )
            .bind(account_id)
            .bind(purpose.as_str())
            .bind(now)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "INSERT INTO account_tokens (account_id, purpose, token_hash, new_email, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(account_id)
            .bind(purpose.as_str())
            .bind(token_hash)
            .bind(new_email)
            .bind(expires_at)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        });
        Ok(())
    }

    /// Uses a token: returns its account when it exists, has this purpose, is unused and not
    /// expired, and marks it used in the same statement so it works exactly once.
    pub async fn consume_token_in(
        tx: &mut Tx,
        purpose: TokenPurpose,
        token_hash: &str,
    ) -> StoreResult<Option<ConsumedToken>> {
        let now = Timestamp::now();
        let row = with_tx!(tx, |conn| {
            sqlx::query(
                "UPDATE account_tokens SET used_at = $3
                 WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
                 RETURNING account_id, new_email",
            )
            .bind(token_hash)
            .bind(purpose.as_str())
            .bind(now)
            .fetch_optional(conn)
            .await?
            .map(|r| -> Result<ConsumedToken, sqlx::Error> {
                Ok(ConsumedToken {
                    account_id: r.col("account_id")?,
                    new_email: r.col("new_email")?,
                })
            })
            .transpose()?
        });
        Ok(row)
    }

    /// Whether a token exists but has expired or been used (to word the error page).
    pub async fn token_is_stale(
        &self,
        purpose: TokenPurpose,
        token_hash: &str,
    ) -> StoreResult<bool> {
        with_db!(self.db(), |pool| {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM account_tokens WHERE token_hash = $1 AND purpose = $2",
            )
            .bind(token_hash)
            .bind(purpose.as_str())
            .fetch_one(pool)
            .await?;
            Ok(n > 0)
        })
    }

    /// Marks an account active with its e-mail confirmed.
    pub async fn activate_account_in(tx: &mut Tx, account_id: i64) -> StoreResult<()> {
        let now = Timestamp::now();
        with_tx!(tx, |conn| {
            sqlx::query(
                "UPDATE accounts SET state = 'active', email_confirmed_at = COALESCE(email_confirmed_at, $2), updated_at = $2 WHERE id = $1 AND state = 'pending'",
            )
            .bind(account_id)
            .bind(now)
            .execute(conn)
            .await?;
        });
        Ok(())
    }

    /// Sets a new password hash and ends every session of the account.
    pub async fn set_password_in(tx: &mut Tx, account_id: i64, hash: &str) -> StoreResult<()> {
        let now = Timestamp::now();
        with_tx!(tx, |conn| {
            sqlx::query("UPDATE accounts SET password_hash = $2, updated_at = $3 WHERE id = $1")
                .bind(account_id)
                .bind(hash)
                .bind(now)
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM sessions WHERE account_id = $1")
                .bind(account_id)
                .execute(&mut *conn)
                .await?;
        });
        Ok(())
    }

    /// Replaces the e-mail with a confirmed new one.
    pub async fn set_email_in(tx: &mut Tx, account_id: i64, email: &str) -> StoreResult<()> {
        let now = Timestamp::now();
        with_tx!(tx, |conn| {
            sqlx::query(
                "UPDATE accounts SET email = $2, email_confirmed_at = $3, updated_at = $3 WHERE id = $1",
            )
            .bind(account_id)
            .bind(email)
            .bind(now)
            .execute(conn)
            .await?;
        });
        Ok(())
    }

    /// Updates the personal data (not the fiscal code, the username or the e-mail).
    pub async fn update_personal_data(&self, account_id: i64, p: &PersonalData) -> StoreResult<()> {
        let now = Timestamp::now();
        with_db!(self.db(), |pool| {
            sqlx::query(
                "UPDATE accounts SET first_name = $2, last_name = $3, birth_date = $4, address = $5, postal_code = $6, city = $7, province = $8, phone = $9, fax = $10, updated_at = $11 WHERE id = $1",
            )
            .bind(account_id)
            .bind(&p.first_name)
            .bind(&p.last_name)
            .bind(p.birth_date)
            .bind(&p.address)
            .bind(&p.postal_code)
            .bind(&p.city)
            .bind(&p.province)
            .bind(&p.phone)
            .bind(&p.fax)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}
