//! The stored shape of a project, shared by the SQL stores: the statements, the row, and the
//! credentials' sealed JSON (which only `CredentialsCipher` ever turns back into text).

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

use super::credentials_cipher::CredentialsCipher;
use crate::{
    domain::{
        ApnsCredentials, ApnsCredentialsAuth, FcmCredentials, Project, ProjectId, ProviderKind, Secret, Suspension,
        WebPushCredentials,
    },
    ports::ProjectStoreError,
};

/// Statements that read the same on SQLite and Postgres (`$n` placeholders work on both).
pub const LIST_PROJECTS: &str = "SELECT id FROM projects WHERE id > $1 ORDER BY id LIMIT $2";
pub const GET_PROJECT: &str = "SELECT id, revision, apns_credentials, fcm_credentials, apns_suspended_reason, \
     apns_suspended_since, fcm_suspended_reason, fcm_suspended_since, webpush_credentials, webpush_suspended_reason, \
     webpush_suspended_since FROM projects WHERE id = $1";
pub const COUNT_CLIENTS: &str = "SELECT COUNT(*) FROM clients WHERE project = $1";
/// Its clients go with it: the foreign key cascades (migrations `0012`).
pub const DELETE_PROJECT: &str = "DELETE FROM projects WHERE id = $1";
/// A suspension is recorded (or lifted) only while the project still has the credentials it was
/// judged on: an upload in between bumped the revision and lifted every suspension.
pub const SET_APNS_SUSPENSION: &str =
    "UPDATE projects SET apns_suspended_reason = $2, apns_suspended_since = $3 WHERE id = $1 AND revision = $4";
pub const SET_FCM_SUSPENSION: &str =
    "UPDATE projects SET fcm_suspended_reason = $2, fcm_suspended_since = $3 WHERE id = $1 AND revision = $4";
pub const SET_WEBPUSH_SUSPENSION: &str =
    "UPDATE projects SET webpush_suspended_reason = $2, webpush_suspended_since = $3 WHERE id = $1 AND revision = $4";
/// The default project's row (`''`, migrations `0012`) is no project an operator made.
pub const COUNT_PROJECTS: &str = "SELECT COUNT(*) FROM projects WHERE id <> ''";
pub const SUSPENDED_PROJECTS: &str = "SELECT id, apns_suspended_reason IS NOT NULL, fcm_suspended_reason IS NOT NULL, \
     webpush_suspended_reason IS NOT NULL FROM projects WHERE apns_suspended_reason IS NOT NULL \
     OR fcm_suspended_reason IS NOT NULL OR webpush_suspended_reason IS NOT NULL ORDER BY id";

/// Every project's sealed credentials with the revision they were read at, for re-encryption
/// under the first key; and one project's, read again when it changed meanwhile.
pub const ALL_SEALED: &str =
    "SELECT id, revision, apns_credentials, fcm_credentials, webpush_credentials FROM projects ORDER BY id";
pub const ONE_SEALED: &str =
    "SELECT id, revision, apns_credentials, fcm_credentials, webpush_credentials FROM projects WHERE id = $1";

/// The statements that give a project a new revision. Each database hands out revisions its own
/// way (migrations `0011`), so that a revision is never one the project had before, not even
/// before it was deleted and created again.
pub struct RevisionStatements {
    pub insert_project: &'static str,
    /// Replaces the APNS credentials and lifts an APNS suspension.
    pub set_apns: &'static str,
    pub set_fcm: &'static str,
    pub set_webpush: &'static str,
    /// Stores re-sealed credentials only while the revision is still the one they were read at.
    pub reseal: &'static str,
}

