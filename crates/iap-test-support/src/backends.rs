//! The store backends, as the suites open them: a fresh, empty store per
//! test, on a temporary SQLite file or in a schema of its own on the
//! PostgreSQL server named by `IAP_POSTGRES_URL`; the blocking stores as they
//! are, and the async stores driven from the suites' blocking code on a
//! multi-threaded tokio runtime.

use std::fmt::Display;
use std::time::Duration;

use chrono::{DateTime, Utc};
use iap_store::{
    Admission, AdmissionResult, Claim, Claimed, DeadLetters, Delivery, HeldKey, Outcome,
    QuarantinedRow, Recorded, Redriven, RunReport, SendError, StatusCounts, StoreError,
    StoreOptions,
};
use integration_automation_patterns::state::{Dispatched, Pending, Skipped, State};
use integration_automation_patterns::{AnyEnvelope, Envelope};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A database fault in progress, over when dropped.
pub struct Fault(pub Option<Box<dyn FnOnce() + Send>>);

impl Drop for Fault {
    fn drop(&mut self) {
        if let Some(end) = self.0.take() {
            end();
        }
    }
}

/// The store's operations the suites call as the stores have them, listed
/// once: each is handed to `$then!`, which declares it in [`Backend`]
/// (`declare`), or passes it to a blocking store's `DeliveryStore` method
/// (`to_blocking`) or to an async store's `AsyncDeliveryStore` method, run
/// to completion (`to_async`). The operations that take a closure, or no
/// store, are adapted by hand (`blocking_operations!`, `async_operations!`).
macro_rules! operations {
    ($then:ident) => {
        $then! {
            claim_due[P: Serialize + DeserializeOwned + Send + Sync](
                now: DateTime<Utc>, limit: usize) -> Claimed<P>;
            record_batch[P: Serialize + Send + Sync](outcomes: &[Outcome<P>]) -> Vec<Recorded>;
            extend_lease[P: Send + Sync](claim: &mut Claim<P>, now: DateTime<Utc>) -> ();
            purge_inbox[](now: DateTime<Utc>) -> usize;
            purge_delivered[](now: DateTime<Utc>) -> usize;
            load_any[P: DeserializeOwned + Send + Sync](
                source_system: &str, event_id: &str) -> AnyEnvelope<P>;
            load[S: State, P: DeserializeOwned + Send + Sync](
                source_system: &str, event_id: &str) -> Envelope<S, P>;
            dead_letters[P: DeserializeOwned + Send + Sync](limit: usize) -> DeadLetters<P>;
            redrive[P: Serialize + DeserializeOwned + Send + Sync](
                source_system: &str, event_id: &str, reason: &str, now: DateTime<Utc>)
                -> Envelope<Pending, P>;
            redrive_all[P: Serialize + DeserializeOwned + Send + Sync](
                reason: &str, now: DateTime<Utc>) -> Redriven;
            skip_dead_letter[P: Serialize + DeserializeOwned + Send + Sync](
                source_system: &str, event_id: &str, reason: &str, now: DateTime<Utc>)
                -> Envelope<Skipped, P>;
            held_keys[](limit: usize) -> Vec<HeldKey>;
            quarantined[](limit: usize) -> Vec<QuarantinedRow>;
            release_quarantined[P: DeserializeOwned + Send + Sync](
                source_system: &str, event_id: &str, now: DateTime<Utc>) -> AnyEnvelope<P>;
            delete_quarantined[](source_system: &str, event_id: &str) -> ();
            verify[]() -> Vec<StoreError>;
            counts[]() -> StatusCounts;
            next_due_at[]() -> Option<DateTime<Utc>>;
            oldest_due_age[](now: DateTime<Utc>) -> Option<Duration>;
        }
    };
}

/// Declares the listed operations (see [`operations!`]).
macro_rules! declare {
    ($($name:ident [$($generic:ident : $bound:ident $(+ $bounds:ident)*),*]
        ($($arg:ident : $type:ty),*) -> $output:ty;)*) => {
        $(fn $name<$($generic: $bound $(+ $bounds)*),*>(
            &mut self,
            $($arg: $type),*
        ) -> Result<$output, StoreError>;)*
    };
}

/// The listed operations of a blocking store: its own `DeliveryStore`
/// methods (see [`operations!`]).
macro_rules! to_blocking {
    ($($name:ident [$($generic:ident : $bound:ident $(+ $bounds:ident)*),*]
        ($($arg:ident : $type:ty),*) -> $output:ty;)*) => {
        $(fn $name<$($generic: $bound $(+ $bounds)*),*>(
            &mut self,
            $($arg: $type),*
        ) -> Result<$output, StoreError> {
            DeliveryStore::$name::<$($generic),*>(self, $($arg),*)
        })*
    };
}

