//! Every crash point of every operation, on SQLite and on PostgreSQL.
//!
//! A [`Crashing`] driver wraps a store's own driver and counts the steps of
//! an operation as the engine takes them: each statement, each `begin` and
//! each commit; the test's inbox effects and relay sends are steps too.
//! [`CrashingStore`] is a `DeliveryStore` over it, so that the test drives
//! the stores' real operations (`run_once`, `admit`, `redrive`...). For
//! each scenario, a dry run counts its steps; then, for every step, the
//! scenario runs again on a fresh store and crashes there, in two ways:
//!
//! - **abort**: the process dies at the step. The step and everything after
//!   it never reach the database; what was not committed is rolled back.
//! - **fault**: the step alone fails, before it reaches the database (a
//!   statement the connection could not send): the operation fails, and the
//!   caller's own recovery runs (a relay pass gives back the claims it has
//!   not sent). Then, at each step of that recovery, the run crashes again
//!   (abort), so that the steps only a failure takes are crash points too.
//!
//! Then a plain store on the same database recovers, as a service would
//! after a restart: a relay runs until nothing is due (leases run out), the
//! inbox's senders deliver their events again, an operator repeats the
//! redrive that failed. And the rules hold: no envelope lost, no effect
//! applied twice, no attempt charged to an envelope that was never sent (an
//! aborted pass's claims that it never sent excepted: their lease runs out,
//! which counts, as the history says), each ordering key's envelopes first
//! sent in the order they were enqueued, and `verify()` clean.
//!
//! The test writes how many crash points it visited per operation past the
//! test harness's capture, so that `scripts/test-all.sh` shows them. A new
//! step in an operation is a new crash point here without a change to the
//! test.

// A test fails by panicking; the crate's rule against it is for library code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use super::driver::{Decode, Dialect, Driver, Param, Statements, Transaction};
use super::run_ready;
use super::statement::Statement;
use crate::StoreOptions;
use crate::engine::blocking::{Blocking, delivery_store};
use crate::engine::inbox::Effect;
use crate::postgres::PostgresStore;
use crate::postgres::driver::{PgDriver, PgTx};
use crate::sqlite::{SqliteDriver, SqliteStore};
use crate::{DeadLetterFilter, Delivery, DeliveryStore, SendError, StoreError};
use integration_automation_patterns::envelope::state::{Dispatched, Pending};
use integration_automation_patterns::{AnyEnvelope, DeliveryStatus, Envelope};

/// How a run crashes at its crash point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The process dies: nothing after the point reaches the database.
    Abort,
    /// The step alone fails, before it reaches the database.
    Fault,
}

/// The steps of a run, counted; and where it crashes, if it does.
#[derive(Debug, Default)]
struct Steps {
    /// The steps taken, by name.
    taken: Vec<String>,
    /// Where the run crashes: a step and how, or two (a fault, then a crash
    /// in what the caller does about it).
    crash_at: Vec<(usize, Mode)>,
    /// Whether the process has died (every step fails from then on).
    dead: bool,
}

impl Steps {
    /// Takes a step called `name`: an error if the run crashes here, or
    /// crashed before and is dead.
    fn step(&mut self, name: &str) -> Result<(), StoreError> {
        if self.dead {
            return Err(crashed(name, "the process died before it"));
        }
        let index = self.taken.len();
        self.taken.push(name.to_owned());
        match self.crash_at.iter().find(|(at, _)| *at == index) {
            Some((_, mode)) => {
                self.dead = *mode == Mode::Abort;
                Err(crashed(name, "crash point"))
            }
            None => Ok(()),
        }
    }
}

fn crashed(step: &str, why: &str) -> StoreError {
    StoreError::Connect {
        reason: format!("{why}: {step}"),
    }
}

type SharedSteps = Rc<RefCell<Steps>>;

/// A driver (or transaction) that takes a step before each of its inner
/// driver's.
struct Crashing<D> {
    inner: D,
    steps: SharedSteps,
}

impl<D> Crashing<D> {
    /// A step of the test's own (an effect, a send).
    fn step(&self, name: &str) -> Result<(), StoreError> {
        self.steps.borrow_mut().step(name)
    }
}

impl<D: Statements> Statements for Crashing<D> {
    fn dialect(&self) -> Dialect {
        self.inner.dialect()
    }

    fn writes_rows_at_once(&self) -> bool {
        self.inner.writes_rows_at_once()
    }

