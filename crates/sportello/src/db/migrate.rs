//! Schema migrations: plain SQL files per dialect under `migrations/{sqlite,postgres}/`, embedded
//! in the binary and applied in order, each in its own transaction.
//!
//! The two folders are kept in lockstep (same file names; a test checks it) and the shared
//! storage suite runs against both, so they cannot drift apart unnoticed.
//!
//! **Rebuilding a referenced table on SQLite.** SQLite cannot drop a column constraint in place:
//! the table must be rebuilt (create the new one, copy, drop the old, rename). With foreign keys
//! on, `DROP TABLE` first deletes every row, which cascades into the tables that reference it
//! (or fails on those that do not cascade); and `PRAGMA foreign_keys` is silently ignored inside
//! a transaction. A SQLite migration whose text contains the line
//! [`FOREIGN_KEYS_OFF`] (`-- sportello:foreign-keys-off`) is therefore applied the way SQLite
//! documents ("making other kinds of table schema changes"): foreign keys are switched off on the
//! migrating connection *before* its transaction, the migration runs, `PRAGMA foreign_key_check`
//! must find nothing before the commit (else the whole migration rolls back), and foreign keys are
//! switched on again whatever happened. PostgreSQL ignores the marker: it alters constraints in
//! place.

use sqlx::Connection;

use super::Db;
use crate::with_db;

/// One migration, in both dialects.
#[derive(Debug)]
pub struct Migration {
    /// Sequential version number (the file's numeric prefix).
    pub version: i64,
    /// The file name without extension, e.g. `0001_init`.
    pub name: &'static str,
    /// SQLite text.
    pub sqlite: &'static str,
    /// PostgreSQL text.
    pub postgres: &'static str,
}

macro_rules! migration {
    ($version:expr, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../migrations/sqlite/",
                $name,
                ".sql"
            )),
            postgres: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../migrations/postgres/",
                $name,
                ".sql"
            )),
        }
    };
}

/// Every migration this binary knows, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_init"),
    migration!(2, "0002_cart"),
    migration!(3, "0003_gpd"),
    migration!(4, "0004_station"),
    migration!(5, "0005_trust"),
    migration!(6, "0006_spid"),
    migration!(9, "0009_backoffice"),
    migration!(10, "0010_recon"),
    migration!(12, "0012_spid_pending_identity"),
    migration!(13, "0013_office_admin"),
    migration!(16, "0016_operator_service_mode"),
];

/// The line that makes a SQLite migration run with foreign keys off (see the module docs).
pub const FOREIGN_KEYS_OFF: &str = "-- sportello:foreign-keys-off";

impl Migration {
    /// Whether the SQLite text asks to be applied with foreign keys off.
    pub fn sqlite_foreign_keys_off(&self) -> bool {
        self.sqlite.lines().any(|l| l.trim() == FOREIGN_KEYS_OFF)
    }
}

/// A migration problem.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The database refused a statement.
    #[error("migration {name} failed: {source}")]
    Apply {
        /// Which migration.
        name: &'static str,
        /// The database error.
        source: sqlx::Error,
    },
    /// An applied migration's text differs from the embedded one: somebody edited history.
    #[error(
        "migration {version} was changed after it was applied (checksum {applied} in the database, {embedded} in this binary)"
    )]
    Changed {
        /// Which version.
        version: i64,
        /// Checksum recorded in the database.
        applied: String,
        /// Checksum of the embedded text.
        embedded: String,
    },
    /// A migration run with foreign keys off left references that point nowhere.
    #[error("migration {name} left {count} rows whose foreign keys point nowhere (first: {first})")]
    ForeignKeys {
        /// Which migration.
        name: &'static str,
        /// How many rows `PRAGMA foreign_key_check` reported.
        count: usize,
        /// The first of them, as `table rowid → parent`.
        first: String,
    },
    /// Any other database error.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// What the database has compared with what the binary knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Versions applied to the database.
    pub applied: Vec<i64>,
    /// Versions this binary has that the database has not.
    pub pending: Vec<i64>,
}

