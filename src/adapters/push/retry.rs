//! Bounded retries for provider calls: exponential backoff with full jitter, `Retry-After`
//! honoured, and a total time budget so a delivery ends (in 502 at worst) well within 15 s.

use std::{future::Future, time::Duration};

use tokio::time::Instant;

use crate::ports::{PushError, PushFailure};

/// Backoff before the second attempt; it doubles with each further attempt, up to `MAX_DELAY`.
/// Not settings: they only shape retries within the budget that the settings do bound.
pub const BASE_DELAY: Duration = Duration::from_millis(100);
pub const MAX_DELAY: Duration = Duration::from_secs(2);

/// How one attempt ended.
#[derive(Debug)]
pub enum Attempt<T> {
    Done(T),
    /// Worth trying again (429, 5xx, timeout, reset, a refreshed credential). `after` is the
    /// provider's `Retry-After`, if it sent one.
    Retry {
        error: PushError,
        after: Option<Duration>,
    },
    /// Final: retrying cannot help (dead token, rejected payload).
    Fail(PushError),
}

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles each time, capped at `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// No attempt starts unless it can finish (by `attempt_timeout`) within this budget.
    pub total: Duration,
    /// Bound on one attempt (the HTTP client's timeout).
    pub attempt_timeout: Duration,
}

impl RetryPolicy {
    /// `max_attempts` attempts of at most `attempt_timeout` each within `total`, with the usual
    /// backoff (`BASE_DELAY` doubling up to `MAX_DELAY`).
    pub fn new(max_attempts: u32, attempt_timeout: Duration, total: Duration) -> Self {
        Self { max_attempts, base_delay: BASE_DELAY, max_delay: MAX_DELAY, total, attempt_timeout }
    }

    /// The jittered backoff before attempt `n + 1` (n ≥ 1 attempts made so far).
    fn backoff(&self, attempts_made: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1 << attempts_made.saturating_sub(1).min(16));
        let cap = exp.min(self.max_delay);
        // Full jitter: a uniform delay in [cap/2, cap] keeps retries from many servers apart
        // while still growing.
        let half = cap / 2;
        half + Duration::from_nanos(fastrand::u64(0..=(cap - half).as_nanos() as u64))
    }

    /// Runs `attempt` until it is done, fails for good, or the attempts or time run out; the last
    /// transient error is returned then. Either way the answer says how many attempts were made.
    pub async fn run<T, F, Fut>(&self, mut attempt: F) -> Result<(T, u32), PushFailure>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Attempt<T>>,
    {
        let started = Instant::now();
        let mut n = 0;
        loop {
            n += 1;
            let failed = |error| Err(PushFailure { error, attempts: n });
            let (error, after) = match attempt(n).await {
                Attempt::Done(v) => return Ok((v, n)),
                Attempt::Fail(e) => return failed(e),
                Attempt::Retry { error, after } => (error, after),
            };
            if n >= self.max_attempts {
                return failed(error);
            }
            let delay = after.map_or_else(|| self.backoff(n), |a| a.max(self.backoff(n) / 4));
            // Saturating: `after` is the provider's number and may be absurdly large.
            if started.elapsed().saturating_add(delay).saturating_add(self.attempt_timeout) > self.total {
                return failed(error);
            }
            tracing::debug!(attempt = n, ?delay, error = %error, "retrying provider call");
            tokio::time::sleep(delay).await;
        }
    }
}

impl RetryPolicy {
    /// [`run`](Self::run), bounded by `total` as a whole: the policy starts no attempt it cannot
    /// finish in time, and this outer bound makes the budget hold even if an attempt overruns
    /// (waiting for a token refresh another send started, say); `provider` names the failure then.
    pub async fn run_within_total<T, F, Fut>(
        &self,
        provider: &'static str,
        mut attempt: F,
    ) -> Result<(T, u32), PushFailure>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Attempt<T>>,
    {
        let made = std::sync::atomic::AtomicU32::new(0);
        let run = self.run(|n| {
            made.store(n, std::sync::atomic::Ordering::Relaxed);
            attempt(n)
        });
        tokio::time::timeout(self.total, run).await.unwrap_or_else(|_| {
            let error = PushError::Unavailable { provider, reason: "gave up: total time budget spent".into() };
            Err(PushFailure { error, attempts: made.load(std::sync::atomic::Ordering::Relaxed) })
        })
    }
}

/// Parses a `Retry-After` header in its delta-seconds form (the HTTP-date form is rare from push
/// providers and is ignored, falling back to the computed backoff). Any number of seconds fits a
/// `Duration`; one past `u64::MAX` reads as `u64::MAX`, which is past every budget all the same.
pub fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    let digits = value?.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(Duration::from_secs(digits.parse::<u64>().unwrap_or(u64::MAX)))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy::new(4, Duration::from_secs(5), Duration::from_secs(14))
    }

    fn transient() -> PushError {
        PushError::Unavailable { provider: "fcm", reason: "503".into() }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_failures_up_to_the_limit() {
        let calls = AtomicU32::new(0);
        let result: Result<((), u32), _> = policy()
            .run(|_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Attempt::Retry { error: transient(), after: None } }
            })
            .await;
        assert_eq!(result, Err(PushFailure { error: transient(), attempts: 4 }));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn final_failures_are_not_retried() {
        let calls = AtomicU32::new(0);
        let dead = PushError::TokenUnregistered { provider: "fcm", reason: "UNREGISTERED".into() };
        let result: Result<((), u32), _> = policy()
            .run(|_| {
                calls.fetch_add(1, Ordering::SeqCst);
                let dead = dead.clone();
                async move { Attempt::Fail(dead) }
            })
            .await;
        assert_eq!(result, Err(PushFailure { error: dead, attempts: 1 }));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn honours_retry_after_and_succeeds() {
        let started = Instant::now();
        let result = policy()
            .run(|n| async move {
                if n == 1 {
                    Attempt::Retry { error: transient(), after: Some(Duration::from_secs(3)) }
                } else {
                    Attempt::Done(n)
                }
            })
            .await;
        assert_eq!(result, Ok((2, 2)));
        assert!(started.elapsed() >= Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_when_retry_after_exceeds_the_budget() {
        let started = Instant::now();
        let result: Result<((), u32), _> = policy()
            .run(|_| async { Attempt::Retry { error: transient(), after: Some(Duration::from_secs(60)) } })
            .await;
        assert_eq!(result, Err(PushFailure { error: transient(), attempts: 1 }));
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_near_u64_max_gives_up_instead_of_overflowing() {
        let result: Result<((), u32), _> = policy()
            .run(|_| async { Attempt::Retry { error: transient(), after: Some(Duration::from_secs(u64::MAX)) } })
            .await;
        assert_eq!(result, Err(PushFailure { error: transient(), attempts: 1 }));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = policy();
        for _ in 0..100 {
            let first = p.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            assert!(p.backoff(10) <= Duration::from_secs(2));
        }
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after(Some(" 7 ")), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(parse_retry_after(None), None);
        assert_eq!(parse_retry_after(Some("")), None);
        assert_eq!(parse_retry_after(Some("-1")), None);
    }

    #[test]
    fn retry_after_near_and_past_u64_max_saturates() {
        let max = Some(Duration::from_secs(u64::MAX));
        assert_eq!(parse_retry_after(Some("18446744073709551615")), max);
        assert_eq!(parse_retry_after(Some("18446744073709551616")), max);
        assert_eq!(parse_retry_after(Some("99999999999999999999999999")), max);
    }
}