    async fn execute(
        &mut self,
        statement: &'static Statement,
        params: &[Param<'_>],
    ) -> Result<u64, StoreError> {
        self.step(statement.name)?;
        self.inner.execute(statement, params).await
    }

    async fn query<T: Decode>(
        &mut self,
        statement: &'static Statement,
        params: &[Param<'_>],
    ) -> Result<Vec<T>, StoreError> {
        self.step(statement.name)?;
        self.inner.query(statement, params).await
    }

    async fn execute_script(&mut self, script: &'static Statement) -> Result<(), StoreError> {
        self.step(script.name)?;
        self.inner.execute_script(script).await
    }
}

impl<T: Transaction> Transaction for Crashing<T> {
    async fn commit(self) -> Result<(), StoreError> {
        self.step("commit")?;
        self.inner.commit().await
    }
}

impl<D: Driver> Driver for Crashing<D> {
    type Tx<'t>
        = Crashing<D::Tx<'t>>
    where
        Self: 't;

    async fn begin(&mut self) -> Result<Self::Tx<'_>, StoreError> {
        self.step("begin")?;
        Ok(Crashing {
            inner: self.inner.begin().await?,
            steps: Rc::clone(&self.steps),
        })
    }
}

impl<Tx, P, T, E, F> Effect<Crashing<Tx>, P, T, E> for Blocking<F>
where
    F: FnOnce(&mut Crashing<Tx>, &Envelope<Dispatched, P>) -> Result<T, E>,
{
    async fn apply<'a>(
        self,
        tx: &'a mut Crashing<Tx>,
        event: &'a Envelope<Dispatched, P>,
    ) -> Result<T, E> {
        (self.0)(tx, event)
    }
}

impl<Tx, P, T, E, F> Effect<Crashing<Tx>, P, T, E> for &mut Blocking<F>
where
    F: FnMut(&mut Crashing<Tx>, &Envelope<Dispatched, P>) -> Result<T, E>,
{
    async fn apply<'a>(
        self,
        tx: &'a mut Crashing<Tx>,
        event: &'a Envelope<Dispatched, P>,
    ) -> Result<T, E> {
        (self.0)(tx, event)
    }
}

/// A store the test runs against, as the engine drives it.
trait TestBackend: DeliveryStore + Sized {
    type Driver<'a>: Driver
    where
        Self: 'a;

    /// The store's driver.
    fn driver(&mut self) -> Result<Self::Driver<'_>, StoreError>;
}

impl TestBackend for SqliteStore {
    type Driver<'a> = SqliteDriver<'a>;

    fn driver(&mut self) -> Result<SqliteDriver<'_>, StoreError> {
        Ok(SqliteStore::driver(self))
    }
}

impl TestBackend for PostgresStore {
    type Driver<'a> = PgDriver<'a>;

    fn driver(&mut self) -> Result<PgDriver<'_>, StoreError> {
        PostgresStore::driver(self)
    }
}

/// A store whose every operation runs on a [`Crashing`] driver.
struct CrashingStore<S> {
    store: S,
    steps: SharedSteps,
}

impl<S: TestBackend> CrashingStore<S> {
    fn settings(&self) -> StoreOptions {
        self.store.options()
    }

    fn run<T, E: From<StoreError>>(
        &mut self,
        operation: impl AsyncFnOnce(&mut Crashing<S::Driver<'_>>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut driver = Crashing {
            inner: self.store.driver().map_err(E::from)?,
            steps: Rc::clone(&self.steps),
        };
        run_ready(operation(&mut driver))
    }
}

/// `DeliveryStore::write` on a crashing store: its begin and commit are
/// steps, and so is every statement run in the transaction.
macro_rules! crashing_transaction {
    ($store:ty, $tx:ty) => {
        impl CrashingStore<$store> {
            fn transaction<T, E: From<StoreError>>(
                &mut self,
                work: impl FnOnce(&mut Crashing<$tx>) -> Result<T, E>,
            ) -> Result<T, E> {
                self.run(async move |driver| {
                    let mut tx = driver.begin().await.map_err(E::from)?;
                    let value = work(&mut tx)?;
                    tx.commit().await.map_err(E::from)?;
                    Ok(value)
                })
            }
        }
    };
}

