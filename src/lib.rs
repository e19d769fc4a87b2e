#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod envelope;
mod observe;
#[cfg(any(feature = "async-sqlite", feature = "async-postgres"))]
pub mod relay;
pub mod retry;
pub mod slot;
pub mod store;
pub mod sync;

pub use envelope::state;
pub use envelope::{AnyEnvelope, Envelope, EnvelopeError, FailOutcome};
pub use retry::RetryPolicy;
pub use state::DeliveryStatus;
pub use sync::{RecordAuthority, Side, SyncBoundary, SyncConflict};
