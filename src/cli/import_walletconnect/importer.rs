//! The import itself, over ports only: their rows in (a `WalletConnectSource`), our projects,
//! clients and done claims out, every row's outcome into the summary.
//!
//! Tenants go first (a client needs its project), then clients, then notifications. Clients and
//! claims are read a page at a time and written with a bounded number of calls in flight, so
//! memory stays bounded by one page however many rows there are. Every write is idempotent on
//! its own (a client already here as it is there, a project with the same credentials, a claim
//! already done are each "unchanged"), so an interrupted import is finished by running it again,
//! and a dry run classifies every row the same way by reading only.

use std::{collections::HashMap, sync::Arc, time::Duration};

use tokio::task::JoinSet;

use super::{
    client_row::{client_of, project_of},
    progress::Progress,
    summary::{Kind, Outcome, Summary},
    tenant_row::{self, plan_tenant},
};
use crate::{
    domain::{ApnsCredentialsAuth, ClientId, NotificationId, ProjectId, ProjectKey},
    ports::{
        Claim, ClientRepository, Completed, CredentialProblem, DedupStore, ProjectRepository, ProviderFactory,
        THEIR_DEFAULT_TENANT, TheirClient, TheirNotification, TheirTenant, Waited, WalletConnectSource,
    },
};

/// Rows read per page.
pub const PAGE: u32 = 1000;
/// Store calls in flight at once while a page is written.
const IN_FLIGHT: usize = 16;
/// How long a dry run waits for one read of a claim (a wait ends at once on a claim that is not
/// in flight, once the store has been read; with no patience at all it would not read).
const PEEK_PATIENCE: Duration = Duration::from_secs(2);
/// How long an import's own claim is in flight before it is completed (a few store round trips).
const CLAIM_LEASE: Duration = Duration::from_secs(10);

/// Where the rows go.
#[derive(Clone)]
pub struct Targets {
    pub clients: Arc<dyn ClientRepository>,
    /// `None` without `CREDENTIALS_KEY`: no project can be created, so tenants are skipped.
    pub projects: Option<Arc<dyn ProjectRepository>>,
    /// `None` with in-memory dedup: claims would end with this command, so none are imported.
    pub dedup: Option<Arc<dyn DedupStore>>,
    pub factory: Arc<dyn ProviderFactory>,
    /// The dedup window (`DEDUP_TTL_SECS`).
    pub window: Duration,
}

/// Why an import stopped before its end; what it wrote so far stays, and a second run resumes.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Source(#[from] crate::ports::SourceError),
    #[error("cannot write: {0}")]
    Target(String),
}

pub struct Importer {
    targets: Targets,
    dry_run: bool,
    summary: Summary,
    /// Whether a project is here (imported now, already here, or in a dry run would be), by id.
    projects_here: HashMap<ProjectId, bool>,
}

impl Importer {
    pub fn new(targets: Targets, dry_run: bool) -> Self {
        Self { targets, dry_run, summary: Summary::new(dry_run), projects_here: HashMap::new() }
    }

    pub async fn run(
        mut self,
        source: &mut dyn WalletConnectSource,
        progress: &mut Progress,
    ) -> Result<Summary, ImportError> {
        self.tenants(source, progress).await?;
        self.clients(source, progress).await?;
        self.claims(source, progress).await?;
        progress.finish();
        Ok(self.summary)
    }

    async fn tenants(
        &mut self,
        source: &mut dyn WalletConnectSource,
        progress: &mut Progress,
    ) -> Result<(), ImportError> {
        progress.phase("projects", None);
        let mut after = None;
        loop {
            let Some(page) = source.tenants(after.clone(), PAGE).await? else {
                self.summary.note("their database has no tenants table: no projects to import");
                return Ok(());
            };
            for tenant in &page {
                let outcome = self.tenant(tenant).await?;
                self.summary.record(Kind::Projects, &tenant.id, outcome);
            }
            progress.advance(page.len() as u64);
            if page.len() < PAGE as usize {
                return Ok(());
            }
            after = page.last().map(|t| t.id.clone());
        }
    }

