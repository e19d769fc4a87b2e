//! Wakeups: how a waiting relay learns that an envelope was enqueued, rather
//! than finding out at its next poll.
//!
//! On PostgreSQL a trigger sends a notification (`NOTIFY`) in the
//! enqueueing transaction, so it is delivered at its commit, to listeners on
//! every machine. On SQLite the store's own connections signal the commits
//! that enqueued, to relays in the same process. Either way a relay still
//! polls at the next due time and at least every
//! `idle_poll` (`RelayConfig` of crate `iap-relay`): a wakeup shortens the
//! wait, and nothing depends on it arriving.

#[cfg(feature = "async-sqlite")]
use std::sync::Arc;

#[cfg(feature = "async-sqlite")]
use tokio::sync::watch;

/// A relay's subscription to its store's wakeups
/// ([`AsyncDeliveryStore::wakeups`](super::AsyncDeliveryStore::wakeups)).
pub struct Wakeups(Source);

enum Source {
    /// Nothing wakes the relay: it polls.
    Polling,
    /// The enqueueing commits of this process.
    #[cfg(feature = "async-sqlite")]
    Local(watch::Receiver<u64>),
    /// A PostgreSQL session listening on the store's channel.
    #[cfg(feature = "async-postgres")]
    Listener(Box<sqlx::postgres::PgListener>),
}

impl Wakeups {
    /// No wakeups: the relay polls.
    pub fn polling() -> Self {
        Wakeups(Source::Polling)
    }

    #[cfg(feature = "async-sqlite")]
    pub(crate) fn local(signal: &LocalSignal) -> Self {
        Wakeups(Source::Local(signal.0.subscribe()))
    }

    #[cfg(feature = "async-postgres")]
    pub(crate) fn listener(listener: sqlx::postgres::PgListener) -> Self {
        Wakeups(Source::Listener(Box::new(listener)))
    }

    /// Completes at the next wakeup; never, when polling. A wakeup says that
    /// something *may* be due: the relay claims to find out. A listening
    /// session that fails (a proxy that refuses `LISTEN`, a server that
    /// went away) completes it too, since notifications may have been
    /// missed meanwhile; one that cannot listen again turns to polling,
    /// with a warning (feature `tracing`).
    pub async fn next(&mut self) {
        match &mut self.0 {
            Source::Polling => std::future::pending().await,
            #[cfg(feature = "async-sqlite")]
            Source::Local(receiver) => {
                if receiver.changed().await.is_err() {
                    // The store and all its clones are gone.
                    self.0 = Source::Polling;
                }
            }
            #[cfg(feature = "async-postgres")]
            Source::Listener(listener) => match listener.try_recv().await {
                Ok(Some(_)) => {
                    // Notifications that came together are one wakeup.
                    while listener.next_buffered().is_some() {}
                }
                // The session was lost and is opened again at the next
                // call; what was sent meanwhile is lost, so claim now.
                Ok(None) => {}
                Err(error) => {
                    crate::observe::listener_failed(&error);
                    self.0 = Source::Polling;
                }
            },
        }
    }
}

impl std::fmt::Debug for Wakeups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.0 {
            Source::Polling => "polling",
            #[cfg(feature = "async-sqlite")]
            Source::Local(_) => "local commits",
            #[cfg(feature = "async-postgres")]
            Source::Listener(_) => "LISTEN",
        };
        f.debug_tuple("Wakeups").field(&source).finish()
    }
}

/// The signal a SQLite store's connections raise when a commit enqueued;
/// shared by the store's clones.
#[cfg(feature = "async-sqlite")]
#[derive(Clone, Debug)]
pub(crate) struct LocalSignal(Arc<watch::Sender<u64>>);

#[cfg(feature = "async-sqlite")]
impl LocalSignal {
    pub(crate) fn new() -> Self {
        LocalSignal(Arc::new(watch::Sender::new(0)))
    }

    /// Wakes every subscribed relay.
    pub(crate) fn raise(&self) {
        self.0
            .send_modify(|commits| *commits = commits.wrapping_add(1));
    }
}
