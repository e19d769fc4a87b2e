//! The store engine: every operation of the stores, written once.
//!
//! An operation is an `async fn` over a [`Driver`](driver::Driver): it says
//! which statements to run and when to commit, and decides from the rows
//! read what to write. It names no driver type. The four stores are drivers
//! (rusqlite, postgres, and sqlx on either) that run statements, bind
//! parameters and decode rows, and nothing else:
//!
//! - the async stores await the operations;
//! - the blocking stores run them with [`run_ready`]: their drivers do their
//!   work before they return, so an operation is done when first polled,
//!   at the cost of a call, not of a runtime.
//!
//! Where the databases really differ, the engine says so once, by the
//! driver's [`Dialect`](driver::Dialect): PostgreSQL claims in one
//! statement and SQLite marks the rows it holds back, then selects; SQLite
//! names a row by its `rowid` and PostgreSQL by its key; a driver writes
//! many rows in one statement (one JSON text, or one array per column) or
//! one statement a row ([`writes_rows_at_once`](driver::Statements::writes_rows_at_once)).
//! Statements whose text differs but whose part in the operation is the
//! same (a lock PostgreSQL takes and SQLite's write lock makes needless) are
//! one statement with two texts ([`catalogue`]).

#[cfg(any(feature = "async-sqlite", feature = "async-postgres"))]
pub(crate) mod asynchronous;
pub(crate) mod blocking;
pub(crate) mod catalogue;
pub(crate) mod claim;
#[cfg(all(test, feature = "sqlite", feature = "postgres"))]
mod crash_points;
pub(crate) mod dead_letters;
pub(crate) mod driver;
pub(crate) mod inbox;
pub(crate) mod monitoring;
pub(crate) mod outbox;
pub(crate) mod quarantine;
pub(crate) mod schema;
pub(crate) mod sql;
#[cfg(test)]
mod sql_files;
#[cfg(any(feature = "async-sqlite", feature = "async-postgres"))]
pub(crate) mod sqlx_driver;
pub(crate) mod statement;
pub(crate) mod steps;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::StoreError;

/// Runs an operation on a blocking driver to its end.
///
/// A blocking driver's futures do all their work when first polled, so one
/// poll ends the operation; one that is still pending after it waited on
/// something no blocking driver waits on, and is refused as a defect
/// (dropping it rolls back what it had not committed).
pub(crate) fn run_ready<T, E: From<StoreError>>(
    operation: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let operation = pin!(operation);
    match operation.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => result,
        Poll::Pending => Err(E::from(StoreError::Defect {
            reason: "an operation of a blocking store waited, which its driver never does".into(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocking_operation_is_done_at_its_first_poll_or_refused_as_a_defect() {
        assert_eq!(run_ready(async { Ok::<_, StoreError>(7) }).ok(), Some(7));
        let waited = run_ready(std::future::pending::<Result<(), StoreError>>());
        assert!(
            matches!(&waited, Err(StoreError::Defect { reason }) if reason.contains("waited")),
            "{waited:?}"
        );
    }
}
