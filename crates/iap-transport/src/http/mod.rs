//! CloudEvents over HTTP: a sender that POSTs each event to an endpoint
//! (feature `http-send`) and an inbox that receives them (feature
//! `http-receive`).

#[cfg(feature = "http-receive")]
mod inbox;
#[cfg(feature = "http-send")]
mod sender;
#[cfg(feature = "http-receive")]
mod serve;
#[cfg(feature = "http-send")]
mod status;

/// The web framework the inbox is built on, to serve its router: the exact
/// version this crate uses.
#[cfg(feature = "http-receive")]
pub use axum;
#[cfg(feature = "http-receive")]
pub use inbox::{InboxOptions, inbox_router, inbox_router_with, receive, receive_within};
/// The HTTP client the sender is built on, for
/// [`HttpSender::with_client`]: the exact version this crate uses.
#[cfg(feature = "http-send")]
pub use reqwest;
#[cfg(feature = "http-send")]
pub use sender::HttpSender;
#[cfg(feature = "http-receive")]
pub use serve::{ServeOptions, serve};
#[cfg(feature = "http-send")]
pub use status::{outcome_of_response, retry_after};