crashing_transaction!(SqliteStore, rusqlite::Transaction<'_>);
crashing_transaction!(PostgresStore, PgTx<'_>);

delivery_store!(
    impl[] for CrashingStore<SqliteStore>,
    Tx<'t> = Crashing<rusqlite::Transaction<'t>>
);

delivery_store!(
    impl[] for CrashingStore<PostgresStore>,
    Tx<'t> = Crashing<PgTx<'t>>
);

/// The test's own statements, on the tables its effects and business writes
/// go to.
mod test_sql {
    use super::Statement;

    /// The business table beside an enqueue, and the table inbox effects write.
    pub(super) static CREATE_TABLES: [Statement; 2] = [
        Statement {
            name: "test: orders table",
            sqlite: Some("CREATE TABLE IF NOT EXISTS test_orders (id TEXT NOT NULL)"),
            postgres: Some("CREATE TABLE IF NOT EXISTS test_orders (id TEXT NOT NULL)"),
        },
        Statement {
            name: "test: effects table",
            sqlite: Some("CREATE TABLE IF NOT EXISTS test_effects (event_id TEXT NOT NULL)"),
            postgres: Some("CREATE TABLE IF NOT EXISTS test_effects (event_id TEXT NOT NULL)"),
        },
    ];

    /// Every table emptied, for the next run on PostgreSQL.
    pub(super) static EMPTY_TABLES: [Statement; 4] = [
        empty("iap_outbox"),
        empty("iap_inbox"),
        empty("test_orders"),
        empty("test_effects"),
    ];

    const fn empty(table: &'static str) -> Statement {
        let text = match table.as_bytes() {
            b"iap_outbox" => "DELETE FROM iap_outbox",
            b"iap_inbox" => "DELETE FROM iap_inbox",
            b"test_orders" => "DELETE FROM test_orders",
            _ => "DELETE FROM test_effects",
        };
        Statement {
            name: "test: empty a table",
            sqlite: Some(text),
            postgres: Some(text),
        }
    }

    /// An order, the business write an enqueue commits with.
    pub(super) static INSERT_ORDER: Statement = Statement {
        name: "test: the business write",
        sqlite: Some("INSERT INTO test_orders (id) VALUES (?1)"),
        postgres: Some("INSERT INTO test_orders (id) VALUES ($1)"),
    };

    /// A row no claim would reach (a pending row with no due time), as a
    /// hand edit leaves it.
    pub(super) static MAKE_STRAY: Statement = Statement {
        name: "test: a row made stray",
        sqlite: Some("UPDATE iap_outbox SET due_at = NULL WHERE event_id = ?1"),
        postgres: Some("UPDATE iap_outbox SET due_at = NULL WHERE event_id = $1"),
    };

    /// An inbox effect's write.
    pub(super) static INSERT_EFFECT: Statement = Statement {
        name: "test: the effect's write",
        sqlite: Some("INSERT INTO test_effects (event_id) VALUES (?1)"),
        postgres: Some("INSERT INTO test_effects (event_id) VALUES ($1)"),
    };

    /// How many orders have an id.
    pub(super) static COUNT_ORDERS: Statement = Statement {
        name: "test: orders of an id",
        sqlite: Some("SELECT COUNT(*) AS count FROM test_orders WHERE id = ?1"),
        postgres: Some("SELECT COUNT(*) AS count FROM test_orders WHERE id = $1"),
    };

    /// How many effects an event had.
    pub(super) static COUNT_EFFECTS: Statement = Statement {
        name: "test: effects of an event",
        sqlite: Some("SELECT COUNT(*) AS count FROM test_effects WHERE event_id = ?1"),
        postgres: Some("SELECT COUNT(*) AS count FROM test_effects WHERE event_id = $1"),
    };
}

use super::catalogue::Count;
use test_sql::{
    COUNT_EFFECTS, COUNT_ORDERS, CREATE_TABLES, EMPTY_TABLES, INSERT_EFFECT, INSERT_ORDER,
    MAKE_STRAY,
};

/// Where the runs of a scenario keep their store: an SQLite file, removed
/// before each run; or a PostgreSQL schema, emptied before each run.
enum Place {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Place {
    /// A fresh, empty store at this place, with the test's tables.
    fn fresh<S: Opened>(&self) -> S {
        if let Place::Sqlite(path) = self {
            remove_sqlite_files(path);
        }
        let mut store = S::open(self);
        let mut driver = store.driver().expect("the store's driver");
        for statement in &CREATE_TABLES {
            run_ready(driver.execute(statement, &[])).expect("the test's tables");
        }
        if let Place::Postgres(_) = self {
            for statement in &EMPTY_TABLES {
                run_ready(driver.execute(statement, &[])).expect("an emptied table");
            }
        }
        drop(driver);
        store
    }
}

impl Place {
    /// Takes the store at this place back to schema version 6, as the
    /// crate shipped it, from another connection.
    fn downgrade(&self) {
        use iap_test_support::backends::{POSTGRES_BACK_TO_VERSION_6, SQLITE_BACK_TO_VERSION_6};
        let version = "UPDATE iap_meta SET value = 6 WHERE name = 'schema_version'";
        match self {
            Place::Sqlite(path) => {
                let connection = rusqlite::Connection::open(path).expect("a connection");
                for statement in SQLITE_BACK_TO_VERSION_6.iter().chain([&version]) {
                    connection.execute_batch(statement).expect("a downgrade");
                }
            }
            Place::Postgres(url) => {
                let mut client =
                    ::postgres::Client::connect(url, ::postgres::NoTls).expect("a client");
                for statement in POSTGRES_BACK_TO_VERSION_6.iter().chain([&version]) {
                    client.batch_execute(statement).expect("a downgrade");
                }
            }
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Place::Sqlite(path) = self {
            remove_sqlite_files(path);
        }
    }
}

fn remove_sqlite_files(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}

/// A store the test opens at a [`Place`].
trait Opened: TestBackend {
    /// The store, its schema migrated.
    fn open(place: &Place) -> Self;
}

/// The stores' settings in the test: no sync at each commit (a crash of the
/// process loses nothing either way), the default lease.
fn options() -> StoreOptions {
    StoreOptions::default().durability(crate::Durability::Normal)
}

impl Opened for SqliteStore {
    fn open(place: &Place) -> Self {
        match place {
            Place::Sqlite(path) => {
                SqliteStore::open_with(path, options()).expect("an SQLite store")
            }
            Place::Postgres(_) => unreachable!("an SQLite store at a PostgreSQL place"),
        }
    }
}

impl Opened for PostgresStore {
    fn open(place: &Place) -> Self {
        match place {
            Place::Postgres(connection) => {
                let mut store =
                    PostgresStore::connect(connection, options()).expect("a PostgreSQL store");
                store.migrate().expect("the store's schema");
                store
            }
            Place::Sqlite(_) => unreachable!("a PostgreSQL store at an SQLite place"),
        }
    }
}

const SOURCE: &str = "shop";

/// The events of every scenario: three of ordering key `k1`, one of `k2`,
/// two without a key.
fn events() -> Vec<Envelope<Pending, Value>> {
    let keys = [Some("k1"), Some("k1"), Some("k1"), Some("k2"), None, None];
    keys.iter()
        .enumerate()
        .map(|(index, key)| event(&format!("e{index}"), *key))
        .collect()
}

/// An event with this id, of ordering key `key`, if any.
fn event(id: &str, key: Option<&str>) -> Envelope<Pending, Value> {
    let builder = Envelope::builder()
        .event_id(id)
        .event_type("commerce.order.placed")
        .source_system(SOURCE)
        .payload(json!({ "order": id }))
        .created_at(start());
    let builder = match key {
        Some(key) => builder.ordering_key(key),
        None => builder,
    };
    builder.build().expect("a test event")
}

/// The time each scenario starts at.
fn start() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(20_454)
}

/// What the receivers saw: each send attempt, in order.
#[derive(Debug, Default)]
struct Log {
    sends: Vec<String>,
}

/// A relay's send that logs the attempt, takes a step (a crash during the
/// send), and succeeds, or, for `fail`, fails for good.
fn sender<'a>(
    steps: &'a SharedSteps,
    log: &'a RefCell<Log>,
    fail: bool,
) -> impl FnMut(&Envelope<Dispatched, Value>) -> Result<Delivery, SendError> + 'a {
    move |envelope| {
        let mut steps = steps.borrow_mut();
        if steps.dead {
            return Err(SendError::Transient {
                reason: "the process died".into(),
                retry_after: None,
            });
        }
        log.borrow_mut().sends.push(envelope.event_id().to_owned());
        steps.step("send").map_err(|error| SendError::Transient {
            reason: error.to_string(),
            retry_after: None,
        })?;
        if fail {
            return Err(SendError::Permanent {
                reason: "refused".into(),
            });
        }
        Ok(Delivery::Processed)
    }
}

/// The operations the test crashes, each a scenario: what is in the store
/// before, the operation (on the crashing store), and what a service does
/// after a restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operation {
    Enqueue,
    RunOnce,
    RunOnceBatched,
    ExtendLease,
    Admit,
    AdmitBatch,
    Redrive,
    RedriveMatching,
    RedriveAll,
    SkipDeadLetter,
    PurgeDelivered,
    PurgeInbox,
    ReleaseQuarantined,
    DeleteQuarantined,
    Migrate,
}

