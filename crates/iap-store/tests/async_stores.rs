//! The async stores inside a tokio service: many tasks sharing one store, and
//! the outbox enqueued inside the caller's own transaction (sqlx on both
//! databases, tokio-postgres), where a rollback loses the event with the
//! business write. Every test runs on a multi-threaded runtime.
#![cfg(any(feature = "async-sqlite", feature = "async-postgres"))]

use iap_test_support::backends;
use iap_test_support::temp_db;

use chrono::{DateTime, TimeZone, Utc};
use iap_store::{Admission, AsyncDeliveryStore, Delivery, SendError, StoreError, StoreOptions};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::state::Pending;
use serde_json::{Value, json};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

fn order_event(n: u32) -> Envelope<Pending> {
    Envelope::builder()
        .event_id(format!("order-{n}-placed"))
        .event_type("commerce.order.placed")
        .source_system("webshop")
        .payload(json!({ "order_id": n }))
        .created_at(now())
        .build()
        .unwrap()
}

const TASKS: u32 = 16;
const KEYS: u32 = 2_000;

/// `TASKS` tasks admit every key once each, in orders of their own, through
/// clones of one store; `insert` is the effect's SQL with the order id as its
/// one parameter. Returns how many admissions were processed.
async fn admit_from_many_tasks<S>(store: &S, insert: &'static str) -> u32
where
    S: AsyncDeliveryStore,
    for<'t> &'t mut S::Tx: ShipmentInsert,
{
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let store = store.clone();
        tasks.spawn(async move {
            let mut processed = 0;
            for step in 0..KEYS {
                let n = (task * 131 + step * 7) % KEYS;
                let admitted = store
                    .admit(order_event(n), now(), move |tx, event| {
                        let order_id = event.payload()["order_id"].as_i64().unwrap_or_default();
                        Box::pin(async move { tx.insert(insert, order_id).await })
                    })
                    .await
                    .unwrap();
                match admitted {
                    Admission::Processed(..) => processed += 1,
                    Admission::Duplicate(_) => {}
                    Admission::Failed(outcome) => panic!("an effect failed: {outcome:?}"),
                }
            }
            processed
        });
    }
    let mut processed = 0;
    while let Some(done) = tasks.join_next().await {
        processed += done.unwrap();
    }
    processed
}

/// Runs the effect's insert on the admitting transaction.
trait ShipmentInsert: Send {
    fn insert(
        self,
        sql: &'static str,
        order_id: i64,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send;
}

#[cfg(feature = "async-sqlite")]
mod sqlite {
    use iap_store::sqlite::AsyncSqliteStore;
    use sqlx::{Sqlite, Transaction};

    use super::temp_db::TempDb;
    use super::*;

    impl ShipmentInsert for &mut Transaction<'static, Sqlite> {
        async fn insert(self, sql: &'static str, order_id: i64) -> Result<(), StoreError> {
            sqlx::query(sql).bind(order_id).execute(&mut **self).await?;
            Ok(())
        }
    }

    async fn store(db: &TempDb) -> AsyncSqliteStore {
        let store = AsyncSqliteStore::open(db.path(), StoreOptions::default())
            .await
            .unwrap();
        sqlx::raw_sql(
            "CREATE TABLE shipments (order_id INTEGER NOT NULL);
             CREATE TABLE orders (id INTEGER PRIMARY KEY);",
        )
        .execute(store.pool())
        .await
        .unwrap();
        store
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sixteen_tasks_admitting_the_same_keys_apply_each_effect_once() {
        let db = TempDb::new("async-admit");
        let store = store(&db).await;
        let processed =
            admit_from_many_tasks(&store, "INSERT INTO shipments (order_id) VALUES (?1)").await;
        assert_eq!(processed, KEYS);
        let (effects, keys): (i64, i64) =
            sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT order_id) FROM shipments")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!((effects, keys), (i64::from(KEYS), i64::from(KEYS)));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_event_commits_or_rolls_back_with_the_callers_sqlx_transaction() {
        let db = TempDb::new("async-caller-tx");
        let store = store(&db).await;
        for (n, commit) in [(1, false), (2, true)] {
            let mut tx = store.pool().begin().await.unwrap();
            sqlx::query("INSERT INTO orders (id) VALUES (?1)")
                .bind(i64::from(n))
                .execute(&mut *tx)
                .await
                .unwrap();
            AsyncSqliteStore::enqueue_in(&mut tx, &order_event(n), now())
                .await
                .unwrap();
            if commit {
                tx.commit().await.unwrap();
            } else {
                tx.rollback().await.unwrap();
            }
        }
        let report = store
            .run_once(now(), 10, |envelope: &Envelope<_, Value>| {
                assert_eq!(envelope.event_id(), "order-2-placed");
                std::future::ready(Ok::<_, SendError>(Delivery::Processed))
            })
            .await
            .unwrap();
        assert_eq!(report.delivered, 1);
        let orders: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(orders, 1);
    }
}

