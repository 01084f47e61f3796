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

use sqlx::Row;

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

/// Statements to run in order in one transaction; they may return a text column (the first one
/// returned is the batch's result).
#[derive(Debug, Default, Clone)]
pub struct Batch {
    statements: Vec<Statement>,
    /// No statement reads what another one writes: on PostgreSQL they can be one statement.
    independent: bool,
}

/// One statement of a [`Batch`].
#[derive(Debug, Clone)]
struct Statement {
    sql: String,
    vals: Vec<Val>,
    /// A one-row insert pushed by [`Batch::insert_row`]: its `INSERT INTO t (…)`. Rows of one
    /// table in an independent batch are sent as one multi-row `INSERT`.
    head: Option<&'static str>,
    /// Pushed by [`Batch::push_joined`]: on PostgreSQL it goes in one statement with the one
    /// before.
    joined: bool,
    /// On PostgreSQL, in one statement with others: its name there (`WITH name AS (…)`), by
    /// which a later statement may read the rows it returns.
    name: Option<&'static str>,
    /// On PostgreSQL, in one statement with others: its text there, when it differs (it
    /// returns rows for a later statement, or reads an earlier one's by its name).
    postgres: Option<String>,
}

/// `($1, …, $n)` numbered from `first`.
fn row_placeholders(first: usize, n: usize) -> String {
    let mut out = String::from("(");
    for k in 0..n {
        if k > 0 {
            out.push_str(", ");
        }
        out.push_str(&format!("${}", first + k));
    }
    out.push(')');
    out
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

    /// The rows [`Batch::insert_row`] pushed for one table as one multi-row `INSERT` (where
    /// the first of them was), when the batch is independent: its statements may run in any
    /// order.
    pub(super) fn coalesced(self) -> Batch {
        if !self.independent || self.statements.iter().all(|s| s.head.is_none()) {
            return self;
        }
        let mut out: Vec<Statement> = Vec::with_capacity(self.statements.len());
        for statement in self.statements {
            let Some(head) = statement.head else {
                out.push(statement);
                continue;
            };
            match out.iter_mut().find(|s| s.head == Some(head)) {
                Some(rows) => {
                    rows.sql.push_str(", ");
                    rows.sql
                        .push_str(&row_placeholders(rows.vals.len() + 1, statement.vals.len()));
                    rows.vals.extend(statement.vals);
                }
                None => out.push(statement),
            }
        }
        Batch {
            statements: out,
            independent: true,
        }
    }

    /// The PostgreSQL statements of a batch run in order: one per statement, except that one
    /// pushed joined goes with the one before.
    fn postgres_statements(self) -> Vec<(String, Vec<Val>)> {
        let mut runs: Vec<Batch> = Vec::new();
        for statement in self.statements {
            match runs.last_mut() {
                Some(run) if statement.joined => run.statements.push(statement),
                _ => runs.push(Batch {
                    statements: vec![statement],
                    independent: true,
                }),
            }
        }
        runs.into_iter().map(Batch::postgres_text).collect()
    }

    /// The statements as one PostgreSQL statement: `WITH s1 AS (…), … last`.
    fn postgres_text(self) -> (String, Vec<Val>) {
        let last = self.statements.len().saturating_sub(1);
        let mut sql = String::new();
        let mut vals = Vec::new();
        let alone = last == 0;
        for (
            i,
            Statement {
                sql: statement,
                vals: v,
                name,
                postgres,
                ..
            },
        ) in self.statements.into_iter().enumerate()
        {
            let text = match postgres {
                Some(text) if !alone => text,
                _ => statement,
            };
            let shifted = shift_parameters(&text, vals.len());
            if i == last {
                sql.push_str(&shifted);
            } else {
                sql.push_str(if i == 0 { "WITH " } else { ", " });
                match name {
                    Some(name) => sql.push_str(&format!("{name} AS ({shifted})\n")),
                    None => sql.push_str(&format!("s{i} AS ({shifted})\n")),
                }
            }
            vals.extend(v);
        }
        (sql, vals)
    }

    /// Appends `sql` (one statement, parameters `$1…$n`) with its `vals`.
    pub fn push(&mut self, sql: impl Into<String>, vals: Vec<Val>) {
        self.statements.push(Statement {
            sql: sql.into(),
            vals,
            head: None,
            joined: false,
            name: None,
            postgres: None,
        });
    }

    /// Appends `sql` like [`Batch::push`]; on PostgreSQL, when statements pushed joined after
    /// it go in one statement with it, it is written `postgres` there (the same parameters),
    /// named `name`: they read the rows it returns as the table `name`.
    pub fn push_named(
        &mut self,
        name: &'static str,
        sql: impl Into<String>,
        postgres: impl Into<String>,
        vals: Vec<Val>,
    ) {
        self.push(sql, vals);
        if let Some(last) = self.statements.last_mut() {
            last.name = Some(name);
            last.postgres = Some(postgres.into());
        }
    }

    /// Appends `sql` like [`Batch::push_joined`]; on PostgreSQL it is written `postgres` (the
    /// same parameters), which may read what a statement of [`Batch::push_named`] returned.
    pub fn push_joined_reading(
        &mut self,
        sql: impl Into<String>,
        postgres: impl Into<String>,
        vals: Vec<Val>,
    ) {
        self.push_joined(sql, vals);
        if let Some(last) = self.statements.last_mut() {
            last.postgres = Some(postgres.into());
        }
    }

    /// Appends `sql` like [`Batch::push`], promising that it neither reads what the statement
    /// before it writes nor writes what that one reads: on PostgreSQL the two are sent as one
    /// statement (see [`Batch::independent`]), which returns what this one returns.
    pub fn push_joined(&mut self, sql: impl Into<String>, vals: Vec<Val>) {
        self.push(sql, vals);
        if let Some(last) = self.statements.last_mut() {
            last.joined = true;
        }
    }

    /// Appends the insert of one row: `head` is `INSERT INTO t (c1, …, cn)`, `vals` its n
    /// values in that order.
    pub fn insert_row(&mut self, head: &'static str, vals: Vec<Val>) {
        self.statements.push(Statement {
            sql: format!("{head} VALUES {}", row_placeholders(1, vals.len())),
            vals,
            head: Some(head),
            joined: false,
            name: None,
            postgres: None,
        });
    }

    /// Appends the statements of the independent batch `other` (its rows merged: see
    /// [`Batch::coalesced`]) as if each were pushed with [`Batch::push_joined`]: on
    /// PostgreSQL they go in one statement with the one before them.
    pub fn append_joined(&mut self, other: Batch) {
        debug_assert!(other.independent || other.is_empty());
        let mut other = other.coalesced();
        for statement in &mut other.statements {
            statement.joined = true;
        }
        self.append(other);
    }

    /// Appends the statements of `other`; the result is independent if both were.
    pub fn append(&mut self, other: Batch) {
        self.independent = self.independent && other.independent;
        self.statements.extend(other.statements);
    }

    /// Whether no statement of the batch reads what another writes.
    pub fn is_independent(&self) -> bool {
        self.independent
    }

    /// Whether nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// The statements as one SQLite text with one list of values, between `before` and
    /// `after`.
    fn sqlite_text(self, before: &str, after: &str) -> (String, Vec<Val>) {
        let mut sql = String::from(before);
        let mut vals = Vec::new();
        for Statement {
            sql: statement,
            vals: v,
            ..
        } in self.statements
        {
            sql.push_str(&shift_parameters(&statement, vals.len()));
            sql.push_str(";\n");
            vals.extend(v);
        }
        sql.push_str(after);
        (sql, vals)
    }

    /// The statements as one command on a SQLite connection, between `before` and `after`;
    /// the first column of the first row a statement returned, if one did. The caller merges
    /// rows first ([`Batch::coalesced`]) if it wants them merged.
    pub(super) async fn run_sqlite(
        self,
        conn: &mut sqlx::SqliteConnection,
        before: &str,
        after: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        let (sql, vals) = self.sqlite_text(before, after);
        let rows = bind_all!(sqlx::query(&sql), vals).fetch_all(conn).await?;
        match rows.first() {
            Some(row) => Ok(Some(row.try_get::<String, _>(0)?)),
            None => Ok(None),
        }
    }

    /// Runs the statements in order in `tx`; the first column of the first row a statement
    /// returned, if one did (in an independent batch only the last statement may return rows).
    pub async fn run(self, tx: &mut Tx) -> Result<Option<String>, sqlx::Error> {
        if self.statements.is_empty() {
            return Ok(None);
        }
        let batch = self.coalesced();
        match tx {
            Tx::Sqlite(_) => {
                let opening = tx.opening();
                let Tx::Sqlite(tx) = tx else { unreachable!() };
                batch.run_sqlite(tx.conn(), opening, "").await
            }
            Tx::Postgres(tx) if batch.independent && batch.statements.len() > 1 => {
                let (sql, vals) = batch.postgres_text();
                match bind_all!(sqlx::query(&sql), vals)
                    .fetch_optional(&mut **tx)
                    .await?
                {
                    Some(row) => Ok(Some(row.try_get::<String, _>(0)?)),
                    None => Ok(None),
                }
            }
            Tx::Postgres(tx) => {
                let mut first = None;
                for (sql, vals) in batch.postgres_statements() {
                    let row = bind_all!(sqlx::query(&sql), vals)
                        .fetch_optional(&mut **tx)
                        .await?;
                    if let (None, Some(row)) = (&first, row) {
                        first = Some(row.try_get::<String, _>(0)?);
                    }
                }
                Ok(first)
            }
        }
    }
}

