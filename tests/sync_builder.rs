//! Building a sync boundary: options, and the boundaries it refuses.

use std::time::Duration;

use integration_automation_patterns::slot::Given;
use integration_automation_patterns::sync::{BoundaryError, NamePart, SyncBoundaryBuilder};
use integration_automation_patterns::{RecordAuthority, Side, SyncBoundary};

/// A builder with its three names set: what is left is the fields.
fn base() -> SyncBoundaryBuilder<Given<String>, Given<String>, Given<String>> {
    SyncBoundary::builder()
        .record_type("contact")
        .system_a("crm")
        .system_b("erp")
}

#[test]
fn the_parts_and_options_are_kept() {
    let boundary = base()
        .field("email", RecordAuthority::SystemA)
        .field("phone", RecordAuthority::Shared)
        .exclude("internal_notes")
        .review_overrides_from(Side::A)
        .max_clock_skew(Duration::from_secs(2))
        .build()
        .unwrap();
    assert_eq!(
        (
            boundary.record_type(),
            boundary.system_a(),
            boundary.system_b()
        ),
        ("contact", "crm", "erp")
    );
    assert_eq!(boundary.system(Side::B), "erp");
    assert!(boundary.reviews_overrides_from(Side::A));
    assert!(!boundary.reviews_overrides_from(Side::B));
    assert_eq!(boundary.max_clock_skew(), Duration::from_secs(2));
    assert!(boundary.is_excluded("internal_notes"));
}

#[test]
fn the_builder_parts_can_come_in_any_order() {
    let boundary = SyncBoundary::builder()
        .field("email", RecordAuthority::SystemA)
        .system_b("erp")
        .exclude("notes")
        .record_type("contact")
        .system_a("crm")
        .build();
    assert!(boundary.is_ok());
}

#[test]
fn refusals_name_what_is_wrong() {
    let cases = [
        (
            SyncBoundary::builder()
                .record_type("")
                .system_a("crm")
                .system_b("erp")
                .field("email", RecordAuthority::SystemA)
                .build(),
            BoundaryError::EmptyName {
                part: NamePart::RecordType,
            },
            "record_type must not be empty",
        ),
        (
            SyncBoundary::builder()
                .record_type("contact")
                .system_a("crm")
                .system_b("crm")
                .field("email", RecordAuthority::SystemA)
                .build(),
            BoundaryError::SameSystem {
                system: "crm".into(),
            },
            "system_a and system_b are both \"crm\"; a boundary connects two different systems",
        ),
        (
            base().build(),
            BoundaryError::NoField,
            "the boundary maps no field; declare at least one with `.field(name, authority)`",
        ),
        (
            base()
                .field("email", RecordAuthority::SystemA)
                .field("email", RecordAuthority::SystemB)
                .build(),
            BoundaryError::MappedTwice {
                field: "email".into(),
            },
            "field \"email\" is mapped twice; give each field one authority",
        ),
        (
            base()
                .field("email", RecordAuthority::SystemA)
                .exclude("email")
                .build(),
            BoundaryError::MappedAndExcluded {
                field: "email".into(),
            },
            "field \"email\" is both mapped and excluded; a field is either synced or not",
        ),
        (
            base()
                .field("email", RecordAuthority::SystemA)
                .exclude("notes")
                .exclude("notes")
                .build(),
            BoundaryError::ExcludedTwice {
                field: "notes".into(),
            },
            "field \"notes\" is excluded twice",
        ),
        (
            base().field("", RecordAuthority::Shared).build(),
            BoundaryError::EmptyName {
                part: NamePart::Field,
            },
            "a field name must not be empty",
        ),
    ];
    for (result, expected, message) in cases {
        let error = result.unwrap_err();
        assert_eq!(error, expected);
        assert_eq!(error.to_string(), message);
    }
}

#[test]
fn the_mirror_swaps_systems_owners_and_review_sides() {
    let boundary = base()
        .field("email", RecordAuthority::SystemA)
        .field("limit", RecordAuthority::SystemB)
        .field("phone", RecordAuthority::Shared)
        .review_overrides_from(Side::B)
        .build()
        .unwrap();
    let mirror = boundary.mirrored();
    assert_eq!((mirror.system_a(), mirror.system_b()), ("erp", "crm"));
    assert_eq!(
        mirror.authority_for("email"),
        Some(RecordAuthority::SystemB)
    );
    assert_eq!(
        mirror.authority_for("limit"),
        Some(RecordAuthority::SystemA)
    );
    assert_eq!(mirror.authority_for("phone"), Some(RecordAuthority::Shared));
    assert!(mirror.reviews_overrides_from(Side::A));
    assert!(!mirror.reviews_overrides_from(Side::B));
}
