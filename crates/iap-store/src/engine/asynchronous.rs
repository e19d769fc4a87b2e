//! The async stores' operations: [`AsyncDeliveryStore`](crate::AsyncDeliveryStore)
//! implemented once over the engine, for every async store.

/// An inbox effect in an async store: a closure that returns a boxed future
/// borrowing the admitting transaction. Each async driver says how it runs
/// (`Effect` for `Async<F>` and `&mut Async<F>`).
pub(crate) struct Async<F>(pub(crate) F);

/// Implements `AsyncDeliveryStore` for an async store over the engine.
///
/// The store has an `options` field and, as an inherent method,
/// `driver(&self)`, its pool as the engine drives it; its transaction type
/// (`$tx`) runs statements, for `enqueue`, and its driver runs `Async`
/// effects. What is the store's own (`begin`, `wakeups`, a clock) follows in
/// the braces.
macro_rules! async_delivery_store {
    (impl for $store:ty, Tx = $tx:ty { $($own:item)* }) => {
        impl $crate::AsyncDeliveryStore for $store {
            type Tx = $tx;

            fn options(&self) -> $crate::StoreOptions {
                self.options
            }

            $($own)*

            async fn commit(tx: Self::Tx) -> Result<(), $crate::StoreError> {
                Ok(tx.commit().await?)
            }

            async fn enqueue<P: serde::Serialize + Sync>(
                tx: &mut Self::Tx,
                envelope: &integration_automation_patterns::Envelope<
                    integration_automation_patterns::envelope::state::Pending,
                    P,
                >,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                $crate::engine::outbox::enqueue(tx, envelope, now).await
            }

            async fn claim_due<P: serde::Serialize + serde::de::DeserializeOwned + Send + Sync>(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                limit: usize,
            ) -> Result<$crate::Claimed<P>, $crate::StoreError> {
                $crate::engine::outbox::claim_due(&mut self.driver(), self.options, now, limit)
                    .await
            }

            async fn record_not_before<P: serde::Serialize + Send + Sync>(
                &self,
                outcome: integration_automation_patterns::AnyEnvelope<P>,
                retry_after: Option<chrono::DateTime<chrono::Utc>>,
            ) -> Result<(), $crate::StoreError> {
                $crate::engine::outbox::record_not_before(&mut self.driver(), outcome, retry_after)
                    .await
            }

            async fn record_batch<P: serde::Serialize + Send + Sync>(
                &self,
                outcomes: &[$crate::Outcome<P>],
            ) -> Result<Vec<$crate::Recorded>, $crate::StoreError> {
                $crate::engine::outbox::record_batch(&mut self.driver(), outcomes).await
            }

            async fn extend_lease<P: Send + Sync>(
                &self,
                claim: &mut $crate::Claim<P>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                $crate::engine::outbox::extend_lease(&mut self.driver(), self.options, claim, now)
                    .await
            }

            async fn release_unsent<P: Send + Sync>(
                &self,
                claims: &[$crate::Claim<P>],
            ) -> Result<usize, $crate::StoreError> {
                $crate::engine::outbox::release_unsent(&mut self.driver(), claims).await
            }

            async fn admit<P, T, E, F>(
                &self,
                envelope: integration_automation_patterns::Envelope<
                    integration_automation_patterns::envelope::state::Pending,
                    P,
                >,
                now: chrono::DateTime<chrono::Utc>,
                effect: F,
            ) -> Result<$crate::Admission<T, P>, $crate::StoreError>
            where
                P: serde::Serialize + Send + Sync,
                T: Send,
                E: std::fmt::Display + Send,
                F: for<'t> FnOnce(
                        &'t mut Self::Tx,
                        &'t integration_automation_patterns::Envelope<
                            integration_automation_patterns::envelope::state::Dispatched,
                            P,
                        >,
                    ) -> $crate::BoxFuture<'t, Result<T, E>>
                    + Send,
            {
                use $crate::observe::InSpan as _;
                let span = $crate::observe::admission_span(&envelope);
                let effect = $crate::engine::asynchronous::Async(effect);
                async move {
                    let mut driver = self.driver();
                    $crate::engine::inbox::admit(&mut driver, self.options, envelope, now, effect)
                        .await
                }
                .in_span(span)
                .await
            }

            async fn admit_batch<P, T, E, F>(
                &self,
                envelopes: Vec<
                    integration_automation_patterns::Envelope<
                        integration_automation_patterns::envelope::state::Pending,
                        P,
                    >,
                >,
                now: chrono::DateTime<chrono::Utc>,
                effect: F,
            ) -> Result<Vec<$crate::AdmissionResult<T, P>>, $crate::StoreError>
            where
                P: serde::Serialize + Send + Sync,
                T: Send,
                E: std::fmt::Display + Send,
                F: for<'t> FnMut(
                        &'t mut Self::Tx,
                        &'t integration_automation_patterns::Envelope<
                            integration_automation_patterns::envelope::state::Dispatched,
                            P,
                        >,
                    ) -> $crate::BoxFuture<'t, Result<T, E>>
                    + Send,
            {
                let effect = $crate::engine::asynchronous::Async(effect);
                $crate::engine::inbox::admit_batch(
                    &mut self.driver(),
                    self.options,
                    envelopes,
                    now,
                    effect,
                )
                .await
            }

            async fn purge_inbox(
                &self,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<usize, $crate::StoreError> {
                $crate::engine::inbox::purge_inbox(&mut self.driver(), self.options, now).await
            }

            async fn purge_delivered(
                &self,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<usize, $crate::StoreError> {
                $crate::engine::outbox::purge_delivered(&mut self.driver(), self.options, now)
                    .await
            }

            async fn load_any<P: serde::de::DeserializeOwned + Send + Sync>(
                &self,
                source_system: &str,
                event_id: &str,
            ) -> Result<integration_automation_patterns::AnyEnvelope<P>, $crate::StoreError> {
                $crate::engine::dead_letters::load_any(&mut self.driver(), source_system, event_id)
                    .await
            }

            async fn dead_letters<P: serde::de::DeserializeOwned + Send + Sync>(
                &self,
                limit: usize,
            ) -> Result<$crate::DeadLetters<P>, $crate::StoreError> {
                let filter = $crate::DeadLetterFilter::all();
                $crate::engine::dead_letters::dead_letters_matching(
                    &mut self.driver(),
                    &filter,
                    limit,
                )
                .await
            }

            async fn redrive<P: serde::Serialize + serde::de::DeserializeOwned + Send + Sync>(
                &self,
                source_system: &str,
                event_id: &str,
                reason: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<
                integration_automation_patterns::Envelope<
                    integration_automation_patterns::envelope::state::Pending,
                    P,
                >,
                $crate::StoreError,
            > {
                $crate::engine::dead_letters::rewrite_dead_letter(
                    &mut self.driver(),
                    source_system,
                    event_id,
                    Some(now),
                    |failed| failed.redrive_at(reason, now),
                )
                .await
            }

            async fn redrive_all<P: serde::Serialize + serde::de::DeserializeOwned + Send + Sync>(
                &self,
                reason: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<$crate::Redriven, $crate::StoreError> {
                $crate::engine::dead_letters::redrive_all::<_, P>(&mut self.driver(), reason, now)
                    .await
            }

            async fn skip_dead_letter<
                P: serde::Serialize + serde::de::DeserializeOwned + Send + Sync,
            >(
                &self,
                source_system: &str,
                event_id: &str,
                reason: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<
                integration_automation_patterns::Envelope<
                    integration_automation_patterns::envelope::state::Skipped,
                    P,
                >,
                $crate::StoreError,
            > {
                $crate::engine::dead_letters::rewrite_dead_letter(
                    &mut self.driver(),
                    source_system,
                    event_id,
                    None,
                    |failed| failed.redrive_at(reason, now).skip_at(reason, now),
                )
                .await
            }

            async fn held_keys(
                &self,
                limit: usize,
            ) -> Result<Vec<$crate::HeldKey>, $crate::StoreError> {
                $crate::engine::dead_letters::held_keys(&mut self.driver(), self.options, limit)
                    .await
            }

            async fn quarantined(
                &self,
                limit: usize,
            ) -> Result<Vec<$crate::QuarantinedRow>, $crate::StoreError> {
                $crate::engine::quarantine::quarantined(&mut self.driver(), limit).await
            }

            async fn release_quarantined<P: serde::de::DeserializeOwned + Send + Sync>(
                &self,
                source_system: &str,
                event_id: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<integration_automation_patterns::AnyEnvelope<P>, $crate::StoreError> {
                $crate::engine::quarantine::release_quarantined(
                    &mut self.driver(),
                    source_system,
                    event_id,
                    now,
                )
                .await
            }

            async fn delete_quarantined(
                &self,
                source_system: &str,
                event_id: &str,
            ) -> Result<(), $crate::StoreError> {
                $crate::engine::quarantine::delete_quarantined(
                    &mut self.driver(),
                    source_system,
                    event_id,
                )
                .await
            }

            async fn verify(&self) -> Result<Vec<$crate::StoreError>, $crate::StoreError> {
                $crate::engine::quarantine::verify(&mut self.driver()).await
            }

            async fn counts(&self) -> Result<$crate::StatusCounts, $crate::StoreError> {
                $crate::engine::monitoring::counts(&mut self.driver()).await
            }

            async fn next_due_at(
                &self,
            ) -> Result<Option<chrono::DateTime<chrono::Utc>>, $crate::StoreError> {
                $crate::engine::monitoring::next_due_at(&mut self.driver()).await
            }

            async fn oldest_due_age(
                &self,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<std::time::Duration>, $crate::StoreError> {
                $crate::engine::monitoring::oldest_due_age(&mut self.driver(), now).await
            }
        }
    };
}
pub(crate) use async_delivery_store;
