//! `iap`: the operator's tool for one store. Counts, dead letters, one
//! envelope's history, redrives and skips, the ordering keys dead letters
//! hold, purges, quarantined rows, migration and a consistency check, as
//! tables for people or JSON for scripts.
//!
//! The store is named by `--store sqlite:PATH` or `--store postgres://...`
//! (or the `IAP_STORE` variable). Exit codes: 0 done; 1 the store failed;
//! 2 the command line is wrong; 3 what was asked for is not there (no such
//! envelope or quarantined row); 4 `verify` found rows that do not read
//! back; 5 a redrive was not confirmed.

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!(
    "`iap` needs a store backend: build it with feature `sqlite`, `postgres`, or both (the default)"
);

use std::io::{BufRead, Write};
use std::process::ExitCode;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use clap::{Args, Parser, Subcommand};
use iap_store::{AnyStore, StoreError, StoreOptions};
use integration_automation_patterns::state::Failed;
use integration_automation_patterns::{AnyEnvelope, DeliveryStatus, Envelope};
use serde_json::{Value, json};

/// Inspect and operate a store of integration-automation-patterns.
#[derive(Parser)]
#[command(name = "iap", version)]
struct Cli {
    /// The store: `sqlite:PATH`, or a PostgreSQL connection string.
    #[arg(long, env = "IAP_STORE", global = true)]
    store: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Envelopes per state, quarantined rows, inbox keys, the oldest due age.
    Status,
    /// Dead letters, oldest first, filtered.
    DeadLetters(Filter),
    /// One envelope: its attributes, its history and its audit line.
    Show {
        /// The source system.
        source: String,
        /// The event id.
        id: String,
    },
    /// Sends dead letters back for delivery with a fresh budget.
    Redrive {
        /// The source system of the one dead letter to redrive.
        source: Option<String>,
        /// Its event id.
        id: Option<String>,
        /// Every dead letter that matches the filter instead.
        #[arg(long, conflicts_with_all = ["source", "id"])]
        all: bool,
        #[command(flatten)]
        filter: Filter,
        /// Why, for the envelopes' history.
        #[arg(long, default_value = "redriven by an operator")]
        reason: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Ordering keys held back by a dead letter at their head, with what
    /// waits behind each (as the default setting holds them: relays set to
    /// release the keys of dead letters hold nothing back).
    Held {
        /// At most this many.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// Settles one dead letter without sending it, freeing the ordering key
    /// it holds.
    Skip {
        /// The source system.
        source: String,
        /// The event id.
        id: String,
        /// Why, for the envelope's history.
        #[arg(long, default_value = "skipped by an operator")]
        reason: String,
    },
    /// Forgets inbox keys older than their retention window, and deletes
    /// envelopes delivered or skipped longer ago than theirs.
    Purge,
    /// Rows set aside because they do not read back.
    Quarantine {
        #[command(subcommand)]
        action: QuarantineAction,
    },
    /// Creates or migrates the store's schema (done on every open; this says so).
    Migrate,
    /// Checks every row, changing nothing.
    Verify,
}

#[derive(Subcommand)]
enum QuarantineAction {
    /// Lists quarantined rows with their reason.
    List,
    /// Puts a repaired row back, after reading it again.
    Release {
        /// The source system.
        source: String,
        /// The event id.
        id: String,
    },
    /// Deletes a quarantined row.
    Delete {
        /// The source system.
        source: String,
        /// The event id.
        id: String,
    },
}

/// Which dead letters a command takes.
#[derive(Args, Clone, Default)]
struct Filter {
    /// Only this event type.
    #[arg(long = "type")]
    event_type: Option<String>,
    /// Only this source system.
    #[arg(long)]
    source_system: Option<String>,
    /// Only dead letters that failed at least this many seconds ago.
    #[arg(long)]
    older_than: Option<u64>,
    /// At most this many.
    #[arg(long, default_value_t = 1000)]
    limit: usize,
}

impl Filter {
    fn matches(&self, letter: &Envelope<Failed>, now: DateTime<Utc>) -> bool {
        let failed_at = letter.last_transition().map(|step| step.at());
        self.event_type
            .as_deref()
            .is_none_or(|kind| kind == letter.event_type())
            && self
                .source_system
                .as_deref()
                .is_none_or(|source| source == letter.source_system())
            && self.older_than.is_none_or(|seconds| {
                let cutoff = now - TimeDelta::seconds(i64::try_from(seconds).unwrap_or(i64::MAX));
                failed_at.is_some_and(|at| at <= cutoff)
            })
    }
}

/// Why the tool stops, and the exit code that says so.
enum Stop {
    Store(StoreError),
    Usage(String),
    Missing(StoreError),
    Unreadable(usize),
    NotConfirmed,
}

impl From<StoreError> for Stop {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { .. } | StoreError::NotQuarantined { .. } => Stop::Missing(error),
            other => Stop::Store(other),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(stop) => {
            let (code, message) = match stop {
                Stop::Store(error) => (1, error.to_string()),
                Stop::Usage(message) => (2, message),
                Stop::Missing(error) => (3, error.to_string()),
                Stop::Unreadable(count) => (4, format!("{count} rows do not read back")),
                Stop::NotConfirmed => (5, "nothing was redriven".to_owned()),
            };
            eprintln!("iap: {message}");
            ExitCode::from(code)
        }
    }
}

fn run(cli: &Cli) -> Result<(), Stop> {
    let location = cli
        .store
        .as_deref()
        .ok_or_else(|| Stop::Usage("name the store with --store or IAP_STORE".into()))?;
    let mut store = AnyStore::open(location, StoreOptions::default())?;
    let now = Utc::now();
    match &cli.command {
        Command::Status => status(&mut store, now, cli.json),
        Command::DeadLetters(filter) => {
            let letters = matching(&mut store, filter, now)?;
            print_letters(&letters, cli.json);
            Ok(())
        }
        Command::Show { source, id } => {
            let envelope: AnyEnvelope = store.load_any(source, id)?;
            show(&envelope, cli.json);
            Ok(())
        }
        Command::Redrive {
            source,
            id,
            all,
            filter,
            reason,
            yes,
        } => redrive(
            &mut store,
            source.as_deref().zip(id.as_deref()),
            *all,
            filter,
            reason,
            *yes,
            now,
            cli.json,
        ),
        Command::Held { limit } => {
            held(&mut store, *limit, cli.json)?;
            Ok(())
        }
        Command::Skip { source, id, reason } => {
            let skipped = store.skip_dead_letter::<Value>(source, id, reason, now)?;
            emit(
                cli.json,
                json!({ "skipped": { "source": source, "id": id } }),
                &format!(
                    "skipped {}/{}: it will not be sent",
                    skipped.source_system(),
                    skipped.event_id()
                ),
            );
            Ok(())
        }
        Command::Purge => {
            let keys = store.purge_inbox(now)?;
            let envelopes = store.purge_delivered(now)?;
            emit(
                cli.json,
                json!({ "purged_inbox_keys": keys, "purged_envelopes": envelopes }),
                &format!("forgot {keys} inbox keys; deleted {envelopes} delivered envelopes"),
            );
            Ok(())
        }
        Command::Quarantine { action } => quarantine(&mut store, action, now, cli.json),
        Command::Migrate => {
            emit(
                cli.json,
                json!({ "migrated": true }),
                "the schema is at this version of the crate",
            );
            Ok(())
        }
        Command::Verify => {
            let problems = store.verify()?;
            if cli.json {
                let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
                println!("{}", json!({ "unreadable": list }));
            } else if problems.is_empty() {
                println!("every row reads back");
            } else {
                for problem in &problems {
                    println!("{problem}");
                }
            }
            match problems.len() {
                0 => Ok(()),
                count => Err(Stop::Unreadable(count)),
            }
        }
    }
}

fn status(store: &mut AnyStore, now: DateTime<Utc>, as_json: bool) -> Result<(), Stop> {
    let counts = store.counts()?;
    let oldest = store.oldest_due_age(now)?;
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
            })
        );
        return Ok(());
    }
    let mut rows: Vec<Vec<String>> = DeliveryStatus::ALL
        .iter()
        .map(|status| {
            let count = counts.outbox.get(status).copied().unwrap_or_default();
            vec![status.as_str().to_owned(), count.to_string()]
        })
        .collect();
    rows.push(vec!["quarantined".into(), counts.quarantined.to_string()]);
    rows.push(vec!["inbox keys".into(), counts.inbox_keys.to_string()]);
    print_table(&["state", "envelopes"], &rows);
    match oldest {
        Some(age) => println!("\noldest due envelope waiting {:.1} s", age.as_secs_f64()),
        None => println!("\nnothing is due"),
    }
    Ok(())
}

