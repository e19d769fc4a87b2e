//! The names of the types the derive writes.

use proc_macro2::Span;
use syn::Ident;

/// A system's name as part of a type name: each run of letters and digits
/// with its first letter upper-cased (`crm` → `Crm`, `sales-force` →
/// `SalesForce`), after `System` if it would start with a digit.
pub fn camel(system: &str) -> String {
    let camel: String = system
        .split(|c: char| !c.is_ascii_alphanumeric())
        .flat_map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars))
                .into_iter()
                .flatten()
        })
        .collect();
    if camel.starts_with(|c: char| c.is_ascii_digit()) || camel.is_empty() {
        format!("System{camel}")
    } else {
        camel
    }
}

/// A field's name as an enum variant: `credit_limit` → `CreditLimit`.
pub fn variant(field: &str) -> Ident {
    Ident::new(&camel(field), Span::call_site())
}

/// `{record}{suffix}`, the name of a companion type.
pub fn companion(record: &Ident, suffix: &str) -> Ident {
    Ident::new(&format!("{record}{suffix}"), record.span())
}

#[cfg(test)]
mod tests {
    use super::camel;

    #[test]
    fn system_names_become_type_name_parts() {
        assert_eq!(camel("crm"), "Crm");
        assert_eq!(camel("sales-force"), "SalesForce");
        assert_eq!(camel("erp_v2"), "ErpV2");
        assert_eq!(camel("3pl"), "System3pl");
        assert_eq!(camel("credit_limit"), "CreditLimit");
    }
}
