//! The rules read from a struct's `#[sync(...)]` attributes, checked, each
//! mistake reported at the attribute or field that made it.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, LitStr, Type, Visibility};

/// A struct that derives `SyncRecord`, and its rules.
pub struct Record {
    pub ident: Ident,
    pub vis: Visibility,
    pub record_type: String,
    pub system_a: String,
    pub system_b: String,
    /// Every field, in declaration order.
    pub fields: Vec<Field>,
}

/// One field of the struct.
pub struct Field {
    pub ident: Ident,
    /// The name in a string-keyed record: the identifier without `r#`.
    pub name: String,
    pub ty: Type,
    /// `None` for an excluded field.
    pub sync: Option<(Authority, Compare)>,
}

/// Who owns a synced field.
#[derive(Clone, Copy, PartialEq)]
pub enum Authority {
    SystemA,
    SystemB,
    Shared,
    Manual,
}

/// How a field's values compare.
#[derive(Clone, Copy)]
pub enum Compare {
    Meaning,
    CaseInsensitive,
    Trimmed,
    TrimmedCaseInsensitive,
    Tolerance(f64),
}

const COMPARISONS: &str =
    "`meaning`, `case_insensitive`, `trimmed`, `trimmed_case_insensitive` or `tolerance(<number>)`";

impl Record {
    /// The synced fields, in declaration order, with their rules.
    pub fn synced(&self) -> impl Iterator<Item = (&Field, Authority, Compare)> {
        self.fields.iter().filter_map(|field| {
            let (authority, compare) = field.sync?;
            Some((field, authority, compare))
        })
    }

    /// The excluded fields, in declaration order.
    pub fn excluded(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|field| field.sync.is_none())
    }
}

/// Reads and checks the rules; every mistake found is reported, not only
/// the first.
pub fn read(input: &DeriveInput) -> syn::Result<Record> {
    let mut errors = Errors::default();
    if !input.generics.params.is_empty() {
        errors.push(syn::Error::new(
            input.generics.span(),
            "`SyncRecord` is derived for a struct without type, lifetime or const parameters",
        ));
    }
    let named = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => Some(named),
            _ => None,
        },
        _ => None,
    };
    let Some(named) = named else {
        return Err(syn::Error::new(
            input.ident.span(),
            "`SyncRecord` is derived for a struct with named fields: each field is a synced field of the record",
        ));
    };
    let names = record_names(input, &mut errors);
    let (system_a, system_b) = (names.system_a.clone(), names.system_b.clone());
    let mut fields = Vec::new();
    for field in &named.named {
        let Some(ident) = field.ident.clone() else {
            continue;
        };
        if let Some(sync) = field_rules(&ident, field, &names, &mut errors) {
            fields.push(Field {
                name: ident.to_string().trim_start_matches("r#").to_owned(),
                ident,
                ty: field.ty.clone(),
                sync,
            });
        }
    }
    let record = Record {
        ident: input.ident.clone(),
        vis: input.vis.clone(),
        record_type: names.record_type,
        system_a: system_a.unwrap_or_default(),
        system_b: system_b.unwrap_or_default(),
        fields,
    };
    if errors.is_empty() && record.synced().next().is_none() {
        errors.push(syn::Error::new(
            input.ident.span(),
            format!(
                "`{}` syncs no field: give at least one field `#[sync(owner = \"..\")]`, `#[sync(shared)]` or `#[sync(manual)]`",
                input.ident
            ),
        ));
    }
    errors.finish(record)
}

/// The struct's `#[sync(record_type = "..", a = "..", b = "..")]`.
struct Names {
    record_type: String,
    system_a: Option<String>,
    system_b: Option<String>,
}

fn record_names(input: &DeriveInput, errors: &mut Errors) -> Names {
    let mut record_type = None;
    let mut system_a = None;
    let mut system_b = None;
    let mut seen = false;
    for attribute in input.attrs.iter().filter(|a| a.path().is_ident("sync")) {
        seen = true;
        let parsed = attribute.parse_nested_meta(|meta| {
            let slot = if meta.path.is_ident("record_type") {
                &mut record_type
            } else if meta.path.is_ident("a") {
                &mut system_a
            } else if meta.path.is_ident("b") {
                &mut system_b
            } else {
                return Err(meta.error(
                    "unknown key; the struct's `#[sync(...)]` takes `record_type = \"..\"`, `a = \"..\"` and `b = \"..\"`",
                ));
            };
            let value: LitStr = meta.value()?.parse()?;
            if slot.is_some() {
                return Err(meta.error("this name is given twice; give it once"));
            }
            if value.value().is_empty() {
                return Err(syn::Error::new(value.span(), "a name must not be empty"));
            }
            *slot = Some((value.value(), value.span()));
            Ok(())
        });
        errors.add(parsed);
    }
    let usage = "#[sync(record_type = \"contact\", a = \"crm\", b = \"erp\")]";
    if !seen {
        errors.push(syn::Error::new(
            input.ident.span(),
            format!("`SyncRecord` needs the record type and its two systems: add `{usage}` to the struct"),
        ));
    }
    for (slot, key, what) in [
        (&record_type, "record_type", "the record type"),
        (&system_a, "a", "system A"),
        (&system_b, "b", "system B"),
    ] {
        if seen && slot.is_none() {
            errors.push(syn::Error::new(
                input.ident.span(),
                format!("`{key} = \"..\"` is missing: name {what} in `{usage}`"),
            ));
        }
    }
    if let (Some((a, _)), Some((b, span))) = (&system_a, &system_b)
        && a == b
    {
        errors.push(syn::Error::new(
            *span,
            format!("systems a and b are both `{a}`; a boundary connects two different systems"),
        ));
    }
    if let (Some((a, _)), Some((b, span))) = (&system_a, &system_b)
        && a != b
        && crate::names::camel(a) == crate::names::camel(b)
    {
        errors.push(syn::Error::new(
            *span,
            format!(
                "systems `{a}` and `{b}` would give their patches one type name, `{}Patch`; name them apart",
                crate::names::camel(a)
            ),
        ));
    }
    Names {
        record_type: record_type.map(|(name, _)| name).unwrap_or_default(),
        system_a: system_a.map(|(name, _)| name),
        system_b: system_b.map(|(name, _)| name),
    }
}

