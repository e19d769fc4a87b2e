//! Rule: a typed boundary is for a type that derives `SyncRecord`.
use integration_automation_patterns::sync::TypedBoundary;

#[derive(Clone)]
struct Contact {
    email: String,
}

fn main() {
    let _ = TypedBoundary::<Contact>::new();
}
