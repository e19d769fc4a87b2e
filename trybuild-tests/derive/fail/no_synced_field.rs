//! Rule: a record syncs at least one field.
use integration_automation_patterns::sync::SyncRecord;

#[derive(SyncRecord, Clone)]
#[sync(record_type = "contact", a = "crm", b = "erp")]
struct Contact {
    #[sync(exclude)]
    internal_notes: String,
}

fn main() {}
