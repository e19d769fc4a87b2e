//! The blocking PostgreSQL driver: statements on a `postgres` client, each
//! prepared once per connection (a statement run by its text alone costs a
//! second round trip).

use std::collections::HashMap;
use std::fmt::Display;
use std::future::{Future, ready};

use postgres::types::{ToSql, Type};
use postgres::{Client, Transaction};

use crate::StoreError;
use crate::engine::blocking::Blocking;
use crate::engine::driver::{
    Column, Decode, Dialect, Driver, Param, Row, RowColumns, Statements,
    Transaction as EngineTransaction, no_column,
};
use crate::engine::inbox::Effect;
use crate::engine::statement::Statement;
use integration_automation_patterns::Envelope;
use integration_automation_patterns::envelope::state::Dispatched;

/// The statements prepared on one connection, by their text (each is closed
/// on the server when it is dropped).
pub(crate) type Prepared = HashMap<&'static str, postgres::Statement>;

/// A store's connection, as the engine drives it.
pub(crate) struct PgDriver<'c> {
    pub(crate) client: &'c mut Client,
    pub(crate) prepared: &'c mut Prepared,
}

/// A transaction the engine opened, with the connection's prepared statements.
pub(crate) struct PgTx<'t> {
    pub(crate) tx: Transaction<'t>,
    prepared: &'t mut Prepared,
}

/// What runs statements: a client or a transaction on it.
pub(crate) trait Runner {
    fn prepare(&mut self, text: &str) -> Result<postgres::Statement, postgres::Error>;
    fn run_execute(
        &mut self,
        statement: &postgres::Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, postgres::Error>;
    fn run_query(
        &mut self,
        statement: &postgres::Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>, postgres::Error>;
    fn run_script(&mut self, script: &str) -> Result<(), postgres::Error>;
}

macro_rules! runner {
    ($type:ty) => {
        impl Runner for $type {
            fn prepare(&mut self, text: &str) -> Result<postgres::Statement, postgres::Error> {
                <$type>::prepare(self, text)
            }

            fn run_execute(
                &mut self,
                statement: &postgres::Statement,
                params: &[&(dyn ToSql + Sync)],
            ) -> Result<u64, postgres::Error> {
                self.execute(statement, params)
            }

            fn run_query(
                &mut self,
                statement: &postgres::Statement,
                params: &[&(dyn ToSql + Sync)],
            ) -> Result<Vec<postgres::Row>, postgres::Error> {
                self.query(statement, params)
            }

            fn run_script(&mut self, script: &str) -> Result<(), postgres::Error> {
                self.batch_execute(script)
            }
        }
    };
}

runner!(Client);
runner!(Transaction<'_>);

/// `statement` prepared on the connection, once.
fn prepared(
    runner: &mut impl Runner,
    cache: &mut Prepared,
    statement: &Statement,
) -> Result<postgres::Statement, StoreError> {
    let text = statement.text(Dialect::Postgres)?;
    if let Some(prepared) = cache.get(text) {
        return Ok(prepared.clone());
    }
    let prepared = runner.prepare(text)?;
    cache.insert(text, prepared.clone());
    Ok(prepared)
}

/// The batches of rows among `params` ([`Param::Rows`]), each as one array
/// per column, for [`bound`].
pub(super) fn row_columns<'p>(params: &'p [Param<'_>]) -> Vec<RowColumns<'p>> {
    params
        .iter()
        .filter_map(|param| match param {
            Param::Rows(rows) => Some(rows.columns()),
            _ => None,
        })
        .collect()
}

/// `params` as the client takes them, a batch of rows as its arrays
/// (`columns`, from [`row_columns`]).
pub(super) fn bound<'p>(
    params: &'p [Param<'_>],
    columns: &'p [RowColumns<'_>],
) -> Vec<&'p (dyn ToSql + Sync)> {
    let mut batches = columns.iter();
    let mut bound: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(params.len());
    for param in params {
        match param {
            Param::Rows(_) => {
                if let Some(columns) = batches.next() {
                    bound.extend([
                        &columns.sources as &(dyn ToSql + Sync),
                        &columns.event_ids,
                        &columns.statuses,
                        &columns.attempts,
                        &columns.due_ats,
                        &columns.envelopes,
                        &columns.settled_ats,
                    ]);
                }
            }
            Param::Int(value) => bound.push(value),
            Param::Text(value) => bound.push(value),
            Param::Bool(value) => bound.push(value),
        }
    }
    bound
}

