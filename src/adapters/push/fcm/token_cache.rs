//! The one OAuth access token all FCM sends share: reused until shortly before it expires,
//! refreshed by one caller at a time, and dropped when FCM refuses it.

use std::{fmt, future::Future, sync::Arc, time::Duration};

use tokio::{sync::Mutex, time::Instant};

/// Refresh this long before the token expires, so a token never dies in flight (Google's tokens
/// live an hour; clocks and queues are not exact).
pub const REFRESH_EARLY: Duration = Duration::from_secs(300);

/// The longest a token is believed to live, whatever the endpoint says. Google grants an hour; a
/// lifetime of days (or `expires_in` near `u64::MAX`, which does not even fit an `Instant`) is
/// an odd endpoint, and refreshing daily costs nothing.
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// An OAuth access token. Its `Debug` hides the secret, so it never lands in a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(Arc<str>);

impl AccessToken {
    pub fn new(secret: &str) -> Self {
        Self(secret.into())
    }

    /// The secret, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(…)")
    }
}

/// What the token endpoint gave: the token and how long it lives from now.
#[derive(Debug)]
pub struct Fetched {
    pub token: AccessToken,
    pub expires_in: Duration,
}

struct Cached {
    token: AccessToken,
    refresh_at: Instant,
}

/// Holds the current token. The lock is held across a fetch on purpose: callers arriving while a
/// refresh is under way wait for it and share its result instead of each asking the token
/// endpoint (no thundering herd). Time is tokio's, so tests drive it with a paused clock.
#[derive(Default)]
pub struct TokenCache {
    slot: Mutex<Option<Cached>>,
}

impl TokenCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The cached token while it is fresh; otherwise the result of `fetch`, which is cached on
    /// success. A failed fetch caches nothing, so the next call tries again.
    pub async fn get<F, Fut, E>(&self, fetch: F) -> Result<AccessToken, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched, E>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(cached) = slot.as_ref().filter(|c| Instant::now() < c.refresh_at) {
            return Ok(cached.token.clone());
        }
        let fetched = fetch().await?;
        let now = Instant::now();
        // Checked even though the lifetime is capped: an `Instant` overflowing would panic.
        let refresh_at = now.checked_add(refresh_after(fetched.expires_in)).unwrap_or(now);
        *slot = Some(Cached { token: fetched.token.clone(), refresh_at });
        Ok(fetched.token)
    }

    /// Forgets `stale`, a token the provider just refused, so the next `get` fetches a new one.
    /// A token that already replaced it is kept: many sends refused at once cause one refresh.
    pub async fn invalidate(&self, stale: &AccessToken) {
        let mut slot = self.slot.lock().await;
        if slot.as_ref().is_some_and(|c| &c.token == stale) {
            *slot = None;
        }
    }
}

/// How long a token with `lifetime` left is used: `REFRESH_EARLY` less, or half its life when it
/// is short (a fake or odd endpoint granting minutes must not make every send refresh), and never
/// longer than `MAX_LIFETIME` allows.
fn refresh_after(lifetime: Duration) -> Duration {
    let lifetime = lifetime.min(MAX_LIFETIME);
    lifetime - REFRESH_EARLY.min(lifetime / 2)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// A fetch that counts its calls and grants `token-N` for an hour.
    async fn fetch(calls: &AtomicU32) -> Result<Fetched, ()> {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(Fetched { token: AccessToken::new(&format!("token-{n}")), expires_in: Duration::from_secs(3600) })
    }

    #[tokio::test(start_paused = true)]
    async fn reused_until_five_minutes_before_expiry() {
        let cache = TokenCache::new();
        let calls = AtomicU32::new(0);
        assert_eq!(cache.get(|| fetch(&calls)).await.unwrap().expose(), "token-1");
        tokio::time::advance(Duration::from_secs(3600 - 300 - 1)).await;
        assert_eq!(cache.get(|| fetch(&calls)).await.unwrap().expose(), "token-1");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(cache.get(|| fetch(&calls)).await.unwrap().expose(), "token-2");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_fetch() {
        let cache = Arc::new(TokenCache::new());
        let calls = Arc::new(AtomicU32::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (cache, calls) = (cache.clone(), calls.clone());
            tasks.spawn(async move { cache.get(|| fetch(&calls)).await.unwrap() });
        }
        while let Some(token) = tasks.join_next().await {
            assert_eq!(token.unwrap().expose(), "token-1");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_are_not_cached() {
        let cache = TokenCache::new();
        let calls = AtomicU32::new(0);
        assert_eq!(cache.get(|| async { Err::<Fetched, _>("down") }).await, Err("down"));
        assert_eq!(cache.get(|| fetch(&calls)).await.unwrap().expose(), "token-1");
    }

    #[tokio::test(start_paused = true)]
    async fn invalidating_a_refused_token_refreshes_once() {
        let cache = TokenCache::new();
        let calls = AtomicU32::new(0);
        let old = cache.get(|| fetch(&calls)).await.unwrap();
        cache.invalidate(&old).await;
        let new = cache.get(|| fetch(&calls)).await.unwrap();
        assert_eq!(new.expose(), "token-2");
        // A second send that was refused with the old token must not throw the new one away.
        cache.invalidate(&old).await;
        assert_eq!(cache.get(|| fetch(&calls)).await.unwrap(), new);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn short_lived_tokens_are_used_for_half_their_life() {
        assert_eq!(refresh_after(Duration::from_secs(3599)), Duration::from_secs(3299));
        assert_eq!(refresh_after(Duration::from_secs(60)), Duration::from_secs(30));
        assert_eq!(refresh_after(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn absurd_lifetimes_are_capped_at_a_day() {
        assert_eq!(refresh_after(Duration::from_secs(u64::MAX)), MAX_LIFETIME - REFRESH_EARLY);
        assert_eq!(refresh_after(Duration::MAX), MAX_LIFETIME - REFRESH_EARLY);
    }

    #[tokio::test(start_paused = true)]
    async fn an_expires_in_of_u64_max_is_cached_for_a_day_instead_of_overflowing() {
        let cache = TokenCache::new();
        let calls = AtomicU32::new(0);
        let forever = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(Fetched { token: AccessToken::new("t"), expires_in: Duration::from_secs(u64::MAX) })
        };
        cache.get(forever).await.unwrap();
        tokio::time::advance(MAX_LIFETIME - REFRESH_EARLY - Duration::from_secs(1)).await;
        cache.get(forever).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        cache.get(forever).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn debug_hides_the_secret() {
        assert!(!format!("{:?}", AccessToken::new("ya29.secret")).contains("secret"));
    }
}
