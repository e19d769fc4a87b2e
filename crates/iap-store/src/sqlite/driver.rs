//! The blocking SQLite driver: statements on a rusqlite connection, each
//! prepared once per connection and run in the caller's thread.

use std::fmt::Display;
use std::future::{Future, ready};

use rusqlite::types::ValueRef;
use rusqlite::{CachedStatement, Connection, Transaction, TransactionBehavior};

use crate::StoreError;
use crate::engine::blocking::Blocking;
use crate::engine::driver::{
    Column, Decode, Dialect, Driver, Param, Row, Statements, Transaction as EngineTransaction,
    no_column,
};
use crate::engine::inbox::Effect;
use crate::engine::statement::Statement;
use integration_automation_patterns::Envelope;
use integration_automation_patterns::envelope::state::Dispatched;

/// A store's connection, as the engine drives it.
pub(crate) struct SqliteDriver<'c> {
    pub(crate) connection: &'c Connection,
}

/// `statement` prepared on `connection` (once: rusqlite caches it) with
/// `params` bound.
fn prepared<'c>(
    connection: &'c Connection,
    statement: &Statement,
    params: &[Param<'_>],
) -> Result<CachedStatement<'c>, StoreError> {
    let mut prepared = connection.prepare_cached(statement.text(Dialect::Sqlite)?)?;
    for (index, param) in params.iter().enumerate() {
        let position = index + 1;
        match *param {
            Param::Int(value) => prepared.raw_bind_parameter(position, value)?,
            Param::Text(value) => prepared.raw_bind_parameter(position, value)?,
            Param::Bool(value) => prepared.raw_bind_parameter(position, value)?,
            Param::Rows(rows) => prepared.raw_bind_parameter(position, rows.to_json())?,
        }
    }
    Ok(prepared)
}

/// Runs `statement` on `connection`; how many rows it changed.
pub(crate) fn execute(
    connection: &Connection,
    statement: &Statement,
    params: &[Param<'_>],
) -> Result<u64, StoreError> {
    let changed = prepared(connection, statement, params)?.raw_execute()?;
    Ok(u64::try_from(changed).unwrap_or(u64::MAX))
}

/// Runs `script` on `connection`.
pub(crate) fn execute_script(
    connection: &Connection,
    script: &Statement,
) -> Result<(), StoreError> {
    Ok(connection.execute_batch(script.text(Dialect::Sqlite)?)?)
}

/// Runs `statement` on `connection`; its rows, decoded.
pub(crate) fn query<T: Decode>(
    connection: &Connection,
    statement: &Statement,
    params: &[Param<'_>],
) -> Result<Vec<T>, StoreError> {
    let mut prepared = prepared(connection, statement, params)?;
    let mut rows = prepared.raw_query();
    let mut decoded = Vec::new();
    while let Some(row) = rows.next()? {
        decoded.push(T::decode(&SqliteRow(row))?);
    }
    Ok(decoded)
}

/// Statements on a connection or in a transaction on it.
macro_rules! sqlite_statements {
    ($type:ty) => {
        impl Statements for $type {
            fn dialect(&self) -> Dialect {
                Dialect::Sqlite
            }

            fn writes_rows_at_once(&self) -> bool {
                false
            }

            fn execute(
                &mut self,
                statement: &'static Statement,
                params: &[Param<'_>],
            ) -> impl Future<Output = Result<u64, StoreError>> {
                ready(execute(self, statement, params))
            }

            fn query<T: Decode>(
                &mut self,
                statement: &'static Statement,
                params: &[Param<'_>],
            ) -> impl Future<Output = Result<Vec<T>, StoreError>> {
                ready(query(self, statement, params))
            }

            fn execute_script(
                &mut self,
                script: &'static Statement,
            ) -> impl Future<Output = Result<(), StoreError>> {
                ready(execute_script(self, script))
            }
        }
    };
}

sqlite_statements!(SqliteDriver<'_>);
sqlite_statements!(Transaction<'_>);

impl std::ops::Deref for SqliteDriver<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.connection
    }
}

impl EngineTransaction for Transaction<'_> {
    fn commit(self) -> impl Future<Output = Result<(), StoreError>> {
        ready(Transaction::commit(self).map_err(StoreError::from))
    }
}

impl<'c> Driver for SqliteDriver<'c> {
    type Tx<'t>
        = Transaction<'t>
    where
        Self: 't;

    fn begin(&mut self) -> impl Future<Output = Result<Transaction<'_>, StoreError>> {
        // The write lock at once: a claim or an admission that read first
        // and then found another writer ahead would have to start over.
        ready(
            Transaction::new_unchecked(self.connection, TransactionBehavior::Immediate)
                .map_err(StoreError::from),
        )
    }
}

impl<'t, P, T, E: Display, F> Effect<Transaction<'t>, P, T, E> for Blocking<F>
where
    F: FnOnce(&mut Transaction<'_>, &Envelope<Dispatched, P>) -> Result<T, E>,
{
    fn apply<'a>(
        self,
        tx: &'a mut Transaction<'t>,
        event: &'a Envelope<Dispatched, P>,
    ) -> impl Future<Output = Result<T, E>> {
        ready((self.0)(tx, event))
    }
}

impl<'t, P, T, E: Display, F> Effect<Transaction<'t>, P, T, E> for &mut Blocking<F>
where
    F: FnMut(&mut Transaction<'_>, &Envelope<Dispatched, P>) -> Result<T, E>,
{
    fn apply<'a>(
        self,
        tx: &'a mut Transaction<'t>,
        event: &'a Envelope<Dispatched, P>,
    ) -> impl Future<Output = Result<T, E>> {
        ready((self.0)(tx, event))
    }
}

/// A row of a rusqlite result.
struct SqliteRow<'r, 's>(&'r rusqlite::Row<'s>);

impl Row for SqliteRow<'_, '_> {
    fn column(&self, name: &str) -> Result<Column<'_>, StoreError> {
        let value = self.0.get_ref(name).map_err(|_| no_column(name))?;
        Ok(column(value))
    }
}

/// A value as SQLite holds it, for the engine.
pub(crate) fn column(value: ValueRef<'_>) -> Column<'_> {
    match value {
        ValueRef::Null => Column::Null,
        ValueRef::Integer(number) => Column::Integer(number),
        ValueRef::Real(number) => Column::Real(number),
        ValueRef::Text(bytes) => Column::Text(bytes),
        ValueRef::Blob(bytes) => Column::Blob(bytes),
    }
}
