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
pub use auth::{Denied, gate};
use body::{
    ApnsCredentialsRequest, ProjectList, ProjectShown, ServiceAccountRequest, WebPushRequest, read_apns,
    read_service_account, read_webpush,
};

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

/// A change to the project the path names (`raw`): the admin token, the project id (a bad one is
/// reported on the path), then `change`; `{"status":"OK"}` once it is done.
async fn change_project(
    state: &HttpState,
    auth: &AdminAuth,
    raw: &str,
    change: impl AsyncFnOnce(ProjectId) -> Result<(), ApiError>,
) -> Result<Envelope, ApiError> {
    auth.check(state.admin_token())?;
    let id = state.admin.admin_project_id(raw).map_err(|e| match e {
        AdminError::Invalid(fields) => ApiError::invalid(&fields, Location::Path),
        other => other.into(),
    })?;
    change(id).await?;
    Ok(Envelope::ok())
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
        let create = async |id: ProjectId| Ok(state.admin.create_project(&id).await?);
        change_project(&state, &auth, &project_id.0.0, create).await.into()
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
        let delete = async |id: ProjectId| Ok(state.admin.delete_project(&id).await?);
        change_project(&state, &auth, &project_id.0.0, delete).await.into()
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
        let set = async |id: ProjectId| {
            let map = body.object()?;
            let credentials =
                parse_apns_credentials(read_apns(&map)).map_err(|f| ApiError::invalid(&f, Location::Body))?;
            Ok(state.admin.set_project_apns(&id, Some(credentials)).await?)
        };
        change_project(&state, &auth, &project_id.0.0, set).await.into()
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
        let remove = async |id: ProjectId| Ok(state.admin.set_project_apns(&id, None).await?);
        change_project(&state, &auth, &project_id.0.0, remove).await.into()
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
        let set = async |id: ProjectId| {
            let map = body.object()?;
            let account = read_service_account(body.text()?, &map);
            let credentials = parse_service_account(account).map_err(|f| ApiError::invalid(&f, Location::Body))?;
            Ok(state.admin.set_project_fcm(&id, Some(credentials)).await?)
        };
        change_project(&state, &auth, &project_id.0.0, set).await.into()
    }

    /// Set a project's Web Push (VAPID) identity
    ///
    /// `{"subject", "private_key"?}`: the subject (`mailto:` or `https://`) and a P-256 PEM key,
    /// or no key to have one generated. Checked before it is stored; sealed like the other
    /// credentials. The public key pages subscribe with is then in `GET /admin/projects/{id}` and
    /// at `GET /{project_id}/webpush/vapid-public-key`. Lifts a suspension at once.
    #[oai(path = "/admin/projects/:project_id/webpush", method = "put", operation_id = "admin_set_webpush")]
    async fn set_webpush(
        &self,
        state: Data<&Arc<HttpState>>,
        auth: AdminAuth,
        /// The project id.
        project_id: Path<ProjectIdPath>,
        body: JsonBody<WebPushRequest>,
    ) -> Answer<CredentialsResponse> {
        let set = async |id: ProjectId| {
            let map = body.object()?;
            let upload = read_webpush(&map).map_err(|f| ApiError::invalid(&f, Location::Body))?;
            Ok(state.admin.set_project_webpush(&id, Some(upload)).await?)
        };
        change_project(&state, &auth, &project_id.0.0, set).await.into()
    }

    /// Remove a project's Web Push identity
    #[oai(path = "/admin/projects/:project_id/webpush", method = "delete", operation_id = "admin_delete_webpush")]
    async fn delete_webpush(
        &self,
        state: Data<&Arc<HttpState>>,
        auth: AdminAuth,
        /// The project id.
        project_id: Path<ProjectIdPath>,
    ) -> Answer<AdminResponse> {
        let remove = async |id: ProjectId| Ok(state.admin.set_project_webpush(&id, None).await?);
        change_project(&state, &auth, &project_id.0.0, remove).await.into()
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
        let remove = async |id: ProjectId| Ok(state.admin.set_project_fcm(&id, None).await?);
        change_project(&state, &auth, &project_id.0.0, remove).await.into()
    }
}

#[cfg(test)]
mod tests {
    use poem::http::Method;
    use serde_json::json;

    use super::super::{
        HttpConfig,
        test_support::{ADMIN_TOKEN, Answered, Harness, config, relay},
    };
    use crate::{
        app::{AdminError, InvalidField, MockAdminService, MockPushService, ProjectView, RelayCheck},
        domain::{ApnsCredentialsAuth, FcmSummary, ProjectId, Suspension},
        ports::ProjectStoreError,
    };

