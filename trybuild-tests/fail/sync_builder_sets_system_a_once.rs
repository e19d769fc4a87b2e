//! Rule: each system of a sync boundary is named exactly once.
use integration_automation_patterns::SyncBoundary;

fn main() {
    let _ = SyncBoundary::builder()
        .record_type("contact")
        .system_a("crm")
        .system_a("erp");
}
