//! The code the derive writes: the companion types, and the `SyncRecord`
//! impl inside an unnamed constant.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::model::{Authority, Compare, Field, Record};
use crate::names::{camel, companion, variant};

/// The path every generated item reaches the core crate by.
fn core() -> TokenStream {
    quote!(::integration_automation_patterns::__derive)
}

/// Everything the derive writes for `record`.
pub fn expand(record: &Record) -> TokenStream {
    let sync = core();
    let ident = &record.ident;
    let vis = &record.vis;
    let (a, b) = (&record.system_a, &record.system_b);
    let modified_at = companion(ident, "ModifiedAt");
    let base = companion(ident, "Base");
    let decisions = companion(ident, "Decisions");
    let field_enum = companion(ident, "Field");
    let patch_a = companion(ident, &format!("{}Patch", camel(a)));
    let patch_b = companion(ident, &format!("{}Patch", camel(b)));

    let synced: Vec<&Field> = record.synced().map(|(field, ..)| field).collect();
    let excluded: Vec<&Field> = record.excluded().collect();
    let synced_idents: Vec<_> = synced.iter().map(|f| &f.ident).collect();
    let synced_names: Vec<_> = synced.iter().map(|f| &f.name).collect();
    let synced_types: Vec<_> = synced.iter().map(|f| &f.ty).collect();
    let excluded_idents: Vec<_> = excluded.iter().map(|f| &f.ident).collect();
    let excluded_names: Vec<_> = excluded.iter().map(|f| &f.name).collect();
    let variants: Vec<_> = synced.iter().map(|f| variant(&f.name)).collect();
    let field_docs = |text: fn(&str) -> String| -> Vec<String> {
        synced.iter().map(|field| text(&field.name)).collect()
    };
    let modified_at_docs = field_docs(|name| format!("When `{name}` last changed."));
    let base_docs = field_docs(|name| format!("`{name}` as last synced; `None` if never."));
    let decision_docs = field_docs(|name| format!("The decision for `{name}`."));
    let variant_docs = field_docs(|name| format!("`{name}`."));
    let positions: Vec<_> = (0..synced.len()).collect();
    let field_rules = record
        .synced()
        .map(|(field, authority, compare)| field_rules(field, authority, compare));
    let count = synced.len();
    let excluded_count = excluded.len();

    let decide = synced.iter().zip(&positions).map(|(field, position)| {
        let field_ident = &field.ident;
        // Spanned at the field's type, so that a type the sync cannot
        // compare is reported there.
        quote_spanned! {field.ty.span()=>
            #field_ident: sync::decide(
                boundary,
                &FIELDS[#position],
                &a.value.#field_ident,
                a.modified_at.#field_ident,
                &b.value.#field_ident,
                b.modified_at.#field_ident,
                base.#field_ident.as_ref(),
                now,
            )
        }
    });

    let docs = Docs::new(record);
    let patch_for_a = patch(
        record,
        &patch_a,
        a,
        Authority::SystemA,
        &docs.patch(a, Authority::SystemA),
    );
    let patch_for_b = patch(
        record,
        &patch_b,
        b,
        Authority::SystemB,
        &docs.patch(b, Authority::SystemB),
    );
    let receives_a = receiving(record, Authority::SystemA);
    let receives_b = receiving(record, Authority::SystemB);
    let (modified_at_doc, base_doc, decisions_doc, field_doc) =
        (&docs.modified_at, &docs.base, &docs.decisions, &docs.field);
    let record_type = &record.record_type;

    quote! {
        #[doc = #modified_at_doc]
        #[derive(Clone, Debug, Default, PartialEq)]
        #[allow(dead_code)]
        #vis struct #modified_at {
            #(
                #[doc = #modified_at_docs]
                pub #synced_idents: ::core::option::Option<#sync::DateTime<#sync::Utc>>,
            )*
        }

        #[doc = #base_doc]
        #[derive(Clone, Debug, Default, PartialEq)]
        #[allow(dead_code)]
        #vis struct #base {
            #(
                #[doc = #base_docs]
                pub #synced_idents: ::core::option::Option<#synced_types>,
            )*
        }

        #[doc = #decisions_doc]
        #[derive(Clone, Debug, PartialEq)]
        #[allow(dead_code)]
        #vis struct #decisions {
            #(
                #[doc = #decision_docs]
                pub #synced_idents: #sync::FieldDecision<#synced_types>,
            )*
        }

        #[doc = #field_doc]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(dead_code)]
        #vis enum #field_enum {
            #(
                #[doc = #variant_docs]
                #variants,
            )*
        }

        #[allow(dead_code)]
        impl #field_enum {
            /// The field's name in a string-keyed record.
            pub const fn name(self) -> &'static str {
                match self {
                    #( #field_enum::#variants => #synced_names, )*
                }
            }
        }

        #patch_for_a
        #patch_for_b

        const _: () = {
            use #sync as sync;

            const FIELDS: [sync::FieldRules; #count] = [#(#field_rules),*];
            const EXCLUDED: [&str; #excluded_count] = [#(#excluded_names),*];

            impl sync::ModifiedTimes for #modified_at {
                fn all_at(at: sync::DateTime<sync::Utc>) -> Self {
                    #modified_at {
                        #( #synced_idents: ::core::option::Option::Some(at), )*
                    }
                }
            }

            impl sync::SyncRecord for #ident {
                type ModifiedAt = #modified_at;
                type Base = #base;
                type Decisions = #decisions;
                type Field = #field_enum;
                type PatchA = #patch_a;
                type PatchB = #patch_b;

                const RULES: sync::RecordRules =
                    match sync::RecordRules::new(#record_type, #a, #b, &FIELDS, &EXCLUDED) {
                        ::core::result::Result::Ok(rules) => rules,
                        ::core::result::Result::Err(error) => ::core::panic!("{}", error.reason),
                    };

                fn to_record(
                    stamped: &sync::Stamped<Self>,
                ) -> ::core::result::Result<sync::Record, sync::RecordError> {
                    let mut record = sync::Record::new();
                    #(
                        sync::put(
                            &mut record,
                            #synced_names,
                            &stamped.value.#synced_idents,
                            stamped.modified_at.#synced_idents,
                        )?;
                    )*
                    #(
                        sync::put(
                            &mut record,
                            #excluded_names,
                            &stamped.value.#excluded_idents,
                            ::core::option::Option::None,
                        )?;
                    )*
                    ::core::result::Result::Ok(record)
                }

                fn from_record(
                    record: &sync::Record,
                ) -> ::core::result::Result<sync::Stamped<Self>, sync::RecordError> {
                    ::core::result::Result::Ok(sync::Stamped {
                        value: #ident {
                            #( #synced_idents: sync::synced(record, #synced_names)?, )*
                            #( #excluded_idents: sync::excluded(record, #excluded_names)?, )*
                        },
                        modified_at: #modified_at {
                            #( #synced_idents: sync::modified_at(record, #synced_names), )*
                        },
                    })
                }

                fn base_to_json(
                    base: &#base,
                ) -> ::core::result::Result<sync::Base, sync::RecordError> {
                    let mut json = sync::Base::new();
                    #(
                        sync::put_base(&mut json, #synced_names, base.#synced_idents.as_ref())?;
                    )*
                    ::core::result::Result::Ok(json)
                }

                fn base_from_json(
                    base: &sync::Base,
                ) -> ::core::result::Result<#base, sync::RecordError> {
                    ::core::result::Result::Ok(#base {
                        #( #synced_idents: sync::base_field(base, #synced_names)?, )*
                    })
                }

                fn decide(
                    boundary: &sync::SyncBoundary,
                    a: &sync::Stamped<Self>,
                    b: &sync::Stamped<Self>,
                    base: &#base,
                    now: sync::DateTime<sync::Utc>,
                ) -> #decisions {
                    #decisions {
                        #(#decide,)*
                    }
                }

                fn patch_a(decisions: &#decisions) -> #patch_a {
                    #patch_a {
                        #( #receives_a: sync::change_for(&decisions.#receives_a, sync::Side::A), )*
                    }
                }

                fn patch_b(decisions: &#decisions) -> #patch_b {
                    #patch_b {
                        #( #receives_b: sync::change_for(&decisions.#receives_b, sync::Side::B), )*
                    }
                }

                fn base_unless_pending(
                    decisions: &#decisions,
                    pending: ::core::option::Option<sync::Side>,
                ) -> #base {
                    #base {
                        #( #synced_idents: decisions.#synced_idents.base_unless_pending(pending), )*
                    }
                }

                fn each_decision(
                    decisions: &#decisions,
                ) -> ::std::vec::Vec<&dyn sync::AnyFieldDecision> {
                    ::std::vec![#( &decisions.#synced_idents as &dyn sync::AnyFieldDecision ),*]
                }

                fn decision_mut(
                    decisions: &mut #decisions,
                    field: #field_enum,
                ) -> &mut dyn sync::AnyFieldDecision {
                    match field {
                        #( #field_enum::#variants => &mut decisions.#synced_idents, )*
                    }
                }
            }
        };
    }
}