/// The listed operations of an async store, run to completion on the
/// suites' runtime (see [`operations!`]).
macro_rules! to_async {
    ($($name:ident [$($generic:ident : $bound:ident $(+ $bounds:ident)*),*]
        ($($arg:ident : $type:ty),*) -> $output:ty;)*) => {
        $(fn $name<$($generic: $bound $(+ $bounds)*),*>(
            &mut self,
            $($arg: $type),*
        ) -> Result<$output, StoreError> {
            block(self.store.$name::<$($generic),*>($($arg),*))
        })*
    };
}

/// A store the suites run against: how to make one, and the store's
/// operations as the suites call them (the blocking ones, with the bounds an
/// async store needs).
pub trait Backend: Sized {
    /// Where a test's store lives; shared by the threads of a test.
    type Place: Sync;
    /// The store's write transaction.
    type Tx<'t>;

    /// The store's current schema version.
    const SCHEMA_VERSION: i64;

    /// The statements that take a store back one schema version as this
    /// crate shipped it (without the version number), down to version 2:
    /// the first list takes the current schema one version back.
    const DOWNGRADES: &'static [&'static [&'static str]];

    /// A fresh, empty place for the test `name`; `None` when the backend is
    /// not available here (which fails the test under CI).
    fn place(name: &str) -> Option<Self::Place>;

    /// A store at `place`, its schema in place.
    fn open(place: &Self::Place) -> Self {
        Self::open_with(place, StoreOptions::default())
    }

    /// A store at `place` with these settings.
    fn open_with(place: &Self::Place, options: StoreOptions) -> Self;

    /// Runs one SQL statement in the store's transaction (for test effects).
    fn exec(tx: &mut Self::Tx<'_>, sql: &str) -> Result<u64, StoreError>;

    /// The one number a query returns.
    fn number(&mut self, sql: &str) -> i64;

    fn options(&self) -> StoreOptions;

    fn write<T, E: From<StoreError>>(
        &mut self,
        work: impl FnOnce(&mut Self::Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E>;

    fn enqueue<P: Serialize + Sync>(
        tx: &mut Self::Tx<'_>,
        envelope: &Envelope<Pending, P>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    fn record<P: Serialize + Send + Sync>(
        &mut self,
        outcome: impl Into<AnyEnvelope<P>> + Send,
    ) -> Result<(), StoreError>;

    fn run_once<P, F>(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
        send: F,
    ) -> Result<RunReport, StoreError>
    where
        P: Serialize + DeserializeOwned + Send + Sync,
        F: FnMut(&Envelope<Dispatched, P>) -> Result<Delivery, SendError> + Send;

    fn admit<P, T, E, F>(
        &mut self,
        envelope: Envelope<Pending, P>,
        now: DateTime<Utc>,
        effect: F,
    ) -> Result<Admission<T, P>, StoreError>
    where
        P: Serialize + Send + Sync,
        T: Send + 'static,
        E: Display + Send + 'static,
        F: FnOnce(&mut Self::Tx<'_>, &Envelope<Dispatched, P>) -> Result<T, E> + Send;

    fn admit_batch<P, T, E, F>(
        &mut self,
        envelopes: Vec<Envelope<Pending, P>>,
        now: DateTime<Utc>,
        effect: F,
    ) -> Result<Vec<AdmissionResult<T, P>>, StoreError>
    where
        P: Serialize + Send + Sync,
        T: Send + 'static,
        E: Display + Send + 'static,
        F: FnMut(&mut Self::Tx<'_>, &Envelope<Dispatched, P>) -> Result<T, E> + Send;

    operations!(declare);
}

/// A backend that the fault suite can break on purpose.
pub trait FaultBackend: Backend {
    /// Edits by hand whose SQL depends on this backend's column types (some
    /// only its loose types let through): an `UPDATE … SET` clause, and
    /// words the quarantine reason must hold.
    const TYPE_TAMPERS: &'static [(&'static str, &'static str, &'static str)];

    /// The `UPDATE … SET` clause that replaces `from` with `to` in the text
    /// of a row's envelope.
    fn replace_in_envelope(from: &str, to: &str) -> String;

    /// Makes the next write of the store's connections at `place` fail, as a
    /// short database fault would: on SQLite another connection holds the
    /// write lock for a while; on PostgreSQL the connections are terminated.
    /// The fault is over once the returned value is dropped.
    fn interrupt(place: &Self::Place) -> Fault;
}

/// The store's operations of [`Backend`] for a blocking store: its own
/// `DeliveryStore` methods, the listed ones through [`operations!`].
macro_rules! blocking_operations {
    () => {
        fn options(&self) -> StoreOptions {
            DeliveryStore::options(self)
        }

        fn write<T, E: From<StoreError>>(
            &mut self,
            work: impl FnOnce(&mut Self::Tx<'_>) -> Result<T, E>,
        ) -> Result<T, E> {
            DeliveryStore::write(self, work)
        }

        fn enqueue<P: Serialize + Sync>(
            tx: &mut Self::Tx<'_>,
            envelope: &Envelope<Pending, P>,
            now: DateTime<Utc>,
        ) -> Result<(), StoreError> {
            <Self as DeliveryStore>::enqueue(tx, envelope, now)
        }

        fn record<P: Serialize + Send + Sync>(
            &mut self,
            outcome: impl Into<AnyEnvelope<P>> + Send,
        ) -> Result<(), StoreError> {
            DeliveryStore::record(self, outcome)
        }

        fn run_once<P, F>(
            &mut self,
            now: DateTime<Utc>,
            limit: usize,
            send: F,
        ) -> Result<RunReport, StoreError>
        where
            P: Serialize + DeserializeOwned + Send + Sync,
            F: FnMut(&Envelope<Dispatched, P>) -> Result<Delivery, SendError> + Send,
        {
            DeliveryStore::run_once(self, now, limit, send)
        }

        fn admit<P, T, E, F>(
            &mut self,
            envelope: Envelope<Pending, P>,
            now: DateTime<Utc>,
            effect: F,
        ) -> Result<Admission<T, P>, StoreError>
        where
            P: Serialize + Send + Sync,
            T: Send + 'static,
            E: Display + Send + 'static,
            F: FnOnce(&mut Self::Tx<'_>, &Envelope<Dispatched, P>) -> Result<T, E> + Send,
        {
            DeliveryStore::admit(self, envelope, now, effect)
        }

        fn admit_batch<P, T, E, F>(
            &mut self,
            envelopes: Vec<Envelope<Pending, P>>,
            now: DateTime<Utc>,
            effect: F,
        ) -> Result<Vec<AdmissionResult<T, P>>, StoreError>
        where
            P: Serialize + Send + Sync,
            T: Send + 'static,
            E: Display + Send + 'static,
            F: FnMut(&mut Self::Tx<'_>, &Envelope<Dispatched, P>) -> Result<T, E> + Send,
        {
            DeliveryStore::admit_batch(self, envelopes, now, effect)
        }

        operations!(to_blocking);
    };
}

/// `exec`, `number` and the store's operations of [`Backend`] for an async
/// store (its sqlx pool is `store.pool()`), each awaited to completion on the
/// suites' runtime.
macro_rules! async_operations {
    () => {
        fn exec(tx: &mut Self::Tx<'_>, sql: &str) -> Result<u64, StoreError> {
            let done = block(sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut **tx))?;
            Ok(done.rows_affected())
        }

        fn number(&mut self, sql: &str) -> i64 {
            block(
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
                    .fetch_one(self.store.pool()),
            )
            .unwrap()
        }

        fn options(&self) -> StoreOptions {
            self.store.options()
        }

        fn write<T, E: From<StoreError>>(
            &mut self,
            work: impl FnOnce(&mut Self::Tx<'_>) -> Result<T, E>,
        ) -> Result<T, E> {
            let mut tx = block(self.store.begin()).map_err(E::from)?;
            match work(&mut tx) {
                Ok(value) => {
                    block(Store::commit(tx)).map_err(E::from)?;
                    Ok(value)
                }
                Err(error) => {
                    // Rolled back as it is dropped, which sqlx does on the runtime.
                    block(async move { drop(tx) });
                    Err(error)
                }
            }
        }

        fn enqueue<P: Serialize + Sync>(
            tx: &mut Self::Tx<'_>,
            envelope: &Envelope<Pending, P>,
            now: DateTime<Utc>,
        ) -> Result<(), StoreError> {
            block(Store::enqueue(tx, envelope, now))
        }

        fn record<P: Serialize + Send + Sync>(
            &mut self,
            outcome: impl Into<AnyEnvelope<P>> + Send,
        ) -> Result<(), StoreError> {
            block(self.store.record(outcome))
        }

        fn run_once<P, F>(
            &mut self,
            now: DateTime<Utc>,
            limit: usize,
            mut send: F,
        ) -> Result<RunReport, StoreError>
        where
            P: Serialize + DeserializeOwned + Send + Sync,
            F: FnMut(&Envelope<Dispatched, P>) -> Result<Delivery, SendError> + Send,
        {
            block(
                self.store
                    .run_once(now, limit, |envelope| std::future::ready(send(envelope))),
            )
        }

        fn admit<P, T, E, F>(
            &mut self,
            envelope: Envelope<Pending, P>,
            now: DateTime<Utc>,
            effect: F,
        ) -> Result<Admission<T, P>, StoreError>
        where
            P: Serialize + Send + Sync,
            T: Send + 'static,
            E: Display + Send + 'static,
            F: FnOnce(&mut Self::Tx<'_>, &Envelope<Dispatched, P>) -> Result<T, E> + Send,
        {
            block(self.store.admit(envelope, now, |tx, event| {
                let result = effect(tx, event);
                Box::pin(std::future::ready(result))
            }))
        }

        fn admit_batch<P, T, E, F>(
            &mut self,
            envelopes: Vec<Envelope<Pending, P>>,
            now: DateTime<Utc>,
            mut effect: F,
        ) -> Result<Vec<AdmissionResult<T, P>>, StoreError>
        where
            P: Serialize + Send + Sync,
            T: Send + 'static,
            E: Display + Send + 'static,
            F: FnMut(&mut Self::Tx<'_>, &Envelope<Dispatched, P>) -> Result<T, E> + Send,
        {
            block(self.store.admit_batch(envelopes, now, |tx, event| {
                let result = effect(tx, event);
                Box::pin(std::future::ready(result))
            }))
        }

        operations!(to_async);
    };
}

/// Runs the async stores' futures for the suites' blocking code: on one
/// multi-threaded runtime, or, for a future started while another is being
/// waited for on this thread (an inbox effect's SQL, say), right here.
mod runtime {
    use std::cell::Cell;
    use std::future::Future;
    use std::sync::{Arc, LazyLock};
    use std::task::{Context, Poll, Wake, Waker};

    static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    });

    thread_local! {
        static WAITING: Cell<bool> = const { Cell::new(false) };
    }

    /// The future's output, once it is ready.
    pub fn block<F: Future>(future: F) -> F::Output {
        if WAITING.get() {
            return poll_here(future);
        }
        WAITING.set(true);
        let output = RUNTIME.block_on(future);
        WAITING.set(false);
        output
    }

    struct Unpark(std::thread::Thread);

    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    /// Polls `future` on this thread, parking between wake-ups; the runtime
    /// (entered by the outer wait) drives its I/O.
    fn poll_here<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut context = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
                return output;
            }
            std::thread::park();
        }
    }
}

pub use runtime::block;

/// Schema version 7 undone on SQLite: dead letters without the time they
/// failed, and the indexes of settled rows and dead letters as they were.
pub const SQLITE_BACK_TO_VERSION_6: &[&str] = &[
    "DROP INDEX iap_outbox_dead_letters",
    "DROP INDEX iap_outbox_settled",
    "CREATE INDEX iap_outbox_settled ON iap_outbox (settled_at) WHERE settled_at IS NOT NULL",
    "UPDATE iap_outbox SET settled_at = NULL WHERE status = 'failed'",
];

/// Schema version 6 undone on SQLite: the delivery record under its old
/// name, the inbox's keys holding their payload alone, and the index of
/// stray rows as it was.
const SQLITE_BACK_TO_VERSION_5: &[&str] = &[
    "UPDATE iap_outbox
        SET envelope = json_set(json_remove(envelope, '$._delivery'),
                                '$.delivery', json(envelope -> '$._delivery'))",
    "UPDATE iap_inbox SET event = json(event -> '$.data')",
    "ALTER TABLE iap_inbox RENAME COLUMN event TO payload",
    "DROP INDEX iap_outbox_stray",
    "CREATE INDEX iap_outbox_stray ON iap_outbox (status) WHERE
        ((due_at IS NULL AND status NOT IN ('processed', 'acknowledged', 'failed', 'skipped', 'quarantined'))
          OR typeof(due_at) NOT IN ('integer', 'null'))",
];

/// Schema version 5 undone on SQLite: rows held back behind their key, and
/// the index of dead letters by key.
const SQLITE_BACK_TO_VERSION_4: &[&str] = &[
    "DROP INDEX iap_outbox_key_dead_letters",
    "DROP INDEX iap_outbox_held_back",
    "DROP INDEX iap_outbox_due",
    "ALTER TABLE iap_outbox DROP COLUMN held_back",
    "CREATE INDEX iap_outbox_due ON iap_outbox (due_at) WHERE due_at IS NOT NULL",
];

/// Schema version 4 undone on SQLite: ordering keys.
const SQLITE_BACK_TO_VERSION_3: &[&str] = &[
    "DROP INDEX iap_outbox_key_order",
    "ALTER TABLE iap_outbox DROP COLUMN ordering_key",
];

/// Schema version 3 undone on SQLite: the settling time.
const SQLITE_BACK_TO_VERSION_2: &[&str] = &[
    "DROP INDEX iap_outbox_settled",
    "ALTER TABLE iap_outbox DROP COLUMN settled_at",
];

/// Schema version 7 undone on PostgreSQL: dead letters without the time
/// they failed, and the indexes of settled rows and dead letters as they
/// were.
pub const POSTGRES_BACK_TO_VERSION_6: &[&str] = &[
    "DROP INDEX iap_outbox_dead_letters",
    "CREATE INDEX iap_outbox_dead_letters ON iap_outbox (seq) WHERE status = 'failed'",
    "DROP INDEX iap_outbox_settled",
    "CREATE INDEX iap_outbox_settled ON iap_outbox (settled_at) WHERE settled_at IS NOT NULL",
    "UPDATE iap_outbox SET settled_at = NULL WHERE status = 'failed'",
];

/// Schema version 6 undone on PostgreSQL: the delivery record under its old
/// name, the inbox's keys holding their payload alone, the index of stray
/// rows as it was, and no clock function.
const POSTGRES_BACK_TO_VERSION_5: &[&str] = &[
    "UPDATE iap_outbox
        SET envelope = (envelope - '_delivery') || jsonb_build_object('delivery', envelope -> '_delivery')",
    "UPDATE iap_inbox SET event = (event::jsonb -> 'data')::text",
    "ALTER TABLE iap_inbox RENAME COLUMN event TO payload",
    "DROP FUNCTION iap_clock()",
    "DROP INDEX iap_outbox_stray",
    "CREATE INDEX iap_outbox_stray ON iap_outbox (seq) WHERE due_at IS NULL
        AND status NOT IN ('processed', 'acknowledged', 'failed', 'skipped', 'quarantined')",
];

/// Schema version 5 undone on PostgreSQL: rows held back behind their key,
/// and the index of dead letters by key.
const POSTGRES_BACK_TO_VERSION_4: &[&str] = &[
    "DROP INDEX iap_outbox_key_dead_letters",
    "DROP INDEX iap_outbox_held_back",
    "DROP INDEX iap_outbox_due",
    "ALTER TABLE iap_outbox DROP COLUMN held_back",
    "CREATE INDEX iap_outbox_due ON iap_outbox (due_at) WHERE due_at IS NOT NULL",
];

/// Schema version 4 undone on PostgreSQL: a claim recorded only in its row
/// written into its envelope (as version 3 kept every claim), times back to
/// microseconds, envelopes back to text, and no ordering keys.
const POSTGRES_BACK_TO_VERSION_3: &[&str] = &[
    "UPDATE iap_outbox SET envelope = jsonb_set(jsonb_set(jsonb_set(envelope,
        '{delivery,status}', '\"dispatched\"'),
        '{delivery,attempts}', to_jsonb(attempts)),
        '{delivery,history}', (envelope #> '{delivery,history}') || jsonb_build_object(
            'from', envelope #> '{delivery,status}', 'to', 'dispatched', 'attempt', attempts,
            'at', to_char(claimed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')))
     WHERE claimed_at IS NOT NULL",
    "DROP INDEX iap_outbox_key_order",
    "ALTER TABLE iap_outbox DROP COLUMN claimed_at, DROP COLUMN ordering_key,
        ALTER COLUMN due_at TYPE BIGINT USING iap_micros(due_at),
        ALTER COLUMN renewed_at TYPE BIGINT USING iap_micros(renewed_at),
        ALTER COLUMN settled_at TYPE BIGINT USING iap_micros(settled_at),
        ALTER COLUMN envelope TYPE TEXT USING envelope::text",
    "ALTER TABLE iap_inbox ALTER COLUMN received_at TYPE BIGINT USING iap_micros(received_at)",
    "DROP FUNCTION iap_time(BIGINT)",
    "DROP FUNCTION iap_micros(TIMESTAMPTZ)",
];

/// Schema version 3 undone on PostgreSQL: the settling time, the narrow
/// status indexes, the fill factor and the notifications of enqueues.
const POSTGRES_BACK_TO_VERSION_2: &[&str] = &[
    "DROP TRIGGER iap_outbox_enqueued ON iap_outbox",
    "DROP FUNCTION iap_outbox_notify()",
    "DROP INDEX iap_outbox_settled",
    "ALTER TABLE iap_outbox DROP COLUMN settled_at",
    "DROP INDEX iap_outbox_dead_letters",
    "DROP INDEX iap_outbox_quarantined",
    "CREATE INDEX iap_outbox_status ON iap_outbox (status)",
    "ALTER TABLE iap_outbox RESET (fillfactor)",
];

/// An async store, driven by the suites' blocking code.
pub struct OnRuntime<A> {
    pub store: A,
}

pub mod sqlite {
    use std::sync::mpsc;
    use std::time::Duration;

    use iap_store::sqlite::SqliteStore;
    use iap_store::{DeliveryStore, StoreError, StoreOptions};

    use super::*;
    use crate::temp_db::TempDb;

    impl Backend for SqliteStore {
        type Place = TempDb;
        type Tx<'t> = rusqlite::Transaction<'t>;

        const SCHEMA_VERSION: i64 = 7;
        const DOWNGRADES: &'static [&'static [&'static str]] = &[
            SQLITE_BACK_TO_VERSION_6,
            SQLITE_BACK_TO_VERSION_5,
            SQLITE_BACK_TO_VERSION_4,
            SQLITE_BACK_TO_VERSION_3,
            SQLITE_BACK_TO_VERSION_2,
        ];

        fn place(name: &str) -> Option<TempDb> {
            Some(TempDb::new(name))
        }

        fn open_with(place: &TempDb, options: StoreOptions) -> Self {
            SqliteStore::open_with(place.path(), options).unwrap()
        }

        fn exec(tx: &mut rusqlite::Transaction<'_>, sql: &str) -> Result<u64, StoreError> {
            Ok(tx.execute(sql, [])? as u64)
        }

        fn number(&mut self, sql: &str) -> i64 {
            DeliveryStore::write(self, |tx| {
                Ok::<_, StoreError>(tx.query_row(sql, [], |row| row.get(0))?)
            })
            .unwrap()
        }

        blocking_operations!();
    }

    /// The edits in SQLite's SQL, most of which only its loose column types
    /// let through.
    pub const SQLITE_TYPE_TAMPERS: &[(&str, &str, &str)] = &[
        (
            "JSON that does not parse",
            r#"envelope = '{"specversion": "1.0", truncated'"#,
            "line 1",
        ),
        (
            "a due time that is no time",
            "due_at = -9223372036854775000",
            "due",
        ),
        (
            "a history that does not replay",
            // A first step from `failed`, before the real ones (if any).
            r#"envelope = replace(replace(envelope,
                '"history":[{', '"history":[{"from":"failed","to":"processed","at":"2026-03-01T09:00:00Z","attempt":0},{'),
                '"history":[]', '"history":[{"from":"failed","to":"processed","at":"2026-03-01T09:00:00Z","attempt":0}]')"#,
            "history",
        ),
        (
            "an envelope stored as a BLOB",
            "envelope = CAST(envelope AS BLOB)",
            "the envelope column holds a BLOB of",
        ),
        (
            "an envelope that is not UTF-8",
            "envelope = CAST(X'7B22FF22' AS TEXT)",
            "text that is not valid UTF-8",
        ),
        (
            "a status stored as a BLOB",
            "status = CAST(status AS BLOB)",
            "the status column holds a BLOB of",
        ),
        (
            "an attempt count that is text",
            "attempts = 'two'",
            "the attempt count holds the text \"two\"",
        ),
        (
            "a due time that is text",
            "due_at = 'tomorrow'",
            "the due time holds the text \"tomorrow\"",
        ),
        (
            "a due time past the last time there is",
            "due_at = 8210266876800000000",
            "due",
        ),
        // The orders carry no ordering key: nothing would release them.
        ("a row held back with no key", "held_back = 1", "held back"),
        (
            "a held-back mark that is no mark",
            "held_back = 2",
            "held back",
        ),
    ];

    /// Another connection holds the file's write lock for 250 ms.
    pub fn hold_write_lock(place: &TempDb) -> Fault {
        let (locked, is_locked) = mpsc::channel();
        let path = place.path().to_owned();
        let holder = std::thread::spawn(move || {
            let connection = rusqlite::Connection::open(path).unwrap();
            connection.execute_batch("BEGIN IMMEDIATE").unwrap();
            locked.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(250));
            connection.execute_batch("COMMIT").unwrap();
        });
        is_locked.recv().unwrap();
        Fault(Some(Box::new(move || holder.join().unwrap())))
    }

    impl FaultBackend for SqliteStore {
        const TYPE_TAMPERS: &'static [(&'static str, &'static str, &'static str)] =
            SQLITE_TYPE_TAMPERS;

        fn replace_in_envelope(from: &str, to: &str) -> String {
            format!("envelope = replace(envelope, '{from}', '{to}')")
        }

        fn interrupt(place: &TempDb) -> Fault {
            hold_write_lock(place)
        }
    }
}

