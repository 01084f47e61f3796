//! The database: SQLite (embedded default) or PostgreSQL, through sqlx's native drivers.
//!
//! We deliberately avoid sqlx's `Any` driver: each dialect keeps its own types and features
//! (`BEGIN IMMEDIATE` on SQLite, advisory locks on PostgreSQL). Repository code is written once
//! and expanded for both pools with [`with_db!`]; SQL text uses `$1`-style placeholders, which
//! both drivers understand.

pub mod batch;
pub mod group;
pub mod hosts;
pub mod migrate;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

/// Which SQL dialect a [`Db`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite 3.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A connection pool to one of the two supported databases.
#[derive(Debug, Clone)]
pub enum Db {
    /// SQLite, and the gate its writers pass one at a time.
    Sqlite(SqlitePool, WriteGate),
    /// PostgreSQL.
    Postgres(PgPool),
}

/// SQLite has one writer at a time. Writers of this process take turns here, in order, before
/// they take the database's write lock: without it, every writer that finds the lock taken is
/// put to sleep by SQLite's busy handler (1, 2, 5, 10… ms) and the lock sits idle meanwhile —
/// under 8 concurrent station requests the p99 was over 100 ms and the throughput a third
/// lower (benches/README.md, "Station"). Other processes (the command line) still wait
/// through the busy timeout.
///
/// The gate also holds the one connection this process's write transactions run on, outside
/// the pool (which serves reads and single write statements): SQLite empties a connection's
/// page cache whenever another connection has written since its last transaction, so writes
/// spread over the pool read their pages again each time, and one writer keeps them (20 %
/// more station cycles a second: benches/README.md, "One writing connection").
#[derive(Debug, Clone)]
pub struct WriteGate {
    /// The turn, and with it the connection every write transaction of this process runs on:
    /// its page cache stays valid from one write to the next (SQLite empties a connection's
    /// cache whenever another connection has written since its last transaction). `None` until
    /// first used, and after a transaction left it in a state it could not be rolled back from.
    writer: Arc<tokio::sync::Mutex<Option<sqlx::SqliteConnection>>>,
    options: Arc<SqliteConnectOptions>,
}

/// A writer's turn at the gate, with the writing connection: held until the transaction ends.
pub type WriteTurn = tokio::sync::OwnedMutexGuard<Option<sqlx::SqliteConnection>>;

impl WriteGate {
    async fn turn(&self) -> WriteTurn {
        self.writer.clone().lock_owned().await
    }

    /// The turn with its connection open.
    async fn turn_connected(&self) -> Result<WriteTurn, sqlx::Error> {
        let mut turn = self.turn().await;
        if turn.is_none() {
            *turn = Some(sqlx::ConnectOptions::connect(&*self.options).await?);
        }
        Ok(turn)
    }
}

/// An open write transaction on either database.
pub enum Tx {
    /// SQLite, with this process's write turn.
    Sqlite(SqliteTx),
    /// PostgreSQL.
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// A SQLite write transaction whose `BEGIN IMMEDIATE` travels with its first command and
/// whose `COMMIT` may travel with its last (see [`Tx::opening`], [`Tx::commit_with`]).
///
/// Every command to a SQLite connection is a hand-off to the connection's thread and back, and
/// those made while holding the database's one write lock set how many writes a second there
/// can be (benches/README.md, "Station"): a transaction opened and committed in commands of its
/// own paid two of them for nothing. A transaction dropped without its commit is rolled back
/// before the next writer's turn; a connection that cannot even do that is closed, which rolls
/// back too, and the next writer opens another.
pub struct SqliteTx {
    /// The write turn and its connection, until the transaction is over (its rollback
    /// included).
    turn: Option<WriteTurn>,
    /// `BEGIN IMMEDIATE` was sent (or was part of a command sent).
    begun: bool,
}

impl SqliteTx {
    /// The connection, with the transaction begun.
    pub async fn begun(&mut self) -> Result<&mut sqlx::SqliteConnection, sqlx::Error> {
        if !self.begun {
            // Taken as begun even if the command fails: whatever state the connection is in,
            // it is rolled back (or closed) before it is reused (see `Drop`).
            self.begun = true;
            sqlx::Executor::execute(self.conn(), "BEGIN IMMEDIATE").await?;
        }
        Ok(self.conn())
    }