/// A field's authority and comparison (`None` if it is excluded), from its
/// `#[sync(...)]` attributes; `None` after an error.
fn field_rules(
    ident: &Ident,
    field: &syn::Field,
    names: &Names,
    errors: &mut Errors,
) -> Option<Option<(Authority, Compare)>> {
    let mut authority: Option<(Option<Authority>, Span)> = None;
    let mut compare: Option<(Compare, Span)> = None;
    let mut failed = false;
    for attribute in field.attrs.iter().filter(|a| a.path().is_ident("sync")) {
        let parsed = attribute.parse_nested_meta(|meta| {
            let span = meta.path.span();
            if meta.path.is_ident("compare") {
                let value: LitStr = meta.value()?.parse()?;
                if compare.is_some() {
                    return Err(meta.error(format!("field `{ident}` has two comparisons; give it one")));
                }
                compare = Some((comparison(&value)?, span));
                return Ok(());
            }
            let stated = if meta.path.is_ident("owner") {
                let value: LitStr = meta.value()?.parse()?;
                Some(owner(&value, names)?)
            } else if meta.path.is_ident("shared") {
                Some(Authority::Shared)
            } else if meta.path.is_ident("manual") {
                Some(Authority::Manual)
            } else if meta.path.is_ident("exclude") {
                None
            } else {
                return Err(meta.error(format!(
                    "unknown authority; a field is `owner = \"{}\"`, `owner = \"{}\"`, `shared`, `manual` or `exclude`, and may have `compare = \"..\"`",
                    names.system_a.as_deref().unwrap_or("<a>"),
                    names.system_b.as_deref().unwrap_or("<b>"),
                )));
            };
            if authority.is_some() {
                return Err(meta.error(format!(
                    "field `{ident}` already states its authority; a field has one owner (or is shared, manual or excluded)"
                )));
            }
            authority = Some((stated, span));
            Ok(())
        });
        if let Err(error) = parsed {
            failed = true;
            errors.push(error);
        }
    }
    if failed {
        return None;
    }
    let Some((authority, _)) = authority else {
        errors.push(syn::Error::new(
            ident.span(),
            format!(
                "field `{ident}` states no authority: add `#[sync(owner = \"{}\")]`, `#[sync(owner = \"{}\")]`, `#[sync(shared)]`, `#[sync(manual)]` or `#[sync(exclude)]`",
                names.system_a.as_deref().unwrap_or("<a>"),
                names.system_b.as_deref().unwrap_or("<b>"),
            ),
        ));
        return None;
    };
    match (authority, compare) {
        (None, Some((_, span))) => {
            errors.push(syn::Error::new(
                span,
                format!(
                    "field `{ident}` is excluded, so its values are never compared; remove `compare`"
                ),
            ));
            None
        }
        (None, None) => Some(None),
        (Some(authority), compare) => Some(Some((
            authority,
            compare.map_or(Compare::Meaning, |(compare, _)| compare),
        ))),
    }
}

/// `owner = ".."`: one of the two systems.
fn owner(value: &LitStr, names: &Names) -> syn::Result<Authority> {
    let name = value.value();
    if names.system_a.as_deref() == Some(name.as_str()) {
        Ok(Authority::SystemA)
    } else if names.system_b.as_deref() == Some(name.as_str()) {
        Ok(Authority::SystemB)
    } else {
        Err(syn::Error::new(
            value.span(),
            format!(
                "`{name}` is not a system of this record: the owner is `{}` (a) or `{}` (b)",
                names.system_a.as_deref().unwrap_or("<a>"),
                names.system_b.as_deref().unwrap_or("<b>"),
            ),
        ))
    }
}

/// `compare = ".."`.
fn comparison(value: &LitStr) -> syn::Result<Compare> {
    let text = value.value();
    let compare = match text.as_str() {
        "meaning" => Compare::Meaning,
        "case_insensitive" => Compare::CaseInsensitive,
        "trimmed" => Compare::Trimmed,
        "trimmed_case_insensitive" => Compare::TrimmedCaseInsensitive,
        other => {
            let tolerance = other
                .strip_prefix("tolerance(")
                .and_then(|rest| rest.strip_suffix(')'));
            let Some(tolerance) = tolerance else {
                return Err(syn::Error::new(
                    value.span(),
                    format!("unknown comparison `{other}`; expected {COMPARISONS}"),
                ));
            };
            match tolerance.trim().parse::<f64>() {
                Ok(tolerance) if tolerance.is_finite() && tolerance >= 0.0 => {
                    Compare::Tolerance(tolerance)
                }
                _ => {
                    return Err(syn::Error::new(
                        value.span(),
                        format!(
                            "`{}` is no tolerance: give a finite number, not negative, as in `tolerance(0.01)`",
                            tolerance.trim()
                        ),
                    ));
                }
            }
        }
    };
    Ok(compare)
}

/// Every error found, reported together.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn add(&mut self, result: syn::Result<()>) {
        if let Err(error) = result {
            self.push(error);
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    fn finish<T>(self, value: T) -> syn::Result<T> {
        match self.0 {
            Some(errors) => Err(errors),
            None => Ok(value),
        }
    }
}
