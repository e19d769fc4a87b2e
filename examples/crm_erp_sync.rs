//! Reconciling 300 contacts between a CRM and an ERP held in memory.
//!
//! Both systems start in sync. Then a day of work happens on both sides: the
//! CRM updates e-mail addresses (it owns them), the ERP updates credit limits
//! (it owns them), both edit the shared phone number, an ERP clerk edits some
//! e-mail addresses by hand, sales edits the manually governed segment, a
//! contact is deleted in the ERP, and a new CRM field appears. The sync job
//! plans the batch, checks the guard, applies the patches, prints the summary
//! and the review queue, and runs again to show that the systems have settled.
//!
//! Run with `cargo run --example crm_erp_sync`.

use std::collections::BTreeMap;
use std::error::Error;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use integration_automation_patterns::sync::{
    Base, Change, GuardLimits, Patch, Record, RecordSnapshot, Versioned,
};
use integration_automation_patterns::{RecordAuthority, Side, SyncBoundary};
use serde_json::json;

const CONTACTS: usize = 300;
/// How many review items to print.
const SHOWN: usize = 9;

/// One system's records, by id.
#[derive(Default)]
struct System {
    records: BTreeMap<String, Record>,
}

impl System {
    fn set(&mut self, id: &str, field: &str, value: serde_json::Value, at: DateTime<Utc>) {
        self.records
            .entry(id.to_owned())
            .or_default()
            .insert(field.to_owned(), Versioned::at(value, at));
    }

    fn apply(&mut self, id: &str, patch: &Patch, at: DateTime<Utc>) {
        let record = self.records.entry(id.to_owned()).or_default();
        for (field, change) in patch {
            match change {
                Change::Set(value) => {
                    record.insert(field.clone(), Versioned::at(value.clone(), at));
                }
                Change::Remove => {
                    record.remove(field);
                }
            }
        }
    }
}

/// Each record's two copies and its base, as the sync job reads them.
fn snapshots(bases: &BTreeMap<String, Base>, crm: &System, erp: &System) -> Vec<RecordSnapshot> {
    bases
        .iter()
        .map(|(id, base)| RecordSnapshot {
            record_id: id.clone(),
            a: crm.records.get(id).cloned().unwrap_or_default(),
            b: erp.records.get(id).cloned().unwrap_or_default(),
            base: base.clone(),
        })
        .collect()
}

