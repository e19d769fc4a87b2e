//! Rule: a sync boundary cannot be built without its record type.
use integration_automation_patterns::{RecordAuthority, SyncBoundary};

fn main() {
    let _ = SyncBoundary::builder()
        .system_a("crm")
        .system_b("erp")
        .field("email", RecordAuthority::SystemA)
        .build();
}