/// The statements for a database whose next revision is the SQL expression `$next` (each store
/// names its own expression beside its own code).
macro_rules! revision_statements {
    ($next:literal) => {
        $crate::adapters::store::project_row::RevisionStatements {
            insert_project: concat!(
                "INSERT INTO projects (id, revision) VALUES ($1, ",
                $next,
                ") ON CONFLICT (id) DO NOTHING"
            ),
            set_apns: concat!(
                "UPDATE projects SET apns_credentials = $2, apns_suspended_reason = NULL, apns_suspended_since = NULL, \
                 revision = ",
                $next,
                " WHERE id = $1"
            ),
            set_fcm: concat!(
                "UPDATE projects SET fcm_credentials = $2, fcm_suspended_reason = NULL, fcm_suspended_since = NULL, \
                 revision = ",
                $next,
                " WHERE id = $1"
            ),
            set_webpush: concat!(
                "UPDATE projects SET webpush_credentials = $2, webpush_suspended_reason = NULL, \
                 webpush_suspended_since = NULL, revision = ",
                $next,
                " WHERE id = $1"
            ),
            reseal: concat!(
                "UPDATE projects SET apns_credentials = $2, fcm_credentials = $3, webpush_credentials = $5, revision = ",
                $next,
                " WHERE id = $1 AND revision = $4"
            ),
        }
    };
}

pub(crate) use revision_statements;

#[derive(Debug, sqlx::FromRow)]
pub struct ProjectRow {
    pub id: String,
    pub revision: i64,
    pub apns_credentials: Option<String>,
    pub fcm_credentials: Option<String>,
    pub apns_suspended_reason: Option<String>,
    pub apns_suspended_since: Option<i64>,
    pub fcm_suspended_reason: Option<String>,
    pub fcm_suspended_since: Option<i64>,
    pub webpush_credentials: Option<String>,
    pub webpush_suspended_reason: Option<String>,
    pub webpush_suspended_since: Option<i64>,
}

/// The additional data a project's sealed credentials are bound to.
pub fn context(id: &str, kind: ProviderKind) -> String {
    format!("push-server/project/{id}/{}", kind.as_str())
}

pub fn seal_apns(cipher: &CredentialsCipher, id: &ProjectId, c: &ApnsCredentials) -> String {
    let value = match &c.auth {
        ApnsCredentialsAuth::Token { key_id, team_id, key_pem } => {
            json!({"topic": c.topic, "auth": "token", "key_id": key_id, "team_id": team_id, "key": key_pem.expose()})
        }
        ApnsCredentialsAuth::Certificate { p12, password, not_after } => json!({
            "topic": c.topic, "auth": "certificate", "certificate": STANDARD.encode(p12.expose()),
            "password": password.expose(), "not_after": not_after,
        }),
    };
    cipher.seal(&context(id.as_str(), ProviderKind::Apns), value.to_string().as_bytes())
}

pub fn seal_fcm(cipher: &CredentialsCipher, id: &ProjectId, c: &FcmCredentials) -> String {
    let value = json!({"project_id": c.project_id, "client_email": c.client_email, "service_account": c.service_account.expose()});
    cipher.seal(&context(id.as_str(), ProviderKind::Fcm), value.to_string().as_bytes())
}

pub fn seal_webpush(cipher: &CredentialsCipher, id: &ProjectId, c: &WebPushCredentials) -> String {
    let value = json!({"subject": c.subject, "private_key": c.private_key_pem.expose(), "public_key": c.public_key});
    cipher.seal(&context(id.as_str(), ProviderKind::WebPush), value.to_string().as_bytes())
}

fn corrupt(id: &str, what: &str) -> ProjectStoreError {
    ProjectStoreError::Corrupt(format!("project {id:?}: {what}"))
}

