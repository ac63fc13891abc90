//! `ApiError`: a refused request as its status, envelope and headers, and the one place that maps
//! each use case's error variants to their answer. Handlers return `Result<_, ApiError>` and use
//! `?`; causes (driver messages, addresses) go to the log here, never to the caller.

use poem::{
    IntoResponse, Response,
    http::{HeaderValue, StatusCode, header},
};
use poem_openapi::payload::Json;
use tracing::warn;

use super::{
    admin::Denied,
    envelope::{Envelope, FieldDetail, Location},
    json_body::BodyProblem,
    notifications::send_field_path,
};
use crate::{
    app::{
        AdminError, ClientAuthError, InvalidField, RegisterError, RelayAuthError, SendError, SendField, UnregisterError,
    },
    domain::SIGNATURE_HEADER,
    ports::{DedupError, ProjectStoreError, PushError, StoreError},
};

/// The header a wallet's client JWT comes in.
pub const AUTHORIZATION: &str = "Authorization";

const STORAGE_UNAVAILABLE: &str = "storage_unavailable";

/// A provider's queue drains in well under a second once it keeps up again.
const PROVIDER_BUSY_RETRY_AFTER_SECS: u64 = 1;
const DEDUP_RETRY_AFTER_SECS: u64 = 1;

/// A request the server refuses: the answer in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    envelope: Envelope,
    /// `Retry-After`, in seconds.
    retry_after: Option<u64>,
    /// `WWW-Authenticate`: the scheme a refused caller should use.
    challenge: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, envelope: Envelope) -> Self {
        Self { status, envelope, retry_after: None, challenge: None }
    }

    /// `400` listing refused values (`fields`).
    pub fn fields(fields: Vec<FieldDetail>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Envelope::fields(fields))
    }

    /// `400` for invalid values that were all found in one `location`.
    pub fn invalid(fields: &[InvalidField], location: Location) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Envelope::invalid_fields(fields, location))
    }

    /// `404` for a project id that names no project.
    pub fn unknown_project() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            Envelope::field("project_id", Location::Path, "no project is registered under this id"),
        )
    }

    /// `429`: the caller's address used up its budget; it may retry in `retry_after_secs`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let envelope = Envelope::error(
            "rate_limited",
            format!("too many requests from this address; retry in {retry_after_secs} s"),
        );
        Self { retry_after: Some(retry_after_secs), ..Self::new(StatusCode::TOO_MANY_REQUESTS, envelope) }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    fn retry_after(self, secs: u64) -> Self {
        Self { retry_after: Some(secs), ..self }
    }

    /// `503`: `store` could not be reached. The cause goes to the log only.
    fn unavailable(store: &str, cause: &dyn std::fmt::Display) -> Self {
        warn!(error = %cause, "{store} unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Envelope::error(STORAGE_UNAVAILABLE, format!("the {store} could not be reached")),
        )
    }
}

/// Written as the operation's documented responses write theirs: the JSON envelope with its
/// status, then the headers.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = Json(self.envelope).into_response();
        resp.set_status(self.status);
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(scheme) = self.challenge {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(scheme));
        }
        resp
    }
}

impl From<BodyProblem> for ApiError {
    fn from(problem: BodyProblem) -> Self {
        let status = match problem {
            BodyProblem::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyProblem::WrongContentType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            BodyProblem::TooSlow { .. } => StatusCode::REQUEST_TIMEOUT,
            BodyProblem::Unreadable(_) | BodyProblem::Malformed(_) | BodyProblem::NotAnObject => {
                StatusCode::BAD_REQUEST
            }
        };
        Self::new(status, problem.envelope())
    }
}

impl From<ProjectStoreError> for ApiError {
    fn from(e: ProjectStoreError) -> Self {
        Self::unavailable("project store", &e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::unavailable("client store", &e)
    }
}

impl From<DedupError> for ApiError {
    /// With `Retry-After`: the dedup store's failures pass (a Redis failover, replicas that did
    /// not acknowledge a claim in time), nothing was sent, and a retry may deliver.
    fn from(e: DedupError) -> Self {
        Self::unavailable("dedup store", &e).retry_after(DEDUP_RETRY_AFTER_SECS)
    }
}

impl From<RegisterError> for ApiError {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::ProjectNotFound => Self::unknown_project(),
            RegisterError::ClientStore(e) => e.into(),
        }
    }
}

impl From<UnregisterError> for ApiError {
    fn from(e: UnregisterError) -> Self {
        match e {
            UnregisterError::ClientStore(e) => e.into(),
        }
    }
}

/// The client JWT does not let the request touch the client: the header, with the reason.
impl From<ClientAuthError> for ApiError {
    fn from(e: ClientAuthError) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, Envelope::field(AUTHORIZATION, Location::Header, e.to_string()))
    }
}

