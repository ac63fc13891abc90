//! The suspension rule for a project's provider: credentials the provider refused are not
//! presented again for a while (Apple throttles providers that keep sending bad tokens).
//!
//! A refusal suspends the provider: sends fail at once with `Credentials`, without a call, until
//! the period has passed; then one real send is let through, and its success lifts the
//! suspension (a new refusal starts another period). New credentials build a new provider,
//! which starts unsuspended. The suspension is recorded in the project store so that `GET` and
//! the start-up log show it; the state that decides is this instance's own.
//!
//! A provider serves the credentials of one revision of its project, and everything it records
//! is about that revision only: the store writes a suspension (or its lift) only while the
//! project is still at that revision. A refusal that comes back after new credentials were
//! uploaded (the send was in flight, or another instance had not refreshed yet) therefore
//! suspends nothing but the old provider, which is on its way out; the upload, which gave the
//! project a new revision and cleared its suspensions in one statement, lifted the suspension
//! everywhere (other instances rebuild at their next refresh, from the new revision).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::{
    domain::{Delivery, DeviceToken, Project, ProjectId, ProviderKind, Suspension},
    ports::{Clock, Delivered, ProjectRepository, PushError, PushFailure, PushProvider},
};

/// How long a provider stays suspended before one real send is tried again.
pub const DEFAULT_SUSPENSION: Duration = Duration::from_secs(600);

struct Suspended {
    reason: String,
    /// No real send before this instant; then exactly one is let through.
    retry_at: Instant,
}

/// A project's provider with the suspension rule around it.
pub struct SuspendingProvider {
    inner: Arc<dyn PushProvider>,
    project: ProjectId,
    kind: ProviderKind,
    /// The revision of the project whose credentials `inner` presents.
    revision: i64,
    projects: Arc<dyn ProjectRepository>,
    period: Duration,
    /// Stamps a suspension's `since`, which outlives this instance in the project store (the
    /// decisions themselves run on the monotonic clock).
    clock: Arc<dyn Clock>,
    state: Mutex<Option<Suspended>>,
}

impl SuspendingProvider {
    /// Wraps `inner`, built from the credentials of `project` at `revision`. `stored` is the
    /// suspension the project store holds at that revision, which keeps counting from its
    /// `since` (a restart does not present refused credentials again at once).
    pub fn new(
        inner: Arc<dyn PushProvider>,
        project: &Project,
        kind: ProviderKind,
        projects: Arc<dyn ProjectRepository>,
        period: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let state = project.suspension(kind).map(|s| {
            let elapsed = Duration::from_secs(clock.unix_now().saturating_sub(s.since).max(0) as u64);
            Suspended { reason: s.reason.clone(), retry_at: Instant::now() + period.saturating_sub(elapsed) }
        });
        let (id, revision) = (project.id.clone(), project.revision);
        Self { inner, project: id, kind, revision, projects, period, clock, state: Mutex::new(state) }
    }

    pub fn is_suspended(&self) -> bool {
        self.state.lock().expect("suspension lock").is_some()
    }

    /// `Err` with the refusal while suspended; otherwise this send may call the provider. The
    /// one send let through after the period moves the next try a whole period on, so that
    /// concurrent sends do not all become tries.
    fn admit(&self) -> Result<bool, PushFailure> {
        let mut state = self.state.lock().expect("suspension lock");
        let Some(suspended) = state.as_mut() else { return Ok(false) };
        let now = Instant::now();
        if now < suspended.retry_at {
            return Err(PushFailure::before_sending(PushError::Credentials {
                provider: self.inner.name(),
                reason: format!("suspended after the credentials were refused: {}", suspended.reason),
            }));
        }
        suspended.retry_at = now + self.period;
        Ok(true)
    }

    async fn suspend(&self, reason: &str) {
        let newly = {
            let mut state = self.state.lock().expect("suspension lock");
            let newly = state.is_none();
            *state = Some(Suspended { reason: reason.to_owned(), retry_at: Instant::now() + self.period });
            newly
        };
        if newly {
            error!(
                project = %self.project,
                provider = self.kind.as_str(),
                reason,
                suspended_for_secs = self.period.as_secs(),
                "the provider refused this project's credentials: sends to it now fail at once until a try \
                 succeeds after the suspension period or new credentials are uploaded"
            );
            let suspension = Suspension { reason: reason.to_owned(), since: self.clock.unix_now() };
            self.record(Some(suspension)).await;
        }
    }

    async fn lift(&self) {
        *self.state.lock().expect("suspension lock") = None;
        info!(project = %self.project, provider = self.kind.as_str(), "the provider accepted this project's credentials again: suspension lifted");
        self.record(None).await;
    }

    /// Records the suspension (or its lift) for this provider's revision of the project.
    async fn record(&self, suspension: Option<Suspension>) {
        let what = if suspension.is_some() { "the suspension" } else { "that the suspension was lifted" };
        match self.projects.set_suspension(&self.project, self.kind, self.revision, suspension).await {
            Ok(true) => {}
            Ok(false) => info!(
                project = %self.project,
                provider = self.kind.as_str(),
                revision = self.revision,
                "not recording {what}: the project's credentials were replaced (or the project deleted) since this \
                 provider was built, and the new ones are not concerned"
            ),
            Err(e) => warn!(project = %self.project, error = %e, "could not record {what}"),
        }
    }
}