impl MigrationStatus {
    /// Whether the schema is exactly what this binary expects (nothing pending).
    pub fn is_current(&self) -> bool {
        self.pending.is_empty()
    }
}

/// FNV-1a, 64 bits: enough to notice an edited migration, no extra dependency.
fn checksum(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL
)";

/// An arbitrary constant: the PostgreSQL advisory lock that serialises migrating instances.
const PG_LOCK_KEY: i64 = 0x5350_4f52_5445_4c4c; // "SPORTELL"

/// Applies the pending migrations up to `$last` on one connection; expanded once per dialect.
/// `$before`/`$after` run around each migration outside its transaction (SQLite's foreign-key
/// switch), `$check` inside it just before the commit.
macro_rules! apply_pending {
    ($conn:expr, $begin:expr, $text:ident, $now:expr, $last:expr,
     before: $before:expr, check: $check:expr, after: $after:expr) => {{
        sqlx::query(CREATE_TABLE).execute(&mut *$conn).await?;
        let mut done = Vec::new();
        for m in MIGRATIONS.iter().filter(|m| m.version <= $last) {
            let applied: Option<String> =
                sqlx::query_scalar("SELECT checksum FROM schema_migrations WHERE version = $1")
                    .bind(m.version)
                    .fetch_optional(&mut *$conn)
                    .await?;
            let embedded = checksum(m.$text);
            match applied {
                Some(sum) if sum == embedded => continue,
                Some(sum) => {
                    return Err(MigrateError::Changed {
                        version: m.version,
                        applied: sum,
                        embedded,
                    })
                }
                None => {}
            }
            $before(&mut *$conn, m).await?;
            let result = async {
                let mut tx = $begin;
                // Read again under the transaction's lock: another instance may have applied it.
                let applied: Option<String> =
                    sqlx::query_scalar("SELECT checksum FROM schema_migrations WHERE version = $1")
                        .bind(m.version)
                        .fetch_optional(&mut *tx)
                        .await?;
                if applied.is_some() {
                    return Ok::<_, MigrateError>(false);
                }
                sqlx::raw_sql(m.$text)
                    .execute(&mut *tx)
                    .await
                    .map_err(|source| MigrateError::Apply { name: m.name, source })?;
                $check(&mut *tx, m).await?;
                sqlx::query(
                    "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(m.version)
                .bind(m.name)
                .bind(&embedded)
                .bind($now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }
            .await;
            let restored = $after(&mut *$conn, m).await;
            if result? {
                done.push(m.version);
            }
            restored?;
        }
        Ok::<_, MigrateError>(done)
    }};
}

/// SQLite: foreign keys off on this connection before a migration that asks for it.
async fn sqlite_before(
    conn: &mut sqlx::SqliteConnection,
    m: &Migration,
) -> Result<(), MigrateError> {
    if m.sqlite_foreign_keys_off() {
        sqlx::query("PRAGMA foreign_keys = OFF")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// SQLite: a migration run with foreign keys off must leave every reference valid.
async fn sqlite_check(
    conn: &mut sqlx::SqliteConnection,
    m: &Migration,
) -> Result<(), MigrateError> {
    if !m.sqlite_foreign_keys_off() {
        return Ok(());
    }
    let broken: Vec<(String, Option<i64>, String)> =
        sqlx::query_as("SELECT \"table\", rowid, parent FROM pragma_foreign_key_check")
            .fetch_all(&mut *conn)
            .await?;
    match broken.first() {
        None => Ok(()),
        Some((table, rowid, parent)) => Err(MigrateError::ForeignKeys {
            name: m.name,
            count: broken.len(),
            first: format!("{table} {} → {parent}", rowid.unwrap_or_default()),
        }),
    }
}

/// SQLite: foreign keys back on, whatever the migration did.
async fn sqlite_after(
    conn: &mut sqlx::SqliteConnection,
    m: &Migration,
) -> Result<(), MigrateError> {
    if m.sqlite_foreign_keys_off() {
        sqlx::query("PRAGMA foreign_keys = ON")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn no_hook<C>(_conn: &mut C, _m: &Migration) -> Result<(), MigrateError> {
    Ok(())
}

/// Applies every pending migration. Safe to call from several instances at once: PostgreSQL
/// serialises them with an advisory lock, SQLite with its write lock.
pub async fn run(db: &Db) -> Result<Vec<i64>, MigrateError> {
    run_until(db, i64::MAX).await
}

/// Applies the pending migrations numbered up to `last`, and no later one. `run` is this with no
/// bound; tests of a migration use it to put data into the schema the migration starts from.
pub async fn run_until(db: &Db, last: i64) -> Result<Vec<i64>, MigrateError> {
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    match db {
        Db::Sqlite(pool, _) => {
            let mut conn = pool.acquire().await?;
            let result = apply_pending!(
                conn,
                conn.begin_with("BEGIN IMMEDIATE").await?,
                sqlite,
                &now,
                last,
                before: sqlite_before,
                check: sqlite_check,
                after: sqlite_after
            );
            if result.is_err() {
                // Never hand back to the pool a connection that might still have foreign keys
                // off: close it instead.
                let _ = conn.detach().close().await;
            }
            result
        }
        Db::Postgres(pool) => {
            let mut conn = pool.acquire().await?;
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(PG_LOCK_KEY)
                .execute(&mut *conn)
                .await?;
            let result = async {
                apply_pending!(
                    conn,
                    conn.begin().await?,
                    postgres,
                    &now,
                    last,
                    before: no_hook,
                    check: no_hook,
                    after: no_hook
                )
            }
            .await;
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(PG_LOCK_KEY)
                .execute(&mut *conn)
                .await?;
            result
        }
    }
}

/// Compares the database with the embedded migrations, without changing anything.
pub async fn status(db: &Db) -> Result<MigrationStatus, sqlx::Error> {
    let exists = match db {
        Db::Sqlite(pool, _) => sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
        )
        .fetch_one(pool)
        .await?,
        Db::Postgres(pool) => sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'",
        )
        .fetch_one(pool)
        .await?,
    };
    let applied: Vec<i64> = if exists == 0 {
        Vec::new()
    } else {
        with_db!(db, |pool| sqlx::query_scalar(
            "SELECT version FROM schema_migrations ORDER BY version"
        )
        .fetch_all(pool)
        .await?)
    };
    let pending = MIGRATIONS
        .iter()
        .map(|m| m.version)
        .filter(|v| !applied.contains(v))
        .collect();
    Ok(MigrationStatus { applied, pending })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_dialect_folders_hold_the_same_migrations() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations");
        let list = |dialect: &str| {
            let mut names: Vec<String> = std::fs::read_dir(format!("{root}/{dialect}"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let sqlite = list("sqlite");
        assert_eq!(sqlite, list("postgres"));
        let embedded: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("{}.sql", m.name))
            .collect();
        assert_eq!(
            sqlite, embedded,
            "every migration file must be listed in MIGRATIONS"
        );
        // Numbers are handed out to parallel branches, so a gap can exist until they merge;
        // what matters is a strict order and names that match their numbers.
        for pair in MIGRATIONS.windows(2) {
            assert!(pair[0].version < pair[1].version, "{pair:?}");
        }
        for m in MIGRATIONS {
            assert!(m.name.starts_with(&format!("{:04}_", m.version)));
        }
    }

    #[test]
    fn checksum_is_stable_and_sensitive() {
        assert_eq!(checksum("a"), checksum("a"));
        assert_ne!(checksum("a"), checksum("b"));
        assert_eq!(checksum(""), "cbf29ce484222325");
    }
}
