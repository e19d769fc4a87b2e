//! CloudEvents over HTTP: a sender that POSTs each event to an endpoint
//! (feature `http-send`) and an inbox that receives them (feature
//! `http-receive`).

#[cfg(feature = "http-receive")]
mod inbox;
#[cfg(feature = "http-receive")]
mod problem;
#[cfg(feature = "http-send")]
mod sender;
#[cfg(feature = "http-receive")]
mod serve;
#[cfg(feature = "http-send")]
mod status;

/// The web framework the inbox is built on, for the routes of your own
/// service beside it: the exact version this crate uses, built with its
/// features `http1`, `tokio`, `json` (`axum::Json`) and `query`
/// (`axum::extract::Query`). For another of its features (`ws`,
/// `multipart`, `macros`, ...), depend on `axum = "0.8"` with it yourself:
/// Cargo builds one axum with the features of both.
#[cfg(feature = "http-receive")]
pub use axum;
#[cfg(feature = "http-receive")]
pub use inbox::{InboxOptions, inbox_router, inbox_router_with, receive, receive_within};
#[cfg(feature = "http-receive")]
pub use problem::Problem;
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
