//! CloudEvents over HTTP: a sender that POSTs each event to an endpoint
//! (feature `http`) and an inbox that receives them (feature `axum`).

#[cfg(feature = "axum")]
mod inbox;
mod sender;
mod status;

#[cfg(feature = "axum")]
pub use inbox::{inbox_router, receive};
pub use sender::HttpSender;
pub use status::{outcome_of_response, retry_after};
/// The HTTP client the sender is built on, for
/// [`HttpSender::with_client`]: the exact version this crate uses.
pub use reqwest;
