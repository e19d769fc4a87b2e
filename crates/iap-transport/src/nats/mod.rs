//! CloudEvents over NATS JetStream (feature `nats`): a sender that publishes
//! each event to a stream, and a consumer that admits what a durable pull
//! consumer delivers into an async store's inbox.
//!
//! Events travel in the CloudEvents NATS binding's binary form: attributes
//! as `ce-` headers, the data as the payload. Together the two ends give
//! each event's effect exactly once, through crashes of either side and of
//! the server:
//!
//! - the relay counts an event as sent only when the stream acknowledged the
//!   publish, so an event is lost neither by a crash of the relay nor of the
//!   server (unacknowledged publishes are sent again);
//! - a re-send within the stream's duplicate window (two minutes by default)
//!   is dropped by the stream, since every publish carries the event's key
//!   as its `Nats-Msg-Id`;
//! - the consumer acknowledges a message only after its inbox commit, so a
//!   crash in between means a redelivery, which the inbox answers as a
//!   duplicate without running the effect again.
//!
//! Use a stream with limits retention (the default) and a durable pull
//! consumer with explicit acknowledgement.

mod consumer;
mod sender;

/// The NATS client the transport is built on: the exact version this crate
/// uses, to connect and to set up streams and consumers.
pub use async_nats;
pub use consumer::{ConsumerReport, NatsConsumer, Rejected};
pub use sender::NatsSender;
