//! Transports: the relay's senders for real endpoints, and the receiving
//! ends that admit what arrives into an inbox.
//!
//! - `http`: with feature `http-send`, `http::HttpSender` POSTs each event
//!   as a CloudEvent; with feature `http-receive`, `http::inbox_router`
//!   receives them (and needs no HTTP client).
//! - `nats` (feature `nats`): `nats::NatsSender` publishes to a JetStream
//!   stream, de-duplicated by the event's key, and `nats::NatsConsumer`
//!   admits what a durable consumer delivers, acknowledging each message
//!   only after its inbox commit.
//!
//! Both ends speak the CloudEvents binding of their protocol, so either can
//! face a peer that is not this crate.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod error;
#[cfg(any(feature = "http-receive", feature = "http-send"))]
pub mod http;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(any(feature = "http-receive", feature = "nats"))]
mod refusal;

pub use error::TransportError;

/// The README's examples, run as doctests.
#[cfg(all(
    doctest,
    feature = "http-receive",
    feature = "http-send",
    feature = "nats"
))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
