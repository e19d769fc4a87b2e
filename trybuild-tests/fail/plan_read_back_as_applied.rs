//! Rule: a stored plan reads back not applied; only the code that writes a
//! patch records it.
use integration_automation_patterns::sync::ReconcilePlan;
use integration_automation_patterns::sync::applied::Applied;

fn main() {
    let stored = r#"{"record_id": "contact-42", "decisions": [], "unmapped": []}"#;
    let _: ReconcilePlan<i64, Applied, Applied> = serde_json::from_str(stored).unwrap();
}