const OPERATIONS: [Operation; 15] = [
    Operation::Enqueue,
    Operation::RunOnce,
    Operation::RunOnceBatched,
    Operation::ExtendLease,
    Operation::Admit,
    Operation::AdmitBatch,
    Operation::Redrive,
    Operation::RedriveMatching,
    Operation::RedriveAll,
    Operation::SkipDeadLetter,
    Operation::PurgeDelivered,
    Operation::PurgeInbox,
    Operation::ReleaseQuarantined,
    Operation::DeleteQuarantined,
    Operation::Migrate,
];

impl Operation {
    /// Whether the scenario's events are dead letters before the operation.
    fn starts_from_dead_letters(self) -> bool {
        matches!(
            self,
            Operation::Redrive
                | Operation::RedriveMatching
                | Operation::RedriveAll
                | Operation::SkipDeadLetter
        )
    }

    /// Whether the scenario's events come through the inbox.
    fn is_inbox(self) -> bool {
        matches!(
            self,
            Operation::Admit | Operation::AdmitBatch | Operation::PurgeInbox
        )
    }
}

/// An inbox effect: a step, then the effect's write, in the admitting
/// transaction.
fn effect<Tx: Statements>(
    tx: &mut Crashing<Tx>,
    event: &Envelope<Dispatched, Value>,
) -> Result<(), StoreError> {
    tx.step("effect")?;
    run_ready(tx.execute(&INSERT_EFFECT, &[Param::text(event.event_id())]))?;
    Ok(())
}

