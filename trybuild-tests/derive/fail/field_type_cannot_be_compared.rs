//! Rule: a synced field's values can be compared (its type is a `SyncValue`).
use integration_automation_patterns::sync::SyncRecord;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Address {
    street: String,
}

#[derive(SyncRecord, Serialize, Deserialize, Clone)]
#[sync(record_type = "contact", a = "crm", b = "erp")]
struct Contact {
    #[sync(owner = "crm")]
    email: String,
    #[sync(owner = "erp")]
    billing_address: Address,
}

fn main() {}
