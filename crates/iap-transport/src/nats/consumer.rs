//! The NATS JetStream consumer: admits each delivered message into an async
//! store's inbox and acknowledges it only after the inbox commit.

use std::fmt::Display;
use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use async_nats::jetstream::AckKind;
use async_nats::jetstream::Message;
use async_nats::jetstream::consumer::PullConsumer;
use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::TransportError;
use crate::refusal::shortened;
use iap_store::{Admission, AsyncDeliveryStore, BoxFuture, StoreError};
use integration_automation_patterns::envelope::state::{Dispatched, Pending};
use integration_automation_patterns::envelope::{Binding, ReadLimits};
use integration_automation_patterns::{Envelope, RetryPolicy};

/// How long a message waits for redelivery when the store was busy.
const BUSY_REDELIVERY: Duration = Duration::from_secs(1);

/// A message the consumer will not admit, terminated so that the server
/// stops redelivering it. It stays in the stream (with limits retention) at
/// its sequence, for an operator to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// Its sequence in the stream.
    pub stream_sequence: u64,
    /// The subject it was published to.
    pub subject: String,
    /// Why: not a CloudEvent (naming the attribute), an id reused with
    /// another event, or an effect that failed until the retry budget was
    /// spent.
    pub reason: String,
}

/// What a consumer did, from its start to its stop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsumerReport {
    /// Messages whose effect ran and committed.
    pub admitted: u64,
    /// Redeliveries answered as duplicates (the effect did not run).
    pub duplicates: u64,
    /// Messages handed back for a later redelivery (a failed effect with
    /// budget left, or a busy store).
    pub redelivered: u64,
    /// Messages terminated; each was given to the `on_rejected` callback.
    pub rejected: u64,
    /// Acknowledgements that could not be sent (the connection broke); each
    /// such message is redelivered and then answered as a duplicate.
    pub unacknowledged: u64,
}

/// Admits what a durable JetStream pull consumer delivers into an inbox:
/// each batch of messages that arrived together in one transaction of
/// [`AsyncDeliveryStore::admit_batch`], and every message acknowledged only
/// after that commit.
///
/// | admission | message |
/// |---|---|
/// | processed, or a duplicate | acknowledged |
/// | the effect failed, budget left | redelivered after the retry policy's wait |
/// | the effect failed, budget spent; an id reused; not a CloudEvent | terminated, and [`Rejected`] |
/// | the store busy | redelivered after a second |
///
/// The budget counts deliveries by the server, so it holds across restarts
/// of the consumer.
#[derive(Clone, Debug)]
pub struct NatsConsumer<S> {
    consumer: PullConsumer,
    store: S,
    batch: usize,
    retry: RetryPolicy,
    limits: ReadLimits,
}

impl<S: AsyncDeliveryStore> NatsConsumer<S> {
    /// A consumer of `consumer`'s messages into `store`'s inbox, in batches
    /// of up to 100, with the default retry policy for failed effects.
    pub fn new(consumer: PullConsumer, store: S) -> Self {
        NatsConsumer {
            consumer,
            store,
            batch: 100,
            retry: RetryPolicy::default(),
            limits: ReadLimits::default(),
        }
    }

