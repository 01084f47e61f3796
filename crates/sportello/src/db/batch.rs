//! Several statements of one transaction sent as one.
//!
//! On SQLite each command goes to the connection's own thread and its result comes back: two
//! thread hand-offs per statement, all of them while the transaction holds the database's only
//! write lock, so under load the hand-offs, not SQLite, bound the writes a second. A [`Batch`]
//! joins its statements into one command there (sqlx runs the statements of one query text
//! back to back, binding each `$N` from one list). PostgreSQL cannot take several statements
//! with parameters in one message, so there they run one after another, as before.
//!
//! Each statement is written with its own `$1…$n` and its own values; the batch renumbers them
//! (every `$` followed by digits is taken for a parameter: no such text in a literal).

use sqlx::{Connection, Row};

use super::Tx;
use crate::clock::Timestamp;

/// A value bound to a statement of a [`Batch`].
#[derive(Debug, Clone)]
pub enum Val {
    /// An integer.
    Int(i64),
    /// An integer or NULL.
    OptInt(Option<i64>),
    /// A 32-bit integer (for an `INTEGER` column on PostgreSQL: a statement text shared with a
    /// query binding `i32` must bind the same types, sqlx caches it prepared by text).
    Int32(i32),
    /// A 32-bit integer or NULL.
    OptInt32(Option<i32>),
    /// A text.
    Text(String),
    /// A text or NULL.
    OptText(Option<String>),
    /// A boolean.
    Bool(bool),
    /// An instant.
    Ts(Timestamp),
    /// An instant or NULL.
    OptTs(Option<Timestamp>),
    /// A calendar date or NULL.
    OptDate(Option<time::Date>),
    /// Bytes or NULL.
    OptBytes(Option<Vec<u8>>),
}

/// Statements to run in order in one transaction; the last one may return a text column.
#[derive(Debug, Default)]
pub struct Batch {
    statements: Vec<(String, Vec<Val>)>,
    /// No statement reads what another one writes: on PostgreSQL they can be one statement.
    independent: bool,
}

/// Binds every [`Val`] of `$vals` to the query `$q`, for whichever dialect it is (a macro: the
/// query's type differs per driver).
#[macro_export]
macro_rules! bind_vals {
    ($q:expr, $vals:expr) => {{
        use $crate::db::batch::Val;
        let mut q = $q;
        for v in $vals {
            q = match v {
                Val::Int(x) => q.bind(x),
                Val::OptInt(x) => q.bind(x),
                Val::Int32(x) => q.bind(x),
                Val::OptInt32(x) => q.bind(x),
                Val::Text(x) => q.bind(x),
                Val::OptText(x) => q.bind(x),
                Val::Bool(x) => q.bind(x),
                Val::Ts(x) => q.bind(x),
                Val::OptTs(x) => q.bind(x),
                Val::OptDate(x) => q.bind(x),
                Val::OptBytes(x) => q.bind(x),
            };
        }
        q
    }};
}
use crate::bind_vals as bind_all;