#[async_trait]
impl PushProvider for SuspendingProvider {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn send(&self, delivery: &Delivery) -> Result<Delivered, PushFailure> {
        let trying = self.admit()?;
        let result = self.inner.send(delivery).await;
        match &result {
            Err(PushFailure { error: PushError::Credentials { reason, .. }, .. }) => self.suspend(reason).await,
            // Any answer other than a refusal of the credentials means they were accepted.
            Ok(_)
            | Err(PushFailure {
                error: PushError::TokenUnregistered { .. } | PushError::PayloadRejected { .. }, ..
            }) if trying => self.lift().await,
            _ => {}
        }
        result
    }

    async fn check_token(&self, token: &DeviceToken) -> Result<(), String> {
        self.inner.check_token(token).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        app::test_support::client,
        domain::{Flags, Notification, NotificationId, Payload, Topic},
        ports::{MockClock, MockProjectRepository, MockPushProvider},
    };
    use std::sync::atomic::{AtomicU32, Ordering};

    /// The wall clock of these tests: 2027-01-15T08:00:00Z.
    const NOW: i64 = 1_800_000_000;

    fn clock() -> Arc<MockClock> {
        let mut clock = MockClock::new();
        clock.expect_unix_now().return_const(NOW);
        Arc::new(clock)
    }

    fn delivery() -> Delivery {
        let payload = Payload::new(Topic::parse("t").unwrap(), Flags::new(1), "x").unwrap();
        Delivery::to(&client("c"), Notification::classic(NotificationId::parse("n").unwrap(), payload))
    }

    /// A provider that refuses the credentials while `refuse` is set, counting its calls.
    fn provider(calls: Arc<AtomicU32>, refuse: Arc<Mutex<bool>>) -> MockPushProvider {
        let mut p = MockPushProvider::new();
        p.expect_name().return_const("apns");
        p.expect_send().returning(move |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            if *refuse.lock().unwrap() {
                Err(PushFailure {
                    error: PushError::Credentials { provider: "apns", reason: "InvalidProviderToken".into() },
                    attempts: 1,
                })
            } else {
                Ok(Delivered { attempts: 1 })
            }
        });
        p
    }

    /// What was written to the store: for which revision, and a suspension's reason and `since`
    /// or a lift (`None`).
    type Records = Arc<Mutex<Vec<(i64, Option<(String, i64)>)>>>;

    /// Records each suspension written and each lift.
    fn repo(records: Records) -> MockProjectRepository {
        let mut r = MockProjectRepository::new();
        r.expect_set_suspension().returning(move |_, _, revision, s| {
            records.lock().unwrap().push((revision, s.map(|s| (s.reason, s.since))));
            Ok(true)
        });
        r
    }

    /// Project `p` at revision 7, nothing suspended.
    fn project() -> Project {
        Project { revision: 7, ..Project::new(ProjectId::parse("p").unwrap()) }
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_suspends_without_calls_then_one_try_lifts_it() {
        let (calls, refuse, records) =
            (Arc::new(AtomicU32::new(0)), Arc::new(Mutex::new(true)), Arc::new(Mutex::new(Vec::new())));
        let p = SuspendingProvider::new(
            Arc::new(provider(calls.clone(), refuse.clone())),
            &project(),
            ProviderKind::Apns,
            Arc::new(repo(records.clone())),
            Duration::from_secs(600),
            clock(),
        );
        let d = delivery();
        assert!(matches!(p.send(&d).await, Err(PushFailure { error: PushError::Credentials { .. }, attempts: 1 })));
        assert!(p.is_suspended());
        for _ in 0..5 {
            assert!(matches!(p.send(&d).await, Err(PushFailure { error: PushError::Credentials { .. }, attempts: 0 })));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "no provider call while suspended");
        tokio::time::advance(Duration::from_secs(599)).await;
        assert!(p.send(&d).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // After the period, one real try: refused again, so another full period starts.
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(p.send(&d).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(p.send(&d).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // The credentials are accepted again (fixed on Apple's side): the next try lifts it.
        *refuse.lock().unwrap() = false;
        tokio::time::advance(Duration::from_secs(601)).await;
        assert!(p.send(&d).await.is_ok());
        assert!(!p.is_suspended());
        assert!(p.send(&d).await.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        // Recorded once, stamped by the clock, when it began; and lifted once; both for the
        // revision whose credentials were refused and accepted.
        assert_eq!(*records.lock().unwrap(), [(7, Some(("InvalidProviderToken".to_owned(), NOW))), (7, None)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stored_suspension_keeps_counting_from_its_start() {
        let (calls, refuse) = (Arc::new(AtomicU32::new(0)), Arc::new(Mutex::new(false)));
        let stored = Suspension { reason: "BadCertificate".into(), since: NOW - 590 };
        let p = SuspendingProvider::new(
            Arc::new(provider(calls.clone(), refuse)),
            &Project { fcm_suspended: Some(stored), ..project() },
            ProviderKind::Fcm,
            Arc::new(repo(Arc::new(Mutex::new(Vec::new())))),
            Duration::from_secs(600),
            clock(),
        );
        assert!(p.send(&delivery()).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(p.send(&delivery()).await.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
