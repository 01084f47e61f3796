//! Operators of the back office, the services each may act on, and their sessions (a table of
//! their own: an operator's cookie never opens a citizen's session, nor the other way round).

use super::{Store, StoreError, StoreResult};
use crate::backoffice::{Operator, Role};
use crate::clock::Timestamp;
use crate::db::DbRow;
use crate::store::audit::AuditEvent;
use crate::store::sessions::{OPERATORS, SessionRecord};
use crate::with_db;

/// An operator to create.
#[derive(Debug, Clone)]
pub struct NewOperator {
    /// Login name.
    pub username: String,
    /// argon2id hash of the initial password.
    pub password_hash: String,
    /// TOTP secret, base32.
    pub totp_secret: String,
    /// Role.
    pub role: Role,
    /// An admin who reads only.
    pub read_only: bool,
    /// Catalog codes of the services in scope.
    pub services: Vec<String>,
    /// Those of `services` seen but not changed.
    pub read_only_services: Vec<String>,
}

/// A change to an operator, made by [`Store::change_operator`].
#[derive(Debug, Clone)]
pub enum OperatorChange {
    /// Disable (true) or enable again (false).
    Disabled(bool),
    /// Role, read-only flag and services.
    Access {
        /// Role.
        role: Role,
        /// An admin who reads only.
        read_only: bool,
        /// Catalog codes of the services in scope.
        services: Vec<String>,
        /// Those of `services` seen but not changed.
        read_only_services: Vec<String>,
    },
    /// A new one-time password (argon2id hash): to be changed at the next login.
    Password(String),
    /// A new sealed TOTP secret (no step used yet).
    Totp(String),
}

/// What [`Store::change_operator`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// Done.
    Applied,
    /// Nothing to do (already disabled, already enabled).
    Unchanged,
    /// Refused: it would leave no active admin.
    LastAdmin,
    /// No such operator.
    NotFound,
}

const COLUMNS: &str = "id, username, password_hash, must_change_password, totp_secret, totp_last_step, role, read_only, disabled_at";

fn operator_from_row(r: &impl DbRow) -> Result<Operator, sqlx::Error> {
    let role: String = r.col("role")?;
    let disabled: Option<Timestamp> = r.col("disabled_at")?;
    Ok(Operator {
        id: r.col("id")?,
        username: r.col("username")?,
        password_hash: r.col("password_hash")?,
        must_change_password: r.col("must_change_password")?,
        totp_secret: r.col("totp_secret")?,
        totp_last_step: r.col("totp_last_step")?,
        role: Role::parse(&role)
            .ok_or_else(|| sqlx::Error::Decode(format!("operator role {role:?}").into()))?,
        read_only: r.col("read_only")?,
        disabled: disabled.is_some(),
        services: Vec::new(),
        read_only_services: Vec::new(),
    })
}

