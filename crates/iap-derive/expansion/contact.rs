#[doc = "When each synced field of [`Contact`] last changed in one system; `None` where the system does not say."]
#[derive(Clone, Debug, Default, PartialEq)]
#[allow(dead_code)]
struct ContactModifiedAt {
    #[doc = "When `email` last changed."]
    pub email: ::core::option::Option<
        ::integration_automation_patterns::__derive::DateTime<
            ::integration_automation_patterns::__derive::Utc,
        >,
    >,
    #[doc = "When `credit_limit` last changed."]
    pub credit_limit: ::core::option::Option<
        ::integration_automation_patterns::__derive::DateTime<
            ::integration_automation_patterns::__derive::Utc,
        >,
    >,
    #[doc = "When `phone` last changed."]
    pub phone: ::core::option::Option<
        ::integration_automation_patterns::__derive::DateTime<
            ::integration_automation_patterns::__derive::Utc,
        >,
    >,
    #[doc = "When `segment` last changed."]
    pub segment: ::core::option::Option<
        ::integration_automation_patterns::__derive::DateTime<
            ::integration_automation_patterns::__derive::Utc,
        >,
    >,
}
#[doc = "The values of [`Contact`]'s synced fields that `crm` and `erp` last agreed on; a field is `None` until it is first synced."]
#[derive(Clone, Debug, Default, PartialEq)]
#[allow(dead_code)]
struct ContactBase {
    #[doc = "`email` as last synced; `None` if never."]
    pub email: ::core::option::Option<String>,
    #[doc = "`credit_limit` as last synced; `None` if never."]
    pub credit_limit: ::core::option::Option<f64>,
    #[doc = "`phone` as last synced; `None` if never."]
    pub phone: ::core::option::Option<Option<String>>,
    #[doc = "`segment` as last synced; `None` if never."]
    pub segment: ::core::option::Option<String>,
}
#[doc = "The reconcile decision for each synced field of one [`Contact`]."]
#[derive(Clone, Debug, PartialEq)]
#[allow(dead_code)]
struct ContactDecisions {
    #[doc = "The decision for `email`."]
    pub email: ::integration_automation_patterns::__derive::FieldDecision<String>,
    #[doc = "The decision for `credit_limit`."]
    pub credit_limit: ::integration_automation_patterns::__derive::FieldDecision<f64>,
    #[doc = "The decision for `phone`."]
    pub phone: ::integration_automation_patterns::__derive::FieldDecision<Option<String>>,
    #[doc = "The decision for `segment`."]
    pub segment: ::integration_automation_patterns::__derive::FieldDecision<String>,
}
#[doc = "A synced field of [`Contact`], by name."]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(dead_code)]
enum ContactField {
    #[doc = "`email`."]
    Email,
    #[doc = "`credit_limit`."]
    CreditLimit,
    #[doc = "`phone`."]
    Phone,
    #[doc = "`segment`."]
    Segment,
}
#[allow(dead_code)]
impl ContactField {
    #[doc = r" The field's name in a string-keyed record."]
    pub const fn name(self) -> &'static str {
        match self {
            ContactField::Email => "email",
            ContactField::CreditLimit => "credit_limit",
            ContactField::Phone => "phone",
            ContactField::Segment => "segment",
        }
    }
}
#[doc = "The changes to write to `crm` for one [`Contact`]: each field that is `Some` is a value to write (see `RecordPatch`). It has no field for what `crm` owns (`email`), nor for excluded fields."]
#[derive(Clone, Debug, Default, PartialEq)]
#[allow(dead_code)]
struct ContactCrmPatch {
    #[doc = "The value to write to `crm`'s `credit_limit`, if it changes."]
    pub credit_limit: ::core::option::Option<f64>,
    #[doc = "The value to write to `crm`'s `phone`, if it changes."]
    pub phone: ::core::option::Option<Option<String>>,
    #[doc = "The value to write to `crm`'s `segment`, if it changes."]
    pub segment: ::core::option::Option<String>,
}
impl ::integration_automation_patterns::__derive::RecordPatch<Contact> for ContactCrmPatch {
    fn apply_to(&self, record: &mut Contact) {
        if let ::core::option::Option::Some(value) = &self.credit_limit {
            record.credit_limit = ::core::clone::Clone::clone(value);
        }
        if let ::core::option::Option::Some(value) = &self.phone {
            record.phone = ::core::clone::Clone::clone(value);
        }
        if let ::core::option::Option::Some(value) = &self.segment {
            record.segment = ::core::clone::Clone::clone(value);
        }
    }
    fn is_empty(&self) -> bool {
        self.credit_limit.is_none() && self.phone.is_none() && self.segment.is_none()
    }
    fn to_patch(
        &self,
    ) -> ::core::result::Result<
        ::integration_automation_patterns::__derive::Patch,
        ::integration_automation_patterns::__derive::RecordError,
    > {
        let mut patch = ::integration_automation_patterns::__derive::Patch::new();
        ::integration_automation_patterns::__derive::put_change(
            &mut patch,
            "credit_limit",
            self.credit_limit.as_ref(),
        )?;
        ::integration_automation_patterns::__derive::put_change(
            &mut patch,
            "phone",
            self.phone.as_ref(),
        )?;
        ::integration_automation_patterns::__derive::put_change(
            &mut patch,
            "segment",
            self.segment.as_ref(),
        )?;
        ::core::result::Result::Ok(patch)
    }
}
#[doc = "The changes to write to `erp` for one [`Contact`]: each field that is `Some` is a value to write (see `RecordPatch`). It has no field for what `erp` owns (`credit_limit`), nor for excluded fields."]
#[derive(Clone, Debug, Default, PartialEq)]
#[allow(dead_code)]
struct ContactErpPatch {
    #[doc = "The value to write to `erp`'s `email`, if it changes."]
    pub email: ::core::option::Option<String>,
    #[doc = "The value to write to `erp`'s `phone`, if it changes."]
    pub phone: ::core::option::Option<Option<String>>,
    #[doc = "The value to write to `erp`'s `segment`, if it changes."]
    pub segment: ::core::option::Option<String>,
}
impl ::integration_automation_patterns::__derive::RecordPatch<Contact> for ContactErpPatch {
    fn apply_to(&self, record: &mut Contact) {
        if let ::core::option::Option::Some(value) = &self.email {
            record.email = ::core::clone::Clone::clone(value);
        }
        if let ::core::option::Option::Some(value) = &self.phone {
            record.phone = ::core::clone::Clone::clone(value);
        }
        if let ::core::option::Option::Some(value) = &self.segment {
            record.segment = ::core::clone::Clone::clone(value);
        }
    }
    fn is_empty(&self) -> bool {
        self.email.is_none() && self.phone.is_none() && self.segment.is_none()
    }
    fn to_patch(
        &self,
    ) -> ::core::result::Result<
        ::integration_automation_patterns::__derive::Patch,
        ::integration_automation_patterns::__derive::RecordError,
    > {
        let mut patch = ::integration_automation_patterns::__derive::Patch::new();
        ::integration_automation_patterns::__derive::put_change(
            &mut patch,
            "email",
            self.email.as_ref(),
        )?;
        ::integration_automation_patterns::__derive::put_change(
            &mut patch,
            "phone",
            self.phone.as_ref(),
        )?;
        ::integration_automation_patterns::__derive::put_change(
            &mut patch,
            "segment",
            self.segment.as_ref(),
        )?;
        ::core::result::Result::Ok(patch)
    }
}
const _: () = {
    use ::integration_automation_patterns::__derive as sync;
    const FIELDS: [sync::FieldRules; 4usize] = [
        sync::FieldRules {
            name: "email",
            authority: sync::RecordAuthority::SystemA,
            compare: sync::Compare::TrimmedCaseInsensitive,
        },
        sync::FieldRules {
            name: "credit_limit",
            authority: sync::RecordAuthority::SystemB,
            compare: sync::Compare::Tolerance(0.01f64),
        },
        sync::FieldRules {
            name: "phone",
            authority: sync::RecordAuthority::Shared,
            compare: sync::Compare::Meaning,
        },
        sync::FieldRules {
            name: "segment",
            authority: sync::RecordAuthority::Manual,
            compare: sync::Compare::Meaning,
        },
    ];
    const EXCLUDED: [&str; 1usize] = ["internal_notes"];
    impl sync::ModifiedTimes for ContactModifiedAt {
        fn all_at(at: sync::DateTime<sync::Utc>) -> Self {
            ContactModifiedAt {
                email: ::core::option::Option::Some(at),
                credit_limit: ::core::option::Option::Some(at),
                phone: ::core::option::Option::Some(at),
                segment: ::core::option::Option::Some(at),
            }
        }
    }
    impl sync::SyncRecord for Contact {
        type ModifiedAt = ContactModifiedAt;
        type Base = ContactBase;
        type Decisions = ContactDecisions;
        type Field = ContactField;
        type PatchA = ContactCrmPatch;
        type PatchB = ContactErpPatch;
        const RULES: sync::RecordRules =
            match sync::RecordRules::new("contact", "crm", "erp", &FIELDS, &EXCLUDED) {
                ::core::result::Result::Ok(rules) => rules,
                ::core::result::Result::Err(error) => ::core::panic!("{}", error.reason),
            };
        fn to_record(
            stamped: &sync::Stamped<Self>,
        ) -> ::core::result::Result<sync::Record, sync::RecordError> {
            let mut record = sync::Record::new();
            sync::put(
                &mut record,
                "email",
                &stamped.value.email,
                stamped.modified_at.email,
            )?;
            sync::put(
                &mut record,
                "credit_limit",
                &stamped.value.credit_limit,
                stamped.modified_at.credit_limit,
            )?;
            sync::put(
                &mut record,
                "phone",
                &stamped.value.phone,
                stamped.modified_at.phone,
            )?;
            sync::put(
                &mut record,
                "segment",
                &stamped.value.segment,
                stamped.modified_at.segment,
            )?;
            sync::put(
                &mut record,
                "internal_notes",
                &stamped.value.internal_notes,
                ::core::option::Option::None,
            )?;
            ::core::result::Result::Ok(record)
        }
        fn from_record(
            record: &sync::Record,
        ) -> ::core::result::Result<sync::Stamped<Self>, sync::RecordError> {
            ::core::result::Result::Ok(sync::Stamped {
                value: Contact {
                    email: sync::synced(record, "email")?,
                    credit_limit: sync::synced(record, "credit_limit")?,
                    phone: sync::synced(record, "phone")?,
                    segment: sync::synced(record, "segment")?,
                    internal_notes: sync::excluded(record, "internal_notes")?,
                },
                modified_at: ContactModifiedAt {
                    email: sync::modified_at(record, "email"),
                    credit_limit: sync::modified_at(record, "credit_limit"),
                    phone: sync::modified_at(record, "phone"),
                    segment: sync::modified_at(record, "segment"),
                },
            })
        }
        fn base_to_json(
            base: &ContactBase,
        ) -> ::core::result::Result<sync::Base, sync::RecordError> {
            let mut json = sync::Base::new();
            sync::put_base(&mut json, "email", base.email.as_ref())?;
            sync::put_base(&mut json, "credit_limit", base.credit_limit.as_ref())?;
            sync::put_base(&mut json, "phone", base.phone.as_ref())?;
            sync::put_base(&mut json, "segment", base.segment.as_ref())?;
            ::core::result::Result::Ok(json)
        }
        fn base_from_json(
            base: &sync::Base,
        ) -> ::core::result::Result<ContactBase, sync::RecordError> {
            ::core::result::Result::Ok(ContactBase {
                email: sync::base_field(base, "email")?,
                credit_limit: sync::base_field(base, "credit_limit")?,
                phone: sync::base_field(base, "phone")?,
                segment: sync::base_field(base, "segment")?,
            })
        }
        fn decide(
            boundary: &sync::SyncBoundary,
            a: &sync::Stamped<Self>,
            b: &sync::Stamped<Self>,
            base: &ContactBase,
            now: sync::DateTime<sync::Utc>,
        ) -> ContactDecisions {
            ContactDecisions {
                email: sync::decide(
                    boundary,
                    &FIELDS[0usize],
                    &a.value.email,
                    a.modified_at.email,
                    &b.value.email,
                    b.modified_at.email,
                    base.email.as_ref(),
                    now,
                ),
                credit_limit: sync::decide(
                    boundary,
                    &FIELDS[1usize],
                    &a.value.credit_limit,
                    a.modified_at.credit_limit,
                    &b.value.credit_limit,
                    b.modified_at.credit_limit,
                    base.credit_limit.as_ref(),
                    now,
                ),
                phone: sync::decide(
                    boundary,
                    &FIELDS[2usize],
                    &a.value.phone,
                    a.modified_at.phone,
                    &b.value.phone,
                    b.modified_at.phone,
                    base.phone.as_ref(),
                    now,
                ),
                segment: sync::decide(
                    boundary,
                    &FIELDS[3usize],
                    &a.value.segment,
                    a.modified_at.segment,
                    &b.value.segment,
                    b.modified_at.segment,
                    base.segment.as_ref(),
                    now,
                ),
            }
        }
        fn patch_a(decisions: &ContactDecisions) -> ContactCrmPatch {
            ContactCrmPatch {
                credit_limit: sync::change_for(&decisions.credit_limit, sync::Side::A),
                phone: sync::change_for(&decisions.phone, sync::Side::A),
                segment: sync::change_for(&decisions.segment, sync::Side::A),
            }
        }
        fn patch_b(decisions: &ContactDecisions) -> ContactErpPatch {
            ContactErpPatch {
                email: sync::change_for(&decisions.email, sync::Side::B),
                phone: sync::change_for(&decisions.phone, sync::Side::B),
                segment: sync::change_for(&decisions.segment, sync::Side::B),
            }
        }
        fn base_unless_pending(
            decisions: &ContactDecisions,
            pending: ::core::option::Option<sync::Side>,
        ) -> ContactBase {
            ContactBase {
                email: decisions.email.base_unless_pending(pending),
                credit_limit: decisions.credit_limit.base_unless_pending(pending),
                phone: decisions.phone.base_unless_pending(pending),
                segment: decisions.segment.base_unless_pending(pending),
            }
        }
        fn each_decision(
            decisions: &ContactDecisions,
        ) -> ::std::vec::Vec<&dyn sync::AnyFieldDecision> {
            ::std::vec![
                &decisions.email as &dyn sync::AnyFieldDecision,
                &decisions.credit_limit as &dyn sync::AnyFieldDecision,
                &decisions.phone as &dyn sync::AnyFieldDecision,
                &decisions.segment as &dyn sync::AnyFieldDecision
            ]
        }
        fn decision_mut(
            decisions: &mut ContactDecisions,
            field: ContactField,
        ) -> &mut dyn sync::AnyFieldDecision {
            match field {
                ContactField::Email => &mut decisions.email,
                ContactField::CreditLimit => &mut decisions.credit_limit,
                ContactField::Phone => &mut decisions.phone,
                ContactField::Segment => &mut decisions.segment,
            }
        }
    }
};