#[cfg(feature = "async-postgres")]
mod postgres {
    use iap_store::postgres::AsyncPostgresStore;
    use sqlx::{Postgres, Transaction};

    use super::backends::postgres::Schema;
    use super::*;

    impl ShipmentInsert for &mut Transaction<'static, Postgres> {
        async fn insert(self, sql: &'static str, order_id: i64) -> Result<(), StoreError> {
            sqlx::query(sql).bind(order_id).execute(&mut **self).await?;
            Ok(())
        }
    }

    /// A fresh schema, made with the blocking client off the runtime's workers.
    async fn fresh_schema(name: &'static str) -> Option<Schema> {
        tokio::task::spawn_blocking(move || Schema::new(name, "t"))
            .await
            .unwrap()
    }

    async fn store(schema: &Schema) -> AsyncPostgresStore {
        let store =
            AsyncPostgresStore::connect_with(schema.connect_options(), StoreOptions::default())
                .await
                .unwrap();
        store.migrate().await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE shipments (order_id BIGINT NOT NULL);
             CREATE TABLE orders (id BIGINT PRIMARY KEY);",
        )
        .execute(store.pool())
        .await
        .unwrap();
        store
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sixteen_tasks_admitting_the_same_keys_apply_each_effect_once() {
        let Some(schema) = fresh_schema("async_admit").await else {
            return;
        };
        let store = store(&schema).await;
        let processed =
            admit_from_many_tasks(&store, "INSERT INTO shipments (order_id) VALUES ($1)").await;
        assert_eq!(processed, KEYS);
        let (effects, keys): (i64, i64) =
            sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT order_id) FROM shipments")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!((effects, keys), (i64::from(KEYS), i64::from(KEYS)));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_event_commits_or_rolls_back_with_the_callers_transaction() {
        let Some(schema) = fresh_schema("async_caller_tx").await else {
            return;
        };
        let store = store(&schema).await;
        // The caller's sqlx transaction: order 1 rolled back, order 2 committed.
        for (n, commit) in [(1, false), (2, true)] {
            let mut tx = store.pool().begin().await.unwrap();
            sqlx::query("INSERT INTO orders (id) VALUES ($1)")
                .bind(i64::from(n))
                .execute(&mut *tx)
                .await
                .unwrap();
            AsyncPostgresStore::enqueue_in(&mut tx, &order_event(n), now())
                .await
                .unwrap();
            if commit {
                tx.commit().await.unwrap();
            } else {
                tx.rollback().await.unwrap();
            }
        }
        // The caller's tokio-postgres transaction: order 3 rolled back, order 4 committed.
        let connection_string = format!("{} options='-c search_path={}'", schema.url, schema.name);
        let (mut client, connection) =
            tokio_postgres::connect(&connection_string, tokio_postgres::NoTls)
                .await
                .unwrap();
        let driver = tokio::spawn(connection);
        for (n, commit) in [(3, false), (4, true)] {
            let tx = client.transaction().await.unwrap();
            tx.execute("INSERT INTO orders (id) VALUES ($1)", &[&i64::from(n)])
                .await
                .unwrap();
            AsyncPostgresStore::enqueue_with_tokio_postgres(&tx, &order_event(n), now())
                .await
                .unwrap();
            if commit {
                tx.commit().await.unwrap();
            } else {
                tx.rollback().await.unwrap();
            }
        }
        drop(client);
        driver.await.unwrap().unwrap();

        let mut relayed = Vec::new();
        let report = store
            .run_once(now(), 10, |envelope: &Envelope<_, Value>| {
                relayed.push(envelope.event_id().to_owned());
                std::future::ready(Ok::<_, SendError>(Delivery::Processed))
            })
            .await
            .unwrap();
        relayed.sort();
        assert_eq!(relayed, ["order-2-placed", "order-4-placed"]);
        assert_eq!(report.delivered, 2);
        let orders: Vec<i64> = sqlx::query_scalar("SELECT id FROM orders ORDER BY id")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert_eq!(orders, [2, 4]);
    }
}
