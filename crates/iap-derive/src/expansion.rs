//! The derive's output for the README's `Contact`, formatted, against
//! `expansion/contact.rs`, the page its documentation shows. Run with
//! `IAP_WRITE_EXPANSION=1` to rewrite the file after a deliberate change,
//! and read the difference.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Stdio};

const INPUT: &str = r#"
#[derive(SyncRecord, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[sync(record_type = "contact", a = "crm", b = "erp")]
struct Contact {
    #[sync(owner = "crm", compare = "trimmed_case_insensitive")]
    email: String,
    #[sync(owner = "erp", compare = "tolerance(0.01)")]
    credit_limit: f64,
    #[sync(shared)]
    phone: Option<String>,
    #[sync(manual)]
    segment: String,
    #[sync(exclude)]
    internal_notes: String,
}
"#;

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/expansion/contact.rs");

fn formatted(code: &str) -> String {
    let mut rustfmt = Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    rustfmt
        .stdin
        .take()
        .unwrap()
        .write_all(code.as_bytes())
        .unwrap();
    let output = rustfmt.wait_with_output().unwrap();
    assert!(output.status.success(), "rustfmt refused the expansion");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_expansion_of_the_readme_example_is_the_documented_one() {
    let input: syn::DeriveInput = syn::parse_str(INPUT).unwrap();
    let record = crate::model::read(&input).unwrap();
    let expansion = formatted(&crate::expand::expand(&record).to_string());
    if std::env::var_os("IAP_WRITE_EXPANSION").is_some() {
        std::fs::write(FILE, &expansion).unwrap();
    }
    let documented = std::fs::read_to_string(FILE).unwrap();
    assert!(
        documented == expansion,
        "expansion/contact.rs differs from the derive's output; \
         rerun with IAP_WRITE_EXPANSION=1 and read the difference"
    );
}