/// Every refusal of the Relay check is a `401` whose `fields` name the header at fault.
impl From<RelayAuthError> for ApiError {
    fn from(e: RelayAuthError) -> Self {
        let signature_field = |description: &str| Envelope::field(SIGNATURE_HEADER, Location::Header, description);
        let envelope = match e {
            RelayAuthError::Headers(problems) => Envelope::fields(
                problems.iter().map(|p| FieldDetail::new(p.header(), Location::Header, p.to_string())).collect(),
            ),
            RelayAuthError::NotConfigured => {
                signature_field("this server has no Relay public key configured, so no request can be verified")
            }
            // The cause (the key server's address and answer) stays out of the answer; the key
            // source logs each failed fetch, not each refused request, so junk cannot flood the
            // log.
            RelayAuthError::KeyUnavailable(_) => {
                signature_field("the Relay public key could not be fetched; try again later")
            }
            RelayAuthError::BadSignature => signature_field("the signature does not verify with the Relay public key"),
        };
        Self::new(StatusCode::UNAUTHORIZED, envelope)
    }
}

/// Invalid fields of a send, each where the request carries it: the client id in the path, the
/// rest in the body.
impl From<Vec<InvalidField<SendField>>> for ApiError {
    fn from(fields: Vec<InvalidField<SendField>>) -> Self {
        let location = |f: SendField| if f == SendField::ClientId { Location::Path } else { Location::Body };
        Self::fields(
            fields
                .iter()
                .map(|f| FieldDetail::new(send_field_path(f.field), location(f.field), &f.description))
                .collect(),
        )
    }
}

impl From<SendError> for ApiError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::ClientNotFound => Self::new(
                StatusCode::NOT_FOUND,
                Envelope::field("client_id", Location::Path, "no client is registered under this id"),
            ),
            SendError::FormUnusable { fields, .. } => fields.into(),
            SendError::Provider { error, form, .. } => {
                provider_failure(error, send_field_path(SendField::content_of(form)))
            }
            SendError::ProviderNotConfigured(push_type) => Self::new(
                StatusCode::BAD_GATEWAY,
                Envelope::error(
                    "provider_not_configured",
                    format!("this server has no provider for push type '{push_type}' any more"),
                ),
            ),
            SendError::ClientStore(e) => e.into(),
            SendError::Dedup(e) => e.into(),
            SendError::InFlight { lease_left } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                Envelope::error(
                    "in_flight",
                    "another request is delivering this notification now; retry after the Retry-After delay",
                ),
            )
            // Whole seconds, rounded up: by then the other delivery is done, or its lease ended.
            .retry_after(lease_left.as_millis().div_ceil(1000).max(1) as u64),
        }
    }
}

/// A delivery the provider did not make. `content` is where the request carried what the
/// provider was given (`payload.blob`, or `message` for the raw form).
fn provider_failure(error: PushError, content: &str) -> ApiError {
    match error {
        PushError::TokenUnregistered { .. } => ApiError::new(
            StatusCode::GONE,
            Envelope::error(
                "client_unregistered",
                "the push provider says the device token is no longer valid; the client was removed",
            ),
        ),
        PushError::PayloadRejected { reason, .. } => ApiError::new(
            StatusCode::BAD_REQUEST,
            Envelope::field(content, Location::Body, format!("the push provider refused the payload: {reason}")),
        ),
        PushError::Unavailable { provider, .. } => ApiError::new(
            StatusCode::BAD_GATEWAY,
            Envelope::error(
                &format!("{provider}_unavailable"),
                format!("{provider} could not be reached or kept failing; the notification can be retried"),
            ),
        ),
        PushError::Credentials { provider, .. } => ApiError::new(
            StatusCode::BAD_GATEWAY,
            Envelope::error(
                &format!("{provider}_credentials"),
                format!(
                    "{provider} rejected this server's credentials; the notification can be retried once they are \
                     fixed"
                ),
            ),
        ),
        PushError::Busy { provider } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Envelope::error(
                "provider_busy",
                format!("too many notifications are waiting for {provider}; retry after the Retry-After delay"),
            ),
        )
        .retry_after(PROVIDER_BUSY_RETRY_AFTER_SECS),
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(fields) => Self::invalid(&fields, Location::Body),
            AdminError::DefaultProject => Self::new(
                StatusCode::BAD_REQUEST,
                Envelope::field(
                    "project_id",
                    Location::Path,
                    "this id names the default project (DEFAULT_PROJECT_ID), which is configured by environment",
                ),
            ),
            AdminError::NotFound | AdminError::Disabled => Self::unknown_project(),
            AdminError::Store(e) => e.into(),
        }
    }
}

