//! Composition: builds the adapters the settings name (through `stores` and `providers`), wraps
//! each port in its instrumenting decorator, and plugs them into the application.

use std::{sync::Arc, time::Duration};

use tracing::warn;

use super::{
    StartError, providers,
    stores::{self, Closer},
};
use crate::{
    adapters::{
        clock::SystemClock,
        egress::Egress,
        push::factory::Decorator,
        relay_key::{FetchedKey, FetchedKeyConfig, StaticKey},
    },
    app::{App, CatalogTimings, ClaimTimes, ProjectCatalog, RelayAuth, RelayCheck},
    cli::settings::{RelayKeySource, Settings, without_counterpart_set},
    ports::{ProjectRepository, PushProvider},
    telemetry::{
        Metrics,
        instrumented::{
            InstrumentedClientRepository, InstrumentedDedupStore, InstrumentedProjectRepository,
            InstrumentedPushProvider,
        },
    },
};

pub struct Wired {
    pub app: Arc<App>,
    pub metrics: Arc<Metrics>,
    pub auth: RelayAuth,
    pub closers: Vec<Closer>,
    /// What was chosen, for the start-up log: `(what, choice)`.
    pub summary: Vec<(&'static str, String)>,
}

/// The application the settings describe, its Relay check and metrics, and what closes its
/// backends. Nothing is built when the settings break a rule.
pub async fn build(settings: &Settings) -> Result<Wired, StartError> {
    stores::redis_compiled_in(settings)?;
    settings.validate()?;
    let theirs = without_counterpart_set(|name| std::env::var(name).ok());
    if !theirs.is_empty() {
        warn!(
            "set but not used: {} (settings of WalletConnect's push server for features push-server does not have)",
            theirs.join(", ")
        );
    }
    let mut summary = Vec::new();
    // One route for every outbound connection: the providers', OAuth's and the Relay key's.
    let egress = Egress::new(settings.egress.config()?);
    summary.push(("egress", egress.describe()));
    let (auth, described) = relay_auth(settings, &egress)?;
    summary.push(("signatures", described));
    let store = stores::client_store(settings, settings.projects.cipher()?).await?;
    summary.push(("client store", store.described.clone()));
    let (dedup, described) = stores::dedup_store(settings, &store).await?;
    summary.extend(described);
    let claims = claim_times(settings);
    summary.push(("claims", describe_claims(&claims, settings)));
    let metrics = Arc::new(Metrics::new(&compiled_features()));
    // Every provider, the default project's and each project's, is instrumented by the factory.
    let instrument: Decorator = {
        let metrics = metrics.clone();
        Arc::new(move |provider| {
            Arc::new(InstrumentedPushProvider::new(provider, metrics.clone())) as Arc<dyn PushProvider>
        })
    };
    let factory = Arc::new(providers::factory(settings, egress, instrument));
    let providers = providers::default_project(settings, &factory)?;
    let described: Vec<String> = providers.describe().iter().map(|(t, p)| format!("{t} -> {p}")).collect();
    summary.push((
        "providers",
        if described.is_empty() { "NONE: every registration is refused".to_owned() } else { described.join(", ") },
    ));
    let catalog = match store.projects {
        Some(projects) => {
            summary.push(("projects", describe_projects(projects.as_ref()).await?));
            let repo: Arc<dyn ProjectRepository> =
                Arc::new(InstrumentedProjectRepository::new(projects, metrics.clone()));
            let p = &settings.projects;
            let timings = CatalogTimings { refresh: p.refresh, idle: p.idle, suspension: p.suspension };
            Some(Arc::new(ProjectCatalog::new(repo, factory, timings, Arc::new(SystemClock))))
        }
        None => {
            summary.push(("projects", "off (no CREDENTIALS_KEY): only the default project is served".to_owned()));
            None
        }
    };
    let admin = if settings.projects.admin_token().is_some() { "on (ADMIN_TOKEN)" } else { "off (no ADMIN_TOKEN)" };
    summary.push(("admin API", admin.to_owned()));
    let app = App::new(
        Arc::new(InstrumentedClientRepository::new(store.clients, metrics.clone())),
        Arc::new(InstrumentedDedupStore::new(dedup, metrics.clone())),
        providers,
        claims,
    )
    .with_projects(catalog, settings.projects.default_project()?);
    Ok(Wired { app: Arc::new(app), metrics, auth, closers: vec![store.close], summary })
}

/// Beyond the provider's budget, what a send may need to finish: finding the client, claiming,
/// and settling the claim afterwards.
pub const SEND_MARGIN: Duration = Duration::from_secs(2);

/// The times of a send's claims. The lease is the delivery's own time budget: the providers'
/// total budget for one delivery with its retries, plus [`SEND_MARGIN`]; a send still running
/// then has failed or is about to (and a shutdown waits as long for running sends). A duplicate's
/// patience is its request deadline less a margin (a quarter of it, at most a second), so it
/// answers `in_flight` itself rather than the deadline answering `request_timeout`.
pub fn claim_times(settings: &Settings) -> ClaimTimes {
    let deadline = settings.http.request_timeout;
    ClaimTimes {
        window: settings.dedup_ttl,
        lease: settings.provider.total_timeout + SEND_MARGIN,
        patience: deadline - (deadline / 4).min(Duration::from_secs(1)),
    }
}

/// The claim times for the start-up log and `check-config`: how long a delivery holds its id, how
/// long a delivered one is remembered, and how long a duplicate waits.
fn describe_claims(claims: &ClaimTimes, settings: &Settings) -> String {
    format!(
        "in flight for a lease of {:.1} s (the provider budget, {:.1} s, + {} s), done for {} s (DEDUP_TTL_SECS); a \
         duplicate of an in-flight send waits up to {:.1} s",
        claims.lease.as_secs_f64(),
        settings.provider.total_timeout.as_secs_f64(),
        SEND_MARGIN.as_secs(),
        claims.window.as_secs(),
        claims.patience.as_secs_f64(),
    )
}

/// "3 projects; suspended: w1 (apns)", for the start-up log and `check-config`.
async fn describe_projects(repo: &dyn ProjectRepository) -> Result<String, StartError> {
    let census = repo.census().await.map_err(StartError::Projects)?;
    let mut text = format!("{} project(s)", census.projects);
    if census.suspended.is_empty() {
        text.push_str("; none suspended");
    } else {
        let names: Vec<String> =
            census.suspended.iter().map(|(id, kind)| format!("{id} ({})", kind.as_str())).collect();
        text.push_str(&format!("; SUSPENDED (credentials refused): {}", names.join(", ")));
    }
    Ok(text)
}

/// The cargo features this binary was built with, for `push_build_info` and the start-up log.
pub fn compiled_features() -> String {
    let all = [
        ("sqlite", cfg!(feature = "sqlite")),
        ("postgres", cfg!(feature = "postgres")),
        ("redis", cfg!(feature = "redis")),
        ("apns", cfg!(feature = "apns")),
        ("fcm", cfg!(feature = "fcm")),
        ("webpush", cfg!(feature = "webpush")),
        ("otel", cfg!(feature = "otel")),
    ];
    all.iter().filter(|(_, on)| *on).map(|(name, _)| *name).collect::<Vec<_>>().join(",")
}

/// The Relay check the settings ask for, and one line for the start-up log.
fn relay_auth(settings: &Settings, egress: &Egress) -> Result<(RelayAuth, String), StartError> {
    let relay = &settings.relay;
    let (check, described) = match relay.key_source()? {
        RelayKeySource::Off => {
            (RelayCheck::Disabled, "OFF (VALIDATE_SIGNATURES=false): Relay requests are NOT authenticated".to_owned())
        }
        RelayKeySource::Configured(key) => {
            (RelayCheck::Verify(Arc::new(StaticKey::new(key))), "on, key from RELAY_PUBLIC_KEY".to_owned())
        }
        RelayKeySource::Fetched { url, plain_http } => {
            if plain_http {
                warn!(
                    "!!! RELAY_URL is plain http:// ({url}): anyone on the network path can substitute the Relay key and sign notifications; use https:// !!!"
                );
            }
            let config = FetchedKeyConfig {
                url,
                refresh: relay.key_refresh,
                timeout: relay.key_timeout,
                egress: egress.clone(),
            };
            let key = FetchedKey::new(&config).map_err(StartError::RelayKey)?;
            let described = format!("on, key fetched from {}", key.url());
            (RelayCheck::Verify(Arc::new(key)), described)
        }
        RelayKeySource::Unconfigured => (
            RelayCheck::Unconfigured,
            "on, but no RELAY_PUBLIC_KEY or RELAY_URL is set: every Relay request is refused with 401".to_owned(),
        ),
    };
    Ok((RelayAuth::new(check, relay.max_clock_skew, Arc::new(SystemClock)), described))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_is_the_delivery_budget_and_the_patience_fits_the_request_deadline() {
        let mut settings = Settings::default();
        let claims = claim_times(&settings);
        assert_eq!(claims.lease, Duration::from_secs(16), "14 s of provider budget + 2 s");
        assert_eq!(claims.window, Duration::from_secs(86_400));
        assert_eq!(claims.patience, Duration::from_secs(29), "within the 30 s request deadline");
        settings.provider.total_timeout = Duration::from_secs(3);
        settings.http.request_timeout = Duration::from_secs(1);
        let claims = claim_times(&settings);
        assert_eq!((claims.lease, claims.patience), (Duration::from_secs(5), Duration::from_millis(750)));
        assert_eq!(
            describe_claims(&claims, &settings),
            "in flight for a lease of 5.0 s (the provider budget, 3.0 s, + 2 s), done for 86400 s (DEDUP_TTL_SECS); a \
             duplicate of an in-flight send waits up to 0.8 s"
        );
    }
}
