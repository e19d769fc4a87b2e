//! Rule: each required part of an envelope is set exactly once.
use integration_automation_patterns::Envelope;

fn main() {
    let _ = Envelope::builder()
        .event_id("evt-1")
        .event_type("crm.contact.updated")
        .event_id("evt-2");
}
