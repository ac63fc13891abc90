//! `DedupStore` with its spans (`dedup.try_claim` and `dedup.wait` with the outcome,
//! `dedup.complete`, `dedup.release`), its failures counted (`push_dedup_errors_total` by
//! operation) and its waits counted by how they ended (`push_dedup_waits_total`).

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use tracing::{Instrument, field::Empty, info_span};

use crate::{
    domain::{ClientId, NotificationId},
    ports::{Claim, ClaimToken, Completed, DedupError, DedupStore, Waited},
    telemetry::Metrics,
};

pub struct InstrumentedDedupStore {
    inner: Arc<dyn DedupStore>,
    metrics: Arc<Metrics>,
}

impl InstrumentedDedupStore {
    pub fn new(inner: Arc<dyn DedupStore>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    /// Counts a failed call of `operation` and passes the result on.
    fn counted<T>(&self, operation: &'static str, result: Result<T, DedupError>) -> Result<T, DedupError> {
        result.inspect_err(|_| self.metrics.dedup_error(operation))
    }
}

#[async_trait]
impl DedupStore for InstrumentedDedupStore {
    async fn try_claim(&self, client: &ClientId, id: &NotificationId, lease: Duration) -> Result<Claim, DedupError> {
        let span = info_span!("dedup.try_claim", client_id = %client, notification_id = %id, outcome = Empty);
        let claimed = self.counted("try_claim", self.inner.try_claim(client, id, lease).instrument(span.clone()).await);
        span.record(
            "outcome",
            match &claimed {
                Ok(Claim::Claimed(_)) => "claimed",
                Ok(Claim::Done) => "done",
                Ok(Claim::InFlight { .. }) => "in_flight",
                Err(_) => "error",
            },
        );
        claimed
    }

    async fn complete(
        &self,
        client: &ClientId,
        id: &NotificationId,
        token: ClaimToken,
        window: Duration,
    ) -> Result<Completed, DedupError> {
        let span = info_span!("dedup.complete", client_id = %client, notification_id = %id);
        self.counted("complete", self.inner.complete(client, id, token, window).instrument(span).await)
    }

    async fn release(&self, client: &ClientId, id: &NotificationId, token: ClaimToken) -> Result<(), DedupError> {
        let span = info_span!("dedup.release", client_id = %client, notification_id = %id);
        self.counted("release", self.inner.release(client, id, token).instrument(span).await)
    }

    async fn wait(&self, client: &ClientId, id: &NotificationId, patience: Duration) -> Result<Waited, DedupError> {
        let span = info_span!("dedup.wait", client_id = %client, notification_id = %id, outcome = Empty);
        let waited = self.counted("wait", self.inner.wait(client, id, patience).instrument(span.clone()).await);
        let outcome = match &waited {
            Ok(Waited::Done) => "done",
            Ok(Waited::Released) => "released",
            Ok(Waited::LeaseEnded) => "lease_ended",
            Ok(Waited::InFlight { .. }) => "in_flight",
            Err(_) => "error",
        };
        span.record("outcome", outcome);
        if waited.is_ok() {
            self.metrics.record_dedup_wait(outcome);
        }
        waited
    }
}
