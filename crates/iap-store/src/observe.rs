//! What the workspace's crates tell an operator while they work (not an API
//! of its own: the relay and the transports call it): spans (feature `tracing`)
//! for each relay pass, send, record and inbox admission, with the event's
//! id, type, source, attempt and trace parent; and counters and gauges
//! (feature `metrics`, through the `metrics` facade). Without the features,
//! every call here compiles to nothing.
//!
//! | metric | kind | meaning |
//! |---|---|---|
//! | `iap_relay_delivered_total` | counter | sends recorded as processed or acknowledged |
//! | `iap_relay_retried_total` | counter | sends recorded as a retry |
//! | `iap_relay_dead_lettered_total` | counter | envelopes that became dead letters |
//! | `iap_inbox_duplicates_total` | counter | admissions answered as duplicates |
//! | `iap_outbox_due_backlog` | gauge | envelopes waiting for a relay (pending and retrying) |
//! | `iap_outbox_oldest_due_age_seconds` | gauge | how long the oldest due envelope has waited |
//!
//! A relay sets the two gauges when it starts and then at most every 5 seconds.

use std::future::Future;

use integration_automation_patterns::envelope::state::State;
use integration_automation_patterns::{DeliveryStatus, Envelope};

#[cfg(feature = "tracing")]
pub use tracing::Span;

/// A span that records nothing, where the `tracing` feature is off.
#[cfg(not(feature = "tracing"))]
#[derive(Clone, Debug)]
pub struct Span;

#[cfg(not(feature = "tracing"))]
impl Span {
    /// Enters nothing.
    pub fn entered(self) -> Span {
        self
    }
}

/// The span of sending one envelope.
pub fn send_span<S: State, P>(envelope: &Envelope<S, P>) -> Span {
    #[cfg(feature = "tracing")]
    {
        tracing::info_span!(
            "iap.send",
            event_id = envelope.event_id(),
            event_type = envelope.event_type(),
            source = envelope.source_system(),
            attempt = envelope.attempt_count(),
            traceparent = envelope.traceparent(),
        )
    }
    #[cfg(not(feature = "tracing"))]
    {
        let _ = envelope;
        Span
    }
}

/// The span of recording one outcome.
pub fn record_span(event_id: &str, status: DeliveryStatus) -> Span {
    #[cfg(feature = "tracing")]
    {
        tracing::info_span!("iap.record", event_id, status = status.as_str())
    }
    #[cfg(not(feature = "tracing"))]
    {
        let _ = (event_id, status);
        Span
    }
}

/// The span of admitting one received envelope through an inbox.
pub fn admission_span<S: State, P>(envelope: &Envelope<S, P>) -> Span {
    #[cfg(feature = "tracing")]
    {
        tracing::info_span!(
            "iap.admit",
            event_id = envelope.event_id(),
            event_type = envelope.event_type(),
            source = envelope.source_system(),
            traceparent = envelope.traceparent(),
        )
    }
    #[cfg(not(feature = "tracing"))]
    {
        let _ = envelope;
        Span
    }
}

/// The span of one relay pass.
pub fn pass_span(claimed: usize) -> Span {
    #[cfg(feature = "tracing")]
    {
        tracing::info_span!("iap.relay.pass", claimed)
    }
    #[cfg(not(feature = "tracing"))]
    {
        let _ = claimed;
        Span
    }
}

/// Runs a future inside a span (as `tracing::Instrument` does).
pub trait InSpan: Future + Sized {
    /// The future, inside `span` whenever it is polled.
    fn in_span(self, span: Span) -> impl Future<Output = Self::Output> {
        #[cfg(feature = "tracing")]
        {
            tracing::Instrument::instrument(self, span)
        }
        #[cfg(not(feature = "tracing"))]
        {
            let _ = span;
            self
        }
    }
}

impl<F: Future> InSpan for F {}

/// Counts a recorded outcome: delivered, retried or dead-lettered.
pub fn count_outcome(status: DeliveryStatus) {
    #[cfg(feature = "metrics")]
    {
        let name = match status {
            DeliveryStatus::Retrying => "iap_relay_retried_total",
            DeliveryStatus::Failed => "iap_relay_dead_lettered_total",
            _ => "iap_relay_delivered_total",
        };
        metrics::counter!(name).increment(1);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = status;
}

/// Counts envelopes that became dead letters when their lease ran out.
pub fn count_dead_letters(count: usize) {
    #[cfg(feature = "metrics")]
    metrics::counter!("iap_relay_dead_lettered_total")
        .increment(u64::try_from(count).unwrap_or(u64::MAX));
    #[cfg(not(feature = "metrics"))]
    let _ = count;
}

/// Warns that this machine's clock is `offset` from the store's (the
/// store's time less this machine's): the relay goes by the store's.
#[cfg(feature = "async")]
pub fn clock_off(offset: chrono::TimeDelta) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        offset_ms = offset.num_milliseconds(),
        "iap: this machine's clock is off from the store's; the relay goes by the store's"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = offset;
}

/// Logs an inbox effect that failed where the caller cannot see why (an
/// HTTP inbox answers the sender without the effect's own words).
pub fn effect_failed(source: &str, event_id: &str, reason: &str) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        source,
        event_id,
        reason,
        "iap: the inbox effect failed; nothing was committed"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (source, event_id, reason);
}

/// Logs a store error that an answer to a client leaves out (an HTTP
/// problem does not quote a database's words).
pub fn store_failed(error: &dyn std::fmt::Display) {
    #[cfg(feature = "tracing")]
    tracing::error!(%error, "iap: the store failed");
    #[cfg(not(feature = "tracing"))]
    let _ = error;
}

/// Logs a relay's listening session that failed for good: the relay polls
/// from then on.
#[cfg(feature = "async-postgres")]
pub fn listener_failed(error: &dyn std::fmt::Display) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        %error,
        "iap: the relay cannot listen for notifications and polls from now on"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = error;
}

/// Counts an admission answered as a duplicate.
pub fn count_duplicate() {
    #[cfg(feature = "metrics")]
    metrics::counter!("iap_inbox_duplicates_total").increment(1);
}

/// Sets the backlog gauges: envelopes waiting, and the oldest due one's wait.
#[cfg(feature = "metrics")]
pub fn set_backlog(waiting: u64, oldest_due_age: Option<std::time::Duration>) {
    metrics::gauge!("iap_outbox_due_backlog").set(waiting as f64);
    metrics::gauge!("iap_outbox_oldest_due_age_seconds")
        .set(oldest_due_age.map_or(0.0, |age| age.as_secs_f64()));
}
