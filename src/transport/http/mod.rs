//! CloudEvents over HTTP: a sender that POSTs each event to an endpoint
//! (feature `http`) and an inbox that receives them (feature `axum`).

#[cfg(feature = "axum")]
mod inbox;
mod sender;
#[cfg(feature = "axum")]
mod serve;
mod status;

/// The web framework the inbox is built on, to serve its router: the exact
/// version this crate uses.
#[cfg(feature = "axum")]
pub use axum;
#[cfg(feature = "axum")]
pub use inbox::{InboxOptions, inbox_router, inbox_router_with, receive, receive_within};
/// The HTTP client the sender is built on, for
/// [`HttpSender::with_client`]: the exact version this crate uses.
pub use reqwest;
pub use sender::HttpSender;
#[cfg(feature = "axum")]
pub use serve::{ServeOptions, serve};
pub use status::{outcome_of_response, retry_after};
