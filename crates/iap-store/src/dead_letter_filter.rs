//! Which dead letters an operator's listing, count or redrive takes.

use chrono::{DateTime, Utc};

use integration_automation_patterns::Envelope;
use integration_automation_patterns::envelope::state::Failed;

/// Which dead letters a listing, a count or a redrive takes
/// ([`dead_letters_matching`](crate::DeliveryStore::dead_letters_matching),
/// [`count_dead_letters`](crate::DeliveryStore::count_dead_letters),
/// [`redrive_matching`](crate::DeliveryStore::redrive_matching)): every one
/// to begin with, and each setting narrows it. The stores apply it in the
/// database, so that only the dead letters it takes are read.
///
/// ```
/// use chrono::{TimeDelta, Utc};
/// use iap_store::DeadLetterFilter;
///
/// // The placed orders from the webshop that failed an hour ago or earlier.
/// let filter = DeadLetterFilter::all()
///     .of_type("commerce.order.placed")
///     .from_source("webshop")
///     .failed_by(Utc::now() - TimeDelta::hours(1));
/// assert_ne!(filter, DeadLetterFilter::all());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeadLetterFilter {
    pub(crate) event_type: Option<String>,
    pub(crate) source_system: Option<String>,
    pub(crate) failed_by: Option<DateTime<Utc>>,
}

impl DeadLetterFilter {
    /// Every dead letter.
    pub fn all() -> Self {
        DeadLetterFilter::default()
    }

    /// Only dead letters of this event type.
    pub fn of_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = Some(event_type.into());
        self
    }

    /// Only dead letters from this source system.
    pub fn from_source(mut self, source_system: impl Into<String>) -> Self {
        self.source_system = Some(source_system.into());
        self
    }

    /// Only dead letters that failed at or before `time` (the time of their
    /// last step, into the dead letters). Set twice, the earlier time holds.
    pub fn failed_by(mut self, time: DateTime<Utc>) -> Self {
        self.failed_by = Some(self.failed_by.map_or(time, |set| set.min(time)));
        self
    }

    /// Whether the filter takes `letter`, judged from the envelope alone:
    /// its failure time is the time of its last step. The stores decide in
    /// the database from the failure time they keep beside the row, which
    /// is the same time for every dead letter they wrote; a letter with no
    /// history has no failure time here, and a time filter takes it.
    pub fn takes<P>(&self, letter: &Envelope<Failed, P>) -> bool {
        let failed_at = letter.last_transition().map(|step| step.at());
        self.event_type
            .as_deref()
            .is_none_or(|event_type| event_type == letter.event_type())
            && self
                .source_system
                .as_deref()
                .is_none_or(|source| source == letter.source_system())
            && self
                .failed_by
                .is_none_or(|by| failed_at.is_none_or(|at| at <= by))
    }
}
