//! The admin API (`/admin/projects...`): operators create projects and upload their credentials.
//! Every operation checks the bearer token first; each handler then parses, calls one use case
//! and maps its result to one documented response.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{
    ApiResponse, OpenApi, Tags,
    param::{Path, Query},
    payload::Json,
};
use tracing::warn;

use super::{
    admin_auth::{AdminAuth, Denied},
    admin_dto::{
        ApnsCredentialsRequest, ProjectList, ProjectShown, ServiceAccountRequest, read_apns, read_service_account,
    },
    api::{HttpState, STORAGE_UNAVAILABLE},
    dto::json_object,
    envelope::{Envelope, Location, Status},
    json_body::{BodyProblem, JsonBody},
    params::ProjectIdPath,
    responses::BodyFailure,
};
use crate::{
    app::{AdminError, MAX_PAGE, parse_apns_credentials, parse_service_account},
    domain::ProjectId,
};

#[derive(Tags)]
enum AdminTag {
    /// Projects and their credentials (operators; `Authorization: Bearer {ADMIN_TOKEN}`).
    Admin,
}

pub struct AdminApi;

macro_rules! admin_response {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident($($t:ty),*) = $status:literal),* $(,)? }) => {
        $(#[$doc])*
        // A response is built once per request and moved once; boxing the project view would
        // only add an allocation.
        #[allow(clippy::large_enum_variant)]
        #[derive(ApiResponse)]
        pub enum $name {
            $($(#[$vdoc])* #[oai(status = $status)] $variant($($t),*),)*
            /// Missing or wrong admin token (`unauthorized`).
            #[oai(status = 401)]
            Unauthorized(Json<Envelope>, #[oai(header = "WWW-Authenticate")] String),
            /// No such project (field `project_id`, `location: path`); also every admin route
            /// while the admin API is off (`ADMIN_TOKEN` unset), like any unknown route.
            #[oai(status = 404)]
            NotFound(Json<Envelope>),
            /// The project store could not be reached (`storage_unavailable`).
            #[oai(status = 503)]
            StorageUnavailable(Json<Envelope>),
        }

        impl From<Denied> for $name {
            fn from(denied: Denied) -> Self {
                match denied {
                    Denied::Off(e) => Self::NotFound(Json(e)),
                    Denied::Unauthorized(e) => Self::Unauthorized(Json(e), "Bearer".to_owned()),
                }
            }
        }
    };
}

admin_response!(
    /// Answers of operations that only change state.
    AdminResponse {
        /// Done: `{"status":"OK"}`.
        Ok(Json<Envelope>) = 200,
        /// The project id is invalid, reserved or names the default project (`fields`).
        BadRequest(Json<Envelope>) = 400,
    }
);

admin_response!(
    /// Answers of credential uploads.
    CredentialsResponse {
        /// Checked and stored: `{"status":"OK"}`.
        Ok(Json<Envelope>) = 200,
        /// The credentials cannot work (`fields` names each problem) or the body is not a JSON
        /// object; nothing was stored.
        BadRequest(Json<Envelope>) = 400,
        /// The body did not arrive within the body read timeout (`request_timeout`).
        RequestTimeout(Json<Envelope>) = 408,
        /// The body is larger than the server accepts (16 KiB by default).
        PayloadTooLarge(Json<Envelope>) = 413,
        /// The body is not `application/json`.
        UnsupportedMediaType(Json<Envelope>) = 415,
    }
);

super::responses::body_failures!(CredentialsResponse);

admin_response!(
    /// Answers of the project list.
    ListResponse {
        /// A page of project ids.
        Ok(Json<ProjectList>) = 200,
        /// `after` is not a project id or `limit` is not 1 to 1000 (`fields`, `location: query`).
        BadRequest(Json<Envelope>) = 400,
    }
);

admin_response!(
    /// Answers of showing one project.
    ShowResponse {
        /// The project, without any secret.
        Ok(Json<ProjectShown>) = 200,
    }
);

/// The use-case error as one of an operation's responses.
trait FromAdminError: Sized {
    fn bad_request(envelope: Envelope) -> Self;
    fn not_found(envelope: Envelope) -> Self;
    fn unavailable(envelope: Envelope) -> Self;

    fn from_admin_error(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(fields) => Self::bad_request(Envelope::invalid_fields(&fields, Location::Body)),
            AdminError::DefaultProject => Self::bad_request(Envelope::field(
                "project_id",
                Location::Path,
                "this id names the default project (DEFAULT_PROJECT_ID), which is configured by environment",
            )),
            AdminError::NotFound | AdminError::Disabled => Self::not_found(unknown_project()),
            AdminError::Store(e) => {
                warn!(error = %e, "project store unavailable");
                Self::unavailable(Envelope::error(STORAGE_UNAVAILABLE, "the project store could not be reached"))
            }
        }
    }
}

macro_rules! from_admin_error {
    ($t:ident, $bad:ident) => {
        impl FromAdminError for $t {
            fn bad_request(envelope: Envelope) -> Self {
                Self::$bad(Json(envelope))
            }
            fn not_found(envelope: Envelope) -> Self {
                Self::NotFound(Json(envelope))
            }
            fn unavailable(envelope: Envelope) -> Self {
                Self::StorageUnavailable(Json(envelope))
            }
        }
    };
}
from_admin_error!(AdminResponse, BadRequest);
from_admin_error!(CredentialsResponse, BadRequest);
from_admin_error!(ListResponse, BadRequest);
from_admin_error!(ShowResponse, NotFound);

fn unknown_project() -> Envelope {
    Envelope::field("project_id", Location::Path, "no project is registered under this id")
}

/// The project id of the path; a bad one is reported on the path, not the body.
fn parse_project_path<R: FromAdminError>(state: &HttpState, raw: &str) -> Result<ProjectId, R> {
    state.app.parse_admin_project_id(raw).map_err(|e| match e {
        AdminError::Invalid(fields) => R::bad_request(Envelope::invalid_fields(&fields, Location::Path)),
        other => R::from_admin_error(other),
    })
}

/// The project a project-scoped admin route names, once the caller has shown the admin token.
fn authorized_project<R: FromAdminError + From<Denied>>(
    state: &HttpState,
    auth: &AdminAuth,
    raw: &str,
) -> Result<ProjectId, R> {
    auth.check(state.admin_token.as_deref()).map_err(R::from)?;
    parse_project_path(state, raw)
}

fn ok<R>(result: Result<(), AdminError>, ok: impl FnOnce(Json<Envelope>) -> R) -> R
where
    R: FromAdminError,
{
    match result {
        Ok(()) => ok(Json(Envelope::ok())),
        Err(e) => R::from_admin_error(e),
    }
}

/// The JSON object of a credential upload, or the response that ends it.
fn body_object(
    body: &JsonBody<impl Sized>,
) -> Result<(String, serde_json::Map<String, serde_json::Value>), CredentialsResponse> {
    let bytes = body.bytes.as_ref().map_err(CredentialsResponse::from_body_problem)?;
    if let Some(problem) = &body.content_type_problem {
        return Err(CredentialsResponse::from_body_problem(problem));
    }
    let map = json_object(bytes).map_err(|e| CredentialsResponse::BadRequest(Json(e)))?;
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| CredentialsResponse::from_body_problem(&BodyProblem::Unreadable("not UTF-8".into())))?;
    Ok((text, map))
}

#[OpenApi(tag = "AdminTag::Admin")]
impl AdminApi {
    /// Create a project
    ///
    /// Creates the project with no credentials (body `{}`); `200` also when it exists. Ids are 1
    /// to 64 of `A-Z a-z 0-9 _ -`; `admin`, `clients`, `health`, `metrics`, `docs`,
    /// `openapi.json`, `openapi.yaml` and `DEFAULT_PROJECT_ID` cannot be created.
    #[oai(path = "/admin/projects/:project_id", method = "put", operation_id = "admin_create_project")]
    async fn create(
        &self,
        state: Data<&Arc<HttpState>>,
        auth: AdminAuth,
        /// The project id.
        project_id: Path<ProjectIdPath>,
    ) -> AdminResponse {
        let id = match authorized_project(&state, &auth, &project_id.0.0) {
            Ok(id) => id,
            Err(response) => return response,
        };
        ok(state.app.create_project(&id).await, AdminResponse::Ok)
    }

    /// List projects
    ///
    /// Project ids in ascending order, at most `limit` (default and maximum 1000) after `after`.
    #[oai(path = "/admin/projects", method = "get", operation_id = "admin_list_projects")]
    async fn list(
        &self,
        state: Data<&Arc<HttpState>>,
        auth: AdminAuth,
        /// Only ids after this one (the last id of the previous page).
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
        after: Query<Option<String>>,
        /// Page size, 1 to 1000 (default 1000).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<Option<u32>>,
    ) -> ListResponse {
        if let Err(denied) = auth.check(state.admin_token.as_deref()) {
            return denied.into();
        }
        let mut fields = Vec::new();
        let after = match after.0.as_deref().filter(|a| !a.is_empty()).map(ProjectId::parse) {
            None => None,
            Some(Ok(id)) => Some(id),
            Some(Err(e)) => {
                fields.push(super::envelope::FieldDetail::new("after", Location::Query, e.to_string()));
                None
            }
        };
        // The framework already refuses values outside the documented schema; these checks keep the
        // handler's own promise whatever the schema says.
        let limit = match limit.0 {
            None => MAX_PAGE,
            Some(n) if (1..=MAX_PAGE).contains(&n) => n,
            Some(_) => {
                fields.push(super::envelope::FieldDetail::new(
                    "limit",
                    Location::Query,
                    format!("limit must be an integer from 1 to {MAX_PAGE}"),
                ));
                MAX_PAGE
            }
        };
        if !fields.is_empty() {
            return ListResponse::BadRequest(Json(Envelope::fields(fields)));
        }
        match state.app.list_projects(after.as_ref(), limit).await {
            Ok(ids) => ListResponse::Ok(Json(ProjectList {
                status: Status::Ok,
                projects: ids.iter().map(ToString::to_string).collect(),
            })),
            Err(e) => ListResponse::from_admin_error(e),
        }
    }

    /// Show a project
    ///
    /// The project's credentials summary (never a key, a password or a certificate), whether a
    /// provider is suspended, and how many clients it has.
    #[oai(path = "/admin/projects/:project_id", method = "get", operation_id = "admin_get_project")]
    async fn show(
        &self,
        state: Data<&Arc<HttpState>>,
        auth: AdminAuth,
        /// The project id.
        project_id: Path<ProjectIdPath>,
    ) -> ShowResponse {
        if let Err(denied) = auth.check(state.admin_token.as_deref()) {
            return denied.into();
        }
        let Ok(id) = ProjectId::parse(&project_id.0.0) else {
            return ShowResponse::NotFound(Json(unknown_project()));
        };
        match state.app.show_project(&id).await {
            Ok(view) => ShowResponse::Ok(Json(ProjectShown { status: Status::Ok, project: view.into() })),
            Err(e) => ShowResponse::from_admin_error(e),
        }
    }

    /// Delete a project
    ///
    /// Deletes the project, its credentials and all its clients; `200` also when absent.
    #[oai(path = "/admin/projects/:project_id", method = "delete", operation_id = "admin_delete_project")]
    async fn delete(
        &self,
        state: Data<&Arc<HttpState>>,
        auth: AdminAuth,
        /// The project id.
        project_id: Path<ProjectIdPath>,
    ) -> AdminResponse {
        let id = match authorized_project(&state, &auth, &project_id.0.0) {
            Ok(id) => id,
            Err(response) => return response,
        };
        ok(state.app.delete_project(&id).await, AdminResponse::Ok)
    }

    /// Set a project's APNS credentials
    ///
    /// Token auth `{"topic","key_id","team_id","key"}` (`key`: the `.p8` PEM text) or certificate
    /// auth `{"topic","certificate","password"}` (`certificate`: base64 of the `.p12`). Checked
    /// before anything is stored: a P-256 PKCS#8 key; a `.p12` that opens with the password and
    /// whose key matches its certificate. Lifts a suspension at once.
    #[oai(path = "/admin/projects/:project_id/apns", method = "put", operation_id = "admin_set_apns")]
    async fn set_apns(
        &self,
        state: Data<&Arc<HttpState>>,
        auth: AdminAuth,
        /// The project id.
        project_id: Path<ProjectIdPath>,
        body: JsonBody<ApnsCredentialsRequest>,
    ) -> CredentialsResponse {
        let id = match authorized_project(&state, &auth, &project_id.0.0) {
            Ok(id) => id,
            Err(response) => return response,
        };
        let (_, map) = match body_object(&body) {
            Ok(parsed) => parsed,
            Err(response) => return response,
        };
        let credentials = match parse_apns_credentials(read_apns(&map)) {
            Ok(c) => c,
            Err(fields) => return CredentialsResponse::from_admin_error(AdminError::Invalid(fields)),
        };
        ok(state.app.set_project_apns(&id, Some(credentials)).await, CredentialsResponse::Ok)
    }

    /// Remove a project's APNS credentials
    #[oai(path = "/admin/projects/:project_id/apns", method = "delete", operation_id = "admin_delete_apns")]
    async fn delete_apns(
        &self,
        state: Data<&Arc<HttpState>>,
        auth: AdminAuth,
        /// The project id.
        project_id: Path<ProjectIdPath>,
    ) -> AdminResponse {
        let id = match authorized_project(&state, &auth, &project_id.0.0) {
            Ok(id) => id,
            Err(response) => return response,
        };
        ok(state.app.set_project_apns(&id, None).await, AdminResponse::Ok)
    }

    /// Set a project's FCM service account
    ///
    /// The body is the service-account JSON itself. Checked before it is stored: an RSA private
    /// key, `client_email`, `token_uri` and `project_id`. Lifts a suspension at once.
    #[oai(path = "/admin/projects/:project_id/fcm", method = "put", operation_id = "admin_set_fcm")]
    async fn set_fcm(
        &self,
        state: Data<&Arc<HttpState>>,
        auth: AdminAuth,
        /// The project id.
        project_id: Path<ProjectIdPath>,
        body: JsonBody<ServiceAccountRequest>,
    ) -> CredentialsResponse {
        let id = match authorized_project(&state, &auth, &project_id.0.0) {
            Ok(id) => id,
            Err(response) => return response,
        };
        let (text, map) = match body_object(&body) {
            Ok(parsed) => parsed,
            Err(response) => return response,
        };
        let credentials = match parse_service_account(read_service_account(&text, &map)) {
            Ok(c) => c,
            Err(fields) => return CredentialsResponse::from_admin_error(AdminError::Invalid(fields)),
        };
        ok(state.app.set_project_fcm(&id, Some(credentials)).await, CredentialsResponse::Ok)
    }

    /// Remove a project's FCM service account
    #[oai(path = "/admin/projects/:project_id/fcm", method = "delete", operation_id = "admin_delete_fcm")]
    async fn delete_fcm(
        &self,
        state: Data<&Arc<HttpState>>,
        auth: AdminAuth,
        /// The project id.
        project_id: Path<ProjectIdPath>,
    ) -> AdminResponse {
        let id = match authorized_project(&state, &auth, &project_id.0.0) {
            Ok(id) => id,
            Err(response) => return response,
        };
        ok(state.app.set_project_fcm(&id, None).await, AdminResponse::Ok)
    }
}
