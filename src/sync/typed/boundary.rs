//! A boundary that plans typed records.

use std::marker::PhantomData;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::super::authority::Side;
use super::super::boundary::SyncBoundary;
use super::super::builder::side_index;
use super::super::reconcile::{Base, Record, UnmappedField};
use super::batch::{TypedBatchPlan, TypedSnapshot};
use super::json::RecordError;
use super::plan::TypedPlan;
use super::record::SyncRecord;
use super::stamped::Stamped;

/// The [`SyncBoundary`] of a [`SyncRecord`] type, planning its typed copies.
///
/// Its fields' rules come from the type and cannot be changed; the options
/// the type does not hold (reviewing overrides, the clock-skew bound) are set
/// here as on the builder.
#[derive(Clone, Debug, PartialEq)]
pub struct TypedBoundary<R> {
    boundary: SyncBoundary,
    record: PhantomData<fn() -> R>,
}

impl<R: SyncRecord> Default for TypedBoundary<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R> TypedBoundary<R> {
    /// The boundary of `R`, with the builder's default options.
    pub fn new() -> Self
    where
        R: SyncRecord,
    {
        TypedBoundary {
            boundary: R::boundary(),
            record: PhantomData,
        }
    }
}

impl<R: SyncRecord> TypedBoundary<R> {
    /// When `side` changes a field the other side owns, queue the change for
    /// review instead of reverting it; see
    /// [`SyncBoundaryBuilder::review_overrides_from`](super::super::SyncBoundaryBuilder::review_overrides_from).
    #[must_use]
    pub fn review_overrides_from(mut self, side: Side) -> Self {
        self.boundary.review_overrides[side_index(side)] = true;
        self
    }

    /// How far apart the two systems' clocks may be; see
    /// [`SyncBoundaryBuilder::max_clock_skew`](super::super::SyncBoundaryBuilder::max_clock_skew).
    #[must_use]
    pub fn max_clock_skew(mut self, skew: Duration) -> Self {
        self.boundary.max_clock_skew = skew;
        self
    }

    /// The string-keyed boundary, to plan the same record type from JSON.
    pub fn boundary(&self) -> &SyncBoundary {
        &self.boundary
    }

    /// Plans the sync of one record at time `now`, by the same rules as
    /// [`SyncBoundary::reconcile_at`], from system A's copy `a`, system B's
    /// copy `b` and the typed base.
    pub fn reconcile_at(
        &self,
        record_id: &str,
        a: &Stamped<R>,
        b: &Stamped<R>,
        base: &R::Base,
        now: DateTime<Utc>,
    ) -> TypedPlan<R> {
        TypedPlan::new(
            record_id.to_owned(),
            R::decide(&self.boundary, a, b, base, now),
            Vec::new(),
        )
    }

    /// [`reconcile_at`](Self::reconcile_at), reading the clock.
    pub fn reconcile(
        &self,
        record_id: &str,
        a: &Stamped<R>,
        b: &Stamped<R>,
        base: &R::Base,
    ) -> TypedPlan<R> {
        self.reconcile_at(record_id, a, b, base, Utc::now())
    }

    /// Plans string-keyed copies (JSON read from each system's API) through
    /// the typed path: each converts to `R` ([`SyncRecord::from_record`]),
    /// and a field in either copy that `R` neither syncs nor excludes is
    /// reported in the plan's [`unmapped_fields`](TypedPlan::unmapped_fields),
    /// as schema drift.
    pub fn reconcile_records(
        &self,
        record_id: &str,
        a: &Record,
        b: &Record,
        base: &Base,
        now: DateTime<Utc>,
    ) -> Result<TypedPlan<R>, RecordError> {
        let typed_a = Stamped::<R>::from_record(a)?;
        let typed_b = Stamped::<R>::from_record(b)?;
        let typed_base = R::base_from_json(base)?;
        let unmapped = [(Side::A, a), (Side::B, b)]
            .into_iter()
            .flat_map(|(side, record)| {
                record
                    .keys()
                    .filter(|field| {
                        !self.boundary.is_synced(field) && !self.boundary.is_excluded(field)
                    })
                    .map(move |field| UnmappedField {
                        side,
                        field: field.clone(),
                    })
            })
            .collect();
        Ok(TypedPlan::new(
            record_id.to_owned(),
            R::decide(&self.boundary, &typed_a, &typed_b, &typed_base, now),
            unmapped,
        ))
    }

    /// Plans every record of `records` at time `now`; each plan is the one
    /// [`reconcile_at`](Self::reconcile_at) gives for that record.
    pub fn reconcile_batch_at<'r>(
        &self,
        records: impl IntoIterator<Item = &'r TypedSnapshot<R>>,
        now: DateTime<Utc>,
    ) -> TypedBatchPlan<R>
    where
        R: 'r,
    {
        TypedBatchPlan::from_plans(
            records
                .into_iter()
                .map(|record| {
                    self.reconcile_at(&record.record_id, &record.a, &record.b, &record.base, now)
                })
                .collect(),
        )
    }
}
