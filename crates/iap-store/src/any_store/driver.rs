//! The driver of an [`AnyStore`](super::AnyStore): the driver of the
//! backend it holds, each statement passed to it.

use std::fmt::Display;
use std::future::{Future, ready};

#[cfg(feature = "postgres")]
use crate::postgres::driver::{self as postgres_driver, PgDriver, Prepared};
#[cfg(feature = "sqlite")]
use crate::sqlite::driver::{self as sqlite_driver, SqliteDriver};

use super::AnyTx;
use crate::StoreError;
use crate::engine::blocking::Blocking;
use crate::engine::driver::{Decode, Dialect, Driver, Param, Statements, Transaction};
use crate::engine::inbox::Effect;
use crate::engine::statement::Statement;
use integration_automation_patterns::Envelope;
use integration_automation_patterns::envelope::state::Dispatched;

/// The driver of the backend an `AnyStore` holds.
pub(crate) enum AnyDriver<'c> {
    #[cfg(feature = "sqlite")]
    Sqlite(SqliteDriver<'c>),
    #[cfg(feature = "postgres")]
    Postgres(PgDriver<'c>),
}

/// A transaction the engine opened on an `AnyStore`: the backend's own, as
/// effects receive it, and on PostgreSQL the connection's prepared
/// statements.
pub(crate) struct AnyEngineTx<'t> {
    tx: AnyTx<'t>,
    #[cfg(feature = "postgres")]
    prepared: Option<&'t mut Prepared>,
}

/// The same expression on whichever backend `$value` holds, bound to `$bound`.
macro_rules! on_backend {
    ($value:expr, $kind:ident, $bound:ident => $call:expr) => {
        match $value {
            #[cfg(feature = "sqlite")]
            $kind::Sqlite($bound) => $call,
            #[cfg(feature = "postgres")]
            $kind::Postgres($bound) => $call,
        }
    };
}

impl Statements for AnyDriver<'_> {
    fn dialect(&self) -> Dialect {
        on_backend!(self, AnyDriver, driver => driver.dialect())
    }

    fn writes_rows_at_once(&self) -> bool {
        on_backend!(self, AnyDriver, driver => driver.writes_rows_at_once())
    }

    async fn execute(
        &mut self,
        statement: &'static Statement,
        params: &[Param<'_>],
    ) -> Result<u64, StoreError> {
        on_backend!(self, AnyDriver, driver => driver.execute(statement, params).await)
    }

    async fn query<T: Decode>(
        &mut self,
        statement: &'static Statement,
        params: &[Param<'_>],
    ) -> Result<Vec<T>, StoreError> {
        on_backend!(self, AnyDriver, driver => driver.query(statement, params).await)
    }

    async fn execute_script(&mut self, script: &'static Statement) -> Result<(), StoreError> {
        on_backend!(self, AnyDriver, driver => driver.execute_script(script).await)
    }
}

impl<'c> Driver for AnyDriver<'c> {
    type Tx<'t>
        = AnyEngineTx<'t>
    where
        Self: 't;

    fn begin(&mut self) -> impl Future<Output = Result<AnyEngineTx<'_>, StoreError>> {
        ready(match self {
            #[cfg(feature = "sqlite")]
            AnyDriver::Sqlite(driver) => sqlite_begin(driver),
            #[cfg(feature = "postgres")]
            AnyDriver::Postgres(driver) => match driver.client.transaction() {
                Ok(tx) => Ok(AnyEngineTx {
                    tx: AnyTx::Postgres(tx),
                    prepared: Some(&mut *driver.prepared),
                }),
                Err(error) => Err(error.into()),
            },
        })
    }
}

#[cfg(feature = "sqlite")]
fn sqlite_begin<'t>(driver: &SqliteDriver<'t>) -> Result<AnyEngineTx<'t>, StoreError> {
    let tx = rusqlite::Transaction::new_unchecked(
        driver.connection,
        rusqlite::TransactionBehavior::Immediate,
    )?;
    Ok(AnyEngineTx {
        tx: AnyTx::Sqlite(tx),
        #[cfg(feature = "postgres")]
        prepared: None,
    })
}

