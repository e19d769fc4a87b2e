//! The async drivers, on a pool of sqlx connections, once for both
//! databases: what differs between them (how a batch of rows is bound, how
//! a column reads, how a write transaction begins) is [`SqlxDatabase`].

use std::fmt::Display;
use std::future::Future;

use sqlx::{Database, Executor, IntoArguments, Pool, Transaction as SqlxTransaction};

use super::asynchronous::Async;
use super::driver::{
    Column, Decode, Dialect, Driver, Param, Row, Statements, Transaction, no_column,
};
use super::inbox::Effect;
use super::statement::Statement;
use crate::{BoxFuture, StoreError};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::envelope::state::Dispatched;

/// A query of `DB` with its parameters bound.
pub(crate) type Query<'q, DB> = sqlx::query::Query<'q, DB, <DB as Database>::Arguments>;

/// What the engine needs of an sqlx database beyond what sqlx says of all.
pub(crate) trait SqlxDatabase: Database
where
    for<'c> &'c mut Self::Connection: Executor<'c, Database = Self>,
    Self::Arguments: IntoArguments<Self>,
{
    /// The SQL it speaks.
    const DIALECT: Dialect;

    /// Whether one statement writes many rows: see
    /// [`Statements::writes_rows_at_once`].
    const WRITES_ROWS_AT_ONCE: bool = true;

    /// `query` with `param` bound (a batch of rows as the database's
    /// statements take them).
    fn bind<'q>(query: Query<'q, Self>, param: &Param<'q>) -> Query<'q, Self>;

    /// How many rows a statement changed.
    fn rows_affected(result: &Self::QueryResult) -> u64;

    /// The column called `name` of `row`, as the engine reads it.
    fn column<'r>(row: &'r Self::Row, name: &str) -> Result<Column<'r>, StoreError>;

    /// Opens a write transaction (on SQLite, taking the write lock at once).
    fn begin(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<SqlxTransaction<'static, Self>, sqlx::Error>> + Send;
}

/// `statement` with `params` bound, in `DB`'s dialect.
fn bound<'q, DB: SqlxDatabase>(
    statement: &'static Statement,
    params: &[Param<'q>],
) -> Result<Query<'q, DB>, StoreError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    let mut query = sqlx::query(statement.text(DB::DIALECT)?);
    for param in params {
        query = DB::bind(query, param);
    }
    Ok(query)
}

async fn execute<'e, 'c: 'e, DB, X>(
    executor: X,
    statement: &'static Statement,
    params: &[Param<'_>],
) -> Result<u64, StoreError>
where
    DB: SqlxDatabase,
    for<'a> &'a mut DB::Connection: Executor<'a, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    X: Executor<'c, Database = DB>,
{
    let result = bound::<DB>(statement, params)?.execute(executor).await?;
    Ok(DB::rows_affected(&result))
}

async fn execute_script<'c, DB, X>(
    executor: X,
    script: &'static Statement,
) -> Result<(), StoreError>
where
    DB: SqlxDatabase,
    for<'a> &'a mut DB::Connection: Executor<'a, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    X: Executor<'c, Database = DB>,
{
    sqlx::raw_sql(script.text(DB::DIALECT)?)
        .execute(executor)
        .await?;
    Ok(())
}

async fn query<'e, 'c: 'e, DB, T, X>(
    executor: X,
    statement: &'static Statement,
    params: &[Param<'_>],
) -> Result<Vec<T>, StoreError>
where
    DB: SqlxDatabase,
    for<'a> &'a mut DB::Connection: Executor<'a, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    T: Decode,
    X: Executor<'c, Database = DB>,
{
    let rows = bound::<DB>(statement, params)?.fetch_all(executor).await?;
    rows.iter()
        .map(|row| T::decode(&SqlxRow::<DB>(row)))
        .collect()
}

/// A store's pool, as the engine drives it (a handle on the pool, which
/// owns nothing that borrows: an async operation's future may be sent to
/// any thread).
pub(crate) struct SqlxDriver<DB: Database> {
    pub(crate) pool: Pool<DB>,
}

/// A caller's connection (or transaction), for an enqueue in it.
pub(crate) struct SqlxConnection<'c, DB: Database>(pub(crate) &'c mut DB::Connection);

