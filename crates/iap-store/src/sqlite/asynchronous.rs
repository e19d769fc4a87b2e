//! The SQLite store for async services (feature `async-sqlite`): the same
//! file, schema, SQL and rules as [`SqliteStore`](super::SqliteStore), on a
//! pool of sqlx connections.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqliteOperation, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, Transaction};

use super::SqliteStore;
use crate::engine::asynchronous::async_delivery_store;
use crate::engine::sqlx_driver::{SqlxConnection, SqlxDriver};
use crate::wakeup::LocalSignal;
use crate::{Durability, StoreError, StoreOptions, WakeupMode, Wakeups};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::envelope::state::Pending;

/// Inbox, outbox and dead letters in one SQLite file, for async services: a
/// pool of connections shared by every clone of the store.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use chrono::Utc;
/// use integration_automation_patterns::Envelope;
/// use iap_store::sqlite::AsyncSqliteStore;
/// use iap_store::AsyncDeliveryStore;
///
/// let store = AsyncSqliteStore::open("orders.db", Default::default()).await?;
/// let event = Envelope::builder()
///     .event_id("order-1042-placed")
///     .event_type("commerce.order.placed")
///     .source_system("webshop")
///     .payload(serde_json::json!({ "order_id": 1042 }))
///     .build()?;
/// let mut tx = store.begin().await?;
/// sqlx::query("INSERT INTO orders (id) VALUES (1042)").execute(&mut *tx).await?;
/// AsyncSqliteStore::enqueue(&mut tx, &event, Utc::now()).await?;
/// tx.commit().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct AsyncSqliteStore {
    pool: SqlitePool,
    options: StoreOptions,
    /// Raised by the pool's connections when a commit enqueued.
    enqueued: LocalSignal,
}

impl AsyncSqliteStore {
    /// Opens (creating if needed) the store in the file at `path`, with a
    /// pool of up to 4 connections. The schema is prepared (created, migrated
    /// or refused) as [`SqliteStore::open_with`] does it, on a blocking thread.
    pub async fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<Self, StoreError> {
        let path: PathBuf = path.as_ref().to_path_buf();
        let prepared = path.clone();
        tokio::task::spawn_blocking(move || SqliteStore::open_with(&prepared, options).map(drop))
            .await
            .map_err(|error| StoreError::Open {
                path: path.clone(),
                reason: error.to_string(),
            })??;
        let connect = SqliteConnectOptions::new()
            .filename(&path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match options.durability {
                Durability::Full => SqliteSynchronous::Full,
                Durability::Normal => SqliteSynchronous::Normal,
            })
            .busy_timeout(options.busy_timeout);
        let enqueued = LocalSignal::new();
        let signal = enqueued.clone();
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(options.busy_timeout)
            .after_connect(move |connection, _| {
                let signal = signal.clone();
                Box::pin(async move {
                    signal_enqueueing_commits(connection, signal).await?;
                    Ok(())
                })
            })
            .connect_with(connect)
            .await
            .map_err(|error| StoreError::Open {
                path,
                reason: error.to_string(),
            })?;
        Ok(AsyncSqliteStore {
            pool,
            options,
            enqueued,
        })
    }

    /// The pool, for the caller's own queries and transactions (an outbox
    /// event enqueued in the caller's transaction commits with it).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Enqueues into any open sqlx SQLite transaction or connection of the
    /// caller's: see [`AsyncDeliveryStore::enqueue`](crate::AsyncDeliveryStore::enqueue).
    pub async fn enqueue_in<P: Serialize>(
        connection: &mut SqliteConnection,
        envelope: &Envelope<Pending, P>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        crate::engine::outbox::enqueue(&mut SqlxConnection::<Sqlite>(connection), envelope, now)
            .await
    }

    /// The pool, as the engine drives it.
    fn driver(&self) -> SqlxDriver<Sqlite> {
        SqlxDriver {
            pool: self.pool.clone(),
        }
    }
}

/// Has `connection` raise `signal` at each commit that inserted into the
/// outbox. SQLite calls the commit hook while the commit is under way, with
/// the write lock held; a woken relay's claim (`BEGIN IMMEDIATE`) waits for
/// that lock, so it sees the new rows.
async fn signal_enqueueing_commits(
    connection: &mut SqliteConnection,
    signal: LocalSignal,
) -> Result<(), sqlx::Error> {
    let inserted = Arc::new(AtomicBool::new(false));
    let mut handle = connection.lock_handle().await?;
    let seen = Arc::clone(&inserted);
    handle.set_update_hook(move |change| {
        if change.operation == SqliteOperation::Insert && change.table == "iap_outbox" {
            seen.store(true, Ordering::Relaxed);
        }
    });
    let committed = Arc::clone(&inserted);
    handle.set_commit_hook(move || {
        if committed.swap(false, Ordering::Relaxed) {
            signal.raise();
        }
        true
    });
    handle.set_rollback_hook(move || inserted.store(false, Ordering::Relaxed));
    Ok(())
}

async_delivery_store!(impl for AsyncSqliteStore, Tx = Transaction<'static, Sqlite> {
    async fn wakeups(&self) -> Result<Wakeups, StoreError> {
        Ok(match self.options.wakeups {
            WakeupMode::Notify => Wakeups::local(&self.enqueued),
            WakeupMode::Poll => Wakeups::polling(),
        })
    }

    async fn begin(&self) -> Result<Self::Tx, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
});