/// An inbox effect on a plain store's transaction (whose own methods may
/// bear the same names).
fn plain_effect<Tx: Statements>(
    tx: &mut Tx,
    event: &Envelope<Dispatched, Value>,
) -> Result<(), StoreError> {
    let event_id = [Param::text(event.event_id())];
    run_ready(Statements::execute(tx, &INSERT_EFFECT, &event_id))?;
    Ok(())
}

/// The history lines a lease that ran out writes.
fn lease_expired(envelope: &AnyEnvelope<Value>) -> usize {
    envelope
        .history()
        .iter()
        .filter(|line| {
            line.reason()
                .is_some_and(|reason| reason.starts_with("lease expired"))
        })
        .count()
}

/// How many times an envelope was dispatched: its attempts, as its history
/// tells them.
fn dispatches(envelope: &AnyEnvelope<Value>) -> usize {
    envelope
        .history()
        .iter()
        .filter(|line| line.to() == DeliveryStatus::Dispatched)
        .count()
}

/// Runs one scenario on a fresh store at a place, crashing as told; then
/// recovers and checks the rules. Returns the names of the steps the
/// operation took.
macro_rules! scenario_runner {
    ($run:ident, $store:ty) => {
        fn $run(place: &Place, operation: Operation, crash: &[(usize, Mode)]) -> Vec<String> {
            let context = |steps: &[String]| {
                let points: Vec<String> = crash
                    .iter()
                    .map(|(at, mode)| {
                        format!(
                            "{mode:?} at step {at} ({})",
                            steps.get(*at).map_or("?", String::as_str)
                        )
                    })
                    .collect();
                format!("{operation:?}, crashes: [{}]", points.join(", "))
            };
            let aborts = crash.iter().any(|(_, mode)| *mode == Mode::Abort);
            let log = RefCell::new(Log::default());
            let never: SharedSteps = Rc::default();
            let events = events();
            let dead_letters = ["e0", "e3", "e4", "e5"];
            let fresh = event("fresh", None);
            let lease = TimeDelta::from_std(options().lease).expect("a lease");
            let mut now = start();

            // What the store holds before the operation.
            let mut store: $store = place.fresh();
            // The event whose claim a dead worker of the set-up left.
            let mut abandoned_id = None;
            match operation {
                Operation::RunOnce | Operation::RunOnceBatched | Operation::ExtendLease => {
                    // e4 first, so that it is the oldest and the claim below takes it.
                    enqueue_all(&mut store, &events[4..5], now - TimeDelta::seconds(1));
                    enqueue_all(&mut store, &events[..4], now);
                    enqueue_all(&mut store, &events[5..], now);
                    // A worker claimed an event and died: its lease runs out
                    // before the operation, which takes the claim over (on
                    // PostgreSQL, in the claim's second transaction).
                    let abandoned = store.claim_due::<Value>(now, 1).expect("a claim");
                    assert_eq!(
                        abandoned.claims.len(),
                        1,
                        "{operation:?}: the set-up's claim"
                    );
                    abandoned_id = Some(abandoned.claims[0].envelope.event_id().to_owned());
                    // A row edited by hand, which the claim quarantines.
                    let stray = event("stray", None);
                    enqueue_all(&mut store, std::slice::from_ref(&stray), now);
                    let mut driver = TestBackend::driver(&mut store).expect("the store's driver");
                    run_ready(driver.execute(&MAKE_STRAY, &[Param::text("stray")]))
                        .expect("a stray row");
                }
                Operation::Redrive
                | Operation::RedriveMatching
                | Operation::RedriveAll
                | Operation::SkipDeadLetter => {
                    enqueue_all(&mut store, &events, now);
                    // e0 fails for good and holds k1's e1 and e2 back.
                    store
                        .run_once(now, 10, sender(&never, &log, true))
                        .expect("the sends that fail");
                }
                Operation::PurgeDelivered => {
                    enqueue_all(&mut store, &events[4..], now);
                    store
                        .run_once(now, 10, sender(&never, &log, false))
                        .expect("the first deliveries");
                    enqueue_all(&mut store, &events[..4], now);
                }
                Operation::PurgeInbox => {
                    for event in &events {
                        let _first = store
                            .admit(event.clone(), now, |tx, event| plain_effect(tx, event))
                            .expect("a first admission");
                    }
                    // A key still within the retention window at the purge.
                    let _fresh = store
                        .admit(fresh.clone(), now + TimeDelta::days(7), |tx, event| {
                            plain_effect(tx, event)
                        })
                        .expect("an admission");
                }
                Operation::ReleaseQuarantined | Operation::DeleteQuarantined => {
                    enqueue_all(&mut store, &events, now);
                    // e5, edited by hand, is quarantined by the first relay pass.
                    let mut driver = TestBackend::driver(&mut store).expect("the store's driver");
                    run_ready(driver.execute(&MAKE_STRAY, &[Param::text("e5")]))
                        .expect("a stray row");
                    let pass = store
                        .run_once(now, 10, sender(&never, &log, false))
                        .expect("a relay pass");
                    assert_eq!(
                        pass.quarantined, 1,
                        "{operation:?}: the set-up's quarantine"
                    );
                }
                Operation::Migrate => {
                    enqueue_all(&mut store, &events, now);
                    // Another connection takes the store back a version
                    // under the open one, whose migration the operation is.
                    place.downgrade();
                }
                Operation::Enqueue | Operation::Admit | Operation::AdmitBatch => {}
            }

            // The operation, on a store that crashes at the crash point.
            now += TimeDelta::minutes(1);
            let steps: SharedSteps = Rc::new(RefCell::new(Steps {
                crash_at: crash.to_vec(),
                ..Steps::default()
            }));
            let mut crashing = CrashingStore {
                store,
                steps: Rc::clone(&steps),
            };
            let later = now + TimeDelta::days(8);
            match operation {
                Operation::Enqueue => {
                    for event in &events {
                        let enqueued = crashing.write(|tx| {
                            run_ready(tx.execute(&INSERT_ORDER, &[Param::text(event.event_id())]))?;
                            <CrashingStore<$store> as DeliveryStore>::enqueue(tx, event, now)
                        });
                        if enqueued.is_err() {
                            break;
                        }
                    }
                }
                Operation::RunOnce => {
                    let _ = crashing.run_once(now, 10, sender(&steps, &log, false));
                }
                Operation::RunOnceBatched => {
                    let _ = crashing.run_once_batched(now, 10, sender(&steps, &log, false));
                }
                Operation::ExtendLease => {
                    if let Ok(claimed) = crashing.claim_due::<Value>(now, 10) {
                        let mut claims = claimed.claims;
                        let mut send = sender(&steps, &log, false);
                        for index in 0..claims.len() {
                            let renewed = now + TimeDelta::seconds(5);
                            if crashing.extend_lease(&mut claims[index], renewed).is_err() {
                                let _ = crashing.release_unsent(&claims[index..]);
                                break;
                            }
                            let envelope = claims[index].envelope.clone();
                            let result = send(&envelope);
                            let outcome = crate::Outcome::of_send(envelope, result, renewed);
                            if crashing
                                .record_not_before(outcome.envelope, outcome.retry_after)
                                .is_err()
                            {
                                let _ = crashing.release_unsent(&claims[index + 1..]);
                                break;
                            }
                        }
                    }
                }
                Operation::Admit => {
                    for event in &events {
                        let admitted =
                            crashing.admit(event.clone(), now, |tx, event| effect(tx, event));
                        if admitted.is_err() || steps.borrow().dead {
                            break;
                        }
                    }
                }
                Operation::AdmitBatch => {
                    let _ =
                        crashing.admit_batch(events.clone(), now, |tx, event| effect(tx, event));
                }
                Operation::Redrive | Operation::SkipDeadLetter => {
                    for id in dead_letters {
                        let rewritten = if operation == Operation::Redrive {
                            crashing
                                .redrive::<Value>(SOURCE, id, "retry", now)
                                .map(drop)
                        } else {
                            crashing
                                .skip_dead_letter::<Value>(SOURCE, id, "give up", now)
                                .map(drop)
                        };
                        if rewritten.is_err() {
                            break;
                        }
                    }
                }
                Operation::RedriveMatching => {
                    let _ = crashing.redrive_matching::<Value>(
                        &DeadLetterFilter::all(),
                        10,
                        "retry",
                        now,
                    );
                }
                Operation::RedriveAll => {
                    let _ = crashing.redrive_all::<Value>("retry", now);
                }
                Operation::PurgeDelivered => {
                    let _ = crashing.purge_delivered(later);
                }
                Operation::PurgeInbox => {
                    let _ = crashing.purge_inbox(later);
                }
                Operation::ReleaseQuarantined => {
                    let _ = crashing.release_quarantined::<Value>(SOURCE, "e5", now);
                }
                Operation::DeleteQuarantined => {
                    let _ = crashing.delete_quarantined(SOURCE, "e5");
                }
                Operation::Migrate => {
                    let _ = crashing.run(async |driver| super::schema::migrate(driver).await);
                }
            }
            drop(crashing);
            let taken = steps.borrow().taken.clone();
            let context = context(&taken);

            // A restart: a plain store on the same database.
            let mut store = <$store as Opened>::open(place);
            if operation == Operation::Enqueue {
                // The business write and its event committed together, or neither.
                for event in &events {
                    let orders = count(&mut store, &COUNT_ORDERS, event.event_id());
                    let enqueued = store.load_any::<Value>(SOURCE, event.event_id()).is_ok();
                    assert!(orders <= 1, "{context}: {} ordered twice", event.event_id());
                    assert_eq!(
                        orders == 1,
                        enqueued,
                        "{context}: {} half written",
                        event.event_id()
                    );
                    if !enqueued {
                        // The caller sees the error, and sends the request again.
                        store
                            .write(|tx| {
                                let order = [Param::text(event.event_id())];
                                run_ready(Statements::execute(tx, &INSERT_ORDER, &order))?;
                                <$store as DeliveryStore>::enqueue(tx, event, now)
                            })
                            .expect("the request sent again");
                    }
                }
            }
            if operation.is_inbox() && operation != Operation::PurgeInbox {
                // The senders deliver again what was not acknowledged.
                for event in &events {
                    let _again = store
                        .admit(event.clone(), now, |tx, event| plain_effect(tx, event))
                        .expect("a redelivery");
                }
            }
            if operation.starts_from_dead_letters() {
                // The operator repeats what failed.
                for id in dead_letters {
                    let failed = store
                        .load_any::<Value>(SOURCE, id)
                        .is_ok_and(|envelope| envelope.status() == DeliveryStatus::Failed);
                    if failed && operation == Operation::SkipDeadLetter {
                        let _skipped = store
                            .skip_dead_letter::<Value>(SOURCE, id, "give up", now)
                            .expect("a skip");
                    } else if failed {
                        let _redriven = store
                            .redrive::<Value>(SOURCE, id, "retry", now)
                            .expect("a redrive");
                    }
                }
            }
            if operation == Operation::PurgeDelivered {
                store.purge_delivered(later).expect("a purge");
            }
            let still_quarantined = |store: &mut $store| {
                store
                    .quarantined(10)
                    .expect("the quarantined rows")
                    .iter()
                    .any(|row| row.event_id == "e5")
            };
            if operation == Operation::ReleaseQuarantined && still_quarantined(&mut store) {
                let _released = store
                    .release_quarantined::<Value>(SOURCE, "e5", now)
                    .expect("a release");
            }
            if operation == Operation::DeleteQuarantined && still_quarantined(&mut store) {
                store.delete_quarantined(SOURCE, "e5").expect("a deletion");
            }
            if operation == Operation::PurgeInbox {
                store.purge_inbox(later).expect("a purge");
                // The old keys are gone, the fresh one kept: its event sent
                // again is a duplicate.
                assert_eq!(store.counts().expect("counts").inbox_keys, 1, "{context}");
                let again = store
                    .admit(fresh.clone(), later, |tx, event| plain_effect(tx, event))
                    .expect("a redelivery");
                assert!(
                    matches!(again, crate::Admission::Duplicate(_)),
                    "{context}: {again:?}"
                );
                assert_eq!(count(&mut store, &COUNT_EFFECTS, "fresh"), 1, "{context}");
            }
            // The relay runs until nothing is due, claims left by the crash
            // running out.
            for _ in 0..10 {
                now += lease + TimeDelta::seconds(1);
                let report = store
                    .run_once(now, 100, sender(&never, &log, false))
                    .expect("a relay pass");
                if report.claimed == 0 && store.next_due_at().expect("the next due time").is_none()
                {
                    break;
                }
            }

            // The rules.
            let problems = store.verify().expect("a verify");
            assert!(problems.is_empty(), "{context}: {problems:?}");
            let log = log.into_inner();
            for event in &events {
                let id = event.event_id();
                let sends = log.sends.iter().filter(|sent| *sent == id).count();
                if operation.is_inbox() {
                    assert_eq!(
                        count(&mut store, &COUNT_EFFECTS, id),
                        1,
                        "{context}: the effects of {id}"
                    );
                    continue;
                }
                let stored = store.load_any::<Value>(SOURCE, id);
                let deleted = (operation == Operation::PurgeDelivered
                    && ["e4", "e5"].contains(&id))
                    || (operation == Operation::DeleteQuarantined && id == "e5");
                if deleted {
                    assert!(
                        matches!(stored, Err(StoreError::NotFound { .. })),
                        "{context}: {id} kept"
                    );
                    continue;
                }
                let envelope =
                    stored.unwrap_or_else(|error| panic!("{context}: {id} lost: {error}"));
                let expected =
                    if operation == Operation::SkipDeadLetter && dead_letters.contains(&id) {
                        DeliveryStatus::Skipped
                    } else {
                        DeliveryStatus::Processed
                    };
                assert_eq!(envelope.status(), expected, "{context}: {id}");
                let unsent = dispatches(&envelope) - sends.min(dispatches(&envelope));
                assert!(
                    dispatches(&envelope) >= sends,
                    "{context}: {id} sent more than dispatched"
                );
                // The claim the dead worker of the set-up never sent.
                let abandoned = usize::from(abandoned_id.as_deref() == Some(id));
                let allowed = abandoned + usize::from(aborts);
                assert!(
                    unsent >= abandoned && unsent <= allowed && unsent <= lease_expired(&envelope),
                    "{context}: {id} charged {unsent} attempts it was never sent"
                );
            }
            if !operation.is_inbox() {
                // Each key's envelopes were first sent in the order they were enqueued.
                let first_sent = |id: &str| log.sends.iter().position(|sent| sent == id);
                let k1: Vec<Option<usize>> =
                    ["e0", "e1", "e2"].iter().map(|id| first_sent(id)).collect();
                let sent: Vec<usize> = k1.into_iter().flatten().collect();
                assert!(
                    sent.windows(2).all(|pair| pair[0] < pair[1]),
                    "{context}: k1 out of order: {:?}",
                    log.sends
                );
            }
            taken
        }
    };
}

