//! The projects this instance serves, each with providers built from its stored credentials.
//!
//! A project is read from the store when first used and kept; after `refresh` it is read again,
//! and its providers are rebuilt only when its revision changed (new or removed credentials), so
//! a provider keeps its provider token, OAuth token and connections across refreshes. A change
//! made through this instance drops the entry at once; one made through another instance is seen
//! within `refresh`. Projects unused for `idle` are dropped with their providers and connections.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::time::Instant;
use tracing::{error, info};

use super::{
    Providers,
    suspension::{DEFAULT_SUSPENSION, SuspendingProvider},
};
use crate::{
    domain::{Project, ProjectId, ProjectKey, ProviderKind, PushType},
    ports::{Clock, ProjectRepository, ProjectStoreError, ProviderFactory, PushProvider},
};

/// A project ready to serve: which one, and the providers that serve its push types.
pub struct ResolvedProject {
    pub key: ProjectKey,
    pub providers: Providers,
    suspendable: Vec<(ProviderKind, Arc<SuspendingProvider>)>,
}

impl ResolvedProject {
    pub fn new(key: ProjectKey, providers: Providers) -> Self {
        Self { key, providers, suspendable: Vec::new() }
    }

    /// Whether this instance holds the project's provider of `kind` suspended.
    pub fn is_suspended(&self, kind: ProviderKind) -> bool {
        self.suspendable.iter().any(|(k, p)| *k == kind && p.is_suspended())
    }
}

/// Timings of the catalog.
#[derive(Debug, Clone, Copy)]
pub struct CatalogTimings {
    /// How old a cached project may get before the store is asked again (`PROJECT_REFRESH_SECS`).
    pub refresh: Duration,
    /// Projects unused this long are dropped with their providers.
    pub idle: Duration,
    /// How long a refused provider stays suspended before one real send is tried.
    pub suspension: Duration,
}

impl Default for CatalogTimings {
    fn default() -> Self {
        Self { refresh: Duration::from_secs(30), idle: Duration::from_secs(900), suspension: DEFAULT_SUSPENSION }
    }
}

struct Entry {
    project: Arc<ResolvedProject>,
    revision: i64,
    fetched: Instant,
    used: Instant,
}

pub struct ProjectCatalog {
    repo: Arc<dyn ProjectRepository>,
    factory: Arc<dyn ProviderFactory>,
    timings: CatalogTimings,
    /// Handed to each project's suspension rule.
    clock: Arc<dyn Clock>,
    entries: Mutex<HashMap<ProjectId, Entry>>,
    /// How many times a project was invalidated, changed only under the `entries` lock: a
    /// project read before an invalidation is served to its caller but not cached, or a change
    /// made through this instance could be hidden behind the copy read just before it.
    invalidations: AtomicU64,
    last_sweep: Mutex<Instant>,
}

impl ProjectCatalog {
    pub fn new(
        repo: Arc<dyn ProjectRepository>,
        factory: Arc<dyn ProviderFactory>,
        timings: CatalogTimings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let (entries, last_sweep) = (Mutex::new(HashMap::new()), Mutex::new(Instant::now()));
        Self { repo, factory, timings, clock, entries, invalidations: AtomicU64::new(0), last_sweep }
    }

    pub fn repo(&self) -> &Arc<dyn ProjectRepository> {
        &self.repo
    }

    pub fn factory(&self) -> &Arc<dyn ProviderFactory> {
        &self.factory
    }

    /// The project ready to serve, or `None` when it does not exist.
    pub async fn resolve(&self, id: &ProjectId) -> Result<Option<Arc<ResolvedProject>>, ProjectStoreError> {
        self.sweep();
        let now = Instant::now();
        let (cached_revision, invalidations) = {
            let mut entries = self.entries.lock().expect("catalog lock");
            let invalidations = self.invalidations.load(Ordering::SeqCst);
            match entries.get_mut(id) {
                Some(entry) if now.duration_since(entry.fetched) < self.timings.refresh => {
                    entry.used = now;
                    return Ok(Some(entry.project.clone()));
                }
                Some(entry) => (Some(entry.revision), invalidations),
                None => (None, invalidations),
            }
        };
        let Some(project) = self.repo.get(id).await? else {
            self.entries.lock().expect("catalog lock").remove(id);
            return Ok(None);
        };
        let mut entries = self.entries.lock().expect("catalog lock");
        if cached_revision == Some(project.revision) {
            if let Some(entry) = entries.get_mut(id).filter(|e| e.revision == project.revision) {
                entry.fetched = now;
                entry.used = now;
                return Ok(Some(entry.project.clone()));
            }
        }
        let revision = project.revision;
        let resolved = Arc::new(self.build(project));
        if self.invalidations.load(Ordering::SeqCst) == invalidations {
            entries.insert(id.clone(), Entry { project: resolved.clone(), revision, fetched: now, used: now });
        }
        Ok(Some(resolved))
    }

