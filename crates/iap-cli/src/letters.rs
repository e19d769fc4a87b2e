//! `iap dead-letters`: the dead letters a filter takes, in the order they
//! failed, read a page from the store.

use chrono::SecondsFormat;
use iap_store::{AnyStore, DeadLetterFilter, DeliveryStore};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::state::Failed;
use serde_json::{Value, json};

use crate::stop::Stop;
use crate::table::print_table;

/// Prints up to `limit` of the dead letters `filter` takes, oldest failure
/// first; the store reads no more than that (and one more, to tell whether
/// more match). Rows quarantined on the way are named on standard error.
pub(crate) fn list(
    store: &mut AnyStore,
    filter: &DeadLetterFilter,
    limit: usize,
    as_json: bool,
) -> Result<(), Stop> {
    let mut listed = store.dead_letters_matching::<Value>(filter, limit.saturating_add(1))?;
    for problem in &listed.quarantined {
        eprintln!("iap: quarantined on the way: {problem}");
    }
    let more = listed.letters.len() > limit;
    listed.letters.truncate(limit);
    if as_json {
        let list: Vec<Value> = listed.letters.iter().map(letter_json).collect();
        println!("{}", Value::Array(list));
    } else {
        print_letters(&listed.letters);
    }
    if more {
        eprintln!("iap: more dead letters match than the {limit} shown (--limit)");
    }
    Ok(())
}

/// The dead letters as a table.
fn print_letters(letters: &[Envelope<Failed, Value>]) {
    let rows: Vec<Vec<String>> = letters
        .iter()
        .map(|letter| {
            vec![
                letter.source_system().to_owned(),
                letter.event_id().to_owned(),
                letter.event_type().to_owned(),
                letter.attempt_count().to_string(),
                letter
                    .last_transition()
                    .map(|step| step.at().to_rfc3339_opts(SecondsFormat::Secs, true))
                    .unwrap_or_default(),
                letter.failure_reason().to_owned(),
            ]
        })
        .collect();
    print_table(
        &["source", "id", "type", "attempts", "failed at", "reason"],
        &rows,
    );
}

/// A dead letter as a JSON object.
fn letter_json(letter: &Envelope<Failed, Value>) -> Value {
    json!({
        "source": letter.source_system(),
        "id": letter.event_id(),
        "type": letter.event_type(),
        "attempts": letter.attempt_count(),
        "failed_at": letter.last_transition().map(|step| step.at()),
        "reason": letter.failure_reason(),
    })
}
