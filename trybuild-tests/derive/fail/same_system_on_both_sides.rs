//! Rule: a record is synced between two different systems.
use integration_automation_patterns::sync::SyncRecord;

#[derive(SyncRecord, Clone)]
#[sync(record_type = "contact", a = "crm", b = "crm")]
struct Contact {
    #[sync(shared)]
    email: String,
}

fn main() {}
