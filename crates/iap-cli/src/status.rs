//! `iap status`: envelopes per state, and whether anything waits to be sent.

use chrono::{DateTime, SecondsFormat, Utc};
use iap_store::{AnyStore, DeliveryStore};
use integration_automation_patterns::DeliveryStatus;
use serde_json::{Value, json};

use crate::stop::Stop;
use crate::table::print_words;

/// Prints the counts per state, quarantined rows and inbox keys, then what
/// the relays have to do: how long the oldest due envelope has waited; or,
/// with nothing due, when the next envelope (a retry, an expiring lease)
/// falls due and how many wait; or that nothing waits to be sent.
pub(crate) fn status(store: &mut AnyStore, now: DateTime<Utc>, as_json: bool) -> Result<(), Stop> {
    let counts = store.counts()?;
    let oldest = store.oldest_due_age(now)?;
    let next = store.next_due_at()?;
    let of = |status: DeliveryStatus| counts.outbox.get(&status).copied().unwrap_or_default();
    if as_json {
        let states: serde_json::Map<String, Value> = counts
            .outbox
            .iter()
            .map(|(status, count)| (status.as_str().to_owned(), json!(count)))
            .collect();
        println!(
            "{}",
            json!({
                "outbox": states,
                "quarantined": counts.quarantined,
                "inbox_keys": counts.inbox_keys,
                "oldest_due_age_seconds": oldest.map(|age| age.as_secs_f64()),
                "next_due_at": next.map(|at| at.to_rfc3339_opts(SecondsFormat::Micros, true)),
            })
        );
        return Ok(());
    }
    let numbers: Vec<(&str, String)> = DeliveryStatus::ALL
        .iter()
        .map(|status| (status.as_str(), of(*status).to_string()))
        .chain([
            ("quarantined", counts.quarantined.to_string()),
            ("inbox keys", counts.inbox_keys.to_string()),
        ])
        .collect();
    let rows: Vec<[&str; 2]> = numbers
        .iter()
        .map(|(state, count)| [*state, count.as_str()])
        .collect();
    print_words(&["state", "envelopes"], &rows);
    println!();
    let waiting = [
        (of(DeliveryStatus::Pending), "pending"),
        (of(DeliveryStatus::Retrying), "retrying"),
        (of(DeliveryStatus::Dispatched), "in flight"),
    ];
    let waiting: Vec<String> = waiting
        .iter()
        .filter(|(count, _)| *count > 0)
        .map(|(count, what)| format!("{count} {what}"))
        .collect();
    match (oldest, next) {
        (Some(age), _) => println!("oldest due envelope waiting {:.1} s", age.as_secs_f64()),
        (None, Some(next)) => println!(
            "nothing is due now ({}); the next falls due at {} (in {})",
            waiting.join(", "),
            next.to_rfc3339_opts(SecondsFormat::Secs, true),
            wait_until(now, next)
        ),
        (None, None) if waiting.is_empty() => println!("nothing waits to be sent"),
        (None, None) => println!(
            "nothing falls due ({}): they wait behind a dead letter of their ordering key \
             (`iap held`), or no claim would reach them (`iap verify`)",
            waiting.join(", ")
        ),
    }
    let dead_letters = of(DeliveryStatus::Failed);
    match dead_letters {
        0 => {}
        1 => println!("1 dead letter waits for an operator (`iap dead-letters`)"),
        _ => println!("{dead_letters} dead letters wait for an operator (`iap dead-letters`)"),
    }
    Ok(())
}

/// How long from `now` to `then`, in words a person reads at a glance.
fn wait_until(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    let seconds = (then - now).num_seconds().max(0);
    match seconds {
        0..120 => format!("{seconds} s"),
        120..7200 => format!("{} min", seconds / 60),
        7200..172_800 => format!("{} h", seconds / 3600),
        _ => format!("{} days", seconds / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn a_wait_reads_in_a_unit_that_suits_it() {
        let now = Utc::now();
        let after = |seconds| wait_until(now, now + TimeDelta::seconds(seconds));
        assert_eq!(after(-5), "0 s");
        assert_eq!(after(41), "41 s");
        assert_eq!(after(600), "10 min");
        assert_eq!(after(3 * 3600), "3 h");
        assert_eq!(after(5 * 86_400), "5 days");
    }
}