    const BEARER: (&str, &str) = ("Authorization", "Bearer s3cret");

    fn id(s: &str) -> ProjectId {
        ProjectId::parse(s).unwrap()
    }

    /// Admin use cases that accept the path's project id `p` as it is.
    fn admin_of_p() -> MockAdminService {
        let mut admin = MockAdminService::new();
        admin.expect_admin_project_id().withf(|raw| raw == "p").returning(|raw| Ok(id(raw)));
        admin
    }

    async fn call(admin: MockAdminService, method: Method, path: &str, body: Option<serde_json::Value>) -> Answered {
        Harness::admin(admin).call(method, path, body, &[BEARER]).await
    }

    #[tokio::test]
    async fn without_a_token_the_api_is_off_and_a_wrong_token_is_told_the_scheme() {
        // Any call of the use cases would fail the test: none is expected.
        let off = HttpConfig { admin_token: None, ..config() };
        let harness = Harness::new(MockPushService::new(), MockAdminService::new(), relay(RelayCheck::Disabled), off);
        let answered = harness.call(Method::PUT, "/admin/projects/p", None, &[BEARER]).await;
        assert_eq!((answered.status, answered.error()), (404, "not_found"));
        for token in ["Bearer s3cre", ADMIN_TOKEN, ""] {
            let answered = Harness::admin(MockAdminService::new())
                .call(Method::GET, "/admin/projects", None, &[("Authorization", token)])
                .await;
            assert_eq!((answered.status, answered.error()), (401, "unauthorized"), "{token}");
            assert_eq!(answered.headers["www-authenticate"], "Bearer");
        }
    }

    #[tokio::test]
    async fn a_project_id_the_use_case_refuses_is_reported_on_the_path() {
        let mut admin = MockAdminService::new();
        admin
            .expect_admin_project_id()
            .withf(|raw| raw == "admin")
            .returning(|_| Err(AdminError::Invalid(vec![InvalidField::new("project_id", "'admin' is reserved")])));
        admin.expect_admin_project_id().withf(|raw| raw == "w0").returning(|_| Err(AdminError::DefaultProject));
        admin.expect_create_project().never();
        let harness = Harness::admin(admin);
        for path in ["/admin/projects/admin", "/admin/projects/w0"] {
            let answered = harness.call(Method::PUT, path, None, &[BEARER]).await;
            assert_eq!((answered.status, answered.fields()), (400, vec![("project_id".to_owned(), "path".to_owned())]));
        }
    }

    #[tokio::test]
    async fn state_changes_reach_their_use_cases() {
        let mut admin = admin_of_p();
        admin.expect_create_project().withf(|p| p.as_str() == "p").times(1).returning(|_| Ok(()));
        admin.expect_delete_project().withf(|p| p.as_str() == "p").times(1).returning(|_| Ok(()));
        admin
            .expect_set_project_apns()
            .withf(|p, c| p.as_str() == "p" && c.is_none())
            .times(1)
            .returning(|_, _| Ok(()));
        admin.expect_set_project_fcm().withf(|p, c| p.as_str() == "p" && c.is_none()).times(1).returning(|_, _| Ok(()));
        let harness = Harness::admin(admin);
        for (method, path) in [
            (Method::PUT, "/admin/projects/p"),
            (Method::DELETE, "/admin/projects/p"),
            (Method::DELETE, "/admin/projects/p/apns"),
            (Method::DELETE, "/admin/projects/p/fcm"),
        ] {
            let answered = harness.call(method.clone(), path, None, &[BEARER]).await;
            assert_eq!((answered.status, answered.json), (200, json!({"status": "OK"})), "{method} {path}");
        }
    }

    #[tokio::test]
    async fn a_page_of_projects_after_the_given_one() {
        let mut admin = MockAdminService::new();
        admin
            .expect_list_projects()
            .withf(|after, limit| after.as_ref().is_some_and(|a| a.as_str() == "a") && *limit == 2)
            .times(1)
            .returning(|_, _| Ok(vec![id("b"), id("c")]));
        admin
            .expect_list_projects()
            .withf(|after, limit| after.is_none() && *limit == 1000)
            .returning(|_, _| Ok(vec![]));
        let harness = Harness::admin(admin);
        let page = harness.call(Method::GET, "/admin/projects?after=a&limit=2", None, &[BEARER]).await;
        assert_eq!((page.status, page.json), (200, json!({"status": "OK", "projects": ["b", "c"]})));
        let all = harness.call(Method::GET, "/admin/projects", None, &[BEARER]).await;
        assert_eq!(all.json, json!({"status": "OK", "projects": []}));
    }

