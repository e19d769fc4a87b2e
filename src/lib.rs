//! Enterprise integration reliability checked by the compiler.
//!
//! Integrations that connect CRMs, ERPs, ticketing systems and services lose
//! data in a few well-known ways: an event is processed twice, retried
//! forever or dropped after a crash, or a field is overwritten by a system
//! that did not own it. This crate makes those mistakes hard to write:
//!
//! - [`Envelope<S, P>`](Envelope): an event whose delivery state `S` is a
//!   type parameter, so only legal transitions compile; bounded retry
//!   ([`RetryPolicy`]), audit lines, and standard CloudEvents in and out
//!   ([`envelope`]).
//! - [`SyncBoundary`]: which system owns each field of a shared record, and a
//!   reconcile plan that never loses a change ([`sync`]).
//! - Durable stores, a relay and transports, in the other crates of the
//!   workspace (below).
//!
//! # Install
//!
//! ```sh
//! cargo add integration-automation-patterns
//! ```
//!
//! | feature | what it adds |
//! |---|---|
//! | (none) | envelopes, retry, sync boundary, CloudEvents JSON and binary mode |
//! | `http` | CloudEvents on the `http` crate's `HeaderMap` (`to_http`, `from_http`) |
//! | `cloudevents` | conversions to and from `cloudevents::Event` |
//! | `derive` | `#[derive(SyncRecord)]`: typed records whose field ownership the compiler checks ([`sync::typed`]) |
//!
//! # The envelope
//!
//! ```
//! use integration_automation_patterns::{Envelope, FailOutcome};
//! use serde_json::json;
//!
//! let envelope = Envelope::builder()
//!     .event_id("evt-0001")
//!     .event_type("crm.contact.updated")
//!     .source_system("crm")
//!     .payload(json!({ "contact_id": 42 }))
//!     .build()?;
//! match envelope.dispatch().fail("ERP answered 503") {
//!     FailOutcome::Retry(retrying) => {
//!         let processed = retrying.dispatch().process();
//!         println!("{}", processed.to_audit_line());
//!     }
//!     FailOutcome::Exhausted(dead_letter) => println!("{}", dead_letter.failure_reason()),
//! }
//! # Ok::<(), integration_automation_patterns::EnvelopeError>(())
//! ```
//!
//! A transition that is not legal from the envelope's state does not compile:
//!
//! ```compile_fail,E0277
//! # use integration_automation_patterns::Envelope;
//! let envelope = Envelope::builder().event_id("e").event_type("t").source_system("s")
//!     .payload(()).build().unwrap();
//! envelope.acknowledge(); // error: an envelope in state `Pending` cannot be acknowledged
//! ```
//!
//! The rules come from one transition table, [`DeliveryStatus::TRANSITIONS`],
//! which also draws the lifecycle ([`DeliveryStatus::mermaid_diagram`]).
//! Dropping an envelope or a [`FailOutcome`] is an `unused_must_use` warning:
//! deny it in your crate (`#![deny(unused_must_use)]`), and clippy's
//! `let_underscore_must_use` with it, since rustc's suggestion for the warning,
//! `let _ = ...`, compiles and drops the event all the same.
//!
//! # The sync boundary
//!
//! ```
//! use chrono::Utc;
//! use integration_automation_patterns::sync::{Base, Change, Record, Versioned};
//! use integration_automation_patterns::{RecordAuthority, SyncBoundary};
//! use serde_json::json;
//!
//! let boundary = SyncBoundary::builder()
//!     .record_type("contact")
//!     .system_a("crm")
//!     .system_b("erp")
//!     .field("email", RecordAuthority::SystemA)
//!     .build()?;
//! let crm: Record = [("email".into(), Versioned::new(json!("ada@new.example")))].into();
//! let erp: Record = [("email".into(), Versioned::new(json!("ada@old.example")))].into();
//! let base: Base = [("email".into(), json!("ada@old.example"))].into();
//! let plan = boundary.reconcile_at("contact-42", &crm, &erp, &base, Utc::now());
//! assert_eq!(plan.patch_b()["email"], Change::Set(json!("ada@new.example")));
//! # Ok::<(), integration_automation_patterns::sync::BoundaryError>(())
//! ```
//!
//! # CloudEvents
//!
//! ```
//! use integration_automation_patterns::Envelope;
//! use integration_automation_patterns::envelope::Binding;
//!
//! let envelope = Envelope::builder()
//!     .event_id("evt-1")
//!     .event_type("crm.contact.updated")
//!     .source_system("/crm")
//!     .payload(serde_json::json!({ "contact_id": 42 }))
//!     .build()?;
//! let wire = serde_json::to_string(&envelope.to_cloudevent())?; // structured mode
//! let message = envelope.to_binary(Binding::Http)?; // binary mode
//! let received = Envelope::from_message(Binding::Http, &message.headers, &message.body)?;
//! assert_eq!(received, envelope.to_received());
//! # let _ = wire;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The other crates of the workspace
//!
//! | crate | what it adds |
//! |---|---|
//! | `iap-store` | durable stores: idempotent inbox, transactional outbox, dead letters, on SQLite or PostgreSQL, blocking or async |
//! | `iap-relay` | the async relay that claims, sends and records, on tokio |
//! | `iap-transport` | CloudEvents over HTTP (an axum inbox, a reqwest sender) and NATS JetStream |
//! | `iap-cli` | `iap`, the operator's tool |
//!
//! The repository's README has the tour and the set-up commands.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod envelope;
pub mod retry;
pub mod slot;
pub mod sync;

/// The date and time library of this crate's API (`DateTime<Utc>` for every
/// time it reads or records): the exact version it uses.
pub use chrono;
pub use envelope::state;
pub use envelope::{AnyEnvelope, Envelope, EnvelopeError, FailOutcome};
pub use retry::RetryPolicy;
pub use state::DeliveryStatus;
pub use sync::{RecordAuthority, Side, SyncBoundary, SyncConflict};

/// What the code `#[derive(SyncRecord)]` writes calls; not a public API.
#[doc(hidden)]
pub use sync::typed::derive_support as __derive;

/// The README's examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