mod async_sqlite {
    use iap_store::AsyncDeliveryStore;
    use iap_store::sqlite::AsyncSqliteStore;
    use sqlx::{Sqlite, Transaction};

    use super::*;
    use crate::temp_db::TempDb;

    type Store = AsyncSqliteStore;

    impl Backend for OnRuntime<AsyncSqliteStore> {
        type Place = TempDb;
        type Tx<'t> = Transaction<'static, Sqlite>;

        const SCHEMA_VERSION: i64 = 7;
        const DOWNGRADES: &'static [&'static [&'static str]] = &[
            SQLITE_BACK_TO_VERSION_6,
            SQLITE_BACK_TO_VERSION_5,
            SQLITE_BACK_TO_VERSION_4,
            SQLITE_BACK_TO_VERSION_3,
            SQLITE_BACK_TO_VERSION_2,
        ];

        fn place(name: &str) -> Option<TempDb> {
            Some(TempDb::new(name))
        }

        fn open_with(place: &TempDb, options: StoreOptions) -> Self {
            OnRuntime {
                store: block(AsyncSqliteStore::open(place.path(), options)).unwrap(),
            }
        }

        async_operations!();
    }

    impl FaultBackend for OnRuntime<AsyncSqliteStore> {
        const TYPE_TAMPERS: &'static [(&'static str, &'static str, &'static str)] =
            super::sqlite::SQLITE_TYPE_TAMPERS;

        fn replace_in_envelope(from: &str, to: &str) -> String {
            <iap_store::sqlite::SqliteStore as FaultBackend>::replace_in_envelope(from, to)
        }

        fn interrupt(place: &TempDb) -> Fault {
            super::sqlite::hold_write_lock(place)
        }
    }
}