    #[tokio::test]
    async fn a_project_is_shown_without_secrets_and_an_id_no_project_can_have_is_404() {
        let mut admin = MockAdminService::new();
        admin.expect_show_project().withf(|p| p.as_str() == "p").times(1).returning(|p| {
            let summary = FcmSummary { project_id: "firebase-p".into(), client_email: "push@p.iam".into() };
            let suspension = Suspension { reason: "invalid_grant".into(), since: 0 };
            Ok(ProjectView {
                id: p.clone(),
                apns: None,
                fcm: Some((summary, Some(suspension))),
                webpush: None,
                clients: 3,
            })
        });
        admin.expect_show_project().withf(|p| p.as_str() == "gone").returning(|_| Err(AdminError::NotFound));
        let harness = Harness::admin(admin);
        let shown = harness.call(Method::GET, "/admin/projects/p", None, &[BEARER]).await;
        assert_eq!(shown.status, 200);
        assert_eq!(
            shown.json["project"],
            json!({"id": "p", "apns": null, "webpush": null, "clients": 3, "fcm": {
                "project_id": "firebase-p", "client_email": "push@p.iam",
                "suspended": {"reason": "invalid_grant", "since": "1970-01-01T00:00:00Z"}
            }})
        );
        for path in ["/admin/projects/gone", "/admin/projects/a%20b"] {
            let answered = harness.call(Method::GET, path, None, &[BEARER]).await;
            assert_eq!((answered.status, answered.fields()), (404, vec![("project_id".to_owned(), "path".to_owned())]));
        }
    }

    #[tokio::test]
    async fn credentials_are_parsed_before_the_use_case_sees_them() {
        let mut admin = admin_of_p();
        admin.expect_set_project_apns().never();
        let answered = call(admin, Method::PUT, "/admin/projects/p/apns", Some(json!({"topic": "t"}))).await;
        assert_eq!((answered.status, answered.fields()), (400, vec![("key".to_owned(), "body".to_owned())]));

        let mut admin = admin_of_p();
        admin
            .expect_set_project_apns()
            .withf(|_, c| {
                c.as_ref().is_some_and(|c| {
                    c.topic == "com.example"
                        && matches!(&c.auth, ApnsCredentialsAuth::Token { key_id, key_pem, .. }
                            if key_id == "K" && key_pem.expose() == "pem")
                })
            })
            .times(1)
            .returning(|_, _| Ok(()));
        let token_auth = json!({"topic": "com.example", "key_id": "K", "team_id": "T", "key": "pem"});
        assert_eq!(call(admin, Method::PUT, "/admin/projects/p/apns", Some(token_auth)).await.status, 200);
    }

    #[tokio::test]
    async fn a_service_account_is_kept_as_uploaded() {
        let account = json!({"type": "service_account", "project_id": "f", "client_email": "e@f", "private_key": "pem",
            "token_uri": "https://oauth2.googleapis.com/token"});
        let text = account.to_string();
        let mut admin = admin_of_p();
        admin
            .expect_set_project_fcm()
            .withf(move |_, c| {
                c.as_ref().is_some_and(|c| {
                    c.project_id == "f" && c.client_email == "e@f" && c.service_account.expose() == &text
                })
            })
            .times(1)
            .returning(|_, _| Ok(()));
        assert_eq!(call(admin, Method::PUT, "/admin/projects/p/fcm", Some(account)).await.status, 200);
    }

    #[tokio::test]
    async fn the_use_cases_refusals_keep_their_statuses() {
        let mut admin = admin_of_p();
        admin
            .expect_create_project()
            .returning(|_| Err(AdminError::Store(ProjectStoreError::Unavailable("10.0.0.7".into()))));
        admin.expect_delete_project().returning(|_| Err(AdminError::Disabled));
        admin
            .expect_set_project_fcm()
            .returning(|_, _| Err(AdminError::Invalid(vec![InvalidField::new("private_key", "not an RSA key")])));
        let harness = Harness::admin(admin);
        let store_down = harness.call(Method::PUT, "/admin/projects/p", None, &[BEARER]).await;
        assert_eq!((store_down.status, store_down.error()), (503, "storage_unavailable"));
        let disabled = harness.call(Method::DELETE, "/admin/projects/p", None, &[BEARER]).await;
        assert_eq!((disabled.status, disabled.fields()), (404, vec![("project_id".to_owned(), "path".to_owned())]));
        let account = json!({"project_id": "f", "client_email": "e", "private_key": "k", "token_uri": "u"});
        let refused = harness.call(Method::PUT, "/admin/projects/p/fcm", Some(account), &[BEARER]).await;
        assert_eq!((refused.status, refused.fields()), (400, vec![("private_key".to_owned(), "body".to_owned())]));
    }
}
