//! The blocking stores' operations: [`DeliveryStore`](crate::DeliveryStore)
//! implemented once over the engine, for every blocking store.

/// An inbox effect or a caller's work in a blocking store: a plain closure,
/// run as soon as the engine hands it the transaction. Each blocking driver
/// says how (`Effect` for `Blocking<F>` and `&mut Blocking<F>`), giving the
/// closure the transaction type its store's callers know.
pub(crate) struct Blocking<F>(pub(crate) F);

/// Implements `DeliveryStore` for a blocking store over the engine.
///
/// The store has, as inherent methods:
/// - `settings(&self) -> StoreOptions`;
/// - `run(&mut self, operation)`, which runs an engine operation
///   (`AsyncFnOnce(&mut Driver) -> Result<T, StoreError>`) on its driver to
///   its end (with [`run_ready`](super::run_ready));
/// - `transaction(&mut self, work)`, which runs the caller's work in a
///   transaction of its own (`DeliveryStore::write`).
///
/// Its transaction type (`$tx`) runs statements (`Statements`), for
/// `enqueue`, and its driver runs `Blocking` effects.
macro_rules! delivery_store {
    (impl[$($generics:tt)*] for $store:ty, Tx<$t:lifetime> = $tx:ty) => {
        impl<$($generics)*> $crate::DeliveryStore for $store {
            type Tx<$t> = $tx;

            fn options(&self) -> $crate::StoreOptions {
                self.settings()
            }

            fn write<T, E>(
                &mut self,
                work: impl FnOnce(&mut Self::Tx<'_>) -> Result<T, E>,
            ) -> Result<T, E>
            where
                E: From<$crate::StoreError>,
            {
                self.transaction(work)
            }

            fn enqueue<P: serde::Serialize>(
                tx: &mut Self::Tx<'_>,
                envelope: &integration_automation_patterns::Envelope<
                    integration_automation_patterns::envelope::state::Pending,
                    P,
                >,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                $crate::engine::run_ready($crate::engine::outbox::enqueue(tx, envelope, now))
            }

            fn claim_due<P: serde::Serialize + serde::de::DeserializeOwned>(
                &mut self,
                now: chrono::DateTime<chrono::Utc>,
                limit: usize,
            ) -> Result<$crate::Claimed<P>, $crate::StoreError> {
                let options = self.settings();
                self.run(async move |driver| {
                    $crate::engine::outbox::claim_due(driver, options, now, limit).await
                })
            }

            fn record_not_before<P: serde::Serialize>(
                &mut self,
                outcome: integration_automation_patterns::AnyEnvelope<P>,
                retry_after: Option<chrono::DateTime<chrono::Utc>>,
            ) -> Result<(), $crate::StoreError> {
                self.run(async move |driver| {
                    $crate::engine::outbox::record_not_before(driver, outcome, retry_after).await
                })
            }

            fn record_batch<P: serde::Serialize>(
                &mut self,
                outcomes: &[$crate::Outcome<P>],
            ) -> Result<Vec<$crate::Recorded>, $crate::StoreError> {
                self.run(async move |driver| {
                    $crate::engine::outbox::record_batch(driver, outcomes).await
                })
            }

            fn extend_lease<P>(
                &mut self,
                claim: &mut $crate::Claim<P>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                let options = self.settings();
                self.run(async move |driver| {
                    $crate::engine::outbox::extend_lease(driver, options, claim, now).await
                })
            }

            fn release_unsent<P>(
                &mut self,
                claims: &[$crate::Claim<P>],
            ) -> Result<usize, $crate::StoreError> {
                self.run(async move |driver| {
                    $crate::engine::outbox::release_unsent(driver, claims).await
                })
            }

            fn admit<P, T, E, F>(
                &mut self,
                envelope: integration_automation_patterns::Envelope<
                    integration_automation_patterns::envelope::state::Pending,
                    P,
                >,
                now: chrono::DateTime<chrono::Utc>,
                effect: F,
            ) -> Result<$crate::Admission<T, P>, $crate::StoreError>
            where
                P: serde::Serialize,
                E: std::fmt::Display,
                F: FnOnce(
                    &mut Self::Tx<'_>,
                    &integration_automation_patterns::Envelope<
                        integration_automation_patterns::envelope::state::Dispatched,
                        P,
                    >,
                ) -> Result<T, E>,
            {
                let _span = $crate::observe::admission_span(&envelope).entered();
                let options = self.settings();
                let effect = $crate::engine::blocking::Blocking(effect);
                self.run(async move |driver| {
                    $crate::engine::inbox::admit(driver, options, envelope, now, effect).await
                })
            }

            fn admit_batch<P, T, E, F>(
                &mut self,
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
                P: serde::Serialize,
                E: std::fmt::Display,
                F: FnMut(
                    &mut Self::Tx<'_>,
                    &integration_automation_patterns::Envelope<
                        integration_automation_patterns::envelope::state::Dispatched,
                        P,
                    >,
                ) -> Result<T, E>,
            {
                let options = self.settings();
                let effect = $crate::engine::blocking::Blocking(effect);
                self.run(async move |driver| {
                    $crate::engine::inbox::admit_batch(driver, options, envelopes, now, effect)
                        .await
                })
            }

            fn purge_inbox(
                &mut self,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<usize, $crate::StoreError> {
                let options = self.settings();
                self.run(async move |driver| {
                    $crate::engine::inbox::purge_inbox(driver, options, now).await
                })
            }

            fn purge_delivered(
                &mut self,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<usize, $crate::StoreError> {
                let options = self.settings();
                self.run(async move |driver| {
                    $crate::engine::outbox::purge_delivered(driver, options, now).await
                })
            }

            fn load_any<P: serde::de::DeserializeOwned>(
                &mut self,
                source_system: &str,
                event_id: &str,
            ) -> Result<integration_automation_patterns::AnyEnvelope<P>, $crate::StoreError> {
                self.run(async move |driver| {
                    $crate::engine::dead_letters::load_any(driver, source_system, event_id).await
                })
            }

            fn dead_letters_matching<P: serde::de::DeserializeOwned>(
                &mut self,
                filter: &$crate::DeadLetterFilter,
                limit: usize,
            ) -> Result<$crate::DeadLetters<P>, $crate::StoreError> {
                self.run(async move |driver| {
                    $crate::engine::dead_letters::dead_letters_matching(driver, filter, limit)
                        .await
                })
            }

            fn count_dead_letters(
                &mut self,
                filter: &$crate::DeadLetterFilter,
            ) -> Result<u64, $crate::StoreError> {
                self.run(async move |driver| {
                    $crate::engine::dead_letters::count_dead_letters(driver, filter).await
                })
            }

            fn redrive_matching<P: serde::Serialize + serde::de::DeserializeOwned>(
                &mut self,
                filter: &$crate::DeadLetterFilter,
                limit: usize,
                reason: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<$crate::RedriveBatch<P>, $crate::StoreError> {
                self.run(async move |driver| {
                    $crate::engine::dead_letters::redrive_matching(driver, filter, limit, reason, now)
                        .await
                })
            }

            fn redrive<P: serde::Serialize + serde::de::DeserializeOwned>(
                &mut self,
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
                self.run(async move |driver| {
                    $crate::engine::dead_letters::rewrite_dead_letter(
                        driver,
                        source_system,
                        event_id,
                        Some(now),
                        |failed| failed.redrive_at(reason, now),
                    )
                    .await
                })
            }

            fn redrive_all<P: serde::Serialize + serde::de::DeserializeOwned>(
                &mut self,
                reason: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<$crate::Redriven, $crate::StoreError> {
                self.run(async move |driver| {
                    $crate::engine::dead_letters::redrive_all::<_, P>(driver, reason, now).await
                })
            }

            fn skip_dead_letter<P: serde::Serialize + serde::de::DeserializeOwned>(
                &mut self,
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
                self.run(async move |driver| {
                    $crate::engine::dead_letters::rewrite_dead_letter(
                        driver,
                        source_system,
                        event_id,
                        None,
                        |failed| failed.redrive_at(reason, now).skip_at(reason, now),
                    )
                    .await
                })
            }

            fn held_keys(
                &mut self,
                limit: usize,
            ) -> Result<Vec<$crate::HeldKey>, $crate::StoreError> {
                let options = self.settings();
                self.run(async move |driver| {
                    $crate::engine::dead_letters::held_keys(driver, options, limit).await
                })
            }

            fn quarantined(
                &mut self,
                limit: usize,
            ) -> Result<Vec<$crate::QuarantinedRow>, $crate::StoreError> {
                self.run(async move |driver| {
                    $crate::engine::quarantine::quarantined(driver, limit).await
                })
            }

            fn release_quarantined<P: serde::de::DeserializeOwned>(
                &mut self,
                source_system: &str,
                event_id: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<integration_automation_patterns::AnyEnvelope<P>, $crate::StoreError> {
                self.run(async move |driver| {
                    $crate::engine::quarantine::release_quarantined(
                        driver,
                        source_system,
                        event_id,
                        now,
                    )
                    .await
                })
            }

            fn delete_quarantined(
                &mut self,
                source_system: &str,
                event_id: &str,
            ) -> Result<(), $crate::StoreError> {
                self.run(async move |driver| {
                    $crate::engine::quarantine::delete_quarantined(driver, source_system, event_id)
                        .await
                })
            }

            fn verify(&mut self) -> Result<Vec<$crate::StoreError>, $crate::StoreError> {
                self.run(async move |driver| $crate::engine::quarantine::verify(driver).await)
            }

            fn counts(&mut self) -> Result<$crate::StatusCounts, $crate::StoreError> {
                self.run(async move |driver| $crate::engine::monitoring::counts(driver).await)
            }

            fn next_due_at(
                &mut self,
            ) -> Result<Option<chrono::DateTime<chrono::Utc>>, $crate::StoreError> {
                self.run(async move |driver| {
                    $crate::engine::monitoring::next_due_at(driver).await
                })
            }

            fn oldest_due_age(
                &mut self,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<std::time::Duration>, $crate::StoreError> {
                self.run(async move |driver| {
                    $crate::engine::monitoring::oldest_due_age(driver, now).await
                })
            }
        }
    };
}
pub(crate) use delivery_store;