    fn conn(&mut self) -> &mut sqlx::SqliteConnection {
        self.turn
            .as_deref_mut()
            .and_then(Option::as_mut)
            .expect("a SQLite transaction has its connection until it ends")
    }

    /// Ends the transaction with `COMMIT` or `ROLLBACK`; the connection is kept for the next
    /// writer only if that worked.
    async fn end(mut self, statement: &str) -> Result<(), sqlx::Error> {
        if !self.begun {
            return Ok(());
        }
        let result = sqlx::Executor::execute(self.conn(), statement).await;
        self.begun = result.is_err();
        result.map(|_| ())
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        let Some(mut turn) = self.turn.take() else {
            return;
        };
        if !self.begun {
            return;
        }
        // Rolled back before the next writer's turn; a connection that cannot even do that is
        // closed (which rolls back too) and the next writer opens another.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                // Closed unless the rollback is seen through: the task may also be dropped
                // unfinished, or before it first runs, as its runtime shuts down.
                let mut pending = ClosedUnlessRolledBack(Some(turn));
                runtime.spawn(async move {
                    if let Some(conn) = pending.0.as_deref_mut().and_then(Option::as_mut) {
                        if sqlx::Executor::execute(conn, "ROLLBACK").await.is_ok() {
                            drop(pending.0.take());
                        }
                    }
                });
            }
            Err(_) => drop(turn.take()),
        }
    }
}

/// A write turn whose transaction is being rolled back: its connection is closed if this is
/// dropped before that is done.
struct ClosedUnlessRolledBack(Option<WriteTurn>);

impl Drop for ClosedUnlessRolledBack {
    fn drop(&mut self) {
        if let Some(mut turn) = self.0.take() {
            drop(turn.take());
        }
    }
}

/// Runs the same code against whichever pool or transaction is behind `$db`.
///
/// `$conn` is bound to `&SqlitePool`/`&PgPool` (for a [`Db`]) or to `&mut *tx` (for a [`Tx`]),
/// so the body is type-checked once per dialect.
#[macro_export]
macro_rules! with_db {
    ($db:expr, |$conn:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($conn, _) => $body,
            $crate::db::Db::Postgres($conn) => $body,
        }
    };
}

/// Like [`with_db!`] for a transaction: `$conn` is a `&mut` connection.
#[macro_export]
macro_rules! with_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(tx) => {
                let $conn = tx.begun().await?;
                $body
            }
            $crate::db::Tx::Postgres(tx) => {
                let $conn = &mut **tx;
                $body
            }
        }
    };
}

