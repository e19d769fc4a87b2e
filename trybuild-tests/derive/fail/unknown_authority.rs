//! Rule: an authority is `owner = ".."`, `shared`, `manual` or `exclude`.
use integration_automation_patterns::sync::SyncRecord;

#[derive(SyncRecord, Clone)]
#[sync(record_type = "contact", a = "crm", b = "erp")]
struct Contact {
    #[sync(owned_by = "crm")]
    email: String,
}

fn main() {}
