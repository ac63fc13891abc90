//! Sends in progress, so that a shutdown neither strands nor abandons them.
//!
//! A send holds an in-flight dedup claim from `try_claim` until the provider answers; if the
//! process exits in between, the claim outlives it until its lease ends, and the Relay's retries
//! on another instance wait for it meanwhile (and answer `503 in_flight`). So shutdown first waits
//! for running sends (a delivery is bounded by the provider's own time budget, which is the
//! lease), and only if they overrun that does it cut them, which makes each one give up its
//! delivery and release its claim like any failed delivery does; a send cut while it waits for
//! another's claim holds none, and answers `in_flight`.

use std::time::Duration;

use tokio::{sync::watch, time::Instant};

#[derive(Debug)]
pub struct InFlight {
    running: watch::Sender<usize>,
    cut: watch::Sender<bool>,
}

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Every send finished by itself.
    Finished,
    /// Some sends were cut at the deadline; all of them then settled (claims released).
    Cut { sends: usize },
    /// Cut sends were still settling when the settle time ran out.
    Abandoned { sends: usize },
}

/// Counts one send as running while it lives.
pub struct Running<'a>(&'a watch::Sender<usize>);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

impl Default for InFlight {
    fn default() -> Self {
        Self { running: watch::Sender::new(0), cut: watch::Sender::new(false) }
    }
}

impl InFlight {
    /// Counts a send as running until the guard is dropped.
    pub fn enter(&self) -> Running<'_> {
        self.running.send_modify(|n| *n += 1);
        Running(&self.running)
    }

    /// Resolves once running sends are told to give up (never, until a drain cuts them).
    pub async fn cut(&self) {
        let _ = self.cut.subscribe().wait_for(|cut| *cut).await;
    }

    /// Waits until no send is running, for at most `deadline`; then cuts the rest and gives them
    /// `settle` to release their claims.
    pub async fn drain(&self, deadline: Instant, settle: Duration) -> Drained {
        let mut running = self.running.subscribe();
        let finished = tokio::time::timeout_at(deadline, running.wait_for(|n| *n == 0)).await.is_ok();
        if finished {
            return Drained::Finished;
        }
        let sends = *running.borrow();
        self.cut.send_replace(true);
        let settled = tokio::time::timeout(settle, running.wait_for(|n| *n == 0)).await.is_ok();
        if settled { Drained::Cut { sends } } else { Drained::Abandoned { sends: *self.running.borrow() } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_for_running_sends_then_cuts_the_rest() {
        let in_flight = std::sync::Arc::new(InFlight::default());
        assert_eq!(in_flight.drain(Instant::now(), Duration::ZERO).await, Drained::Finished);

        // One send that finishes in time: the drain waits for it.
        let quick = in_flight.clone();
        let guard_holder = tokio::spawn(async move {
            let _running = quick.enter();
            tokio::time::sleep(Duration::from_secs(1)).await;
        });
        tokio::task::yield_now().await;
        let deadline = Instant::now() + Duration::from_secs(5);
        assert_eq!(in_flight.drain(deadline, Duration::from_secs(1)).await, Drained::Finished);
        guard_holder.await.unwrap();

        // One that only ends when cut.
        let stuck = in_flight.clone();
        let cut_send = tokio::spawn(async move {
            let _running = stuck.enter();
            stuck.cut().await;
        });
        tokio::task::yield_now().await;
        let deadline = Instant::now() + Duration::from_secs(5);
        assert_eq!(in_flight.drain(deadline, Duration::from_secs(1)).await, Drained::Cut { sends: 1 });
        cut_send.await.unwrap();
    }
}
