//! A send's claim on its notification id: taken, or waited for while another send delivers the
//! same id, and settled by the delivery's outcome.
//!
//! What a send does with what it finds is the contract of a `200` ("What a 200 promises" in the
//! README): a `200` only ever answers a notification that reached its provider, now or earlier.
//! - no claim, or one whose lease ended (its server died): take it and deliver;
//! - a done claim: `200`, nothing sent;
//! - an in-flight claim: wait for its outcome (done: `200`; released, or its lease ended: take it
//!   and deliver), at most until this request's own patience runs out: then `503 in_flight`.

use std::time::Duration;

use tokio::time::Instant;
use tracing::{info, warn};

use super::SendError;
use crate::{
    app::App,
    domain::{ClientId, NotificationId},
    ports::{Claim, ClaimToken, Completed, Waited},
};

/// How long a send's claims last, and how long a duplicate waits for one in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimTimes {
    /// A done claim's life: the dedup window (`DEDUP_TTL_SECS`).
    pub window: Duration,
    /// An in-flight claim's life: the delivery's own time budget (the provider budget of the
    /// retries plus a margin). Past it, a send whose server died no longer blocks the id.
    pub lease: Duration,
    /// The longest a duplicate waits for an in-flight claim's outcome: within its own request
    /// deadline, so it answers `in_flight` rather than being cut off.
    pub patience: Duration,
}

/// What the claim lets a send do.
pub(super) enum Turn {
    /// The send holds the claim: it delivers, then completes or releases it.
    Deliver(ClaimToken),
    /// The id was delivered already (perhaps while this send waited): nothing to send.
    Delivered,
}

impl App {
    /// Takes the claim on `(client, id)`, waiting while another send holds it in flight.
    pub(super) async fn take_claim(&self, client: &ClientId, id: &NotificationId) -> Result<Turn, SendError> {
        let deadline = Instant::now() + self.claims.patience;
        loop {
            let lease_left = match self.dedup.try_claim(client, id, self.claims.lease).await? {
                Claim::Claimed(token) => return Ok(Turn::Deliver(token)),
                Claim::Done => {
                    info!("duplicate notification id; not sent again");
                    return Ok(Turn::Delivered);
                }
                Claim::InFlight { lease_left } => lease_left,
            };
            let seen = Instant::now();
            let patience = deadline.saturating_duration_since(seen);
            if patience.is_zero() {
                return Err(SendError::InFlight { lease_left });
            }
            info!(?lease_left, "the notification id is being delivered by another send; waiting for its outcome");
            let waited = tokio::select! {
                waited = self.dedup.wait(client, id, patience) => waited?,
                // A shutdown that cannot wait any longer: this send holds nothing to give back.
                () = self.sends.cut() => Waited::InFlight { lease_left: lease_left.saturating_sub(seen.elapsed()) },
            };
            match waited {
                Waited::Done => {
                    info!("delivered by the other send meanwhile; not sent again");
                    return Ok(Turn::Delivered);
                }
                // The other delivery failed, or its server died: this send delivers instead, if
                // it wins the claim (another waiter may be quicker; then it waits for that one).
                Waited::Released | Waited::LeaseEnded => info!(outcome = ?waited, "the other send gave up; claiming"),
                Waited::InFlight { lease_left } => return Err(SendError::InFlight { lease_left }),
            }
        }
    }

    /// After a delivery: the claim is done for the window. A failure here changes nothing for this
    /// send (the notification was delivered); the claim then ends with its lease, and a later
    /// duplicate is delivered again: twice rather than never.
    pub(super) async fn complete_claim(&self, client: &ClientId, id: &NotificationId, token: ClaimToken) {
        match self.dedup.complete(client, id, token, self.claims.window).await {
            Ok(Completed::Done) => {}
            Ok(Completed::NotHeld) => {
                warn!("the delivery outlasted its claim's lease; another send may have delivered the notification too")
            }
            Err(e) => warn!(
                error = %e,
                "could not mark the delivered notification done; a duplicate after its lease ends is delivered again"
            ),
        }
    }
}

