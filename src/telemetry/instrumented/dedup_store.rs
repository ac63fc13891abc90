//! `DedupStore` with its spans (`dedup.try_claim` with the outcome, `dedup.release`) and its
//! failures counted (`push_dedup_errors_total` by operation).

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use tracing::{Instrument, field::Empty, info_span};

use crate::{
    domain::{ClientId, NotificationId},
    ports::{Claim, ClaimToken, DedupError, DedupStore},
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
}

#[async_trait]
impl DedupStore for InstrumentedDedupStore {
    async fn try_claim(&self, client: &ClientId, id: &NotificationId, ttl: Duration) -> Result<Claim, DedupError> {
        let span = info_span!("dedup.try_claim", client_id = %client, notification_id = %id, outcome = Empty);
        let claimed = self.inner.try_claim(client, id, ttl).instrument(span.clone()).await;
        let outcome = match &claimed {
            Ok(Claim::New(_)) => "new",
            Ok(Claim::Duplicate) => "duplicate",
            Err(_) => {
                self.metrics.dedup_error("try_claim");
                "error"
            }
        };
        span.record("outcome", outcome);
        claimed
    }

    async fn release(&self, client: &ClientId, id: &NotificationId, token: ClaimToken) -> Result<(), DedupError> {
        let span = info_span!("dedup.release", client_id = %client, notification_id = %id);
        let released = self.inner.release(client, id, token).instrument(span).await;
        released.inspect_err(|_| self.metrics.dedup_error("release"))
    }
}