impl Db {
    /// Connects to `url` (`sqlite://path` or `postgres://…`, with several hosts when they are a
    /// primary and its standbys: see [`hosts`]). A SQLite file and its directory are created
    /// when missing.
    pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
        if url.starts_with("sqlite:") {
            let path = url
                .trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:");
            let file = path.split('?').next().unwrap_or_default();
            if !file.is_empty() && file != ":memory:" {
                if let Some(dir) = std::path::Path::new(file).parent() {
                    if !dir.as_os_str().is_empty() {
                        std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
                    }
                }
            }
            // WAL: readers never wait for the writer. synchronous = NORMAL: in WAL mode a
            // commit is not fsynced; it survives the process crashing (it is in the OS's
            // cache), but the last commits before a power loss or a kernel crash may be lost.
            // The busy timeout is how long a writer waits for another one (connection or
            // process) to commit.
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                // A connection to a local file cannot go stale: no round trip to its thread to
                // check it at every acquire.
                .test_before_acquire(false)
                .connect_with(options.clone())
                .await?;
            Ok(Db::Sqlite(
                pool,
                WriteGate {
                    writer: Arc::default(),
                    options: Arc::new(options),
                },
            ))
        } else {
            let pool_options = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10));
            let Some(hosts) = hosts::Hosts::parse(url)? else {
                let options = PgConnectOptions::from_str(url)?;
                return Ok(Db::Postgres(pool_options.connect_with(options).await?));
            };
            // Several hosts (a primary and its standbys): see `hosts`.
            let (current, options) = hosts.find().await?;
            let check = hosts.clone();
            let pool = pool_options
                .after_connect(move |conn, _| {
                    let check = check.clone();
                    Box::pin(async move {
                        if check.acceptable(conn).await? {
                            Ok(())
                        } else {
                            Err(sqlx::Error::Configuration(
                                "this PostgreSQL host is a standby or read-only".into(),
                            ))
                        }
                    })
                })
                .connect_with(options)
                .await?;
            hosts.watch(pool.clone(), current);
            Ok(Db::Postgres(pool))
        }
    }

    /// The dialect behind this pool.
    pub fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(..) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Opens a write transaction. On SQLite its first command takes the write lock
    /// (`BEGIN IMMEDIATE`, sent with that command: see [`SqliteTx`]), so a transaction that
    /// reads then writes cannot fail half-way on a lock upgrade.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Db::Sqlite(_, gate) => Tx::Sqlite(SqliteTx {
                turn: Some(gate.turn_connected().await?),
                begun: false,
            }),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// For a single write statement outside a transaction: on SQLite, this process's turn to
    /// write (see [`WriteGate`]), held while it lives; nothing on PostgreSQL.
    pub async fn write_turn(&self) -> Option<WriteTurn> {
        match self {
            Db::Sqlite(_, gate) => Some(gate.turn().await),
            Db::Postgres(_) => None,
        }
    }

    /// A trivial round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        with_db!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ()))
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        if let Db::Sqlite(_, gate) = self {
            if let Some(writer) = gate.turn().await.take() {
                let _ = sqlx::Connection::close(writer).await;
            }
        }
        with_db!(self, |pool| pool.close().await)
    }
}

impl Tx {
    /// What the next command of this transaction must start with: on a SQLite transaction not
    /// yet begun, `BEGIN IMMEDIATE;` (and the transaction counts as begun from now: the caller
    /// sends it); otherwise nothing. For a statement that would open the transaction in a
    /// command of its own.
    pub fn opening(&mut self) -> &'static str {
        match self {
            Tx::Sqlite(tx) if !tx.begun => {
                tx.begun = true;
                "BEGIN IMMEDIATE;\n"
            }
            _ => "",
        }
    }

    /// Runs `first`, then `then`, and commits; returns what [`batch::Batch::run`] returns for
    /// `first`. On SQLite it is one command, `COMMIT` included (and `BEGIN IMMEDIATE` if still
    /// to send); on PostgreSQL `then` runs as a statement of its own after `first` (if it is
    /// independent), so it sees what `first` wrote. If anything fails, nothing is committed.
    pub async fn commit_with(
        mut self,
        mut first: batch::Batch,
        then: batch::Batch,
    ) -> Result<Option<String>, sqlx::Error> {
        if let Tx::Sqlite(tx) = &mut self {
            if !first.is_empty() || !then.is_empty() {
                let opening = if tx.begun { "" } else { "BEGIN IMMEDIATE;\n" };
                tx.begun = true;
                first.append(then);
                let returned = first
                    .coalesced()
                    .run_sqlite(tx.conn(), opening, "COMMIT;")
                    .await?;
                tx.begun = false;
                return Ok(returned);
            }
        }
        let returned = first.run(&mut self).await?;
        then.run(&mut self).await?;
        self.commit().await?;
        Ok(returned)
    }

    /// Commits the transaction.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => tx.end("COMMIT").await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }

    /// Rolls the transaction back (also done on drop).
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => tx.end("ROLLBACK").await,
            Tx::Postgres(tx) => tx.rollback().await,
        }
    }
}

/// Whether an error is a violated unique constraint (mapped to 409 / a clear message upstream).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db.is_unique_violation(),
        _ => false,
    }
}