fn open_json(
    cipher: &CredentialsCipher,
    id: &str,
    kind: ProviderKind,
    sealed: &str,
) -> Result<Value, ProjectStoreError> {
    let plain = cipher.open(&context(id, kind), sealed).map_err(|e| corrupt(id, &e))?;
    serde_json::from_slice(&plain).map_err(|_| corrupt(id, "sealed credentials are not JSON"))
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn open_apns(cipher: &CredentialsCipher, id: &str, sealed: &str) -> Result<ApnsCredentials, ProjectStoreError> {
    let v = open_json(cipher, id, ProviderKind::Apns, sealed)?;
    let bad = || corrupt(id, "APNS credentials lack a field");
    let topic = text(&v, "topic").ok_or_else(bad)?;
    let auth = match v.get("auth").and_then(Value::as_str) {
        Some("token") => ApnsCredentialsAuth::Token {
            key_id: text(&v, "key_id").ok_or_else(bad)?,
            team_id: text(&v, "team_id").ok_or_else(bad)?,
            key_pem: Secret::new(text(&v, "key").ok_or_else(bad)?),
        },
        Some("certificate") => ApnsCredentialsAuth::Certificate {
            p12: Secret::new(STANDARD.decode(text(&v, "certificate").ok_or_else(bad)?).map_err(|_| bad())?),
            password: Secret::new(text(&v, "password").unwrap_or_default()),
            not_after: v.get("not_after").and_then(Value::as_i64),
        },
        _ => return Err(bad()),
    };
    Ok(ApnsCredentials { topic, auth })
}

fn open_fcm(cipher: &CredentialsCipher, id: &str, sealed: &str) -> Result<FcmCredentials, ProjectStoreError> {
    let v = open_json(cipher, id, ProviderKind::Fcm, sealed)?;
    let bad = || corrupt(id, "FCM credentials lack a field");
    Ok(FcmCredentials {
        project_id: text(&v, "project_id").ok_or_else(bad)?,
        client_email: text(&v, "client_email").ok_or_else(bad)?,
        service_account: Secret::new(text(&v, "service_account").ok_or_else(bad)?),
    })
}

fn open_webpush(cipher: &CredentialsCipher, id: &str, sealed: &str) -> Result<WebPushCredentials, ProjectStoreError> {
    let v = open_json(cipher, id, ProviderKind::WebPush, sealed)?;
    let bad = || corrupt(id, "Web Push credentials lack a field");
    Ok(WebPushCredentials {
        subject: text(&v, "subject").ok_or_else(bad)?,
        private_key_pem: Secret::new(text(&v, "private_key").ok_or_else(bad)?),
        public_key: text(&v, "public_key").ok_or_else(bad)?,
    })
}

fn suspension(reason: Option<String>, since: Option<i64>) -> Option<Suspension> {
    Some(Suspension { reason: reason?, since: since.unwrap_or(0) })
}

impl ProjectRow {
    pub fn open(self, cipher: &CredentialsCipher) -> Result<Project, ProjectStoreError> {
        let id = ProjectId::parse(&self.id).map_err(|_| corrupt(&self.id, "invalid id"))?;
        Ok(Project {
            apns: self.apns_credentials.as_deref().map(|s| open_apns(cipher, &self.id, s)).transpose()?,
            fcm: self.fcm_credentials.as_deref().map(|s| open_fcm(cipher, &self.id, s)).transpose()?,
            webpush: self.webpush_credentials.as_deref().map(|s| open_webpush(cipher, &self.id, s)).transpose()?,
            apns_suspended: suspension(self.apns_suspended_reason, self.apns_suspended_since),
            fcm_suspended: suspension(self.fcm_suspended_reason, self.fcm_suspended_since),
            webpush_suspended: suspension(self.webpush_suspended_reason, self.webpush_suspended_since),
            revision: self.revision,
            id,
        })
    }
}

/// The census from the count and the suspended rows `(id, apns, fcm, webpush)`.
pub fn census(count: i64, rows: Vec<(String, bool, bool, bool)>) -> crate::ports::ProjectCensus {
    let mut suspended = Vec::new();
    for (id, apns, fcm, webpush) in rows {
        let Ok(id) = ProjectId::parse(&id) else { continue };
        let kinds = [(apns, ProviderKind::Apns), (fcm, ProviderKind::Fcm), (webpush, ProviderKind::WebPush)];
        suspended.extend(kinds.into_iter().filter(|(on, _)| *on).map(|(_, kind)| (id.clone(), kind)));
    }
    crate::ports::ProjectCensus { projects: count.max(0) as u64, suspended }
}

/// A project's sealed values (APNS, FCM, Web Push), as stored or to store back.
pub type SealedValues = [Option<String>; 3];

/// The values to store back, and how many of them changed.
type Resealed = (SealedValues, usize);

/// One project's sealed credentials re-sealed under the first key: the values to store and how
/// many changed; `None` when all are already under it.
fn reseal_row(
    cipher: &CredentialsCipher,
    id: &str,
    values: SealedValues,
) -> Result<Option<Resealed>, ProjectStoreError> {
    let mut changed = 0;
    let mut out: SealedValues = Default::default();
    for ((value, kind), slot) in values.into_iter().zip(ProviderKind::ALL).zip(out.iter_mut()) {
        let new = value.as_deref().map(|s| reseal(cipher, id, kind, s)).transpose()?.flatten();
        changed += usize::from(new.is_some());
        *slot = new.or(value);
    }
    Ok((changed > 0).then_some((out, changed)))
}

/// A project's sealed credentials as `ALL_SEALED` and `ONE_SEALED` read them.
#[derive(Debug, sqlx::FromRow)]
pub struct SealedRow {
    pub id: String,
    pub revision: i64,
    pub apns_credentials: Option<String>,
    pub fcm_credentials: Option<String>,
    pub webpush_credentials: Option<String>,
}

/// How often one project may change under the rotation before it gives up on it. Each change is
/// an operator's upload, so this is never reached in practice; it only bounds the loop.
const RESEAL_ATTEMPTS: u32 = 8;

/// The statements the rotation runs, as each store runs them.
pub trait SealedRows: Sync {
    /// `ALL_SEALED`.
    fn all(&self) -> impl Future<Output = Result<Vec<SealedRow>, sqlx::Error>> + Send;
    /// `ONE_SEALED`.
    fn one(&self, id: &str) -> impl Future<Output = Result<Option<SealedRow>, sqlx::Error>> + Send;
    /// The database's `RevisionStatements::reseal`: how many rows it changed.
    fn reseal(
        &self,
        id: &str,
        values: SealedValues,
        revision: i64,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;
}

/// `ProjectRepository::rotate` on either database: every project re-sealed under the first key,
/// each with compare-and-swap on its revision. When a project changed since it was read (an
/// upload landed in between), it is read again and what it holds now is re-sealed, so that an
/// upload is never overwritten with the credentials it replaced. How many values were re-sealed.
pub async fn rotate(cipher: &CredentialsCipher, rows: &impl SealedRows) -> Result<usize, ProjectStoreError> {
    let unavailable = |e: sqlx::Error| ProjectStoreError::Unavailable(e.to_string());
    let mut count = 0;
    for mut row in rows.all().await.map_err(unavailable)? {
        let mut attempts = 0;
        loop {
            let values = [row.apns_credentials.take(), row.fcm_credentials.take(), row.webpush_credentials.take()];
            let Some((values, changed)) = reseal_row(cipher, &row.id, values)? else { break };
            if rows.reseal(&row.id, values, row.revision).await.map_err(unavailable)? > 0 {
                count += changed;
                break;
            }
            attempts += 1;
            if attempts == RESEAL_ATTEMPTS {
                return Err(ProjectStoreError::Unavailable(format!(
                    "project {:?} changed {RESEAL_ATTEMPTS} times while it was being re-sealed; run the rotation again",
                    row.id
                )));
            }
            // Changed meanwhile: start again from what it holds now (nothing, if it was deleted).
            match rows.one(&row.id).await.map_err(unavailable)? {
                Some(now) => row = now,
                None => break,
            }
        }
    }
    Ok(count)
}

/// Project ids as listed by `LIST_PROJECTS`; a row that is not a valid id is reported.
pub fn project_ids(rows: Vec<(String,)>) -> Result<Vec<ProjectId>, ProjectStoreError> {
    rows.into_iter()
        .map(|(id,)| ProjectId::parse(&id).map_err(|_| ProjectStoreError::Corrupt(format!("project id {id:?}"))))
        .collect()
}

/// Re-seals one stored value under the first key; `None` when it is already under it.
fn reseal(
    cipher: &CredentialsCipher,
    id: &str,
    kind: ProviderKind,
    sealed: &str,
) -> Result<Option<String>, ProjectStoreError> {
    if !cipher.is_stale(sealed) {
        return Ok(None);
    }
    let ctx = context(id, kind);
    let plain = cipher.open(&ctx, sealed).map_err(|e| corrupt(id, &e))?;
    Ok(Some(cipher.seal(&ctx, &plain)))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// The key the credentials were sealed under, and the one put first for the rotation.
    fn old_key() -> CredentialsCipher {
        CredentialsCipher::parse(&"11".repeat(32)).unwrap()
    }

    fn rotating() -> CredentialsCipher {
        CredentialsCipher::parse(&format!("{},{}", "22".repeat(32), "11".repeat(32))).unwrap()
    }

    fn sealed(plain: &str) -> String {
        old_key().seal(&context("p", ProviderKind::Apns), plain.as_bytes())
    }

    /// One project `p` with only APNS credentials: `(revision, sealed value)`. Before each write,
    /// the next of `uploads` (if any) lands first, as an upload between the rotation's read and
    /// its write.
    struct Rows {
        row: Mutex<(i64, String)>,
        uploads: Mutex<Vec<String>>,
    }

    impl Rows {
        fn new(value: &str, uploads: &[&str]) -> Self {
            let uploads = uploads.iter().rev().map(|u| sealed(u)).collect();
            Self { row: Mutex::new((1, sealed(value))), uploads: Mutex::new(uploads) }
        }

        fn current(&self) -> SealedRow {
            let (revision, value) = self.row.lock().unwrap().clone();
            SealedRow {
                id: "p".into(),
                revision,
                apns_credentials: Some(value),
                fcm_credentials: None,
                webpush_credentials: None,
            }
        }

        /// What `p` holds now, opened, and whether it is under the first key.
        fn holds(&self, cipher: &CredentialsCipher) -> (String, bool) {
            let (_, value) = self.row.lock().unwrap().clone();
            let plain = cipher.open(&context("p", ProviderKind::Apns), &value).unwrap();
            (String::from_utf8(plain).unwrap(), !cipher.is_stale(&value))
        }
    }

    impl SealedRows for Rows {
        async fn all(&self) -> Result<Vec<SealedRow>, sqlx::Error> {
            Ok(vec![self.current()])
        }

        async fn one(&self, _: &str) -> Result<Option<SealedRow>, sqlx::Error> {
            Ok(Some(self.current()))
        }

        async fn reseal(&self, _: &str, values: SealedValues, revision: i64) -> Result<u64, sqlx::Error> {
            let [apns, _, _] = values;
            let mut row = self.row.lock().unwrap();
            if let Some(upload) = self.uploads.lock().unwrap().pop() {
                *row = (row.0 + 1, upload);
            }
            if row.0 != revision {
                return Ok(0);
            }
            *row = (row.0 + 1, apns.unwrap());
            Ok(1)
        }
    }

    #[tokio::test]
    async fn an_upload_between_read_and_write_is_re_sealed_not_overwritten() {
        let rows = Rows::new("revoked key", &["uploaded key"]);
        let cipher = rotating();
        assert_eq!(rotate(&cipher, &rows).await, Ok(1));
        assert_eq!(rows.holds(&cipher), ("uploaded key".to_owned(), true));
        assert_eq!(rows.current().revision, 3, "the upload's revision, then the rotation's");
        assert_eq!(rotate(&cipher, &rows).await, Ok(0), "nothing left under the old key");
    }

    #[tokio::test]
    async fn a_project_that_keeps_changing_is_given_up_on_without_overwriting_it() {
        let uploads: Vec<String> = (0..RESEAL_ATTEMPTS).map(|n| format!("upload {n}")).collect();
        let rows = Rows::new("first", &uploads.iter().map(String::as_str).collect::<Vec<_>>());
        let cipher = rotating();
        let Err(ProjectStoreError::Unavailable(why)) = rotate(&cipher, &rows).await else { panic!("gave up") };
        assert!(why.contains("run the rotation again"), "{why}");
        assert_eq!(rows.holds(&cipher), (format!("upload {}", RESEAL_ATTEMPTS - 1), false));
    }
}