/// While the admin API is off it answers like any unknown route; a wrong token is told which
/// scheme to use.
impl From<Denied> for ApiError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::Off => Self::new(StatusCode::NOT_FOUND, Envelope::error("not_found", "there is no such endpoint")),
            Denied::Unauthorized => Self {
                challenge: Some("Bearer"),
                ..Self::new(
                    StatusCode::UNAUTHORIZED,
                    Envelope::error("unauthorized", "the admin API needs `Authorization: Bearer {ADMIN_TOKEN}`"),
                )
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{
        app::{ClassicField, RawField},
        domain::{FormKind, PushType, SignatureHeaderError},
        ports::RelayKeyError,
    };

    fn fields(error: impl Into<ApiError>) -> Vec<FieldDetail> {
        error.into().envelope.fields.expect("a refusal that lists fields")
    }

    #[test]
    fn relay_header_problems_name_their_headers() {
        let error = RelayAuthError::Headers(vec![
            SignatureHeaderError::TimestampMissing,
            SignatureHeaderError::SignatureNotHex,
        ]);
        assert_eq!(ApiError::from(error.clone()).status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            fields(error),
            [
                FieldDetail::new("X-Ed25519-Timestamp", Location::Header, "the timestamp header is missing"),
                FieldDetail::new(
                    "X-Ed25519-Signature",
                    Location::Header,
                    "the signature must be 128 hexadecimal characters"
                ),
            ]
        );
    }

    #[test]
    fn relay_key_problems_are_about_the_signature_header_and_keep_causes_in_the_log() {
        for error in [
            RelayAuthError::NotConfigured,
            RelayAuthError::KeyUnavailable(RelayKeyError::Unavailable("HTTP 500".into())),
            RelayAuthError::BadSignature,
        ] {
            let fields = fields(error);
            assert_eq!(fields.len(), 1);
            assert_eq!((fields[0].field.as_str(), fields[0].location), (SIGNATURE_HEADER, Location::Header));
            assert!(!fields[0].description.contains("HTTP 500"));
        }
    }

    #[test]
    fn a_refused_payload_is_reported_where_its_form_carries_the_content() {
        let refused = |form| SendError::Provider {
            push_type: PushType::Apns,
            form,
            error: PushError::PayloadRejected { provider: "apns", reason: "too big".into() },
        };
        for (form, path) in [(FormKind::Classic, "payload.blob"), (FormKind::Raw, "message")] {
            let error = ApiError::from(refused(form));
            assert_eq!(error.status, StatusCode::BAD_REQUEST);
            assert_eq!(
                fields(error),
                [FieldDetail::new(path, Location::Body, "the push provider refused the payload: too big")]
            );
        }
    }

    #[test]
    fn an_unusable_form_lists_its_fields_by_path_and_the_client_id_in_the_path() {
        let unusable = SendError::FormUnusable {
            form: FormKind::Raw,
            fields: vec![
                InvalidField::new(SendField::ClientId, "bad id"),
                InvalidField::new(SendField::Classic(ClassicField::Topic), "topic is required"),
                InvalidField::new(SendField::Raw(RawField::Tag), "tag is required"),
            ],
        };
        assert_eq!(
            fields(unusable),
            [
                FieldDetail::new("client_id", Location::Path, "bad id"),
                FieldDetail::new("payload.topic", Location::Body, "topic is required"),
                FieldDetail::new("tag", Location::Body, "tag is required"),
            ]
        );
    }

    #[test]
    fn a_busy_provider_asks_for_a_retry_and_stores_hide_their_causes() {
        let busy = ApiError::from(SendError::Provider {
            push_type: PushType::Fcm,
            form: FormKind::Classic,
            error: PushError::Busy { provider: "fcm" },
        });
        assert_eq!((busy.status, busy.retry_after), (StatusCode::SERVICE_UNAVAILABLE, Some(1)));
        let down = ApiError::from(SendError::Dedup(DedupError::Unavailable("redis://10.0.0.7 refused".into())));
        assert_eq!((down.status, down.retry_after), (StatusCode::SERVICE_UNAVAILABLE, Some(1)));
        assert_eq!(down.envelope, Envelope::error(STORAGE_UNAVAILABLE, "the dedup store could not be reached"));
    }

    #[test]
    fn a_send_still_in_flight_elsewhere_asks_for_a_retry_when_its_lease_ends() {
        for (left, secs) in [(Duration::from_millis(14_200), 15), (Duration::from_secs(3), 3), (Duration::ZERO, 1)] {
            let error = ApiError::from(SendError::InFlight { lease_left: left });
            assert_eq!((error.status, error.retry_after), (StatusCode::SERVICE_UNAVAILABLE, Some(secs)));
            assert_eq!(error.envelope.errors.as_ref().map(|e| e[0].name.as_str()), Some("in_flight"));
        }
    }

    #[test]
    fn a_wrong_admin_token_is_told_the_scheme() {
        let denied = ApiError::from(Denied::Unauthorized);
        assert_eq!((denied.status, denied.challenge), (StatusCode::UNAUTHORIZED, Some("Bearer")));
        let resp = denied.into_response();
        assert_eq!(resp.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(ApiError::from(Denied::Off).status, StatusCode::NOT_FOUND);
    }
}
