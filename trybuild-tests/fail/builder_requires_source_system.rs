//! Rule: an envelope cannot be built without its source system.
use integration_automation_patterns::Envelope;

fn main() {
    let _ = Envelope::builder()
        .event_id("evt-1")
        .event_type("crm.contact.updated")
        .payload(serde_json::json!({}))
        .build();
}
