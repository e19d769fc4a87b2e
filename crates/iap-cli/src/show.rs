//! `iap show`: one envelope, its history and its audit line.

use chrono::SecondsFormat;
use iap_store::StoreError;
use integration_automation_patterns::AnyEnvelope;
use serde_json::Value;

use crate::stop::Stop;
use crate::table::{cell, key, print_table};

/// Prints the envelope: its key, type and state, its attempts, its history
/// as a table and its audit line; or the envelope as JSON.
pub(crate) fn show(envelope: &AnyEnvelope<Value>, as_json: bool) -> Result<(), Stop> {
    if as_json {
        let json = serde_json::to_string(envelope).map_err(|error| {
            Stop::Store(StoreError::Encode {
                source_system: envelope.source_system().to_owned(),
                event_id: envelope.event_id().to_owned(),
                reason: error.to_string(),
            })
        })?;
        println!("{json}");
        return Ok(());
    }
    println!(
        "{}  {}  {}",
        key(envelope.source_system(), envelope.event_id()),
        cell(envelope.event_type()),
        envelope.status()
    );
    println!("attempts: {}", envelope.attempt_count());
    let rows: Vec<Vec<String>> = envelope
        .history()
        .iter()
        .map(|step| {
            vec![
                step.at().to_rfc3339_opts(SecondsFormat::Secs, true),
                step.from().as_str().to_owned(),
                step.to().as_str().to_owned(),
                step.attempt().to_string(),
                step.reason().unwrap_or_default().to_owned(),
            ]
        })
        .collect();
    println!();
    print_table(&["at", "from", "to", "attempt", "reason"], &rows);
    println!("\n{}", envelope.to_audit_line());
    Ok(())
}
