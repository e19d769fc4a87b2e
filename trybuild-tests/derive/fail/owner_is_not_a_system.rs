//! Rule: a field's owner is one of the record's two systems.
use integration_automation_patterns::sync::SyncRecord;

#[derive(SyncRecord, Clone)]
#[sync(record_type = "contact", a = "crm", b = "erp")]
struct Contact {
    #[sync(owner = "crn")]
    email: String,
}

fn main() {}