/// Statements of `DB` on `$type`, run on the executor `$executor` (of
/// `$this`): the pool (each statement on a connection it lends), a caller's
/// connection, or a transaction.
macro_rules! sqlx_statements {
    ($type:ty, $this:ident => $executor:expr) => {
        impl<DB: SqlxDatabase> Statements for $type
        where
            for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
            DB::Arguments: IntoArguments<DB>,
            for<'p> &'p Pool<DB>: Executor<'p, Database = DB>,
        {
            fn dialect(&self) -> Dialect {
                DB::DIALECT
            }

            fn writes_rows_at_once(&self) -> bool {
                DB::WRITES_ROWS_AT_ONCE
            }

            fn execute(
                &mut self,
                statement: &'static Statement,
                params: &[Param<'_>],
            ) -> impl Future<Output = Result<u64, StoreError>> {
                let $this = self;
                execute::<DB, _>($executor, statement, params)
            }

            fn query<T: Decode>(
                &mut self,
                statement: &'static Statement,
                params: &[Param<'_>],
            ) -> impl Future<Output = Result<Vec<T>, StoreError>> {
                let $this = self;
                query::<DB, T, _>($executor, statement, params)
            }

            fn execute_script(
                &mut self,
                script: &'static Statement,
            ) -> impl Future<Output = Result<(), StoreError>> {
                let $this = self;
                execute_script::<DB, _>($executor, script)
            }
        }
    };
}

sqlx_statements!(SqlxDriver<DB>, driver => &driver.pool);
sqlx_statements!(SqlxConnection<'_, DB>, connection => &mut *connection.0);
sqlx_statements!(SqlxTransaction<'_, DB>, tx => &mut **tx);

impl<DB: SqlxDatabase> Transaction for SqlxTransaction<'_, DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    async fn commit(self) -> Result<(), StoreError> {
        Ok(SqlxTransaction::commit(self).await?)
    }
}

impl<DB: SqlxDatabase> Driver for SqlxDriver<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'p> &'p Pool<DB>: Executor<'p, Database = DB>,
{
    type Tx<'t>
        = SqlxTransaction<'static, DB>
    where
        Self: 't;

    async fn begin(&mut self) -> Result<Self::Tx<'_>, StoreError> {
        Ok(DB::begin(&self.pool).await?)
    }
}

impl<DB: Database, P, T, E: Display, F> Effect<SqlxTransaction<'static, DB>, P, T, E> for Async<F>
where
    F: for<'t> FnOnce(
        &'t mut SqlxTransaction<'static, DB>,
        &'t Envelope<Dispatched, P>,
    ) -> BoxFuture<'t, Result<T, E>>,
{
    fn apply<'a>(
        self,
        tx: &'a mut SqlxTransaction<'static, DB>,
        event: &'a Envelope<Dispatched, P>,
    ) -> impl Future<Output = Result<T, E>> {
        (self.0)(tx, event)
    }
}

impl<DB: Database, P, T, E: Display, F> Effect<SqlxTransaction<'static, DB>, P, T, E>
    for &mut Async<F>
where
    F: for<'t> FnMut(
        &'t mut SqlxTransaction<'static, DB>,
        &'t Envelope<Dispatched, P>,
    ) -> BoxFuture<'t, Result<T, E>>,
{
    fn apply<'a>(
        self,
        tx: &'a mut SqlxTransaction<'static, DB>,
        event: &'a Envelope<Dispatched, P>,
    ) -> impl Future<Output = Result<T, E>> {
        (self.0)(tx, event)
    }
}

/// A row of an sqlx result.
struct SqlxRow<'r, DB: Database>(&'r DB::Row);

impl<DB: SqlxDatabase> Row for SqlxRow<'_, DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    fn column(&self, name: &str) -> Result<Column<'_>, StoreError> {
        DB::column(self.0, name)
    }
}

/// The error for a column whose name the row does not have, or whose value
/// does not decode.
pub(crate) fn column_error(name: &str, error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::ColumnNotFound(_) => no_column(name),
        other => StoreError::Sqlx(other),
    }
}