    async fn tenant(&mut self, tenant: &TheirTenant) -> Result<Outcome, ImportError> {
        if tenant.id == THEIR_DEFAULT_TENANT {
            return Ok(skipped(
                "their default tenant: its clients go to the default project, whose credentials come from this \
                 server's environment",
            ));
        }
        let id = match ProjectId::parse(&tenant.id) {
            Ok(id) => id,
            Err(e) => return Ok(Outcome::Skipped(format!("not a project id here: {e}"))),
        };
        self.projects_here.insert(id.clone(), false);
        let Some(projects) = self.targets.projects.clone() else {
            return Ok(skipped("CREDENTIALS_KEY is not set: this server has no projects to import tenants into"));
        };
        let mut plan = match plan_tenant(tenant) {
            Ok(plan) => plan,
            Err(reason) => return Ok(Outcome::Skipped(reason)),
        };
        // Checked like an upload: credentials that could not even be loaded are not imported,
        // and nothing of the tenant is (its clients are then skipped too).
        if let Some(apns) = &mut plan.apns {
            match self.targets.factory.check_apns(apns) {
                Ok(facts) => {
                    if let ApnsCredentialsAuth::Certificate { not_after, .. } = &mut apns.auth {
                        *not_after = facts.certificate_not_after;
                    }
                }
                Err(problems) => return Ok(Outcome::Skipped(refused("APNS", &problems))),
            }
        }
        if let Some(fcm) = &plan.fcm
            && let Err(problems) = self.targets.factory.check_fcm(fcm)
        {
            return Ok(Outcome::Skipped(refused("FCM", &problems)));
        }
        let existing = projects.get(&id).await.map_err(target)?;
        let mut wrote = existing.is_none();
        if existing.is_none() && !self.dry_run {
            projects.create(&id).await.map_err(target)?;
        }
        let (ours_apns, ours_fcm) = existing.map(|p| (p.apns, p.fcm)).unwrap_or_default();
        // Credentials already here are kept: they were uploaded here (or by an earlier run).
        if let Some(apns) = self.missing_here(&id, "APNS credentials", ours_apns, plan.apns) {
            wrote = true;
            if !self.dry_run && !projects.set_apns(&id, Some(apns)).await.map_err(target)? {
                return Ok(skipped("the project was deleted while it was imported"));
            }
        }
        if let Some(fcm) = self.missing_here(&id, "FCM credentials", ours_fcm, plan.fcm) {
            wrote = true;
            if !self.dry_run && !projects.set_fcm(&id, Some(fcm)).await.map_err(target)? {
                return Ok(skipped("the project was deleted while it was imported"));
            }
        }
        for note in plan.notes {
            self.summary.note(format!("project {id}: {note}"));
        }
        self.projects_here.insert(id, true);
        Ok(if wrote { Outcome::Imported } else { Outcome::Unchanged })
    }

    /// Their credentials when the project has none here yet; credentials here that differ from
    /// theirs are kept, and noted.
    fn missing_here<T: PartialEq>(
        &mut self,
        id: &ProjectId,
        what: &str,
        ours: Option<T>,
        theirs: Option<T>,
    ) -> Option<T> {
        match (ours, theirs) {
            (None, theirs) => theirs,
            (Some(ours), Some(theirs)) if ours != theirs => {
                self.summary.note(format!("project {id}: its {what} here differ from theirs; kept"));
                None
            }
            _ => None,
        }
    }

    /// Whether `project` is here to take clients: the default project always; another one when
    /// its tenant was imported, or when it was created here (looked up once).
    async fn project_here(&mut self, project: &ProjectKey) -> Result<bool, ImportError> {
        let ProjectKey::Named(id) = project else { return Ok(true) };
        if let Some(here) = self.projects_here.get(id) {
            return Ok(*here);
        }
        let here = match &self.targets.projects {
            Some(projects) => projects.get(id).await.map_err(target)?.is_some(),
            None => false,
        };
        self.projects_here.insert(id.clone(), here);
        Ok(here)
    }