    /// Forgets the project, so that the next use reads it again: called after every change made
    /// through this instance, and when a registration found the project deleted.
    pub fn invalidate(&self, id: &ProjectId) {
        let mut entries = self.entries.lock().expect("catalog lock");
        entries.remove(id);
        self.invalidations.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether this instance holds a provider of the project suspended (only projects in use
    /// are known here).
    pub fn cached_suspension(&self, id: &ProjectId, kind: ProviderKind) -> bool {
        self.entries.lock().expect("catalog lock").get(id).is_some_and(|e| e.project.is_suspended(kind))
    }

    fn build(&self, project: Project) -> ResolvedProject {
        let mut providers = Providers::default();
        let mut suspendable = Vec::new();
        let id = project.id.clone();
        let mut add = |kind: ProviderKind, built: Result<Arc<dyn PushProvider>, String>| match built {
            Ok(inner) => {
                let wrapped = Arc::new(SuspendingProvider::new(
                    inner,
                    &project,
                    kind,
                    self.repo.clone(),
                    self.timings.suspension,
                    self.clock.clone(),
                ));
                let as_provider: Arc<dyn PushProvider> = wrapped.clone();
                providers = match kind {
                    ProviderKind::Apns => std::mem::take(&mut providers)
                        .with(PushType::Apns, as_provider.clone())
                        .with(PushType::ApnsSandbox, as_provider),
                    ProviderKind::Fcm => std::mem::take(&mut providers).with(PushType::Fcm, as_provider),
                    ProviderKind::WebPush => std::mem::take(&mut providers).with(PushType::WebPush, as_provider),
                };
                suspendable.push((kind, wrapped));
            }
            // Stored credentials were checked on upload, so this is a changed build of the
            // server or a corrupted row; the type is then refused as unconfigured.
            Err(reason) => {
                error!(project = %id, provider = kind.as_str(), %reason, "cannot build the project's provider from its stored credentials")
            }
        };
        if let Some(apns) = &project.apns {
            add(ProviderKind::Apns, self.factory.apns(&project.id, apns));
        }
        if let Some(fcm) = &project.fcm {
            add(ProviderKind::Fcm, self.factory.fcm(&project.id, fcm));
        }
        if let Some(webpush) = &project.webpush {
            add(ProviderKind::WebPush, self.factory.webpush(&project.id, webpush));
            if providers.supports(PushType::WebPush) {
                providers = providers.with_vapid_public_key(webpush.public_key.clone());
            }
        }
        info!(project = %project.id, revision = project.revision, types = ?providers.supported_names(), "project providers built");
        ResolvedProject { key: ProjectKey::Named(project.id), providers, suspendable }
    }

    /// Drops projects unused for `idle`, at most once a minute.
    fn sweep(&self) {
        let now = Instant::now();
        {
            let mut last = self.last_sweep.lock().expect("catalog lock");
            if now.duration_since(*last) < Duration::from_secs(60).min(self.timings.idle) {
                return;
            }
            *last = now;
        }
        let idle = self.timings.idle;
        self.entries.lock().expect("catalog lock").retain(|_, e| now.duration_since(e.used) < idle);
    }

    /// How many projects hold built providers, for tests and the start-up log.
    pub fn cached(&self) -> usize {
        self.entries.lock().expect("catalog lock").len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, AtomicU32};

    use super::*;
    use crate::{
        domain::{FcmCredentials, Secret},
        ports::{MockClock, MockProjectRepository, MockProviderFactory, MockPushProvider},
    };

    fn fcm() -> FcmCredentials {
        FcmCredentials { project_id: "f".into(), client_email: "e@x".into(), service_account: Secret::new("{}".into()) }
    }

    /// A store holding project `p` with FCM credentials at `revision`; counts reads.
    fn repo(revision: Arc<AtomicI64>, reads: Arc<AtomicU32>) -> MockProjectRepository {
        let mut r = MockProjectRepository::new();
        r.expect_get().returning(move |id| {
            reads.fetch_add(1, Ordering::SeqCst);
            if id.as_str() != "p" {
                return Ok(None);
            }
            let mut p = Project::new(id.clone());
            p.revision = revision.load(Ordering::SeqCst);
            p.fcm = Some(fcm());
            Ok(Some(p))
        });
        r
    }

    fn factory(builds: Arc<AtomicU32>) -> MockProviderFactory {
        let mut f = MockProviderFactory::new();
        f.expect_fcm().returning(move |_, _| {
            builds.fetch_add(1, Ordering::SeqCst);
            let mut p = MockPushProvider::new();
            p.expect_name().return_const("fcm");
            Ok(Arc::new(p) as Arc<dyn PushProvider>)
        });
        f
    }

    fn id(s: &str) -> ProjectId {
        ProjectId::parse(s).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn caches_refreshes_rebuilds_on_new_revision_and_drops_idle_projects() {
        let (revision, reads, builds) =
            (Arc::new(AtomicI64::new(1)), Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
        let timings =
            CatalogTimings { refresh: Duration::from_secs(30), idle: Duration::from_secs(900), ..Default::default() };
        let catalog = ProjectCatalog::new(
            Arc::new(repo(revision.clone(), reads.clone())),
            Arc::new(factory(builds.clone())),
            timings,
            // No project here is suspended, so the wall clock is never read.
            Arc::new(MockClock::new()),
        );

        let first = catalog.resolve(&id("p")).await.unwrap().unwrap();
        assert!(first.providers.supports(PushType::Fcm) && !first.providers.supports(PushType::Apns));
        catalog.resolve(&id("p")).await.unwrap().unwrap();
        assert_eq!((reads.load(Ordering::SeqCst), builds.load(Ordering::SeqCst)), (1, 1), "served from the cache");

        // Past the refresh the store is read again; the same revision keeps the same providers.
        tokio::time::advance(Duration::from_secs(31)).await;
        let again = catalog.resolve(&id("p")).await.unwrap().unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!((reads.load(Ordering::SeqCst), builds.load(Ordering::SeqCst)), (2, 1));

        // Another instance changed the credentials: seen within the refresh, and rebuilt.
        revision.store(2, Ordering::SeqCst);
        catalog.resolve(&id("p")).await.unwrap();
        assert_eq!(builds.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(31)).await;
        let rebuilt = catalog.resolve(&id("p")).await.unwrap().unwrap();
        assert!(!Arc::ptr_eq(&first, &rebuilt));
        assert_eq!(builds.load(Ordering::SeqCst), 2);

        // A change through this instance is seen at once.
        catalog.invalidate(&id("p"));
        catalog.resolve(&id("p")).await.unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 4);

        // Unknown projects are not cached as anything.
        assert!(catalog.resolve(&id("nope")).await.unwrap().is_none());

        // Unused for longer than `idle`: dropped.
        assert_eq!(catalog.cached(), 1);
        tokio::time::advance(Duration::from_secs(901)).await;
        assert!(catalog.resolve(&id("nope")).await.unwrap().is_none());
        assert_eq!(catalog.cached(), 0);
    }

    #[tokio::test]
    async fn a_project_read_before_an_invalidation_is_not_cached() {
        // The store answers the first read with revision 1, as a change through this instance
        // lands (it invalidates the project while that read is in flight), and revision 2 after.
        let catalog: Arc<std::sync::OnceLock<std::sync::Weak<ProjectCatalog>>> = Arc::default();
        let (revision, builds) = (Arc::new(AtomicI64::new(1)), Arc::new(AtomicU32::new(0)));
        let mut repo = MockProjectRepository::new();
        let (landing, stored) = (catalog.clone(), revision.clone());
        repo.expect_get().returning(move |id| {
            let mut p = Project::new(id.clone());
            p.revision = stored.fetch_add(1, Ordering::SeqCst);
            p.fcm = Some(fcm());
            if p.revision == 1 {
                landing.get().and_then(std::sync::Weak::upgrade).unwrap().invalidate(id);
            }
            Ok(Some(p))
        });
        let built = Arc::new(ProjectCatalog::new(
            Arc::new(repo),
            Arc::new(factory(builds.clone())),
            CatalogTimings::default(),
            Arc::new(MockClock::new()),
        ));
        catalog.set(Arc::downgrade(&built)).unwrap();

        // The caller is served what was read; the next one reads again and gets the change.
        built.resolve(&id("p")).await.unwrap().unwrap();
        assert_eq!(built.cached(), 0, "the copy read before the change is not kept");
        built.resolve(&id("p")).await.unwrap().unwrap();
        built.resolve(&id("p")).await.unwrap().unwrap();
        assert_eq!((built.cached(), builds.load(Ordering::SeqCst)), (1, 2));
        assert_eq!(revision.load(Ordering::SeqCst), 3, "read twice, then served from the cache");
    }
}