pub mod postgres {
    use iap_store::postgres::PostgresStore;
    use iap_store::{DeliveryStore, StoreError, StoreOptions};

    use super::*;

    /// A test's own schema on the server named by `IAP_POSTGRES_URL`; its
    /// name is also the connections' `application_name`.
    pub struct Schema {
        pub url: String,
        pub name: String,
    }

    impl Schema {
        /// A fresh schema for the test `name` of the backend `tag`.
        pub fn new(name: &str, tag: &str) -> Option<Schema> {
            let Ok(url) = std::env::var("IAP_POSTGRES_URL") else {
                if std::env::var("CI").is_ok_and(|ci| ci == "true") {
                    panic!("IAP_POSTGRES_URL is not set: the PostgreSQL tests cannot run under CI");
                }
                eprintln!(
                    "skipping the PostgreSQL run of `{name}`: set IAP_POSTGRES_URL to run it"
                );
                return None;
            };
            let schema = format!("iap_test_{tag}_{name}_{}", std::process::id());
            let mut admin =
                ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap_or_else(|error| {
                    panic!("cannot reach the PostgreSQL server at {url:?}: {error}")
                });
            admin
                .batch_execute(&format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"
                ))
                .unwrap();
            Some(Schema { url, name: schema })
        }

        /// sqlx's options for a connection to the schema, named by it.
        pub fn connect_options(&self) -> sqlx::postgres::PgConnectOptions {
            let mut connect = sqlx::postgres::PgConnectOptions::new()
                .application_name(&self.name)
                .options([("search_path", self.name.as_str())]);
            if let Some(host) = self.setting("host") {
                connect = connect.host(&host);
            }
            if let Some(port) = self.setting("port") {
                connect = connect.port(port.parse().unwrap());
            }
            if let Some(user) = self.setting("user") {
                connect = connect.username(&user);
            }
            if let Some(database) = self.setting("dbname") {
                connect = connect.database(&database);
            }
            connect
        }

