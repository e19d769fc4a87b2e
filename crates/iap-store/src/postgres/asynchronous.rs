//! The PostgreSQL store for async services (feature `async-postgres`): the
//! same schema, SQL and rules as [`PostgresStore`](super::PostgresStore), on
//! a pool of sqlx connections.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{PgConnection, Postgres, Row, Transaction};

use super::async_driver::TokioPostgres;
use super::sql;
use crate::clock::ServerClock;
use crate::engine::asynchronous::async_delivery_store;
use crate::engine::sqlx_driver::{SqlxConnection, SqlxDriver};
use crate::{StoreError, StoreOptions, WakeupMode, Wakeups};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::envelope::state::Pending;

/// Inbox, outbox and dead letters in a PostgreSQL database, for async
/// services: a pool of connections shared by every clone of the store.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use chrono::Utc;
/// use integration_automation_patterns::Envelope;
/// use iap_store::postgres::AsyncPostgresStore;
/// use iap_store::AsyncDeliveryStore;
///
/// let store = AsyncPostgresStore::connect("postgres://relay@db.internal/orders", Default::default()).await?;
/// store.migrate().await?;
/// let event = Envelope::builder()
///     .event_id("order-1042-placed")
///     .event_type("commerce.order.placed")
///     .source_system("webshop")
///     .payload(serde_json::json!({ "order_id": 1042 }))
///     .build()?;
/// // The caller's own transaction: the business write and the event commit together.
/// let mut tx = store.pool().begin().await?;
/// sqlx::query("INSERT INTO orders (id) VALUES (1042)").execute(&mut *tx).await?;
/// AsyncPostgresStore::enqueue_in(&mut tx, &event, Utc::now()).await?;
/// tx.commit().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct AsyncPostgresStore {
    pool: PgPool,
    options: StoreOptions,
    clock: ServerClock,
}

impl AsyncPostgresStore {
    /// Connects a pool of up to 8 connections with a connection string (a
    /// `postgres://` URL).
    pub async fn connect(
        connection_string: &str,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
        let connect: PgConnectOptions =
            connection_string
                .parse()
                .map_err(|error: sqlx::Error| StoreError::Connect {
                    reason: format!("the connection string does not parse: {error}"),
                })?;
        AsyncPostgresStore::connect_with(connect, options).await
    }

    /// Connects a pool of up to 8 connections with sqlx's connection options.
    /// [`StoreOptions::busy_timeout`] bounds the wait for a pooled connection
    /// and, as the connections' `lock_timeout`, the wait for another
    /// transaction's lock: past it the call fails with [`StoreError::Busy`].
    pub async fn connect_with(
        connect: PgConnectOptions,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
        let connect = connect.options([(
            "lock_timeout",
            format!("{}ms", options.busy_timeout.as_millis()),
        )]);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(options.busy_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(|error| StoreError::Connect {
                reason: format!(
                    "cannot connect to {:?} port {} as {:?}: {error}",
                    connect.get_host(),
                    connect.get_port(),
                    connect.get_username()
                ),
            })?;
        Ok(AsyncPostgresStore::from_pool(pool, options))
    }

    /// A store on a pool the caller made (a service's own pool, say).
    pub fn from_pool(pool: PgPool, options: StoreOptions) -> Self {
        AsyncPostgresStore {
            pool,
            options,
            clock: ServerClock::default(),
        }
    }

    /// The pool, for the caller's own queries and transactions (an outbox
    /// event enqueued in the caller's transaction commits with it).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates the store's tables, migrates them, or checks their version:
    /// see [`PostgresStore::migrate`](super::PostgresStore::migrate).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        crate::engine::schema::migrate(&mut self.driver()).await
    }

    /// Enqueues into any open sqlx PostgreSQL transaction or connection of
    /// the caller's: see [`AsyncDeliveryStore::enqueue`](crate::AsyncDeliveryStore::enqueue).
    pub async fn enqueue_in<P: Serialize>(
        connection: &mut PgConnection,
        envelope: &Envelope<Pending, P>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        crate::engine::outbox::enqueue(&mut SqlxConnection::<Postgres>(connection), envelope, now)
            .await
    }

    /// Enqueues inside the caller's tokio-postgres transaction (or on a
    /// client): the event commits with the caller's own writes, or not at all.
    pub async fn enqueue_with_tokio_postgres<P: Serialize, C: tokio_postgres::GenericClient>(
        client: &C,
        envelope: &Envelope<Pending, P>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        crate::engine::outbox::enqueue(&mut TokioPostgres(client), envelope, now).await
    }

    /// The pool, as the engine drives it.
    fn driver(&self) -> SqlxDriver<Postgres> {
        SqlxDriver {
            pool: self.pool.clone(),
        }
    }
}

async_delivery_store!(impl for AsyncPostgresStore, Tx = Transaction<'static, Postgres> {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Reads the server's clock (`iap_clock()`, the schema's own function
    /// over `clock_timestamp()`) between two readings of this machine's.
    async fn sync_clock(&self) -> Result<TimeDelta, StoreError> {
        let mut connection = self.pool.acquire().await?;
        let before = Utc::now();
        let server: i64 = sqlx::query_scalar(sql::SERVER_CLOCK)
            .fetch_one(&mut *connection)
            .await?;
        let after = Utc::now();
        let server =
            DateTime::from_timestamp_micros(server).ok_or_else(|| StoreError::UnknownSchema {
                reason: format!("iap_clock() reads {server} microseconds, no time"),
            })?;
        Ok(self.clock.measured(before, server, after))
    }

    /// Listens on the store's channel from a connection of the pool, which
    /// it keeps while the subscription lives.
    async fn wakeups(&self) -> Result<Wakeups, StoreError> {
        if self.options.wakeups == WakeupMode::Poll {
            return Ok(Wakeups::polling());
        }
        let channel: String = sqlx::query(sql::NOTIFY_CHANNEL)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(&channel).await?;
        Ok(Wakeups::listener(listener))
    }

    async fn begin(&self) -> Result<Self::Tx, StoreError> {
        Ok(self.pool.begin().await?)
    }

});
