//! Rule: a field has one authority.
use integration_automation_patterns::sync::SyncRecord;

#[derive(SyncRecord, Clone)]
#[sync(record_type = "contact", a = "crm", b = "erp")]
struct Contact {
    #[sync(owner = "crm")]
    #[sync(owner = "erp")]
    email: String,
}

fn main() {}
