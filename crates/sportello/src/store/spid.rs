//! SPID/CIE state: the requests we sent (single use), the identity-provider sessions behind our
//! sessions (single logout), identities waiting to be linked to an existing account, and the
//! accounts of citizens who enter with SPID/CIE.

use super::{Store, StoreError, StoreResult};
use crate::clock::Timestamp;
use crate::db::{DbRow, Tx};
use crate::{with_db, with_tx};

/// What a stored request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// An `AuthnRequest`.
    Authn,
    /// A `LogoutRequest`.
    Logout,
}

impl RequestKind {
    fn as_str(self) -> &'static str {
        match self {
            RequestKind::Authn => "authn",
            RequestKind::Logout => "logout",
        }
    }
}

/// A request Sportello sent to an identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpidRequest {
    /// Its SAML ID.
    pub id: String,
    /// Authentication or logout.
    pub kind: RequestKind,
    /// Where it went.
    pub idp_entity_id: String,
    /// The level asked for.
    pub level: i64,
    /// SHA-256 of the browser's flow cookie.
    pub browser_hash: String,
    /// Where to go after login (a local path), or empty.
    pub next_path: String,
    /// Its IssueInstant.
    pub issue_instant: Timestamp,
    /// Until when an answer is accepted.
    pub expires_at: Timestamp,
}

/// The identity-provider session behind a Sportello session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpidSession {
    /// The identity provider.
    pub idp_entity_id: String,
    /// The transient NameID it gave.
    pub name_id: String,
    /// Its NameQualifier.
    pub name_qualifier: String,
    /// Its session index, when given.
    pub session_index: Option<String>,
}

/// A verified identity waiting for its owner's choice: the password of the existing account
/// that claimed its fiscal code, or a new profile ("Non è il mio account"). Kept server-side,
/// under the visitor's session, whole: nothing of it comes back from the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLink {
    /// The existing account.
    pub account_id: i64,
    /// `spid` or `cie`.
    pub federation: String,
    /// The asserted fiscal code, normalised.
    pub fiscal_code: String,
    /// Nome.
    pub first_name: String,
    /// Cognome.
    pub last_name: String,
    /// E-mail from the identity provider, or empty.
    pub email: String,
    /// Data di nascita, when released.
    pub birth_date: Option<time::Date>,
    /// The SPID level used (1–3).
    pub level: i64,
    /// The identity-provider session.
    pub session: SpidSession,
    /// Where to go after login.
    pub next_path: String,
    /// Until when the link can be confirmed.
    pub expires_at: Timestamp,
}

/// A citizen whose identity SPID/CIE asserted and who has no account yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVerifiedAccount {
    /// Username (the fiscal code, unless taken).
    pub username: String,
    /// The fiscal code, normalised.
    pub fiscal_code: String,
    /// E-mail from the identity provider, or empty (CIE releases none).
    pub email: String,
    /// Nome.
    pub first_name: String,
    /// Cognome.
    pub last_name: String,
    /// Data di nascita.
    pub birth_date: Option<time::Date>,
}

const PENDING_COLUMNS: &str = "account_id, federation, idp_entity_id, name_id, name_qualifier, session_index, next_path, expires_at, fiscal_code, first_name, last_name, email, birth_date, level";

fn pending_of(r: &impl DbRow) -> Result<PendingLink, sqlx::Error> {
    Ok(PendingLink {
        account_id: r.col("account_id")?,
        federation: r.col("federation")?,
        fiscal_code: r.col("fiscal_code")?,
        first_name: r.col("first_name")?,
        last_name: r.col("last_name")?,
        email: r.col("email")?,
        birth_date: r.col("birth_date")?,
        level: r.col("level")?,
        session: SpidSession {
            idp_entity_id: r.col("idp_entity_id")?,
            name_id: r.col("name_id")?,
            name_qualifier: r.col("name_qualifier")?,
            session_index: r.col("session_index")?,
        },
        next_path: r.col("next_path")?,
        expires_at: r.col("expires_at")?,
    })
}