impl Store {
    /// Creates an operator with its services, and the audit row saying who did;
    /// [`StoreError::Conflict`] when the username is taken.
    pub async fn insert_operator(&self, o: &NewOperator, audit: &AuditEvent) -> StoreResult<i64> {
        let now = Timestamp::now();
        let mut tx = self.db().begin().await?;
        let id: i64 = crate::with_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
                "INSERT INTO operators (username, password_hash, must_change_password, totp_secret, role, read_only, created_at, updated_at) VALUES ($1, $2, TRUE, $3, $4, $5, $6, $6) RETURNING id",
            )
            .bind(&o.username)
            .bind(&o.password_hash)
            .bind(&o.totp_secret)
            .bind(o.role.as_str())
            .bind(o.read_only)
            .bind(now)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| StoreError::from_insert(e, format!("operator {}", o.username)))?
        });
        insert_services_in(&mut tx, id, &o.services, &o.read_only_services).await?;
        Store::audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn operator_where(&self, clause: &str, key: Key<'_>) -> StoreResult<Option<Operator>> {
        let sql = format!("SELECT {COLUMNS} FROM operators WHERE {clause}");
        let found = with_db!(self.db(), |pool| {
            let q = sqlx::query(&sql);
            let q = match key {
                Key::Id(id) => q.bind(id),
                Key::Name(name) => q.bind(name),
            };
            q.fetch_optional(pool)
                .await?
                .map(|r| operator_from_row(&r))
                .transpose()?
        });
        let Some(mut operator) = found else {
            return Ok(None);
        };
        (operator.services, operator.read_only_services) =
            self.operator_services(operator.id).await?;
        Ok(Some(operator))
    }

    /// The operator with this username (disabled ones included: the caller decides).
    pub async fn operator_by_username(&self, username: &str) -> StoreResult<Option<Operator>> {
        self.operator_where("username = $1", Key::Name(username))
            .await
    }

    /// The operator with this id.
    pub async fn operator_by_id(&self, id: i64) -> StoreResult<Option<Operator>> {
        self.operator_where("id = $1", Key::Id(id)).await
    }

    /// The operator's services, and those of them they only read.
    async fn operator_services(&self, id: i64) -> StoreResult<(Vec<String>, Vec<String>)> {
        let rows: Vec<(String, bool)> = with_db!(self.db(), |pool| {
            sqlx::query_as(
                "SELECT service_code, read_only FROM operator_services WHERE operator_id = $1 ORDER BY service_code",
            )
            .bind(id)
            .fetch_all(pool)
            .await?
        });
        let read_only = rows
            .iter()
            .filter(|(_, ro)| *ro)
            .map(|(c, _)| c.clone())
            .collect();
        Ok((rows.into_iter().map(|(c, _)| c).collect(), read_only))
    }

    /// Every operator, by username, with their services.
    pub async fn operators(&self) -> StoreResult<Vec<Operator>> {
        let sql = format!("SELECT {COLUMNS} FROM operators ORDER BY username");
        let mut all = with_db!(self.db(), |pool| {
            sqlx::query(&sql)
                .fetch_all(pool)
                .await?
                .iter()
                .map(operator_from_row)
                .collect::<Result<Vec<_>, _>>()?
        });
        for o in &mut all {
            (o.services, o.read_only_services) = self.operator_services(o.id).await?;
        }
        Ok(all)
    }

    /// Every operator with the time of their last login (None: never).
    pub async fn operators_with_last_login(
        &self,
    ) -> StoreResult<Vec<(Operator, Option<Timestamp>)>> {
        let logins: Vec<(i64, Option<Timestamp>)> = with_db!(self.db(), |pool| {
            sqlx::query_as("SELECT id, last_login_at FROM operators")
                .fetch_all(pool)
                .await?
        });
        Ok(self
            .operators()
            .await?
            .into_iter()
            .map(|o| {
                let last = logins.iter().find(|(id, _)| *id == o.id).and_then(|l| l.1);
                (o, last)
            })
            .collect())
    }

    /// Applies `change` to operator `id` and writes `audit`, in one transaction. A change that
    /// would leave no active admin (disabling or demoting the last one) is refused with
    /// [`ChangeOutcome::LastAdmin`]: the active admins are locked first (on PostgreSQL), so two
    /// admins demoting each other at once cannot both succeed. Disabling and resetting a
    /// credential end the operator's sessions.
    pub async fn change_operator(
        &self,
        id: i64,
        change: &OperatorChange,
        audit: &AuditEvent,
    ) -> StoreResult<ChangeOutcome> {
        let now = Timestamp::now();
        let lock = match self.db() {
            crate::db::Db::Sqlite(..) => "",
            crate::db::Db::Postgres(_) => " FOR UPDATE",
        };
        let admins_sql = format!(
            "SELECT id FROM operators WHERE role = 'admin' AND disabled_at IS NULL ORDER BY id{lock}"
        );
        let mut tx = self.db().begin().await?;
        let admins: Vec<i64> = crate::with_tx!(&mut tx, |conn| {
            sqlx::query_scalar(&admins_sql)
                .fetch_all(&mut *conn)
                .await?
        });
        let exists: Option<i64> = crate::with_tx!(&mut tx, |conn| {
            sqlx::query_scalar("SELECT id FROM operators WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
        });
        if exists.is_none() {
            return Ok(ChangeOutcome::NotFound);
        }
        let removes_admin = match change {
            OperatorChange::Disabled(true) => true,
            OperatorChange::Access { role, .. } => *role != Role::Admin,
            _ => false,
        };
        if removes_admin && admins.contains(&id) && admins.len() == 1 {
            return Ok(ChangeOutcome::LastAdmin);
        }
        let mut end_sessions = true;
        match change {
            OperatorChange::Disabled(disabled) => {
                end_sessions = *disabled;
                let sql = if *disabled {
                    "UPDATE operators SET disabled_at = $2, updated_at = $2 WHERE id = $1 AND disabled_at IS NULL"
                } else {
                    "UPDATE operators SET disabled_at = NULL, updated_at = $2 WHERE id = $1 AND disabled_at IS NOT NULL"
                };
                let changed = crate::with_tx!(&mut tx, |conn| {
                    sqlx::query(sql)
                        .bind(id)
                        .bind(now)
                        .execute(&mut *conn)
                        .await?
                        .rows_affected()
                });
                if changed == 0 {
                    return Ok(ChangeOutcome::Unchanged);
                }
            }
            OperatorChange::Access {
                role,
                read_only,
                services,
                read_only_services,
            } => {
                // The scope is read afresh on every request: no session needs to end.
                end_sessions = false;
                crate::with_tx!(&mut tx, |conn| {
                    sqlx::query(
                        "UPDATE operators SET role = $2, read_only = $3, updated_at = $4 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(role.as_str())
                    .bind(*read_only)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                    sqlx::query("DELETE FROM operator_services WHERE operator_id = $1")
                        .bind(id)
                        .execute(&mut *conn)
                        .await?;
                });
                insert_services_in(&mut tx, id, services, read_only_services).await?;
            }
            OperatorChange::Password(value) | OperatorChange::Totp(value) => {
                let sql = if matches!(change, OperatorChange::Password(_)) {
                    "UPDATE operators SET password_hash = $2, must_change_password = TRUE, updated_at = $3 WHERE id = $1"
                } else {
                    "UPDATE operators SET totp_secret = $2, totp_last_step = 0, updated_at = $3 WHERE id = $1"
                };
                crate::with_tx!(&mut tx, |conn| {
                    sqlx::query(sql)
                        .bind(id)
                        .bind(value)
                        .bind(now)
                        .execute(&mut *conn)
                        .await?;
                });
            }
        }
        if end_sessions {
            crate::with_tx!(&mut tx, |conn| {
                sqlx::query("DELETE FROM operator_sessions WHERE operator_id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
            });
        }
        Store::audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(ChangeOutcome::Applied)
    }

    /// Replaces operator `id`'s stored TOTP secret `old` with `new` (sealing a secret stored in
    /// clear); false when the row no longer holds `old`.
    pub async fn replace_totp_secret(&self, id: i64, old: &str, new: &str) -> StoreResult<bool> {
        with_db!(self.db(), |pool| {
            Ok(sqlx::query(
                "UPDATE operators SET totp_secret = $3 WHERE id = $1 AND totp_secret = $2",
            )
            .bind(id)
            .bind(old)
            .bind(new)
            .execute(pool)
            .await?
            .rows_affected()
                == 1)
        })
    }

    /// Sets a new password chosen by the operator (the initial one is then spent).
    pub async fn set_operator_password(&self, id: i64, hash: &str) -> StoreResult<()> {
        with_db!(self.db(), |pool| {
            sqlx::query(
                "UPDATE operators SET password_hash = $2, must_change_password = FALSE, updated_at = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(hash)
            .bind(Timestamp::now())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Spends TOTP time step `step` for the operator: true only the first time (and only for a
    /// step later than any used before), so a code cannot be replayed, even by two instances.
    /// The code is the last check of a login, so this is also the time of the last login.
    pub async fn use_totp_step(&self, id: i64, step: i64) -> StoreResult<bool> {
        with_db!(self.db(), |pool| {
            Ok(sqlx::query(
                "UPDATE operators SET totp_last_step = $2, last_login_at = $3 WHERE id = $1 AND totp_last_step < $2",
            )
            .bind(id)
            .bind(step)
            .bind(Timestamp::now())
            .execute(pool)
            .await?
            .rows_affected()
                == 1)
        })
    }

    /// Creates an operator session (`account_id` of the record is the operator's id).
    pub async fn create_operator_session(
        &self,
        record: &SessionRecord,
        ip: &str,
        user_agent: &str,
    ) -> StoreResult<()> {
        self.create_session_in(OPERATORS, record, ip, user_agent)
            .await
    }

    /// The live operator session with this hash.
    pub async fn operator_session(
        &self,
        id_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<SessionRecord>> {
        self.session_in(OPERATORS, id_hash, now).await
    }

    /// Records activity: the idle expiry moves to `expires_at`.
    pub async fn touch_operator_session(
        &self,
        id_hash: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        self.touch_session_in(OPERATORS, id_hash, now, expires_at)
            .await
    }

    /// Ends an operator session.
    pub async fn delete_operator_session(&self, id_hash: &str) -> StoreResult<()> {
        self.delete_session_in(OPERATORS, id_hash).await
    }
}

/// Gives operator `id` the services `codes`, inside the caller's transaction.
async fn insert_services_in(
    tx: &mut crate::db::Tx,
    id: i64,
    codes: &[String],
    read_only: &[String],
) -> StoreResult<()> {
    for code in codes {
        crate::with_tx!(&mut *tx, |conn| {
            sqlx::query(
                "INSERT INTO operator_services (operator_id, service_code, read_only) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(code)
            .bind(read_only.contains(code))
            .execute(&mut *conn)
            .await?;
        });
    }
    Ok(())
}

enum Key<'a> {
    Id(i64),
    Name(&'a str),
}
