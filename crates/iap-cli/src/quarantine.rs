//! `iap quarantine` and `iap held`: the rows set aside because they do not
//! read back, and the ordering keys dead letters (or such rows) hold back.

use chrono::{DateTime, Utc};
use iap_store::{AnyStore, DeliveryStore};
use integration_automation_patterns::AnyEnvelope;
use serde_json::{Value, json};

use crate::args::QuarantineAction;
use crate::stop::Stop;
use crate::table::{emit, key, print_table};

/// Lists, releases or deletes quarantined rows.
pub(crate) fn quarantine(
    store: &mut AnyStore,
    action: &QuarantineAction,
    now: DateTime<Utc>,
    as_json: bool,
) -> Result<(), Stop> {
    match action {
        QuarantineAction::List { limit } => {
            let rows = store.quarantined(*limit)?;
            if as_json {
                let list: Vec<Value> = rows
                    .iter()
                    .map(|row| {
                        json!({
                            "source": row.source_system,
                            "id": row.event_id,
                            "reason": row.reason,
                            "content": row.content_text(),
                        })
                    })
                    .collect();
                println!("{}", Value::Array(list));
            } else {
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|row| {
                        vec![
                            row.source_system.clone(),
                            row.event_id.clone(),
                            row.reason.clone(),
                        ]
                    })
                    .collect();
                print_table(&["source", "id", "reason"], &table);
            }
        }
        QuarantineAction::Release { source, id } => {
            let envelope: AnyEnvelope<Value> = store.release_quarantined(source, id, now)?;
            emit(
                as_json,
                &json!({ "released": format!("{source}/{id}"), "status": envelope.status().as_str() }),
                &format!("released {} ({})", key(source, id), envelope.status()),
            );
        }
        QuarantineAction::Delete { source, id } => {
            store.delete_quarantined(source, id)?;
            emit(
                as_json,
                &json!({ "deleted": format!("{source}/{id}") }),
                &format!("deleted {}", key(source, id)),
            );
        }
    }
    Ok(())
}

/// Lists up to `limit` ordering keys held back, with what holds each and
/// how many envelopes wait behind it.
pub(crate) fn held(store: &mut AnyStore, limit: usize, as_json: bool) -> Result<(), Stop> {
    let keys = store.held_keys(limit)?;
    if as_json {
        let list: Vec<Value> = keys
            .iter()
            .map(|key| {
                json!({
                    "ordering_key": key.ordering_key,
                    "source": key.source_system,
                    "id": key.event_id,
                    "quarantined": key.quarantined,
                    "waiting": key.waiting,
                })
            })
            .collect();
        println!("{}", Value::Array(list));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|held| {
            vec![
                held.ordering_key.clone(),
                held.source_system.clone(),
                held.event_id.clone(),
                if held.quarantined {
                    "quarantined"
                } else {
                    "dead letter"
                }
                .to_owned(),
                held.waiting.to_string(),
            ]
        })
        .collect();
    print_table(
        &["ordering key", "held by: source", "id", "as", "waiting"],
        &rows,
    );
    Ok(())
}