impl Store {
    /// Records a request just sent.
    pub async fn insert_spid_request(&self, r: &SpidRequest) -> StoreResult<()> {
        with_db!(self.db(), |pool| {
            sqlx::query(
                "INSERT INTO spid_requests (id, kind, idp_entity_id, level, browser_hash, next_path, issue_instant, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&r.id)
            .bind(r.kind.as_str())
            .bind(&r.idp_entity_id)
            .bind(r.level)
            .bind(&r.browser_hash)
            .bind(&r.next_path)
            .bind(r.issue_instant)
            .bind(r.expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Uses a request once: the stored request `id` of `kind`, not expired, not used before, and
    /// started by the browser whose flow cookie hashes to `browser_hash` (None skips that check:
    /// logout answers carry nothing to protect). The row is marked used in the same statement,
    /// so two concurrent answers cannot both get it.
    pub async fn take_spid_request(
        &self,
        id: &str,
        kind: RequestKind,
        browser_hash: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<Option<SpidRequest>> {
        with_db!(self.db(), |pool| {
            let row = sqlx::query(
                "UPDATE spid_requests SET used_at = $3 WHERE id = $1 AND kind = $2 AND used_at IS NULL AND expires_at > $3 AND ($4 = '' OR browser_hash = $4)
                 RETURNING id, idp_entity_id, level, browser_hash, next_path, issue_instant, expires_at",
            )
            .bind(id)
            .bind(kind.as_str())
            .bind(now)
            .bind(browser_hash.unwrap_or_default())
            .fetch_optional(pool)
            .await?;
            Ok(row
                .map(|r| -> Result<SpidRequest, sqlx::Error> {
                    Ok(SpidRequest {
                        id: r.col("id")?,
                        kind,
                        idp_entity_id: r.col("idp_entity_id")?,
                        level: r.col("level")?,
                        browser_hash: r.col("browser_hash")?,
                        next_path: r.col("next_path")?,
                        issue_instant: r.col("issue_instant")?,
                        expires_at: r.col("expires_at")?,
                    })
                })
                .transpose()?)
        })
    }

    /// Removes requests that expired before `now`; returns how many.
    pub async fn purge_spid_requests(&self, now: Timestamp) -> StoreResult<u64> {
        with_db!(self.db(), |pool| {
            Ok(
                sqlx::query("DELETE FROM spid_requests WHERE expires_at <= $1")
                    .bind(now)
                    .execute(pool)
                    .await?
                    .rows_affected(),
            )
        })
    }

    /// Remembers the identity-provider session behind the session `session_id_hash`.
    pub async fn insert_spid_session(
        &self,
        session_id_hash: &str,
        account_id: i64,
        s: &SpidSession,
    ) -> StoreResult<()> {
        with_db!(self.db(), |pool| {
            sqlx::query(
                "INSERT INTO spid_sessions (session_id_hash, account_id, idp_entity_id, name_id, name_qualifier, session_index, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(session_id_hash)
            .bind(account_id)
            .bind(&s.idp_entity_id)
            .bind(&s.name_id)
            .bind(&s.name_qualifier)
            .bind(&s.session_index)
            .bind(Timestamp::now())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The identity-provider session behind a session, if it came from SPID/CIE.
    pub async fn spid_session(&self, session_id_hash: &str) -> StoreResult<Option<SpidSession>> {
        with_db!(self.db(), |pool| {
            let row = sqlx::query(
                "SELECT idp_entity_id, name_id, name_qualifier, session_index FROM spid_sessions WHERE session_id_hash = $1",
            )
            .bind(session_id_hash)
            .fetch_optional(pool)
            .await?;
            Ok(row
                .map(|r| -> Result<SpidSession, sqlx::Error> {
                    Ok(SpidSession {
                        idp_entity_id: r.col("idp_entity_id")?,
                        name_id: r.col("name_id")?,
                        name_qualifier: r.col("name_qualifier")?,
                        session_index: r.col("session_index")?,
                    })
                })
                .transpose()?)
        })
    }

    /// Ends every Sportello session that an identity provider's session (NameID, and session
    /// index when named) stands behind: an identity-provider-initiated logout. Returns how many.
    pub async fn end_spid_sessions(
        &self,
        idp_entity_id: &str,
        name_id: &str,
        session_indexes: &[String],
    ) -> StoreResult<u64> {
        let mut tx = self.db().begin().await?;
        let hashes: Vec<(String, Option<String>)> = with_tx!(&mut tx, |conn| {
            let rows = sqlx::query(
                "SELECT session_id_hash, session_index FROM spid_sessions WHERE idp_entity_id = $1 AND name_id = $2",
            )
            .bind(idp_entity_id)
            .bind(name_id)
            .fetch_all(conn)
            .await?;
            rows.iter()
                .map(|r| Ok((r.col("session_id_hash")?, r.col("session_index")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
        })?;
        let mut ended = 0;
        for (hash, index) in hashes {
            let named = session_indexes.is_empty()
                || index.as_ref().is_none_or(|i| session_indexes.contains(i));
            if !named {
                continue;
            }
            ended += with_tx!(&mut tx, |conn| {
                sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                    .bind(&hash)
                    .execute(conn)
                    .await
                    .map(|r| r.rows_affected())
            })?;
        }
        tx.commit().await?;
        Ok(ended)
    }

    /// Keeps a verified identity for the session `session_id_hash` until its owner confirms the
    /// password of `link.account_id` (replacing any earlier one of that session).
    pub async fn put_pending_link(
        &self,
        session_id_hash: &str,
        link: &PendingLink,
    ) -> StoreResult<()> {
        with_db!(self.db(), |pool| {
            sqlx::query("DELETE FROM spid_pending_links WHERE session_id_hash = $1")
                .bind(session_id_hash)
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO spid_pending_links (session_id_hash, account_id, federation, idp_entity_id, name_id, name_qualifier, session_index, next_path, expires_at, fiscal_code, first_name, last_name, email, birth_date, level) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            )
            .bind(session_id_hash)
            .bind(link.account_id)
            .bind(&link.federation)
            .bind(&link.session.idp_entity_id)
            .bind(&link.session.name_id)
            .bind(&link.session.name_qualifier)
            .bind(&link.session.session_index)
            .bind(&link.next_path)
            .bind(link.expires_at)
            .bind(&link.fiscal_code)
            .bind(&link.first_name)
            .bind(&link.last_name)
            .bind(&link.email)
            .bind(link.birth_date)
            .bind(link.level)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The identity waiting to be linked in this session, if not expired.
    pub async fn pending_link(
        &self,
        session_id_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<PendingLink>> {
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&format!(
                "SELECT {PENDING_COLUMNS} FROM spid_pending_links WHERE session_id_hash = $1 AND expires_at > $2"
            ))
            .bind(session_id_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?;
            Ok(row.map(|r| pending_of(&r)).transpose()?)
        })
    }

    /// Uses the identity waiting in this session once: deletes it and returns it if it had not
    /// expired. Two concurrent submissions cannot both get it.
    pub async fn take_pending_link(
        &self,
        session_id_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<PendingLink>> {
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&format!(
                "DELETE FROM spid_pending_links WHERE session_id_hash = $1 RETURNING {PENDING_COLUMNS}"
            ))
            .bind(session_id_hash)
            .fetch_optional(pool)
            .await?;
            let link = row.map(|r| pending_of(&r)).transpose()?;
            Ok(link.filter(|l| l.expires_at > now))
        })
    }

    /// Forgets the identity waiting in this session.
    pub async fn drop_pending_link(&self, session_id_hash: &str) -> StoreResult<()> {
        with_db!(self.db(), |pool| {
            sqlx::query("DELETE FROM spid_pending_links WHERE session_id_hash = $1")
                .bind(session_id_hash)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Creates an active account for a citizen who entered with SPID/CIE (no password: they
    /// enter with SPID/CIE). The caller verifies its fiscal code in the same transaction
    /// ([`Store::verify_identity_in`]). A taken username is a [`StoreError::Conflict`].
    pub async fn insert_spid_account_in(tx: &mut Tx, a: &NewVerifiedAccount) -> StoreResult<i64> {
        let now = Timestamp::now();
        let result = with_tx!(tx, |conn| {
            sqlx::query_scalar(
                "INSERT INTO accounts (username, username_key, password_hash, first_name, last_name, fiscal_code, birth_date, email, state, created_at, updated_at)
                 VALUES ($1, $2, NULL, $3, $4, $5, $6, $7, 'active', $8, $8) RETURNING id",
            )
            .bind(a.username.trim())
            .bind(super::accounts::username_key(&a.username))
            .bind(&a.first_name)
            .bind(&a.last_name)
            .bind(&a.fiscal_code)
            .bind(a.birth_date)
            .bind(&a.email)
            .bind(now)
            .fetch_one(conn)
            .await
        });
        result.map_err(|e| StoreError::from_insert(e, "account"))
    }
}
