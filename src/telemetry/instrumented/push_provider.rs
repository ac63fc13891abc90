//! `PushProvider` with its span (`provider.send`: outcome and retries, never the token or the
//! payload) and its metrics (`push_provider_duration_seconds`, `push_provider_retries_total`).

use std::{sync::Arc, time::Instant};

use async_trait::async_trait;
use tracing::{Instrument, field::Empty, info_span};

use crate::{
    domain::{Delivery, DeviceToken},
    ports::{Delivered, PushError, PushFailure, PushProvider},
    telemetry::Metrics,
};

pub struct InstrumentedPushProvider {
    inner: Arc<dyn PushProvider>,
    metrics: Arc<Metrics>,
}

impl InstrumentedPushProvider {
    pub fn new(inner: Arc<dyn PushProvider>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }
}

/// How one provider call ended, for the span and the metrics: a fixed set of names.
fn outcome_label(result: &Result<Delivered, PushFailure>) -> &'static str {
    match result {
        Ok(_) => "delivered",
        Err(PushFailure { error, .. }) => match error {
            PushError::TokenUnregistered { .. } => "token_unregistered",
            PushError::PayloadRejected { .. } => "payload_rejected",
            PushError::Unavailable { .. } => "unavailable",
            PushError::Credentials { .. } => "credentials",
            PushError::Busy { .. } => "busy",
        },
    }
}

#[async_trait]
impl PushProvider for InstrumentedPushProvider {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn send(&self, delivery: &Delivery) -> Result<Delivered, PushFailure> {
        let span = info_span!(
            "provider.send",
            provider = self.name(),
            push_type = %delivery.push_type,
            client_id = %delivery.client_id,
            notification_id = %delivery.notification.id,
            outcome = Empty,
            retries = Empty,
        );
        let started = Instant::now();
        let sent = self.inner.send(delivery).instrument(span.clone()).await;
        let attempts = match &sent {
            Ok(delivered) => delivered.attempts,
            Err(failure) => failure.attempts,
        };
        let retries = attempts.saturating_sub(1);
        let outcome = outcome_label(&sent);
        span.record("outcome", outcome);
        span.record("retries", retries);
        self.metrics.observe_provider(self.name(), outcome, started.elapsed(), retries);
        sent
    }

    async fn check_token(&self, token: &DeviceToken) -> Result<(), String> {
        self.inner.check_token(token).await
    }
}
