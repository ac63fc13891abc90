//! When the fetched Relay key may be fetched again: the refresh period, the back-off after
//! failures, and the once-a-minute limit on re-fetches after a failed signature.
//!
//! Pure bookkeeping over instants the caller passes in, so the schedule is tested without a clock.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct ScheduleConfig {
    /// A key this old is refreshed.
    pub refresh: Duration,
    /// The wait after the first failed fetch; it doubles with each further failure...
    pub backoff_first: Duration,
    /// ...up to this.
    pub backoff_max: Duration,
    /// At most one re-fetch after a failed signature per this interval.
    pub forced_interval: Duration,
}

#[derive(Debug)]
pub struct Schedule {
    config: ScheduleConfig,
    fetched_at: Option<Instant>,
    failures: u32,
    /// Set after a failure: no scheduled fetch before it.
    retry_at: Option<Instant>,
    last_forced: Option<Instant>,
}

impl Schedule {
    pub fn new(config: ScheduleConfig) -> Self {
        Self { config, fetched_at: None, failures: 0, retry_at: None, last_forced: None }
    }

    /// Whether a scheduled fetch should start now: no key yet or the key is due for refresh, and
    /// not backing off after a failure.
    pub fn fetch_due(&self, now: Instant) -> bool {
        // A failed re-fetch after a bad signature also backs off, but leaves a fresh key fresh.
        let backing_off = self.retry_at.is_some_and(|at| now < at);
        !backing_off && self.fetched_at.is_none_or(|at| now >= at + self.config.refresh)
    }

    /// A fetch brought a key: refresh again after the full period.
    pub fn succeeded(&mut self, now: Instant) {
        self.fetched_at = Some(now);
        self.failures = 0;
        self.retry_at = None;
    }

    /// A fetch failed: back off before the next scheduled attempt. Returns the wait.
    pub fn failed(&mut self, now: Instant) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let doublings = (self.failures - 1).min(16);
        let wait = self.config.backoff_first.saturating_mul(1 << doublings).min(self.config.backoff_max);
        self.retry_at = Some(now + wait);
        wait
    }

    /// Claims the right to re-fetch after a failed signature: true at most once per
    /// `forced_interval`, counted from the claim, so a failing or hanging fetch counts too.
    pub fn claim_forced(&mut self, now: Instant) -> bool {
        if self.last_forced.is_some_and(|at| now < at + self.config.forced_interval) {
            return false;
        }
        self.last_forced = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn schedule() -> Schedule {
        Schedule::new(ScheduleConfig {
            refresh: 3600 * S,
            backoff_first: S,
            backoff_max: 60 * S,
            forced_interval: 60 * S,
        })
    }

    #[test]
    fn a_first_fetch_is_due_then_one_per_refresh_period() {
        let t0 = Instant::now();
        let mut s = schedule();
        assert!(s.fetch_due(t0));
        s.succeeded(t0);
        assert!(!s.fetch_due(t0 + 3599 * S));
        assert!(s.fetch_due(t0 + 3600 * S));
    }

    #[test]
    fn failures_back_off_doubling_up_to_the_cap_and_a_success_resets() {
        let t0 = Instant::now();
        let mut s = schedule();
        s.succeeded(t0);
        let stale = t0 + 3600 * S;
        let waits: Vec<u64> = (0..9).map(|_| s.failed(stale).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert!(!s.fetch_due(stale + 59 * S), "backing off, although the key is stale");
        assert!(s.fetch_due(stale + 60 * S));
        s.succeeded(stale + 60 * S);
        assert!(!s.fetch_due(stale + 61 * S));
        assert_eq!(s.failed(stale + 61 * S), S, "a success resets the back-off");
    }

    #[test]
    fn many_failures_never_overflow() {
        let t0 = Instant::now();
        let mut s = schedule();
        for _ in 0..100 {
            assert!(s.failed(t0) <= 60 * S);
        }
    }

    #[test]
    fn forced_refetches_at_most_once_per_interval() {
        let t0 = Instant::now();
        let mut s = schedule();
        assert!(s.claim_forced(t0));
        assert!(!s.claim_forced(t0));
        assert!(!s.claim_forced(t0 + 59 * S));
        assert!(s.claim_forced(t0 + 60 * S));
        assert!(!s.claim_forced(t0 + 61 * S));
    }

    #[test]
    fn a_failure_while_the_key_is_fresh_schedules_nothing_early() {
        let t0 = Instant::now();
        let mut s = schedule();
        s.succeeded(t0);
        s.failed(t0 + S);
        assert!(!s.fetch_due(t0 + 10 * S));
        assert!(s.fetch_due(t0 + 3600 * S));
    }
}
