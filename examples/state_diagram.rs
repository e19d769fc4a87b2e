//! Prints the envelope's lifecycle, drawn from the transition table: as a
//! Mermaid state diagram (the default) or as Graphviz DOT.
//!
//! ```sh
//! cargo run --example state_diagram             # Mermaid
//! cargo run --example state_diagram -- dot | dot -Tsvg > lifecycle.svg
//! ```

use std::process::ExitCode;

use integration_automation_patterns::DeliveryStatus;

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        None | Some("mermaid") => print!("{}", DeliveryStatus::mermaid_diagram()),
        Some("dot") => print!("{}", DeliveryStatus::dot_diagram()),
        Some(other) => {
            eprintln!("unknown format {other:?}: say `mermaid` or `dot`");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