/// The fields a value may flow into on the side that does not own `owner`'s
/// fields: every synced field but those `owner` owns.
fn receiving(record: &Record, owner: Authority) -> Vec<&syn::Ident> {
    receivers(record, owner)
        .into_iter()
        .map(|field| &field.ident)
        .collect()
}

/// The synced fields `owner` does not own.
fn receivers(record: &Record, owner: Authority) -> Vec<&Field> {
    record
        .synced()
        .filter(|&(_, authority, _)| authority != owner)
        .map(|(field, ..)| field)
        .collect()
}

/// One side's patch type and its methods.
fn patch(
    record: &Record,
    patch: &syn::Ident,
    system: &str,
    owner: Authority,
    doc: &str,
) -> TokenStream {
    let sync = core();
    let ident = &record.ident;
    let vis = &record.vis;
    let fields = receivers(record, owner);
    let is_empty = if fields.is_empty() {
        quote!(true)
    } else {
        let idents = fields.iter().map(|f| &f.ident);
        quote!(#( self.#idents.is_none() )&&*)
    };
    let idents: Vec<_> = fields.iter().map(|f| &f.ident).collect();
    let names: Vec<_> = fields.iter().map(|f| &f.name).collect();
    let types: Vec<_> = fields.iter().map(|f| &f.ty).collect();
    let field_docs = fields.iter().map(|field| {
        format!(
            "The value to write to `{system}`'s `{}`, if it changes.",
            field.name
        )
    });
    quote! {
        #[doc = #doc]
        #[derive(Clone, Debug, Default, PartialEq)]
        #[allow(dead_code)]
        #vis struct #patch {
            #(
                #[doc = #field_docs]
                pub #idents: ::core::option::Option<#types>,
            )*
        }

        impl #sync::RecordPatch<#ident> for #patch {
            fn apply_to(&self, record: &mut #ident) {
                #(
                    if let ::core::option::Option::Some(value) = &self.#idents {
                        record.#idents = ::core::clone::Clone::clone(value);
                    }
                )*
            }

            fn is_empty(&self) -> bool {
                #is_empty
            }

            fn to_patch(
                &self,
            ) -> ::core::result::Result<#sync::Patch, #sync::RecordError> {
                let mut patch = #sync::Patch::new();
                #( #sync::put_change(&mut patch, #names, self.#idents.as_ref())?; )*
                ::core::result::Result::Ok(patch)
            }
        }
    }
}

