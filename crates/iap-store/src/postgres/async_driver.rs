//! The async PostgreSQL drivers: statements on a pool of sqlx connections
//! (sqlx prepares each once per connection), and on a caller's
//! tokio-postgres client, for `enqueue_with_tokio_postgres`.

use std::fmt::Display;
use std::future::Future;

use sqlx::postgres::{PgArguments, PgPool, PgRow, PgValueRef};
use sqlx::{Executor, PgConnection, Postgres, Row as _, Transaction, TypeInfo, ValueRef as _};

use super::driver::{PgRow as TokioPgRow, bound, row_columns};
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
pub(crate) struct SqlxPgDriver {
    pub(crate) pool: PgPool,
}

/// `statement` with `params` bound, a batch of rows as one array per column.
fn bound_query<'q>(
    statement: &'static Statement,
    params: &[Param<'q>],
) -> Result<sqlx::query::Query<'q, Postgres, PgArguments>, StoreError> {
    let mut query = sqlx::query(statement.text(Dialect::Postgres)?);
    for param in params {
        query = match *param {
            Param::Int(value) => query.bind(value),
            Param::Text(value) => query.bind(value),
            Param::Bool(value) => query.bind(value),
            Param::Rows(rows) => {
                let columns = rows.columns();
                query
                    .bind(columns.sources)
                    .bind(columns.event_ids)
                    .bind(columns.statuses)
                    .bind(columns.attempts)
                    .bind(columns.due_ats)
                    .bind(columns.envelopes)
                    .bind(columns.settled_ats)
            }
        };
    }
    Ok(query)
}

async fn execute<'e, X: Executor<'e, Database = Postgres>>(
    executor: X,
    statement: &'static Statement,
    params: &[Param<'_>],
) -> Result<u64, StoreError> {
    Ok(bound_query(statement, params)?
        .execute(executor)
        .await?
        .rows_affected())
}

async fn query<'e, T: Decode, X: Executor<'e, Database = Postgres>>(
    executor: X,
    statement: &'static Statement,
    params: &[Param<'_>],
) -> Result<Vec<T>, StoreError> {
    let rows = bound_query(statement, params)?.fetch_all(executor).await?;
    rows.iter().map(|row| T::decode(&SqlxRow(row))).collect()
}

/// Statements on the pool (each on a connection it lends), on a connection,
/// or in a transaction.
macro_rules! sqlx_pg_statements {
    ($type:ty, $executor:ident => $borrow:expr) => {
        impl Statements for $type {
            fn dialect(&self) -> Dialect {
                Dialect::Postgres
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

sqlx_pg_statements!(SqlxPgDriver, driver => &driver.pool);
sqlx_pg_statements!(PgConnection, connection => connection);
sqlx_pg_statements!(Transaction<'_, Postgres>, tx => &mut **tx);

impl EngineTransaction for Transaction<'_, Postgres> {
    async fn commit(self) -> Result<(), StoreError> {
        Ok(Transaction::commit(self).await?)
    }
}

impl Driver for SqlxPgDriver {
    type Tx<'t>
        = Transaction<'static, Postgres>
    where
        Self: 't;

    async fn begin(&mut self) -> Result<Self::Tx<'_>, StoreError> {
        Ok(self.pool.begin().await?)
    }
}

impl<P, T, E: Display, F> Effect<Transaction<'static, Postgres>, P, T, E> for Async<F>
where
    F: for<'t> FnOnce(
        &'t mut Transaction<'static, Postgres>,
        &'t Envelope<Dispatched, P>,
    ) -> BoxFuture<'t, Result<T, E>>,
{
    fn apply<'a>(
        self,
        tx: &'a mut Transaction<'static, Postgres>,
        event: &'a Envelope<Dispatched, P>,
    ) -> impl Future<Output = Result<T, E>> {
        (self.0)(tx, event)
    }
}

impl<P, T, E: Display, F> Effect<Transaction<'static, Postgres>, P, T, E> for &mut Async<F>
where
    F: for<'t> FnMut(
        &'t mut Transaction<'static, Postgres>,
        &'t Envelope<Dispatched, P>,
    ) -> BoxFuture<'t, Result<T, E>>,
{
    fn apply<'a>(
        self,
        tx: &'a mut Transaction<'static, Postgres>,
        event: &'a Envelope<Dispatched, P>,
    ) -> impl Future<Output = Result<T, E>> {
        (self.0)(tx, event)
    }
}

/// A row of an sqlx PostgreSQL result.
struct SqlxRow<'r>(&'r PgRow);

impl Row for SqlxRow<'_> {
    /// The column as the engine reads it: integers and flags as integers,
    /// text as text (the schema types every column).
    fn column(&self, name: &str) -> Result<Column<'_>, StoreError> {
        let value: PgValueRef<'_> = self.0.try_get_raw(name).map_err(|_| no_column(name))?;
        if value.is_null() {
            return Ok(Column::Null);
        }
        let kind = value.type_info().name().to_owned();
        let decoded = match kind.as_str() {
            "INT8" => <i64 as sqlx::Decode<Postgres>>::decode(value).map(Column::Integer),
            "INT4" => <i32 as sqlx::Decode<Postgres>>::decode(value)
                .map(|number| Column::Integer(i64::from(number))),
            "BOOL" => <bool as sqlx::Decode<Postgres>>::decode(value)
                .map(|flag| Column::Integer(i64::from(flag))),
            _ => <&str as sqlx::Decode<Postgres>>::decode(value)
                .map(|text| Column::Text(text.as_bytes())),
        };
        decoded.map_err(|error| StoreError::Sqlx(sqlx::Error::Decode(error)))
    }
}

/// A caller's tokio-postgres client or transaction, for an enqueue in it.
pub(crate) struct TokioPostgres<'c, C>(pub(crate) &'c C);

impl<C: tokio_postgres::GenericClient> Statements for TokioPostgres<'_, C> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn writes_rows_at_once(&self) -> bool {
        true
    }

    async fn execute(
        &mut self,
        statement: &'static Statement,
        params: &[Param<'_>],
    ) -> Result<u64, StoreError> {
        let columns = row_columns(params);
        let params = bound(params, &columns);
        Ok(self
            .0
            .execute(statement.text(Dialect::Postgres)?, &params)
            .await?)
    }

    async fn query<T: Decode>(
        &mut self,
        statement: &'static Statement,
        params: &[Param<'_>],
    ) -> Result<Vec<T>, StoreError> {
        let columns = row_columns(params);
        let params = bound(params, &columns);
        let rows = self
            .0
            .query(statement.text(Dialect::Postgres)?, &params)
            .await?;
        rows.iter().map(|row| T::decode(&TokioPgRow(row))).collect()
    }
}