/// One test per row of the contract's table (and the settling after a delivery), over mocked
/// ports; the failure paths after a claim (release, dead tokens, shutdown) are with `execute`.
#[cfg(test)]
mod tests {
    use std::{
        collections::VecDeque,
        sync::{Arc, Mutex},
    };

    use async_trait::async_trait;
    use mockall::{Sequence, predicate::eq};

    use super::*;
    use crate::{
        app::{
            SendOutcome, SendRequest,
            send::fixtures::{parse, raw},
            test_support::{CLAIMS, app_with, client, providers_with},
        },
        ports::{DedupError, DedupStore, Delivered, MockClientRepository, MockDedupStore, MockPushProvider},
    };

    fn repo() -> MockClientRepository {
        let mut repo = MockClientRepository::new();
        repo.expect_find().returning(|_| Ok(Some(client("c1"))));
        repo
    }

    /// A provider that accepts `times` deliveries.
    fn provider(times: usize) -> MockPushProvider {
        let mut p = MockPushProvider::new();
        p.expect_name().return_const("apns");
        p.expect_send().times(times).returning(|_| Ok(Delivered { attempts: 1 }));
        p
    }

    fn request() -> SendRequest {
        parse(raw("n1", Ok(1), Ok("cipher"))).unwrap()
    }

    async fn send(app: &App) -> Result<SendOutcome, SendError> {
        let project = app.resolve_project(None).await.unwrap().unwrap();
        app.send(&project, request()).await.map(|sent| sent.outcome)
    }

    fn in_flight(secs: u64) -> Result<Claim, DedupError> {
        Ok(Claim::InFlight { lease_left: Duration::from_secs(secs) })
    }

    /// A store that answers `claims` in turn, and then `waits` in turn.
    fn scripted(claims: Vec<Result<Claim, DedupError>>, waits: Vec<Result<Waited, DedupError>>) -> MockDedupStore {
        let mut dedup = MockDedupStore::new();
        let mut seq = Sequence::new();
        let mut waits = waits.into_iter();
        // Alternating as a send calls them: claim, wait, claim, wait, ...
        for claim in claims {
            dedup.expect_try_claim().times(1).in_sequence(&mut seq).return_once(move |_, _, _| claim);
            if let Some(waited) = waits.next() {
                dedup.expect_wait().times(1).in_sequence(&mut seq).return_once(move |_, _, _| waited);
            }
        }
        dedup
    }

    #[tokio::test]
    async fn a_free_id_is_claimed_for_the_lease_delivered_then_done_for_the_window() {
        let mut dedup = MockDedupStore::new();
        dedup
            .expect_try_claim()
            .withf(|c, id, lease| (c.as_str(), id.as_str(), *lease) == ("c1", "n1", CLAIMS.lease))
            .times(1)
            .returning(|_, _, _| Ok(Claim::Claimed(ClaimToken(7))));
        dedup
            .expect_complete()
            .withf(|_, _, token, window| (*token, *window) == (ClaimToken(7), CLAIMS.window))
            .times(1)
            .returning(|_, _, _, _| Ok(Completed::Done));
        dedup.expect_wait().never();
        dedup.expect_release().never();
        let app = app_with(repo(), dedup, providers_with(provider(1)));
        assert_eq!(send(&app).await, Ok(SendOutcome::Delivered));
    }

    #[tokio::test]
    async fn a_done_id_answers_ok_and_sends_nothing() {
        let mut dedup = scripted(vec![Ok(Claim::Done)], vec![]);
        dedup.expect_wait().never();
        let app = app_with(repo(), dedup, providers_with(provider(0)));
        assert_eq!(send(&app).await, Ok(SendOutcome::Duplicate));
    }

