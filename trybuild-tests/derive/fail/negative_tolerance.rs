//! Rule: a tolerance is a finite number, not negative.
use integration_automation_patterns::sync::SyncRecord;

#[derive(SyncRecord, Clone)]
#[sync(record_type = "contact", a = "crm", b = "erp")]
struct Contact {
    #[sync(owner = "erp", compare = "tolerance(-0.01)")]
    credit_limit: f64,
}

fn main() {}
