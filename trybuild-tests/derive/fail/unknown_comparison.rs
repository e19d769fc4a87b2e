//! Rule: a comparison is one the sync knows.
use integration_automation_patterns::sync::SyncRecord;

#[derive(SyncRecord, Clone)]
#[sync(record_type = "contact", a = "crm", b = "erp")]
struct Contact {
    #[sync(owner = "crm", compare = "fuzzy")]
    email: String,
}

fn main() {}