        /// The server's setting `key` in `IAP_POSTGRES_URL` (`host=... port=...`).
        pub fn setting(&self, key: &str) -> Option<String> {
            self.url.split_whitespace().find_map(|pair| {
                pair.strip_prefix(key)
                    .and_then(|rest| rest.strip_prefix('='))
                    .map(str::to_owned)
            })
        }
    }

    impl Backend for PostgresStore {
        type Place = Schema;
        type Tx<'t> = ::postgres::Transaction<'t>;

        const SCHEMA_VERSION: i64 = 7;
        const DOWNGRADES: &'static [&'static [&'static str]] = &[
            POSTGRES_BACK_TO_VERSION_6,
            POSTGRES_BACK_TO_VERSION_5,
            POSTGRES_BACK_TO_VERSION_4,
            POSTGRES_BACK_TO_VERSION_3,
            POSTGRES_BACK_TO_VERSION_2,
        ];

        fn place(name: &str) -> Option<Schema> {
            Schema::new(name, "b")
        }

        fn open_with(place: &Schema, options: StoreOptions) -> Self {
            let connection = format!(
                "{} application_name={} options='-c search_path={}'",
                place.url, place.name, place.name
            );
            let mut store = PostgresStore::connect(&connection, options).unwrap();
            store.migrate().unwrap();
            store
        }

        fn exec(tx: &mut ::postgres::Transaction<'_>, sql: &str) -> Result<u64, StoreError> {
            Ok(tx.execute(sql, &[])?)
        }

        fn number(&mut self, sql: &str) -> i64 {
            DeliveryStore::write(self, |tx| {
                Ok::<_, StoreError>(tx.query_one(sql, &[])?.get(0))
            })
            .unwrap()
        }

        blocking_operations!();
    }

    /// Terminates every connection of the schema's stores (their
    /// `application_name`), as a server restart would cut them.
    pub fn terminate_connections(place: &Schema) -> Fault {
        let name = place.name.clone();
        let url = place.url.clone();
        // A thread of its own: the blocking client must not run on a runtime.
        std::thread::spawn(move || {
            let mut admin = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
            admin
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                    &[&name],
                )
                .unwrap();
        })
        .join()
        .unwrap();
        Fault(None)
    }

    /// The edits in PostgreSQL's SQL. The schema types every column, so no
    /// edit stores another type, and the envelope column holds only JSON.
    pub const POSTGRES_TYPE_TAMPERS: &[(&str, &str, &str)] = &[
        (
            "JSON that is not an event",
            r#"envelope = '{"specversion": "1.0", "truncated": true}'"#,
            "missing",
        ),
        ("a due time that is no time", "due_at = '-infinity'", "due"),
        ("a due time that never comes", "due_at = 'infinity'", "due"),
        // The orders carry no ordering key: nothing would release them.
        (
            "a row held back with no key",
            "held_back = true",
            "held back",
        ),
        (
            "a history that does not replay",
            // A first step from `failed`, before the real ones (if any).
            r#"envelope = jsonb_set(envelope, '{_delivery,history}',
                '[{"from":"failed","to":"processed","at":"2026-03-01T09:00:00Z","attempt":0}]'
                || (envelope #> '{_delivery,history}'))"#,
            "history",
        ),
    ];

    impl FaultBackend for PostgresStore {
        const TYPE_TAMPERS: &'static [(&'static str, &'static str, &'static str)] =
            POSTGRES_TYPE_TAMPERS;

        fn replace_in_envelope(from: &str, to: &str) -> String {
            format!("envelope = replace(envelope::text, '{from}', '{to}')::jsonb")
        }

        fn interrupt(place: &Schema) -> Fault {
            terminate_connections(place)
        }
    }
}