    #[tokio::test(start_paused = true)]
    async fn an_in_flight_id_is_waited_for_and_answers_ok_once_done_without_sending() {
        let mut dedup = MockDedupStore::new();
        dedup.expect_try_claim().times(1).returning(|_, _, _| in_flight(10));
        dedup
            .expect_wait()
            .with(eq(client("c1").id), eq(request().classic().unwrap().id.clone()), eq(CLAIMS.patience))
            .times(1)
            .returning(|_, _, _| Ok(Waited::Done));
        dedup.expect_complete().never();
        let app = app_with(repo(), dedup, providers_with(provider(0)));
        assert_eq!(send(&app).await, Ok(SendOutcome::Duplicate));
    }

    /// Released (that delivery failed) and lease ended (its server died) alike: the waiter claims
    /// the id and delivers it itself.
    #[tokio::test]
    async fn an_in_flight_id_released_or_left_by_a_dead_server_is_taken_over_and_delivered() {
        for outcome in [Waited::Released, Waited::LeaseEnded] {
            let mut dedup = scripted(vec![in_flight(10), Ok(Claim::Claimed(ClaimToken(8)))], vec![Ok(outcome)]);
            dedup
                .expect_complete()
                .withf(|_, _, token, _| *token == ClaimToken(8))
                .times(1)
                .returning(|_, _, _, _| Ok(Completed::Done));
            let app = app_with(repo(), dedup, providers_with(provider(1)));
            assert_eq!(send(&app).await, Ok(SendOutcome::Delivered), "{outcome:?}");
        }
    }

    /// Another waiter won the claim after the release: this one waits for that delivery instead.
    #[tokio::test]
    async fn a_waiter_that_loses_the_claim_to_another_waiter_waits_for_that_one() {
        let dedup = scripted(vec![in_flight(10), in_flight(16)], vec![Ok(Waited::Released), Ok(Waited::Done)]);
        let app = app_with(repo(), dedup, providers_with(provider(0)));
        assert_eq!(send(&app).await, Ok(SendOutcome::Duplicate));
    }

    #[tokio::test]
    async fn an_id_still_in_flight_at_the_senders_deadline_answers_in_flight_with_the_lease_left() {
        let lease_left = Duration::from_millis(4_200);
        let dedup = scripted(vec![in_flight(10)], vec![Ok(Waited::InFlight { lease_left })]);
        let app = app_with(repo(), dedup, providers_with(provider(0)));
        assert_eq!(send(&app).await, Err(SendError::InFlight { lease_left }));
    }

    #[tokio::test]
    async fn a_wait_the_store_cannot_answer_is_storage_unavailable_and_sends_nothing() {
        let down = DedupError::Unavailable("down".into());
        let dedup = scripted(vec![in_flight(10)], vec![Err(down.clone())]);
        let app = app_with(repo(), dedup, providers_with(provider(0)));
        assert_eq!(send(&app).await, Err(SendError::Dedup(down)));
    }

    /// The notification reached the provider: that is a `200`, whatever happens to the claim
    /// afterwards (it then ends with its lease; a later duplicate is delivered twice, never zero
    /// times).
    #[tokio::test]
    async fn a_delivery_is_ok_even_when_its_claim_cannot_be_completed() {
        for completed in [Ok(Completed::NotHeld), Err(DedupError::Unavailable("down".into()))] {
            let mut dedup = scripted(vec![Ok(Claim::Claimed(ClaimToken(7)))], vec![]);
            dedup.expect_complete().times(1).return_once(move |_, _, _, _| completed);
            dedup.expect_release().never();
            let app = app_with(repo(), dedup, providers_with(provider(1)));
            assert_eq!(send(&app).await, Ok(SendOutcome::Delivered));
        }
    }

    /// A store whose id another send delivers: every claim finds it in flight (its lease ending
    /// in `lease_left`), and every wait takes `delay` and then answers `outcome`, or, when `delay`
    /// is longer than its patience, answers at the patience that the claim is still in flight. It
    /// records the patience of each wait.
    struct Elsewhere {
        lease_left: Duration,
        delay: Duration,
        outcome: Waited,
        patience: Mutex<VecDeque<Duration>>,
    }