/// Runs `statement`, prepared once, with `params`; how many rows it changed.
pub(crate) fn execute(
    runner: &mut impl Runner,
    cache: &mut Prepared,
    statement: &Statement,
    params: &[Param<'_>],
) -> Result<u64, StoreError> {
    let prepared = prepared(runner, cache, statement)?;
    let columns = row_columns(params);
    Ok(runner.run_execute(&prepared, &bound(params, &columns))?)
}

/// Runs `script`, several statements without parameters.
pub(crate) fn execute_script(
    runner: &mut impl Runner,
    script: &Statement,
) -> Result<(), StoreError> {
    Ok(runner.run_script(script.text(Dialect::Postgres)?)?)
}

/// Runs `statement`, prepared once, with `params`; its rows, decoded.
pub(crate) fn query<T: Decode>(
    runner: &mut impl Runner,
    cache: &mut Prepared,
    statement: &Statement,
    params: &[Param<'_>],
) -> Result<Vec<T>, StoreError> {
    let prepared = prepared(runner, cache, statement)?;
    let columns = row_columns(params);
    let rows = runner.run_query(&prepared, &bound(params, &columns))?;
    rows.iter().map(|row| T::decode(&PgRow(row))).collect()
}

impl Statements for PgDriver<'_> {
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
        ready(execute(self.client, self.prepared, statement, params))
    }

    fn query<T: Decode>(
        &mut self,
        statement: &'static Statement,
        params: &[Param<'_>],
    ) -> impl Future<Output = Result<Vec<T>, StoreError>> {
        ready(query(self.client, self.prepared, statement, params))
    }

    fn execute_script(
        &mut self,
        script: &'static Statement,
    ) -> impl Future<Output = Result<(), StoreError>> {
        ready(execute_script(self.client, script))
    }
}

impl Statements for PgTx<'_> {
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
        ready(execute(&mut self.tx, self.prepared, statement, params))
    }

    fn query<T: Decode>(
        &mut self,
        statement: &'static Statement,
        params: &[Param<'_>],
    ) -> impl Future<Output = Result<Vec<T>, StoreError>> {
        ready(query(&mut self.tx, self.prepared, statement, params))
    }

    fn execute_script(
        &mut self,
        script: &'static Statement,
    ) -> impl Future<Output = Result<(), StoreError>> {
        ready(execute_script(&mut self.tx, script))
    }
}

/// The caller's own transaction, for `enqueue`: its statements are not
/// prepared ahead (no store's statements are at hand).
impl Statements for Transaction<'_> {
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
        ready(execute(self, &mut Prepared::new(), statement, params))
    }

    fn query<T: Decode>(
        &mut self,
        statement: &'static Statement,
        params: &[Param<'_>],
    ) -> impl Future<Output = Result<Vec<T>, StoreError>> {
        ready(query(self, &mut Prepared::new(), statement, params))
    }

    fn execute_script(
        &mut self,
        script: &'static Statement,
    ) -> impl Future<Output = Result<(), StoreError>> {
        ready(execute_script(self, script))
    }
}

impl EngineTransaction for PgTx<'_> {
    fn commit(self) -> impl Future<Output = Result<(), StoreError>> {
        ready(self.tx.commit().map_err(StoreError::from))
    }
}

impl<'c> Driver for PgDriver<'c> {
    type Tx<'t>
        = PgTx<'t>
    where
        Self: 't;

    fn begin(&mut self) -> impl Future<Output = Result<PgTx<'_>, StoreError>> {
        ready(match self.client.transaction() {
            Ok(tx) => Ok(PgTx {
                tx,
                prepared: self.prepared,
            }),
            Err(error) => Err(error.into()),
        })
    }
}

impl<'t, P, T, E: Display, F> Effect<PgTx<'t>, P, T, E> for Blocking<F>
where
    F: FnOnce(&mut Transaction<'_>, &Envelope<Dispatched, P>) -> Result<T, E>,
{
    fn apply<'a>(
        self,
        tx: &'a mut PgTx<'t>,
        event: &'a Envelope<Dispatched, P>,
    ) -> impl Future<Output = Result<T, E>> {
        ready((self.0)(&mut tx.tx, event))
    }
}

impl<'t, P, T, E: Display, F> Effect<PgTx<'t>, P, T, E> for &mut Blocking<F>
where
    F: FnMut(&mut Transaction<'_>, &Envelope<Dispatched, P>) -> Result<T, E>,
{
    fn apply<'a>(
        self,
        tx: &'a mut PgTx<'t>,
        event: &'a Envelope<Dispatched, P>,
    ) -> impl Future<Output = Result<T, E>> {
        ready((self.0)(&mut tx.tx, event))
    }
}

/// A row of a `postgres` (or `tokio-postgres`) result.
pub(super) struct PgRow<'r>(pub(super) &'r postgres::Row);

impl Row for PgRow<'_> {
    /// The column as the engine reads it: integers and flags as integers,
    /// text as text (the schema types every column).
    fn column(&self, name: &str) -> Result<Column<'_>, StoreError> {
        let row = self.0;
        let (index, column) = row
            .columns()
            .iter()
            .enumerate()
            .find(|(_, column)| column.name() == name)
            .ok_or_else(|| no_column(name))?;
        Ok(match *column.type_() {
            Type::INT8 => row
                .try_get::<_, Option<i64>>(index)?
                .map_or(Column::Null, Column::Integer),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(index)?
                .map_or(Column::Null, |number| Column::Integer(i64::from(number))),
            Type::BOOL => row
                .try_get::<_, Option<bool>>(index)?
                .map_or(Column::Null, |flag| Column::Integer(i64::from(flag))),
            _ => row
                .try_get::<_, Option<&str>>(index)?
                .map_or(Column::Null, |text| Column::Text(text.as_bytes())),
        })
    }
}