mod async_postgres {
    use iap_store::AsyncDeliveryStore;
    use iap_store::postgres::AsyncPostgresStore;
    use sqlx::{Postgres, Transaction};

    use super::postgres::Schema;
    use super::*;

    type Store = AsyncPostgresStore;

    impl Backend for OnRuntime<AsyncPostgresStore> {
        type Place = Schema;
        type Tx<'t> = Transaction<'static, Postgres>;

        const SCHEMA_VERSION: i64 = 7;
        const DOWNGRADES: &'static [&'static [&'static str]] = &[
            POSTGRES_BACK_TO_VERSION_6,
            POSTGRES_BACK_TO_VERSION_5,
            POSTGRES_BACK_TO_VERSION_4,
            POSTGRES_BACK_TO_VERSION_3,
            POSTGRES_BACK_TO_VERSION_2,
        ];

        fn place(name: &str) -> Option<Schema> {
            Schema::new(name, "a")
        }

        fn open_with(place: &Schema, options: StoreOptions) -> Self {
            let connect = place.connect_options();
            let store = block(AsyncPostgresStore::connect_with(connect, options)).unwrap();
            block(store.migrate()).unwrap();
            OnRuntime { store }
        }

        async_operations!();
    }

    impl FaultBackend for OnRuntime<AsyncPostgresStore> {
        const TYPE_TAMPERS: &'static [(&'static str, &'static str, &'static str)] =
            super::postgres::POSTGRES_TYPE_TAMPERS;

        fn replace_in_envelope(from: &str, to: &str) -> String {
            <iap_store::postgres::PostgresStore as FaultBackend>::replace_in_envelope(from, to)
        }

        /// A pool replaces a cut connection before the next call meets it,
        /// so the fault here is a lock held past the store's busy timeout.
        fn interrupt(place: &Schema) -> Fault {
            let (locked, is_locked) = std::sync::mpsc::channel();
            let (url, schema) = (place.url.clone(), place.name.clone());
            let holder = std::thread::spawn(move || {
                let mut admin = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
                let mut tx = admin.transaction().unwrap();
                tx.batch_execute(&format!(
                    "LOCK TABLE {schema}.iap_outbox IN ACCESS EXCLUSIVE MODE"
                ))
                .unwrap();
                locked.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(250));
                tx.commit().unwrap();
            });
            is_locked.recv().unwrap();
            Fault(Some(Box::new(move || holder.join().unwrap())))
        }
    }
}