    #[async_trait]
    impl DedupStore for Elsewhere {
        async fn try_claim(&self, _: &ClientId, _: &NotificationId, _: Duration) -> Result<Claim, DedupError> {
            Ok(Claim::InFlight { lease_left: self.lease_left })
        }

        async fn complete(
            &self,
            _: &ClientId,
            _: &NotificationId,
            _: ClaimToken,
            _: Duration,
        ) -> Result<Completed, DedupError> {
            unreachable!("this send never holds the claim")
        }

        async fn release(&self, _: &ClientId, _: &NotificationId, _: ClaimToken) -> Result<(), DedupError> {
            unreachable!("this send never holds the claim")
        }

        async fn wait(&self, _: &ClientId, _: &NotificationId, patience: Duration) -> Result<Waited, DedupError> {
            self.patience.lock().unwrap().push_back(patience);
            if self.delay > patience {
                tokio::time::sleep(patience).await;
                return Ok(Waited::InFlight { lease_left: self.lease_left - patience });
            }
            tokio::time::sleep(self.delay).await;
            Ok(self.outcome)
        }
    }

    fn elsewhere(delay: Duration, outcome: Waited) -> Arc<Elsewhere> {
        Arc::new(Elsewhere { lease_left: Duration::from_secs(16), delay, outcome, patience: Mutex::default() })
    }

    fn app_over(dedup: Arc<Elsewhere>, providers: crate::app::Providers) -> App {
        App::new(Arc::new(repo()), dedup, providers, CLAIMS)
    }

    /// However often it loses the claim to other waiters, a send waits no longer than its own
    /// patience in all, then answers `in_flight`.
    #[tokio::test(start_paused = true)]
    async fn the_patience_bounds_all_the_waiting_of_one_send() {
        let dedup = elsewhere(Duration::from_secs(10), Waited::Released);
        let app = app_over(dedup.clone(), providers_with(provider(0)));
        let started = Instant::now();
        assert!(matches!(send(&app).await, Err(SendError::InFlight { .. })));
        assert_eq!(started.elapsed(), CLAIMS.patience);
        let patience: Vec<_> = dedup.patience.lock().unwrap().iter().map(|p| p.as_secs()).collect();
        assert_eq!(patience, [25, 15, 5], "each wait gets what is left");
    }

    /// Released right at the deadline and taken by another waiter: no time is left to wait again.
    #[tokio::test(start_paused = true)]
    async fn a_claim_in_flight_again_when_the_patience_is_spent_answers_at_once() {
        let dedup = elsewhere(CLAIMS.patience / 2, Waited::Released);
        let app = app_over(dedup.clone(), providers_with(provider(0)));
        let lease_left = dedup.lease_left;
        assert_eq!(send(&app).await, Err(SendError::InFlight { lease_left }));
        assert_eq!(dedup.patience.lock().unwrap().len(), 2, "no third wait");
    }

    /// A shutdown cuts a waiting duplicate at once: it holds no claim, delivers nothing, and the
    /// Relay is told to retry.
    #[tokio::test(start_paused = true)]
    async fn a_shutdown_cuts_a_waiting_duplicate_with_in_flight() {
        let dedup = elsewhere(Duration::from_secs(3600), Waited::Done);
        let app = Arc::new(app_over(dedup, providers_with(provider(0))));
        let waiting = tokio::spawn({
            let app = app.clone();
            async move { send(&app).await }
        });
        tokio::time::sleep(Duration::from_secs(3)).await;
        let drained = app.sends().drain(Instant::now(), Duration::from_secs(5)).await;
        assert_eq!(drained, crate::app::Drained::Cut { sends: 1 });
        assert_eq!(waiting.await.unwrap(), Err(SendError::InFlight { lease_left: Duration::from_secs(13) }));
    }
}