/// The caller's transaction, for `enqueue`: on PostgreSQL its statements
/// are not prepared ahead (no store's statements are at hand).
impl Statements for AnyTx<'_> {
    fn dialect(&self) -> Dialect {
        on_backend!(self, AnyTx, tx => Statements::dialect(tx))
    }

    fn writes_rows_at_once(&self) -> bool {
        on_backend!(self, AnyTx, tx => Statements::writes_rows_at_once(tx))
    }

    async fn execute(
        &mut self,
        statement: &'static Statement,
        params: &[Param<'_>],
    ) -> Result<u64, StoreError> {
        on_backend!(self, AnyTx, tx => Statements::execute(tx, statement, params).await)
    }

    async fn query<T: Decode>(
        &mut self,
        statement: &'static Statement,
        params: &[Param<'_>],
    ) -> Result<Vec<T>, StoreError> {
        on_backend!(self, AnyTx, tx => Statements::query(tx, statement, params).await)
    }

    async fn execute_script(&mut self, script: &'static Statement) -> Result<(), StoreError> {
        on_backend!(self, AnyTx, tx => Statements::execute_script(tx, script).await)
    }
}

impl Statements for AnyEngineTx<'_> {
    fn dialect(&self) -> Dialect {
        self.tx.dialect()
    }

    fn writes_rows_at_once(&self) -> bool {
        self.tx.writes_rows_at_once()
    }

    fn execute(
        &mut self,
        statement: &'static Statement,
        params: &[Param<'_>],
    ) -> impl Future<Output = Result<u64, StoreError>> {
        ready(match &mut self.tx {
            #[cfg(feature = "sqlite")]
            AnyTx::Sqlite(tx) => sqlite_driver::execute(tx, statement, params),
            #[cfg(feature = "postgres")]
            AnyTx::Postgres(tx) => match self.prepared.as_deref_mut() {
                Some(prepared) => postgres_driver::execute(tx, prepared, statement, params),
                None => postgres_driver::execute(tx, &mut Prepared::new(), statement, params),
            },
        })
    }

    fn query<T: Decode>(
        &mut self,
        statement: &'static Statement,
        params: &[Param<'_>],
    ) -> impl Future<Output = Result<Vec<T>, StoreError>> {
        ready(match &mut self.tx {
            #[cfg(feature = "sqlite")]
            AnyTx::Sqlite(tx) => sqlite_driver::query(tx, statement, params),
            #[cfg(feature = "postgres")]
            AnyTx::Postgres(tx) => match self.prepared.as_deref_mut() {
                Some(prepared) => postgres_driver::query(tx, prepared, statement, params),
                None => postgres_driver::query(tx, &mut Prepared::new(), statement, params),
            },
        })
    }

    fn execute_script(
        &mut self,
        script: &'static Statement,
    ) -> impl Future<Output = Result<(), StoreError>> {
        Statements::execute_script(&mut self.tx, script)
    }
}

impl Transaction for AnyEngineTx<'_> {
    fn commit(self) -> impl Future<Output = Result<(), StoreError>> {
        ready(self.tx.commit())
    }
}

impl<'t, P, T, E: Display, F> Effect<AnyEngineTx<'t>, P, T, E> for Blocking<F>
where
    F: FnOnce(&mut AnyTx<'_>, &Envelope<Dispatched, P>) -> Result<T, E>,
{
    fn apply<'a>(
        self,
        tx: &'a mut AnyEngineTx<'t>,
        event: &'a Envelope<Dispatched, P>,
    ) -> impl Future<Output = Result<T, E>> {
        ready((self.0)(&mut tx.tx, event))
    }
}

impl<'t, P, T, E: Display, F> Effect<AnyEngineTx<'t>, P, T, E> for &mut Blocking<F>
where
    F: FnMut(&mut AnyTx<'_>, &Envelope<Dispatched, P>) -> Result<T, E>,
{
    fn apply<'a>(
        self,
        tx: &'a mut AnyEngineTx<'t>,
        event: &'a Envelope<Dispatched, P>,
    ) -> impl Future<Output = Result<T, E>> {
        ready((self.0)(&mut tx.tx, event))
    }
}
