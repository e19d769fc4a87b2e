//! The NATS server the broker tests use: the one `scripts/nats.sh` started
//! (its address in `NATS_URL`). Without one the tests skip, except under
//! `CI=true`, where a missing server is a failure.

use std::sync::atomic::{AtomicU32, Ordering};

/// The server's address, or `None` (after saying so) when there is none to
/// use outside CI.
pub fn nats_url() -> Option<String> {
    match std::env::var("NATS_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("NATS_URL is not set: run the tests through scripts/test-all.sh")
        }
        Err(_) => {
            eprintln!("skipped: NATS_URL is not set (scripts/nats.sh starts a server)");
            None
        }
    }
}

/// A JetStream context on the server, with a short request timeout so that a
/// test of a missing stream does not wait long.
pub async fn jetstream(url: &str) -> async_nats::jetstream::Context {
    let client = async_nats::connect(url).await.unwrap();
    async_nats::jetstream::ContextBuilder::new()
        .timeout(std::time::Duration::from_secs(2))
        .build(client)
}

/// A stream name no other test of this run uses.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
