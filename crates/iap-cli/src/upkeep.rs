//! `iap purge`, `iap migrate` and `iap verify`: retention, the schema, and
//! a consistency check.

use chrono::{DateTime, Utc};
use iap_store::{AnyStore, DeliveryStore, StoreError, StoreOptions};
use serde_json::json;

use crate::stop::Stop;
use crate::table::emit;

/// Forgets old inbox keys and deletes envelopes settled past retention.
pub(crate) fn purge(store: &mut AnyStore, now: DateTime<Utc>, as_json: bool) -> Result<(), Stop> {
    let keys = store.purge_inbox(now)?;
    let envelopes = store.purge_delivered(now)?;
    emit(
        as_json,
        &json!({ "purged_inbox_keys": keys, "purged_envelopes": envelopes }),
        &format!("forgot {keys} inbox keys; deleted {envelopes} delivered envelopes"),
    );
    Ok(())
}

/// Creates the store at `location` where there is none, or migrates an
/// older schema, and says which it did.
pub(crate) fn migrate(location: &str, as_json: bool) -> Result<(), Stop> {
    let found = match AnyStore::open_existing(location, StoreOptions::default()) {
        Ok(_) => {
            emit(
                as_json,
                &json!({ "created": false, "migrated_from": null }),
                "the store's schema is at this version already",
            );
            return Ok(());
        }
        Err(StoreError::NoStore { .. }) => None,
        Err(StoreError::SchemaTooOld { found, .. }) => Some(found),
        Err(other) => return Err(other.into()),
    };
    AnyStore::open(location, StoreOptions::default())?;
    match found {
        None => emit(
            as_json,
            &json!({ "created": true, "migrated_from": null }),
            "created the store",
        ),
        Some(version) => emit(
            as_json,
            &json!({ "created": false, "migrated_from": version }),
            &format!("migrated the store from schema version {version}"),
        ),
    }
    Ok(())
}

/// Checks every row; the rows that do not read back are named, and make the
/// exit code 4.
pub(crate) fn verify(store: &mut AnyStore, as_json: bool) -> Result<(), Stop> {
    let problems = store.verify()?;
    if as_json {
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
