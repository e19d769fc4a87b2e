//! Why the tool stops short, and the exit code that tells a script so.

use iap_store::StoreError;
use integration_automation_patterns::DeliveryStatus;

use crate::table::key;

/// The exit codes, as `--help` lists them (the crate's documentation and its
/// README say the same).
pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0  done
  1  the store failed (the message says how)
  2  the command line is wrong, or names no store
  3  no such envelope, or no such quarantined row
  4  `verify` found rows that do not read back
  5  a redrive was not confirmed
  6  not a dead letter: `redrive` or `skip` of an envelope in another state,
     which the message names; nothing was changed
  7  no store there (a missing SQLite file, a PostgreSQL schema without the
     store's tables); nothing was created: only `migrate` creates a store
  8  the store's schema is of another version: older (run `iap migrate`) or
     newer (use a newer `iap`); nothing was changed";

/// Why the tool stops short.
pub(crate) enum Stop {
    /// The store failed.
    Store(StoreError),
    /// The command line is wrong.
    Usage(String),
    /// What was asked for is not there.
    Missing(String),
    /// `verify` found this many rows that do not read back.
    Unreadable(usize),
    /// A redrive was not confirmed.
    NotConfirmed,
    /// An envelope asked for as a dead letter is in another state.
    NotADeadLetter {
        /// Its source system.
        source_system: String,
        /// Its event id.
        event_id: String,
        /// The state it is in.
        found: DeliveryStatus,
        /// What was not done, for the message (`redriven`, `skipped`).
        undone: &'static str,
    },
    /// No store where the command line says.
    NoStore(StoreError),
    /// The store's schema is not this tool's version.
    SchemaVersion(StoreError),
}

impl Stop {
    /// The exit code and the message.
    pub(crate) fn report(self) -> (u8, String) {
        match self {
            Stop::Store(error) => (1, error.to_string()),
            Stop::Usage(message) => (2, message),
            Stop::Missing(message) => (3, message),
            Stop::Unreadable(count) => (4, format!("{count} rows do not read back")),
            Stop::NotConfirmed => (5, "nothing was redriven".to_owned()),
            Stop::NotADeadLetter {
                source_system,
                event_id,
                found,
                undone,
            } => (
                6,
                format!(
                    "{} is not a dead letter (it is {found}): nothing was {undone}",
                    key(&source_system, &event_id)
                ),
            ),
            Stop::NoStore(error) => (7, format!("{error} (`iap migrate` creates one)")),
            Stop::SchemaVersion(error @ StoreError::SchemaTooOld { .. }) => {
                (8, format!("{error}: run `iap migrate`"))
            }
            Stop::SchemaVersion(error) => (8, error.to_string()),
        }
    }

    /// `error` met while redriving (`undone`: `redriven`) or skipping
    /// (`skipped`) a dead letter: an envelope found in another state says so.
    pub(crate) fn for_dead_letter(error: StoreError, undone: &'static str) -> Stop {
        match error {
            StoreError::WrongState {
                source_system,
                event_id,
                expected: DeliveryStatus::Failed,
                found,
            } => Stop::NotADeadLetter {
                source_system,
                event_id,
                found,
                undone,
            },
            other => Stop::from(other),
        }
    }
}

impl From<StoreError> for Stop {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound {
                source_system,
                event_id,
            } => Stop::Missing(format!(
                "no stored envelope {}",
                key(&source_system, &event_id)
            )),
            StoreError::NotQuarantined {
                source_system,
                event_id,
            } => Stop::Missing(format!(
                "no quarantined row {}",
                key(&source_system, &event_id)
            )),
            StoreError::NoStore { .. } => Stop::NoStore(error),
            StoreError::SchemaTooOld { .. } | StoreError::SchemaTooNew { .. } => {
                Stop::SchemaVersion(error)
            }
            other => Stop::Store(other),
        }
    }
}