/// `sql` with every parameter `$k` written `$(k + offset)`.
fn shift_parameters(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let mut digits = String::new();
        while let Some(&(_, d)) = chars.peek() {
            if !d.is_ascii_digit() {
                break;
            }
            digits.push(d);
            chars.next();
        }
        match digits.parse::<usize>() {
            Ok(k) => out.push_str(&format!("${}", k + offset)),
            Err(_) => {
                out.push('$');
                out.push_str(&digits);
            }
        }
    }
    out
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// An empty batch of statements none of which reads what another writes (inserts of
    /// unrelated rows): on PostgreSQL they are sent as one statement, each a data-modifying
    /// `WITH` of the last, which all see the same snapshot — hence the promise.
    pub fn independent() -> Batch {
        Batch {
            statements: Vec::new(),
            independent: true,
        }
    }

    /// The statements as one PostgreSQL statement: `WITH s1 AS (…), … last`.
    fn postgres_text(self) -> (String, Vec<Val>) {
        let last = self.statements.len().saturating_sub(1);
        let mut sql = String::new();
        let mut vals = Vec::new();
        for (i, (statement, v)) in self.statements.into_iter().enumerate() {
            let shifted = shift_parameters(&statement, vals.len());
            if i == last {
                sql.push_str(&shifted);
            } else {
                sql.push_str(if i == 0 { "WITH " } else { ", " });
                sql.push_str(&format!("s{i} AS ({shifted})\n"));
            }
            vals.extend(v);
        }
        (sql, vals)
    }

    /// Appends `sql` (one statement, parameters `$1…$n`) with its `vals`.
    pub fn push(&mut self, sql: impl Into<String>, vals: Vec<Val>) {
        self.statements.push((sql.into(), vals));
    }

    /// Whether nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// The statements as one SQLite text with one list of values, between `before` and
    /// `after`; whether the last statement returns rows.
    fn sqlite_text(self, before: &str, after: &str) -> (String, Vec<Val>, bool) {
        let mut sql = String::from(before);
        let mut vals = Vec::new();
        let last = self.statements.len().saturating_sub(1);
        let mut returns = false;
        for (i, (statement, v)) in self.statements.into_iter().enumerate() {
            sql.push_str(&shift_parameters(&statement, vals.len()));
            sql.push_str(";\n");
            returns = i == last && statement.to_ascii_uppercase().contains("RETURNING");
            vals.extend(v);
        }
        sql.push_str(after);
        (sql, vals, returns)
    }

    /// Runs the statements in order in `tx`; the first column of the first row the last
    /// statement returned, if it returned one.
    pub async fn run(self, tx: &mut Tx) -> Result<Option<String>, sqlx::Error> {
        if self.statements.is_empty() {
            return Ok(None);
        }
        match tx {
            Tx::Sqlite(tx, _) => {
                let (sql, vals, returns) = self.sqlite_text("", "");
                let rows = bind_all!(sqlx::query(&sql), vals)
                    .fetch_all(&mut **tx)
                    .await?;
                // Only the last statement may return rows (the batch's contract).
                match rows.last() {
                    Some(row) if returns => Ok(Some(row.try_get::<String, _>(0)?)),
                    _ => Ok(None),
                }
            }
            Tx::Postgres(tx) if self.independent && self.statements.len() > 1 => {
                let (sql, vals) = self.postgres_text();
                match bind_all!(sqlx::query(&sql), vals)
                    .fetch_optional(&mut **tx)
                    .await?
                {
                    Some(row) => Ok(Some(row.try_get::<String, _>(0)?)),
                    None => Ok(None),
                }
            }
            Tx::Postgres(tx) => {
                let last = self.statements.len() - 1;
                for (i, (statement, vals)) in self.statements.into_iter().enumerate() {
                    let query = bind_all!(sqlx::query(&statement), vals);
                    if i < last {
                        query.execute(&mut **tx).await?;
                    } else if let Some(row) = query.fetch_optional(&mut **tx).await? {
                        return Ok(Some(row.try_get::<String, _>(0)?));
                    }
                }
                Ok(None)
            }
        }
    }
}

impl super::Db {
    /// Runs `batch` as a transaction of its own. On SQLite the transaction's `BEGIN IMMEDIATE`
    /// and `COMMIT` travel in the batch's one command (with this process's write turn held):
    /// one hand-off instead of three. A connection whose command failed is closed rather than
    /// handed back, whatever state its transaction was left in (closing rolls it back).
    pub async fn run_atomic(&self, batch: Batch) -> Result<(), sqlx::Error> {
        if batch.is_empty() {
            return Ok(());
        }
        match self {
            super::Db::Sqlite(pool, _) => {
                let _turn = self.write_turn().await;
                let (sql, vals, _) = batch.sqlite_text("BEGIN IMMEDIATE;\n", "COMMIT;");
                let mut conn = pool.acquire().await?;
                let result = bind_all!(sqlx::query(&sql), vals).execute(&mut *conn).await;
                if let Err(e) = result {
                    let _ = conn.detach().close().await;
                    return Err(e);
                }
                Ok(())
            }
            // One statement is atomic on its own: no transaction around it.
            super::Db::Postgres(pool) if batch.independent => {
                let (sql, vals) = batch.postgres_text();
                bind_all!(sqlx::query(&sql), vals).execute(pool).await?;
                Ok(())
            }
            super::Db::Postgres(_) => {
                let mut tx = self.begin().await?;
                batch.run(&mut tx).await?;
                tx.commit().await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::shift_parameters;

    #[test]
    fn parameters_are_renumbered() {
        assert_eq!(
            shift_parameters("INSERT INTO t VALUES ($1, $2, $10)", 5),
            "INSERT INTO t VALUES ($6, $7, $15)"
        );
        assert_eq!(shift_parameters("SELECT $1 || '$'", 0), "SELECT $1 || '$'");
    }

    #[test]
    fn independent_statements_become_one_for_postgres() {
        use super::{Batch, Val};
        let mut batch = Batch::independent();
        batch.push("INSERT INTO a VALUES ($1)", vec![Val::Int(1)]);
        batch.push(
            "INSERT INTO b VALUES ($1, $2)",
            vec![Val::Int(2), Val::Int(3)],
        );
        batch.push("INSERT INTO c VALUES ($1)", vec![Val::Int(4)]);
        let (sql, vals) = batch.postgres_text();
        assert_eq!(
            sql,
            "WITH s0 AS (INSERT INTO a VALUES ($1))\n, s1 AS (INSERT INTO b VALUES ($2, $3))\nINSERT INTO c VALUES ($4)"
        );
        assert_eq!(vals.len(), 4);
    }
}