scenario_runner!(run_on_sqlite, SqliteStore);
scenario_runner!(run_on_postgres, PostgresStore);

/// Enqueues `events`, due at `now`, each in its own transaction.
fn enqueue_all<S: DeliveryStore>(
    store: &mut S,
    events: &[Envelope<Pending, Value>],
    now: DateTime<Utc>,
) where
    for<'t> S::Tx<'t>: Statements,
{
    for event in events {
        store
            .write(|tx| S::enqueue(tx, event, now))
            .expect("an enqueue");
    }
}

/// The count `statement` makes of `id`.
fn count<S: TestBackend>(store: &mut S, statement: &'static Statement, id: &str) -> i64 {
    let mut driver = store.driver().expect("the store's driver");
    let counts: Vec<Count> =
        run_ready(driver.query(statement, &[Param::text(id)])).expect("a count");
    counts.first().map_or(0, |count| count.0)
}

/// A scenario runner of one backend ([`scenario_runner!`]): the steps the
/// operation took.
type Runner = fn(&Place, Operation, &[(usize, Mode)]) -> Vec<String>;

/// The crash points of one operation: the steps of its run without a
/// crash, and the steps a fault made it take that the run without one does
/// not (what the caller does about a failure).
#[derive(Debug, Default)]
struct Visited {
    steps: usize,
    recovery_steps: usize,
}

