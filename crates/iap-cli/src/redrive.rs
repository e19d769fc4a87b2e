//! `iap redrive` and `iap skip`: dead letters sent back for delivery, or
//! settled without being sent.

use std::io::{BufRead, Write};

use chrono::{DateTime, Utc};
use iap_store::{AnyStore, DeadLetterFilter, DeliveryStore, StoreError};
use integration_automation_patterns::state::{Pending, Skipped};
use integration_automation_patterns::{AnyEnvelope, DeliveryStatus, Envelope};
use serde_json::{Value, json};

use crate::stop::Stop;
use crate::table::{counted, emit, key};

/// How many dead letters one transaction of `redrive --all` redrives, unless
/// `--batch` says otherwise: few enough that no lock is held for long (a
/// fraction of a second on SQLite), many enough that the commits cost little.
pub(crate) const BATCH: u32 = 500;

/// How a redrive runs: why (for the envelopes' history), whether to ask
/// first, the output form and the time.
pub(crate) struct Redrive<'a> {
    pub(crate) reason: &'a str,
    pub(crate) yes: bool,
    pub(crate) as_json: bool,
    pub(crate) now: DateTime<Utc>,
}

/// Redrives the dead letter `source`/`id`. An envelope that is not there or
/// not a dead letter is refused before anything is asked.
pub(crate) fn redrive_one(
    store: &mut AnyStore,
    source: &str,
    id: &str,
    redrive: &Redrive<'_>,
) -> Result<(), Stop> {
    let envelope: AnyEnvelope<Value> = store.load_any(source, id)?;
    if envelope.status() != DeliveryStatus::Failed {
        return Err(Stop::NotADeadLetter {
            source_system: source.to_owned(),
            event_id: id.to_owned(),
            found: envelope.status(),
            undone: "redriven",
        });
    }
    if !redrive.yes && !confirm(&format!("redrive 1 dead letter, {}?", key(source, id)))? {
        return Err(Stop::NotConfirmed);
    }
    let pending: Envelope<Pending, Value> = store
        .redrive(source, id, redrive.reason, redrive.now)
        .map_err(|error| Stop::for_dead_letter(error, "redriven"))?;
    let mut done = Done::default();
    done.add(&[pending], &[], redrive.as_json);
    done.finish(redrive.as_json);
    Ok(())
}

/// Redrives every dead letter `filter` takes that failed before now (at
/// most `limit`, those that failed first), `batch` per transaction, after
/// saying how many and asking. Progress goes to standard error.
pub(crate) fn redrive_all(
    store: &mut AnyStore,
    filter: &DeadLetterFilter,
    limit: Option<u64>,
    batch: u32,
    redrive: &Redrive<'_>,
) -> Result<(), Stop> {
    // Envelopes that fail again while the redrive runs are not taken again.
    let filter = filter.clone().failed_by(redrive.now);
    let matching = store.count_dead_letters(&filter)?;
    let total = limit.map_or(matching, |limit| limit.min(matching));
    if total == 0 {
        emit(
            redrive.as_json,
            &json!({ "redriven": [], "quarantined": [] }),
            "no dead letter matches",
        );
        return Ok(());
    }
    let question = if total < matching {
        format!(
            "redrive the {total} that failed first of {} that match?",
            counted(matching, "dead letter")
        )
    } else {
        format!("redrive {}?", counted(total, "dead letter"))
    };
    if !redrive.yes && !confirm(&question)? {
        return Err(Stop::NotConfirmed);
    }
    let mut done = Done::default();
    while done.taken < total {
        let size = u32::try_from(total - done.taken).map_or(batch, |left| left.min(batch));
        let taken =
            store.redrive_matching::<Value>(&filter, size as usize, redrive.reason, redrive.now)?;
        if taken.taken() == 0 {
            break;
        }
        done.add(&taken.redriven, &taken.quarantined, redrive.as_json);
        if !redrive.as_json {
            eprintln!("iap: redriven {} of {total}", done.redriven.len());
        }
    }
    if done.taken < total {
        eprintln!(
            "iap: {} of those counted were no longer dead letters when their turn came \
             (redriven or skipped meanwhile)",
            total - done.taken
        );
    }
    done.finish(redrive.as_json);
    Ok(())
}

/// What a redrive has done so far.
#[derive(Default)]
struct Done {
    /// The keys redriven, in order.
    redriven: Vec<String>,
    /// The rows quarantined on the way, named.
    quarantined: Vec<String>,
    /// How many dead letters were taken: redriven or quarantined.
    taken: u64,
}

impl Done {
    /// Counts a batch, and prints what was redriven in it for a person.
    fn add<P>(
        &mut self,
        redriven: &[Envelope<Pending, P>],
        quarantined: &[StoreError],
        as_json: bool,
    ) {
        for pending in redriven {
            let shown = key(pending.source_system(), pending.event_id());
            if !as_json {
                println!("redriven {shown}");
            }
            self.redriven.push(if as_json {
                format!("{}/{}", pending.source_system(), pending.event_id())
            } else {
                shown
            });
        }
        for problem in quarantined {
            eprintln!("iap: quarantined on the way: {problem}");
            self.quarantined.push(problem.to_string());
        }
        let batch = redriven.len().saturating_add(quarantined.len());
        self.taken = self
            .taken
            .saturating_add(u64::try_from(batch).unwrap_or(u64::MAX));
    }

    /// Prints the outcome: the JSON document, or the count for a person.
    fn finish(self, as_json: bool) {
        if as_json {
            println!(
                "{}",
                json!({ "redriven": self.redriven, "quarantined": self.quarantined })
            );
            return;
        }
        let redriven = u64::try_from(self.redriven.len()).unwrap_or(u64::MAX);
        println!(
            "{} sent back for delivery",
            counted(redriven, "dead letter")
        );
        if !self.quarantined.is_empty() {
            let quarantined = u64::try_from(self.quarantined.len()).unwrap_or(u64::MAX);
            println!(
                "{} did not read back and {} quarantined (`iap quarantine list`)",
                counted(quarantined, "row"),
                if quarantined == 1 { "was" } else { "were" }
            );
        }
    }
}

/// Settles the dead letter `source`/`id` without sending it. An envelope
/// that is not there or not a dead letter is refused, and nothing changes.
pub(crate) fn skip(
    store: &mut AnyStore,
    source: &str,
    id: &str,
    reason: &str,
    now: DateTime<Utc>,
    as_json: bool,
) -> Result<(), Stop> {
    let skipped: Envelope<Skipped, Value> = store
        .skip_dead_letter(source, id, reason, now)
        .map_err(|error| Stop::for_dead_letter(error, "skipped"))?;
    emit(
        as_json,
        &json!({ "skipped": { "source": source, "id": id } }),
        &format!(
            "skipped {}: it will not be sent",
            key(skipped.source_system(), skipped.event_id())
        ),
    );
    Ok(())
}

/// Asks `question` on the terminal; anything but `y` or `yes` is a no.
fn confirm(question: &str) -> Result<bool, Stop> {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|error| Stop::Usage(format!("cannot read the answer: {error}")))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