    /// Admits up to `batch` messages in one transaction (at least 1).
    #[must_use]
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Reads each message within `limits` (by default [`ReadLimits`]'s); a
    /// message past them is terminated and handed to `on_rejected`.
    #[must_use]
    pub fn read_limits(mut self, limits: ReadLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Retries a failed effect by this policy, counting the server's
    /// deliveries as attempts.
    #[must_use]
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Consumes until `shutdown` completes: admits each message with
    /// `effect` (run inside the admitting transaction, as in
    /// [`AsyncDeliveryStore::admit`]) and hands each terminated message to
    /// `on_rejected`. Returns what it did; stops with an error when the
    /// consumer is deleted or the store fails for a reason that waiting
    /// cannot cure (the unacknowledged messages are then redelivered).
    pub async fn run<P, T, E, F, R>(
        self,
        effect: F,
        mut on_rejected: R,
        shutdown: impl Future<Output = ()>,
    ) -> Result<ConsumerReport, TransportError>
    where
        P: DeserializeOwned + Serialize + Send + Sync,
        T: Send,
        E: Display + Send,
        F: for<'t> Fn(&'t mut S::Tx, &'t Envelope<Dispatched, P>) -> BoxFuture<'t, Result<T, E>>
            + Send
            + Sync,
        R: FnMut(Rejected),
    {
        let messages = self
            .consumer
            .messages()
            .await
            .map_err(|error| TransportError::Broker {
                what: "a pull subscription".into(),
                reason: error.to_string(),
            })?;
        let mut batches = pin!(messages.ready_chunks(self.batch));
        let mut shutdown = pin!(shutdown);
        let mut report = ConsumerReport::default();
        loop {
            let batch = tokio::select! {
                () = &mut shutdown => return Ok(report),
                batch = batches.next() => batch,
            };
            let Some(batch) = batch else {
                return Err(TransportError::Broker {
                    what: "to go on delivering".into(),
                    reason: "the consumer's message stream ended (was the consumer deleted?)"
                        .into(),
                });
            };
            // Errors in the stream (a missed heartbeat while the server
            // restarts) are the client's to recover from; the messages
            // around them are still good.
            let messages = batch.into_iter().filter_map(Result::ok).collect();
            self.admit(messages, &effect, &mut on_rejected, &mut report)
                .await?;
        }
    }

    /// Admits one batch of messages and settles each with the server.
    async fn admit<P, T, E, F, R>(
        &self,
        messages: Vec<Message>,
        effect: &F,
        on_rejected: &mut R,
        report: &mut ConsumerReport,
    ) -> Result<(), TransportError>
    where
        P: DeserializeOwned + Serialize + Send + Sync,
        T: Send,
        E: Display + Send,
        F: for<'t> Fn(&'t mut S::Tx, &'t Envelope<Dispatched, P>) -> BoxFuture<'t, Result<T, E>>
            + Send
            + Sync,
        R: FnMut(Rejected),
    {
        let mut readable = Vec::with_capacity(messages.len());
        let mut envelopes = Vec::with_capacity(messages.len());
        for message in messages {
            match read_envelope::<P>(&message, &self.limits) {
                Ok(envelope) => {
                    readable.push(message);
                    envelopes.push(envelope);
                }
                Err(reason) => {
                    settle(&message, AckKind::Term, report).await;
                    reject(&message, reason, on_rejected, report);
                }
            }
        }
        if envelopes.is_empty() {
            return Ok(());
        }
        let admissions = match self
            .store
            .admit_batch(envelopes, self.store.now(), effect)
            .await
        {
            Ok(admissions) => admissions,
            Err(error) => {
                for message in &readable {
                    settle(message, AckKind::Nak(Some(BUSY_REDELIVERY)), report).await;
                }
                report.redelivered += readable.len() as u64;
                if error.is_retryable() {
                    tokio::time::sleep(BUSY_REDELIVERY).await;
                    return Ok(());
                }
                return Err(error.into());
            }
        };
        for (message, admission) in readable.iter().zip(admissions) {
            match admission {
                Ok(Admission::Processed(..)) => {
                    report.admitted += 1;
                    settle(message, AckKind::Ack, report).await;
                }
                Ok(Admission::Duplicate(_)) => {
                    report.duplicates += 1;
                    settle(message, AckKind::Ack, report).await;
                }
                Ok(Admission::Failed(outcome)) => {
                    let deliveries = message
                        .info()
                        .map_or(1, |info| u32::try_from(info.delivered).unwrap_or(u32::MAX));
                    if self.retry.is_exhausted(deliveries) {
                        settle(message, AckKind::Term, report).await;
                        let reason = format!(
                            "the effect failed on each of {deliveries} deliveries, last: {}",
                            outcome.reason()
                        );
                        reject(message, reason, on_rejected, report);
                    } else {
                        let wait = self
                            .retry
                            .jittered_wait(outcome.event_id(), deliveries.saturating_sub(1));
                        settle(message, AckKind::Nak(Some(wait)), report).await;
                        report.redelivered += 1;
                    }
                }
                Err(error @ StoreError::KeyReused { .. }) => {
                    settle(message, AckKind::Term, report).await;
                    reject(message, error.to_string(), on_rejected, report);
                }
                Err(_) => {
                    settle(message, AckKind::Nak(Some(BUSY_REDELIVERY)), report).await;
                    report.redelivered += 1;
                }
            }
        }
        Ok(())
    }
}

/// The envelope a message carries, or why it carries none.
fn read_envelope<P: DeserializeOwned>(
    message: &Message,
    limits: &ReadLimits,
) -> Result<Envelope<Pending, P>, String> {
    let headers: Vec<(&str, &str)> = message
        .headers
        .iter()
        .flat_map(|headers| headers.iter())
        .flat_map(|(name, values)| {
            values
                .iter()
                .map(move |value| (name.as_ref(), value.as_str()))
        })
        .collect();
    Envelope::from_message_within(limits, Binding::Nats, &headers, &message.payload)
        .map_err(|error| shortened(format!("not a CloudEvent: {error}")))
}

/// Tells the server what became of a message; a reply that cannot be sent
/// is counted (the server redelivers the message).
async fn settle(message: &Message, kind: AckKind, report: &mut ConsumerReport) {
    if message.ack_with(kind).await.is_err() {
        report.unacknowledged += 1;
    }
}

fn reject<R: FnMut(Rejected)>(
    message: &Message,
    reason: String,
    on_rejected: &mut R,
    report: &mut ConsumerReport,
) {
    report.rejected += 1;
    on_rejected(Rejected {
        stream_sequence: message.info().map_or(0, |info| info.stream_sequence),
        subject: message.subject.to_string(),
        reason,
    });
}
