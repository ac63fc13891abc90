//! The admin API (`/admin/projects...`): operators create projects and upload their credentials.
//! Every operation checks the bearer token first; each then parses, calls one use case and maps
//! its error with `?`.

mod auth;
mod body;

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{
    ApiResponse, OpenApi, Tags,
    param::{Path, Query},
    payload::Json,
};

use auth::AdminAuth;
pub use auth::Denied;
use body::{ApnsCredentialsRequest, ProjectList, ProjectShown, ServiceAccountRequest, read_apns, read_service_account};

use super::{
    answer::Answer,
    envelope::{Envelope, FieldDetail, Location, Status},
    error::ApiError,
    json_body::JsonBody,
    params::ProjectIdPath,
    state::HttpState,
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

/// What each admin operation can answer, for the OpenAPI document (see `answer`): the answers
/// that every admin operation shares are written once here. The handlers build the answers, so
/// these variants are read by the document and never constructed.
macro_rules! admin_response {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident($($t:ty),*) = $status:literal),* $(,)? }) => {
        $(#[$doc])*
        // Never built, so the size of a variant (the project view) costs nothing.
        #[allow(dead_code, clippy::large_enum_variant)]
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

/// The project a project-scoped admin route names, once the caller has shown the admin token. A
/// bad id is reported on the path.
fn authorized_project(state: &HttpState, auth: &AdminAuth, raw: &str) -> Result<ProjectId, ApiError> {
    auth.check(state.admin_token())?;
    state.admin.admin_project_id(raw).map_err(|e| match e {
        AdminError::Invalid(fields) => ApiError::invalid(&fields, Location::Path),
        other => other.into(),
    })
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
    ) -> Answer<AdminResponse> {
        let answer = async {
            let id = authorized_project(&state, &auth, &project_id.0.0)?;
            state.admin.create_project(&id).await?;
            Ok(Envelope::ok())
        };
        answer.await.into()
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
    ) -> Answer<ListResponse, ProjectList> {
        let answer = async {
            auth.check(state.admin_token())?;
            let mut fields = Vec::new();
            let after = match after.0.as_deref().filter(|a| !a.is_empty()).map(ProjectId::parse) {
                None => None,
                Some(Ok(id)) => Some(id),
                Some(Err(e)) => {
                    fields.push(FieldDetail::new("after", Location::Query, e.to_string()));
                    None
                }
            };
            // The framework already refuses values outside the documented schema; these checks
            // keep the handler's own promise whatever the schema says.
            let limit = match limit.0 {
                None => MAX_PAGE,
                Some(n) if (1..=MAX_PAGE).contains(&n) => n,
                Some(_) => {
                    let why = format!("limit must be an integer from 1 to {MAX_PAGE}");
                    fields.push(FieldDetail::new("limit", Location::Query, why));
                    MAX_PAGE
                }
            };
            if !fields.is_empty() {
                return Err(ApiError::fields(fields));
            }
            let ids = state.admin.list_projects(after, limit).await?;
            Ok(ProjectList { status: Status::Ok, projects: ids.iter().map(ToString::to_string).collect() })
        };
        answer.await.into()
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
    ) -> Answer<ShowResponse, ProjectShown> {
        let answer = async {
            auth.check(state.admin_token())?;
            let id = ProjectId::parse(&project_id.0.0).map_err(|_| ApiError::unknown_project())?;
            let view = state.admin.show_project(&id).await?;
            Ok(ProjectShown { status: Status::Ok, project: view.into() })
        };
        answer.await.into()
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
    ) -> Answer<AdminResponse> {
        let answer = async {
            let id = authorized_project(&state, &auth, &project_id.0.0)?;
            state.admin.delete_project(&id).await?;
            Ok(Envelope::ok())
        };
        answer.await.into()
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
    ) -> Answer<CredentialsResponse> {
        let answer = async {
            let id = authorized_project(&state, &auth, &project_id.0.0)?;
            let map = body.object()?;
            let credentials =
                parse_apns_credentials(read_apns(&map)).map_err(|f| ApiError::invalid(&f, Location::Body))?;
            state.admin.set_project_apns(&id, Some(credentials)).await?;
            Ok(Envelope::ok())
        };
        answer.await.into()
    }

    /// Remove a project's APNS credentials
    #[oai(path = "/admin/projects/:project_id/apns", method = "delete", operation_id = "admin_delete_apns")]
    async fn delete_apns(
        &self,
        state: Data<&Arc<HttpState>>,
        auth: AdminAuth,
        /// The project id.
        project_id: Path<ProjectIdPath>,
    ) -> Answer<AdminResponse> {
        let answer = async {
            let id = authorized_project(&state, &auth, &project_id.0.0)?;
            state.admin.set_project_apns(&id, None).await?;
            Ok(Envelope::ok())
        };
        answer.await.into()
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
    ) -> Answer<CredentialsResponse> {
        let answer = async {
            let id = authorized_project(&state, &auth, &project_id.0.0)?;
            let map = body.object()?;
            let account = read_service_account(body.text()?, &map);
            let credentials = parse_service_account(account).map_err(|f| ApiError::invalid(&f, Location::Body))?;
            state.admin.set_project_fcm(&id, Some(credentials)).await?;
            Ok(Envelope::ok())
        };
        answer.await.into()
    }

    /// Remove a project's FCM service account
    #[oai(path = "/admin/projects/:project_id/fcm", method = "delete", operation_id = "admin_delete_fcm")]
    async fn delete_fcm(
        &self,
        state: Data<&Arc<HttpState>>,
        auth: AdminAuth,
        /// The project id.
        project_id: Path<ProjectIdPath>,
    ) -> Answer<AdminResponse> {
        let answer = async {
            let id = authorized_project(&state, &auth, &project_id.0.0)?;
            state.admin.set_project_fcm(&id, None).await?;
            Ok(Envelope::ok())
        };
        answer.await.into()
    }
}
