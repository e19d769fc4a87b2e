//! `#[derive(SyncRecord)]` for `integration-automation-patterns`: use it
//! through the core crate's `derive` feature, as
//! `integration_automation_patterns::sync::SyncRecord`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod expand;
mod model;
mod names;

use proc_macro::TokenStream;

/// Derives `SyncRecord` for a struct whose fields are the synced fields of
/// one record type shared by two systems.
///
/// On the struct, `#[sync(record_type = "..", a = "..", b = "..")]` names the
/// record type and the two systems. Each field states its authority, once:
///
/// | attribute | the field is |
/// |---|---|
/// | `#[sync(owner = "crm")]` | owned by the system named (`a` or `b`): its changes flow to the other, the other's are reverted |
/// | `#[sync(shared)]` | changed by either; a conflict goes to the last writer |
/// | `#[sync(manual)]` | changed only after a person decides |
/// | `#[sync(exclude)]` | never synced |
///
/// and may say how its values compare: `compare = "meaning"` (the default),
/// `"case_insensitive"`, `"trimmed"`, `"trimmed_case_insensitive"` or
/// `"tolerance(0.01)"`. A synced field's type implements `SyncValue`, and
/// every field's type `Serialize` and `Deserialize` (for the string-keyed
/// forms); an excluded field's type also `Default` (what it is when a
/// system's JSON lacks it).
///
/// A mistake in the attributes is a compile error at the attribute: a field
/// without an authority, an unknown authority or comparison, two
/// authorities, an owner that is neither system, a comparison on an excluded
/// field, no synced field.
///
/// # What it writes
///
/// For `Contact` between `crm` and `erp` (the README's example), the
/// companion types `ContactModifiedAt`, `ContactBase`, `ContactDecisions`,
/// `ContactField`, `ContactCrmPatch` and `ContactErpPatch`, and the
/// `SyncRecord` impl. This is the macro's output, formatted (a test keeps it
/// equal):
///
#[doc = concat!("```ignore\n", include_str!("../expansion/contact.rs"), "```")]
#[proc_macro_derive(SyncRecord, attributes(sync))]
pub fn derive_sync_record(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    match model::read(&input) {
        Ok(record) => expand::expand(&record).into(),
        Err(errors) => errors.to_compile_error().into(),
    }
}

#[cfg(test)]
mod expansion;