fn main() -> Result<(), Box<dyn Error>> {
    let boundary = SyncBoundary::builder()
        .record_type("contact")
        .system_a("crm")
        .system_b("erp")
        .field("email", RecordAuthority::SystemA)
        .field("name", RecordAuthority::SystemA)
        .field("credit_limit", RecordAuthority::SystemB)
        .field("billing_address", RecordAuthority::SystemB)
        .field("phone", RecordAuthority::Shared)
        .field("segment", RecordAuthority::Manual)
        .exclude("internal_notes")
        .exclude("erp_ledger_id")
        .review_overrides_from(Side::B)
        .max_clock_skew(Duration::from_secs(5))
        .build()?;

    let morning = Utc
        .with_ymd_and_hms(2026, 3, 2, 8, 0, 0)
        .single()
        .ok_or("bad time")?;
    let at = |minutes: i64| morning + TimeDelta::minutes(minutes);
    let (mut crm, mut erp) = (System::default(), System::default());
    let mut bases: BTreeMap<String, Base> = BTreeMap::new();

    // Yesterday's state: both systems agree, and the base records it.
    for n in 0..CONTACTS {
        let id = format!("contact-{n:03}");
        let fields = [
            ("email", json!(format!("person{n}@example.com"))),
            ("name", json!(format!("Person {n}"))),
            ("credit_limit", json!(1000 + 100 * (n % 7))),
            ("billing_address", json!(format!("{n} Market Street"))),
            ("phone", json!(format!("+1 555 01{n:02}"))),
            ("segment", json!(["smb", "mid", "enterprise"][n % 3])),
        ];
        for (field, value) in fields {
            crm.set(&id, field, value.clone(), at(-24 * 60));
            erp.set(&id, field, value.clone(), at(-24 * 60));
            bases
                .entry(id.clone())
                .or_default()
                .insert(field.to_owned(), value);
        }
        crm.set(
            &id,
            "internal_notes",
            json!("met at the fair"),
            at(-24 * 60),
        );
        erp.set(&id, "erp_ledger_id", json!(40_000 + n), at(-24 * 60));
    }

    // Today's work.
    for n in 0..CONTACTS {
        let id = format!("contact-{n:03}");
        match n % 20 {
            0 => crm.set(&id, "email", json!(format!("p{n}@new.example.com")), at(30)),
            1 => erp.set(&id, "credit_limit", json!(5000), at(45)),
            2 => crm.set(&id, "phone", json!(format!("+1 555 99{n:02}")), at(60)),
            3 => {
                crm.set(&id, "phone", json!("+1 555 1111"), at(70));
                erp.set(&id, "phone", json!("+1 555 2222"), at(95));
            }
            4 => {
                crm.set(&id, "phone", json!("+1 555 3333"), at(100));
                erp.set(
                    &id,
                    "phone",
                    json!("+1 555 4444"),
                    at(100) + TimeDelta::seconds(2),
                );
            }
            5 => erp.set(&id, "email", json!(format!("typo{n}@exmaple.com")), at(120)),
            6 => crm.set(&id, "segment", json!("strategic"), at(130)),
            7 => crm.set(&id, "name", json!(format!("Dr. Person {n}")), at(140)),
            _ => {}
        }
    }
    let retired = "contact-299";
    erp.records
        .entry(retired.to_owned())
        .or_default()
        .remove("billing_address");
    crm.set("contact-000", "lead_score", json!(87), at(150));

    // The sync job.
    let now = at(8 * 60);
    let batch = boundary.reconcile_batch_at(&snapshots(&bases, &crm, &erp), now);
    batch.guard(GuardLimits::default())?;

    let counts = batch.counts();
    println!("{} contacts, {} field decisions", CONTACTS, counts.total());
    println!("  nothing to do   {:>5}", counts.nothing);
    println!("  converged       {:>5}", counts.converged);
    println!("  propagated      {:>5}", counts.propagate);
    println!(
        "  overwritten     {:>5}   (the replaced values are kept in the plan)",
        counts.overwrite
    );
    println!("  to review       {:>5}", counts.review);
    println!("  deletes         {:>5}", counts.deletes);
    println!("  unmapped fields {:>5}", counts.unmapped);

    let queue: Vec<_> = batch
        .plans()
        .iter()
        .flat_map(|plan| {
            plan.review_items()
                .map(move |item| (plan.record_id(), item))
        })
        .collect();
    println!(
        "\nreview queue ({} items, the first {} shown):",
        queue.len(),
        SHOWN.min(queue.len())
    );
    let value =
        |side: Option<&Versioned>| side.map_or("(absent)".to_owned(), |v| v.value.to_string());
    for (record_id, item) in queue.iter().take(SHOWN) {
        println!(
            "  {record_id:<12} {:<8} crm={:<24} erp={:<24} {:?}",
            item.field,
            value(item.a.as_ref()),
            value(item.b.as_ref()),
            item.decision
        );
    }
    println!("\nschema drift:");
    for plan in batch.plans() {
        for unmapped in plan.unmapped_fields() {
            println!(
                "  {} has `{}` in {}",
                plan.record_id(),
                unmapped.field,
                boundary.system(unmapped.side)
            );
        }
    }

    // Apply the plans, store the new bases, and reconcile again.
    for plan in batch.plans() {
        crm.apply(plan.record_id(), &plan.patch_a(), now);
    }
    let batch = batch.applied_a();
    for plan in batch.plans() {
        erp.apply(plan.record_id(), &plan.patch_b(), now);
    }
    bases.extend(batch.applied_b().new_bases());
    let second =
        boundary.reconcile_batch_at(&snapshots(&bases, &crm, &erp), now + TimeDelta::minutes(5));
    let unsettled = second
        .plans()
        .iter()
        .filter(|plan| !plan.is_settled())
        .count();
    println!(
        "\nsecond run: {} records with something to apply, {} items still waiting for review",
        unsettled,
        second.counts().review
    );
    if unsettled != 0 || second.counts().review != counts.review {
        return Err("the second run is not settled: the plan echoes".into());
    }
    Ok(())
}
