//! The time a store goes by. Leases, due times and the order of a key are
//! decided by comparing times that different workers wrote; on a server
//! shared by many machines, those times must come from one clock, the
//! server's, or a worker whose clock runs ahead takes over claims still in
//! flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};

/// This machine's clock, set to a database server's by the offset last
/// measured ([`ServerClock::measured`]). Clones share the offset.
#[derive(Clone, Debug, Default)]
pub(crate) struct ServerClock {
    /// The server's time less this machine's, in microseconds.
    offset_micros: Arc<AtomicI64>,
}

impl ServerClock {
    /// The server's time now, as this machine reckons it.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        let offset = TimeDelta::microseconds(self.offset_micros.load(Ordering::Relaxed));
        Utc::now()
            .checked_add_signed(offset)
            .unwrap_or_else(Utc::now)
    }

    /// Takes in a reading of the server's clock, `server`, made between
    /// `before` and `after` on this machine, and returns the server's time
    /// less this machine's: the reading is taken to have been made halfway
    /// between (a round trip's error at most half the round trip).
    pub(crate) fn measured(
        &self,
        before: DateTime<Utc>,
        server: DateTime<Utc>,
        after: DateTime<Utc>,
    ) -> TimeDelta {
        let halfway = before + (after - before) / 2;
        let offset = server - halfway;
        self.offset_micros
            .store(offset.num_microseconds().unwrap_or(0), Ordering::Relaxed);
        offset
    }
}

#[cfg(test)]
// A test fails by panicking; the crate's rule against it is for library code.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_is_taken_from_the_middle_of_the_round_trip_and_applied() {
        let clock = ServerClock::default();
        let before = Utc::now();
        let after = before + TimeDelta::milliseconds(20);
        let server = before - TimeDelta::minutes(10);
        let offset = clock.measured(before, server, after);
        assert_eq!(
            offset,
            -TimeDelta::minutes(10) - TimeDelta::milliseconds(10)
        );
        let reckoned = clock.now() - Utc::now();
        assert!(
            (reckoned - offset).abs() < TimeDelta::seconds(1),
            "{reckoned}"
        );
        assert!(clock.clone().now() < Utc::now() - TimeDelta::minutes(9));
    }
}
