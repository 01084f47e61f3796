//! The repository layer: typed functions over [`Db`], one SQL text for both dialects.
//!
//! Handlers and services talk to [`Store`]; nothing above this layer writes SQL.

pub mod accounts;
pub mod audit;
pub mod backoffice;
pub mod cart;
pub mod checkouts;
pub mod documents;
pub mod ente;
pub mod events;
pub mod history;
pub mod locks;
pub mod operators;
pub mod outbox;
pub mod positions;
pub mod ratelimit;
pub mod receipts;
pub mod recon;
pub mod recon_views;
pub mod services;
pub mod sessions;
pub mod spid;
pub mod station;

use crate::db::group::GroupCommit;
use crate::db::{Db, Dialect, migrate};

/// A storage error: the database's own, or a rule the store enforces.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint was violated (a duplicate key: iupd, IUV, receiptId…).
    #[error("duplicate: {0}")]
    Conflict(String),
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// The row is still referenced by another one (a foreign key): it cannot be removed.
    #[error("still referenced: {0}")]
    Referenced(String),
    /// Any other database error.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// A schema migration failed.
    #[error(transparent)]
    Migrate(#[from] migrate::MigrateError),
}

impl StoreError {
    /// Turns a unique violation into [`StoreError::Conflict`] with a description.
    pub fn from_insert(err: sqlx::Error, what: impl Into<String>) -> StoreError {
        if crate::db::is_unique_violation(&err) {
            StoreError::Conflict(what.into())
        } else {
            StoreError::Db(err)
        }
    }
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// The application's storage.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    group: GroupCommit,
}

impl Store {
    /// Connects to `url` without touching the schema.
    pub async fn connect(url: &str) -> StoreResult<Store> {
        let db = Db::connect(url).await?;
        Ok(Store {
            group: GroupCommit::start(db.clone()),
            db,
        })
    }

    /// Commits `batch` (independent: see [`crate::db::batch::Batch::independent`]) together
    /// with those of concurrent callers ([`crate::db::group`]); returns once it is committed.
    pub async fn commit_grouped(&self, batch: crate::db::batch::Batch) -> StoreResult<()> {
        Ok(self.group.commit(&self.db, batch).await?)
    }

    /// Connects and applies pending migrations.
    pub async fn open(url: &str) -> StoreResult<Store> {
        let store = Store::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Applies pending migrations; returns the versions applied now.
    pub async fn migrate(&self) -> StoreResult<Vec<i64>> {
        Ok(migrate::run(&self.db).await?)
    }

    /// What is applied and what is pending.
    pub async fn migration_status(&self) -> StoreResult<migrate::MigrationStatus> {
        Ok(migrate::status(&self.db).await?)
    }

    /// The pool underneath, for the modules of this layer.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The SQL dialect.
    pub fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    /// Closes all connections.
    pub async fn close(&self) {
        self.db.close().await
    }
}
