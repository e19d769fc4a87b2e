//! Rule: every field states its authority.
use integration_automation_patterns::sync::SyncRecord;

#[derive(SyncRecord, Clone)]
#[sync(record_type = "contact", a = "crm", b = "erp")]
struct Contact {
    #[sync(owner = "crm")]
    email: String,
    phone: String,
}

fn main() {}
