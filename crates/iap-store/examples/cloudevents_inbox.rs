//! An inbox for plain CloudEvents, as a webhook receives them, without a
//! server: it builds, in the process, the two `http::Request`s that these
//! curl commands would send (binary and structured content mode), reads each
//! as an envelope, and admits it through a blocking SQLite inbox. The effect
//! (a row in `contacts`) runs once, and the same request read again is a
//! duplicate.
//!
//! ```sh
//! curl -X POST http://localhost:3000/events \
//!   -H 'ce-specversion: 1.0' -H 'ce-id: contact-42-v7' -H 'ce-source: /crm/eu' \
//!   -H 'ce-type: crm.contact.updated' -H 'ce-subject: contact/42' \
//!   -H 'ce-traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' \
//!   -H 'content-type: application/json; charset=utf-8' \
//!   -d '{"contact_id": 42, "email": "ada@example.com"}'
//!
//! curl -X POST http://localhost:3000/events \
//!   -H 'content-type: application/cloudevents+json' \
//!   -d '{"specversion": "1.0", "id": "contact-43-v1", "source": "/crm/eu",
//!        "type": "crm.contact.created", "tenant": "acme", "data": {"contact_id": 43}}'
//! ```
//!
//! To send them over the network, run the service of `iap-transport`
//! (`cargo run -p iap-transport --features http-receive,http-send --example
//! service`): its `/events` inbox on port 3000 takes these very commands.
//!
//! `cargo run -p iap-store --features sqlite --example cloudevents_inbox`

use std::error::Error;

use chrono::Utc;
use http::Request;
use iap_store::sqlite::SqliteStore;
use iap_store::{Admission, DeliveryStore, StoreError};
use integration_automation_patterns::Envelope;
use rusqlite::params;
use serde_json::Value;

fn main() -> Result<(), Box<dyn Error>> {
    let binary = Request::post("/events")
        .header("ce-specversion", "1.0")
        .header("ce-id", "contact-42-v7")
        .header("ce-source", "/crm/eu")
        .header("ce-type", "crm.contact.updated")
        .header("ce-subject", "contact/42")
        .header(
            "ce-traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .header("content-type", "application/json; charset=utf-8")
        .body(br#"{"contact_id": 42, "email": "ada@example.com"}"#.to_vec())?;
    let structured = Request::post("/events")
        .header("content-type", "application/cloudevents+json")
        .body(
            br#"{"specversion": "1.0", "id": "contact-43-v1", "source": "/crm/eu",
       "type": "crm.contact.created", "tenant": "acme", "data": {"contact_id": 43}}"#
                .to_vec(),
        )?;

    let path = std::env::temp_dir().join(format!("cloudevents-inbox-{}.db", std::process::id()));
    let mut inbox = SqliteStore::open(&path)?;
    inbox.write(|tx| {
        tx.execute(
            "CREATE TABLE IF NOT EXISTS contacts (id INTEGER PRIMARY KEY, source TEXT NOT NULL)",
            [],
        )?;
        Ok::<_, StoreError>(())
    })?;

    for request in [&binary, &structured, &binary] {
        let event: Envelope<_, Value> = Envelope::from_http(request.headers(), request.body())?;
        println!(
            "received {} from {} ({}, trace {})",
            event.event_id(),
            event.source_system(),
            event.event_type(),
            event.traceparent().unwrap_or("none")
        );
        let source = event.source_system().to_owned();
        let admission = inbox.admit(event, Utc::now(), |tx, event| {
            tx.execute(
                "INSERT OR REPLACE INTO contacts (id, source) VALUES (?1, ?2)",
                params![event.payload()["contact_id"].as_i64(), source],
            )
        })?;
        match admission {
            Admission::Processed(processed, _) => {
                println!("  applied: {}", processed.to_audit_line())
            }
            Admission::Duplicate(skipped) => println!("  duplicate: {}", skipped.skip_reason()),
            Admission::Failed(outcome) => println!("  failed: {outcome:?}"),
        }
    }
    let contacts: i64 = inbox.write(|tx| {
        Ok::<_, StoreError>(tx.query_row("SELECT COUNT(*) FROM contacts", [], |row| row.get(0))?)
    })?;
    drop(inbox);
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
    if contacts != 2 {
        return Err(format!("expected 2 contacts, found {contacts}").into());
    }
    println!("2 contacts, each applied once");
    Ok(())
}