    async fn clients(
        &mut self,
        source: &mut dyn WalletConnectSource,
        progress: &mut Progress,
    ) -> Result<(), ImportError> {
        let total = source.count_clients().await?;
        progress.phase("clients", Some(total));
        let mut after = None;
        loop {
            let page = source.clients(after.clone(), PAGE).await?;
            let mut writes = JoinSet::new();
            for row in &page {
                let client = match client_of(row) {
                    Ok(client) => client,
                    Err(reason) => {
                        self.summary.record(Kind::Clients, &row.id, Outcome::Skipped(reason));
                        continue;
                    }
                };
                if !self.project_here(client.id.project()).await? {
                    let reason = format!("project {} is not here (its tenant was not imported)", client.id.project());
                    self.summary.record(Kind::Clients, &row.id, Outcome::Skipped(reason));
                    continue;
                }
                if writes.len() >= IN_FLIGHT {
                    self.settle(&mut writes, Kind::Clients).await?;
                }
                let (clients, dry_run, row_id) = (self.targets.clients.clone(), self.dry_run, row.id.clone());
                writes.spawn(async move { (row_id, import_client(clients.as_ref(), client, dry_run).await) });
            }
            while !writes.is_empty() {
                self.settle(&mut writes, Kind::Clients).await?;
            }
            progress.advance(page.len() as u64);
            if page.len() < PAGE as usize {
                return Ok(());
            }
            after = page.last().map(|c: &TheirClient| c.id.clone());
        }
    }

    async fn claims(
        &mut self,
        source: &mut dyn WalletConnectSource,
        progress: &mut Progress,
    ) -> Result<(), ImportError> {
        let Some(dedup) = self.targets.dedup.clone() else {
            self.summary.note(
                "notification ids not imported: dedup is in memory here, so claims would end with this command \
                 (set DEDUP_BACKEND=redis or postgres to carry the dedup window across the cut-over)",
            );
            return Ok(());
        };
        progress.phase("claims", None);
        let window = self.targets.window;
        let mut after = None;
        loop {
            let page = source.notifications(after.clone(), window, PAGE).await?;
            let mut writes = JoinSet::new();
            for row in &page {
                let label = format!("{} (client {})", row.id, row.client_id);
                let (client, id) = match claim_of(row) {
                    Ok(parsed) => parsed,
                    Err(reason) => {
                        self.summary.record(Kind::Claims, &label, Outcome::Skipped(reason));
                        continue;
                    }
                };
                let Some(left) = window.checked_sub(row.age).filter(|left| !left.is_zero()) else {
                    // Their window ended between the read and now: nothing left to guard.
                    self.summary.record(Kind::Claims, &label, Outcome::Skipped("outside the dedup window".into()));
                    continue;
                };
                if writes.len() >= IN_FLIGHT {
                    self.settle(&mut writes, Kind::Claims).await?;
                }
                let (dedup, dry_run) = (dedup.clone(), self.dry_run);
                writes.spawn(async move { (label, import_claim(dedup.as_ref(), client, id, left, dry_run).await) });
            }
            while !writes.is_empty() {
                self.settle(&mut writes, Kind::Claims).await?;
            }
            progress.advance(page.len() as u64);
            if page.len() < PAGE as usize {
                return Ok(());
            }
            after = page.last().map(|n: &TheirNotification| (n.id.clone(), n.client_id.clone()));
        }
    }