/// Crashes each operation at each of its steps, both ways, and after each
/// fault at each step of the recovery it set off, on the store `run` opens
/// at `place`; the crash points visited, per operation.
fn crash_every_point(place: &Place, run: Runner) -> BTreeMap<String, Visited> {
    let mut visited = BTreeMap::new();
    for operation in OPERATIONS {
        let steps = run(place, operation, &[]);
        let mut recovery_steps = 0;
        for at in 0..steps.len() {
            run(place, operation, &[(at, Mode::Abort)]);
            let faulted = run(place, operation, &[(at, Mode::Fault)]);
            let recovery =
                (at + 1..faulted.len()).filter(|&step| steps.get(step) != faulted.get(step));
            for step in recovery {
                run(place, operation, &[(at, Mode::Fault), (step, Mode::Abort)]);
                recovery_steps += 1;
            }
        }
        visited.insert(
            format!("{operation:?}"),
            Visited {
                steps: steps.len(),
                recovery_steps,
            },
        );
    }
    visited
}

/// Writes the crash points visited past the test harness's capture, so that
/// a run of every test shows them.
fn report(backend: &str, visited: &BTreeMap<String, Visited>) {
    let steps: usize = visited.values().map(|points| points.steps).sum();
    let recovery: usize = visited.values().map(|points| points.recovery_steps).sum();
    let each: Vec<String> = visited
        .iter()
        .map(|(operation, points)| {
            format!("{operation} {}+{}", points.steps, points.recovery_steps)
        })
        .collect();
    let _ = writeln!(
        std::io::stderr(),
        "crash points on {backend}: {steps} steps, each crashed both ways (abort, fault), and \
         {recovery} steps of the recovery after a fault, crashed: {}",
        each.join(", ")
    );
}

#[test]
fn every_crash_point_of_every_operation_on_sqlite_loses_nothing_and_applies_nothing_twice() {
    let path = std::env::temp_dir().join(format!("iap-crash-points-{}.db", std::process::id()));
    let place = Place::Sqlite(path);
    let visited = crash_every_point(&place, run_on_sqlite);
    report("SQLite", &visited);
    assert!(visited.values().all(|points| points.steps > 0));
}

#[test]
fn every_crash_point_of_every_operation_on_postgres_loses_nothing_and_applies_nothing_twice() {
    let Some(schema) = iap_test_support::backends::postgres::Schema::new("crash_points", "c")
    else {
        return;
    };
    let place = Place::Postgres(format!(
        "{} options='-c search_path={}'",
        schema.url, schema.name
    ));
    let visited = crash_every_point(&place, run_on_postgres);
    report("PostgreSQL", &visited);
    assert!(visited.values().all(|points| points.steps > 0));
}
