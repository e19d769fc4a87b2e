//! The command line: the store, the output form and the commands.

use chrono::{DateTime, TimeDelta, Utc};
use clap::{Args, Parser, Subcommand};
use iap_store::DeadLetterFilter;

use crate::stop::EXIT_CODES;

/// Inspect and operate a store of integration-automation-patterns.
///
/// Every command but `migrate` works on an existing store at this version of
/// the schema and creates nothing: a store that is not there is refused
/// (exit code 7), and so is one of another schema version (exit code 8).
#[derive(Parser)]
#[command(name = "iap", version, after_help = EXIT_CODES)]
pub(crate) struct Cli {
    /// The store: `sqlite:PATH`, or a PostgreSQL connection string.
    #[arg(long, env = "IAP_STORE", global = true)]
    pub(crate) store: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// What to do.
#[derive(Subcommand)]
pub(crate) enum Command {
    /// Envelopes per state, quarantined rows, inbox keys; how long the oldest
    /// due envelope has waited, or when the next one falls due.
    Status,
    /// Dead letters that match the filter, in the order they failed, oldest
    /// first.
    DeadLetters {
        #[command(flatten)]
        filter: LetterFilter,
        /// At most this many.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// One envelope: its attributes, its history and its audit line.
    Show {
        /// The source system.
        source: String,
        /// The event id.
        id: String,
    },
    /// Sends dead letters back for delivery with a fresh budget: one, or with
    /// `--all` every dead letter that matches the filter, oldest failure
    /// first, a batch per transaction.
    Redrive {
        /// The source system of the one dead letter to redrive.
        source: Option<String>,
        /// Its event id.
        id: Option<String>,
        /// Every dead letter that matches the filter instead.
        #[arg(long, conflicts_with_all = ["source", "id"])]
        all: bool,
        #[command(flatten)]
        filter: LetterFilter,
        /// With `--all`: at most this many, those that failed first
        /// (default: every match).
        #[arg(long)]
        limit: Option<u64>,
        /// With `--all`: how many dead letters each transaction redrives
        /// (default: 500).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch: Option<u32>,
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
    /// Creates the store's schema where there is none, or migrates an older
    /// one: the one command that creates or changes a schema.
    Migrate,
    /// Checks every row, changing nothing.
    Verify,
}

/// What to do with quarantined rows.
#[derive(Subcommand)]
pub(crate) enum QuarantineAction {
    /// Lists quarantined rows with their reason, oldest first.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
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

/// Which dead letters a command takes; the store applies it in the database.
#[derive(Args, Clone, Default)]
pub(crate) struct LetterFilter {
    /// Only this event type.
    #[arg(long = "type")]
    event_type: Option<String>,
    /// Only this source system.
    #[arg(long)]
    source_system: Option<String>,
    /// Only dead letters that failed at least this many seconds ago.
    #[arg(long)]
    older_than: Option<u64>,
}

impl LetterFilter {
    /// Whether the filter takes every dead letter (no option was given).
    pub(crate) fn is_empty(&self) -> bool {
        self.event_type.is_none() && self.source_system.is_none() && self.older_than.is_none()
    }

    /// The store's filter, at `now`.
    pub(crate) fn at(&self, now: DateTime<Utc>) -> DeadLetterFilter {
        let mut filter = DeadLetterFilter::all();
        if let Some(event_type) = &self.event_type {
            filter = filter.of_type(event_type.clone());
        }
        if let Some(source) = &self.source_system {
            filter = filter.from_source(source.clone());
        }
        if let Some(seconds) = self.older_than {
            let age = TimeDelta::try_seconds(i64::try_from(seconds).unwrap_or(i64::MAX))
                .unwrap_or(TimeDelta::MAX);
            filter = filter.failed_by(
                now.checked_sub_signed(age)
                    .unwrap_or(DateTime::<Utc>::MIN_UTC),
            );
        }
        filter
    }
}