/// Whether an error is a violated CHECK or foreign-key constraint.
pub fn is_constraint_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            db.is_check_violation() || db.is_foreign_key_violation() || db.is_unique_violation()
        }
        _ => false,
    }
}

/// A type that both drivers can decode from a column.
pub trait Column:
    for<'r> sqlx::Decode<'r, sqlx::Sqlite>
    + sqlx::Type<sqlx::Sqlite>
    + for<'r> sqlx::Decode<'r, sqlx::Postgres>
    + sqlx::Type<sqlx::Postgres>
{
}

impl<T> Column for T where
    T: for<'r> sqlx::Decode<'r, sqlx::Sqlite>
        + sqlx::Type<sqlx::Sqlite>
        + for<'r> sqlx::Decode<'r, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>
{
}

/// Reads columns by name from a row of either database, so row mappers are written once.
pub trait DbRow {
    /// The value of column `name`.
    fn col<T: Column>(&self, name: &str) -> Result<T, sqlx::Error>;
}

/// A row of a join read through one table's alias prefix: `col("id")` reads `<prefix>id`, so
/// one row can feed the row mappers of each table it joins.
pub struct Aliased<'r, R> {
    row: &'r R,
    prefix: &'static str,
}

impl<'r, R: DbRow> Aliased<'r, R> {
    /// Reads `row`'s columns named `<prefix><name>`.
    pub fn new(row: &'r R, prefix: &'static str) -> Self {
        Aliased { row, prefix }
    }
}

impl<R: DbRow> DbRow for Aliased<'_, R> {
    fn col<T: Column>(&self, name: &str) -> Result<T, sqlx::Error> {
        self.row.col(&format!("{}{name}", self.prefix))
    }
}

impl DbRow for sqlx::sqlite::SqliteRow {
    fn col<T: Column>(&self, name: &str) -> Result<T, sqlx::Error> {
        sqlx::Row::try_get(self, name)
    }
}

impl DbRow for sqlx::postgres::PgRow {
    fn col<T: Column>(&self, name: &str) -> Result<T, sqlx::Error> {
        sqlx::Row::try_get(self, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    async fn insert(tx: &mut Tx, x: i64) -> Result<(), sqlx::Error> {
        with_tx!(tx, |conn| sqlx::query("INSERT INTO t (x) VALUES ($1)")
            .bind(x)
            .execute(&mut *conn)
            .await
            .map(|_| ()))
    }

    /// SQLite's writing connection, left mid-transaction when the rollback of a dropped
    /// transaction never runs (its runtime shut down first), is closed: the next writer opens
    /// another one and finds nothing of the abandoned transaction. A transaction dropped on a
    /// live runtime is rolled back and the connection kept.
    #[test]
    fn a_writer_left_mid_transaction_is_replaced_and_its_writes_are_gone() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/w.db", dir.path().display());
        let first = runtime();
        let db = first.block_on(async {
            let db = Db::connect(&url).await.unwrap();
            with_db!(&db, |pool| {
                sqlx::query("CREATE TABLE t (x INTEGER NOT NULL)")
                    .execute(pool)
                    .await
                    .unwrap();
            });
            let mut tx = db.begin().await.unwrap();
            insert(&mut tx, 1).await.unwrap();
            // The rollback is spawned, and never runs: the runtime goes before it is polled.
            drop(tx);
            db
        });
        drop(first);
        let second = runtime();
        second.block_on(async {
            for x in [2, 3] {
                let mut tx = db.begin().await.unwrap();
                insert(&mut tx, x).await.unwrap();
                if x == 2 {
                    tx.commit().await.unwrap();
                } else {
                    drop(tx);
                    // Rolled back on this runtime, the connection kept: the next turn waits.
                }
            }
            let mut tx = db.begin().await.unwrap();
            insert(&mut tx, 4).await.unwrap();
            tx.commit().await.unwrap();
            let rows: Vec<i64> =
                with_db!(&db, |pool| sqlx::query_scalar("SELECT x FROM t ORDER BY x")
                    .fetch_all(pool)
                    .await
                    .unwrap());
            assert_eq!(rows, [2, 4]);
            db.close().await;
        });
    }
}
