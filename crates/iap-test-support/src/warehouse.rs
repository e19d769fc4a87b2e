//! The receiving side the broker tests and bench share: a warehouse inbox
//! whose effect writes one shipment per order, and a scratch directory.

use std::path::{Path, PathBuf};

use iap_store::BoxFuture;
use iap_store::sqlite::AsyncSqliteStore;
use iap_store::sqlx::{self, Sqlite, Transaction};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::state::Dispatched;
use serde_json::Value;

/// Creates the shipments table in the warehouse's database.
pub async fn create_shipments(warehouse: &AsyncSqliteStore) {
    sqlx::query("CREATE TABLE IF NOT EXISTS shipments (order_id INTEGER NOT NULL)")
        .execute(warehouse.pool())
        .await
        .unwrap();
}

/// The effect: one shipment for the order, in the admitting transaction.
pub fn ship<'t>(
    tx: &'t mut Transaction<'static, Sqlite>,
    order: &'t Envelope<Dispatched, Value>,
) -> BoxFuture<'t, Result<(), sqlx::Error>> {
    let order_id = order.payload()["order_id"].as_i64();
    Box::pin(async move {
        sqlx::query("INSERT INTO shipments (order_id) VALUES (?)")
            .bind(order_id)
            .execute(&mut **tx)
            .await
            .map(|_| ())
    })
}

/// What an effect saw of `event`, as one line: its id, type, subject, time
/// (with its offset) and `tenant` extension, for tests that check the view
/// an inbox hands its effect.
pub fn seen(event: &Envelope<Dispatched, Value>) -> String {
    format!(
        "{} {} {:?} {:?} {:?}",
        event.event_id(),
        event.event_type(),
        event.subject(),
        event.time().map(|time| time.to_rfc3339()),
        event.extension("tenant").map(ToString::to_string),
    )
}

/// Shipments written, and the distinct orders they ship.
pub async fn shipments(warehouse: &AsyncSqliteStore) -> (i64, i64) {
    sqlx::query_as("SELECT count(*), count(DISTINCT order_id) FROM shipments")
        .fetch_one(warehouse.pool())
        .await
        .unwrap()
}

/// A directory in the system's temporary directory, removed on drop.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    pub fn new(name: &str) -> ScratchDir {
        let path = std::env::temp_dir().join(format!("iap-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        ScratchDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