impl super::Db {
    /// Runs `batch` as a transaction of its own. On SQLite the transaction's `BEGIN IMMEDIATE`
    /// and `COMMIT` travel in the batch's one command (with this process's write turn held):
    /// one hand-off instead of three. A transaction whose command failed is rolled back before
    /// the next writer's turn (see [`super::SqliteTx`]).
    pub async fn run_atomic(&self, batch: Batch) -> Result<(), sqlx::Error> {
        if batch.is_empty() {
            return Ok(());
        }
        match self {
            // One statement is atomic on its own: no transaction around it.
            super::Db::Postgres(pool) if batch.independent => {
                let (sql, vals) = batch.coalesced().postgres_text();
                bind_all!(sqlx::query(&sql), vals).execute(pool).await?;
                Ok(())
            }
            _ => self
                .begin()
                .await?
                .commit_with(batch, Batch::new())
                .await
                .map(|_| ()),
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

    #[test]
    fn rows_of_one_table_become_one_insert_in_an_independent_batch() {
        use super::{Batch, Val};
        let mut batch = Batch::independent();
        batch.insert_row("INSERT INTO a (x, y)", vec![Val::Int(1), Val::Int(2)]);
        batch.insert_row("INSERT INTO b (z)", vec![Val::Int(3)]);
        batch.insert_row("INSERT INTO a (x, y)", vec![Val::Int(4), Val::Int(5)]);
        batch.push("DELETE FROM c WHERE id = $1", vec![Val::Int(6)]);
        let (sql, vals) = batch.clone().coalesced().postgres_text();
        assert_eq!(
            sql,
            "WITH s0 AS (INSERT INTO a (x, y) VALUES ($1, $2), ($3, $4))\n, s1 AS (INSERT INTO b (z) VALUES ($5))\nDELETE FROM c WHERE id = $6"
        );
        let order: Vec<i64> = vals
            .iter()
            .map(|v| match v {
                Val::Int(x) => *x,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(order, [1, 2, 4, 5, 3, 6]);
        // In order, one statement each, when the statements may depend on one another.
        let mut dependent = Batch::new();
        dependent.append(batch);
        assert!(!dependent.is_independent());
        let (sql, _) = dependent.coalesced().sqlite_text("", "");
        assert_eq!(sql.matches("INSERT INTO a").count(), 2);
    }

    #[test]
    fn joined_statements_go_with_the_one_before_on_postgres() {
        use super::{Batch, Val};
        let mut batch = Batch::new();
        batch.push("INSERT INTO r VALUES ($1)", vec![Val::Int(1)]);
        batch.push(
            "INSERT INTO t SELECT id FROM r WHERE x = $1",
            vec![Val::Int(2)],
        );
        batch.push_joined("UPDATE o SET s = $1", vec![Val::Int(3)]);
        batch.push_joined("UPDATE p SET s = $1 RETURNING s", vec![Val::Int(4)]);
        let statements = batch.postgres_statements();
        let texts: Vec<&str> = statements.iter().map(|(sql, _)| sql.as_str()).collect();
        assert_eq!(
            texts,
            [
                "INSERT INTO r VALUES ($1)",
                "WITH s0 AS (INSERT INTO t SELECT id FROM r WHERE x = $1)\n, s1 AS (UPDATE o SET s = $2)\nUPDATE p SET s = $3 RETURNING s",
            ]
        );
        assert_eq!(statements[1].1.len(), 3);
    }

    #[test]
    fn a_named_statement_is_read_by_name_in_its_postgres_statement() {
        use super::{Batch, Val};
        let mut batch = Batch::new();
        batch.push_named(
            "r",
            "INSERT INTO r VALUES ($1)",
            "INSERT INTO r VALUES ($1) RETURNING id",
            vec![Val::Int(1)],
        );
        batch.push_joined_reading(
            "INSERT INTO t SELECT id, $2 FROM r WHERE k = $1",
            "INSERT INTO t SELECT r.id, $2 FROM r",
            vec![Val::Int(1), Val::Int(2)],
        );
        let mut mails = Batch::independent();
        mails.insert_row("INSERT INTO m (a)", vec![Val::Int(3)]);
        mails.insert_row("INSERT INTO m (a)", vec![Val::Int(4)]);
        batch.append_joined(mails);
        batch.push_joined("UPDATE p SET s = $1 RETURNING s", vec![Val::Int(5)]);
        let statements = batch.clone().postgres_statements();
        assert_eq!(statements.len(), 1);
        assert_eq!(
            statements[0].0,
            "WITH r AS (INSERT INTO r VALUES ($1) RETURNING id)\n\
             , s1 AS (INSERT INTO t SELECT r.id, $3 FROM r)\n\
             , s2 AS (INSERT INTO m (a) VALUES ($4), ($5))\n\
             UPDATE p SET s = $6 RETURNING s"
        );
        assert_eq!(statements[0].1.len(), 6);
        // SQLite: the statements as written, in order.
        let (sqlite, vals) = batch.sqlite_text("", "");
        assert_eq!(
            sqlite,
            "INSERT INTO r VALUES ($1);\nINSERT INTO t SELECT id, $3 FROM r WHERE k = $2;\n\
             INSERT INTO m (a) VALUES ($4), ($5);\nUPDATE p SET s = $6 RETURNING s;\n"
        );
        assert_eq!(vals.len(), 6);
        // Alone, a named statement is its plain self: nothing reads what it would return.
        let mut alone = Batch::new();
        alone.push_named("r", "INSERT INTO r VALUES ($1)", "… RETURNING id", vec![]);
        assert_eq!(
            alone.postgres_statements()[0].0,
            "INSERT INTO r VALUES ($1)"
        );
    }
}
