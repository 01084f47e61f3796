//! Operators of the back office, the services each may act on, and their sessions (a table of
//! their own: an operator's cookie never opens a citizen's session, nor the other way round).

use super::{Store, StoreError, StoreResult};
use crate::backoffice::{Operator, Role};
use crate::clock::Timestamp;
use crate::db::DbRow;
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
    /// Reads only.
    pub read_only: bool,
    /// Catalog codes of the services in scope.
    pub services: Vec<String>,
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
    })
}

impl Store {
    /// Creates an operator with its services; [`StoreError::Conflict`] when the username is taken.
    pub async fn insert_operator(&self, o: &NewOperator) -> StoreResult<i64> {
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
        for code in &o.services {
            crate::with_tx!(&mut tx, |conn| {
                sqlx::query(
                    "INSERT INTO operator_services (operator_id, service_code) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(id)
                .bind(code)
                .execute(&mut *conn)
                .await?;
            });
        }
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
        operator.services = self.operator_services(operator.id).await?;
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

    async fn operator_services(&self, id: i64) -> StoreResult<Vec<String>> {
        with_db!(self.db(), |pool| {
            Ok(sqlx::query_scalar(
                "SELECT service_code FROM operator_services WHERE operator_id = $1 ORDER BY service_code",
            )
            .bind(id)
            .fetch_all(pool)
            .await?)
        })
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
            o.services = self.operator_services(o.id).await?;
        }
        Ok(all)
    }

    /// Disables an operator and ends their sessions; false when there is no such operator.
    pub async fn disable_operator(&self, username: &str) -> StoreResult<bool> {
        let now = Timestamp::now();
        let changed = with_db!(self.db(), |pool| {
            sqlx::query(
                "UPDATE operators SET disabled_at = $2, updated_at = $2 WHERE username = $1 AND disabled_at IS NULL",
            )
            .bind(username)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        with_db!(self.db(), |pool| {
            sqlx::query(
                "DELETE FROM operator_sessions WHERE operator_id IN (SELECT id FROM operators WHERE username = $1)",
            )
            .bind(username)
            .execute(pool)
            .await?;
        });
        Ok(changed > 0)
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
    pub async fn use_totp_step(&self, id: i64, step: i64) -> StoreResult<bool> {
        with_db!(self.db(), |pool| {
            Ok(sqlx::query(
                "UPDATE operators SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2",
            )
            .bind(id)
            .bind(step)
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

enum Key<'a> {
    Id(i64),
    Name(&'a str),
}
