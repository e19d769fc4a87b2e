//! A payload of any type travels through the lifecycle; the builder infers it.
use integration_automation_patterns::state::Processed;
use integration_automation_patterns::Envelope;

struct InvoiceCreated {
    invoice_id: u64,
}

fn main() {
    let envelope = Envelope::builder()
        .payload(InvoiceCreated { invoice_id: 7 })
        .source_system("erp")
        .event_type("erp.invoice.created")
        .event_id("evt-7")
        .build()
        .unwrap();
    let processed: Envelope<Processed, InvoiceCreated> = envelope.dispatch().process();
    assert_eq!(processed.payload().invoice_id, 7);
}
