//! The async SQLite driver: statements on a pool of sqlx connections, each
//! a trip to its connection's thread, so many rows are written in one.

use std::fmt::Display;
use std::future::Future;

use sqlx::sqlite::{SqliteArguments, SqlitePool, SqliteRow, SqliteValueRef};
use sqlx::{Executor, Row as _, Sqlite, SqliteConnection, Transaction, TypeInfo, ValueRef as _};

use crate::BoxFuture;
use crate::StoreError;
use crate::engine::asynchronous::Async;
use crate::engine::driver::{
    Column, Decode, Dialect, Driver, Param, Row, Statements, Transaction as EngineTransaction,
    no_column,
};
use crate::engine::inbox::Effect;
use crate::engine::statement::Statement;
use integration_automation_patterns::Envelope;
use integration_automation_patterns::envelope::state::Dispatched;

/// A store's pool, as the engine drives it (a handle on the pool, which
/// owns nothing that borrows: an async operation's future may be sent to
/// any thread).
pub(crate) struct SqlxSqliteDriver {
    pub(crate) pool: SqlitePool,
}

/// `statement` with `params` bound.
fn bound<'q>(
    statement: &'static Statement,
    params: &[Param<'q>],
) -> Result<sqlx::query::Query<'q, Sqlite, SqliteArguments>, StoreError> {
    let mut query = sqlx::query(statement.text(Dialect::Sqlite)?);
    for param in params {
        query = match *param {
            Param::Int(value) => query.bind(value),
            Param::Text(value) => query.bind(value),
            Param::Bool(value) => query.bind(value),
            Param::Rows(rows) => query.bind(rows.to_json()),
        };
    }
    Ok(query)
}

async fn execute<'e, X: Executor<'e, Database = Sqlite>>(
    executor: X,
    statement: &'static Statement,
    params: &[Param<'_>],
) -> Result<u64, StoreError> {
    Ok(bound(statement, params)?
        .execute(executor)
        .await?
        .rows_affected())
}

async fn query<'e, T: Decode, X: Executor<'e, Database = Sqlite>>(
    executor: X,
    statement: &'static Statement,
    params: &[Param<'_>],
) -> Result<Vec<T>, StoreError> {
    let rows = bound(statement, params)?.fetch_all(executor).await?;
    rows.iter().map(|row| T::decode(&SqlxRow(row))).collect()
}

/// Statements on the pool (each on a connection it lends), on a connection,
/// or in a transaction.
macro_rules! sqlx_sqlite_statements {
    ($type:ty, $executor:ident => $borrow:expr) => {
        impl Statements for $type {
            fn dialect(&self) -> Dialect {
                Dialect::Sqlite
            }

            fn writes_rows_at_once(&self) -> bool {
                true
            }

            fn execute(
                &mut self,
                statement: &'static Statement,
                params: &[Param<'_>],
            ) -> impl Future<Output = Result<u64, StoreError>> {
                let $executor = self;
                execute($borrow, statement, params)
            }

            fn query<T: Decode>(
                &mut self,
                statement: &'static Statement,
                params: &[Param<'_>],
            ) -> impl Future<Output = Result<Vec<T>, StoreError>> {
                let $executor = self;
                query($borrow, statement, params)
            }
        }
    };
}

sqlx_sqlite_statements!(SqlxSqliteDriver, driver => &driver.pool);
sqlx_sqlite_statements!(SqliteConnection, connection => connection);
sqlx_sqlite_statements!(Transaction<'_, Sqlite>, tx => &mut **tx);

impl EngineTransaction for Transaction<'_, Sqlite> {
    async fn commit(self) -> Result<(), StoreError> {
        Ok(Transaction::commit(self).await?)
    }
}

impl Driver for SqlxSqliteDriver {
    type Tx<'t>
        = Transaction<'static, Sqlite>
    where
        Self: 't;

    async fn begin(&mut self) -> Result<Self::Tx<'_>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

impl<P, T, E: Display, F> Effect<Transaction<'static, Sqlite>, P, T, E> for Async<F>
where
    F: for<'t> FnOnce(
        &'t mut Transaction<'static, Sqlite>,
        &'t Envelope<Dispatched, P>,
    ) -> BoxFuture<'t, Result<T, E>>,
{
    fn apply<'a>(
        self,
        tx: &'a mut Transaction<'static, Sqlite>,
        event: &'a Envelope<Dispatched, P>,
    ) -> impl Future<Output = Result<T, E>> {
        (self.0)(tx, event)
    }
}

impl<P, T, E: Display, F> Effect<Transaction<'static, Sqlite>, P, T, E> for &mut Async<F>
where
    F: for<'t> FnMut(
        &'t mut Transaction<'static, Sqlite>,
        &'t Envelope<Dispatched, P>,
    ) -> BoxFuture<'t, Result<T, E>>,
{
    fn apply<'a>(
        self,
        tx: &'a mut Transaction<'static, Sqlite>,
        event: &'a Envelope<Dispatched, P>,
    ) -> impl Future<Output = Result<T, E>> {
        (self.0)(tx, event)
    }
}

/// A row of an sqlx SQLite result.
struct SqlxRow<'r>(&'r SqliteRow);

impl Row for SqlxRow<'_> {
    /// The column as SQLite holds it, whatever its declared type.
    fn column(&self, name: &str) -> Result<Column<'_>, StoreError> {
        let value: SqliteValueRef<'_> = self.0.try_get_raw(name).map_err(|_| no_column(name))?;
        if value.is_null() {
            return Ok(Column::Null);
        }
        let kind = value.type_info().name().to_owned();
        let decoded = match kind.as_str() {
            "INTEGER" => <i64 as sqlx::Decode<Sqlite>>::decode(value).map(Column::Integer),
            "REAL" => <f64 as sqlx::Decode<Sqlite>>::decode(value).map(Column::Real),
            "TEXT" => <&[u8] as sqlx::Decode<Sqlite>>::decode(value).map(Column::Text),
            _ => <&[u8] as sqlx::Decode<Sqlite>>::decode(value).map(Column::Blob),
        };
        decoded.map_err(|error| StoreError::Sqlx(sqlx::Error::Decode(error)))
    }
}
