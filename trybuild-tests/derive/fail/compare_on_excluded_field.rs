//! Rule: an excluded field is never compared, so it takes no comparison.
use integration_automation_patterns::sync::SyncRecord;

#[derive(SyncRecord, Clone)]
#[sync(record_type = "contact", a = "crm", b = "erp")]
struct Contact {
    #[sync(owner = "crm")]
    email: String,
    #[sync(exclude, compare = "trimmed")]
    internal_notes: String,
}

fn main() {}