    /// Records the next finished write; a store failure stops the import.
    async fn settle(
        &mut self,
        writes: &mut JoinSet<(String, Result<Outcome, String>)>,
        kind: Kind,
    ) -> Result<(), ImportError> {
        let Some(done) = writes.join_next().await else { return Ok(()) };
        let (row, outcome) = done.map_err(|e| ImportError::Target(format!("a write task failed: {e}")))?;
        self.summary.record(kind, &row, outcome.map_err(ImportError::Target)?);
        Ok(())
    }
}

/// One client: written when it is not here; unchanged when it is here as it is there. A client
/// that registered here since (another token or type) keeps its registration.
async fn import_client(
    clients: &dyn ClientRepository,
    client: crate::domain::Client,
    dry_run: bool,
) -> Result<Outcome, String> {
    match clients.find(&client.id).await.map_err(|e| e.to_string())? {
        Some(here) if here == client => Ok(Outcome::Unchanged),
        Some(_) => Ok(skipped("registered here since, with another token or type; that registration is kept")),
        None if dry_run => Ok(Outcome::Imported),
        None => match clients.upsert(&client).await.map_err(|e| e.to_string())? {
            true => Ok(Outcome::Imported),
            false => Ok(skipped("its project was deleted while it was imported")),
        },
    }
}

/// One notification id: a done claim for what is left of the window. One that is done here
/// already, or that a send here is delivering right now, is unchanged.
async fn import_claim(
    dedup: &dyn DedupStore,
    client: ClientId,
    id: NotificationId,
    left: Duration,
    dry_run: bool,
) -> Result<Outcome, String> {
    if dry_run {
        // A claim that is done or absent ends the wait at its first read; only one in flight here
        // (a send delivering it right now) waits out the patience.
        return match dedup.wait(&client, &id, PEEK_PATIENCE).await.map_err(|e| e.to_string())? {
            Waited::Done | Waited::InFlight { .. } => Ok(Outcome::Unchanged),
            Waited::Released | Waited::LeaseEnded => Ok(Outcome::Imported),
        };
    }
    match dedup.try_claim(&client, &id, CLAIM_LEASE).await.map_err(|e| e.to_string())? {
        Claim::Claimed(token) => match dedup.complete(&client, &id, token, left).await.map_err(|e| e.to_string())? {
            Completed::Done => Ok(Outcome::Imported),
            Completed::NotHeld => Ok(skipped("the import's claim lapsed before it was completed; run again")),
        },
        Claim::Done | Claim::InFlight { .. } => Ok(Outcome::Unchanged),
    }
}

fn claim_of(row: &TheirNotification) -> Result<(ClientId, NotificationId), String> {
    let project = project_of(&row.tenant_id)?;
    let client = ClientId::parse(&row.client_id).map_err(|e| e.to_string())?.in_project(project);
    let id = NotificationId::parse(&row.id).map_err(|e| e.to_string())?;
    Ok((client, id))
}

fn skipped(reason: &str) -> Outcome {
    Outcome::Skipped(reason.to_owned())
}

fn refused(what: &str, problems: &[CredentialProblem]) -> String {
    tenant_row::refused(what, problems.iter().map(|p| (p.field, p.description.as_str())))
}

fn target(e: impl std::fmt::Display) -> ImportError {
    ImportError::Target(e.to_string())
}

#[cfg(test)]
mod tests {
    use mockall::predicate::eq;

    use super::*;
    use crate::{
        domain::{Client, DeviceToken, PushType},
        ports::{ClaimToken, MockClientRepository, MockDedupStore, MockProviderFactory, MockWalletConnectSource},
    };

    const TOKEN: &str = "fcm-token-1";

    fn their_client(id: &str) -> TheirClient {
        TheirClient {
            id: id.into(),
            tenant_id: THEIR_DEFAULT_TENANT.into(),
            push_type: "fcm".into(),
            device_token: TOKEN.into(),
            always_raw: false,
        }
    }

    fn ours(id: &str, token: &str) -> Client {
        Client {
            id: ClientId::parse(id).unwrap(),
            push_type: PushType::Fcm,
            token: DeviceToken::parse(PushType::Fcm, token).unwrap(),
            always_raw: false,
        }
    }