/// A field's rules as a `FieldRules` constant.
fn field_rules(field: &Field, authority: Authority, compare: Compare) -> TokenStream {
    let name = &field.name;
    let authority = format_ident!(
        "{}",
        match authority {
            Authority::SystemA => "SystemA",
            Authority::SystemB => "SystemB",
            Authority::Shared => "Shared",
            Authority::Manual => "Manual",
        }
    );
    let compare = match compare {
        Compare::Meaning => quote!(sync::Compare::Meaning),
        Compare::CaseInsensitive => quote!(sync::Compare::CaseInsensitive),
        Compare::Trimmed => quote!(sync::Compare::Trimmed),
        Compare::TrimmedCaseInsensitive => quote!(sync::Compare::TrimmedCaseInsensitive),
        Compare::Tolerance(tolerance) => quote!(sync::Compare::Tolerance(#tolerance)),
    };
    quote! {
        sync::FieldRules {
            name: #name,
            authority: sync::RecordAuthority::#authority,
            compare: #compare,
        }
    }
}

/// The doc comments of the companion types.
struct Docs {
    record: String,
    owned: [Vec<String>; 2],
    modified_at: String,
    base: String,
    decisions: String,
    field: String,
}

impl Docs {
    fn new(record: &Record) -> Docs {
        let name = record.ident.to_string();
        let owned_by = |owner| {
            record
                .synced()
                .filter(|&(_, authority, _)| authority == owner)
                .map(|(field, ..)| format!("`{}`", field.name))
                .collect()
        };
        Docs {
            modified_at: format!(
                "When each synced field of [`{name}`] last changed in one system; `None` where the system does not say."
            ),
            base: format!(
                "The values of [`{name}`]'s synced fields that `{}` and `{}` last agreed on; a field is `None` until it is first synced.",
                record.system_a, record.system_b
            ),
            decisions: format!("The reconcile decision for each synced field of one [`{name}`]."),
            field: format!("A synced field of [`{name}`], by name."),
            owned: [owned_by(Authority::SystemA), owned_by(Authority::SystemB)],
            record: name,
        }
    }

    fn patch(&self, system: &str, owner: Authority) -> String {
        let owned = &self.owned[usize::from(owner == Authority::SystemB)];
        let not = if owned.is_empty() {
            String::new()
        } else {
            format!(
                " It has no field for what `{system}` owns ({}), nor for excluded fields.",
                owned.join(", ")
            )
        };
        format!(
            "The changes to write to `{system}` for one [`{}`]: each field that is `Some` is a value to write (see `RecordPatch`).{not}",
            self.record
        )
    }
}
