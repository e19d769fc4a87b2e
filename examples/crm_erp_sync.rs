//! Reconciling 300 contacts between a CRM and an ERP, through a typed record.
//!
//! `Contact` says which system owns each field; the derive makes each
//! system's patch a type without the fields that system owns, so this job
//! cannot write the ERP's value into a field the CRM owns.
//!
//! Both systems start in sync. Then a day of work happens on both sides: the
//! CRM updates e-mail addresses (it owns them), the ERP updates credit limits
//! (it owns them), both edit the shared phone number, an ERP clerk edits some
//! e-mail addresses by hand, sales edits the manually governed segment, the
//! ERP clears a billing address, and a new CRM field appears. The job reads
//! each contact's JSON from both systems' APIs, plans it through the typed
//! path, lets a manager approve the segment changes, checks the batch guard,
//! writes each side's patch, stores the bases, prints the summary and the
//! review queue, and runs again to show that the systems have settled.
//!
//! Run with `cargo run --example crm_erp_sync --features derive`.

use std::collections::BTreeMap;
use std::error::Error;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use integration_automation_patterns::Side;
use integration_automation_patterns::sync::{
    Base, Change, GuardLimits, Patch, Record, RecordPatch, SyncRecord, TypedBatchPlan,
    TypedBoundary, TypedPlan, Versioned,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(SyncRecord, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[sync(record_type = "contact", a = "crm", b = "erp")]
struct Contact {
    #[sync(owner = "crm", compare = "trimmed_case_insensitive")]
    email: String,
    #[sync(owner = "crm")]
    name: String,
    #[sync(owner = "erp", compare = "tolerance(0.01)")]
    credit_limit: f64,
    #[sync(owner = "erp")]
    billing_address: Option<String>,
    #[sync(shared)]
    phone: Option<String>,
    #[sync(manual)]
    segment: String,
    #[sync(exclude)]
    internal_notes: String,
    #[sync(exclude)]
    erp_ledger_id: Option<u64>,
}

const CONTACTS: usize = 300;
/// How many review items to print.
const SHOWN: usize = 6;

/// One system's API: each record as the JSON it returns, by id.
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

    /// What the system does with a patch sent to its API.
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

/// Plans every contact from the two systems' JSON and the stored bases.
fn plan_all(
    boundary: &TypedBoundary<Contact>,
    bases: &BTreeMap<String, Base>,
    crm: &System,
    erp: &System,
    now: DateTime<Utc>,
) -> Result<Vec<TypedPlan<Contact>>, Box<dyn Error>> {
    let none = Record::new();
    let mut plans = Vec::with_capacity(bases.len());
    for (id, base) in bases {
        let crm_copy = crm.records.get(id).unwrap_or(&none);
        let erp_copy = erp.records.get(id).unwrap_or(&none);
        plans.push(boundary.reconcile_records(id, crm_copy, erp_copy, base, now)?);
    }
    Ok(plans)
}

fn main() -> Result<(), Box<dyn Error>> {
    let boundary = TypedBoundary::<Contact>::new()
        .review_overrides_from(Side::B)
        .max_clock_skew(Duration::from_secs(5));

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
    erp.set("contact-299", "billing_address", json!(null), at(150));
    crm.set("contact-000", "lead_score", json!(87), at(150));

    // The sync job.
    let now = at(8 * 60);
    let mut plans = plan_all(&boundary, &bases, &crm, &erp, now)?;

    // Sales' manager approves every segment the CRM changed: the CRM's value
    // wins, and only the ERP's patch gains the field.
    let mut approved = 0;
    for plan in &mut plans {
        let crm_changed_segment = plan.decisions().segment.a.as_ref().map(|a| &a.value)
            != plan.decisions().segment.base.as_ref();
        if plan.review_fields().contains(&"segment") && crm_changed_segment {
            plan.keep(Side::A, ContactField::Segment)?;
            approved += 1;
        }
    }

    let batch = TypedBatchPlan::from_plans(plans);
    batch.guard(GuardLimits::default())?;
    let counts = batch.counts();
    println!("{} contacts, {} field decisions", CONTACTS, counts.total());
    println!("  nothing to do   {:>5}", counts.nothing);
    println!("  converged       {:>5}", counts.converged);
    println!("  propagated      {:>5}", counts.propagate);
    println!(
        "  overwritten     {:>5}   (the replaced values are kept in the plan; {approved} by a manager's decision)",
        counts.overwrite
    );
    println!("  to review       {:>5}", counts.review);
    println!("  unmapped fields {:>5}", counts.unmapped);

    let mut queue = Vec::new();
    for plan in batch.plans() {
        let plan = plan.to_plan()?;
        queue.extend(
            plan.review_items()
                .map(|item| (plan.record_id().to_owned(), item.clone())),
        );
    }
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
                boundary.boundary().system(unmapped.side)
            );
        }
    }

    // Write each side's patch through its API, then store the new bases.
    for plan in batch.plans() {
        crm.apply(plan.record_id(), &plan.patch_a().to_patch()?, now);
    }
    let batch = batch.applied_a();
    for plan in batch.plans() {
        erp.apply(plan.record_id(), &plan.patch_b().to_patch()?, now);
    }
    for (id, base) in batch.applied_b().new_bases() {
        bases.insert(id, Contact::base_to_json(&base)?);
    }

    let second = TypedBatchPlan::from_plans(plan_all(
        &boundary,
        &bases,
        &crm,
        &erp,
        now + TimeDelta::minutes(5),
    )?);
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
