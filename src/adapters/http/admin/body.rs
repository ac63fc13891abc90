//! The admin API's request and response bodies, and their conversion from and to the use cases'
//! values. Responses never carry a key, a password or a certificate.

use poem_openapi::Object;
use serde_json::{Map, Value};

use crate::{
    adapters::http::{envelope::Status, nullable::Nullable},
    app::{InvalidField, ProjectView, RawApnsCredentials, RawServiceAccount, WebPushUpload},
    domain::{Secret, Suspension},
};

/// `PUT /admin/projects/{project_id}/apns`: token auth (`topic`, `key_id`, `team_id`, `key`) or
/// certificate auth (`topic`, `certificate`, `password`).
#[derive(Debug, Object)]
pub struct ApnsCredentialsRequest {
    /// The app's bundle id, sent as `apns-topic`.
    pub topic: String,
    /// Token auth: Apple's 10-character id of the `.p8` key.
    pub key_id: Option<String>,
    /// Token auth: the 10-character team id.
    pub team_id: Option<String>,
    /// Token auth: the `.p8` file's PEM text (a P-256 PKCS#8 private key).
    pub key: Option<String>,
    /// Certificate auth: base64 of the `.p12` file.
    pub certificate: Option<String>,
    /// Certificate auth: the `.p12` password (empty when none).
    pub password: Option<String>,
}

/// `PUT /admin/projects/{project_id}/fcm`: the service-account JSON as Google issued it.
#[derive(Debug, Object)]
pub struct ServiceAccountRequest {
    /// `service_account`.
    #[oai(rename = "type")]
    pub kind: Option<String>,
    /// The Firebase project.
    pub project_id: String,
    /// The account's e-mail, the OAuth assertion's issuer.
    pub client_email: String,
    /// The account's RSA private key (PEM).
    pub private_key: String,
    /// Where access tokens come from.
    pub token_uri: String,
}

/// `PUT /admin/projects/{project_id}/webpush`: the VAPID subject, and the private key unless the
/// server is to generate one.
#[derive(Debug, Object)]
pub struct WebPushRequest {
    /// Who push services can reach about this project's messages: `mailto:...` or `https://...`.
    pub subject: String,
    /// A P-256 private key, PEM (PKCS#8 or SEC1), as `push-server keygen --vapid` writes it.
    /// Absent: a new key is generated. Never shown again; the public key is.
    pub private_key: Option<String>,
}

/// The upload's fields, or every one that is missing or not a string.
pub fn read_webpush(map: &Map<String, Value>) -> Result<WebPushUpload, Vec<InvalidField>> {
    let subject = field(map, "subject").unwrap_or(Err("is required"));
    let private_key = field(map, "private_key").transpose();
    let mut invalid = Vec::new();
    if let Err(why) = subject {
        invalid.push(InvalidField::new("subject", format!("subject {why}")));
    }
    if let Err(why) = private_key {
        invalid.push(InvalidField::new("private_key", format!("private_key {why}")));
    }
    match (subject, private_key) {
        (Ok(subject), Ok(key)) if invalid.is_empty() => {
            Ok(WebPushUpload { subject: subject.to_owned(), private_key: key.map(|k| Secret::new(k.to_owned())) })
        }
        _ => Err(invalid),
    }
}

fn field<'a>(map: &'a Map<String, Value>, name: &str) -> Option<Result<&'a str, &'static str>> {
    map.get(name).map(|v| v.as_str().ok_or("must be a string"))
}

pub fn read_apns(map: &Map<String, Value>) -> RawApnsCredentials<'_> {
    RawApnsCredentials {
        topic: field(map, "topic"),
        key_id: field(map, "key_id"),
        team_id: field(map, "team_id"),
        key: field(map, "key"),
        certificate: field(map, "certificate"),
        password: field(map, "password"),
    }
}

pub fn read_service_account<'a>(json: &'a str, map: &'a Map<String, Value>) -> RawServiceAccount<'a> {
    let required = |name| field(map, name).unwrap_or(Err("is required"));
    RawServiceAccount {
        json,
        project_id: required("project_id"),
        client_email: required("client_email"),
        private_key: required("private_key"),
        token_uri: required("token_uri"),
    }
}

/// `GET /admin/projects`.
#[derive(Debug, Object)]
pub struct ProjectList {
    pub status: Status,
    /// Project ids in ascending order; pass the last as `after` for the next page.
    pub projects: Vec<String>,
}

/// `GET /admin/projects/{project_id}`.
#[derive(Debug, Object)]
pub struct ProjectShown {
    pub status: Status,
    pub project: ProjectDto,
}

/// A project as the admin API shows it.
#[derive(Debug, Object)]
pub struct ProjectDto {
    pub id: String,
    /// `null` when the project has no APNS credentials.
    pub apns: Nullable<ApnsDto>,
    /// `null` when the project has no service account.
    pub fcm: Nullable<FcmDto>,
    /// `null` when the project has no VAPID key (Web Push off).
    pub webpush: Nullable<WebPushDto>,
    /// Registered clients.
    pub clients: u64,
}

#[derive(Debug, Object)]
pub struct ApnsDto {
    pub topic: String,
    /// `token` or `certificate`.
    pub auth: String,
    /// Token auth only.
    pub key_id: Nullable<String>,
    /// Token auth only.
    pub team_id: Nullable<String>,
    /// Certificate auth only: the certificate's expiry (RFC 3339).
    pub certificate_not_after: Nullable<String>,
    /// `null` unless APNS refused these credentials.
    pub suspended: Nullable<SuspendedDto>,
}

#[derive(Debug, Object)]
pub struct FcmDto {
    pub project_id: String,
    pub client_email: String,
    /// `null` unless Google refused this service account.
    pub suspended: Nullable<SuspendedDto>,
}

#[derive(Debug, Object)]
pub struct WebPushDto {
    pub subject: String,
    /// The VAPID public key (base64url), also at `GET /{project_id}/webpush/vapid-public-key`.
    pub public_key: String,
    /// `null` unless push services refused this key.
    pub suspended: Nullable<SuspendedDto>,
}

/// A provider that refused the project's credentials: sends fail at once (`502`) until a try
/// after at most 10 minutes succeeds or new credentials are uploaded.
#[derive(Debug, Object)]
pub struct SuspendedDto {
    pub reason: String,
    /// RFC 3339.
    pub since: String,
}

fn suspended(s: Option<Suspension>) -> Nullable<SuspendedDto> {
    Nullable(s.map(|s| SuspendedDto { reason: s.reason, since: rfc3339(s.since) }))
}

impl From<ProjectView> for ProjectDto {
    fn from(view: ProjectView) -> Self {
        Self {
            id: view.id.to_string(),
            apns: Nullable(view.apns.map(|(a, s)| ApnsDto {
                topic: a.topic,
                auth: a.auth.to_owned(),
                key_id: Nullable(a.key_id),
                team_id: Nullable(a.team_id),
                certificate_not_after: Nullable(a.certificate_not_after.map(rfc3339)),
                suspended: suspended(s),
            })),
            fcm: Nullable(view.fcm.map(|(f, s)| FcmDto {
                project_id: f.project_id,
                client_email: f.client_email,
                suspended: suspended(s),
            })),
            webpush: Nullable(view.webpush.map(|(w, s)| WebPushDto {
                subject: w.subject,
                public_key: w.public_key,
                suspended: suspended(s),
            })),
            clients: view.clients,
        }
    }
}

/// Unix seconds as RFC 3339 in UTC (`2026-01-31T12:00:00Z`).
pub fn rfc3339(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_798_761_599), "2026-12-31T23:59:59Z");
    }
}
