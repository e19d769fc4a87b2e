//! Rule: the struct names the record type and both systems.
use integration_automation_patterns::sync::SyncRecord;

#[derive(SyncRecord, Clone)]
#[sync(record_type = "contact", a = "crm")]
struct Contact {
    #[sync(owner = "crm")]
    email: String,
}

fn main() {}