    /// A source with no tenants table, `clients` and `notifications` in one page each.
    fn source(clients: Vec<TheirClient>, notifications: Vec<TheirNotification>) -> MockWalletConnectSource {
        let mut source = MockWalletConnectSource::new();
        source.expect_tenants().returning(|_, _| Ok(None));
        let n = clients.len() as u64;
        source.expect_count_clients().returning(move || Ok(n));
        source.expect_clients().returning(move |_, _| Ok(clients.clone()));
        source.expect_notifications().returning(move |_, _, _| Ok(notifications.clone()));
        source
    }

    fn targets(clients: MockClientRepository, dedup: Option<MockDedupStore>) -> Targets {
        Targets {
            clients: Arc::new(clients),
            projects: None,
            dedup: dedup.map(|d| Arc::new(d) as Arc<dyn DedupStore>),
            factory: Arc::new(MockProviderFactory::new()),
            window: Duration::from_secs(3600),
        }
    }

    async fn run(targets: Targets, dry_run: bool, mut source: MockWalletConnectSource) -> Summary {
        Importer::new(targets, dry_run).run(&mut source, &mut Progress::new(false)).await.unwrap()
    }

    #[tokio::test]
    async fn a_dry_run_classifies_like_a_run_and_writes_nothing() {
        let mut clients = MockClientRepository::new();
        clients.expect_find().returning(|_| Ok(None));
        clients.expect_upsert().never();
        let summary = run(targets(clients, None), true, source(vec![their_client("c1")], vec![])).await;
        assert_eq!(summary.counts(Kind::Clients), super::super::Counts { imported: 1, unchanged: 0, skipped: 0 });
        assert!(summary.notes.iter().any(|n| n.starts_with("notification ids not imported: dedup is in memory")));
    }

    #[tokio::test]
    async fn a_client_here_is_unchanged_or_keeps_its_newer_registration() {
        let mut clients = MockClientRepository::new();
        clients.expect_find().with(eq(ClientId::parse("same").unwrap())).returning(|_| Ok(Some(ours("same", TOKEN))));
        clients
            .expect_find()
            .with(eq(ClientId::parse("moved").unwrap()))
            .returning(|_| Ok(Some(ours("moved", "other"))));
        clients.expect_upsert().never();
        let rows = vec![their_client("same"), their_client("moved")];
        let summary = run(targets(clients, None), false, source(rows, vec![])).await;
        assert_eq!(summary.counts(Kind::Clients), super::super::Counts { imported: 0, unchanged: 1, skipped: 1 });
        assert_eq!(summary.skipped[0].1, "moved");
        assert!(summary.skipped[0].2.contains("registration is kept"), "{:?}", summary.skipped);
    }

    #[tokio::test]
    async fn a_recent_notification_becomes_a_done_claim_for_the_rest_of_the_window() {
        let mut dedup = MockDedupStore::new();
        dedup.expect_try_claim().returning(|_, _, _| Ok(Claim::Claimed(ClaimToken(7))));
        dedup
            .expect_complete()
            .withf(|client, id, token, left| {
                client.as_str() == "c1"
                    && id.as_str() == "n1"
                    && *token == ClaimToken(7)
                    && *left == Duration::from_secs(3600 - 600)
            })
            .times(1)
            .returning(|_, _, _, _| Ok(Completed::Done));
        let notification = TheirNotification {
            id: "n1".into(),
            tenant_id: THEIR_DEFAULT_TENANT.into(),
            client_id: "c1".into(),
            age: Duration::from_secs(600),
        };
        let summary =
            run(targets(MockClientRepository::new(), Some(dedup)), false, source(vec![], vec![notification])).await;
        assert_eq!(summary.counts(Kind::Claims), super::super::Counts { imported: 1, unchanged: 0, skipped: 0 });
    }
}