fn held(store: &mut AnyStore, limit: usize, as_json: bool) -> Result<(), Stop> {
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
        .map(|key| {
            vec![
                key.ordering_key.clone(),
                format!("{}/{}", key.source_system, key.event_id),
                if key.quarantined {
                    "quarantined"
                } else {
                    "dead letter"
                }
                .to_owned(),
                key.waiting.to_string(),
            ]
        })
        .collect();
    print_table(&["ordering key", "held by", "as", "waiting"], &rows);
    Ok(())
}

fn matching(
    store: &mut AnyStore,
    filter: &Filter,
    now: DateTime<Utc>,
) -> Result<Vec<Envelope<Failed>>, Stop> {
    let listed = store.dead_letters::<Value>(usize::MAX)?;
    for problem in &listed.quarantined {
        eprintln!("iap: quarantined on the way: {problem}");
    }
    Ok(listed
        .letters
        .into_iter()
        .filter(|letter| filter.matches(letter, now))
        .take(filter.limit)
        .collect())
}

fn print_letters(letters: &[Envelope<Failed>], as_json: bool) {
    if as_json {
        let list: Vec<Value> = letters.iter().map(letter_json).collect();
        println!("{}", Value::Array(list));
        return;
    }
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

fn letter_json(letter: &Envelope<Failed>) -> Value {
    json!({
        "source": letter.source_system(),
        "id": letter.event_id(),
        "type": letter.event_type(),
        "attempts": letter.attempt_count(),
        "failed_at": letter.last_transition().map(|step| step.at()),
        "reason": letter.failure_reason(),
    })
}

fn show(envelope: &AnyEnvelope, as_json: bool) {
    if as_json {
        println!("{}", serde_json::to_value(envelope).unwrap_or(Value::Null));
        return;
    }
    println!(
        "{}/{}  {}  {}",
        envelope.source_system(),
        envelope.event_id(),
        envelope.event_type(),
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
}

#[allow(clippy::too_many_arguments)]
fn redrive(
    store: &mut AnyStore,
    one: Option<(&str, &str)>,
    all: bool,
    filter: &Filter,
    reason: &str,
    yes: bool,
    now: DateTime<Utc>,
    as_json: bool,
) -> Result<(), Stop> {
    let targets: Vec<(String, String)> = match (one, all) {
        (Some((source, id)), false) => vec![(source.to_owned(), id.to_owned())],
        (None, true) => matching(store, filter, now)?
            .iter()
            .map(|letter| {
                (
                    letter.source_system().to_owned(),
                    letter.event_id().to_owned(),
                )
            })
            .collect(),
        _ => {
            return Err(Stop::Usage(
                "name one dead letter (SOURCE ID) or pass --all".into(),
            ));
        }
    };
    if targets.is_empty() {
        emit(as_json, json!({ "redriven": [] }), "no dead letter matches");
        return Ok(());
    }
    if !yes && !confirm(targets.len())? {
        return Err(Stop::NotConfirmed);
    }
    let mut redriven = Vec::new();
    for (source, id) in &targets {
        let pending: Envelope<_, Value> = store.redrive(source, id, reason, now)?;
        redriven.push(format!(
            "{}/{}",
            pending.source_system(),
            pending.event_id()
        ));
    }
    if as_json {
        println!("{}", json!({ "redriven": redriven }));
    } else {
        for key in &redriven {
            println!("redriven {key}");
        }
        println!("{} dead letters sent back for delivery", redriven.len());
    }
    Ok(())
}

/// Asks on the terminal; anything but `y` or `yes` is a no.
fn confirm(count: usize) -> Result<bool, Stop> {
    eprint!("redrive {count} dead letters? [y/N] ");
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

fn quarantine(
    store: &mut AnyStore,
    action: &QuarantineAction,
    now: DateTime<Utc>,
    as_json: bool,
) -> Result<(), Stop> {
    match action {
        QuarantineAction::List => {
            let rows = store.quarantined(usize::MAX)?;
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
            Ok(())
        }
        QuarantineAction::Release { source, id } => {
            let envelope: AnyEnvelope = store.release_quarantined(source, id, now)?;
            emit(
                as_json,
                json!({ "released": format!("{source}/{id}"), "status": envelope.status().as_str() }),
                &format!("released {source}/{id} ({})", envelope.status()),
            );
            Ok(())
        }
        QuarantineAction::Delete { source, id } => {
            store.delete_quarantined(source, id)?;
            emit(
                as_json,
                json!({ "deleted": format!("{source}/{id}") }),
                &format!("deleted {source}/{id}"),
            );
            Ok(())
        }
    }
}

/// Prints `value` as JSON, or `text` for a person.
fn emit(as_json: bool, value: Value, text: &str) {
    if as_json {
        println!("{value}");
    } else {
        println!("{text}");
    }
}

/// Prints rows under a header, each column as wide as its widest cell; cells
/// are written as the audit line writes values, so none can break the table.
fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| printable(cell)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|title| title.chars().count()).collect();
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    let rules: Vec<String> = widths.iter().map(|width| "-".repeat(*width)).collect();
    line(rules.iter().map(String::as_str).collect());
    for row in &cells {
        line(row.iter().map(String::as_str).collect());
    }
    if cells.is_empty() {
        println!("(none)");
    }
}

/// A cell as one line: written as Rust writes a string literal (quoted,
/// escaped) when it holds a line break, a control character or a white-space
/// character other than the space, which could break the table.
fn printable(cell: &str) -> String {
    let unsafe_char = |c: char| c.is_control() || (c.is_whitespace() && c != ' ');
    if cell.chars().any(unsafe_char) {
        format!("{cell:?}")
    } else {
        cell.to_owned()
    }
}
