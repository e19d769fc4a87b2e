//! The README's `Contact`, and a plan for it, for the compile tests.
#![allow(dead_code)]

use integration_automation_patterns::sync::{Stamped, SyncRecord, TypedBoundary, TypedPlan};
use serde::{Deserialize, Serialize};

#[derive(SyncRecord, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[sync(record_type = "contact", a = "crm", b = "erp")]
pub struct Contact {
    #[sync(owner = "crm", compare = "trimmed_case_insensitive")]
    pub email: String,
    #[sync(owner = "erp", compare = "tolerance(0.01)")]
    pub credit_limit: f64,
    #[sync(shared)]
    pub phone: Option<String>,
    #[sync(manual)]
    pub segment: String,
    #[sync(exclude)]
    pub internal_notes: String,
}

pub fn contact() -> Contact {
    Contact {
        email: "ada@example.com".into(),
        credit_limit: 1000.0,
        phone: None,
        segment: "smb".into(),
        internal_notes: String::new(),
    }
}

/// A plan for a contact whose segment the CRM changed.
pub fn plan() -> TypedPlan<Contact> {
    let crm = Contact {
        segment: "strategic".into(),
        ..contact()
    };
    TypedBoundary::<Contact>::new().reconcile(
        "contact-42",
        &Stamped::new(crm),
        &Stamped::new(contact()),
        &ContactBase::default(),
    )
}
