//! `iap`: the operator's tool for one store. Counts, dead letters, one
//! envelope's history, redrives and skips, the ordering keys dead letters
//! hold, purges, quarantined rows, migration and a consistency check, as
//! tables for people or JSON for scripts.
//!
//! The store is named by `--store sqlite:PATH` or `--store postgres://...`
//! (or the `IAP_STORE` variable). Every command but `migrate` opens an
//! existing store at this version of the schema and creates nothing: reads
//! must not make a store of a mistyped path, and a command that writes has
//! nothing to do in a store that is not there. `migrate` is the one command
//! that creates a store or migrates an older one.
//!
//! Table cells are written as the audit line writes values (a value with a
//! space is quoted; control and invisible characters are escaped), so that no
//! value can break a table or disguise itself; JSON is written exactly.
//!
//! Exit codes:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done |
//! | 1 | the store failed (the message says how) |
//! | 2 | the command line is wrong, or names no store |
//! | 3 | no such envelope, or no such quarantined row |
//! | 4 | `verify` found rows that do not read back |
//! | 5 | a redrive was not confirmed |
//! | 6 | not a dead letter: `redrive` or `skip` of an envelope in another state, which the message names; nothing was changed |
//! | 7 | no store there (a missing SQLite file, a PostgreSQL schema without the store's tables); nothing was created |
//! | 8 | the store's schema is of another version: older (run `iap migrate`) or newer (use a newer `iap`); nothing was changed |

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!(
    "`iap` needs a store backend: build it with feature `sqlite`, `postgres`, or both (the default)"
);

mod args;
mod letters;
mod quarantine;
mod redrive;
mod show;
mod status;
mod stop;
mod table;
mod upkeep;

use std::process::ExitCode;

use clap::Parser;
use iap_store::{AnyStore, DeliveryStore, StoreOptions};
use integration_automation_patterns::AnyEnvelope;
use serde_json::Value;

use args::{Cli, Command};
use redrive::Redrive;
use stop::Stop;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(stop) => {
            let (code, message) = stop.report();
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
    match &cli.command {
        Command::Redrive {
            all: false,
            filter,
            limit,
            batch,
            ..
        } if !filter.is_empty() || limit.is_some() || batch.is_some() => {
            return Err(Stop::Usage(
                "--type, --source-system, --older-than, --limit and --batch go with --all".into(),
            ));
        }
        _ => {}
    }
    if !location.starts_with("sqlite:") && !location.contains('=') && !location.contains("://") {
        return Err(Stop::Usage(format!(
            "--store {location:?} names no store: write sqlite:PATH for an SQLite file, or a PostgreSQL connection string (postgres://... or host=... dbname=...)"
        )));
    }
    // Every command but `migrate` works on a store that is there already.
    let mut store = match &cli.command {
        Command::Migrate => return upkeep::migrate(location, cli.json),
        _ => AnyStore::open_existing(location, StoreOptions::default())?,
    };
    // The store's clock: the one that wrote the times the filters compare.
    let now = store.now()?;
    match &cli.command {
        Command::Status => status::status(&mut store, now, cli.json),
        Command::DeadLetters { filter, limit } => {
            letters::list(&mut store, &filter.at(now), *limit, cli.json)
        }
        Command::Show { source, id } => {
            let envelope: AnyEnvelope<Value> = store.load_any(source, id)?;
            show::show(&envelope, cli.json)
        }
        Command::Redrive {
            source,
            id,
            all,
            filter,
            limit,
            batch,
            reason,
            yes,
        } => {
            let redrive = Redrive {
                reason,
                yes: *yes,
                as_json: cli.json,
                now,
            };
            match (source.as_deref().zip(id.as_deref()), *all) {
                (Some((source, id)), false) => {
                    redrive::redrive_one(&mut store, source, id, &redrive)
                }
                (None, true) => redrive::redrive_all(
                    &mut store,
                    &filter.at(now),
                    *limit,
                    batch.unwrap_or(redrive::BATCH),
                    &redrive,
                ),
                _ => Err(Stop::Usage(
                    "name one dead letter (SOURCE ID) or pass --all".into(),
                )),
            }
        }
        Command::Held { limit } => quarantine::held(&mut store, *limit, cli.json),
        Command::Skip { source, id, reason } => {
            redrive::skip(&mut store, source, id, reason, now, cli.json)
        }
        Command::Purge => upkeep::purge(&mut store, now, cli.json),
        Command::Quarantine { action } => quarantine::quarantine(&mut store, action, now, cli.json),
        // Answered above, before a store is opened.
        Command::Migrate => Ok(()),
        Command::Verify => upkeep::verify(&mut store, cli.json),
    }
}
