//! Rule: a sync boundary cannot be built without system B.
use integration_automation_patterns::{RecordAuthority, SyncBoundary};

fn main() {
    let _ = SyncBoundary::builder()
        .record_type("contact")
        .system_a("crm")
        .field("email", RecordAuthority::SystemA)
        .build();
}
