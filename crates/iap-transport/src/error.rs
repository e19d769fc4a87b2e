//! Why a transport cannot be set up.

/// A transport's setting that cannot work, a broker that cannot be used, or
/// the store a receiving end admits into failing; each names what was wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// An endpoint address that does not parse or has the wrong scheme.
    #[error("{url:?} is not an endpoint address: {reason}")]
    Url {
        /// The address as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A header that HTTP cannot carry.
    #[error("header {name:?} cannot be sent: {reason}")]
    Header {
        /// The header's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client cannot be built (no TLS roots, say).
    #[error("cannot build the HTTP client: {reason}")]
    Client {
        /// What the client library said.
        reason: String,
    },
    /// A NATS subject that cannot be published to.
    #[error("{subject:?} is not a subject to publish to: {reason}")]
    Subject {
        /// The subject as given.
        subject: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The broker refused a request or cannot be reached.
    #[error("the broker refused {what}: {reason}")]
    Broker {
        /// What was asked of it.
        what: String,
        /// What it said.
        reason: String,
    },
    /// The store that a receiving end admits into failed.
    #[error(transparent)]
    Store(#[from] iap_store::StoreError),
}
